//! The two outside services a scenario names: its Kafka cluster and its S3 (or neither, for the
//! embedded default), as written in the file and as the typed targets code decides on.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Where the load goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KafkaTarget<'a> {
    /// No brokers named: librdkafka's mock cluster, in this process.
    Embedded,
    /// `kafka.brokers`, as bootstrap.servers.
    Brokers(&'a str),
}

/// Where the objects land.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Target<'a> {
    /// Neither endpoint nor bucket named: an S3 server in this process, under the run's folder.
    Embedded,
    /// An S3-compatible server at this URL.
    Endpoint(&'a str),
    /// Real AWS S3, through the ordinary credential and region chain.
    Aws,
}

impl S3Target<'_> {
    /// For messages: the endpoint, or "AWS S3".
    pub fn describe(&self) -> String {
        match self {
            S3Target::Embedded => "the embedded S3 server".into(),
            S3Target::Endpoint(e) => e.to_string(),
            S3Target::Aws => "AWS S3".into(),
        }
    }
}

impl Kafka {
    pub fn target(&self) -> KafkaTarget<'_> {
        match &self.brokers {
            Some(b) => KafkaTarget::Brokers(b),
            None => KafkaTarget::Embedded,
        }
    }

    /// Whether `tickbench run` makes a topic of its own (the mock cluster is the run's alone).
    pub fn topic_per_run(&self) -> bool {
        self.topic_per_run.unwrap_or(self.brokers.is_some())
    }

    /// The topic a run with this id uses: its own (`<topic>-<run id>`), or `topic`.
    pub fn run_topic(&self, run_id: &str) -> String {
        if self.topic_per_run() {
            format!("{}-{run_id}", self.topic)
        } else {
            self.topic.clone()
        }
    }
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
    /// Replication factor of a topic tickbench creates; default: the cluster's
    /// `default.replication.factor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication_factor: Option<u16>,
    /// `tickbench run` on a named cluster uses a topic of its own, `<topic>-<run id>`, created
    /// for it and deleted after it (the OpenMessaging Benchmark convention), so runs sharing a
    /// cluster and a bucket never read or write each other's records. Default true with
    /// `brokers`; false uses `topic` itself (one run at a time on it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_per_run: Option<bool>,
    /// Keep the run's own topic (and its consumer group) after the run, to inspect it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_topic: bool,
    /// Consumer group of the sink; default `tickbench-<run id>`, fresh for every run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// How the clients authenticate beyond what `[kafka.client]` says: `"msk-iam"` signs
    /// SASL/OAUTHBEARER tokens for Amazon MSK from the AWS config chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<KafkaAuth>,
    /// AWS region of the MSK cluster (`auth = "msk-iam"`); default: the AWS config chain's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Named profile of `~/.aws/config` for the MSK IAM credentials; default: the chain's choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
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

/// An authentication tickbench performs itself (what librdkafka properties cannot say).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KafkaAuth {
    /// Amazon MSK IAM access control: SASL/OAUTHBEARER over TLS, the token a SigV4-presigned
    /// `kafka-cluster:Connect` request signed with the AWS chain's credentials.
    MskIam,
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
    /// Attempts the AWS SDK makes per request (standard retry mode, exponential backoff with
    /// jitter) before the sink's own retries (`sink.upload_retry_for`) take over.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Whether the sink writes objects only where none exists (`If-None-Match: *` on PutObject
    /// and CompleteMultipartUpload), which fences a paused sink that lost its partitions out of
    /// its successor's keys. `auto` asks the bucket at start (AWS S3 and most S3-compatible
    /// servers support it); `off` relies on the consumer group's generation alone (a commit
    /// before each write, see `sink::fence`).
    #[serde(default)]
    pub conditional_writes: ConditionalWrites,
}

/// Whether the sink's writes carry `If-None-Match: *` (see [`S3::conditional_writes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConditionalWrites {
    /// Probe the bucket at start: on where it refuses a second write of a key.
    #[default]
    Auto,
    /// Always; a server that ignores the condition is not detected.
    On,
    /// Never: the generation check alone fences a zombie sink.
    Off,
}

impl Default for Kafka {
    fn default() -> Self {
        Kafka {
            brokers: None,
            topic: default_topic(),
            partitions: default_partitions(),
            replication_factor: None,
            topic_per_run: None,
            keep_topic: false,
            group_id: None,
            auth: None,
            region: None,
            profile: None,
            client: BTreeMap::new(),
            producer: BTreeMap::new(),
            consumer: BTreeMap::new(),
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
            max_attempts: default_max_attempts(),
            conditional_writes: ConditionalWrites::Auto,
        }
    }
}

impl S3 {
    pub fn target(&self) -> S3Target<'_> {
        match (&self.endpoint, &self.bucket) {
            (Some(e), _) => S3Target::Endpoint(e),
            (None, Some(_)) => S3Target::Aws,
            (None, None) => S3Target::Embedded,
        }
    }

    /// True when neither an endpoint nor a bucket is named: the run starts its own S3 server.
    pub fn is_embedded(&self) -> bool {
        self.target() == S3Target::Embedded
    }

    pub fn bucket_name(&self) -> &str {
        self.bucket.as_deref().unwrap_or(DEFAULT_BUCKET)
    }
}

fn default_max_attempts() -> u32 {
    5
}

pub const DEFAULT_BUCKET: &str = "tickbench";

fn default_topic() -> String {
    "ticks".into()
}

fn default_partitions() -> u32 {
    12
}

fn default_prefix() -> String {
    "tickbench".into()
}
