//! Fencing a zombie's writes. Conditional writes (`If-None-Match: *` on PutObject and
//! CompleteMultipartUpload): of two sinks writing one batch's key (a zombie and its successor, a
//! restarted sink and the killed one), the second is refused, reads back what the first wrote,
//! and the sink goes on from where it ends. Where the server ignores the condition, a [`Fence`]
//! asks the group before each write instead.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures::future::BoxFuture;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use super::{ClosedBatch, Landed, Refusal, UploadError, UploadGaveUp, Uploader};
use crate::metrics::now_ns;

/// Asked before a tick object of a partition is written: `Err` (why) when the group says this
/// sink may no longer own the partition. The sink's is a synchronous offset commit, which Kafka
/// refuses from a member of an older generation (see `sink::fence`).
pub type Fence = Arc<dyn Fn(i32) -> BoxFuture<'static, Result<(), String>> + Send + Sync>;

impl UploadError {
    /// The records of the object another sink wrote first at this key, if that is why the write
    /// was refused.
    pub fn exists(&self) -> Option<u64> {
        match self.refused {
            Some(Refusal::Exists(n)) => Some(n),
            _ => None,
        }
    }
}

/// Whether a write was refused because its condition failed: the key holds an object already.
fn is_precondition_failed<E>(e: &SdkError<E, HttpResponse>) -> bool {
    matches!(e, SdkError::ServiceError(s) if s.raw().status().as_u16() == 412)
}

impl Uploader {
    /// Writes tick objects only where the key holds none (`If-None-Match: *`).
    pub fn with_conditional_writes(mut self, on: bool) -> Uploader {
        self.conditional = on;
        self
    }

    pub fn conditional_writes(&self) -> bool {
        self.conditional
    }

    /// Asks `fence` before each tick object is written, unless writes are conditional (the
    /// condition fences them, with no window between the check and the write).
    pub fn with_fence(mut self, fence: Fence) -> Uploader {
        if !self.conditional && !self.table_mode {
            self.fence = Some(fence);
        }
        self
    }

    /// The fence's answer for a write of `key`, a tick object of `partition`.
    pub(super) async fn fenced(
        &self,
        op: &'static str,
        key: &str,
        partition: i32,
    ) -> Result<(), UploadError> {
        let Some(fence) = &self.fence else {
            return Ok(());
        };
        fence(partition).await.map_err(|why| {
            self.counts.fence_refused.fetch_add(1, Ordering::Relaxed);
            UploadError {
                op,
                bucket: self.bucket.to_string(),
                key: key.to_string(),
                message: format!(
                    "not written: the group refused this sink's commit of partition {partition} just before ({why}), so another member may own it"
                ),
                transient: true,
                refused: Some(Refusal::Fenced),
            }
        })
    }

    /// The records of the object at `key`, read back: what a refused conditional write found.
    pub(super) async fn records_in(&self, key: &str) -> Result<u64, UploadError> {
        let failed = |message: String, transient: bool| UploadError {
            op: "GetObject",
            bucket: self.bucket.to_string(),
            key: key.to_string(),
            message,
            transient,
            refused: None,
        };
        let obj = self
            .retrying(|| {
                self.client
                    .get_object()
                    .bucket(&*self.bucket)
                    .key(key)
                    .send()
            })
            .await
            .map_err(|e| failed(DisplayErrorContext(e).to_string(), true))?;
        let body = obj
            .body
            .collect()
            .await
            .map_err(|e| failed(e.to_string(), true))?
            .into_bytes();
        // Not something a second reading would change: stop and say so.
        crate::model::format::decode_object(key, &body, |_| {}).map_err(|e| {
            failed(
                format!("an object that is not tickbench's is at this key: {e:#}"),
                false,
            )
        })
    }

    /// The error of a failed write; a refused conditional write says what the object already
    /// there holds.
    pub(super) async fn write_err<E>(
        &self,
        op: &'static str,
        key: &str,
        e: SdkError<E, HttpResponse>,
    ) -> UploadError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        if !(self.conditional && is_precondition_failed(&e)) {
            return self.err(op, key, e);
        }
        self.counts
            .precondition_failed
            .fetch_add(1, Ordering::Relaxed);
        match self.records_in(key).await {
            Ok(n) => UploadError {
                refused: Some(Refusal::Exists(n)),
                transient: true,
                ..self.err(op, key, e)
            },
            Err(read) => read,
        }
    }

    /// Whether the object at `key` is this batch, completed by an earlier attempt whose answer
    /// was lost: it holds as many records as the batch (the key names the batch's first offset),
    /// as a refused conditional write is judged.
    pub(super) async fn completed_already(
        &self,
        key: &str,
        closed: &Option<(ClosedBatch, u32)>,
    ) -> bool {
        let Some((batch, _)) = closed else {
            return false;
        };
        self.records_in(key).await.is_ok_and(|n| n == batch.records)
    }

    /// What a write that did not succeed means for the sink. Refused because the object already
    /// there holds as many records as this batch, it is the same batch, written by another sink
    /// from the same offsets: landed.
    // The done channel's message, once per object: its size does not matter.
    #[allow(clippy::result_large_err)]
    pub(super) fn settle(
        &self,
        key: String,
        error: UploadError,
        batch: &ClosedBatch,
        parts: u32,
    ) -> Result<Landed, UploadGaveUp> {
        if error.refused == Some(Refusal::Exists(batch.records)) {
            return Ok(self.landed(key, batch, parts, now_ns()));
        }
        Err(UploadGaveUp {
            id: batch.id,
            last_offset: Some(batch.last_offset),
            error,
        })
    }
}

/// A CompleteMultipartUpload refused because its upload is no longer there: S3 answers
/// NoSuchUpload once an earlier attempt completed it (s3s-fs answers AccessDenied). Whether that
/// attempt completed this very batch is then read from the object.
pub(super) fn upload_gone<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    matches!(e.code(), Some("NoSuchUpload" | "AccessDenied"))
}
