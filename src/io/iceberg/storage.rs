//! Iceberg's file I/O over tickbench's own S3 client: table metadata, manifests and manifest lists
//! go to the same endpoint, with the same credentials and request settings, as the data files
//! the sink uploads (iceberg-rust leaves storage pluggable; its own S3 backend would bring a
//! second HTTP stack and a second credentials chain).

use std::ops::Range;
use std::sync::Arc;

use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use iceberg::io::{
    FileMetadata, FileRead, FileWrite, InputFile, OutputFile, Storage, StorageConfig,
    StorageFactory,
};
use iceberg::{Error, ErrorKind, Result};

/// `s3://bucket/key` (or `s3a://`) as bucket and key.
pub fn split(path: &str) -> Result<(&str, &str)> {
    let rest = path
        .strip_prefix("s3://")
        .or_else(|| path.strip_prefix("s3a://"))
        .ok_or_else(|| {
            Error::new(
                ErrorKind::DataInvalid,
                format!("{path}: tickbench's Iceberg storage reads s3:// locations only"),
            )
        })?;
    rest.split_once('/').ok_or_else(|| {
        Error::new(
            ErrorKind::DataInvalid,
            format!("{path}: no key after the bucket"),
        )
    })
}

fn s3_err(op: &str, path: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    let kind = ErrorKind::Unexpected;
    Error::new(
        kind,
        format!("S3 {op} of {path}: {}", DisplayErrorContext(&e)),
    )
}

/// The requests the table's own files cost (metadata JSON, manifest lists, manifests; reads of
/// data files by the audit or compaction too): what a table adds to the data files' requests.
#[derive(Debug, Default)]
pub struct TableIo {
    /// PutObject (PUT class).
    pub puts: std::sync::atomic::AtomicU64,
    /// GetObject and HeadObject (GET class).
    pub gets: std::sync::atomic::AtomicU64,
}

impl TableIo {
    fn put(&self) {
        self.puts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    fn get(&self) {
        self.gets.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    /// (puts, gets) so far.
    pub fn counts(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.puts.load(Relaxed), self.gets.load(Relaxed))
    }
}

/// Iceberg storage on an S3 client. Not serializable: it is never sent to another process.
#[derive(Clone)]
pub struct S3Storage {
    client: Client,
    io: Arc<TableIo>,
}

impl std::fmt::Debug for S3Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("S3Storage")
    }
}

impl S3Storage {
    pub fn new(client: Client, io: Arc<TableIo>) -> S3Storage {
        S3Storage { client, io }
    }
}

/// typetag wants storage serializable (for engines that ship a table's I/O to workers); this one
/// holds a live client, so it writes nothing and cannot be read back.
macro_rules! not_serialized {
    ($t:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(
                &self,
                s: S,
            ) -> std::result::Result<S::Ok, S::Error> {
                s.serialize_unit()
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(_: D) -> std::result::Result<$t, D::Error> {
                Err(serde::de::Error::custom(concat!(
                    stringify!($t),
                    " holds a live S3 client and is not deserialized"
                )))
            }
        }
    };
}
not_serialized!(S3Storage);
not_serialized!(S3StorageFactory);

