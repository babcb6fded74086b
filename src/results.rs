//! The results folder: `results/<UTC timestamp>-<name>/` and its `manifest.json`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Creates a fresh run folder under `root` and returns (run id, path).
pub fn create_run_dir(
    root: &Path,
    name: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<(String, PathBuf)> {
    let stamp = now.format("%Y%m%dT%H%M%SZ");
    for n in 0..1000 {
        let id = if n == 0 {
            format!("{stamp}-{name}")
        } else {
            format!("{stamp}-{name}-{n}")
        };
        let dir = root.join(&id);
        match std::fs::create_dir_all(root).and_then(|_| std::fs::create_dir(&dir)) {
            Ok(()) => return Ok((id, dir)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("creating {}", dir.display())),
        }
    }
    anyhow::bail!(
        "too many runs named {name} in the same second under {}",
        root.display()
    )
}

/// `manifest.json`: everything needed to know what ran where.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
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
    pub s3_endpoint: Option<String>,
    pub s3_bucket: String,
    pub s3_embedded: bool,
    pub started_at: String,
    pub ended_at: String,
    /// For a run made by `tickbench merge`: the producer and sink folders it was made from, each
    /// with its host and clock.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<crate::merge::Part>,
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

/// The git revision tickbench was built from, when built from a checkout.
pub fn git_revision() -> Option<String> {
    option_env!("TICKBENCH_GIT_REVISION")
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes one JSON object a line (`objects.jsonl`, `commits.jsonl`).
pub fn write_jsonl<T: Serialize>(path: &Path, items: &[T]) -> anyhow::Result<()> {
    let mut out = String::new();
    for i in items {
        out.push_str(&serde_json::to_string(i)?);
        out.push('\n');
    }
    std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))
}

/// Reads a JSON-lines file back; a missing file is empty.
pub fn read_jsonl<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Vec<T>> {
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).with_context(|| format!("{}: {l}", path.display())))
        .collect()
}

pub fn write_json<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_dirs_are_unique_within_a_second() {
        let root = tempfile::tempdir().unwrap();
        let now = DateTime::from_timestamp(1_795_319_090, 0).unwrap();
        let (a, da) = create_run_dir(root.path(), "smoke", now).unwrap();
        let (b, db) = create_run_dir(root.path(), "smoke", now).unwrap();
        assert_eq!(a, "20261122T034450Z-smoke");
        assert_eq!(b, "20261122T034450Z-smoke-1");
        assert!(da.is_dir() && db.is_dir());
    }
}
