//! `--results-to s3://bucket/prefix/`: a results folder copied to S3 when its command is done, so
//! that workers in pods that go away leave their folders behind, and `tickbench merge
//! s3://bucket/prefix/` reads them all back.

use std::path::{Path, PathBuf};

use anyhow::Context;
use aws_sdk_s3::Client;

use crate::config;
use crate::io::connect;

/// Where folders go: `s3://bucket/prefix/`, each folder under `prefix/<folder name>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Folder {
    pub bucket: String,
    /// Without a trailing '/'; may be empty.
    pub prefix: String,
}

impl S3Folder {
    /// `s3://bucket` or `s3://bucket/prefix/`.
    pub fn parse(text: &str) -> Result<S3Folder, String> {
        let rest = text.strip_prefix("s3://").ok_or_else(|| {
            format!("{text:?}: expected s3://bucket/prefix/ (for example s3://my-bucket/tickbench/soak-1/)")
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("{text:?}: no bucket after s3://"));
        }
        Ok(S3Folder {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
        })
    }

    fn key(&self, rel: &str) -> String {
        if self.prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.prefix)
        }
    }
}

impl std::fmt::Display for S3Folder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key(""))
    }
}

/// The client for results: the scenario's S3 settings (endpoint, region, profile, the AWS
/// chain), or `endpoint` instead of its endpoint.
pub async fn client(s3: &config::S3, endpoint: Option<&str>) -> Client {
    let mut s3 = s3.clone();
    if let Some(e) = endpoint {
        s3.endpoint = Some(e.to_string());
    }
    connect::s3_client(&s3, None).await
}

/// Copies the folder `dir` (every file in it, at any depth) to `<to>/<dir's name>/`; returns the
/// S3 location and how many files went.
pub async fn upload(client: &Client, dir: &Path, to: &S3Folder) -> anyhow::Result<(String, u64)> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{}: no folder name", dir.display()))?;
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    for f in &files {
        let rel = f.strip_prefix(dir)?.to_string_lossy().replace('\\', "/");
        let key = to.key(&format!("{name}/{rel}"));
        let body = aws_sdk_s3::primitives::ByteStream::from_path(f)
            .await
            .with_context(|| format!("reading {}", f.display()))?;
        client
            .put_object()
            .bucket(&to.bucket)
            .key(&key)
            .body(body)
            .send()
            .await
            .with_context(|| format!("uploading {} to s3://{}/{key}", f.display(), to.bucket))?;
    }
    Ok((format!("{to}{name}/"), files.len() as u64))
}

/// Copies every folder under `from` into `into` (as `<into>/<folder name>/...`) and returns the
/// folders, each a results folder (one with a manifest.json).
pub async fn download(
    client: &Client,
    from: &S3Folder,
    into: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let prefix = to_dir_prefix(&from.prefix);
    let mut keys = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(&from.bucket)
        .prefix(&prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.with_context(|| format!("listing {from}"))?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_string)),
        );
    }
    let mut folders = std::collections::BTreeSet::new();
    for key in &keys {
        let rel = &key[prefix.len()..];
        // Only keys inside a folder; a stray object beside them is not a results folder.
        let Some((folder, _)) = rel.split_once('/') else {
            continue;
        };
        anyhow::ensure!(
            !rel.split('/')
                .any(|p| p.is_empty() || p == "." || p == ".."),
            "{from}: the key {key} is not a plain path"
        );
        let path = into.join(rel);
        std::fs::create_dir_all(path.parent().expect("a file in a folder"))?;
        let obj = client
            .get_object()
            .bucket(&from.bucket)
            .key(key)
            .send()
            .await
            .with_context(|| format!("reading s3://{}/{key}", from.bucket))?;
        let bytes = obj.body.collect().await?.into_bytes();
        std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
        folders.insert(folder.to_string());
    }
    let found: Vec<PathBuf> = folders
        .into_iter()
        .map(|f| into.join(f))
        .filter(|d| d.join(crate::results::files::MANIFEST).is_file())
        .collect();
    anyhow::ensure!(!found.is_empty(), "{from}: no results folder under it");
    Ok(found)
}

fn to_dir_prefix(prefix: &str) -> String {
    if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for e in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let p = e?.path();
        if p.is_dir() {
            walk(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_folders_parse_with_or_without_a_prefix() {
        let f = S3Folder::parse("s3://b/tickbench/soak-1/").unwrap();
        assert_eq!(
            (f.bucket.as_str(), f.prefix.as_str()),
            ("b", "tickbench/soak-1")
        );
        assert_eq!(f.to_string(), "s3://b/tickbench/soak-1/");
        assert_eq!(f.key("x/y"), "tickbench/soak-1/x/y");
        let f = S3Folder::parse("s3://b").unwrap();
        assert_eq!(f.to_string(), "s3://b/");
        assert!(S3Folder::parse("/tmp/x")
            .unwrap_err()
            .contains("expected s3://"));
        assert!(S3Folder::parse("s3:///x").is_err());
    }
}
