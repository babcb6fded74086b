//! `tickbench compact`: one sorted Parquet object per time partition.

use super::exit;
use std::path::PathBuf;

use anyhow::Context;

use super::{Signals, Targets};
use crate::config;
use crate::results::RunDir;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A run's results folder (its S3, the embedded one served again), or a scenario file.
    pub source: PathBuf,
    /// Only this time partition (dt=YYYY-MM-DD/hour=HH), repeatable; default all.
    #[arg(long)]
    pub partition: Vec<String>,
    /// Prefix of the compacted objects (default `<s3.prefix>-compacted`).
    #[arg(long)]
    pub target_prefix: Option<String>,
    #[command(flatten)]
    pub targets: Targets,
}

pub async fn execute(args: Args, _signals: &Signals) -> anyhow::Result<u8> {
    let Args {
        source,
        partition,
        target_prefix,
        targets,
    } = args;
    let (s, store) = if source.is_dir() {
        let s = targets.apply(RunDir::open(&source).scenario()?, &source)?;
        let store =
            crate::commands::store::RunStore::open(&source, targets.s3_endpoint.as_deref()).await?;
        (s, store)
    } else {
        let s = targets.apply(config::load(&source)?, &source)?;
        anyhow::ensure!(
            !s.s3.is_embedded(),
            "{}: name the S3 to compact in (s3.endpoint / s3.bucket, or --s3-endpoint / --bucket); a run folder of the embedded default works too",
            source.display()
        );
        let client = crate::io::connect::s3_client(&s.s3, None).await;
        (
            s,
            crate::commands::store::RunStore {
                client,
                server: None,
            },
        )
    };
    let target =
        target_prefix.unwrap_or_else(|| format!("{}-compacted", s.s3.prefix.trim_end_matches('/')));
    anyhow::ensure!(
        target.trim_end_matches('/') != s.s3.prefix.trim_end_matches('/'),
        "--target-prefix {target:?}: must differ from the sink's prefix"
    );
    let res = crate::commands::compact::compact(
        &crate::commands::compact::Source {
            client: &store.client,
            bucket: s.s3.bucket_name(),
            prefix: &s.s3.prefix,
            topic: &s.kafka.topic,
            target_prefix: &target,
        },
        &partition,
    )
    .await;
    store.close().await;
    let done = res.with_context(|| format!("compacting {}", source.display()))?;
    for c in &done {
        println!(
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
        );
    }
    if done.is_empty() {
        println!("nothing to compact");
    }
    Ok(exit::PASSED)
}
