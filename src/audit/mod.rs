//! The integrity audit: reads back what landed in S3 and checks it against what Kafka acknowledged.
//! Per symbol, every acknowledged `seq` must be in exactly one object; per partition, the objects'
//! offset ranges must tile the run's offsets with no gap or overlap, up to the committed offset.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context;
use aws_sdk_s3::Client;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use crate::model::layout::topic_prefix;
use crate::results::{DeliveryFailed, Expectations, Landed};

mod ledger;
pub use ledger::{Ledger, Seen};

/// What was produced, according to the producer and the sink.
pub struct Expected<'a> {
    /// Ticker of each symbol index.
    pub tickers: Vec<&'a str>,
    /// Ticks generated per symbol: seq 0..n.
    pub per_symbol: &'a [u64],
    /// Deliveries that failed: not acknowledged, so not expected in S3.
    pub failed: &'a [DeliveryFailed],
    /// Objects the sink made durable.
    pub landed: &'a [Landed],
    pub start_offsets: &'a BTreeMap<i32, i64>,
    pub committed: &'a BTreeMap<i32, i64>,
    /// Per partition, records the sink read and set aside (not ticks).
    pub set_aside: &'a BTreeMap<i32, u64>,
    /// Per partition, the next offset the sink would have read.
    pub positions: &'a BTreeMap<i32, i64>,
    /// Dead-letter objects the sink made durable.
    pub dead_letters: &'a [Landed],
    /// Intended send times of this run's first and last tick, ns since the Unix epoch.
    pub schedule_ns: (u64, u64),
    /// Table mode: the table's last sequence number when the run's sink opened it.
    pub table_opened_at_sequence: Option<i64>,
}

impl Expectations {
    /// The expectations as the audit reads them.
    pub fn expected(&self) -> Expected<'_> {
        Expected {
            tickers: self.tickers.iter().map(String::as_str).collect(),
            per_symbol: &self.per_symbol,
            failed: &self.failed,
            landed: &self.landed,
            start_offsets: &self.start_offsets,
            committed: &self.committed,
            set_aside: &self.set_aside,
            positions: &self.positions,
            dead_letters: &self.dead_letters,
            schedule_ns: self.schedule_ns,
            table_opened_at_sequence: self.table_opened_at_sequence,
        }
    }
}

/// Where to read.
pub struct Location<'a> {
    pub client: &'a Client,
    pub bucket: &'a str,
    pub prefix: &'a str,
    pub topic: &'a str,
    /// Show a bar of the objects read back (on a terminal only).
    pub progress: bool,
    /// Table mode: the run's data files are those the table's current snapshot lists, not
    /// whatever is under the prefix (a refused commit leaves its file behind, in no snapshot).
    pub table: Option<&'a crate::io::iceberg::Lake>,
}

/// The audit's findings.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Audit {
    /// Objects of this run found by listing the bucket.
    pub objects: u64,
    pub bytes: u64,
    /// Lines read from those objects.
    pub records_read: u64,
    /// Acknowledged ticks found at least once.
    pub landed: u64,
    /// Acknowledged ticks not found.
    pub lost: u64,
    /// Extra copies of ticks found more than once.
    pub duplicated: u64,
    /// Of those, copies of ticks the topic holds at two offsets (each offset landed once): the
    /// producer sent them again after a failed request and the broker wrote both. A finding about
    /// the producer's settings (`enable.idempotence`), not about the sink.
    pub duplicated_in_log: u64,
    /// Of those, copies the sink landed twice from one offset (or from a partition whose offsets
    /// it did not account for exactly once): the sink's fault.
    pub duplicated_by_sink: u64,
    /// Ticks found whose delivery had been reported as failed (a timeout that still got written).
    pub landed_unacked: u64,
    /// Lines that are not ticks of this run (unknown symbol, seq never produced, not JSON).
    pub unexpected: u64,
    /// Ticks whose intended send time lies outside this run's schedule: records of another load
    /// on the topic (another run, a second producer) at this run's offsets. Not this run's to
    /// judge: counted, sampled and warned about, never a failure.
    pub foreign: u64,
    /// Up to 20 of those, as `SYMBOL#seq@ts_ns in KEY`.
    pub foreign_sample: Vec<String>,
    /// Problems, one line each; empty when the audit passed.
    pub problems: Vec<String>,
    /// Up to 20 lost ticks as `SYMBOL#seq`.
    pub lost_sample: Vec<String>,
    /// Up to 20 duplicated ticks as `SYMBOL#seq in KEY`.
    pub duplicated_sample: Vec<String>,
    /// Extra copies per partition (as the object's key names it; None: a key that names none).
    #[serde(skip)]
    pub(crate) duplicated_by_partition: BTreeMap<Option<i32>, u64>,
    /// Records found in dead-letter objects (set aside as not ticks).
    pub dead_lettered: u64,
    pub dead_letter_objects: u64,
}

