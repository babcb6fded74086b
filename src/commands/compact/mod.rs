//! `tickbench compact`: the Glue ETL step. Rewrites each time partition's many small objects into
//! one Parquet object (zstd) sorted by symbol and time, under a prefix of its own, and removes the
//! sources only once the target is durable and read back with every record.
//!
//! Deterministic: the same ticks make the same bytes. Idempotent: a second run finds the target
//! holding every tick of the sources left (a run interrupted before it removed them all) and only
//! removes them; ticks that arrived since are merged in. A tick is identified by (symbol, seq).

use std::collections::BTreeMap;

use anyhow::{bail, Context};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use futures::{StreamExt, TryStreamExt};

use crate::model::format::{decode_object, Compression, Encoding, Format};
use crate::model::layout::{parse_object_name, topic_prefix};
use crate::model::tick::Tick;

pub mod command;
pub mod table;

/// Where the landed objects are, and where compacted ones go.
pub struct Source<'a> {
    pub client: &'a Client,
    pub bucket: &'a str,
    pub prefix: &'a str,
    pub topic: &'a str,
    /// Prefix of the compacted objects (default `<prefix>-compacted`).
    pub target_prefix: &'a str,
}

/// What compaction did to one time partition.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Compacted {
    /// `dt=YYYY-MM-DD/hour=HH`
    pub partition: String,
    pub sources: usize,
    /// Ticks in the sources (and the target, if there was one), before duplicates were dropped.
    pub records_read: u64,
    /// The same tick more than once (a source repeating the target, or a sink's duplicate).
    pub duplicates_dropped: u64,
    pub target_key: String,
    pub target_records: u64,
    pub target_bytes: u64,
    /// False when the target already held every tick and was left as it was.
    pub target_written: bool,
    pub sources_removed: usize,
}

/// The name of a partition's compacted object.
pub const TARGET_NAME: &str = "compacted.zstd.parquet";

/// The time partition of a key under `base` (`dt=.../hour=...`, without `symbol=`), if it is a
/// tick object of `topic`.
fn partition_of(key: &str, base: &str, topic: &str) -> Option<String> {
    let rest = key.strip_prefix(base)?;
    let (dir, _) = rest.rsplit_once('/')?;
    let (t, _, _) = parse_object_name(key)?;
    if t != topic {
        return None;
    }
    let time: Vec<&str> = dir
        .split('/')
        .filter(|s| s.starts_with("dt=") || s.starts_with("hour=") || s.starts_with("minute="))
        .collect();
    (!time.is_empty()).then(|| time.join("/"))
}

async fn list(client: &Client, bucket: &str, prefix: &str) -> anyhow::Result<Vec<String>> {
    let mut keys = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            anyhow::anyhow!(
                "listing s3://{bucket}/{prefix}: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            )
        })?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(String::from)),
        );
    }
    Ok(keys)
}

pub(crate) async fn get(
    client: &Client,
    bucket: &str,
    key: &str,
) -> anyhow::Result<Option<Vec<u8>>> {
    match client.get_object().bucket(bucket).key(key).send().await {
        Ok(o) => Ok(Some(
            o.body
                .collect()
                .await
                .with_context(|| format!("reading s3://{bucket}/{key}"))?
                .to_vec(),
        )),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
        Err(e) => Err(anyhow::anyhow!(
            "reading s3://{bucket}/{key}: {}",
            aws_sdk_s3::error::DisplayErrorContext(e)
        )),
    }
}

pub(crate) fn decode(key: &str, bytes: &[u8], out: &mut Vec<Tick>) -> anyhow::Result<()> {
    let mut bad = 0;
    decode_object(key, bytes, |t| match t {
        Some(t) => out.push(t),
        None => bad += 1,
    })?;
    if bad > 0 {
        bail!("{key}: {bad} records are not ticks; compaction leaves this partition alone");
    }
    Ok(())
}

/// Writes `body`, zstd Parquet of `format`, at `key`.
pub(crate) async fn put(
    client: &Client,
    bucket: &str,
    key: &str,
    body: Vec<u8>,
    format: Format,
) -> anyhow::Result<()> {
    client
        .put_object()
        .bucket(bucket)
        .key(key)
        .content_type(Encoding::new(format, Compression::Zstd).content_type())
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "writing s3://{bucket}/{key}: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            )
        })?;
    Ok(())
}

/// What S3 holds at `key` now, just written: its size and its ticks.
pub(crate) async fn read_back(
    client: &Client,
    bucket: &str,
    key: &str,
) -> anyhow::Result<(u64, Vec<Tick>)> {
    let back = get(client, bucket, key)
        .await?
        .with_context(|| format!("s3://{bucket}/{key} is missing after writing it"))?;
    let mut ticks = Vec::new();
    decode(key, &back, &mut ticks)?;
    Ok((back.len() as u64, ticks))
}

pub(crate) async fn delete(client: &Client, bucket: &str, key: &str) -> anyhow::Result<()> {
    client
        .delete_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "removing s3://{bucket}/{key}: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            )
        })?;
    Ok(())
}

/// Sorted by symbol, then time, then seq: the order of compacted files.
pub(crate) fn sort_ticks(ticks: &mut [Tick]) {
    ticks.sort_by(|a, b| {
        (a.symbol.as_str(), a.ts_ns, a.seq).cmp(&(b.symbol.as_str(), b.ts_ns, b.seq))
    });
}

/// Sorted by symbol, then time; one tick per (symbol, seq). Returns how many were dropped.
fn sort_and_dedup(ticks: &mut Vec<Tick>) -> u64 {
    sort_ticks(ticks);
    let before = ticks.len();
    let mut seen = std::collections::HashSet::with_capacity(before);
    ticks.retain(|t| seen.insert((t.symbol.clone(), t.seq)));
    (before - ticks.len()) as u64
}

