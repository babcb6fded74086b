//! The sink: a consumer-group member that batches records per Kafka partition, uploads each batch
//! to S3, and commits a partition's offset only once every batch up to it is durable.

pub mod batcher;
mod closing;
pub mod commit;
mod committer;
pub mod context;
pub mod dead_letter;
mod dispatch;
mod error;
mod fence;
mod fetched;
pub mod journal;
mod lag;
mod record;
mod report;
mod reset;
mod serve;
pub mod start;
mod table;
pub mod upload;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::Consumer;
use tokio::sync::{mpsc, oneshot, watch};

use crate::metrics::{now_ns, Counters, LocalStage, Recorders, Stage};
use crate::model::format::Encoding;
use crate::results::CommitRecord;
use crate::results::Landed;
use batcher::{Action, BatchId, Batcher, TimeLayout, Triggers};
use commit::CommitTracker;
use committer::{committer, CommitMsg};
pub use context::{SinkConsumer, SinkContext};
use dead_letter::DeadLetters;
pub use error::{SinkError, SinkFailure};
pub use report::{memory_bound, SinkReport};
use reset::{Replay, Reset};
use table::TableSink;
use upload::{Chunk, Done, UploadGaveUp, Uploader};

/// What the sink needs besides its clients.
#[derive(Debug, Clone)]
pub struct SinkSettings {
    pub topic: String,
    pub prefix: String,
    pub triggers: Triggers,
    pub layout: TimeLayout,
    pub encoding: Encoding,
    /// Per partition, the first offset of this run; older records are skipped and counted.
    pub start_offsets: BTreeMap<i32, i64>,
    pub drain_timeout: Duration,
    /// Caps on dead letters: bytes of a payload kept, bytes the open batches hold together.
    pub dead_letter_max_record: u64,
    pub dead_letter_max_bytes: u64,
    /// Table mode: the Iceberg table the data files are committed to.
    pub table: Option<TableTarget>,
}

/// The table a sink in table mode commits to, and how often.
#[derive(Debug, Clone)]
pub struct TableTarget {
    pub lake: Arc<crate::io::iceberg::Lake>,
    pub every: crate::config::CommitEvery,
    /// How long failing commits are tried again before the sink stops.
    pub retry_for: Duration,
}

impl SinkSettings {
    /// The scenario's sink settings; records below `start_offsets` are skipped.
    pub fn of(s: &crate::config::Scenario, start_offsets: BTreeMap<i32, i64>) -> SinkSettings {
        SinkSettings {
            topic: s.kafka.topic.clone(),
            prefix: s.s3.prefix.clone(),
            triggers: Triggers::of(&s.sink),
            layout: TimeLayout {
                granularity: s.sink.time_partition,
                source: s.sink.time_source,
                by_symbol: s.sink.group_by == crate::config::GroupBy::Symbol,
            },
            encoding: s.sink.encoding(),
            start_offsets,
            drain_timeout: s.sink.drain_timeout,
            dead_letter_max_record: s.sink.dead_letter_max_record.as_u64(),
            dead_letter_max_bytes: s.sink.dead_letter_max_bytes.as_u64(),
            table: None,
        }
    }
}

/// Signals the run sends the sink.
pub struct SinkControl {
    /// Fired once the consumer holds an assignment (the group has formed).
    pub ready: oneshot::Sender<()>,
    /// Set to each partition's high watermark once the load is over: land up to there, then stop.
    pub drain: watch::Receiver<Option<BTreeMap<i32, i64>>>,
}

struct State {
    consumer: Arc<SinkConsumer>,
    settings: SinkSettings,
    uploader: Uploader,
    rec: Arc<Recorders>,
    counters: Arc<Counters>,
    batcher: Batcher,
    dead: DeadLetters,
    /// Shared with the fence, which reads a partition's commit floor from an upload's task.
    tracker: Arc<std::sync::Mutex<CommitTracker>>,
    streams: HashMap<BatchId, mpsc::Sender<Chunk>>,
    in_flight: usize,
    /// Uploads not yet reported, per partition: a reset waits for them.
    in_flight_by: HashMap<i32, usize>,
    /// Partitions being rewound or revoked, until their uploads in flight are done.
    resetting: BTreeMap<i32, Reset>,
    /// Per partition, last offsets of batches that failed (a rewind closes its batch there).
    failed_last: BTreeMap<i32, Vec<i64>>,
    /// Per partition, objects another sink wrote first at this sink's keys: their first offset
    /// and records, skipped when the partition is read again.
    claimed: BTreeMap<i32, Vec<(i64, u64)>>,
    /// Partitions being read again after a rewind.
    replay: HashMap<i32, Replay>,
    /// Revoked partitions to give up once all of them are committed.
    to_give_up: Vec<i32>,
    /// A rewind happened: the sink must read again even if it had drained.
    read_again: bool,
    /// Positions of partitions given up to other members.
    positions_released: BTreeMap<i32, i64>,
    done_tx: Done,
    commit_tx: mpsc::UnboundedSender<CommitMsg>,
    next_offset: BTreeMap<i32, i64>,
    report: SinkReport,
    actions: Vec<Action>,
    /// kafka_e2e, recorded without the shared lock per record; handed over every FLUSH_EVERY
    /// ticks of the loop's timer and at the end.
    kafka_e2e: LocalStage,
    /// Table mode: data files wait for a snapshot (see `table.rs`).
    table: Option<TableSink>,
}

