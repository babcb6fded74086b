//! Stage recorders: one HdrHistogram per stage for the measured window, one for the warm-up, and a
//! per-second interval histogram that is compressed and spooled to a temporary file as soon as its
//! second is over, so memory stays flat however long the run.

use std::io::Cursor;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, UNIX_EPOCH};

use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::Serialize;

mod count;
pub mod exposition;
mod spool;
pub use count::Count;
use spool::Spool;

/// Significant figures kept by every histogram (DESIGN.md: 3).
const SIGFIG: u8 = 3;

/// Nanoseconds since the Unix epoch, from the wall clock (the clock the schedule and every stamp
/// are in; ages and deadlines use `clock::mono_ns`).
#[inline]
pub fn now_ns() -> u64 {
    crate::clock::wall_ns()
}

/// A latency in whole microseconds between two ns stamps; negative differences (clock steps)
/// record as 0 rather than wrapping.
#[inline]
pub fn us_between(from_ns: u64, to_ns: u64) -> u64 {
    to_ns.saturating_sub(from_ns) / 1_000
}

/// Live counts shared by the producer, the sink and the progress line.
#[derive(Debug, Default)]
pub struct Counters {
    pub produced: AtomicU64,
    pub acked: AtomicU64,
    pub delivery_failed: AtomicU64,
    pub consumed: AtomicU64,
    pub landed: AtomicU64,
    pub objects: AtomicU64,
    /// Partitions the sink holds now (assigned and not revoked).
    pub partitions_held: std::sync::atomic::AtomicI64,
    /// Bytes of the objects landed.
    pub bytes_landed: AtomicU64,
    /// Objects of records set aside (the dead-letter prefix).
    pub dead_letter_objects: AtomicU64,
    /// Partitions the sink read again from their last commit.
    pub rewinds: AtomicU64,
    /// The sink's S3 requests, by kind.
    pub requests: std::sync::Arc<RequestCounts>,
    /// Records in the partitions the sink holds that it has not received yet, sampled about once
    /// a second from the brokers' end offsets (see `sink::lag`).
    pub sink_lag: Sampled,
}

/// A gauge that is unknown until first set (stored plus one: 0 means not set yet).
#[derive(Debug, Default)]
pub struct Sampled(AtomicU64);

impl Sampled {
    pub fn set(&self, v: u64) {
        self.0.store(v.saturating_add(1), Ordering::Relaxed);
    }

    pub fn get(&self) -> Option<u64> {
        self.0.load(Ordering::Relaxed).checked_sub(1)
    }
}

/// S3 request counts, for the summary and the cost estimate.
#[derive(Debug, Default)]
pub struct RequestCounts {
    pub put_object: AtomicU64,
    pub create_multipart: AtomicU64,
    pub upload_part: AtomicU64,
    pub complete_multipart: AtomicU64,
    pub abort_multipart: AtomicU64,
    /// Requests sent again after the SDK's own retries gave up (see `sink.upload_retry_for`).
    pub retried: AtomicU64,
    /// Conditional writes refused because the key already held an object.
    pub precondition_failed: AtomicU64,
    /// Tick objects not written because the group's generation check refused them.
    pub fence_refused: AtomicU64,
}

/// Every stage tickbench times, in pipeline order; in JSON (the keys of `summary.json`'s
/// `stages`), its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    /// t_send - t_sched: how late the producer call was against the schedule.
    ScheduleLag,
    /// t_ack - t_sched: delivery report against intended send time (free of coordinated omission).
    Produce,
    /// t_ack - t_send: delivery report against the actual producer call (raw, hides backlog).
    ProduceRaw,
    /// t_recv - t_sched: the sink consumer received the record.
    KafkaE2e,
    /// t_durable - t_sched: the object holding the record is durable in S3.
    PipelineE2e,
    /// Time from a batch's first record to its close.
    BatchFill,
    /// One UploadPart or PutObject request.
    PartUpload,
    /// One CompleteMultipartUpload request.
    Complete,
    /// t_commit - t_durable: offset commit after the object became durable.
    Commit,
    /// Size of each landed object, in bytes.
    ObjectSize,
    /// t_visible - t_sched: the table snapshot holding the record is committed (Iceberg).
    Visible,
    /// One table commit (a snapshot appended through the catalog), conflicts redone included.
    TableCommit,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

