//! The S3 side of the sink: streaming multipart uploads whose parts go up while the batch is still
//! filling, PutObject for batches smaller than a part, and a global bound on requests in flight
//! (which, with the part size, bounds the sink's memory).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

use super::batcher::{BatchId, ClosedBatch};
use super::journal::Journal;

mod conditional;
use crate::metrics::{now_ns, us_between, Recorders, Stage};
use crate::results::Landed;
pub use conditional::Fence;

/// A request to S3 failed after the SDK's retries.
#[derive(Debug, thiserror::Error)]
#[error("S3 {op} of s3://{bucket}/{key} failed: {message}")]
pub struct UploadError {
    pub op: &'static str,
    pub bucket: String,
    pub key: String,
    pub message: String,
    /// Worth trying again later (5xx, throttling, timeouts, connection errors); false for
    /// answers that will not change (access denied, no such bucket, a request S3 rejects).
    pub transient: bool,
    /// The write was refused because another sink may own, or did write, this batch's key.
    pub refused: Option<Refusal>,
}

/// Why a tick object's write was refused (see `conditional.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The write was conditional and the key already held an object (412 PreconditionFailed):
    /// the records that object holds, read back. Another sink (a zombie, or its successor)
    /// wrote this batch's key first.
    Exists(u64),
    /// Not written: the group refused this sink's commit just before (see [`Fence`]), so it may
    /// no longer own the partition.
    Fenced,
}

/// A batch whose upload gave up: the sink rewinds its partition and reads it again.
#[derive(Debug)]
pub struct UploadGaveUp {
    pub id: BatchId,
    /// The batch's last offset, when it had closed (a streaming upload can fail while its batch
    /// is still open).
    pub last_offset: Option<i64>,
    pub error: UploadError,
}

/// Whether an S3 error may go away if the request is sent again.
fn is_transient<E: ProvideErrorMetadata>(e: &SdkError<E, HttpResponse>) -> bool {
    match e {
        SdkError::ServiceError(s) => {
            let status = s.raw().status().as_u16();
            status >= 500
                || status == 408
                || status == 429
                // S3 answers 400 RequestTimeout when a body arrives too slowly.
                || matches!(s.err().code(), Some("RequestTimeout" | "SlowDown"))
        }
        SdkError::ConstructionFailure(_) => false,
        // Dispatch failures (connection refused or reset), timeouts, unreadable responses.
        _ => true,
    }
}

use crate::metrics::RequestCounts;

impl RequestCounts {
    /// A snapshot of the counters, for the summary.
    pub fn snapshot(&self) -> crate::results::Requests {
        use std::sync::atomic::Ordering::Relaxed;
        crate::results::Requests {
            put_object: self.put_object.load(Relaxed),
            create_multipart_upload: self.create_multipart.load(Relaxed),
            upload_part: self.upload_part.load(Relaxed),
            complete_multipart_upload: self.complete_multipart.load(Relaxed),
            abort_multipart_upload: self.abort_multipart.load(Relaxed),
            retried: self.retried.load(Relaxed),
            precondition_failed: self.precondition_failed.load(Relaxed),
            fence_refused: self.fence_refused.load(Relaxed),
        }
    }
}

/// What flows from the batcher into one streaming upload.
pub enum Chunk {
    Part(Vec<u8>),
    Last(ClosedBatch),
}

pub type Done = mpsc::UnboundedSender<Result<Landed, UploadGaveUp>>;

#[derive(Clone)]
pub struct Uploader {
    client: Client,
    bucket: Arc<str>,
    content_type: &'static str,
    permits: Arc<Semaphore>,
    rec: Arc<Recorders>,
    pub counts: Arc<RequestCounts>,
    /// Bytes handed to the uploader and not yet sent: queued, waiting for a slot, or in flight.
    queued: Arc<AtomicU64>,
    /// How long a request is sent again after the SDK's retries gave up.
    retry_for: std::time::Duration,
    /// Where multipart uploads are noted while open, so a restarted sink can abort what a killed
    /// one left behind.
    journal: Option<Arc<Journal>>,
    /// Send part and object bodies as UNSIGNED-PAYLOAD (see [`unsigned_payload`]).
    unsigned: bool,
    /// Tick objects are written with `If-None-Match: *` (see `s3.conditional_writes`).
    conditional: bool,
    /// Asked before each tick object is written, where writes are not conditional.
    fence: Option<Fence>,
    /// Writes an Iceberg table's data files (see [`Uploader::for_table`]).
    table_mode: bool,
}