impl Audit {
    pub fn passed(&self) -> bool {
        self.problems.is_empty()
    }

    /// What the audit saw that is not the sink's doing: warnings, not problems.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.foreign > 0 {
            out.push(format!(
                "{} records at this run's offsets were intended outside this run's schedule: another load on the topic, set aside as foreign (a run on its own topic, kafka.topic_per_run, sees none); for example {}",
                self.foreign,
                self.foreign_sample.join(", ")
            ));
        }
        if self.duplicated_in_log > 0 {
            out.push(format!(
                "{} ticks are in S3 twice because the topic holds them at two offsets: the producer sent them again after a failed request and the broker wrote both (kafka.producer \"enable.idempotence\" = \"true\" prevents it); the sink landed each offset once (counts.duplicated_in_log; a threshold duplicated_in_log = \"== 0\" fails the run on it)",
                self.duplicated_in_log
            ));
        }
        out
    }

    /// Splits `duplicated` by who made the copies, where the objects' offsets are known: a copy
    /// in a partition whose offsets were each landed once is a second offset of the log; any
    /// other copy is the sink's.
    fn attribute(&mut self, unaccounted: &std::collections::BTreeSet<i32>) {
        for (p, n) in std::mem::take(&mut self.duplicated_by_partition) {
            match p {
                Some(p) if !unaccounted.contains(&p) => self.duplicated_in_log += n,
                _ => self.duplicated_by_sink += n,
            }
        }
    }
}

const SAMPLE: usize = 20;