impl Serialize for Stage {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Stage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Stage, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Stage::from_name(&name).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "`{name}` is not a stage; stages: {}",
                Stage::ALL.map(|s| s.name()).join(", ")
            ))
        })
    }
}

impl schemars::JsonSchema for Stage {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Stage".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        // A stage's name, as a string (the schema keeps stages open to new ones).
        schemars::json_schema!({ "type": "string" })
    }
}

impl Stage {
    /// Stages reported as latencies in `stages` (object size goes to `objects`).
    pub fn latencies() -> impl Iterator<Item = Stage> {
        Stage::ALL.into_iter().filter(|s| *s != Stage::ObjectSize)
    }

    pub fn from_name(name: &str) -> Option<Stage> {
        Stage::ALL.into_iter().find(|s| s.name() == name)
    }

    pub const ALL: [Stage; 12] = [
        Stage::ScheduleLag,
        Stage::Produce,
        Stage::ProduceRaw,
        Stage::KafkaE2e,
        Stage::PipelineE2e,
        Stage::BatchFill,
        Stage::PartUpload,
        Stage::Complete,
        Stage::Commit,
        Stage::ObjectSize,
        Stage::Visible,
        Stage::TableCommit,
    ];

    /// Measured by the sink (a sink process records these; the producer the other three).
    pub fn sink_side(self) -> bool {
        !matches!(
            self,
            Stage::ScheduleLag | Stage::Produce | Stage::ProduceRaw
        )
    }

    /// Name in summary.json and of the `histograms/<name>.hlog` file.
    pub fn name(self) -> &'static str {
        match self {
            Stage::ScheduleLag => "schedule_lag",
            Stage::Produce => "produce",
            Stage::ProduceRaw => "produce_raw",
            Stage::KafkaE2e => "kafka_e2e",
            Stage::PipelineE2e => "pipeline_e2e",
            Stage::BatchFill => "batch_fill",
            Stage::PartUpload => "part_upload",
            Stage::Complete => "complete",
            Stage::Commit => "commit",
            Stage::ObjectSize => "object_size",
            Stage::Visible => "visible",
            Stage::TableCommit => "table_commit",
        }
    }

    /// Unit of the recorded values.
    pub fn unit(self) -> &'static str {
        match self {
            Stage::ObjectSize => "bytes",
            _ => "us",
        }
    }
}

struct StageHistograms {
    measured: Histogram<u64>,
    warmup: Histogram<u64>,
    interval: Histogram<u64>,
    /// Second (since run start) the open interval covers.
    interval_sec: u64,
    /// Closed intervals: (second since run start, V2-deflate encoded histogram).
    closed: Spool,
    /// Percentiles of the last closed interval, for a live scrape.
    last: Option<Percentiles>,
}

/// Records into an auto-resizing histogram. (`saturating_record` would clamp to the current
/// highest trackable value instead of growing.)
#[inline]
fn record_into(h: &mut Histogram<u64>, value: u64, n: u64) {
    if h.record_n(value, n).is_err() {
        h.saturating_record_n(value, n);
    }
}

fn new_hist() -> Histogram<u64> {
    Histogram::new(SIGFIG).expect("3 significant figures is valid")
}

/// Writes one interval (start since the run's start, length, histogram) into a log.
type Put<'a> = dyn FnMut(Duration, Duration, &Histogram<u64>) -> std::io::Result<()> + 'a;

/// Records one stage. Cheap enough for every tick: one uncontended lock and one array increment.
pub struct StageRecorder {
    stage: Stage,
    state: Mutex<StageHistograms>,
}

/// Percentiles of one histogram, in the stage's unit.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        let q = |p: f64| h.value_at_quantile(p);
        Percentiles {
            count: h.len(),
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p999: q(0.999),
            max: h.max(),
            mean: if h.is_empty() { 0.0 } else { h.mean() },
        }
    }
}

impl StageRecorder {
    pub fn new(stage: Stage) -> StageRecorder {
        StageRecorder {
            stage,
            state: Mutex::new(StageHistograms {
                measured: new_hist(),
                warmup: new_hist(),
                interval: new_hist(),
                interval_sec: 0,
                closed: Spool::default(),
                last: None,
            }),
        }
    }

    pub fn stage(&self) -> Stage {
        self.stage
    }