/// Whether bodies go unsigned: over TLS (AWS itself, any https endpoint), as the AWS SDKs do for
/// uploads, and to a server on this host's loopback. SigV4 then signs the headers only, not a
/// SHA-256 of every byte; the SDK's CRC32 checksum of the body still goes with it and S3
/// verifies it. Over plain HTTP to another host the payload stays signed: nothing else would
/// protect it on the way.
pub fn unsigned_payload(endpoint_url: Option<&str>) -> bool {
    let Some(u) = endpoint_url.and_then(|e| url::Url::parse(e).ok()) else {
        return endpoint_url.is_none();
    };
    u.scheme() == "https"
        || match u.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(a)) => a.is_loopback(),
            Some(url::Host::Ipv6(a)) => a.is_loopback(),
            None => false,
        }
}

impl Uploader {
    /// One of the `in_flight` request slots, held while a PutObject or an UploadPart is sent.
    async fn permit(&self) -> tokio::sync::OwnedSemaphorePermit {
        self.permits
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore never closes")
    }

    pub fn new(
        client: Client,
        endpoint: Option<&str>,
        bucket: &str,
        in_flight: usize,
        content_type: &'static str,
        retry_for: std::time::Duration,
        rec: Arc<Recorders>,
    ) -> Uploader {
        Uploader {
            unsigned: unsigned_payload(endpoint),
            client,
            bucket: bucket.into(),
            content_type,
            permits: Arc::new(Semaphore::new(in_flight)),
            rec,
            counts: Arc::new(RequestCounts::default()),
            queued: Arc::new(AtomicU64::new(0)),
            retry_for,
            journal: None,
            conditional: false,
            fence: None,
            table_mode: false,
        }
    }

    /// Data files of an Iceberg table: their ticks' intended send times go with each landed file
    /// (for the visible stage), and no generation fence is asked (the table's own offsets fence
    /// a zombie's commit; see `sink/table.rs`).
    /// Counts requests into `counts` (the load's live counters) instead of counters of its own.
    pub fn with_counts(mut self, counts: Arc<RequestCounts>) -> Uploader {
        self.counts = counts;
        self
    }

    pub fn for_table(mut self) -> Uploader {
        self.table_mode = true;
        self.fence = None;
        self
    }

    /// Notes every multipart upload in `journal` from CreateMultipartUpload until it is completed
    /// or aborted.
    pub fn with_journal(mut self, journal: Arc<Journal>) -> Uploader {
        self.journal = Some(journal);
        self
    }

    /// Runs an S3 request again, with backoff from 200 ms to 5 s, for as long as `retry_for`
    /// allows after the SDK's own attempts failed: an S3 outage of seconds delays batches instead
    /// of failing the run. Every request tickbench makes is idempotent (same key, same part
    /// number, same bytes), so sending one again is safe.
    async fn retrying<T, E, F, Fut>(&self, mut f: F) -> Result<T, SdkError<E, HttpResponse>>
    where
        E: ProvideErrorMetadata,
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    {
        let start = std::time::Instant::now();
        let mut backoff = std::time::Duration::from_millis(200);
        loop {
            match f().await {
                Ok(v) => return Ok(v),
                Err(e) if !is_transient(&e) || start.elapsed() + backoff > self.retry_for => {
                    return Err(e)
                }
                Err(_) => {
                    self.counts.retried.fetch_add(1, Ordering::Relaxed);
                    // Equal jitter (half the backoff, plus up to as much again at random): the
                    // uploads that one S3 hiccup failed together do not all come back at once.
                    let half = backoff / 2;
                    tokio::time::sleep(half + half.mul_f64(rand::random::<f64>())).await;
                    backoff = (backoff * 2).min(std::time::Duration::from_secs(5));
                }
            }
        }
    }

    /// Bytes handed over and not yet sent.
    pub fn queued_bytes(&self) -> u64 {
        self.queued.load(Ordering::Relaxed)
    }

