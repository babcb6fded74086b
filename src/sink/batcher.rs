//! Per-partition batching: which records share an object and when the object closes. Pure logic,
//! no I/O, so every trigger is unit-tested.
//!
//! A batch closes on the first of: record count, encoded bytes (checked before a record is added,
//! so an object never passes the target), age of its oldest record, a change of time partition
//! (every record of an object belongs to the hour in its key), or the end of the run. While a
//! batch fills, every full part is handed out at once so it can upload in the background.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::layout::HourBucket;

/// When a batch closes.
#[derive(Debug, Clone, Copy)]
pub struct Triggers {
    pub max_records: u64,
    pub max_bytes: u64,
    pub max_age: Duration,
    pub part_size: u64,
}

/// Why a batch closed; counted in the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CloseReason {
    Records,
    Bytes,
    Age,
    TimePartition,
    Drain,
}

impl CloseReason {
    pub fn name(self) -> &'static str {
        match self {
            CloseReason::Records => "records",
            CloseReason::Bytes => "bytes",
            CloseReason::Age => "age",
            CloseReason::TimePartition => "time_partition",
            CloseReason::Drain => "drain",
        }
    }
}

/// Identity of a batch: its partition and first offset (also the object's name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BatchId {
    pub partition: i32,
    pub first_offset: i64,
}

/// A closed batch: what is left to upload and everything the summary needs.
#[derive(Debug)]
pub struct ClosedBatch {
    pub id: BatchId,
    pub hour: HourBucket,
    pub last_offset: i64,
    pub records: u64,
    /// Encoded bytes of the whole object, parts already handed out included.
    pub bytes: u64,
    /// Bytes not yet handed out as parts (the last part, or the whole object).
    pub tail: Vec<u8>,
    /// Parts handed out before the close.
    pub parts_before: u32,
    /// Intended send times of the records, for the pipeline end-to-end latency.
    pub sched_ns: Vec<u64>,
    pub opened_ns: u64,
    pub closed_ns: u64,
    pub reason: CloseReason,
}

/// What the batcher asks the uploader to do.
#[derive(Debug)]
pub enum Action {
    /// A full part of a still-open batch (the first part starts a multipart upload).
    Part {
        id: BatchId,
        hour: HourBucket,
        bytes: Vec<u8>,
    },
    /// The batch is closed; upload `tail` and finish.
    Close(ClosedBatch),
}

struct Open {
    id: BatchId,
    hour: HourBucket,
    last_offset: i64,
    records: u64,
    bytes: u64,
    buf: Vec<u8>,
    parts: u32,
    sched_ns: Vec<u64>,
    opened_ns: u64,
}

/// Open batches of every partition this sink holds.
pub struct Batcher {
    triggers: Triggers,
    open: BTreeMap<i32, Open>,
}

impl Batcher {
    pub fn new(triggers: Triggers) -> Batcher {
        Batcher {
            triggers,
            open: BTreeMap::new(),
        }
    }

    /// Adds one encoded record (`line`, without its newline) at `offset` of `partition`.
    pub fn push(
        &mut self,
        partition: i32,
        offset: i64,
        sched_ns: u64,
        line: &[u8],
        now_ns: u64,
        out: &mut Vec<Action>,
    ) {
        let hour = HourBucket::of_ns(sched_ns);
        let len = line.len() as u64 + 1;
        if let Some(b) = self.open.get(&partition) {
            let reason = if b.hour != hour {
                Some(CloseReason::TimePartition)
            } else if b.bytes + len > self.triggers.max_bytes {
                Some(CloseReason::Bytes)
            } else {
                None
            };
            if let Some(reason) = reason {
                self.close(partition, reason, now_ns, out);
            }
        }
        let t = self.triggers;
        let b = self.open.entry(partition).or_insert_with(|| Open {
            id: BatchId {
                partition,
                first_offset: offset,
            },
            hour,
            last_offset: offset,
            records: 0,
            bytes: 0,
            buf: Vec::with_capacity((t.part_size.min(t.max_bytes) as usize).min(1 << 20)),
            parts: 0,
            sched_ns: Vec::new(),
            opened_ns: now_ns,
        });
        b.buf.extend_from_slice(line);
        b.buf.push(b'\n');
        b.bytes += len;
        b.records += 1;
        b.last_offset = offset;
        b.sched_ns.push(sched_ns);
        if b.buf.len() as u64 >= t.part_size {
            let rest = b.buf.split_off(t.part_size as usize);
            let bytes = std::mem::replace(&mut b.buf, rest);
            b.parts += 1;
            out.push(Action::Part {
                id: b.id,
                hour: b.hour,
                bytes,
            });
        }
        if b.records >= t.max_records {
            self.close(partition, CloseReason::Records, now_ns, out);
        } else if b.bytes >= t.max_bytes {
            self.close(partition, CloseReason::Bytes, now_ns, out);
        }
    }

    /// Closes every batch whose oldest record has waited `max_age`.
    pub fn expire(&mut self, now_ns: u64, out: &mut Vec<Action>) {
        let max_age = self.triggers.max_age.as_nanos() as u64;
        let due: Vec<i32> = self
            .open
            .iter()
            .filter(|(_, b)| now_ns.saturating_sub(b.opened_ns) >= max_age)
            .map(|(p, _)| *p)
            .collect();
        for p in due {
            self.close(p, CloseReason::Age, now_ns, out);
        }
    }

    /// Closes every open batch (end of run).
    pub fn drain(&mut self, now_ns: u64, out: &mut Vec<Action>) {
        let all: Vec<i32> = self.open.keys().copied().collect();
        for p in all {
            self.close(p, CloseReason::Drain, now_ns, out);
        }
    }