    /// Records `value` observed in second `sec` of the run; warm-up values are kept apart.
    pub fn record(&self, value: u64, warmup: bool, sec: u64) {
        self.record_n(value, 1, warmup, sec)
    }

    /// Records `value` `n` times.
    pub fn record_n(&self, value: u64, n: u64, warmup: bool, sec: u64) {
        let mut st = self.state.lock().expect("recorder lock");
        if warmup {
            record_into(&mut st.warmup, value, n);
            return;
        }
        if sec > st.interval_sec {
            Self::close_interval(self.stage, &mut st);
            st.interval_sec = sec;
        }
        record_into(&mut st.measured, value, n);
        record_into(&mut st.interval, value, n);
    }

    /// Adds a whole histogram observed in second `sec` (see [`LocalStage`]).
    pub fn absorb(&self, h: &Histogram<u64>, warmup: bool, sec: u64) {
        if h.is_empty() {
            return;
        }
        let mut st = self.state.lock().expect("recorder lock");
        if warmup {
            let _ = st.warmup.add(h);
            return;
        }
        if sec > st.interval_sec {
            Self::close_interval(self.stage, &mut st);
            st.interval_sec = sec;
        }
        let _ = st.measured.add(h);
        let _ = st.interval.add(h);
    }

    fn close_interval(stage: Stage, st: &mut StageHistograms) {
        if st.interval.is_empty() {
            return;
        }
        st.last = Some(Percentiles::of(&st.interval));
        let mut buf = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&st.interval, &mut buf)
            .expect("serializing to memory cannot fail");
        let sec = st.interval_sec;
        if let Err(e) = st.closed.push(sec, &buf) {
            // The summary's histograms hold it still; only the log's one-second view loses it.
            tracing::warn!(
                "second {sec} of stage {} left out of its interval log: {e}",
                stage.name()
            );
        }
        st.interval.reset();
    }

    /// A copy of the measured-window histogram so far.
    pub fn measured(&self) -> Histogram<u64> {
        self.state.lock().expect("recorder lock").measured.clone()
    }

    /// A copy of the warm-up histogram.
    pub fn warmup(&self) -> Histogram<u64> {
        self.state.lock().expect("recorder lock").warmup.clone()
    }

    /// Values recorded in the measured window so far.
    pub fn measured_count(&self) -> u64 {
        self.state.lock().expect("recorder lock").measured.len()
    }

    /// Percentiles of the last whole second (the open one until a second has closed), for a
    /// live scrape.
    pub fn last_interval(&self) -> Percentiles {
        let st = self.state.lock().expect("recorder lock");
        st.last
            .clone()
            .unwrap_or_else(|| Percentiles::of(&st.interval))
    }

    /// Percentiles of the current (open) one-second interval, for the progress line.
    pub fn current_interval(&self) -> Percentiles {
        Percentiles::of(&self.state.lock().expect("recorder lock").interval)
    }

    /// Writes the measured window as an HdrHistogram interval log (one interval a second, values
    /// in the stage's unit) readable by HdrHistogram's own tools.
    pub fn write_interval_log(&self, path: &Path, run_start_ns: u64) -> std::io::Result<()> {
        let mut st = self.state.lock().expect("recorder lock");
        Self::close_interval(self.stage, &mut st);
        let mut de = Deserializer::new();
        // One interval in memory at a time, read back from the spool.
        self.write_log(path, run_start_ns, "measured window only", |put| {
            st.closed.for_each(|sec, bytes| {
                let h: Histogram<u64> = de
                    .deserialize(&mut Cursor::new(bytes))
                    .map_err(|e| std::io::Error::other(format!("{e:?}")))?;
                put(Duration::from_secs(sec), Duration::from_secs(1), &h)
            })
        })
    }

    /// Writes the warm-up histogram as a one-interval log.
    pub fn write_warmup_log(
        &self,
        path: &Path,
        run_start_ns: u64,
        warmup: Duration,
    ) -> std::io::Result<()> {
        let h = self.warmup();
        self.write_log(path, run_start_ns, "warm-up only", |put| {
            if h.is_empty() {
                Ok(())
            } else {
                put(Duration::ZERO, warmup, &h)
            }
        })
    }

    /// One interval log: StartTime and BaseTime at the run's start, then (start, length, histogram)
    /// per interval as `fill` puts them, V2-deflate encoded as HdrHistogram's Java tools write them.
    fn write_log(
        &self,
        path: &Path,
        run_start_ns: u64,
        what: &str,
        fill: impl FnOnce(&mut Put<'_>) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        let start = UNIX_EPOCH + Duration::from_nanos(run_start_ns);
        let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
        let mut ser = V2DeflateSerializer::new();
        let mut log = IntervalLogWriterBuilder::new()
            .add_comment(&format!(
                "tickbench stage {} ({}), {what}",
                self.stage.name(),
                self.stage.unit()
            ))
            .with_start_time(start)
            .with_base_time(start)
            .begin_log_with(&mut file, &mut ser)
            .map_err(std::io::Error::other)?;
        let tag = Tag::new(self.stage.name());
        fill(&mut |at, len, h| {
            log.write_histogram(h, at, len, tag)
                .map_err(|e| std::io::Error::other(e.to_string()))
        })?;
        drop(log);
        std::io::Write::flush(&mut file)
    }
}

