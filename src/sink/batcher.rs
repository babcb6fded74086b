//! Per-partition batching: which records share an object and when the object closes. Pure logic,
//! no I/O, so every trigger is unit-tested.
//!
//! A batch closes on the first of: record count; encoded bytes (measured after encoding and
//! compression, checked before a record is added, so an uncompressed object never passes the
//! target and a compressed one lands within a few percent of it); age of its oldest record;
//! idle partition; wall-clock rotation; a change of time partition (every record of an object
//! belongs to the time partition in its key); or the end of the run. In streaming mode, every
//! full part is handed out while the batch fills, so it uploads in the background.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use crate::clock::Now;
use crate::config::TimeSource;
use crate::model::format::{Encoding, ObjectWriter};
use crate::model::layout::TimeBucket;
use crate::model::layout::TimeGranularity;
use crate::model::tick::Tick;

/// When a batch closes, and how it uploads.
#[derive(Debug, Clone, Copy)]
pub struct Triggers {
    pub max_records: u64,
    pub max_bytes: u64,
    pub max_age: Duration,
    pub part_size: u64,
    /// Close every batch when the wall clock crosses a multiple of this.
    pub rotate_every: Option<Duration>,
    /// Close a batch whose partition sent nothing for this long.
    pub idle_timeout: Option<Duration>,
    /// Hand out parts while the batch fills (else hold the whole batch).
    pub streaming: bool,
    /// Objects up to this size are one PutObject.
    pub multipart_threshold: u64,
}

impl Triggers {
    /// The triggers a scenario's `[sink]` sets.
    pub fn of(sink: &crate::config::Sink) -> Triggers {
        Triggers {
            max_records: sink.max_records,
            max_bytes: sink.max_bytes.as_u64(),
            max_age: sink.max_age,
            part_size: sink.part_size.as_u64(),
            rotate_every: sink.rotate_every,
            idle_timeout: sink.idle_timeout,
            streaming: sink.upload == crate::config::UploadMode::Streaming,
            multipart_threshold: sink.multipart_threshold(),
        }
    }
}

/// How records map to batches: time partitions, and optionally one batch per symbol.
#[derive(Debug, Clone, Copy, Default)]
pub struct TimeLayout {
    pub granularity: TimeGranularity,
    pub source: TimeSource,
    /// One batch per symbol (within its Kafka partition) instead of one per partition.
    pub by_symbol: bool,
}

use crate::results::CloseReason;

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
    pub time: TimeBucket,
    /// The symbol of a batch grouped by symbol.
    pub symbol: Option<String>,
    pub last_offset: i64,
    pub records: u64,
    /// Bytes of the whole object, parts already handed out included.
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
        time: TimeBucket,
        symbol: Option<String>,
        bytes: Vec<u8>,
    },
    /// A batch opened: its partition's offset may not be committed past `first_offset` until it
    /// is durable.
    Opened(BatchId),
    /// The batch is closed; upload `tail` and finish.
    Close(ClosedBatch),
}

struct Open {
    id: BatchId,
    time: TimeBucket,
    symbol: Option<String>,
    last_offset: i64,
    records: u64,
    writer: Box<dyn ObjectWriter>,
    /// Bytes handed out as parts.
    taken: u64,
    parts: u32,
    sched_ns: Vec<u64>,
    /// When it opened: the wall time for its report and rotation, the monotonic for its age.
    opened: Now,
    /// Monotonic time of its last record (idle).
    last_mono_ns: u64,
}

/// The open batches of one partition: the one batch, or one per symbol.
#[derive(Default)]
struct Groups {
    whole: Option<Open>,
    by_symbol: HashMap<String, Open>,
}

impl Groups {
    // Grouped by partition, no string is hashed or compared per record (the symbol lookups cost
    // more than encoding the record).
    fn get_mut(&mut self, group: Option<&str>) -> Option<&mut Open> {
        match group {
            None => self.whole.as_mut(),
            Some(s) => self.by_symbol.get_mut(s),
        }
    }

    fn remove(&mut self, group: Option<&str>) -> Option<Open> {
        match group {
            None => self.whole.take(),
            Some(s) => self.by_symbol.remove(s),
        }
    }

