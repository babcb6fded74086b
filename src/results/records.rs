//! What the parts of a run record in its folder: the objects landed, the commits made, the
//! deliveries that failed, what a producer sent and what a sink did, and what the audit expects.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::summary::{Objects, Requests, Resources, StageSummary};
use crate::metrics::Stage;

/// One object that is durable, as recorded in the run's `objects.jsonl`.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Landed {
    pub key: String,
    pub partition: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    pub records: u64,
    pub bytes: u64,
    /// Parts of the multipart upload; 0 for a PutObject.
    pub parts: u32,
    pub close_reason: CloseReason,
    /// t_durable, ns since the Unix epoch.
    pub durable_ns: u64,
    /// t_visible: when the table snapshot listing this data file was committed (Iceberg only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visible_ns: Option<u64>,
    /// Intended send times of its ticks, held from durable to visible (table mode only).
    #[serde(skip)]
    pub sched_ns: Vec<u64>,
}

/// Why a batch closed; counted in the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    Records,
    Bytes,
    Age,
    Idle,
    Rotate,
    TimePartition,
    Drain,
    /// Read again after a rewind: closed where the batch that failed had closed, or where an
    /// object that is already durable begins.
    Rewind,
    /// Written by a sink tickbench watched (`[observe]`): why it closed is that sink's business.
    Observed,
}

impl CloseReason {
    pub fn name(self) -> &'static str {
        match self {
            CloseReason::Records => "records",
            CloseReason::Bytes => "bytes",
            CloseReason::Age => "age",
            CloseReason::Idle => "idle",
            CloseReason::Rotate => "rotate",
            CloseReason::TimePartition => "time_partition",
            CloseReason::Drain => "drain",
            CloseReason::Rewind => "rewind",
            CloseReason::Observed => "observed",
        }
    }
}

/// Why a sink process stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StopReason {
    /// No record arrived for `--until-idle`.
    Idle,
    /// SIGTERM or Ctrl-C.
    Signal,
    /// The load ended and everything was landed (a `tickbench run`'s own sink).
    Drain,
    /// The sink failed (an upload or commit error, the drain timeout): `failure` says why.
    Failed,
}

impl StopReason {
    pub fn name(self) -> &'static str {
        match self {
            StopReason::Idle => "idle",
            StopReason::Failed => "failed",
            StopReason::Signal => "signal",
            StopReason::Drain => "drain",
        }
    }
}

/// One offset commit the broker accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CommitRecord {
    pub partition: i32,
    /// The next offset to read: every record before it is durable in S3.
    pub offset: i64,
    /// Wall clock (ns since the Unix epoch) when the commit was first sent: every object it
    /// relies on was durable before then.
    pub sent_ns: u64,
}

/// A tick whose delivery failed, with librdkafka's reason.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DeliveryFailed {
    pub symbol: String,
    pub seq: u64,
    pub error: String,
}

/// `produced.json`: what one producer sent, in the detail the integrity audit needs; `tickbench
/// merge` adds the workers' together and audits the union against what the sinks landed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Produced {
    /// Worker I of N, counting from 0 here (`worker + 1` is the I of `--worker I/N`).
    pub worker: u32,
    pub workers: u32,
    pub topic: String,
    /// The load's start, ns since the Unix epoch: interval logs and warm-up count from it.
    pub start_ns: u64,
    /// Intended send times of the load's first and last tick (the whole load's, every worker's).
    pub schedule_ns: (u64, u64),
    pub warmup_s: f64,
    pub measured_s: f64,
    /// Ticker of each symbol index (the whole universe).
    pub tickers: Vec<String>,
    /// Ticks generated per symbol index: seq 0..n (0 for the symbols of other workers).
    pub per_symbol: Vec<u64>,
    pub failed: Vec<DeliveryFailed>,
    pub not_sent: u64,
    /// Per partition, the high watermark before the load started.
    pub start_offsets: BTreeMap<i32, i64>,
    /// Per partition, the high watermark after this producer flushed.
    pub end_offsets: BTreeMap<i32, i64>,
    /// Per partition, the lowest and highest offset the broker acknowledged to this producer.
    pub acked_offsets: BTreeMap<i32, (i64, i64)>,
    /// Per partition, acknowledgements received.
    pub acks: BTreeMap<i32, u64>,
    pub acks_without_offset: u64,
    /// Messages librdkafka sent more than once, from its statistics (a lower bound).
    #[serde(default)]
    pub resent: u64,
}

