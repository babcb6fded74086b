//! `tickbench compact` on an Iceberg table: what Athena's `OPTIMIZE ... REWRITE DATA USING
//! BIN_PACK` and `VACUUM` do. Each table partition holding at least `min_files` data files is
//! rewritten into one Parquet file (zstd, sorted by symbol then time) in a single `replace`
//! snapshot, so readers see either every old file or the new ones, never both. The snapshots
//! before it are then expired and the files only they referenced are removed.
//!
//! Rows are neither added nor dropped (a duplicate in a table is the sink's defect, for the
//! audit to find, not for compaction to hide); each new file is read back with every row before
//! it is committed.

use std::collections::HashSet;

use anyhow::{bail, Context};
use aws_sdk_s3::Client;

use super::{decode, delete, encode, get, put, read_back, sort_ticks};
use crate::io::iceberg::rewrite::{self, Live};
use crate::io::iceberg::{storage, Lake};
use crate::model::format::Format;
use crate::model::table;

/// How to compact.
#[derive(Debug, Clone)]
pub struct Options {
    /// Rewrite a partition only when it holds at least this many data files.
    pub min_files: usize,
    /// Expire the snapshots before the compaction's and remove the files only they held.
    pub expire: bool,
}

/// What compacting the table did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TableCompacted {
    pub table: String,
    /// Data files in the current snapshot, before and after.
    pub files_before: usize,
    pub files_after: usize,
    pub records: u64,
    /// One line per rewritten partition: its path, files in, rows, bytes out.
    pub partitions: Vec<PartitionRewrite>,
    /// The replace snapshot; None when no partition had enough files.
    pub snapshot: Option<i64>,
    /// Times a sink committed while the snapshot was being committed (built again each time).
    pub conflicts: u32,
    pub snapshots_expired: usize,
    pub files_removed: usize,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PartitionRewrite {
    pub partition: String,
    pub files: usize,
    pub records: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub path: String,
}

/// Compacts `lake` (its files are read and written with `client`).
pub async fn compact(
    lake: &Lake,
    client: &Client,
    opts: &Options,
) -> anyhow::Result<TableCompacted> {
    let t = lake.table().await?;
    let live = rewrite::live(&t).await?;
    let mut out = TableCompacted {
        table: lake.name(),
        files_before: live.len(),
        files_after: live.len(),
        records: live.iter().map(|l| l.file.record_count()).sum(),
        partitions: Vec::new(),
        snapshot: None,
        conflicts: 0,
        snapshots_expired: 0,
        files_removed: 0,
    };
    let mut groups: Vec<Vec<&Live>> = rewrite::by_partition(&live)
        .into_values()
        .filter(|g| g.len() >= opts.min_files.max(2))
        .collect();
    groups.sort_by(|a, b| a[0].file.file_path().cmp(b[0].file.file_path()));
    let mut removed = HashSet::new();
    let mut added = Vec::new();
    for g in &groups {
        let (file, line) = rewrite_partition(lake, client, g).await?;
        removed.extend(g.iter().map(|l| l.file.file_path().to_string()));
        added.push(file);
        out.partitions.push(line);
    }
    if !added.is_empty() {
        out.files_after = live.len() - removed.len() + added.len();
        let done = lake.replace(&removed, added).await?;
        out.snapshot = Some(done.snapshot);
        out.conflicts = done.conflicts;
    }
    if opts.expire {
        let keep = match out.snapshot {
            Some(s) => Some(s),
            None => t.metadata().current_snapshot_id(),
        };
        if let Some(keep) = keep {
            let expired = lake.expire_before(keep).await?;
            out.snapshots_expired = expired.len();
            for path in lake.unreferenced(&expired).await? {
                let (bucket, key) = storage::split(&path)?;
                delete(client, bucket, key).await?;
                out.files_removed += 1;
            }
        }
    }
    Ok(out)
}

/// Reads a partition's files, writes them as one sorted file beside them and reads it back.
async fn rewrite_partition(
    lake: &Lake,
    client: &Client,
    files: &[&Live],
) -> anyhow::Result<(iceberg::spec::DataFile, PartitionRewrite)> {
    let mut ticks = Vec::new();
    let mut bytes_before = 0;
    let expected: u64 = files.iter().map(|l| l.file.record_count()).sum();
    for l in files {
        let path = l.file.file_path();
        let (bucket, key) = storage::split(path)?;
        let body = get(client, bucket, key)
            .await?
            .with_context(|| format!("{path}: in the table's snapshot but not in S3"))?;
        bytes_before += body.len() as u64;
        decode(key, &body, &mut ticks)?;
    }
    if ticks.len() as u64 != expected {
        bail!(
            "{}: its files hold {} rows, their manifests say {expected}; the partition is left alone",
            lake.name(),
            ticks.len()
        );
    }
    sort_ticks(&mut ticks);
    let body = encode(&ticks, Format::Iceberg)?;
    let first = files[0].file.file_path();
    let dir = &first[..first.rfind('/').unwrap_or(0)];
    let path = format!(
        "{dir}/compacted-{:032x}.zstd.parquet",
        rand::random::<u128>()
    );
    let (bucket, key) = storage::split(&path)?;
    put(client, bucket, key, body, Format::Iceberg).await?;
    let (bytes_after, check) = read_back(client, bucket, key).await?;
    if check.len() != ticks.len() {
        bail!(
            "{path} holds {} rows, not the {} of the files it replaces; nothing is committed",
            check.len(),
            ticks.len()
        );
    }
    let partition = files[0].file.partition().clone();
    let file = table::data_file(
        path.clone(),
        ticks.len() as u64,
        bytes_after,
        partition,
        lake.spec_id,
    );
    let line = PartitionRewrite {
        partition: dir.rsplit("/data/").next().unwrap_or(dir).to_string(),
        files: files.len(),
        records: ticks.len() as u64,
        bytes_before,
        bytes_after,
        path,
    };
    Ok((file, line))
}