    fn is_empty(&self) -> bool {
        self.whole.is_none() && self.by_symbol.is_empty()
    }

    fn len(&self) -> usize {
        self.whole.is_some() as usize + self.by_symbol.len()
    }

    fn iter(&self) -> impl Iterator<Item = &Open> {
        self.whole.iter().chain(self.by_symbol.values())
    }
}

/// Open batches of every partition this sink holds.
pub struct Batcher {
    triggers: Triggers,
    layout: TimeLayout,
    encoding: Encoding,
    open: BTreeMap<i32, Groups>,
}

impl Batcher {
    pub fn new(triggers: Triggers, layout: TimeLayout, encoding: Encoding) -> Batcher {
        Batcher {
            triggers,
            layout,
            encoding,
            open: BTreeMap::new(),
        }
    }

    /// Adds one record at `offset` of `partition`: the decoded tick and its JSON as it came (the
    /// JSON-lines format writes that text unchanged).
    pub fn push(
        &mut self,
        partition: i32,
        offset: i64,
        tick: &Tick,
        json: &[u8],
        now: Now,
        out: &mut Vec<Action>,
    ) {
        let t = self.triggers;
        let ts = match self.layout.source {
            TimeSource::Event => tick.ts_ns,
            TimeSource::Wall => now.wall_ns,
        };
        let time = TimeBucket::of_ns(self.layout.granularity, ts);
        let group: Option<&str> = self.layout.by_symbol.then_some(tick.symbol.as_str());
        // The common case, one lookup: the record joins its open batch.
        if let Some(b) = self.open.get_mut(&partition).and_then(|g| g.get_mut(group)) {
            let reason = if b.time != time {
                Some(CloseReason::TimePartition)
            } else {
                let add = b.writer.stage(tick, json);
                if b.writer.size() + add > t.max_bytes {
                    Some(CloseReason::Bytes)
                } else {
                    if let Some(reason) = Self::append(b, &t, offset, tick, now.mono_ns, out) {
                        self.close(partition, group, reason, now, out);
                    }
                    return;
                }
            };
            if let Some(reason) = reason {
                self.close(partition, group, reason, now, out);
            }
        }
        let enc = self.encoding;
        let groups = self.open.entry(partition).or_default();
        let id = BatchId {
            partition,
            first_offset: offset,
        };
        out.push(Action::Opened(id));
        let open = Open {
            id,
            time,
            symbol: group.map(str::to_string),
            last_offset: offset,
            records: 0,
            writer: crate::model::format::writer(&enc),
            taken: 0,
            parts: 0,
            sched_ns: Vec::new(),
            opened: now,
            last_mono_ns: now.mono_ns,
        };
        let b = match group {
            None => groups.whole.insert(open),
            Some(s) => groups.by_symbol.entry(s.to_string()).or_insert(open),
        };
        b.writer.stage(tick, json);
        if let Some(reason) = Self::append(b, &t, offset, tick, now.mono_ns, out) {
            self.close(partition, group, reason, now, out);
        }
    }

    /// Commits the record just staged in `b`, hands out the parts it filled; returns why the
    /// batch must close now, if it must.
    #[inline]
    fn append(
        b: &mut Open,
        t: &Triggers,
        offset: i64,
        tick: &Tick,
        mono_ns: u64,
        out: &mut Vec<Action>,
    ) -> Option<CloseReason> {
        b.writer.commit();
        b.records += 1;
        b.last_offset = offset;
        b.last_mono_ns = mono_ns;
        b.sched_ns.push(tick.ts_ns);
        if t.streaming && (b.parts > 0 || b.writer.size() > t.multipart_threshold) {
            while let Some(bytes) = b.writer.take_part(t.part_size as usize) {
                b.parts += 1;
                b.taken += bytes.len() as u64;
                out.push(Action::Part {
                    id: b.id,
                    time: b.time,
                    symbol: b.symbol.clone(),
                    bytes,
                });
            }
        }
        if b.records >= t.max_records {
            Some(CloseReason::Records)
        } else if b.writer.size() >= t.max_bytes {
            Some(CloseReason::Bytes)
        } else {
            None
        }
    }

