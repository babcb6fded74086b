//! Records that are not ticks (not JSON, wrong types, oversized) are never a crash and never
//! silently dropped: each is written, with its partition, offset and the reason, to a dead-letter
//! object under `<prefix>/_dead_letter/<topic>/`, and its partition's offset is not committed past
//! it until that object is durable.

use std::collections::BTreeMap;

use base64::Engine as _;

use super::batcher::{BatchId, CloseReason, ClosedBatch};
use crate::clock::Now;
use crate::model::layout::{dead_letter_root, object_key, TimeBucket};
pub use crate::results::DeadLetter;

/// Records larger than this are set aside as oversized: no tick comes near it, and holding one
/// in a batch would distort object sizes.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

/// A dead-letter object closes at this size (one PutObject).
const MAX_OBJECT_BYTES: usize = 1 << 20;

struct Open {
    first: i64,
    last: i64,
    records: u64,
    buf: Vec<u8>,
    opened: Now,
}

/// Open dead-letter batches, one per partition.
#[derive(Default)]
pub struct DeadLetters {
    open: BTreeMap<i32, Open>,
}

/// The key of a dead-letter object.
pub fn key(prefix: &str, topic: &str, b: &ClosedBatch) -> String {
    object_key(
        &dead_letter_root(prefix),
        topic,
        b.time,
        None,
        b.id.partition,
        b.id.first_offset,
        "jsonl",
    )
}

impl DeadLetters {
    /// Sets a record aside. Returns the batch id when this opened a new dead-letter batch (its
    /// partition's commits must then wait for it), and a closed batch when this one filled.
    pub fn push(
        &mut self,
        partition: i32,
        offset: i64,
        error: &str,
        payload: &[u8],
        now: Now,
    ) -> (Option<BatchId>, Option<ClosedBatch>) {
        let mut opened = None;
        let b = self.open.entry(partition).or_insert_with(|| {
            opened = Some(BatchId {
                partition,
                first_offset: offset,
            });
            Open {
                first: offset,
                last: offset,
                records: 0,
                buf: Vec::new(),
                opened: now,
            }
        });
        let (text, b64) = match std::str::from_utf8(payload) {
            Ok(t) => (Some(t.to_string()), None),
            Err(_) => (
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(payload)),
            ),
        };
        let line = DeadLetter {
            partition,
            offset,
            error: error.to_string(),
            payload: text,
            payload_base64: b64,
        };
        serde_json::to_writer(&mut b.buf, &line).expect("a dead letter serializes");
        b.buf.push(b'\n');
        b.records += 1;
        b.last = offset;
        let full = b.buf.len() >= MAX_OBJECT_BYTES;
        let closed = full
            .then(|| self.close(partition, CloseReason::Bytes, now))
            .flatten();
        (opened, closed)
    }

    /// Closes the batches that have waited `max_age_ns` (monotonic).
    pub fn expire(&mut self, now: Now, max_age_ns: u64) -> Vec<ClosedBatch> {
        let due: Vec<i32> = self
            .open
            .iter()
            .filter(|(_, b)| now.mono_ns.saturating_sub(b.opened.mono_ns) >= max_age_ns)
            .map(|(p, _)| *p)
            .collect();
        due.into_iter()
            .filter_map(|p| self.close(p, CloseReason::Age, now))
            .collect()
    }

    /// Closes every batch (end of run).
    pub fn drain(&mut self, now: Now) -> Vec<ClosedBatch> {
        let all: Vec<i32> = self.open.keys().copied().collect();
        all.into_iter()
            .filter_map(|p| self.close(p, CloseReason::Drain, now))
            .collect()
    }

    /// Drops a partition's open dead-letter batch unwritten; returns its id and record count.
    pub fn discard(&mut self, partition: i32) -> Option<(BatchId, u64)> {
        self.open.remove(&partition).map(|b| {
            (
                BatchId {
                    partition,
                    first_offset: b.first,
                },
                b.records,
            )
        })
    }

    fn close(&mut self, partition: i32, reason: CloseReason, now: Now) -> Option<ClosedBatch> {
        let b = self.open.remove(&partition)?;
        Some(ClosedBatch {
            id: BatchId {
                partition,
                first_offset: b.first,
            },
            // By the sink's clock: a dead letter has no event time to trust.
            time: TimeBucket::hour_of(b.opened.wall_ns),
            symbol: None,
            last_offset: b.last,
            records: b.records,
            bytes: b.buf.len() as u64,
            tail: b.buf,
            parts_before: 0,
            sched_ns: Vec::new(),
            opened_ns: b.opened.wall_ns,
            closed_ns: now.wall_ns,
            reason,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_keep_their_place_and_bytes() {
        let mut d = DeadLetters::default();
        let (opened, closed) = d.push(3, 40, "not a tick: x", b"hello", Now::default());
        assert_eq!(opened.map(|i| i.first_offset), Some(40));
        assert!(closed.is_none());
        let (opened, _) = d.push(3, 42, "not a tick: y", &[0xff, 0x00, b'a'], Now::default());
        assert!(opened.is_none(), "same partition, same batch");
        let b = d.drain(Now::default()).pop().unwrap();
        assert_eq!((b.id.first_offset, b.last_offset, b.records), (40, 42, 2));
        let lines: Vec<DeadLetter> = b
            .tail
            .split(|c| *c == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines[0].payload.as_deref(), Some("hello"));
        assert_eq!(lines[1].payload_base64.as_deref(), Some("/wBh"));
        assert_eq!(
            key("land", "ticks", &b),
            "land/_dead_letter/ticks/dt=1970-01-01/hour=00/ticks+3+00000000000000000040.jsonl"
        );
        assert_eq!(
            crate::model::layout::dead_letter_prefix("", "t"),
            "_dead_letter/t/"
        );
    }
}
