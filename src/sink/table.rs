//! Table mode (`sink.format = "iceberg"`): each durable data file waits until a snapshot lists
//! it; a partition's offset is committed only once everything below it is *visible* in the table.
//!
//! A snapshot takes, per Kafka partition, the waiting files below the oldest batch that is not
//! yet durable, and records in its summary the offset it covers up to. A sink that restarts or
//! takes a partition over skips what the table already covers, so a crash between the table
//! commit and the offset commit neither loses nor duplicates (as Iceberg's Kafka Connect sink
//! does). Before committing, the table's offsets for each partition must still be what this sink
//! last saw: otherwise another sink committed that partition since, and this one rewinds (or, if
//! it lost the partition, gives it up) instead of committing it twice.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::batcher::BatchId;
use super::upload::{Refusal, UploadError, UploadGaveUp};
use super::{CommitMsg, SinkError, State};
use crate::clock::Now;
use crate::config::CommitEvery;
use crate::io::iceberg::{Committed, Lake};
use crate::metrics::Stage;
use crate::model::layout::TimeBucket;
use crate::model::table;
use crate::results::Landed;

/// A durable data file no snapshot lists yet.
struct Waiting {
    landed: Landed,
    partition: iceberg::spec::Struct,
}

/// A commit's outcome, back in the sink loop.
pub(super) struct TableDone {
    files: Vec<Waiting>,
    floors: BTreeMap<i32, i64>,
    result: anyhow::Result<Committed>,
    started: Now,
    done: Now,
}

/// The sink's side of its table.
pub(super) struct TableSink {
    lake: Arc<Lake>,
    /// This sink's name in data file names and snapshot summaries.
    writer: String,
    files_named: u64,
    every: CommitEvery,
    /// The partition tuple of each batch under way.
    partitions: HashMap<BatchId, iceberg::spec::Struct>,
    waiting: BTreeMap<i32, BTreeMap<i64, Waiting>>,
    /// Per partition, the next offset the table covers, as this sink last saw it: records below
    /// it are skipped, and a commit expects the table to still say so.
    known: BTreeMap<i32, i64>,
    /// Partitions in the commit in flight.
    committing: Option<BTreeSet<i32>>,
    since_commit: u32,
    /// Monotonic: the commit interval, and the retries' wait and time limit.
    last_commit_mono_ns: u64,
    /// When commits started failing, and when to try again.
    failing_since_mono_ns: Option<u64>,
    retry_at_mono_ns: u64,
    retry_for: Duration,
    done_tx: mpsc::UnboundedSender<TableDone>,
    /// Snapshots this sink made, catalog conflicts redone, partitions refused.
    pub commits: u64,
    pub conflicts: u64,
    pub refused: u64,
}

impl TableSink {
    /// The table side of a sink that starts now: what the table already covers is read first.
    pub(super) async fn start(
        lake: Arc<Lake>,
        every: CommitEvery,
        retry_for: Duration,
    ) -> Result<(TableSink, mpsc::UnboundedReceiver<TableDone>), SinkError> {
        let known = lake
            .floors()
            .await
            .map_err(|e| SinkError::Table(format!("{e:#}")))?;
        let (done_tx, rx) = mpsc::unbounded_channel();
        let writer: String = (0..4)
            .map(|_| format!("{:04x}", rand::random::<u16>()))
            .collect();
        Ok((
            TableSink {
                lake,
                writer,
                files_named: 0,
                every,
                partitions: HashMap::new(),
                waiting: BTreeMap::new(),
                known,
                committing: None,
                since_commit: 0,
                last_commit_mono_ns: crate::clock::mono_ns(),
                failing_since_mono_ns: None,
                retry_at_mono_ns: 0,
                retry_for,
                done_tx,
                commits: 0,
                conflicts: 0,
                refused: 0,
            },
            rx,
        ))
    }

    /// The key of a batch's data file, under the table's location.
    pub(super) fn key(
        &mut self,
        id: BatchId,
        time: TimeBucket,
        symbol: Option<&str>,
        topic: &str,
        ext: &str,
    ) -> String {
        self.files_named += 1;
        self.partitions
            .insert(id, table::partition_of(time, symbol));
        table::data_key(
            &self.lake.key,
            time,
            symbol,
            topic,
            id.partition,
            id.first_offset,
            &format!("{}-{}", self.writer, self.files_named),
            ext,
        )
    }

    /// The next offset the table covers for `partition`, as last seen.
    #[inline]
    pub(super) fn floor(&self, partition: i32) -> Option<i64> {
        self.known.get(&partition).copied()
    }

