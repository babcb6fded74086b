//! `summary.json`: the figures of a run, a producer or a sink folder. Names carry their units.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::metrics::{Count, Percentiles, Stage};

/// `summary.json`. Names carry their units.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Summary {
    pub tickbench_version: String,
    pub run_id: String,
    pub scenario: String,
    /// True when the audit found nothing lost, duplicated or out of place.
    pub passed: bool,
    /// True when Ctrl-C stopped the load before its end (counts.not_sent says how much was left).
    pub interrupted: bool,
    /// False when the system under test failed before the run could finish (a sink error, the
    /// drain timeout, a broker or S3 gone): what was done by then is still counted, audited and
    /// reported, the run fails, and `failure` says what stopped it.
    #[serde(default = "completed_by_default")]
    pub completed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    pub counts: Counts,
    pub throughput: Throughput,
    /// Latency stages, microseconds, measured window only.
    pub stages: BTreeMap<Stage, StageSummary>,
    pub objects: Objects,
    pub requests: Requests,
    /// Estimated S3 request cost, from the scenario's `[cost]` price table.
    pub cost: Cost,
    /// Memory and CPU the run used.
    pub resources: Resources,
    pub kafka: KafkaSummary,
    pub window: Window,
    /// Problems the audit found, one line each (empty when passed).
    pub problems: Vec<String>,
    /// Broker or service behaviour worth knowing that did not (by itself) lose or repeat data.
    pub warnings: Vec<String>,
    /// Up to 20 lost ticks, `SYMBOL#seq`.
    pub lost_sample: Vec<String>,
    /// The scenario's thresholds and how the run fared against each.
    #[serde(default)]
    pub thresholds: Vec<Verdict>,
    /// When the sink was someone else's (`[observe]`): how it was watched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<Observed>,
    /// With `sink.format = "iceberg"`: the table, and how the sinks committed to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<TableSummary>,
}

/// PUT-class requests the run is billed for: the sink's (`requests`) and, into a table, the
/// table's own files'. What `cost` prices; the one place that adds them.
pub fn billed_puts(requests: &Requests, table: Option<&TableSummary>) -> u64 {
    requests.put_class() + table.map_or(0, |t| t.metadata_puts)
}

impl Summary {
    /// [`billed_puts`] of this run.
    pub fn put_requests(&self) -> u64 {
        billed_puts(&self.requests, self.table.as_ref())
    }
}

/// How the sinks committed to an Iceberg table.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct TableSummary {
    /// `namespace.table` in its catalog.
    pub table: String,
    /// Snapshots committed (each appends data files and records the Kafka offsets it covers).
    pub snapshots: u64,
    /// Commits the catalog refused because another writer committed first, redone on the newer
    /// table.
    pub conflicts: u64,
    /// Kafka partitions left out of a commit because another sink had committed them since this
    /// one last did (a zombie's, or its successor's): read again from the table's offsets.
    pub refused: u64,
    /// PutObject requests for the table's own files (each snapshot writes a manifest, a manifest
    /// list and a metadata file), beside the data files' in `requests`; priced with them in
    /// `cost`.
    #[serde(default)]
    pub metadata_puts: u64,
    /// GetObject and HeadObject requests for the table's files (loading the table before each
    /// commit, reading its manifests).
    #[serde(default)]
    pub metadata_gets: u64,
    /// The table's last sequence number when this sink opened it. Data files with a higher one
    /// were committed during the run: the audit reads the rewritten ones among them (compaction's)
    /// too, and leaves alone those rewritten before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opened_at_sequence: Option<i64>,
}