impl Produced {
    /// Adds another worker's share of the same load: counts summed, offsets widened, the
    /// schedule the union of both.
    pub fn merge(&mut self, o: &Produced) {
        for (a, b) in self.per_symbol.iter_mut().zip(&o.per_symbol) {
            *a += b;
        }
        self.failed.extend(o.failed.iter().cloned());
        self.not_sent += o.not_sent;
        self.acks_without_offset += o.acks_without_offset;
        self.resent += o.resent;
        self.start_ns = self.start_ns.min(o.start_ns);
        self.schedule_ns = (
            self.schedule_ns.0.min(o.schedule_ns.0),
            self.schedule_ns.1.max(o.schedule_ns.1),
        );
        for (p, v) in &o.start_offsets {
            let e = self.start_offsets.entry(*p).or_insert(*v);
            *e = (*e).min(*v);
        }
        for (p, v) in &o.end_offsets {
            let e = self.end_offsets.entry(*p).or_insert(*v);
            *e = (*e).max(*v);
        }
        for (p, (first, last)) in &o.acked_offsets {
            let e = self.acked_offsets.entry(*p).or_insert((*first, *last));
            *e = (e.0.min(*first), e.1.max(*last));
        }
        for (p, n) in &o.acks {
            *self.acks.entry(*p).or_default() += n;
        }
    }
}

/// `produce.json`.
#[derive(Debug, Clone, Serialize)]
pub struct ProduceSummary {
    pub run_id: String,
    pub scenario: String,
    pub brokers: String,
    pub topic: String,
    /// This worker as I/N (1/1 when alone).
    pub worker: String,
    /// The load's start (intended send time of its first tick), RFC 3339.
    pub start_at: String,
    pub producer_threads: u32,
    pub produced: u64,
    pub acked: u64,
    pub delivery_failed: u64,
    /// Ticks of this worker's share the schedule held but were never sent (the run was stopped).
    pub not_sent: u64,
    /// Times a producer found librdkafka's local queue full and waited.
    pub queue_full_waits: u64,
    /// The schedule's rate for this worker's share: produced ticks over the load's length.
    pub scheduled_per_s: f64,
    /// What was achieved: acknowledged ticks over the time from the first intended send to the
    /// last delivery report (flush included).
    pub achieved_per_s: f64,
    pub elapsed_s: f64,
    /// Mean payload size (the tick's JSON), bytes.
    pub payload_bytes_mean: f64,
    /// schedule_lag, produce, produce_raw; measured window only.
    pub stages: BTreeMap<Stage, StageSummary>,
}

/// The sink's own counts (`summary.json` of a sink's results folder).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SinkCounts {
    /// Records received from Kafka, re-reads after rewinds included.
    pub consumed: u64,
    /// Ticks in the objects this sink made durable.
    pub landed: u64,
    /// Records that were not ticks, set aside to the dead-letter prefix.
    pub malformed: u64,
    pub dead_lettered: u64,
    pub offset_gaps: u64,
    pub consumer_errors: u64,
    /// Records below the load's first offsets, skipped (older folders have none).
    #[serde(default)]
    pub skipped_preexisting: u64,
    pub rewinds: u64,
    pub reread: u64,
    /// Partitions the group gave this sink and took back.
    pub assigned: u64,
    pub revoked: u64,
    /// Revoked partitions given up with durable records the group would not let this sink
    /// commit while it rebalanced; the next owner reads them again (and writes the same keys).
    pub released_uncommitted: u64,
    /// Multipart uploads a killed earlier sink of this instance left open, aborted at start.
    pub orphaned_uploads_aborted: u64,
    /// Partitions this sink found it had lost while writing them (a conditional write or the
    /// generation check refused, and the group's assignment lost: it had been paused past its
    /// session timeout, a zombie);
    /// it dropped their batches and committed nothing more of them.
    #[serde(default)]
    pub fenced: u64,
    /// Whether this sink wrote tick objects with `If-None-Match: *` (`s3.conditional_writes`).
    #[serde(default)]
    pub conditional_writes: bool,
    /// Times the sink saw the wall clock step (more than 100 ms apart from the monotonic clock
    /// between two of its 20 ms ticks), and the largest step in ms, signed (negative: back).
    /// Latencies across a step are off by as much; batch ages, timeouts and deadlines are not.
    #[serde(default)]
    pub wall_clock_steps: u64,
    #[serde(default)]
    pub largest_wall_clock_step_ms: i64,
    /// Dead letters whose payload was cut to `sink.dead_letter_max_record` (each line gives the
    /// full size), and dead-letter batches sent early to keep within `sink.dead_letter_max_bytes`.
    #[serde(default)]
    pub dead_letters_truncated: u64,
    #[serde(default)]
    pub dead_letter_cap_closes: u64,
}

