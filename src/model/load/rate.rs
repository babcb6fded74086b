//! The load a scenario describes (`[rate]`): its shape and how it is sent. Read from the scenario
//! file; validated by `config`.

use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

use super::segment::Segment;

/// The load shape: an open-loop schedule of intended send times over warm-up and duration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// A constant rate in ticks per second (shorthand for one constant segment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticks_per_second: Option<f64>,
    /// The profile as segments laid end to end from the start of the warm-up; the last one's
    /// final rate holds if they end before the run does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<Segment>,
    /// Poisson arrivals around the profile (exponential gaps) instead of evenly spaced ticks.
    #[serde(default)]
    pub poisson: bool,
    /// Producer threads, each with its own Kafka producer and a disjoint share of the symbols.
    #[serde(default = "default_producer_threads")]
    pub producer_threads: u32,
    /// Pad every record's value to this size with spaces after the tick's JSON (JSON allows
    /// whitespace after a value, so the sink, the audit and any JSON reader still read the
    /// tick), to line runs up with published figures at a fixed message size (OpenMessaging
    /// Benchmark's standard workloads send 1 KiB). Records already longer stay as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_size: Option<ByteSize>,
}

fn default_producer_threads() -> u32 {
    1
}