    /// Drops the open batch of a partition this sink no longer owns; nothing of it was committed.
    pub fn discard(&mut self, partition: i32) -> Option<BatchId> {
        self.open.remove(&partition).map(|b| b.id)
    }

    /// Earliest time an open batch will reach its age limit.
    pub fn next_deadline_ns(&self) -> Option<u64> {
        let age = self.triggers.max_age.as_nanos() as u64;
        self.open.values().map(|b| b.opened_ns + age).min()
    }

    pub fn open_batches(&self) -> usize {
        self.open.len()
    }

    fn close(&mut self, partition: i32, reason: CloseReason, now_ns: u64, out: &mut Vec<Action>) {
        if let Some(b) = self.open.remove(&partition) {
            out.push(Action::Close(ClosedBatch {
                id: b.id,
                hour: b.hour,
                last_offset: b.last_offset,
                records: b.records,
                bytes: b.bytes,
                tail: b.buf,
                parts_before: b.parts,
                sched_ns: b.sched_ns,
                opened_ns: b.opened_ns,
                closed_ns: now_ns,
                reason,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn triggers() -> Triggers {
        Triggers {
            max_records: 1000,
            max_bytes: 64 * MIB,
            max_age: Duration::from_secs(5),
            part_size: 5 * MIB,
        }
    }

    fn closed(actions: &[Action]) -> Vec<&ClosedBatch> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Close(c) => Some(c),
                _ => None,
            })
            .collect()
    }

    const HOUR: u64 = 3_600_000_000_000;

    #[test]
    fn record_count_closes_exactly_at_the_limit() {
        let mut b = Batcher::new(triggers());
        let mut out = Vec::new();
        for off in 0..2500 {
            b.push(3, off, HOUR, b"0123456789", 0, &mut out);
        }
        let c = closed(&out);
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].id.first_offset, c[0].last_offset, c[0].records),
            (0, 999, 1000)
        );
        assert_eq!(c[1].id.first_offset, 1000);
        assert_eq!(c[0].reason, CloseReason::Records);
        assert_eq!(c[0].bytes, 11_000);
        assert_eq!(c[0].tail.len(), 11_000);
        assert_eq!(b.open_batches(), 1);
    }

    #[test]
    fn byte_target_is_never_exceeded() {
        let mut t = triggers();
        t.max_records = u64::MAX;
        t.max_bytes = 1000;
        let mut b = Batcher::new(t);
        let mut out = Vec::new();
        // 99-byte lines + newline = 100 bytes: exactly 10 per object.
        for off in 0..35 {
            b.push(0, off, HOUR, &[b'x'; 99], 0, &mut out);
        }
        let c = closed(&out);
        assert_eq!(c.len(), 3);
        assert!(c
            .iter()
            .all(|c| c.bytes == 1000 && c.records == 10 && c.reason == CloseReason::Bytes));
        // 150-byte lines: 6 fit (900), the 7th would pass 1000, so the batch closes before it.
        let mut out = Vec::new();
        for off in 100..114 {
            b.push(1, off, HOUR, &[b'y'; 149], 0, &mut out);
        }
        let c = closed(&out);
        assert_eq!(c[0].bytes, 900);
        assert_eq!(c[0].records, 6);
    }

    #[test]
    fn full_parts_are_handed_out_while_filling() {
        let mut t = triggers();
        t.max_records = u64::MAX;
        t.max_bytes = 12 * MIB;
        let mut b = Batcher::new(t);
        let mut out = Vec::new();
        let line = vec![b'z'; 1023]; // 1 KiB with newline
        for off in 0..(12 * 1024) {
            b.push(0, off, HOUR, &line, 0, &mut out);
        }
        let parts: Vec<usize> = out
            .iter()
            .filter_map(|a| match a {
                Action::Part { bytes, .. } => Some(bytes.len()),
                _ => None,
            })
            .collect();
        assert_eq!(parts, vec![5 * MIB as usize, 5 * MIB as usize]);
        let c = closed(&out);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].parts_before, 2);
        assert_eq!(c[0].tail.len() as u64, 2 * MIB);
        assert_eq!(c[0].bytes, 12 * MIB);
        assert_eq!(c[0].sched_ns.len(), 12 * 1024);
    }

    #[test]
    fn age_closes_only_old_batches_and_reports_the_deadline() {
        let mut b = Batcher::new(triggers());
        let mut out = Vec::new();
        b.push(0, 0, HOUR, b"a", 1_000, &mut out);
        b.push(1, 0, HOUR, b"b", 3_000_000_000, &mut out);
        assert_eq!(b.next_deadline_ns(), Some(5_000_001_000));
        b.expire(5_000_000_999, &mut out);
        assert!(out.is_empty());
        b.expire(5_000_001_000, &mut out);
        let c = closed(&out);
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].id.partition, c[0].reason), (0, CloseReason::Age));
        assert_eq!(b.open_batches(), 1);
    }

    #[test]
    fn a_new_hour_starts_a_new_object() {
        let mut b = Batcher::new(triggers());
        let mut out = Vec::new();
        b.push(0, 0, HOUR - 1, b"a", 0, &mut out);
        b.push(0, 1, HOUR - 1, b"a", 0, &mut out);
        b.push(0, 2, HOUR, b"b", 0, &mut out);
        let c = closed(&out);
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].reason, c[0].records, c[0].hour),
            (CloseReason::TimePartition, 2, HourBucket(0))
        );
        out.clear();
        b.drain(0, &mut out);
        let c = closed(&out);
        assert_eq!(
            (c[0].id.first_offset, c[0].hour, c[0].reason),
            (2, HourBucket(1), CloseReason::Drain)
        );
    }
}
