//! `tickbench compact` as a request and its outcome: where the objects are (a run's folder, its
//! embedded S3 served again, or a scenario naming an S3), which kind of compaction applies (an
//! Iceberg table in place, or plain objects into a prefix of their own), and what it did, as text.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::table::{Options, TableCompacted};
use super::Compacted;
use crate::commands::store::RunStore;
use crate::config;
use crate::model::format::Format;
use crate::results::RunDir;

/// What to compact, and how.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// A run's results folder, or a scenario file.
    pub source: PathBuf,
    /// Plain objects: only these time partitions (`dt=YYYY-MM-DD/hour=HH`); empty: all.
    pub partitions: Vec<String>,
    /// Plain objects: the compacted objects' prefix (default `<s3.prefix>-compacted`).
    pub target_prefix: Option<String>,
    /// Iceberg: rewrite a table partition only when it holds at least this many data files.
    pub min_files: usize,
    /// Iceberg: keep the snapshots before the compaction.
    pub keep_snapshots: bool,
    /// The command line's targets, applied to the scenario before it is validated.
    pub overrides: config::Overrides,
}

/// What compaction did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// An Iceberg table, rewritten in place.
    Table(TableCompacted),
    /// Plain objects, one line per time partition.
    Objects(Vec<Compacted>),
}

/// Compacts what `req.source` landed.
pub async fn compact(req: &Request) -> anyhow::Result<Outcome> {
    let source = &req.source;
    let (s, store) = open(source, &req.overrides).await?;
    if s.sink.format == Format::Iceberg {
        let res = async {
            anyhow::ensure!(
                req.partitions.is_empty() && req.target_prefix.is_none(),
                "{}: an Iceberg table is compacted in place, by table partition: --partition and --target-prefix are for plain objects",
                source.display()
            );
            let bucket = if source.is_dir() {
                RunDir::open(source).manifest()?.s3_bucket
            } else {
                s.s3.bucket_name().to_string()
            };
            // The SQL catalog's default database: the run's folder, or beside the scenario file.
            let catalog_dir = if source.is_dir() {
                source.clone()
            } else {
                source.parent().map(PathBuf::from).unwrap_or_default()
            };
            let spec = crate::io::iceberg::TableSpec::of(&s, &bucket, &catalog_dir);
            let opts = Options {
                min_files: req.min_files,
                expire: !req.keep_snapshots,
            };
            let lake = crate::io::iceberg::Lake::open(&spec, store.client.clone()).await?;
            super::table::compact(&lake, &store.client, &opts).await
        }
        .await;
        store.close().await;
        let done = res.with_context(|| format!("compacting the table of {}", source.display()))?;
        return Ok(Outcome::Table(done));
    }
    let target = req
        .target_prefix
        .clone()
        .unwrap_or_else(|| format!("{}-compacted", s.s3.prefix.trim_end_matches('/')));
    let res = async {
        anyhow::ensure!(
            target.trim_end_matches('/') != s.s3.prefix.trim_end_matches('/'),
            "--target-prefix {target:?}: must differ from the sink's prefix"
        );
        super::compact(
            &super::Source {
                client: &store.client,
                bucket: s.s3.bucket_name(),
                prefix: &s.s3.prefix,
                topic: &s.kafka.topic,
                target_prefix: &target,
            },
            &req.partitions,
        )
        .await
    }
    .await;
    store.close().await;
    let done = res.with_context(|| format!("compacting {}", source.display()))?;
    Ok(Outcome::Objects(done))
}

/// The scenario (with the overrides) and a client for the S3 it landed in.
async fn open(
    source: &Path,
    overrides: &config::Overrides,
) -> anyhow::Result<(config::Scenario, RunStore)> {
    if source.is_dir() {
        let s = config::override_and_validate(RunDir::open(source).scenario()?, source, overrides)?;
        let store = RunStore::open(source, overrides.s3_endpoint.as_deref()).await?;
        return Ok((s, store));
    }
    let s = config::load_with(source, overrides)?;
    anyhow::ensure!(
        !s.s3.is_embedded(),
        "{}: name the S3 to compact in (s3.endpoint / s3.bucket, or --s3-endpoint / --bucket); a run folder of the embedded default works too",
        source.display()
    );
    let client = crate::io::connect::s3_client(&s.s3, None).await;
    Ok((
        s,
        RunStore {
            client,
            server: None,
        },
    ))
}

impl Outcome {
    /// What was done, a line per partition, as `tickbench compact` prints it.
    pub fn write_text(&self, w: &mut dyn Write) -> std::io::Result<()> {
        match self {
            Outcome::Table(c) => write_table(c, w),
            Outcome::Objects(done) => {
                for c in done {
                    writeln!(
                        w,
                        "{}: {} objects, {} ticks ({} repeated) -> {} ({} ticks, {:.1} KiB{}); {} sources removed",
                        c.partition,
                        c.sources,
                        c.records_read,
                        c.duplicates_dropped,
                        c.target_key,
                        c.target_records,
                        c.target_bytes as f64 / 1024.0,
                        if c.target_written { "" } else { ", already there" },
                        c.sources_removed
                    )?;
                }
                if done.is_empty() {
                    writeln!(w, "nothing to compact")?;
                }
                Ok(())
            }
        }
    }
}

fn write_table(c: &TableCompacted, w: &mut dyn Write) -> std::io::Result<()> {
    for p in &c.partitions {
        writeln!(
            w,
            "{}: {} files, {} ticks, {:.1} KiB -> 1 file, {:.1} KiB",
            p.partition,
            p.files,
            p.records,
            p.bytes_before as f64 / 1024.0,
            p.bytes_after as f64 / 1024.0
        )?;
    }
    match c.snapshot {
        Some(id) => writeln!(
            w,
            "{}: {} data files -> {} ({} ticks) in replace snapshot {id}{}",
            c.table,
            c.files_before,
            c.files_after,
            c.records,
            if c.conflicts > 0 {
                format!(", committed again after {} sink commits", c.conflicts)
            } else {
                String::new()
            }
        )?,
        None => writeln!(
            w,
            "{}: nothing to rewrite ({} data files, none sharing a partition with enough others)",
            c.table, c.files_before
        )?,
    }
    writeln!(
        w,
        "{} snapshots expired, {} files no snapshot holds removed",
        c.snapshots_expired, c.files_removed
    )
}