/// Lists and reads back every object of this run and checks it against `exp`.
pub async fn run(loc: &Location<'_>, exp: &Expected<'_>) -> anyhow::Result<Audit> {
    let listed = list(loc).await?;
    let mut audit = Audit::default();
    let by_key: HashMap<&str, &Landed> = exp.landed.iter().map(|l| (l.key.as_str(), l)).collect();
    let ours: Vec<(String, i64)> = listed
        .into_iter()
        .filter(|(key, _, sequence)| {
            match crate::model::layout::parse_object_name(key) {
                // Objects of earlier runs on the same topic start below this run's offsets.
                Some((t, p, off)) => {
                    t == loc.topic && off >= exp.start_offsets.get(&p).copied().unwrap_or(0)
                }
                // A table's data file no sink named: a rewrite of sinks' files (compaction). It
                // holds this run's ticks if it was committed after the run's sink opened the
                // table; its rows of earlier runs are left aside as it is read.
                None => {
                    sequence.is_some_and(|q| q > exp.table_opened_at_sequence.unwrap_or(i64::MIN))
                }
            }
        })
        .map(|(key, size, _)| (key, size))
        .collect();
    for (key, size) in &ours {
        audit.objects += 1;
        audit.bytes += *size as u64;
        if !by_key.contains_key(key.as_str()) {
            audit.problems.push(format!(
                "object {key} is in the {} but the sink never reported it durable",
                if loc.table.is_some() {
                    "table"
                } else {
                    "bucket"
                }
            ));
        }
    }
    let listed_keys: std::collections::HashSet<&str> =
        ours.iter().map(|(k, _)| k.as_str()).collect();
    for l in exp.landed {
        if !listed_keys.contains(l.key.as_str()) {
            audit.problems.push(format!(
                "object {} was reported durable but is not in the {}",
                l.key,
                if loc.table.is_some() {
                    "table"
                } else {
                    "bucket"
                }
            ));
        }
    }

    let mut ledger = Ledger::new(exp.tickers.iter().copied(), exp.schedule_ns);
    let mut bodies = futures::stream::iter(ours.iter().map(|(key, _)| async move {
        let obj = loc
            .client
            .get_object()
            .bucket(loc.bucket)
            .key(key)
            .send()
            .await
            .with_context(|| format!("reading back s3://{}/{key}", loc.bucket))?;
        let bytes = obj
            .body
            .collect()
            .await
            .with_context(|| format!("reading back s3://{}/{key}", loc.bucket))?
            .into_bytes();
        anyhow::Ok((key.as_str(), bytes))
    }))
    // Reads overlap: one GET at a time is bound by round trips, not bandwidth.
    .buffer_unordered(16);
    let bar = if loc.progress {
        indicatif::ProgressBar::new(ours.len() as u64).with_style(
            indicatif::ProgressStyle::with_template(
                "reading back {bar:30.cyan/blue} {pos}/{len} objects, {eta} left",
            )
            .expect("a valid template"),
        )
    } else {
        indicatif::ProgressBar::hidden()
    };
    while let Some((key, bytes)) = bodies.try_next().await? {
        bar.inc(1);
        let rewritten = crate::model::layout::parse_object_name(key).is_none();
        let (from, to) = exp.schedule_ns;
        let mut each = |t: Option<crate::model::tick::Tick>| {
            // A rewritten file may hold earlier runs' rows beside this run's: not this run's to
            // judge, nor another load at its offsets (foreign).
            if rewritten && t.as_ref().is_some_and(|t| t.ts_ns < from || t.ts_ns > to) {
                return;
            }
            ledger.record(t, key);
        };
        let lines = match crate::model::format::decode_object(key, &bytes, &mut each) {
            Ok(n) => n,
            Err(e) => {
                audit
                    .problems
                    .push(format!("object {key} cannot be read: {e:#}"));
                continue;
            }
        };
        audit.records_read += lines;
        if let Some(l) = by_key.get(key) {
            if l.records != lines {
                audit.problems.push(format!(
                    "object {key} holds {lines} records but the sink wrote {}",
                    l.records
                ));
            }
        }
    }
    bar.finish_and_clear();

    let mut offset_problems = Vec::new();
    let unaccounted = check_offsets(exp, &mut offset_problems);
    let mut audit = ledger.finish_with(exp, audit, Some(&unaccounted));
    audit.problems.extend(offset_problems);
    check_dead_letters(loc, exp, &mut audit).await?;
    Ok(audit)
}

/// Every record set aside is in a dead-letter object of its partition, once: read back and
/// counted per partition against what the sink set aside.
async fn check_dead_letters(
    loc: &Location<'_>,
    exp: &Expected<'_>,
    audit: &mut Audit,
) -> anyhow::Result<()> {
    let prefix = crate::model::layout::dead_letter_prefix(loc.prefix, loc.topic);
    let listed: Vec<String> = list_under(loc, &prefix)
        .await?
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| {
            crate::model::layout::parse_object_name(k).is_some_and(|(t, p, off)| {
                t == loc.topic && off >= exp.start_offsets.get(&p).copied().unwrap_or(0)
            })
        })
        .collect();
    let mut found: BTreeMap<i32, u64> = BTreeMap::new();
    let mut offsets = std::collections::HashSet::new();
    for key in &listed {
        let body = loc
            .client
            .get_object()
            .bucket(loc.bucket)
            .key(key)
            .send()
            .await
            .with_context(|| format!("reading back s3://{}/{key}", loc.bucket))?
            .body
            .collect()
            .await
            .with_context(|| format!("reading back s3://{}/{key}", loc.bucket))?
            .into_bytes();
        for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            match serde_json::from_slice::<crate::results::DeadLetter>(line) {
                Ok(d) => {
                    if !offsets.insert((d.partition, d.offset)) {
                        audit.problems.push(format!(
                            "dead letter of partition {} offset {} is written twice (again in {key})",
                            d.partition, d.offset
                        ));
                    }
                    *found.entry(d.partition).or_default() += 1;
                    audit.dead_lettered += 1;
                }
                Err(e) => audit.problems.push(format!(
                    "dead-letter object {key} holds a line that is not one: {e}"
                )),
            }
        }
    }
    for l in exp.dead_letters {
        if !listed.contains(&l.key) {
            audit.problems.push(format!(
                "dead-letter object {} was reported durable but is not in the bucket",
                l.key
            ));
        }
    }
    let partitions: std::collections::BTreeSet<i32> =
        found.keys().chain(exp.set_aside.keys()).copied().collect();
    for p in partitions {
        let (want, got) = (
            exp.set_aside.get(&p).copied().unwrap_or(0),
            found.get(&p).copied().unwrap_or(0),
        );
        if want != got {
            audit.problems.push(format!(
                "partition {p}: the sink set aside {want} records that are not ticks, but {got} are in dead-letter objects under {prefix}"
            ));
        }
    }
    audit.dead_letter_objects = listed.len() as u64;
    Ok(())
}

