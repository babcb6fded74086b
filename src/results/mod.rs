//! The results folder, `results/<UTC timestamp>-<name>/`, and the typed records it holds.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;

pub mod manifest;
pub mod records;
pub mod summary;

pub use manifest::{Endpoints, Host, Manifest, Part, Role};
pub use records::*;
pub use summary::*;

/// A results folder: the one place that knows its files' names, and reads and writes them typed.
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
    id: String,
}

/// The files of a results folder (which of them a folder holds depends on its manifest's role).
pub mod files {
    /// The resolved scenario: defaults filled in, secrets redacted.
    pub const SCENARIO: &str = "scenario.toml";
    pub const MANIFEST: &str = "manifest.json";
    /// A run's `Summary`, or a sink's `SinkSummary`.
    pub const SUMMARY: &str = "summary.json";
    pub const EXPECTED: &str = "expected.json";
    pub const OBJECTS: &str = "objects.jsonl";
    pub const DEAD_LETTERS: &str = "dead_letters.jsonl";
    pub const COMMITS: &str = "commits.jsonl";
    /// A producer's figures for people, and what it sent for the audit.
    pub const PRODUCE: &str = "produce.json";
    pub const PRODUCED: &str = "produced.json";
    pub const MAX: &str = "max.json";
    pub const REPORT_MD: &str = "report.md";
    pub const REPORT_HTML: &str = "report.html";
    pub const TIMESERIES: &str = "timeseries.csv";
    /// The written reports, which `tickbench report` writes again.
    pub const REPORTS: [&str; 3] = [REPORT_MD, REPORT_HTML, TIMESERIES];
    /// HdrHistogram interval logs, one a stage (warm-up in `histograms/warmup/`).
    pub const HISTOGRAMS: &str = "histograms";
    /// The embedded S3 server's files: `s3/<bucket>/<key>`.
    pub const EMBEDDED_S3: &str = "s3";
}

impl RunDir {
    /// Creates a fresh folder `<root>/<UTC timestamp>-<4 hex digits>-<name>`: the random part
    /// keeps run ids (and the consumer groups named after them) apart across processes and hosts
    /// that start the same scenario in the same second; the time first keeps folders in order.
    pub fn create(root: &Path, name: &str, now: DateTime<Utc>) -> anyhow::Result<RunDir> {
        let stamp = now.format("%Y%m%dT%H%M%SZ");
        for _ in 0..1000 {
            let id = format!("{stamp}-{:04x}-{name}", rand::random::<u16>());
            let path = root.join(&id);
            match std::fs::create_dir_all(root).and_then(|_| std::fs::create_dir(&path)) {
                Ok(()) => return Ok(RunDir { path, id }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
            }
        }
        anyhow::bail!(
            "too many runs named {name} in the same second under {}",
            root.display()
        )
    }

    /// A folder the caller names (`merge --out`): created if missing, refused if it holds a run.
    pub fn create_at(path: &Path) -> anyhow::Result<RunDir> {
        std::fs::create_dir_all(path).with_context(|| format!("creating {}", path.display()))?;
        anyhow::ensure!(
            !path.join(files::SUMMARY).exists(),
            "{}: already holds a run; give --out an empty folder",
            path.display()
        );
        Ok(RunDir::open(path))
    }

    /// An existing folder; its id is its name.
    pub fn open(path: &Path) -> RunDir {
        let id = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "merged".into());
        RunDir {
            path: path.to_path_buf(),
            id,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The path of one of its files (see [`files`]).
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn has(&self, name: &str) -> bool {
        self.file(name).is_file()
    }

    pub fn histograms(&self) -> PathBuf {
        self.file(files::HISTOGRAMS)
    }

    pub fn embedded_s3(&self) -> PathBuf {
        self.file(files::EMBEDDED_S3)
    }

    pub fn read<T: serde::de::DeserializeOwned>(&self, name: &str) -> anyhow::Result<T> {
        let path = self.file(name);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{}: cannot read {name}: is this a tickbench run folder?",
                self.path.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("{}: not valid", path.display()))
    }

    pub fn write<T: Serialize>(&self, name: &str, value: &T) -> anyhow::Result<()> {
        write_json(&self.file(name), value)
    }

    /// Writes one JSON object a line; `dead_letters.jsonl` only when there are any.
    pub fn write_lines<T: Serialize>(&self, name: &str, items: &[T]) -> anyhow::Result<()> {
        if name == files::DEAD_LETTERS && items.is_empty() {
            return Ok(());
        }
        write_jsonl(&self.file(name), items)
    }

    /// Reads a JSON-lines file back; a missing file is empty.
    pub fn read_lines<T: serde::de::DeserializeOwned>(&self, name: &str) -> anyhow::Result<Vec<T>> {
        read_jsonl(&self.file(name))
    }

    pub fn write_scenario(&self, resolved_toml: &str) -> anyhow::Result<()> {
        let path = self.file(files::SCENARIO);
        std::fs::write(&path, resolved_toml).with_context(|| format!("writing {}", path.display()))
    }

    /// The folder's scenario as it ran: `scenario.toml` (as the user wrote it, resolved) with the
    /// topic the load went to (a run's own topic is in the manifest).
    pub fn scenario(&self) -> anyhow::Result<crate::config::Scenario> {
        let mut s = crate::config::load(&self.file(files::SCENARIO))?;
        if let Some(t) = self.manifest().ok().and_then(|m| m.kafka_topic) {
            s.kafka.topic = t;
            s.kafka.topic_per_run = Some(false);
        }
        Ok(s)
    }

    pub fn manifest(&self) -> anyhow::Result<manifest::Manifest> {
        self.read(files::MANIFEST)
    }

    /// A run's summary (of a run or a merged run; a sink's is [`RunDir::sink_summary`]).
    pub fn summary(&self) -> anyhow::Result<Summary> {
        self.read(files::SUMMARY)
    }

    pub fn sink_summary(&self) -> anyhow::Result<SinkSummary> {
        self.read(files::SUMMARY)
    }

    pub fn objects(&self) -> anyhow::Result<Vec<Landed>> {
        self.read_lines(files::OBJECTS)
    }

    pub fn dead_letters(&self) -> anyhow::Result<Vec<Landed>> {
        self.read_lines(files::DEAD_LETTERS)
    }

    pub fn commits(&self) -> anyhow::Result<Vec<CommitRecord>> {
        self.read_lines(files::COMMITS)
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
        let ids: Vec<String> = (0..50)
            .map(|_| {
                RunDir::create(root.path(), "smoke", now)
                    .unwrap()
                    .id()
                    .to_string()
            })
            .collect();
        for id in &ids {
            let (stamp, rest) = id.split_at(16);
            assert_eq!(stamp, "20261122T034450Z", "{id}");
            let (hex, name) = rest[1..].split_at(4);
            assert!(hex.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
            assert_eq!(name, "-smoke", "{id}");
            assert!(root.path().join(id).is_dir());
        }
        let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), 50);
    }
}
