//! Records that are not ticks (not JSON, wrong types, oversized) are never a crash and never
//! silently dropped: each is written, with its partition, offset and the reason, to a dead-letter
//! object under `<prefix>/_dead_letter/<topic>/`, and its partition's offset is not committed past
//! it until that object is durable.
//!
//! What they hold is capped, so a topic of junk cannot take the sink's memory: each record's
//! payload to `sink.dead_letter_max_record` bytes (a longer one is cut, its line says so and gives
//! its full size, and the cut is counted), and the open dead-letter batches together to
//! `sink.dead_letter_max_bytes` (a record that would pass it first sends the largest open batches
//! to S3, counted too).

use std::collections::BTreeMap;

use base64::Engine as _;

use super::batcher::{BatchId, ClosedBatch};
use crate::clock::Now;
use crate::model::layout::{dead_letter_root, object_key, TimeBucket};
use crate::results::CloseReason;
use crate::results::DeadLetter;

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
pub struct DeadLetters {
    open: BTreeMap<i32, Open>,
    /// Bytes of a payload kept in its line, at most.
    max_record: usize,
    /// Bytes the open batches may hold together.
    max_held: u64,
    /// Bytes they hold now.
    held: u64,
    /// Payloads cut to `max_record`, and batches sent early to keep within `max_held`.
    pub truncated: u64,
    pub cap_closes: u64,
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
    /// Dead letters whose payloads keep at most `max_record` bytes, whose open batches hold at
    /// most `max_held` bytes together (validation keeps a whole line within it).
    pub fn new(max_record: u64, max_held: u64) -> DeadLetters {
        DeadLetters {
            open: BTreeMap::new(),
            max_record: max_record as usize,
            max_held,
            held: 0,
            truncated: 0,
            cap_closes: 0,
        }
    }

    /// Bytes the open dead-letter batches hold.
    pub fn held(&self) -> u64 {
        self.held
    }

    /// Sets a record aside. Returns the batch id when this opened a new dead-letter batch (its
    /// partition's commits must then wait for it), and the batches closed: this one when it
    /// filled, and others sent early to keep within the cap on what they hold together.
    pub fn push(
        &mut self,
        partition: i32,
        offset: i64,
        error: &str,
        payload: &[u8],
        now: Now,
    ) -> (Option<BatchId>, Vec<ClosedBatch>) {
        let line = self.line(partition, offset, error, payload);
        let mut closed = Vec::new();
        while self.held + line.len() as u64 > self.max_held {
            let Some(largest) = self
                .open
                .iter()
                .max_by_key(|(_, b)| b.buf.len())
                .map(|(p, _)| *p)
            else {
                break;
            };
            self.cap_closes += 1;
            closed.extend(self.close(largest, CloseReason::Bytes, now));
        }
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
        self.held += line.len() as u64;
        b.buf.extend_from_slice(&line);
        b.records += 1;
        b.last = offset;
        if b.buf.len() >= MAX_OBJECT_BYTES {
            closed.extend(self.close(partition, CloseReason::Bytes, now));
        }
        (opened, closed)
    }

    /// A record's dead-letter line: its place, the reason, and its payload (text, or base64 when
    /// not UTF-8), cut to `max_record` bytes with its full size when longer.
    fn line(&mut self, partition: i32, offset: i64, error: &str, payload: &[u8]) -> Vec<u8> {
        let cut = payload.len() > self.max_record;
        let kept = if cut {
            self.truncated += 1;
            &payload[..self.max_record]
        } else {
            payload
        };
        let (text, b64) = match std::str::from_utf8(kept) {
            Ok(t) => (Some(t.to_string()), None),
            // Cut inside a character: the text up to it.
            Err(e) if cut && e.error_len().is_none() => (
                Some(String::from_utf8_lossy(&kept[..e.valid_up_to()]).into_owned()),
                None,
            ),
            Err(_) => (
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(kept)),
            ),
        };
        let line = DeadLetter {
            partition,
            offset,
            error: error.to_string(),
            payload: text,
            payload_base64: b64,
            payload_bytes: cut.then_some(payload.len() as u64),
        };
        let mut buf = serde_json::to_vec(&line).expect("a dead letter serializes");
        buf.push(b'\n');
        buf
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
            self.held -= b.buf.len() as u64;
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
        self.held -= b.buf.len() as u64;
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

    const KIB: u64 = 1024;

    fn lines(b: &ClosedBatch) -> Vec<DeadLetter> {
        b.tail
            .split(|c| *c == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect()
    }

    #[test]
    fn a_value_over_the_record_cap_is_cut_and_counted() {
        let mut d = DeadLetters::new(10, 64 * KIB);
        let now = Now::default();
        d.push(0, 1, "oversized", &[b'x'; 100], now);
        d.push(0, 2, "not a tick", &[0xff; 40], now);
        // "é" is two bytes: the cut falls inside the sixth.
        d.push(0, 3, "not a tick", "ééééééé".as_bytes(), now);
        d.push(0, 4, "not a tick", b"short", now);
        assert_eq!(d.truncated, 3);
        let l = lines(&d.drain(now).pop().unwrap());
        assert_eq!(l[0].payload.as_deref(), Some("xxxxxxxxxx"));
        assert_eq!(l[0].payload_bytes, Some(100));
        assert_eq!(
            l[1].payload_base64.as_deref(),
            Some(
                base64::engine::general_purpose::STANDARD
                    .encode([0xff; 10])
                    .as_str()
            )
        );
        assert_eq!(l[1].payload_bytes, Some(40));
        assert_eq!(
            (l[2].payload.as_deref(), l[2].payload_bytes),
            (Some("ééééé"), Some(14))
        );
        assert_eq!(
            (l[3].payload.as_deref(), l[3].payload_bytes),
            (Some("short"), None)
        );
    }

    #[test]
    fn open_batches_stay_within_their_cap_and_lose_nothing() {
        let cap = 8 * KIB;
        let mut d = DeadLetters::new(KIB, cap);
        let now = Now::default();
        let mut closed = Vec::new();
        for i in 0..200i64 {
            let (_, c) = d.push((i % 4) as i32, i, "not a tick", &[b'j'; 1024], now);
            closed.extend(c);
            assert!(d.held() <= cap, "{} held after record {i}", d.held());
        }
        assert!(d.cap_closes > 0, "the cap sent batches early");
        closed.extend(d.drain(now));
        assert_eq!(d.held(), 0);
        let mut offsets: Vec<i64> = closed.iter().flat_map(lines).map(|l| l.offset).collect();
        offsets.sort();
        assert_eq!(offsets, (0..200).collect::<Vec<_>>(), "every record once");
        assert!(closed.iter().all(|b| b.bytes <= cap));
    }

    #[test]
    fn records_keep_their_place_and_bytes() {
        let mut d = DeadLetters::new(64 * KIB, 16 * KIB * KIB);
        let (opened, closed) = d.push(3, 40, "not a tick: x", b"hello", Now::default());
        assert_eq!(opened.map(|i| i.first_offset), Some(40));
        assert!(closed.is_empty());
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