/// Runs the sink until the drain target is landed and committed: it opens (its state, the
/// table, the committer), serves the group until drained (`serve.rs`), then closes (its last
/// commits, and the report of what it landed even when it failed).
pub async fn run(
    consumer: SinkConsumer,
    uploader: Uploader,
    settings: SinkSettings,
    rec: Arc<Recorders>,
    counters: Arc<Counters>,
    control: SinkControl,
) -> Result<SinkReport, SinkFailure> {
    let consumer = Arc::new(consumer);
    // Before the stream first serves the group: the first assignment is fetched into it too.
    let mut fetched = fetched::Fetched::new(consumer.clone());
    // However the sink ends, the consumer then leaves its group without waiting for it.
    let _closing = context::CloseOnDrop(consumer.clone());
    let Opened {
        mut st,
        mut inputs,
        committer,
    } = match open(consumer.clone(), uploader, settings, rec, counters).await {
        Ok(o) => o,
        Err(error) => {
            return Err(SinkFailure {
                error,
                report: Box::default(),
            })
        }
    };
    let lag = lag::Sampler::start(consumer.clone(), st.counters.clone());
    let mut serving = serve::Serving::new(control);
    // The loop's error ends the sink, but what it landed is still reported (and committed).
    let failed = serving
        .serve(&mut st, &mut inputs, &mut fetched)
        .await
        .err();
    // Partitions still assigned are fetched into a queue nobody reads now; nothing is lost, as
    // nothing past what the sink landed is committed.
    drop(fetched);
    lag.stop().await;
    st.report.wall_clock_steps = serving.steps.steps;
    st.report.largest_wall_clock_step_ns = serving.steps.largest_ns;
    close(st, &consumer, committer, failed).await
}

/// The committer's task: what it committed, and its log of commits.
type Committer =
    tokio::task::JoinHandle<Result<(BTreeMap<i32, i64>, Vec<CommitRecord>), SinkError>>;

/// A sink ready to serve: its state, what it waits on besides the consumer, its committer.
struct Opened {
    st: State,
    inputs: serve::Inputs,
    committer: Committer,
}

/// The sink's state at its start; the table opened and the committer started.
async fn open(
    consumer: Arc<SinkConsumer>,
    uploader: Uploader,
    settings: SinkSettings,
    rec: Arc<Recorders>,
    counters: Arc<Counters>,
) -> Result<Opened, SinkError> {
    let conditional_writes = uploader.conditional_writes();
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let (commit_tx, commit_rx) = mpsc::unbounded_channel();
    let tracker = Arc::new(std::sync::Mutex::new(CommitTracker::default()));
    // Where writes are not conditional, the group's generation fences a zombie instead.
    let uploader = uploader.with_fence(fence::fence(tracker.clone(), commit_tx.downgrade()));
    let (table, table_rx) = match &settings.table {
        Some(t) => {
            let (sink, rx) = TableSink::start(t.lake.clone(), t.every, t.retry_for).await?;
            (Some(sink), Some(rx))
        }
        None => (None, None),
    };
    let committer = tokio::spawn(committer(
        consumer.clone(),
        settings.topic.clone(),
        commit_rx,
        rec.clone(),
    ));
    let st = State {
        consumer,
        in_flight_by: HashMap::new(),
        resetting: BTreeMap::new(),
        failed_last: BTreeMap::new(),
        claimed: BTreeMap::new(),
        replay: HashMap::new(),
        to_give_up: Vec::new(),
        read_again: false,
        positions_released: BTreeMap::new(),
        batcher: Batcher::new(settings.triggers, settings.layout, settings.encoding),
        dead: DeadLetters::new(
            settings.dead_letter_max_record,
            settings.dead_letter_max_bytes,
        ),
        settings,
        uploader,
        rec,
        counters,
        tracker,
        streams: HashMap::new(),
        in_flight: 0,
        done_tx,
        commit_tx,
        next_offset: BTreeMap::new(),
        report: SinkReport {
            conditional_writes,
            ..Default::default()
        },
        actions: Vec::new(),
        kafka_e2e: LocalStage::new(Stage::KafkaE2e),
        table,
    };
    Ok(Opened {
        st,
        inputs: serve::Inputs { done_rx, table_rx },
        committer,
    })
}

