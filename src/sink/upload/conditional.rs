//! Conditional writes (`If-None-Match: *` on PutObject and CompleteMultipartUpload): of two sinks
//! writing one batch's key (a zombie and its successor, a restarted sink and the killed one), the
//! second is refused, reads back what the first wrote, and the sink goes on from where it ends.

use std::sync::atomic::Ordering;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use super::{ClosedBatch, Failed, Landed, UploadError, Uploader};
use crate::metrics::now_ns;

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

    /// The records of the object at `key`, read back: what a refused conditional write found.
    async fn records_in(&self, key: &str) -> Result<u64, UploadError> {
        let failed = |message: String, transient: bool| UploadError {
            op: "GetObject",
            bucket: self.bucket.to_string(),
            key: key.to_string(),
            message,
            transient,
            exists: None,
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
                exists: Some(n),
                transient: true,
                ..self.err(op, key, e)
            },
            Err(read) => read,
        }
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
    ) -> Result<Landed, Failed> {
        if error.exists == Some(batch.records) {
            return Ok(self.landed(key, batch, parts, now_ns()));
        }
        Err(Failed {
            id: batch.id,
            last_offset: Some(batch.last_offset),
            error,
        })
    }
}
