//! What a sink reports when it stops, and the memory it may hold while it runs.

use std::collections::BTreeMap;

use serde::Serialize;

use super::CommitRecord;
use crate::results::Landed;

/// The most bytes the sink's buffers can hold with `open` batches open: each open batch holds
/// less than the multipart threshold (streaming) or a whole object (buffered), each multipart
/// stream queues up to two parts behind the request slots, the dispatcher holds one more, and
/// `upload_concurrency` requests are in flight. Encoder state (a zstd context is about 1 MiB, a
/// gzip one about 256 KiB, a Parquet row group's Arrow builders) comes on top, per open batch.
/// Open dead-letter batches add at most `dead_letter_max_bytes`.
pub fn memory_bound(sink: &crate::config::Sink, open: u64) -> u64 {
    let part = sink.part_size.as_u64();
    let per_batch = match sink.upload {
        crate::config::UploadMode::Streaming => sink.multipart_threshold() + part,
        crate::config::UploadMode::Buffered => sink.max_bytes.as_u64() + part,
    };
    open * (per_batch + 2 * part)
        + (sink.upload_concurrency as u64 + 1) * part.max(per_batch)
        + sink.dead_letter_max_bytes.as_u64()
}

/// Counts the sink keeps; the audit checks them against S3.
#[derive(Debug, Default, Clone, Serialize)]
pub struct SinkReport {
    /// Records received from Kafka in this run (decoded or not).
    pub consumed: u64,
    /// Records that were not ticks; counted, their offsets still covered by the commit.
    pub malformed: u64,
    /// Records older than the run's start offsets, skipped.
    pub skipped_preexisting: u64,
    /// Offsets the consumer never saw (a jump in a partition's offsets: broker retention dropped
    /// them before they were read, or transaction markers).
    pub offset_gaps: u64,
    /// Errors the consumer reported while polling.
    pub consumer_errors: u64,
    /// Objects in the order they became durable.
    pub landed: Vec<Landed>,
    /// Offsets this sink committed, per partition (the next offset to read).
    pub committed: BTreeMap<i32, i64>,
    /// Batches closed per trigger.
    pub close_reasons: BTreeMap<String, u64>,
    /// Most bytes the sink held at once: open batches (dead letters included) plus parts queued
    /// or in flight (sampled every 20 ms and at every part).
    pub peak_buffered_bytes: u64,
    /// Most batches open at once.
    pub peak_open_batches: u64,
    /// Per partition, records read but not landed because they are not ticks.
    pub set_aside: BTreeMap<i32, u64>,
    /// Per partition, the next offset the sink would have read when it stopped.
    pub positions: BTreeMap<i32, i64>,
    /// Dead-letter objects (records set aside), in the order they became durable.
    pub dead_letters: Vec<Landed>,
    /// Uploads that gave up (after `sink.upload_retry_for`), each rewinding its partition to its
    /// oldest batch not yet durable.
    pub rewinds: u64,
    /// Records read again after rewinds (included in `consumed`).
    pub reread: u64,
    /// Records read again that were already durable in an object, so not written twice.
    pub replay_skipped: u64,
    /// Partitions the group assigned to this sink, and took back, over the run.
    pub assigned: u64,
    pub revoked: u64,
    /// Revoked partitions given up with durable records not committed (the group refused the
    /// commit while it rebalanced); their next owner reads those records again.
    pub released_uncommitted: u64,
    /// Partitions dropped because this sink found it had lost them while writing (see
    /// `SinkCounts::fenced`).
    pub fenced: u64,
    /// Whether tick objects went with `If-None-Match: *`.
    pub conditional_writes: bool,
    /// Every offset commit the broker accepted, in order (`commits.jsonl`): with the objects'
    /// durable times it shows that no commit passed what was durable.
    pub commits: Vec<CommitRecord>,
    /// Dead-letter payloads cut to `sink.dead_letter_max_record`, and dead-letter batches sent
    /// early to keep within `sink.dead_letter_max_bytes`.
    pub dead_letters_truncated: u64,
    pub dead_letter_cap_closes: u64,
    /// Times the wall clock stepped (moved apart from the monotonic clock by more than
    /// `clock::STEP_NS` between two of the sink's 20 ms ticks), and the largest step, signed.
    /// Latencies across a step are off by as much; batch ages and deadlines are not.
    pub wall_clock_steps: u64,
    pub largest_wall_clock_step_ns: i64,
    /// Table mode: the sink's commits to its table.
    pub table: Option<crate::results::TableSummary>,
}
