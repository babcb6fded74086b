//! Watching someone else's sink (`[observe]`): the prefix it writes to is listed every
//! `poll_interval`; each object that was not there before is read back at once and its records
//! checked off the run's ledger. An object's durable time is the end of the first listing that
//! shows it: later than the truth by at most the span from the start of the listing before to the
//! end of that one (about a poll interval plus a LIST), measured and stated in the summary.

use std::collections::HashSet;

use std::time::Duration;

use anyhow::Context;
use aws_sdk_s3::Client;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

pub mod decode;
pub mod events;
pub mod layout;
pub mod listing;

use crate::audit::{Ledger, Seen};
use crate::metrics::{now_ns, Counters, Recorders, Stage};
use crate::results::{CloseReason, Landed};

/// Where the external sink writes.
pub struct Watch<'a> {
    pub client: &'a Client,
    pub bucket: &'a str,
    pub prefix: &'a str,
    /// The shortest and longest intervals between listings (`observe.poll_interval`,
    /// `observe.poll_interval_max`).
    pub poll: Duration,
    pub poll_max: Duration,
    pub mapping: decode::Mapping,
    /// Only keys matching this (after the prefix) are the sink's.
    pub pattern: Option<regex::Regex>,
}

/// When to stop: once `found` distinct ticks of the run were seen, or at `deadline_mono_ns` (on
/// `clock::mono_ns`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Until {
    pub found: u64,
    pub deadline_mono_ns: u64,
}

/// What the watch saw.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Observation {
    /// The objects that appeared during the run, in the order they were seen; `durable_ns` is
    /// when a listing first showed each.
    pub objects: Vec<Landed>,
    /// Objects under the prefix before the run began: not this run's.
    pub preexisting: u64,
    /// Objects that could not be read as ticks, with why.
    pub unreadable: Vec<String>,
    /// Objects that were read but held no tick of any load.
    pub without_ticks: Vec<String>,
    /// Objects by what they were: "json-lines", "avro+gzip"...
    pub kinds: std::collections::BTreeMap<String, u64>,
    pub list_requests: u64,
    pub listings: u64,
    /// Listings that started after the older time directories (StartAfter).
    pub incremental_listings: u64,
    pub get_requests: u64,
    /// With S3 event notifications: SQS requests, and messages that held no event of ours.
    pub sqs_requests: u64,
    pub events_skipped: u64,
    /// Keys under the prefix that `observe.key_pattern` left out, never read.
    pub keys_left_out: u64,
    /// The slowest listing, microseconds.
    pub list_latency_max_us: u64,
    /// The bound on each durable time's lateness, measured: the longest span from the start of
    /// one listing to the end of the next (the poll interval, plus a listing, plus the reads in
    /// between when objects arrive faster than they are read).
    pub durable_bound_us: u64,
    /// True when every acknowledged tick was seen before the deadline.
    pub settled: bool,
}

/// The keys under the prefix now: what was there before the run.
pub async fn snapshot(w: &Watch<'_>) -> anyhow::Result<HashSet<String>> {
    let (keys, _) = listing::list(w.client, w.bucket, w.prefix, None).await?;
    Ok(keys.into_iter().map(|(k, _)| k).collect())
}

