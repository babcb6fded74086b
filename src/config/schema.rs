//! The scenario file's schema. Every struct denies unknown fields so a typo is an error, never a
//! silently ignored setting.

use std::collections::BTreeMap;
use std::time::Duration;

use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

use super::observe::Observe;
use super::targets::{Kafka, S3};
use crate::model::format::{Compression, Encoding, Format};
use crate::model::layout::TimeGranularity;
use crate::model::load::Rate;
use crate::model::sim::settings::Symbols;

/// One benchmark run: what load to generate, where to send it and how the sink batches it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, used in the results folder name (`results/<UTC timestamp>-<name>/`).
    pub name: String,
    /// Seed for every random draw (symbol parameters, symbol choice, price paths): the same
    /// scenario and seed produce the same ticks.
    pub seed: u64,
    /// Length of the measured window, after the warm-up (for example "10s", "5m").
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    /// Load generated before the measured window; recorded but left out of the summary.
    #[serde(with = "humantime_serde", default)]
    pub warmup: Duration,
    /// The symbol universe.
    pub symbols: Symbols,
    /// The load shape.
    pub rate: Rate,
    /// Kafka cluster, topic and client properties.
    #[serde(default)]
    pub kafka: Kafka,
    /// How the sink batches records into S3 objects.
    #[serde(default)]
    pub sink: Sink,
    /// Where the objects land.
    #[serde(default)]
    pub s3: S3,
    /// Search for the highest rate the pipeline sustains instead of running `[rate]` once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<MaxSearch>,
    /// Benchmark someone else's sink: tickbench runs none of its own and watches where that one
    /// lands the topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observe: Option<Observe>,
    /// Prices for the request-cost estimate in the summary and comparisons.
    #[serde(default)]
    pub cost: CostTable,
    /// A matrix of runs: each key a setting ("sink.max_bytes", "sink.format",
    /// "kafka.producer.\"linger.ms\"" ...), each value the list of values to try. `tickbench run`
    /// runs every combination and writes a comparison.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sweep: BTreeMap<String, Vec<toml::Value>>,
    /// Named sets of settings to compare (`[[variant]]` with `name` and settings as in
    /// `[sweep]`, one value each); with `[sweep]` too, every variant runs the whole matrix.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variant: Vec<Variant>,
    /// Pass/fail bounds on the run's figures, metric = condition: `pipeline_e2e_p99 = "<= 2s"`,
    /// `landed_per_s = ">= 50000"`, `lost = "== 0"`. Any FAIL makes the run exit 1.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub thresholds: BTreeMap<String, String>,
}

/// One named set of settings of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Variant {
    /// Shown in the comparison.
    pub name: String,
    /// Setting path ("sink.max_records") to value.
    #[serde(flatten)]
    pub set: BTreeMap<String, toml::Value>,
}

/// Prices for the cost estimate. Defaults: AWS's published S3 Standard request price in
/// us-east-1 ($0.005 per 1,000 PUT, COPY, POST and LIST requests), as listed on the S3 pricing
/// page when this default was set (2026-11); set your region's and storage class's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CostTable {
    /// USD per 1,000 PUT-class requests (PutObject, CreateMultipartUpload, UploadPart,
    /// CompleteMultipartUpload, AbortMultipartUpload).
    #[serde(default = "default_put_price")]
    pub put_per_1000_usd: f64,
}

impl Default for CostTable {
    fn default() -> Self {
        CostTable {
            put_per_1000_usd: default_put_price(),
        }
    }
}

fn default_put_price() -> f64 {
    0.005
}