/// A thread's own accumulator for one stage, handed to the shared recorder once a second: the
/// producer's hot paths record millions of values a second, and a shared lock for each would cost
/// more than the measurement is worth.
pub struct LocalStage {
    stage: Stage,
    sec: u64,
    measured: Histogram<u64>,
    warmup: Histogram<u64>,
}

impl LocalStage {
    pub fn new(stage: Stage) -> LocalStage {
        LocalStage {
            stage,
            sec: 0,
            measured: new_hist(),
            warmup: new_hist(),
        }
    }

    /// Records a per-tick latency (warm-up by intended send time), flushing the previous second.
    #[inline]
    pub fn tick_value(&mut self, rec: &Recorders, value: u64, t_sched_ns: u64, t_ns: u64) {
        let sec = rec.sec(t_ns);
        if sec != self.sec {
            self.flush(rec);
            self.sec = sec;
        }
        if t_sched_ns < rec.measure_start_ns() {
            record_into(&mut self.warmup, value, 1);
        } else {
            record_into(&mut self.measured, value, 1);
        }
    }

    /// Hands what was recorded to the shared recorder.
    pub fn flush(&mut self, rec: &Recorders) {
        let r = rec.get(self.stage);
        // Resetting zeroes every bucket: skipped for the (often) empty one.
        for (h, warmup) in [(&mut self.measured, false), (&mut self.warmup, true)] {
            if !h.is_empty() {
                r.absorb(h, warmup, self.sec);
                h.reset();
            }
        }
    }
}

/// The recorders of one run, shared by the producer, the sink and the reporter.
pub struct Recorders {
    stages: Vec<StageRecorder>,
    /// Start of the load (intended send time of the first tick); interval seconds count from it.
    run_start_ns: AtomicU64,
    /// Ticks intended before this time are warm-up.
    measure_start_ns: AtomicU64,
}

impl Recorders {
    pub fn new(run_start_ns: u64, measure_start_ns: u64) -> Recorders {
        Recorders {
            stages: Stage::ALL.iter().map(|s| StageRecorder::new(*s)).collect(),
            run_start_ns: AtomicU64::new(run_start_ns),
            measure_start_ns: AtomicU64::new(measure_start_ns),
        }
    }

    /// Recorders for a run whose start is fixed later (the sink records nothing before the load).
    pub fn unanchored() -> Recorders {
        Recorders::new(0, u64::MAX)
    }

    /// Fixes the start of the load and of the measured window.
    pub fn anchor(&self, run_start_ns: u64, measure_start_ns: u64) {
        self.run_start_ns.store(run_start_ns, Ordering::Relaxed);
        self.measure_start_ns
            .store(measure_start_ns, Ordering::Relaxed);
    }

    pub fn run_start_ns(&self) -> u64 {
        self.run_start_ns.load(Ordering::Relaxed)
    }

    pub fn measure_start_ns(&self) -> u64 {
        self.measure_start_ns.load(Ordering::Relaxed)
    }

    /// Second of the run `t_ns` falls in.
    #[inline]
    pub fn sec(&self, t_ns: u64) -> u64 {
        t_ns.saturating_sub(self.run_start_ns()) / 1_000_000_000
    }