/// Watches until `until` says so (it is set when the load is over). Every tick found for the
/// first time records its `pipeline_e2e`, from its intended send time to its object's first
/// listing.
pub async fn observe(
    w: &Watch<'_>,
    mut known: HashSet<String>,
    ledger: &mut Ledger,
    rec: &Recorders,
    counters: &Counters,
    until: watch::Receiver<Option<Until>>,
    queue: Option<events::Queue>,
) -> anyhow::Result<Observation> {
    let mut obs = Observation {
        preexisting: known.len() as u64,
        ..Default::default()
    };
    let mut source = match queue {
        Some(q) => Source::Events(q),
        None => Source::Listing(Listing::new(w, &known)),
    };
    loop {
        let mut new = source.next(w, &mut known, &mut obs).await?;
        if let Some(p) = &w.pattern {
            let before = new.len();
            new.retain(|(k, _, _)| p.is_match(k.strip_prefix(w.prefix).unwrap_or(k)));
            obs.keys_left_out += (before - new.len()) as u64;
        }
        let mut bodies = fetch(w, new);
        while let Some((key, size, durable_ns, bytes)) = bodies.next().await {
            obs.get_requests += 1;
            // Gone between its listing (or event) and its read: said, not fatal.
            let bytes = match bytes {
                Ok(b) => b,
                Err(e) => {
                    obs.unreadable.push(format!("{key}: {e:#}"));
                    continue;
                }
            };
            let mut first = 0u64;
            let mut each = |t: Option<crate::model::tick::Tick>| {
                let ts = t.as_ref().map(|t| t.ts_ns);
                if ledger.record(t, &key) == Seen::First {
                    first += 1;
                    if let Some(ts) = ts {
                        rec.tick_latency(Stage::PipelineE2e, ts, durable_ns);
                    }
                }
            };
            match decode::decode(&key, &bytes, &w.mapping, &mut each) {
                Ok(d) => {
                    let records = d.records;
                    *obs.kinds.entry(d.kind()).or_default() += 1;
                    if d.ticks == 0 {
                        obs.without_ticks.push(key.clone());
                    }
                    let (partition, first_offset) = kafka_connect_offsets(&key).unwrap_or((-1, -1));
                    obs.objects.push(Landed {
                        key,
                        partition,
                        first_offset,
                        last_offset: first_offset + records as i64 - 1,
                        records,
                        bytes: size.max(0) as u64,
                        parts: 0,
                        close_reason: CloseReason::Observed,
                        durable_ns,
                        visible_ns: None,
                        sched_ns: Vec::new(),
                    });
                    counters
                        .landed
                        .fetch_add(first, std::sync::atomic::Ordering::Relaxed);
                    counters
                        .objects
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    rec.event(Stage::ObjectSize, size.max(0) as u64, durable_ns);
                }
                Err(e) => obs.unreadable.push(format!("{key}: {e:#}")),
            }
        }
        if let Some(u) = *until.borrow() {
            if ledger.found() >= u.found {
                obs.settled = true;
                break;
            }
            if crate::clock::mono_ns() > u.deadline_mono_ns {
                break;
            }
        }
    }
    match source {
        Source::Listing(l) => obs.durable_bound_us = l.bound_ns / 1000,
        Source::Events(q) => {
            // eventTime is to the millisecond, on S3's clock.
            obs.durable_bound_us = 1000;
            obs.sqs_requests = q.requests;
            obs.events_skipped = q.skipped;
        }
    }
    Ok(obs)
}

/// Where new objects come from, each with the time it became durable.
enum Source {
    Listing(Listing),
    Events(events::Queue),
}

/// The listing's state: where the next one starts, when, and the bound measured so far.
struct Listing {
    lister: listing::Lister,
    prev_start: u64,
    prev_full_start: u64,
    bound_ns: u64,
    next: tokio::time::Instant,
}

impl Listing {
    fn new(w: &Watch<'_>, known: &HashSet<String>) -> Listing {
        let mut lister = listing::Lister::new(w.prefix, w.poll, w.poll_max);
        for k in known {
            lister.known(k);
        }
        let now = crate::clock::mono_ns();
        Listing {
            lister,
            prev_start: now,
            prev_full_start: now,
            bound_ns: 0,
            next: tokio::time::Instant::now(),
        }
    }
}

impl Source {
    /// The objects not seen before, as (key, size, durable time).
    async fn next(
        &mut self,
        w: &Watch<'_>,
        known: &mut HashSet<String>,
        obs: &mut Observation,
    ) -> anyhow::Result<Vec<(String, i64, u64)>> {
        match self {
            Source::Events(q) => Ok(q
                .receive(1)
                .await?
                .into_iter()
                .filter(|c| known.insert(c.key.clone()))
                .map(|c| (c.key, c.size, c.event_ns))
                .collect()),
            Source::Listing(l) => {
                tokio::time::sleep_until(l.next).await;
                let start_after = l.lister.next_start_after();
                let t0 = crate::clock::mono_ns();
                let started = tokio::time::Instant::now();
                let (listed, pages) =
                    listing::list(w.client, w.bucket, w.prefix, start_after.as_deref()).await?;
                // Spans on the monotonic clock; the durable stamp on the wall clock.
                let (seen_ns, seen_mono) = (now_ns(), crate::clock::mono_ns());
                obs.list_requests += pages;
                obs.listings += 1;
                obs.incremental_listings += start_after.is_some() as u64;
                obs.list_latency_max_us = obs.list_latency_max_us.max((seen_mono - t0) / 1000);
                // An object that became durable just after one listing began is first shown by
                // the end of the next: the longest such span bounds every durable time's
                // lateness. One found by a full listing in a directory incremental listings
                // skip is bound by the span since the full listing before.
                l.bound_ns = l.bound_ns.max(seen_mono - l.prev_start);
                l.prev_start = t0;
                let new: Vec<(String, i64)> = listed
                    .into_iter()
                    .filter(|(k, _)| known.insert(k.clone()))
                    .collect();
                if start_after.is_none() {
                    let window = l.lister.window();
                    if new
                        .iter()
                        .any(|(k, _)| window.as_deref() >= Some(k.as_str()))
                    {
                        l.bound_ns = l.bound_ns.max(seen_mono - l.prev_full_start);
                    }
                    l.prev_full_start = t0;
                }
                for (k, _) in &new {
                    l.lister.learn(k);
                }
                l.next = started + l.lister.found(new.len(), seen_mono);
                Ok(new.into_iter().map(|(k, n)| (k, n, seen_ns)).collect())
            }
        }
    }
}