    /// Hands a chunk to a streaming upload, waiting while its queue is full (backpressure).
    pub async fn send(&self, tx: &mpsc::Sender<Chunk>, chunk: Chunk) {
        let n = match &chunk {
            Chunk::Part(b) => b.len(),
            Chunk::Last(b) => b.tail.len(),
        } as u64;
        self.queued.fetch_add(n, Ordering::Relaxed);
        if tx.send(chunk).await.is_err() {
            // The upload already failed and reported it; nothing of this chunk is pending.
            self.queued.fetch_sub(n, Ordering::Relaxed);
        }
    }

    fn err<E>(&self, op: &'static str, key: &str, e: SdkError<E, HttpResponse>) -> UploadError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        UploadError {
            op,
            bucket: self.bucket.to_string(),
            key: key.to_string(),
            transient: is_transient(&e),
            message: DisplayErrorContext(e).to_string(),
            refused: None,
        }
    }

    /// Uploads a batch no larger than the multipart threshold as one PutObject, once a request
    /// slot is free (the caller waits for it, so closed batches never pile up in memory).
    pub async fn put(&self, key: String, batch: ClosedBatch, done: Done) {
        self.put_object(key, batch, self.content_type, true, done)
            .await
    }

    /// [`put`](Self::put) with a Content-Type of its own, unconditionally and unfenced (dead
    /// letters are JSON lines whatever the format of the ticks; a second copy of one replaces the
    /// first).
    pub async fn put_as(
        &self,
        key: String,
        batch: ClosedBatch,
        content_type: &'static str,
        done: Done,
    ) {
        self.put_object(key, batch, content_type, false, done).await
    }

    async fn put_object(
        &self,
        key: String,
        mut batch: ClosedBatch,
        content_type: &'static str,
        ticks: bool,
        done: Done,
    ) {
        let n = batch.tail.len() as u64;
        self.queued.fetch_add(n, Ordering::Relaxed);
        let permit = self.permit().await;
        let up = self.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let t0 = now_ns();
            // Bytes: a retry sends the same buffer again without copying it.
            let body = bytes::Bytes::from(std::mem::take(&mut batch.tail));
            let conditional = ticks && up.conditional;
            if ticks {
                if let Err(error) = up.fenced("PutObject", &key, batch.id.partition).await {
                    up.queued.fetch_sub(n, Ordering::Relaxed);
                    let _ = done.send(up.settle(key, error, &batch, 0));
                    return;
                }
            }
            let res = up
                .retrying(|| {
                    up.client
                        .put_object()
                        .bucket(&*up.bucket)
                        .key(&key)
                        .content_type(content_type)
                        .set_if_none_match(conditional.then(|| "*".to_string()))
                        .body(ByteStream::from(body.clone()))
                        .customize()
                        .unsigned_if(up.unsigned)
                        .send()
                })
                .await;
            up.queued.fetch_sub(n, Ordering::Relaxed);
            up.counts.put_object.fetch_add(1, Ordering::Relaxed);
            let _ = done.send(match res {
                Ok(_) => {
                    let t1 = now_ns();
                    up.rec.event(Stage::PartUpload, us_between(t0, t1), t1);
                    Ok(up.landed(key, &batch, 0, t1))
                }
                Err(e) => {
                    let error = up.write_err("PutObject", &key, e).await;
                    up.settle(key, error, &batch, 0)
                }
            });
        });
    }

    /// Starts a multipart upload for a batch whose first part is ready; feed it parts, then `Last`.
    pub fn start_multipart(&self, key: String, id: BatchId, done: Done) -> mpsc::Sender<Chunk> {
        // One chunk of slack: the batcher fills the next part while this one waits for a permit.
        let (tx, rx) = mpsc::channel(1);
        let up = self.clone();
        tokio::spawn(async move {
            let mut closed = None;
            let res = up.multipart(&key, rx, &mut closed).await;
            let _ = done.send(match (res, closed) {
                (Ok(landed), _) => Ok(landed),
                (Err(error), Some((batch, parts))) => up.settle(key, error, &batch, parts),
                (Err(error), None) => Err(UploadGaveUp {
                    id,
                    last_offset: None,
                    error,
                }),
            });
        });
        tx
    }

    async fn multipart(
        &self,
        key: &str,
        mut rx: mpsc::Receiver<Chunk>,
        closed: &mut Option<(ClosedBatch, u32)>,
    ) -> Result<Landed, UploadError> {
        let created = self
            .retrying(|| {
                self.client
                    .create_multipart_upload()
                    .bucket(&*self.bucket)
                    .key(key)
                    .content_type(self.content_type)
                    .send()
            })
            .await
            .map_err(|e| self.err("CreateMultipartUpload", key, e))?;
        self.counts.create_multipart.fetch_add(1, Ordering::Relaxed);
        let upload_id = created.upload_id().unwrap_or_default().to_string();
        if let Some(j) = &self.journal {
            j.started(&self.bucket, key, &upload_id);
        }
        let mut parts = JoinSet::new();
        match self
            .parts_and_complete(key, &upload_id, &mut rx, closed, &mut parts)
            .await
        {
            Ok(landed) => {
                if let Some(j) = &self.journal {
                    j.ended(&upload_id);
                }
                Ok(landed)
            }
            Err(e) => {
                // Leave no orphaned upload behind: its parts would be billed forever. Parts still
                // on their way end first: one landing after the abort would stay (S3's advice is
                // to abort again; s3s-fs cannot).
                while parts.join_next().await.is_some() {}
                let aborted = self
                    .client
                    .abort_multipart_upload()
                    .bucket(&*self.bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .send()
                    .await;
                self.counts.abort_multipart.fetch_add(1, Ordering::Relaxed);
                // One that could not be aborted stays in the journal for the next start.
                if let (Ok(_), Some(j)) = (aborted, &self.journal) {
                    j.ended(&upload_id);
                }
                Err(e)
            }
        }
    }

    async fn parts_and_complete(
        &self,
        key: &str,
        upload_id: &str,
        rx: &mut mpsc::Receiver<Chunk>,
        closed: &mut Option<(ClosedBatch, u32)>,
        parts: &mut JoinSet<Result<CompletedPart, UploadError>>,
    ) -> Result<Landed, UploadError> {
        let mut number = 0;
        let batch = loop {
            let (bytes, last) = match rx.recv().await {
                Some(Chunk::Part(bytes)) => (bytes, None),
                Some(Chunk::Last(mut batch)) => (std::mem::take(&mut batch.tail), Some(batch)),
                None => {
                    return Err(UploadError {
                        op: "UploadPart",
                        bucket: self.bucket.to_string(),
                        key: key.into(),
                        message: "the batch was discarded before it closed".into(),
                        transient: true,
                        refused: None,
                    })
                }
            };
            let n = bytes.len() as u64;
            if !bytes.is_empty() {
                number += 1;
                let permit = self.permit().await;
                let up = self.clone();
                let (key, upload_id) = (key.to_string(), upload_id.to_string());
                parts.spawn(async move {
                    let _permit = permit;
                    let t0 = now_ns();
                    let body = bytes::Bytes::from(bytes);
                    let out = up
                        .retrying(|| {
                            up.client
                                .upload_part()
                                .bucket(&*up.bucket)
                                .key(&key)
                                .upload_id(&upload_id)
                                .part_number(number)
                                .body(ByteStream::from(body.clone()))
                                .customize()
                                .unsigned_if(up.unsigned)
                                .send()
                        })
                        .await;
                    up.queued.fetch_sub(n, Ordering::Relaxed);
                    let out = out.map_err(|e| up.err("UploadPart", &key, e))?;
                    up.counts.upload_part.fetch_add(1, Ordering::Relaxed);
                    let t1 = now_ns();
                    up.rec.event(Stage::PartUpload, us_between(t0, t1), t1);
                    Ok(CompletedPart::builder()
                        .set_e_tag(out.e_tag().map(str::to_string))
                        .part_number(number)
                        .build())
                });
            }
            if let Some(batch) = last {
                break batch;
            }
        };
        // From here a failure still knows the batch (for where the rewind cuts).
        let partition = batch.id.partition;
        *closed = Some((batch, number as u32));
        let mut done = Vec::with_capacity(number as usize);
        while let Some(res) = parts.join_next().await {
            done.push(res.map_err(|e| UploadError {
                op: "UploadPart",
                bucket: self.bucket.to_string(),
                key: key.into(),
                message: e.to_string(),
                transient: false,
                refused: None,
            })??);
        }
        done.sort_by_key(|p| p.part_number());
        self.fenced("CompleteMultipartUpload", key, partition)
            .await?;
        let t0 = now_ns();
        let completed = CompletedMultipartUpload::builder()
            .set_parts(Some(done))
            .build();
        let res = self
            .retrying(|| {
                self.client
                    .complete_multipart_upload()
                    .bucket(&*self.bucket)
                    .key(key)
                    .upload_id(upload_id)
                    .set_if_none_match(self.conditional.then(|| "*".to_string()))
                    .multipart_upload(completed.clone())
                    .send()
            })
            .await;
        let res = match res {
            Ok(_) => Ok(now_ns()),
            Err(e) if conditional::upload_gone(&e) && self.completed_already(key, closed).await => {
                tracing::debug!(
                    "{key}: a CompleteMultipartUpload whose answer was lost had completed it"
                );
                Ok(now_ns())
            }
            Err(e) => Err(self.write_err("CompleteMultipartUpload", key, e).await),
        };
        if res.is_ok() {
            self.counts
                .complete_multipart
                .fetch_add(1, Ordering::Relaxed);
        }
        // On an error the caller decides what a refused write means, with the batch.
        let t1 = res?;
        self.rec.event(Stage::Complete, us_between(t0, t1), t1);
        let (batch, parts) = closed.take().expect("set above");
        Ok(self.landed(key.to_string(), &batch, parts, t1))
    }

    /// Records the per-record and per-object figures of a durable batch.
    fn landed(&self, key: String, b: &ClosedBatch, parts: u32, durable_ns: u64) -> Landed {
        for s in &b.sched_ns {
            self.rec.tick_latency(Stage::PipelineE2e, *s, durable_ns);
        }
        // A batch of ticks always has their intended send times; dead letters have none and
        // stay out of the object statistics.
        if !b.sched_ns.is_empty() {
            self.rec.event(Stage::ObjectSize, b.bytes, durable_ns);
            self.rec.event(
                Stage::BatchFill,
                us_between(b.opened_ns, b.closed_ns),
                durable_ns,
            );
        }
        Landed {
            key,
            partition: b.id.partition,
            first_offset: b.id.first_offset,
            last_offset: b.last_offset,
            records: b.records,
            bytes: b.bytes,
            parts,
            close_reason: b.reason,
            durable_ns,
            visible_ns: None,
            // Table mode: the ticks' visible latency is measured once a snapshot lists them.
            sched_ns: if self.table_mode {
                b.sched_ns.clone()
            } else {
                Vec::new()
            },
        }
    }
}