/// The sink's last commits, the committer's log, and the report: `failed` (the loop's error, if
/// any) or the committer's own error makes it a failure that still carries the report.
async fn close(
    mut st: State,
    consumer: &Arc<SinkConsumer>,
    committer: Committer,
    failed: Option<SinkError>,
) -> Result<SinkReport, SinkFailure> {
    st.kafka_e2e.flush(&st.rec);
    st.final_commits();
    st.report.dead_letters_truncated = st.dead.truncated;
    st.report.dead_letter_cap_closes = st.dead.cap_closes;
    st.report.positions = st.positions_released.clone();
    st.report.positions.extend(st.next_offset.clone());
    if let Some(t) = &st.table {
        st.report.table = Some(t.counts());
    }
    let finals = st.tracker().points();
    let State {
        mut report,
        commit_tx,
        counters,
        settings,
        ..
    } = st;
    closing::Closing {
        consumer,
        topic: &settings.topic,
        commit_tx: &commit_tx,
        finals,
        counters: &counters,
        within: settings.drain_timeout,
    }
    .run(&mut report)
    .await;
    drop(commit_tx);
    let committed = committer
        .await
        .map_err(|e| SinkError::Commit(e.to_string()))
        .and_then(|r| r);
    consumer.context().close();
    consumer.unsubscribe();
    let error = match committed {
        Ok((c, commits)) => {
            (report.committed, report.commits) = (c, commits);
            failed
        }
        Err(e) => Some(failed.unwrap_or(e)),
    };
    match error {
        None => Ok(report),
        Some(error) => Err(SinkFailure {
            error,
            report: Box::new(report),
        }),
    }
}

impl State {
    fn tracker(&self) -> std::sync::MutexGuard<'_, CommitTracker> {
        self.tracker.lock().expect("commit tracker")
    }

    /// An upload is done, durable or given up.
    fn on_done(&mut self, res: Result<Landed, UploadGaveUp>) -> Result<(), SinkError> {
        self.in_flight -= 1;
        let p = match &res {
            Ok(l) => l.partition,
            Err(f) => f.id.partition,
        };
        if let Some(n) = self.in_flight_by.get_mut(&p) {
            *n -= 1;
        }
        match res {
            Ok(l) => {
                self.on_landed(l);
                Ok(())
            }
            Err(f) => self.on_failed(f),
        }
    }

    /// Records the sink's memory high-water marks.
    fn sample_memory(&mut self) {
        let held = self.batcher.buffered_bytes() + self.uploader.queued_bytes() + self.dead.held();
        let r = &mut self.report;
        r.peak_buffered_bytes = r.peak_buffered_bytes.max(held);
        r.peak_open_batches = r.peak_open_batches.max(self.batcher.open_batches() as u64);
    }

    fn on_landed(&mut self, l: Landed) {
        let dead =
            crate::model::layout::dead_letter_prefix(&self.settings.prefix, &self.settings.topic);
        if self.table.is_some() && !l.key.starts_with(&dead) {
            return self.on_data_file(l);
        }
        self.tracker().durable(l.partition, l.first_offset);
        let position = self.next_offset.get(&l.partition).copied().unwrap_or(0);
        let next = self.tracker().advance(l.partition, position);
        if let Some(next) = next {
            let _ = self
                .commit_tx
                .send(CommitMsg::Offset(l.partition, next, l.durable_ns));
        }
        if l.key.starts_with(&dead) {
            self.counters
                .dead_letter_objects
                .fetch_add(1, Ordering::Relaxed);
            self.report.dead_letters.push(l);
        } else {
            self.counters.landed.fetch_add(l.records, Ordering::Relaxed);
            self.counters.objects.fetch_add(1, Ordering::Relaxed);
            self.counters
                .bytes_landed
                .fetch_add(l.bytes, Ordering::Relaxed);
            self.report.landed.push(l);
        }
    }

    /// Once everything is durable: commits each partition up to where the sink read, so records
    /// set aside after the last object (not ticks) are not read again by the next run.
    fn final_commits(&mut self) {
        let now = now_ns();
        let positions: Vec<(i32, i64)> = self.next_offset.iter().map(|(p, o)| (*p, *o)).collect();
        for (p, position) in positions {
            let next = self.tracker().advance(p, position);
            if let Some(next) = next {
                let _ = self.commit_tx.send(CommitMsg::Offset(p, next, now));
            }
        }
    }

    /// True when every partition's position has reached its drain target, and every partition
    /// read again after a rewind is back where it was (an empty target, "land what is held",
    /// would otherwise stop the sink before it read again what the rewind dropped).
    fn reached(&self, target: &BTreeMap<i32, i64>) -> bool {
        let position = |p: &i32| self.next_offset.get(p).copied().unwrap_or(0);
        self.replay.iter().all(|(p, r)| r.caught_up(position(p)))
            && target.iter().all(|(p, hw)| {
                let start = self.settings.start_offsets.get(p).copied().unwrap_or(0);
                *hw <= start || self.next_offset.get(p).is_some_and(|n| n >= hw)
            })
    }
}