    /// Records a raw per-tick value (t_ack - t_send): warm-up by intended send time.
    #[inline]
    pub fn tick_value(&self, stage: Stage, value: u64, t_sched_ns: u64, t_ns: u64) {
        self.get(stage)
            .record(value, t_sched_ns < self.measure_start_ns(), self.sec(t_ns))
    }

    pub fn get(&self, stage: Stage) -> &StageRecorder {
        &self.stages[Stage::ALL
            .iter()
            .position(|s| *s == stage)
            .expect("every stage has a recorder")]
    }

    pub fn all(&self) -> &[StageRecorder] {
        &self.stages
    }

    /// Records a per-tick latency: warm-up is decided by the tick's intended send time.
    #[inline]
    pub fn tick_latency(&self, stage: Stage, t_sched_ns: u64, t_ns: u64) {
        self.tick_value(stage, us_between(t_sched_ns, t_ns), t_sched_ns, t_ns)
    }

    /// Records a per-event value (part upload, object size): warm-up is decided by when it happened.
    #[inline]
    pub fn event(&self, stage: Stage, value: u64, now_ns: u64) {
        self.get(stage)
            .record(value, now_ns < self.measure_start_ns(), self.sec(now_ns))
    }

    /// Writes `histograms/<stage>.hlog` and `histograms/warmup/<stage>.hlog`.
    pub fn write_logs(&self, dir: &Path, warmup: Duration) -> std::io::Result<()> {
        std::fs::create_dir_all(dir.join("warmup"))?;
        let start = self.run_start_ns();
        for r in &self.stages {
            r.write_interval_log(&dir.join(format!("{}.hlog", r.stage.name())), start)?;
            r.write_warmup_log(
                &dir.join("warmup").join(format!("{}.hlog", r.stage.name())),
                start,
                warmup,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    #[test]
    fn large_values_are_kept_not_clamped() {
        let rec = Recorders::new(0, 0);
        rec.event(Stage::PipelineE2e, 5_000_000, 1);
        rec.event(Stage::ObjectSize, 64 << 20, 1);
        let e2e = Percentiles::of(&rec.get(Stage::PipelineE2e).measured());
        assert!((4_995_000..=5_005_000).contains(&e2e.max), "{e2e:?}");
        let size = Percentiles::of(&rec.get(Stage::ObjectSize).measured());
        assert!(size.max.abs_diff(64 << 20) < (64 << 20) / 1000, "{size:?}");
    }

    #[test]
    fn warmup_is_kept_apart_and_intervals_round_trip_through_the_log() {
        let start = 1_000_000_000_000;
        let rec = Recorders::new(start, start + 2_000_000_000);
        // Warm-up tick: intended at start, measured ones after the 2 s warm-up.
        rec.tick_latency(Stage::Produce, start, start + 5_000_000);
        for i in 0..1000u64 {
            let sched = start + 2_000_000_000 + i * 3_000_000; // spread over 3 seconds
            rec.tick_latency(Stage::Produce, sched, sched + (i + 1) * 1_000);
        }
        let r = rec.get(Stage::Produce);
        assert_eq!(r.warmup().len(), 1);
        assert_eq!(r.measured().len(), 1000);
        let p = Percentiles::of(&r.measured());
        assert!((495..=505).contains(&p.p50), "{p:?}");
        assert!((995..=1001).contains(&p.max), "{p:?}");

        let dir = tempfile::tempdir().unwrap();
        rec.write_logs(dir.path(), Duration::from_secs(2)).unwrap();
        let bytes = std::fs::read(dir.path().join("produce.hlog")).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("#[StartTime: "), "{text}");
        let mut total = 0;
        let mut intervals = 0;
        let mut de = Deserializer::new();
        for entry in IntervalLogIterator::new(&bytes) {
            if let LogEntry::Interval(ilh) = entry.unwrap() {
                use base64::Engine as _;
                let raw = base64::engine::general_purpose::STANDARD
                    .decode(ilh.encoded_histogram())
                    .unwrap();
                let h: Histogram<u64> = de.deserialize(&mut Cursor::new(raw)).unwrap();
                total += h.len();
                intervals += 1;
                assert_eq!(ilh.tag().unwrap().as_str(), "produce");
            }
        }
        assert_eq!(total, 1000);
        assert!((3..=4).contains(&intervals), "{intervals}");
    }
}