/// Identity helper for the sink's bookkeeping.
pub fn id_of(l: &Landed) -> BatchId {
    BatchId {
        partition: l.partition,
        first_offset: l.first_offset,
    }
}

/// `disable_payload_signing` where [`unsigned_payload`] says so (PutObject and UploadPart have it).
trait UnsignedIf {
    fn unsigned_if(self, unsigned: bool) -> Self;
}

macro_rules! unsigned_if {
    ($($out:ty),*) => {$(
        impl<E, B> UnsignedIf for aws_sdk_s3::client::customize::CustomizableOperation<$out, E, B> {
            fn unsigned_if(self, unsigned: bool) -> Self {
                if unsigned {
                    self.disable_payload_signing()
                } else {
                    self
                }
            }
        }
    )*};
}
unsigned_if!(
    aws_sdk_s3::operation::put_object::PutObjectOutput,
    aws_sdk_s3::operation::upload_part::UploadPartOutput
);

#[cfg(test)]
mod tests {
    #[test]
    fn payloads_go_unsigned_only_over_tls_or_on_this_host() {
        use super::unsigned_payload as u;
        assert!(u(None), "AWS itself: https");
        assert!(u(Some("https://s3.example.com:9000")));
        assert!(u(Some("http://127.0.0.1:4566")));
        assert!(u(Some("http://localhost:9000")));
        assert!(u(Some("http://[::1]:9000")));
        assert!(
            !u(Some("http://10.0.0.7:9000")),
            "plain HTTP across a network"
        );
        assert!(!u(Some("http://minio.internal:9000")));
        assert!(!u(Some("not a url")));
    }
}
