//! The scenario file's schema. Every struct denies unknown fields so a typo is an error, never a
//! silently ignored setting.

use std::collections::BTreeMap;
use std::time::Duration;

use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

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
}

/// The symbol universe, drawn reproducibly from the seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Symbols {
    /// Number of symbols, 1 to 100,000.
    pub count: u32,
    /// Lowest start price (log-uniform between min and max).
    #[serde(default = "default_price_min")]
    pub price_min: f64,
    /// Highest start price.
    #[serde(default = "default_price_max")]
    pub price_max: f64,
    /// Lowest annual drift mu (for example -0.05 for -5 % a year).
    #[serde(default = "default_drift_min")]
    pub drift_min: f64,
    /// Highest annual drift mu.
    #[serde(default = "default_drift_max")]
    pub drift_max: f64,
    /// Lowest annual volatility sigma (for example 0.1 for 10 %).
    #[serde(default = "default_vol_min")]
    pub volatility_min: f64,
    /// Highest annual volatility sigma.
    #[serde(default = "default_vol_max")]
    pub volatility_max: f64,
    /// Quoted half-spread around the price, in basis points of the price.
    #[serde(default = "default_half_spread_bps")]
    pub half_spread_bps: f64,
}

/// The load shape: an open-loop schedule of intended send times.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Constant rate in ticks per second over warm-up and measured window.
    pub ticks_per_second: f64,
}

/// Kafka cluster, topic and client properties.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kafka {
    /// bootstrap.servers; when absent, an in-process librdkafka mock cluster is started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brokers: Option<String>,
    /// Topic the ticks are produced to and consumed from.
    #[serde(default = "default_topic")]
    pub topic: String,
    /// Partition count of the topic (used when tickbench creates it).
    #[serde(default = "default_partitions")]
    pub partitions: u32,
    /// Consumer group of the sink; default `tickbench-<run id>`, fresh for every run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// librdkafka properties for both clients (security.protocol, sasl.*, ssl.*), passed unchanged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub client: BTreeMap<String, String>,
    /// librdkafka producer properties (acks, linger.ms, batch.size, compression.type...), passed unchanged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub producer: BTreeMap<String, String>,
    /// librdkafka consumer properties (fetch.min.bytes, session.timeout.ms...), passed unchanged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub consumer: BTreeMap<String, String>,
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
}

/// Where the objects land.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3 {
    /// S3 endpoint URL (for an S3-compatible server); when absent and `bucket` is absent too, an
    /// in-process S3 server is started. With a bucket and no endpoint, real AWS S3 is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Bucket name; default "tickbench".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    /// Key prefix under which `<topic>/dt=.../hour=.../` objects are written.
    #[serde(default = "default_prefix")]
    pub prefix: String,
    /// AWS region; default from the AWS config chain, else us-east-1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Path-style addressing (`endpoint/bucket/key`); default true when an endpoint is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_path_style: Option<bool>,
    /// Create the bucket if it does not exist (always done on the embedded server).
    #[serde(default)]
    pub create_bucket: bool,
    /// Named profile of `~/.aws/config` for credentials and region; default: the chain's own
    /// choice (`AWS_PROFILE`, else "default").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

pub const DEFAULT_BUCKET: &str = "tickbench";

fn default_price_min() -> f64 {
    5.0
}
fn default_price_max() -> f64 {
    500.0
}
fn default_drift_min() -> f64 {
    -0.05
}
fn default_drift_max() -> f64 {
    0.15
}
fn default_vol_min() -> f64 {
    0.10
}
fn default_vol_max() -> f64 {
    0.60
}
fn default_half_spread_bps() -> f64 {
    1.0
}
fn default_topic() -> String {
    "ticks".into()
}
fn default_partitions() -> u32 {
    12
}
fn default_max_records() -> u64 {
    1_000_000
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
fn default_prefix() -> String {
    "tickbench".into()
}

impl Default for Kafka {
    fn default() -> Self {
        Kafka {
            brokers: None,
            topic: default_topic(),
            partitions: default_partitions(),
            group_id: None,
            client: BTreeMap::new(),
            producer: BTreeMap::new(),
            consumer: BTreeMap::new(),
        }
    }
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
        }
    }
}

impl Default for S3 {
    fn default() -> Self {
        S3 {
            endpoint: None,
            bucket: None,
            prefix: default_prefix(),
            region: None,
            force_path_style: None,
            create_bucket: false,
            profile: None,
        }
    }
}

impl S3 {
    /// True when neither an endpoint nor a bucket is named: the run starts its own S3 server.
    pub fn is_embedded(&self) -> bool {
        self.endpoint.is_none() && self.bucket.is_none()
    }

    pub fn bucket_name(&self) -> &str {
        self.bucket.as_deref().unwrap_or(DEFAULT_BUCKET)
    }
}