    /// Closes every batch whose oldest record has waited `max_age`, whose partition has been
    /// idle for `idle_timeout` (both on the monotonic clock), or that was opened before the last
    /// rotation boundary (on the wall clock: rotation aligns objects to it).
    pub fn expire(&mut self, now: Now, out: &mut Vec<Action>) {
        let t = self.triggers;
        let max_age = t.max_age.as_nanos() as u64;
        let idle = t.idle_timeout.map(|d| d.as_nanos() as u64);
        let rotate = t.rotate_every.map(|d| (d.as_nanos() as u64).max(1));
        let due: Vec<(i32, Option<String>, CloseReason)> = self
            .batches()
            .filter_map(|(p, g, b)| {
                let reason = if rotate.is_some_and(|r| b.opened.wall_ns / r != now.wall_ns / r) {
                    CloseReason::Rotate
                } else if now.mono_ns.saturating_sub(b.opened.mono_ns) >= max_age {
                    CloseReason::Age
                } else if idle.is_some_and(|i| now.mono_ns.saturating_sub(b.last_mono_ns) >= i) {
                    CloseReason::Idle
                } else {
                    return None;
                };
                Some((p, g.map(str::to_string), reason))
            })
            .collect();
        for (p, g, reason) in due {
            self.close(p, g.as_deref(), reason, now, out);
        }
    }

    /// Closes every open batch (end of run).
    pub fn drain(&mut self, now: Now, out: &mut Vec<Action>) {
        let all: Vec<(i32, Option<String>)> = self
            .batches()
            .map(|(p, g, _)| (p, g.map(str::to_string)))
            .collect();
        for (p, g) in all {
            self.close(p, g.as_deref(), CloseReason::Drain, now, out);
        }
    }

    /// Closes the open batches of one partition (a rewind's cut).
    pub fn close_partition(&mut self, partition: i32, now: Now, out: &mut Vec<Action>) {
        let groups: Vec<Option<String>> = self
            .batches()
            .filter(|(p, _, _)| *p == partition)
            .map(|(_, g, _)| g.map(str::to_string))
            .collect();
        for g in groups {
            self.close(partition, g.as_deref(), CloseReason::Rewind, now, out);
        }
    }

    /// Drops the open batches of one partition unfinished (its records will be read again, or
    /// by another consumer) and returns their ids.
    pub fn discard(&mut self, partition: i32) -> Vec<BatchId> {
        self.open
            .remove(&partition)
            .map(|g| g.iter().map(|b| b.id).collect())
            .unwrap_or_default()
    }

    fn batches(&self) -> impl Iterator<Item = (i32, Option<&str>, &Open)> {
        self.open
            .iter()
            .flat_map(|(p, g)| g.iter().map(move |b| (*p, b.symbol.as_deref(), b)))
    }

    pub fn open_batches(&self) -> usize {
        self.open.values().map(Groups::len).sum()
    }

    /// Bytes the open batches hold in memory (encoded, not yet handed out), estimated for
    /// compressed and Parquet batches.
    pub fn buffered_bytes(&self) -> u64 {
        self.batches()
            .map(|(_, _, b)| b.writer.size().saturating_sub(b.taken))
            .sum()
    }

