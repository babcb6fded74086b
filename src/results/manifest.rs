//! `manifest.json`: what ran where, and for a merged run the parts it was made from.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::Scenario;

/// What made a results folder, and so what it holds besides the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// `tickbench run`: load, sink, audit and report in one process.
    #[default]
    Run,
    /// `tickbench produce`: the load only (`produce.json`, `produced.json`).
    Producer,
    /// `tickbench sink`: one sink process (its own `summary.json`, `objects.jsonl`, `commits.jsonl`).
    Sink,
    /// `tickbench merge`: a run made of producer and sink folders.
    Merged,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Run => "run",
            Role::Producer => "producer",
            Role::Sink => "sink",
            Role::Merged => "merged",
        }
    }
}

/// Where a folder's load went and landed (no credentials are ever written here).
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    pub kafka_brokers: String,
    pub kafka_embedded: bool,
    pub s3_endpoint: Option<String>,
    pub s3_bucket: String,
    pub s3_embedded: bool,
}

/// `manifest.json`: everything needed to know what ran where.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// What made the folder (older folders have none: they are runs).
    #[serde(default)]
    pub role: Role,
    pub run_id: String,
    pub scenario_name: String,
    pub scenario_file: Option<String>,
    /// SHA-256 of the resolved scenario (`scenario.toml` in this folder).
    pub scenario_sha256: String,
    pub seed: u64,
    pub tickbench_version: String,
    pub git_revision: Option<String>,
    pub librdkafka_version: String,
    pub host: Host,
    /// Where the load went (no credentials are ever written here).
    pub kafka_brokers: String,
    pub kafka_embedded: bool,
    /// The topic the load went to: a run's own (`<kafka.topic>-<run id>`) or the scenario's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka_topic: Option<String>,
    pub s3_endpoint: Option<String>,
    pub s3_bucket: String,
    pub s3_embedded: bool,
    pub started_at: String,
    pub ended_at: String,
    /// For a run made by `tickbench merge`: the producer and sink folders it was made from, each
    /// with its host and clock.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<Part>,
}

impl Manifest {
    /// The manifest of a folder made now by this build of tickbench on this host.
    pub fn new(
        role: Role,
        run_id: &str,
        scenario: &Scenario,
        resolved_toml: &str,
        scenario_file: Option<&Path>,
        at: Endpoints,
        started_at: DateTime<Utc>,
    ) -> Manifest {
        Manifest {
            role,
            run_id: run_id.to_string(),
            scenario_name: scenario.name.clone(),
            scenario_file: scenario_file.map(|p| p.display().to_string()),
            scenario_sha256: super::sha256_hex(resolved_toml.as_bytes()),
            seed: scenario.seed,
            tickbench_version: env!("CARGO_PKG_VERSION").into(),
            git_revision: super::git_revision(),
            librdkafka_version: rdkafka::util::get_rdkafka_version().1,
            host: Host::current(),
            kafka_brokers: at.kafka_brokers,
            kafka_embedded: at.kafka_embedded,
            kafka_topic: Some(scenario.kafka.topic.clone()),
            s3_endpoint: at.s3_endpoint,
            s3_bucket: at.s3_bucket,
            s3_embedded: at.s3_embedded,
            started_at: started_at.to_rfc3339(),
            ended_at: Utc::now().to_rfc3339(),
            merged_from: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Host {
    pub hostname: String,
    pub os: String,
    pub arch: String,
    pub cpus: usize,
    /// The clock's synchronization when the record was made (older folders have none).
    #[serde(default)]
    pub clock: Option<crate::clock::ClockState>,
}

impl Host {
    pub fn current() -> Host {
        Host {
            hostname: gethostname::gethostname().to_string_lossy().into_owned(),
            os: std::env::consts::OS.into(),
            arch: std::env::consts::ARCH.into(),
            cpus: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            clock: Some(crate::clock::ClockState::current()),
        }
    }
}

/// A folder that went into a merge, as recorded in the merged manifest's `merged_from`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Part {
    /// `producer` or `sink`.
    pub role: Role,
    pub run_id: String,
    /// The folder as given on the command line.
    pub dir: String,
    /// `--worker` of a producer (I/N), `--instance` of a sink.
    pub name: String,
    /// The machine it ran on, with its clock's state.
    pub host: Host,
}