/// Parquet, zstd: `Format::Parquet`, or `Format::Iceberg` (the table's columns, with field ids).
pub(crate) fn encode(ticks: &[Tick], format: Format) -> anyhow::Result<Vec<u8>> {
    let enc = Encoding::new(format, Compression::Zstd);
    let mut w = crate::model::format::writer(&enc);
    let mut json = Vec::with_capacity(160);
    for t in ticks {
        json.clear();
        t.encode_json(&mut json);
        w.stage(t, &json);
        w.commit();
    }
    Ok(w.finish()?)
}

/// Compacts the time partitions named in `only` (all of them when empty), in key order.
pub async fn compact(src: &Source<'_>, only: &[String]) -> anyhow::Result<Vec<Compacted>> {
    let base = topic_prefix(src.prefix, src.topic);
    let mut partitions: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for key in list(src.client, src.bucket, &base).await? {
        if let Some(p) = partition_of(&key, &base, src.topic) {
            partitions.entry(p).or_default().push(key);
        }
    }
    for p in only {
        if !partitions.contains_key(p) {
            let known: Vec<&String> = partitions.keys().collect();
            bail!("no objects in partition {p:?} of s3://{}/{base}; partitions with objects: {known:?}", src.bucket);
        }
    }
    let target_base = topic_prefix(src.target_prefix, src.topic);
    let mut out = Vec::new();
    for (partition, keys) in partitions {
        if !only.is_empty() && !only.contains(&partition) {
            continue;
        }
        let target_key = format!("{target_base}{partition}/{TARGET_NAME}");
        out.push(compact_one(src, &partition, &keys, &target_key).await?);
    }
    Ok(out)
}

async fn compact_one(
    src: &Source<'_>,
    partition: &str,
    keys: &[String],
    target_key: &str,
) -> anyhow::Result<Compacted> {
    let (client, bucket) = (src.client, src.bucket);
    let existing = get(client, bucket, target_key).await?;
    let mut target_ticks = Vec::new();
    if let Some(bytes) = &existing {
        decode(target_key, bytes, &mut target_ticks)?;
    }
    let bodies: Vec<(String, Vec<u8>)> = futures::stream::iter(keys.iter().map(|k| async move {
        let b = get(client, bucket, k)
            .await?
            .with_context(|| format!("s3://{bucket}/{k} disappeared while compacting"))?;
        anyhow::Ok((k.clone(), b))
    }))
    .buffered(16)
    .try_collect()
    .await?;
    let mut ticks = target_ticks.clone();
    for (k, b) in &bodies {
        decode(k, b, &mut ticks)?;
    }
    let records_read = ticks.len() as u64;
    let duplicates_dropped = sort_and_dedup(&mut ticks);
    // The target already holds every tick: leave it (same bytes), only remove the sources.
    let written = ticks.len() != target_ticks.len();
    let bytes = if written {
        let body = encode(&ticks, Format::Parquet)?;
        let len = body.len();
        put(client, bucket, target_key, body, Format::Parquet).await?;
        len as u64
    } else {
        existing.as_ref().map(|b| b.len() as u64).unwrap_or(0)
    };
    // Read back what S3 holds now: the sources go only if every tick is there.
    let (_, check) = read_back(client, bucket, target_key).await?;
    let same = check.len() == ticks.len()
        && check
            .iter()
            .zip(&ticks)
            .all(|(a, b)| a.symbol == b.symbol && a.seq == b.seq);
    if !same {
        bail!(
            "s3://{bucket}/{target_key} holds {} ticks, not the {} of the sources; the sources are kept",
            check.len(),
            ticks.len()
        );
    }
    let mut removed = 0;
    for k in keys {
        delete(client, bucket, k).await?;
        removed += 1;
    }
    Ok(Compacted {
        partition: partition.to_string(),
        sources: keys.len(),
        records_read,
        duplicates_dropped,
        target_key: target_key.to_string(),
        target_records: check.len() as u64,
        target_bytes: bytes,
        target_written: written,
        sources_removed: removed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_the_time_folders_of_tick_objects() {
        let base = "tb/ticks/";
        assert_eq!(
            partition_of(
                "tb/ticks/dt=2026-11-22/hour=20/ticks+0+00000000000000000042.jsonl",
                base,
                "ticks"
            )
            .as_deref(),
            Some("dt=2026-11-22/hour=20")
        );
        assert_eq!(
            partition_of(
                "tb/ticks/dt=2026-11-22/hour=20/symbol=AAPL/ticks+0+00000000000000000042.jsonl.gz",
                base,
                "ticks"
            )
            .as_deref(),
            Some("dt=2026-11-22/hour=20")
        );
        assert_eq!(partition_of("tb/ticks/notes.txt", base, "ticks"), None);
    }

    #[test]
    fn sorting_is_by_symbol_then_time_and_drops_repeats() {
        let t = |s: &str, seq, ts| Tick {
            symbol: s.into(),
            seq,
            ts_ns: ts,
            price: 1.0,
            bid: 1.0,
            ask: 1.0,
            size: 1,
        };
        let mut v = vec![t("B", 0, 5), t("A", 1, 9), t("A", 0, 3), t("B", 0, 5)];
        assert_eq!(sort_and_dedup(&mut v), 1);
        let order: Vec<(&str, u64)> = v.iter().map(|t| (t.symbol.as_str(), t.seq)).collect();
        assert_eq!(order, [("A", 0), ("A", 1), ("B", 0)]);
        // The same ticks make the same bytes.
        assert_eq!(
            encode(&v, Format::Parquet).unwrap(),
            encode(&v, Format::Parquet).unwrap()
        );
    }
}