/// `max` mode: constant-rate steps, growing by `factor` while the pipeline keeps up, then
/// bisecting between the last rate it sustained and the first it did not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaxSearch {
    /// First rate tried, ticks per second.
    pub start: f64,
    /// Each sustained step multiplies the rate by this (1.05 to 10).
    #[serde(default = "default_factor")]
    pub factor: f64,
    /// Measured load per step (each step also has the scenario's warm-up).
    #[serde(with = "humantime_serde", default = "default_step")]
    pub step: Duration,
    /// Steps of growth at most.
    #[serde(default = "default_max_steps")]
    pub max_steps: u32,
    /// Bisection steps after the first failure.
    #[serde(default = "default_refine")]
    pub refine: u32,
    /// A step is sustained only if the producer kept to the schedule: schedule lag p99 at most this.
    #[serde(with = "humantime_serde", default = "default_lag_bound")]
    pub schedule_lag_p99: Duration,
    /// …and the consumer kept up: Kafka end-to-end p99 at most this.
    #[serde(with = "humantime_serde", default = "default_e2e_bound")]
    pub kafka_e2e_p99: Duration,
}

fn default_factor() -> f64 {
    1.5
}
fn default_step() -> Duration {
    Duration::from_secs(10)
}
fn default_max_steps() -> u32 {
    8
}
fn default_refine() -> u32 {
    2
}
fn default_lag_bound() -> Duration {
    Duration::from_millis(10)
}
fn default_e2e_bound() -> Duration {
    Duration::from_secs(1)
}

/// How the sink batches records into S3 objects; the first trigger to fire closes the batch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sink {
    /// Close a batch when it holds this many records.
    #[serde(default = "default_max_records")]
    pub max_records: u64,
    /// Close a batch before its encoded size would pass this many bytes (for example "64 MiB").
    #[serde(default = "default_max_bytes")]
    pub max_bytes: ByteSize,
    /// Close a batch when its oldest record has waited this long (for example "10s").
    #[serde(with = "humantime_serde", default = "default_max_age")]
    pub max_age: Duration,
    /// Size of one multipart-upload part, 5 MiB to 5 GiB; a batch smaller than this is one PutObject.
    #[serde(default = "default_part_size")]
    pub part_size: ByteSize,
    /// Parts (and PutObjects) in flight at once across the sink; bounds its memory.
    #[serde(default = "default_upload_concurrency")]
    pub upload_concurrency: u32,
    /// After the load ends, how long the sink may take to land everything before the run fails.
    #[serde(with = "humantime_serde", default = "default_drain_timeout")]
    pub drain_timeout: Duration,
    /// How long an S3 request is sent again (backoff 200 ms to 5 s, with equal jitter) after the SDK's own five
    /// attempts failed, before the upload gives up and the sink rewinds its partition to the
    /// oldest batch not yet durable and reads it again (errors that will not go away, such as
    /// access denied, stop the run at once).
    #[serde(with = "humantime_serde", default = "default_upload_retry_for")]
    pub upload_retry_for: Duration,
    /// Close every open batch when the wall clock crosses a whole multiple of this since the
    /// epoch ("60s": objects end on each minute boundary). Unset: no rotation.
    #[serde(
        with = "humantime_serde",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub rotate_every: Option<Duration>,
    /// Close a batch when its partition has sent nothing for this long, so a quiet partition
    /// never holds records until max_age. Unset: no idle flush.
    #[serde(
        with = "humantime_serde",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub idle_timeout: Option<Duration>,
    /// Object format: "jsonl" (default), "csv" (with a header row), "parquet", or "iceberg"
    /// (Parquet data files committed to an Iceberg table; see `[sink.iceberg]`).
    #[serde(default)]
    pub format: Format,
    /// With `format = "iceberg"`: the table, its catalog and the commit interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iceberg: Option<super::Iceberg>,
    /// Compression: "none" (default), "gzip" or "zstd" for jsonl and csv; "snappy" (default),
    /// "zstd" or "none" for parquet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression: Option<Compression>,
    /// Parquet: records per row group (a row group is also written once it buffers a part's size).
    #[serde(default = "default_row_group_records")]
    pub row_group_records: u64,
    /// How batches split by time, which is also the key layout: "hour" (default,
    /// `dt=YYYY-MM-DD/hour=HH/`), "day" (`dt=YYYY-MM-DD/`) or "minute" (`.../hour=HH/minute=MM/`).
    #[serde(default)]
    pub time_partition: TimeGranularity,
    /// Which records share a batch: "partition" (default: one batch per Kafka partition and time
    /// partition; a retried batch rewrites the same key) or "symbol" (one batch per symbol,
    /// under `symbol=<SYM>/`; one object, one symbol).
    #[serde(default)]
    pub group_by: GroupBy,
    /// Which time puts a record in its time partition: "event" (default: the tick's intended
    /// send time, ts_ns) or "wall" (the sink's clock when it received the record).
    #[serde(default)]
    pub time_source: TimeSource,
    /// "streaming" (default): full parts upload while the batch still fills; "buffered": the
    /// whole batch is held in memory and uploaded when it closes.
    #[serde(default)]
    pub upload: UploadMode,
    /// Objects up to this size are one PutObject, larger ones a multipart upload of part_size
    /// parts. Default: part_size. From part_size to 5 GiB (S3's PutObject limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multipart_threshold: Option<ByteSize>,
    /// Bytes of a record set aside (not a tick) that its dead letter keeps; a longer value is cut
    /// to them, its line gives its full size, and the cut is counted.
    #[serde(default = "default_dead_letter_max_record")]
    pub dead_letter_max_record: ByteSize,
    /// Bytes the open dead-letter batches may hold together; a record that would pass it first
    /// sends the largest of them to S3 (counted). Part of the sink's memory bound.
    #[serde(default = "default_dead_letter_max_bytes")]
    pub dead_letter_max_bytes: ByteSize,
}