/// Per partition, every offset from the run's start to where the sink stopped reading is
/// accounted for exactly once: landed in an object or set aside (not a tick); the committed
/// offset is where the sink stopped; and objects grouped by partition do not overlap (objects
/// grouped by symbol interleave by design; their records are checked once each by the per-symbol
/// audit). Returns the partitions whose offsets were not each landed or set aside once.
fn check_offsets(
    exp: &Expected<'_>,
    problems: &mut Vec<String>,
) -> std::collections::BTreeSet<i32> {
    let mut unaccounted = std::collections::BTreeSet::new();
    let mut by_part: BTreeMap<i32, Vec<&Landed>> = BTreeMap::new();
    for l in exp.landed {
        by_part.entry(l.partition).or_default().push(l);
    }
    let partitions: std::collections::BTreeSet<i32> = by_part
        .keys()
        .chain(exp.committed.keys())
        .chain(exp.positions.keys())
        .copied()
        .collect();
    for p in partitions {
        let start = exp.start_offsets.get(&p).copied().unwrap_or(0);
        let position = exp.positions.get(&p).copied().unwrap_or(start);
        let objs = by_part.get_mut(&p).map(std::mem::take).unwrap_or_default();
        let landed: u64 = objs.iter().map(|l| l.records).sum();
        let aside = exp.set_aside.get(&p).copied().unwrap_or(0);
        let read = (position - start).max(0) as u64;
        if landed + aside != read {
            unaccounted.insert(p);
            problems.push(format!(
                "partition {p}: the sink read offsets {start}..{position} ({read} records) but {landed} landed and {aside} were set aside"
            ));
        }
        match exp.committed.get(&p) {
            Some(c) if *c == position => {}
            None if position == start => {}
            other => problems.push(format!(
                "partition {p}: committed offset is {other:?} but the sink read up to {position}"
            )),
        }
        let mut objs = objs;
        objs.sort_by_key(|l| l.first_offset);
        let by_symbol = objs.iter().any(|l| l.key.contains("/symbol="));
        if !by_symbol {
            for w in objs.windows(2) {
                if w[1].first_offset <= w[0].last_offset {
                    unaccounted.insert(p);
                    problems.push(format!(
                        "partition {p}: objects {} and {} overlap at offsets {}..={}",
                        w[0].key, w[1].key, w[1].first_offset, w[0].last_offset
                    ));
                }
            }
        }
    }
    unaccounted
}

/// Each object: key, bytes, and in a table the data sequence number it was committed with.
async fn list(loc: &Location<'_>) -> anyhow::Result<Vec<(String, i64, Option<i64>)>> {
    match loc.table {
        Some(lake) => Ok(lake
            .live_files()
            .await
            .with_context(|| format!("reading Iceberg table {}", lake.name()))?
            .into_iter()
            .map(|(key, bytes, sequence)| (key, bytes as i64, Some(sequence)))
            .collect()),
        None => Ok(list_under(loc, &topic_prefix(loc.prefix, loc.topic))
            .await?
            .into_iter()
            .map(|(key, bytes)| (key, bytes, None))
            .collect()),
    }
}