#[async_trait::async_trait]
#[typetag::serde]
impl Storage for S3Storage {
    async fn exists(&self, path: &str) -> Result<bool> {
        let (bucket, key) = split(path)?;
        self.io.get();
        match self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(false),
            Err(e) => Err(s3_err("HeadObject", path, e)),
        }
    }

    async fn metadata(&self, path: &str) -> Result<FileMetadata> {
        let (bucket, key) = split(path)?;
        self.io.get();
        let head = self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| s3_err("HeadObject", path, e))?;
        Ok(FileMetadata {
            size: head.content_length().unwrap_or(0).max(0) as u64,
        })
    }

    async fn read(&self, path: &str) -> Result<Bytes> {
        self.io.get();
        get(&self.client, path, None).await
    }

    async fn reader(&self, path: &str) -> Result<Box<dyn FileRead>> {
        Ok(Box::new(Reader {
            client: self.client.clone(),
            path: path.to_string(),
            io: self.io.clone(),
        }))
    }

    async fn write(&self, path: &str, bs: Bytes) -> Result<()> {
        let (bucket, key) = split(path)?;
        self.io.put();
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(bs))
            .send()
            .await
            .map_err(|e| s3_err("PutObject", path, e))?;
        Ok(())
    }

    async fn writer(&self, path: &str) -> Result<Box<dyn FileWrite>> {
        Ok(Box::new(Writer {
            storage: self.clone(),
            path: path.to_string(),
            buf: Vec::new(),
            closed: false,
        }))
    }

    async fn delete(&self, path: &str) -> Result<()> {
        let (bucket, key) = split(path)?;
        self.client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| s3_err("DeleteObject", path, e))?;
        Ok(())
    }

    async fn delete_prefix(&self, path: &str) -> Result<()> {
        let (bucket, prefix) = split(path)?;
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| s3_err("ListObjectsV2", path, e))?;
            for o in page.contents() {
                if let Some(k) = o.key() {
                    self.delete(&format!("s3://{bucket}/{k}")).await?;
                }
            }
        }
        Ok(())
    }

    async fn delete_stream(&self, mut paths: BoxStream<'static, String>) -> Result<()> {
        while let Some(p) = paths.next().await {
            self.delete(&p).await?;
        }
        Ok(())
    }

    fn new_input(&self, path: &str) -> Result<InputFile> {
        Ok(InputFile::new(Arc::new(self.clone()), path.to_string()))
    }

    fn new_output(&self, path: &str) -> Result<OutputFile> {
        Ok(OutputFile::new(Arc::new(self.clone()), path.to_string()))
    }
}

async fn get(client: &Client, path: &str, range: Option<Range<u64>>) -> Result<Bytes> {
    let (bucket, key) = split(path)?;
    if range.as_ref().is_some_and(|r| r.is_empty()) {
        return Ok(Bytes::new());
    }
    let obj = client
        .get_object()
        .bucket(bucket)
        .key(key)
        .set_range(range.map(|r| format!("bytes={}-{}", r.start, r.end - 1)))
        .send()
        .await
        .map_err(|e| s3_err("GetObject", path, e))?;
    Ok(obj
        .body
        .collect()
        .await
        .map_err(|e| s3_err("GetObject", path, e))?
        .into_bytes())
}

/// Ranged GETs: Parquet readers ask for the footer first, then the column chunks they need.
struct Reader {
    client: Client,
    path: String,
    io: Arc<TableIo>,
}

#[async_trait::async_trait]
impl FileRead for Reader {
    async fn read(&self, range: Range<u64>) -> Result<Bytes> {
        self.io.get();
        get(&self.client, &self.path, Some(range)).await
    }
}

/// Metadata files (JSON, Avro manifests) are small: held, then one PutObject on close.
struct Writer {
    storage: S3Storage,
    path: String,
    buf: Vec<u8>,
    closed: bool,
}

#[async_trait::async_trait]
impl FileWrite for Writer {
    async fn write(&mut self, bs: Bytes) -> Result<()> {
        self.buf.extend_from_slice(&bs);
        Ok(())
    }

    async fn close(&mut self) -> Result<()> {
        if std::mem::replace(&mut self.closed, true) {
            return Err(Error::new(
                ErrorKind::Unexpected,
                format!("{} was already closed", self.path),
            ));
        }
        let body = Bytes::from(std::mem::take(&mut self.buf));
        self.storage.write(&self.path, body).await
    }
}

/// Builds [`S3Storage`] for the catalog, whatever its configuration says: the client is already
/// configured.
#[derive(Clone)]
pub struct S3StorageFactory {
    pub client: Client,
    pub io: Arc<TableIo>,
}

impl std::fmt::Debug for S3StorageFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("S3StorageFactory")
    }
}

#[typetag::serde]
impl StorageFactory for S3StorageFactory {
    fn build(&self, _config: &StorageConfig) -> Result<Arc<dyn Storage>> {
        Ok(Arc::new(S3Storage::new(
            self.client.clone(),
            self.io.clone(),
        )))
    }
}