/// Which records share a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    #[default]
    Partition,
    Symbol,
}

/// Which time puts a record in its time partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeSource {
    /// The tick's own intended send time (`ts_ns`): replays land in the same partitions.
    #[default]
    Event,
    /// The sink's clock on receipt, as Kafka Connect's wall-clock partitioner does.
    Wall,
}

/// When parts go to S3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UploadMode {
    /// Each full part uploads while the batch still fills: memory is parts, not objects.
    #[default]
    Streaming,
    /// The whole batch is held, then uploaded: memory is whole objects.
    Buffered,
}

fn default_max_records() -> u64 {
    1_000_000
}
fn default_upload_retry_for() -> Duration {
    Duration::from_secs(60)
}
fn default_row_group_records() -> u64 {
    100_000
}
fn default_max_bytes() -> ByteSize {
    ByteSize::mib(64)
}
fn default_max_age() -> Duration {
    Duration::from_secs(10)
}
fn default_part_size() -> ByteSize {
    ByteSize::mib(8)
}
fn default_upload_concurrency() -> u32 {
    8
}
fn default_drain_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_dead_letter_max_record() -> ByteSize {
    ByteSize::kib(64)
}
fn default_dead_letter_max_bytes() -> ByteSize {
    ByteSize::mib(16)
}

impl Default for Sink {
    fn default() -> Self {
        Sink {
            max_records: default_max_records(),
            max_bytes: default_max_bytes(),
            max_age: default_max_age(),
            part_size: default_part_size(),
            upload_concurrency: default_upload_concurrency(),
            drain_timeout: default_drain_timeout(),
            upload_retry_for: default_upload_retry_for(),
            rotate_every: None,
            idle_timeout: None,
            iceberg: None,
            format: Format::default(),
            compression: None,
            row_group_records: default_row_group_records(),
            time_partition: TimeGranularity::default(),
            time_source: TimeSource::default(),
            group_by: GroupBy::default(),
            upload: UploadMode::default(),
            multipart_threshold: None,
            dead_letter_max_record: default_dead_letter_max_record(),
            dead_letter_max_bytes: default_dead_letter_max_bytes(),
        }
    }
}

impl Sink {
    /// The format and compression objects are written in.
    pub fn encoding(&self) -> Encoding {
        let mut e = Encoding::new(
            self.format,
            self.compression
                .unwrap_or(self.format.default_compression()),
        );
        e.row_group_records = self.row_group_records as usize;
        e.row_group_bytes = self.part_size.as_u64().min(1 << 30) as usize;
        e
    }

    /// Objects up to this size are one PutObject.
    pub fn multipart_threshold(&self) -> u64 {
        self.multipart_threshold.unwrap_or(self.part_size).as_u64()
    }
}
