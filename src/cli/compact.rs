//! `tickbench compact`: one sorted Parquet object per time partition.

use super::exit;
use std::path::PathBuf;

use super::{Signals, Targets};
use crate::commands::compact::command::Request;

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
    /// Iceberg: rewrite a table partition only when it holds at least this many data files.
    #[arg(long, default_value_t = 2, value_name = "N")]
    pub min_files: usize,
    /// Iceberg: keep the snapshots before the compaction (and the files they hold); by default
    /// they are expired and the files only they held are removed.
    #[arg(long)]
    pub keep_snapshots: bool,
    #[command(flatten)]
    pub targets: Targets,
}

pub async fn execute(
    args: Args,
    _signals: &Signals,
    stdout: &mut (dyn std::io::Write + Send),
) -> anyhow::Result<u8> {
    let req = Request {
        source: args.source,
        partitions: args.partition,
        target_prefix: args.target_prefix,
        min_files: args.min_files,
        keep_snapshots: args.keep_snapshots,
        overrides: args.targets.overrides(),
    };
    let done = crate::commands::compact::command::compact(&req).await?;
    done.write_text(stdout)?;
    Ok(exit::PASSED)
}
