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

pub async fn execute(args: Args, _signals: &Signals) -> anyhow::Result<u8> {
    let Args {
        source,
        partition,
        target_prefix,
        min_files,
        keep_snapshots,
        targets,
    } = args;
    let (s, store) = if source.is_dir() {
        let s = config::override_and_validate(
            RunDir::open(&source).scenario()?,
            &source,
            &targets.overrides(),
        )?;
        let store =
            crate::commands::store::RunStore::open(&source, targets.s3_endpoint.as_deref()).await?;
        (s, store)
    } else {
        let s = config::load_with(&source, &targets.overrides())?;
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
    if s.sink.format == crate::model::format::Format::Iceberg {
        anyhow::ensure!(
            partition.is_empty() && target_prefix.is_none(),
            "{}: an Iceberg table is compacted in place, by table partition: --partition and --target-prefix are for plain objects",
            source.display()
        );
        let bucket = if source.is_dir() {
            RunDir::open(&source).manifest()?.s3_bucket
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
        let opts = crate::commands::compact::table::Options {
            min_files,
            expire: !keep_snapshots,
        };
        let res = async {
            let lake = crate::io::iceberg::Lake::open(&spec, store.client.clone()).await?;
            crate::commands::compact::table::compact(&lake, &store.client, &opts).await
        }
        .await;
        store.close().await;
        let done = res.with_context(|| format!("compacting the table of {}", source.display()))?;
        print_table(&done);
        return Ok(exit::PASSED);
    }
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

fn print_table(c: &crate::commands::compact::table::TableCompacted) {
    for p in &c.partitions {
        println!(
            "{}: {} files, {} ticks, {:.1} KiB -> 1 file, {:.1} KiB",
            p.partition,
            p.files,
            p.records,
            p.bytes_before as f64 / 1024.0,
            p.bytes_after as f64 / 1024.0
        );
    }
    match c.snapshot {
        Some(id) => println!(
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
        ),
        None => println!(
            "{}: nothing to rewrite ({} data files, none sharing a partition with enough others)",
            c.table, c.files_before
        ),
    }
    println!(
        "{} snapshots expired, {} files no snapshot holds removed",
        c.snapshots_expired, c.files_removed
    );
}