    fn close(
        &mut self,
        partition: i32,
        group: Option<&str>,
        reason: CloseReason,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        let Some(groups) = self.open.get_mut(&partition) else {
            return;
        };
        let closed = groups.remove(group);
        if groups.is_empty() {
            self.open.remove(&partition);
        }
        if let Some(b) = closed {
            // Finishing into memory fails only on a bug in an encoder; the records then cannot be
            // written, so the run must stop rather than commit past them.
            let tail = b
                .writer
                .finish()
                .expect("finishing an object in memory cannot fail");
            out.push(Action::Close(ClosedBatch {
                id: b.id,
                time: b.time,
                symbol: b.symbol,
                last_offset: b.last_offset,
                records: b.records,
                bytes: b.taken + tail.len() as u64,
                tail,
                parts_before: b.parts,
                sched_ns: b.sched_ns,
                opened_ns: b.opened.wall_ns,
                closed_ns: now.wall_ns,
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
            rotate_every: None,
            idle_timeout: None,
            streaming: true,
            multipart_threshold: 5 * MIB,
        }
    }

    /// A reading of both clocks at `ns` (they agree unless a test steps the wall clock).
    fn at(ns: u64) -> Now {
        Now {
            wall_ns: ns,
            mono_ns: ns,
        }
    }

    fn batcher(t: Triggers) -> Batcher {
        Batcher::new(
            t,
            TimeLayout::default(),
            Encoding::new(
                crate::model::format::Format::Jsonl,
                crate::model::format::Compression::None,
            ),
        )
    }

    fn tick_at(ts_ns: u64) -> Tick {
        Tick {
            symbol: "X".into(),
            seq: 0,
            ts_ns,
            price: 1.0,
            bid: 1.0,
            ask: 1.0,
            size: 1,
        }
    }

    /// Pushes a record whose JSON is `line` (the JSON-lines writer copies it as it is).
    fn push(
        b: &mut Batcher,
        p: i32,
        off: i64,
        ts: u64,
        line: &[u8],
        now: u64,
        out: &mut Vec<Action>,
    ) {
        let tick = Tick {
            symbol: "X".into(),
            seq: off as u64,
            ts_ns: ts,
            price: 1.0,
            bid: 1.0,
            ask: 1.0,
            size: 1,
        };
        b.push(p, off, &tick, line, at(now), out);
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
        let mut b = batcher(triggers());
        let mut out = Vec::new();
        for off in 0..2500 {
            push(&mut b, 3, off, HOUR, b"0123456789", 0, &mut out);
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
        let mut b = batcher(t);
        let mut out = Vec::new();
        // 99-byte lines + newline = 100 bytes: exactly 10 per object.
        for off in 0..35 {
            push(&mut b, 0, off, HOUR, &[b'x'; 99], 0, &mut out);
        }
        let c = closed(&out);
        assert_eq!(c.len(), 3);
        assert!(c
            .iter()
            .all(|c| c.bytes == 1000 && c.records == 10 && c.reason == CloseReason::Bytes));
        // 150-byte lines: 6 fit (900), the 7th would pass 1000, so the batch closes before it.
        let mut out = Vec::new();
        for off in 100..114 {
            push(&mut b, 1, off, HOUR, &[b'y'; 149], 0, &mut out);
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
        let mut b = batcher(t);
        let mut out = Vec::new();
        let line = vec![b'z'; 1023]; // 1 KiB with newline
        for off in 0..(12 * 1024) {
            push(&mut b, 0, off, HOUR, &line, 0, &mut out);
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
    fn age_closes_only_old_batches() {
        let mut b = batcher(triggers());
        let mut out = Vec::new();
        push(&mut b, 0, 0, HOUR, b"a", 1_000, &mut out);
        push(&mut b, 1, 0, HOUR, b"b", 3_000_000_000, &mut out);
        b.expire(at(5_000_000_999), &mut out);
        assert!(closed(&out).is_empty());
        b.expire(at(5_000_001_000), &mut out);
        let c = closed(&out);
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].id.partition, c[0].reason), (0, CloseReason::Age));
        assert_eq!(b.open_batches(), 1);
    }

    #[test]
    fn a_wall_clock_step_neither_flushes_early_nor_holds_late() {
        let mut t = triggers();
        t.idle_timeout = Some(Duration::from_secs(2));
        let mut b = batcher(t);
        let mut out = Vec::new();
        const DAY: u64 = 24 * HOUR;
        let wall = 100 * DAY;
        let opened = Now {
            wall_ns: wall + 10 * SEC,
            mono_ns: 10 * SEC,
        };
        b.push(0, 0, &tick_at(HOUR), b"a", opened, &mut out);
        // The wall clock jumps a day ahead 1 s later: nothing is 5 s old, nothing idle for 2 s.
        let ahead = Now {
            wall_ns: wall + 11 * SEC + DAY,
            mono_ns: 11 * SEC,
        };
        b.push(0, 1, &tick_at(HOUR), b"b", ahead, &mut out);
        b.expire(ahead, &mut out);
        assert!(closed(&out).is_empty(), "no early flush");
        // Then a day back, and 4 s more pass: the batch is 5 s old on the monotonic clock.
        let back = Now {
            wall_ns: wall + 15 * SEC - DAY,
            mono_ns: 15 * SEC,
        };
        b.expire(back, &mut out);
        let c = closed(&out);
        assert_eq!(c.len(), 1, "no late flush");
        assert_eq!((c[0].reason, c[0].records), (CloseReason::Age, 2));
        assert_eq!(
            c[0].closed_ns,
            wall + 15 * SEC - DAY,
            "stamped on the wall clock"
        );
    }

    #[test]
    fn a_new_hour_starts_a_new_object() {
        let mut b = batcher(triggers());
        let mut out = Vec::new();
        push(&mut b, 0, 0, HOUR - 1, b"a", 0, &mut out);
        push(&mut b, 0, 1, HOUR - 1, b"a", 0, &mut out);
        push(&mut b, 0, 2, HOUR, b"b", 0, &mut out);
        let c = closed(&out);
        assert_eq!(c.len(), 1);
        assert_eq!(
            (c[0].reason, c[0].records, c[0].time),
            (CloseReason::TimePartition, 2, TimeBucket::hour_of(0))
        );
        out.clear();
        b.drain(at(0), &mut out);
        let c = closed(&out);
        assert_eq!(
            (c[0].id.first_offset, c[0].time, c[0].reason),
            (2, TimeBucket::hour_of(HOUR), CloseReason::Drain)
        );
    }

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn rotation_closes_on_the_wall_clock_boundary() {
        let mut t = triggers();
        t.rotate_every = Some(Duration::from_secs(10));
        t.max_age = Duration::from_secs(3600);
        let mut b = batcher(t);
        let mut out = Vec::new();
        push(&mut b, 0, 0, HOUR, b"a", 12 * SEC, &mut out);
        push(&mut b, 1, 0, HOUR, b"b", 19 * SEC, &mut out);
        b.expire(at(20 * SEC - 1), &mut out);
        assert!(closed(&out).is_empty());
        b.expire(at(20 * SEC), &mut out);
        let c = closed(&out);
        assert_eq!(
            c.len(),
            2,
            "both batches end on the boundary, whatever their age"
        );
        assert!(c.iter().all(|c| c.reason == CloseReason::Rotate));
    }

    #[test]
    fn a_quiet_partition_is_flushed_after_the_idle_timeout() {
        let mut t = triggers();
        t.idle_timeout = Some(Duration::from_secs(2));
        t.max_age = Duration::from_secs(3600);
        let mut b = batcher(t);
        let mut out = Vec::new();
        for i in 0..10 {
            push(&mut b, 0, i, HOUR, b"busy", i as u64 * SEC, &mut out);
        }
        push(&mut b, 1, 0, HOUR, b"quiet", 0, &mut out);
        b.expire(at(9 * SEC + SEC / 2), &mut out);
        let c = closed(&out);
        assert_eq!(c.len(), 1, "only the quiet partition");
        assert_eq!((c[0].id.partition, c[0].reason), (1, CloseReason::Idle));
    }

    #[test]
    fn buffered_mode_holds_the_whole_object() {
        let mut t = triggers();
        t.streaming = false;
        t.max_records = u64::MAX;
        t.max_bytes = 12 * MIB;
        let mut b = batcher(t);
        let mut out = Vec::new();
        let line = vec![b'z'; 1023];
        for off in 0..(12 * 1024) {
            push(&mut b, 0, off, HOUR, &line, 0, &mut out);
        }
        assert!(out.iter().all(|a| !matches!(a, Action::Part { .. })));
        let c = closed(&out);
        assert_eq!((c[0].parts_before, c[0].tail.len() as u64), (0, 12 * MIB));
    }

    #[test]
    fn minute_partitions_by_wall_clock() {
        let layout = TimeLayout {
            granularity: TimeGranularity::Minute,
            source: TimeSource::Wall,
            by_symbol: false,
        };
        let enc = Encoding::new(
            crate::model::format::Format::Jsonl,
            crate::model::format::Compression::None,
        );
        let mut b = Batcher::new(triggers(), layout, enc);
        let mut out = Vec::new();
        // Event times far apart, wall clock within one minute: one object.
        push(&mut b, 0, 0, 0, b"a", 60 * SEC, &mut out);
        push(&mut b, 0, 1, 5 * HOUR, b"b", 119 * SEC, &mut out);
        assert!(closed(&out).is_empty());
        push(&mut b, 0, 2, 0, b"c", 120 * SEC, &mut out);
        let c = closed(&out);
        assert_eq!((c[0].reason, c[0].records), (CloseReason::TimePartition, 2));
        assert_eq!(c[0].time.path(), "dt=1970-01-01/hour=00/minute=01");
    }

    #[test]
    fn compressed_batches_close_near_the_byte_target() {
        let mut t = triggers();
        t.max_records = u64::MAX;
        t.max_bytes = 256 * 1024;
        let enc = Encoding::new(
            crate::model::format::Format::Jsonl,
            crate::model::format::Compression::Gzip,
        );
        let mut b = Batcher::new(t, TimeLayout::default(), enc);
        let mut out = Vec::new();
        let mut json = Vec::new();
        for i in 0..200_000u64 {
            let tick = Tick {
                symbol: format!("S{}", i % 101),
                seq: i,
                ts_ns: HOUR,
                price: 100.0 + (i % 977) as f64 / 100.0,
                bid: 99.0,
                ask: 101.0,
                size: (i % 300) as u32,
            };
            json.clear();
            tick.encode_json(&mut json);
            b.push(0, i as i64, &tick, &json, at(0), &mut out);
        }
        let c = closed(&out);
        assert!(c.len() >= 3, "{}", c.len());
        for c in &c {
            assert_eq!(c.bytes, c.tail.len() as u64);
            let off = (c.bytes as f64 - t.max_bytes as f64) / t.max_bytes as f64;
            assert!(
                off.abs() < 0.05,
                "{} bytes for a {} target",
                c.bytes,
                t.max_bytes
            );
        }
    }

    #[test]
    fn grouped_by_symbol_each_object_holds_one_symbol() {
        let layout = TimeLayout {
            by_symbol: true,
            ..TimeLayout::default()
        };
        let enc = Encoding::new(
            crate::model::format::Format::Jsonl,
            crate::model::format::Compression::None,
        );
        let mut t = triggers();
        t.max_records = 3;
        let mut b = Batcher::new(t, layout, enc);
        let mut out = Vec::new();
        let sym = |s: &str, off: i64| Tick {
            symbol: s.into(),
            seq: off as u64,
            ts_ns: HOUR,
            price: 1.0,
            bid: 1.0,
            ask: 1.0,
            size: 1,
        };
        for (off, s) in ["A", "B", "A", "C", "A", "B"].iter().enumerate() {
            b.push(0, off as i64, &sym(s, off as i64), b"{}", at(0), &mut out);
        }
        let opened: Vec<i64> = out
            .iter()
            .filter_map(|a| match a {
                Action::Opened(id) => Some(id.first_offset),
                _ => None,
            })
            .collect();
        assert_eq!(opened, vec![0, 1, 3], "A, B and C each opened a batch");
        let c = closed(&out);
        assert_eq!(c.len(), 1, "A reached 3 records");
        assert_eq!(
            (
                c[0].symbol.as_deref(),
                c[0].id.first_offset,
                c[0].last_offset,
                c[0].records
            ),
            (Some("A"), 0, 4, 3)
        );
        assert_eq!(b.open_batches(), 2);
        out.clear();
        b.drain(at(0), &mut out);
        let mut syms: Vec<_> = closed(&out)
            .iter()
            .map(|c| c.symbol.clone().unwrap())
            .collect();
        syms.sort();
        assert_eq!(syms, vec!["B", "C"]);
    }
}