/// `summary.json` of `tickbench sink`. It has no audit: a sink does not know what was produced;
/// `tickbench run` (or a merge of producer and sink folders) checks the counts end to end.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SinkSummary {
    pub tickbench_version: String,
    pub run_id: String,
    pub scenario: String,
    pub instance: String,
    pub group_id: String,
    pub topic: String,
    /// Why the sink stopped.
    pub stopped_by: StopReason,
    pub elapsed_s: f64,
    /// Landed ticks over the time from the first record received to the last object durable.
    pub landed_per_s: f64,
    pub counts: SinkCounts,
    pub objects: Objects,
    pub requests: Requests,
    /// Stages the sink observes (kafka_e2e, pipeline_e2e, upload, commit...), whole run.
    pub stages: BTreeMap<Stage, StageSummary>,
    /// Per partition, the offset this sink last committed (the next to read).
    pub committed_offsets: BTreeMap<i32, i64>,
    /// Per partition, the next offset this sink would have read when it stopped.
    #[serde(default)]
    pub positions: BTreeMap<i32, i64>,
    /// Per partition, records this sink set aside as not ticks.
    #[serde(default)]
    pub set_aside: BTreeMap<i32, u64>,
    /// What the sink's time-keeping counted from (see `--start-at`), RFC 3339.
    #[serde(default)]
    pub start_at: Option<String>,
    /// Memory and CPU of this sink process (the producer-thread figures are left empty).
    #[serde(default)]
    pub resources: Resources,
    /// Why the sink stopped early (`stopped_by: failed`): what it had landed and committed by
    /// then is in this folder all the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Set when this part is an external sink watched from outside (`tickbench observe`): how,
    /// and how far to trust its durable times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<super::summary::Observed>,
    /// With `sink.format = "iceberg"`: this sink's commits to the table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<super::summary::TableSummary>,
}

/// What a run expected, saved as `expected.json` in its results folder so `tickbench verify`
/// can audit the objects again later (or after something touched them).
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Expectations {
    pub tickers: Vec<String>,
    pub per_symbol: Vec<u64>,
    pub failed: Vec<DeliveryFailed>,
    pub landed: Vec<Landed>,
    pub dead_letters: Vec<Landed>,
    pub start_offsets: BTreeMap<i32, i64>,
    pub committed: BTreeMap<i32, i64>,
    pub set_aside: BTreeMap<i32, u64>,
    pub positions: BTreeMap<i32, i64>,
    pub schedule_ns: (u64, u64),
    /// Table mode: the table's last sequence number when the first sink opened it (data files
    /// rewritten after it, by compaction, hold this run's ticks too). None: not a table, or a
    /// folder from before it was recorded (then every rewritten file is read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_opened_at_sequence: Option<i64>,
    /// Where the objects are.
    pub bucket: String,
    pub prefix: String,
    pub topic: String,
}

/// One line of a dead-letter object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub partition: i32,
    pub offset: i64,
    /// Why it is not a tick.
    pub error: String,
    /// The record's value as text, when it is UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// The record's value, base64, when it is not UTF-8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_base64: Option<String>,
    /// When the value was longer than `sink.dead_letter_max_record`: its full size in bytes (the
    /// line holds its first `dead_letter_max_record` bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_bytes: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker(i: u32, per_symbol: Vec<u64>, start: i64, acked: (i64, i64)) -> Produced {
        Produced {
            worker: i,
            workers: 2,
            topic: "t".into(),
            start_ns: 1_000 + i as u64,
            schedule_ns: (1_000 + i as u64, 2_000 - i as u64),
            warmup_s: 0.0,
            measured_s: 1.0,
            tickers: vec!["A".into(), "B".into()],
            per_symbol,
            failed: vec![],
            not_sent: 1,
            start_offsets: BTreeMap::from([(0, start)]),
            end_offsets: BTreeMap::from([(0, acked.1 + 1)]),
            acked_offsets: BTreeMap::from([(0, acked)]),
            acks: BTreeMap::from([(0, (acked.1 - acked.0 + 1) as u64)]),
            acks_without_offset: 0,
            resent: 2,
        }
    }

    #[test]
    fn two_workers_merge_into_one_load() {
        let mut a = worker(0, vec![5, 0], 10, (10, 14));
        a.merge(&worker(1, vec![0, 7], 12, (15, 21)));
        assert_eq!(a.per_symbol, vec![5, 7]);
        assert_eq!(a.not_sent, 2);
        assert_eq!((a.start_ns, a.schedule_ns), (1_000, (1_000, 2_000)));
        assert_eq!(a.start_offsets[&0], 10, "the lowest start");
        assert_eq!(a.end_offsets[&0], 22, "the highest end");
        assert_eq!(a.acked_offsets[&0], (10, 21));
        assert_eq!(a.acks[&0], 12);
        assert_eq!(a.resent, 4, "the resent of both");
    }
}
