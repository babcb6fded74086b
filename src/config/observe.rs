//! `[observe]`: an external sink watched from outside, and how its records map to ticks.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::model::tick::TickField;

/// `[observe]`: the sink under test is an external one (Kafka Connect's S3 sink, Firehose,
/// Vector, your own consumer) reading `kafka.topic`; tickbench produces the load and watches the
/// prefix that sink writes to, taking the first listing that shows an object as its durable time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observe {
    /// Key prefix, in `s3.bucket`, under which the external sink lands the topic's objects.
    pub prefix: String,
    /// How often the prefix is listed: the bound on an object's durable time is this plus one
    /// LIST's latency.
    #[serde(with = "humantime_serde", default = "default_poll_interval")]
    pub poll_interval: Duration,
    /// The longest interval between listings: when objects arrive seldom, polls slow down to a
    /// twentieth of the gap between them, up to this (fewer LISTs; the bound stated grows).
    #[serde(with = "humantime_serde", default = "default_poll_interval_max")]
    pub poll_interval_max: Duration,
    /// After the load ends, how long to wait for the last acknowledged ticks to appear.
    #[serde(with = "humantime_serde", default = "default_settle")]
    pub settle: Duration,
    /// A regular expression a key must match to be the sink's (searched in the key after the
    /// prefix): `"\\.json\\.gz$"` for a sink that also writes manifests or markers beside its
    /// objects. Keys that do not match are counted and never read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_pattern: Option<String>,
    /// An SQS queue the bucket's S3 Event Notifications (`s3:ObjectCreated:*`) go to: durable
    /// times are then each object's `eventTime`, S3's own, instead of a listing's. The queue
    /// should be this run's alone: messages are deleted once read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sqs_queue_url: Option<String>,
    /// The external sink's consumer group (Kafka Connect's is `connect-<connector name>`): its
    /// lag on the topic, the end offsets minus its commits, is sampled once a second while the
    /// run watches, as `kafka-consumer-groups.sh --describe` shows it. tickbench never joins the
    /// group nor commits to it. Left out: the lag is not shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// Free-form notes on the external sink's own settings, kept with the results.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
    /// Where the tick is inside each record, for sinks that wrap it: a dot-separated path
    /// ("payload", "value", "data.tick"); a string found there is read as JSON. Empty: the
    /// record itself, or, when it has no `symbol`, Kafka Connect's `schema`/`payload` envelope
    /// or a `value` or `message` wrapper, whichever the record has.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub record: String,
    /// For sinks that rename fields: a tick field (symbol, seq, ts_ns, price, bid, ask, size) =
    /// the name the sink writes it under, in JSON, Avro, CSV and Parquet alike.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<TickField, String>,
}

fn default_poll_interval() -> Duration {
    Duration::from_millis(250)
}

fn default_poll_interval_max() -> Duration {
    Duration::from_secs(2)
}

fn default_settle() -> Duration {
    Duration::from_secs(120)
}