impl TableSummary {
    pub fn merge(&mut self, o: &TableSummary) {
        if self.table.is_empty() {
            self.table = o.table.clone();
        }
        self.snapshots += o.snapshots;
        self.conflicts += o.conflicts;
        self.refused += o.refused;
        self.metadata_puts += o.metadata_puts;
        self.metadata_gets += o.metadata_gets;
        self.opened_at_sequence = match (self.opened_at_sequence, o.opened_at_sequence) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// How an external sink was watched (`[observe]`), and how far to trust its durable times.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Observed {
    /// How durable times were taken: `list-poll` (the first ListObjectsV2 that shows an object)
    /// or `s3-events` (each object's eventTime, from S3 Event Notifications through SQS).
    pub method: String,
    /// The prefix watched, in the run's bucket.
    pub prefix: String,
    pub poll_interval_ms: f64,
    /// Polls slow down to this when objects arrive seldom.
    #[serde(default)]
    pub poll_interval_max_ms: f64,
    /// Each object's durable time (so each tick's pipeline_e2e) is late by at most this,
    /// measured: the longest span from the start of one listing to the end of the next.
    pub durable_bound_ms: f64,
    /// LIST requests (pages) over `listings` listings of the prefix.
    pub list_requests: u64,
    #[serde(default)]
    pub listings: u64,
    /// Of the listings, those that started after the older time directories (StartAfter); the
    /// rest listed the whole prefix.
    #[serde(default)]
    pub incremental_listings: u64,
    pub get_requests: u64,
    /// Keys under the prefix that did not match `observe.key_pattern`: not read.
    #[serde(default)]
    pub keys_left_out: u64,
    /// ReceiveMessage and DeleteMessageBatch requests (`s3-events`).
    #[serde(default)]
    pub sqs_requests: u64,
    /// Objects under the prefix before the run: not this run's, not read.
    pub preexisting_objects: u64,
    /// Objects that appeared but could not be read as ticks, with why.
    pub unreadable_objects: Vec<String>,
    /// Objects that were read but held no tick (another writer's files, markers, empty objects).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects_without_ticks: Vec<String>,
    /// Objects by what their content was: "json-lines", "json-concatenated", "avro+gzip"...
    #[serde(default)]
    pub objects_by_kind: BTreeMap<String, u64>,
    /// The keys' time layout, inferred from the objects' names: "dt=YYYY-MM-DD/hour=HH",
    /// "YYYY/MM/DD/HH" (Firehose's), ... or "none" when the names carry no time.
    #[serde(default)]
    pub key_layout: String,
    /// True when every acknowledged tick appeared before `observe.settle` ran out.
    pub settled: bool,
    /// The scenario's notes on the external sink's settings.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
    /// The external sink's consumer group and its lag (`observe.group_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<ObservedGroup>,
}

/// An observed sink's consumer group: its lag on the topic (the end offsets minus its commits,
/// over the partitions it has committed on), sampled about once a second while the run watched.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ObservedGroup {
    pub group_id: String,
    /// Samples the brokers answered.
    pub samples: u64,
    /// Samples they did not answer in time.
    pub failed_samples: u64,
    /// The largest lag sampled, records.
    pub lag_max: u64,
    /// The last lag sampled (when the watch ended), records.
    pub lag_last: Option<u64>,
}

/// Counts over the whole run (warm-up included): what proves nothing was lost.
#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Counts {
    /// Ticks handed to the Kafka producer.
    pub produced: u64,
    /// Ticks whose delivery report said success.
    pub acked: u64,
    /// Records the sink received in this run.
    pub consumed: u64,
    /// Acknowledged ticks read back from S3.
    pub landed: u64,
    /// Acknowledged ticks not in S3.
    pub lost: u64,
    /// Extra copies of ticks in S3.
    pub duplicated: u64,
    /// Of `duplicated`, copies of ticks the topic holds at two offsets, each landed once: the
    /// producer's retries written twice by the broker (a warning unless a threshold bounds it).
    /// Told apart only for tickbench's own sink, whose objects say which offsets they hold.
    #[serde(default)]
    pub duplicated_in_log: u64,
    /// Of `duplicated`, copies the sink landed twice from one offset (fails the run).
    #[serde(default)]
    pub duplicated_by_sink: u64,
    /// Ticks whose delivery failed (librdkafka gave up or refused them).
    pub delivery_failed: u64,
    /// Ticks in the schedule never sent because the run stopped early.
    pub not_sent: u64,
    /// Records on the topic that were not ticks.
    pub malformed: u64,
    /// Records read back from dead-letter objects (`<prefix>/_dead_letter/<topic>/`): every
    /// malformed record, with its partition, offset and the reason.
    pub dead_lettered: u64,
    /// Of those, records whose value was longer than `sink.dead_letter_max_record`: their dead
    /// letter holds its first bytes and its full size (`payload_bytes`).
    #[serde(default)]
    pub dead_letters_truncated: u64,
    /// Offsets the consumer never saw (dropped by broker retention before they were read).
    pub offset_gaps: u64,
    /// Errors the sink's consumer reported while polling (each retried by librdkafka).
    pub consumer_errors: u64,
    /// Records landed at this run's offsets that another run produced (a broker fault).
    pub foreign: u64,
    /// Records older than the run's start offsets that the sink read and passed over.
    pub skipped_preexisting: u64,
    /// Uploads that gave up after `sink.upload_retry_for`; each rewound its partition to its
    /// oldest batch not yet durable, which was read and uploaded again.
    #[serde(default)]
    pub rewinds: u64,
    /// Records read a second time after rewinds (counted in `consumed` too).
    #[serde(default)]
    pub reread: u64,
    /// Messages the producers sent more than once (retries after failed Produce requests: a
    /// broker under stress, a leader moving). A lower bound from librdkafka's statistics, taken
    /// every `statistics.interval.ms` (1 s unless set; 0 turns it off).
    #[serde(default)]
    pub produce_resent: u64,
}