/// Each object's bytes, read 16 at a time (one GET at a time is bound by round trips, not
/// bandwidth), in the order they arrive.
fn fetch<'w>(
    w: &'w Watch<'_>,
    keys: Vec<(String, i64, u64)>,
) -> impl futures::Stream<Item = (String, i64, u64, anyhow::Result<bytes::Bytes>)> + 'w {
    futures::stream::iter(
        keys.into_iter()
            .map(move |(key, size, durable)| async move {
                let got = w
                    .client
                    .get_object()
                    .bucket(w.bucket)
                    .key(&key)
                    .send()
                    .await
                    .with_context(|| format!("reading s3://{}/{key}", w.bucket));
                let bytes = match got {
                    Ok(o) => o
                        .body
                        .collect()
                        .await
                        .map(|b| b.into_bytes())
                        .map_err(|e| anyhow::anyhow!("reading s3://{}/{key}: {e}", w.bucket)),
                    Err(e) => Err(e),
                };
                (key, size, durable, bytes)
            }),
    )
    .buffer_unordered(16)
}

/// The merged audit of observed parts (`tickbench merge`): reads the objects they saw again,
/// records their ticks into `ledger`, and returns what was read (objects, bytes, records, and
/// the objects that could not be read as problems).
pub async fn reread(
    w: &Watch<'_>,
    keys: Vec<(String, i64)>,
    ledger: &mut Ledger,
) -> anyhow::Result<crate::audit::Audit> {
    let mut found = crate::audit::Audit::default();
    let mut bodies = fetch(w, keys.into_iter().map(|(k, n)| (k, n, 0)).collect());
    while let Some((key, _, _, bytes)) = bodies.next().await {
        // An object the observer saw that is gone now (deleted, expired): its ticks are lost
        // unless another object holds them, which the ledger tells.
        let bytes = match bytes {
            Ok(b) => b,
            Err(e) => {
                found.problems.push(format!(
                    "object {key}, seen by the observer, cannot be read now: {e:#}"
                ));
                continue;
            }
        };
        found.objects += 1;
        found.bytes += bytes.len() as u64;
        match decode::decode(&key, &bytes, &w.mapping, |t| {
            ledger.record(t, &key);
        }) {
            Ok(d) => found.records_read += d.records,
            Err(e) => found
                .problems
                .push(format!("object {key}: {e:#} could not be read as ticks")),
        }
    }
    Ok(found)
}

/// The requests an observed sink must have made: at least one PUT (or one multipart upload)
/// per object. Its retries, failed uploads and reads are not visible from outside.
pub fn requests_seen(obs: &Observation) -> crate::metrics::RequestCounts {
    let r = crate::metrics::RequestCounts::default();
    r.put_object.store(
        obs.objects.len() as u64,
        std::sync::atomic::Ordering::Relaxed,
    );
    r
}

/// Partition and first offset from a name in Kafka Connect's convention
/// (`<topic>+<partition>+<start offset>.<ext>`, which tickbench's own sink follows too).
fn kafka_connect_offsets(key: &str) -> Option<(i32, i64)> {
    crate::model::layout::parse_object_name(key).map(|(_, p, o)| (p, o))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_come_from_kafka_connect_names_only() {
        assert_eq!(
            kafka_connect_offsets("topics/ticks/partition=0/ticks+0+0000000042.json"),
            Some((0, 42))
        );
        assert_eq!(
            kafka_connect_offsets("firehose/2026/12/01/10/delivery-1-abc"),
            None
        );
    }
}