async fn list_under(loc: &Location<'_>, prefix: &str) -> anyhow::Result<Vec<(String, i64)>> {
    let mut out = Vec::new();
    let mut pages = loc
        .client
        .list_objects_v2()
        .bucket(loc.bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.with_context(|| format!("listing s3://{}/{prefix}", loc.bucket))?;
        for o in page.contents() {
            if let Some(k) = o.key() {
                out.push((k.to_string(), o.size().unwrap_or(0)));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tick::Tick;
    use crate::results::CloseReason;

    fn tick(seq: u64) -> Option<Tick> {
        Some(Tick {
            symbol: "AAA".into(),
            seq,
            ts_ns: 10,
            price: 1.0,
            bid: 1.0,
            ask: 1.0,
            size: 1,
        })
    }

    fn object(partition: i32, first: i64, last: i64) -> Landed {
        Landed {
            key: format!("p/t/dt=2026-12-07/hour=10/t+{partition}+{first:020}.jsonl"),
            partition,
            first_offset: first,
            last_offset: last,
            records: (last - first + 1) as u64,
            bytes: 1,
            parts: 0,
            close_reason: CloseReason::Age,
            durable_ns: 1,
            visible_ns: None,
            sched_ns: Vec::new(),
        }
    }

    /// Ticks 0..3 of one symbol on partition 0; the sink read offsets 0..positions.
    fn audit_of(landed: &[Landed], seqs: &[(usize, u64)], position: i64) -> Audit {
        let per_symbol = [3u64];
        let start = BTreeMap::from([(0, 0i64)]);
        let positions = BTreeMap::from([(0, position)]);
        let exp = Expected {
            tickers: vec!["AAA"],
            per_symbol: &per_symbol,
            failed: &[],
            landed,
            start_offsets: &start,
            committed: &positions,
            set_aside: &BTreeMap::new(),
            positions: &positions,
            dead_letters: &[],
            schedule_ns: (0, 100),
            table_opened_at_sequence: None,
        };
        let mut ledger = Ledger::new(["AAA"], exp.schedule_ns);
        for (object, seq) in seqs {
            ledger.record(tick(*seq), &landed[*object].key);
        }
        let mut problems = Vec::new();
        let unaccounted = check_offsets(&exp, &mut problems);
        let mut a = ledger.finish_with(&exp, Audit::default(), Some(&unaccounted));
        a.problems.extend(problems);
        a
    }

    #[test]
    fn a_tick_at_two_offsets_each_landed_once_is_the_logs_copy_not_the_sinks() {
        // The log: seq 0, 1, 1 (a retried batch written twice), 2; two objects tile it.
        let landed = [object(0, 0, 1), object(0, 2, 3)];
        let a = audit_of(&landed, &[(0, 0), (0, 1), (1, 1), (1, 2)], 4);
        assert_eq!(
            (a.duplicated, a.duplicated_in_log, a.duplicated_by_sink),
            (1, 1, 0)
        );
        assert!(a.passed(), "{:?}", a.problems);
        assert!(
            a.warnings()
                .iter()
                .any(|w| w.contains("1 ticks are in S3 twice") && w.contains("enable.idempotence")),
            "{:?}",
            a.warnings()
        );
    }

    #[test]
    fn one_offset_landed_twice_is_the_sinks_fault() {
        // The log: seq 0, 1, 2; offset 1 is in both objects.
        let landed = [object(0, 0, 1), object(0, 1, 2)];
        let a = audit_of(&landed, &[(0, 0), (0, 1), (1, 1), (1, 2)], 3);
        assert_eq!(
            (a.duplicated, a.duplicated_in_log, a.duplicated_by_sink),
            (1, 0, 1)
        );
        assert!(
            a.problems
                .iter()
                .any(|p| p.contains("the sink landed them twice")),
            "{:?}",
            a.problems
        );
    }

    #[test]
    fn copies_nothing_tells_apart_fail_the_audit_unattributed() {
        // An observed sink: no offsets known.
        let landed = [object(0, 0, 1), object(0, 2, 3)];
        let per_symbol = [3u64];
        let none: BTreeMap<i32, i64> = BTreeMap::new();
        let exp = Expected {
            tickers: vec!["AAA"],
            per_symbol: &per_symbol,
            failed: &[],
            landed: &[],
            start_offsets: &none,
            committed: &none,
            set_aside: &BTreeMap::new(),
            positions: &none,
            dead_letters: &[],
            schedule_ns: (0, 100),
            table_opened_at_sequence: None,
        };
        let mut ledger = Ledger::new(["AAA"], exp.schedule_ns);
        for (object, seq) in [(0, 0), (0, 1), (1, 1), (1, 2)] {
            ledger.record(tick(seq), &landed[object].key);
        }
        let a = ledger.finish(&exp, Audit::default());
        assert_eq!(
            (a.duplicated, a.duplicated_in_log, a.duplicated_by_sink),
            (1, 0, 0)
        );
        assert!(!a.passed());
    }
}