impl Counts {
    /// Adds what a sink counted (the producer's counts and the audit's are set apart).
    pub fn add_sink(&mut self, c: &super::records::SinkCounts) {
        self.consumed += c.consumed;
        self.malformed += c.malformed;
        self.dead_letters_truncated += c.dead_letters_truncated;
        self.offset_gaps += c.offset_gaps;
        self.consumer_errors += c.consumer_errors;
        self.skipped_preexisting += c.skipped_preexisting;
        self.rewinds += c.rewinds;
        self.reread += c.reread;
    }

    /// The count by name (for thresholds).
    pub fn get(&self, c: Count) -> u64 {
        match c {
            Count::Produced => self.produced,
            Count::Acked => self.acked,
            Count::Consumed => self.consumed,
            Count::Landed => self.landed,
            Count::Lost => self.lost,
            Count::Duplicated => self.duplicated,
            Count::DuplicatedInLog => self.duplicated_in_log,
            Count::DuplicatedBySink => self.duplicated_by_sink,
            Count::DeliveryFailed => self.delivery_failed,
            Count::NotSent => self.not_sent,
            Count::Malformed => self.malformed,
            Count::DeadLettered => self.dead_lettered,
            Count::DeadLettersTruncated => self.dead_letters_truncated,
            Count::OffsetGaps => self.offset_gaps,
            Count::ConsumerErrors => self.consumer_errors,
            Count::Foreign => self.foreign,
            Count::SkippedPreexisting => self.skipped_preexisting,
            Count::Rewinds => self.rewinds,
            Count::Reread => self.reread,
            Count::ProduceResent => self.produce_resent,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Throughput {
    /// Produced ticks over the load's length (warm-up plus measured window).
    pub produced_per_s: f64,
    /// Landed ticks over the time from the first intended send to the last object durable.
    pub landed_per_s: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct StageSummary {
    pub count: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

impl From<&Percentiles> for StageSummary {
    fn from(p: &Percentiles) -> Self {
        StageSummary {
            count: p.count,
            p50_us: p.p50,
            p90_us: p.p90,
            p99_us: p.p99,
            p999_us: p.p999,
            max_us: p.max,
            mean_us: p.mean,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Objects {
    pub count: u64,
    pub bytes: u64,
    /// Objects written by multipart upload.
    pub multipart: u64,
    /// UploadPart requests of those uploads.
    pub parts: u64,
    pub size_p50_bytes: u64,
    pub size_p99_bytes: u64,
    pub size_max_bytes: u64,
    pub size_mean_bytes: f64,
    /// Objects under 128 MiB (`SMALL_OBJECT_BYTES`): the size AWS's Athena tuning guide advises
    /// files reach, below which each query pays per-object overhead.
    #[serde(default)]
    pub small: u64,
    /// Batches closed per trigger (records, bytes, age, time_partition, drain).
    pub close_reasons: BTreeMap<String, u64>,
}

/// Below this an object is a small file for query engines.
pub const SMALL_OBJECT_BYTES: u64 = 128 << 20;

impl Objects {
    /// The landed objects' figures; `sizes` are the object sizes over the whole run.
    pub fn of(
        landed: &[super::records::Landed],
        sizes: &Percentiles,
        close_reasons: &BTreeMap<String, u64>,
    ) -> Objects {
        Objects {
            count: landed.len() as u64,
            bytes: landed.iter().map(|l| l.bytes).sum(),
            multipart: landed.iter().filter(|l| l.parts > 0).count() as u64,
            parts: landed.iter().map(|l| l.parts as u64).sum(),
            size_p50_bytes: sizes.p50,
            size_p99_bytes: sizes.p99,
            size_max_bytes: sizes.max,
            size_mean_bytes: sizes.mean,
            small: landed
                .iter()
                .filter(|l| l.bytes < SMALL_OBJECT_BYTES)
                .count() as u64,
            close_reasons: close_reasons.clone(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Requests {
    pub put_object: u64,
    pub create_multipart_upload: u64,
    pub upload_part: u64,
    pub complete_multipart_upload: u64,
    pub abort_multipart_upload: u64,
    /// Requests sent again by tickbench after the SDK's own retries gave up (the SDK's retries
    /// are not counted here).
    #[serde(default)]
    pub retried: u64,
    /// Conditional writes (`s3.conditional_writes`) refused because another sink had written
    /// the key first; the sink read that object back and went on from where it ends.
    #[serde(default)]
    pub precondition_failed: u64,
    /// Tick objects not written because the group refused the commit that checks this sink
    /// still owns their partition (the fence where writes are not conditional); the sink read
    /// the partition again, or gave it up.
    #[serde(default)]
    pub fence_refused: u64,
}

impl Requests {
    /// Adds another part's requests (sinks of one group, merged).
    pub fn merge(&mut self, o: &Requests) {
        self.put_object += o.put_object;
        self.create_multipart_upload += o.create_multipart_upload;
        self.upload_part += o.upload_part;
        self.complete_multipart_upload += o.complete_multipart_upload;
        self.abort_multipart_upload += o.abort_multipart_upload;
        self.retried += o.retried;
        self.precondition_failed += o.precondition_failed;
        self.fence_refused += o.fence_refused;
    }

    /// Requests S3 bills at the PUT rate (PUT, COPY, POST, LIST): every request the sink makes.
    pub fn put_class(&self) -> u64 {
        self.put_object
            + self.create_multipart_upload
            + self.upload_part
            + self.complete_multipart_upload
            + self.abort_multipart_upload
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Cost {
    /// Price used per 1,000 PUT-class requests, USD.
    pub put_per_1000_usd: f64,
    /// The sink's requests at that price, USD.
    pub s3_requests_usd: f64,
    /// The same per million landed ticks, USD.
    pub s3_requests_per_million_ticks_usd: f64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Resources {
    /// Peak resident memory of the tickbench process (VmHWM); on the embedded default it
    /// includes the in-process broker and S3 server.
    pub peak_rss_bytes: Option<u64>,
    /// Most bytes the sink held at once: open batches plus parts queued or in flight.
    pub sink_peak_buffered_bytes: u64,
    /// Most batches open at once.
    pub sink_peak_open_batches: u64,
    /// What the configuration bounds the sink's buffers to at that many open batches (see the
    /// README's batching section); sink_peak_buffered_bytes never passes it.
    pub sink_memory_bound_bytes: u64,
    /// CPU time of the whole process, seconds.
    pub cpu_process_s: Option<f64>,
    /// CPU time of the producer threads (generation, encoding, librdkafka's produce calls).
    pub cpu_producer_threads_s: Option<f64>,
    /// Everything but the producer threads (the sink, librdkafka's client threads and, on the
    /// embedded default, the in-process broker and S3 server), seconds per million landed ticks.
    pub cpu_rest_s_per_million_ticks: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KafkaSummary {
    pub topic: String,
    pub partitions: usize,
    /// Per partition, the high watermark before the load started.
    pub start_offsets: BTreeMap<i32, i64>,
    /// Per partition, the high watermark after the producer flushed.
    pub end_offsets: BTreeMap<i32, i64>,
    /// Per partition, the offset the sink committed last.
    pub committed_offsets: BTreeMap<i32, i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Window {
    pub warmup_s: f64,
    pub measured_s: f64,
}

/// Latency stages reported in `stages` (object size goes to `objects`).
pub fn latency_stages() -> impl Iterator<Item = Stage> {
    Stage::latencies()
}

/// One threshold's outcome (`summary.json` `thresholds`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Verdict {
    pub metric: String,
    /// As written in the scenario, for example "<= 2s".
    pub condition: String,
    /// The run's value, in `unit`; null when the run has no data for the metric (a stage nothing
    /// was recorded in), which fails the threshold.
    pub actual: Option<f64>,
    pub unit: String,
    pub passed: bool,
}

impl Verdict {
    /// The actual value with its unit, or "no data".
    pub fn actual_text(&self) -> String {
        match self.actual {
            Some(a) => format!("{} {}", crate::units::number(a), self.unit),
            None => "no data".into(),
        }
    }
}

fn completed_by_default() -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_counts_are_the_summarys_counts() {
        // One list: every field of `counts` is a `Count` and every `Count` a field.
        let v = serde_json::to_value(Counts::default()).unwrap();
        let fields: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        let mut names: Vec<&str> = Count::ALL.iter().map(|c| c.name()).collect();
        names.sort();
        let mut fields = fields;
        fields.sort();
        assert_eq!(fields, names);
    }
}