    /// Nothing waits for a snapshot and none is being committed.
    pub(super) fn idle(&self) -> bool {
        self.committing.is_none() && self.waiting.values().all(|w| w.is_empty())
    }

    /// The partition's waiting files are dropped (it is read again, or by another member).
    pub(super) fn discard(&mut self, p: i32) {
        self.waiting.remove(&p);
    }

    fn due(&self, now: Now, force: bool) -> bool {
        if self.committing.is_some() || now.mono_ns < self.retry_at_mono_ns {
            return false;
        }
        force
            || match self.every {
                CommitEvery::Batches(n) => self.since_commit >= n,
                CommitEvery::Interval(d) => {
                    now.mono_ns >= self.last_commit_mono_ns + d.as_nanos() as u64
                }
            }
    }
}

impl State {
    /// A durable data file: it waits for the next snapshot.
    pub(super) fn on_data_file(&mut self, l: Landed) {
        let Some(t) = self.table.as_mut() else { return };
        let id = super::upload::id_of(&l);
        let partition = t
            .partitions
            .remove(&id)
            .unwrap_or_else(iceberg::spec::Struct::empty);
        t.since_commit += 1;
        t.waiting.entry(l.partition).or_default().insert(
            l.first_offset,
            Waiting {
                landed: l,
                partition,
            },
        );
        self.commit_table(Now::read(), false);
    }

    /// Commits a snapshot if one is due (`force`: whatever waits, as the sink drains).
    pub(super) fn commit_table(&mut self, now: Now, force: bool) {
        let Some(t) = self.table.as_ref() else { return };
        if t.waiting.values().all(|w| w.is_empty()) || !t.due(now, force) {
            return;
        }
        // Per partition: the files below its oldest batch not yet durable (open, uploading or
        // a dead letter), and that batch's first offset (or the sink's position) as the floor.
        let mut take: BTreeMap<i32, (i64, Vec<i64>)> = BTreeMap::new();
        {
            let tracker = self.tracker();
            for (p, files) in &t.waiting {
                if files.is_empty() || self.resetting.contains_key(p) {
                    continue;
                }
                let position = self.next_offset.get(p).copied().unwrap_or(0);
                let floor = tracker
                    .pending_offsets(*p)
                    .find(|o| !files.contains_key(o))
                    .unwrap_or(position);
                let firsts: Vec<i64> = files.range(..floor).map(|(o, _)| *o).collect();
                if !firsts.is_empty() {
                    take.insert(*p, (floor, firsts));
                }
            }
        }
        if take.is_empty() {
            return;
        }
        let t = self.table.as_mut().expect("checked above");
        let mut files = Vec::new();
        let mut floors = BTreeMap::new();
        let mut expected = BTreeMap::new();
        for (p, (floor, firsts)) in take {
            let w = t.waiting.get_mut(&p).expect("taken from it");
            files.extend(firsts.iter().filter_map(|o| w.remove(o)));
            floors.insert(p, floor);
            expected.insert(p, t.known.get(&p).copied());
        }
        t.committing = Some(floors.keys().copied().collect());
        t.since_commit = 0;
        let partitions: Vec<i32> = floors.keys().copied().collect();
        let (lake, writer, done) = (t.lake.clone(), t.writer.clone(), t.done_tx.clone());
        tokio::spawn(async move {
            let data: Vec<(i32, iceberg::spec::DataFile)> = files
                .iter()
                .map(|w| {
                    let path = format!("s3://{}/{}", lake.bucket, w.landed.key);
                    let f = table::data_file(
                        path,
                        w.landed.records,
                        w.landed.bytes,
                        w.partition.clone(),
                        lake.spec_id,
                    );
                    (w.landed.partition, f)
                })
                .collect();
            let started = Now::read();
            let result = lake.commit(data, &floors, &expected, &writer).await;
            let _ = done.send(TableDone {
                files,
                floors,
                result,
                started,
                done: Now::read(),
            });
        });
        // A reset of these partitions waits for the commit, as it waits for uploads.
        for p in partitions {
            self.started(p);
        }
    }

    /// A commit's outcome: visible files count as landed and their offsets may be committed;
    /// refused partitions are read again from what the table covers now.
    pub(super) fn on_table_done(&mut self, d: TableDone) -> Result<(), SinkError> {
        let t = self.table.as_mut().expect("table mode");
        for p in t.committing.take().unwrap_or_default() {
            self.in_flight -= 1;
            if let Some(n) = self.in_flight_by.get_mut(&p) {
                *n -= 1;
            }
        }
        let t = self.table.as_mut().expect("table mode");
        let committed = match d.result {
            Ok(c) => {
                t.failing_since_mono_ns = None;
                c
            }
            Err(e) => {
                // The catalog or storage failed: the files wait, and the commit is tried again
                // (every second) for as long as uploads are.
                let since = *t.failing_since_mono_ns.get_or_insert(d.done.mono_ns);
                if d.done.mono_ns - since > t.retry_for.as_nanos() as u64 {
                    return Err(SinkError::Table(format!("{e:#}")));
                }
                tracing::warn!("Iceberg commit failed, trying again: {e:#}");
                t.retry_at_mono_ns = d.done.mono_ns + 1_000_000_000;
                for w in d.files {
                    let p = w.landed.partition;
                    t.waiting
                        .entry(p)
                        .or_default()
                        .insert(w.landed.first_offset, w);
                }
                return Ok(());
            }
        };
        t.conflicts += committed.conflicts as u64;
        if committed.snapshot.is_some() {
            t.commits += 1;
            t.last_commit_mono_ns = d.done.mono_ns;
            self.rec.event(
                Stage::TableCommit,
                (d.done.mono_ns - d.started.mono_ns) / 1_000,
                d.done.wall_ns,
            );
        }
        let mut first_refused: BTreeMap<i32, (i64, i64)> = BTreeMap::new();
        for (p, floor) in &d.floors {
            match committed.refused.get(p) {
                None => {
                    t.known.insert(*p, *floor);
                }
                Some(now) => {
                    t.refused += 1;
                    match now {
                        Some(o) => t.known.insert(*p, *o),
                        None => t.known.remove(p),
                    };
                }
            }
        }
        for w in d.files {
            let mut l = w.landed;
            if committed.refused.contains_key(&l.partition) {
                let e = first_refused
                    .entry(l.partition)
                    .or_insert((l.first_offset, l.last_offset));
                if l.first_offset < e.0 {
                    *e = (l.first_offset, l.last_offset);
                }
                continue;
            }
            for s in std::mem::take(&mut l.sched_ns) {
                self.rec.tick_latency(Stage::Visible, s, d.done.wall_ns);
            }
            l.visible_ns = Some(d.done.wall_ns);
            self.tracker().durable(l.partition, l.first_offset);
            self.counters
                .landed
                .fetch_add(l.records, std::sync::atomic::Ordering::Relaxed);
            self.counters
                .objects
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.counters
                .bytes_landed
                .fetch_add(l.bytes, std::sync::atomic::Ordering::Relaxed);
            self.report.landed.push(l);
        }
        for p in d.floors.keys() {
            if committed.refused.contains_key(p) {
                continue;
            }
            let position = self.next_offset.get(p).copied().unwrap_or(0);
            let next = self.tracker().advance(*p, position);
            if let Some(next) = next {
                let _ = self
                    .commit_tx
                    .send(CommitMsg::Offset(*p, next, d.done.wall_ns));
            }
        }
        // Refused: another sink committed the partition. Read it again from the oldest batch not
        // yet visible, skipping what the table now covers (or give it up, if it was lost).
        let lake = self.table.as_ref().expect("table mode").lake.name();
        for (p, (first, last)) in first_refused {
            self.on_failed(UploadGaveUp {
                id: BatchId {
                    partition: p,
                    first_offset: first,
                },
                last_offset: Some(last),
                error: UploadError {
                    op: "Iceberg commit",
                    bucket: String::new(),
                    key: lake.clone(),
                    message: format!(
                        "another sink committed partition {p} to the table since this one last did"
                    ),
                    transient: true,
                    refused: Some(Refusal::Fenced),
                },
            })?;
        }
        Ok(())
    }
}

impl TableSink {
    pub(super) fn counts(&self) -> crate::results::TableSummary {
        let (metadata_puts, metadata_gets) = self.lake.io.counts();
        crate::results::TableSummary {
            table: self.lake.name(),
            snapshots: self.commits,
            conflicts: self.conflicts,
            refused: self.refused,
            metadata_puts,
            metadata_gets,
            opened_at_sequence: Some(self.lake.opened_at_sequence),
        }
    }
}

/// The next commit outcome, if the sink is in table mode (otherwise never).
pub(super) async fn next(rx: &mut Option<mpsc::UnboundedReceiver<TableDone>>) -> Option<TableDone> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}
