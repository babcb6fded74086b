//! The records the sink lands, taken from librdkafka a burst at a time.
//!
//! rdkafka-rs's stream takes one message per poll, and each poll costs a lock of the consumer
//! queue, three clock reads (its own deadline and librdkafka's max.poll.interval.ms bookkeeping,
//! which reads a slow clock on virtual machines), an event object behind an `Arc` and a waker:
//! at a million records a second, more than the sink's own work on a record. So each partition's
//! fetch queue is forwarded, when the group assigns it and before librdkafka starts fetching it,
//! to one queue of the sink's own, and `rd_kafka_consume_batch_queue` empties that a burst at a
//! time: one lock and two clock reads per burst. Group events (rebalances, errors of the group)
//! stay on the consumer queue, which rdkafka-rs's stream still serves, so a revocation still waits
//! for the sink's commits (`context.rs`). librdkafka's version barriers drop what a partition
//! fetched before a seek or an unassignment, on this queue as on the consumer queue.

use std::ffi::{c_void, CString};
use std::ptr::NonNull;
use std::sync::Arc;

use rdkafka::consumer::Consumer as _;
use rdkafka_sys as rdsys;
use tokio::sync::Notify;

use super::context::SinkConsumer;
use super::record::Record;

/// The queue the assigned partitions' records are forwarded to.
pub(super) struct Fetched {
    queue: QueuePtr,
    /// Woken by librdkafka when the queue goes from empty to holding something.
    ready: Arc<Notify>,
    /// The messages of the burst being taken (destroyed when the burst is dropped).
    taken: Vec<*mut rdsys::rd_kafka_message_t>,
    /// The queue must be destroyed before its client.
    consumer: Arc<SinkConsumer>,
}

/// A librdkafka queue handle, which librdkafka lets any thread use.
#[derive(Clone, Copy)]
pub struct QueuePtr(NonNull<rdsys::rd_kafka_queue_t>);

// SAFETY: librdkafka's queues lock themselves; the handle is only a pointer to one.
unsafe impl Send for QueuePtr {}
// SAFETY: as above.
unsafe impl Sync for QueuePtr {}

// SAFETY: the message pointers in `taken` are owned by this value, never shared, and librdkafka
// lets another thread destroy a message.
unsafe impl Send for Fetched {}

impl QueuePtr {
    /// Forwards the fetch queue of `topic`'s `partition` on the consumer `rk` here. Called before
    /// the partition is assigned: librdkafka then does not forward it to the consumer queue (a queue
    /// the application forwarded stays so), and none of its records go anywhere else.
    pub fn take_partition(&self, rk: *mut rdsys::rd_kafka_t, topic: &str, partition: i32) {
        let Ok(topic) = CString::new(topic) else {
            return;
        };
        // SAFETY: `rk` is a live consumer; the partition's handle is dropped right after use
        // (the forwarding is kept by the partition's queue itself).
        unsafe {
            let pq = rdsys::rd_kafka_queue_get_partition(rk, topic.as_ptr(), partition);
            if !pq.is_null() {
                rdsys::rd_kafka_queue_forward(pq, self.0.as_ptr());
                rdsys::rd_kafka_queue_destroy(pq);
            }
        }
    }
}

/// librdkafka's wake-up, from its broker threads: the queue is no longer empty.
unsafe extern "C" fn on_nonempty(_: *mut rdsys::rd_kafka_t, opaque: *mut c_void) {
    // SAFETY: `opaque` is the `Notify` that `Fetched` keeps alive until it has switched this
    // callback off.
    let ready = unsafe { &*(opaque as *const Notify) };
    ready.notify_one();
}

impl Fetched {
    /// A queue of the sink's own on `consumer`; from now on, partitions the group assigns are
    /// fetched into it.
    pub(super) fn new(consumer: Arc<SinkConsumer>) -> Fetched {
        let rk = consumer.client().native_ptr();
        // SAFETY: `rk` is live for as long as `consumer`, which this value holds.
        let queue = unsafe { rdsys::rd_kafka_queue_new(rk) };
        let queue = QueuePtr(NonNull::new(queue).expect("librdkafka allocates queues or aborts"));
        let ready = Arc::new(Notify::new());
        // SAFETY: the callback's opaque outlives the callback: it is switched off in drop.
        unsafe {
            rdsys::rd_kafka_queue_cb_event_enable(
                queue.0.as_ptr(),
                Some(on_nonempty),
                Arc::as_ptr(&ready) as *mut c_void,
            );
        }
        consumer.context().fetch_into(Some(queue));
        Fetched {
            queue,
            ready,
            taken: Vec::with_capacity(super::serve::BURST),
            consumer,
        }
    }

    /// Resolves once records may be waiting (see [`take`](Self::take)).
    pub(super) fn ready(&self) -> Arc<Notify> {
        self.ready.clone()
    }

    /// Takes what the queue holds, up to `max` records, without waiting.
    pub(super) fn take(&mut self, max: usize) -> Burst<'_> {
        self.taken.clear();
        self.taken.reserve(max);
        // SAFETY: `taken` has room for `max` pointers; librdkafka writes as many as it returns.
        let n = unsafe {
            rdsys::rd_kafka_consume_batch_queue(
                self.queue.0.as_ptr(),
                0,
                self.taken.as_mut_ptr(),
                max,
            )
        };
        // SAFETY: the first `n` elements are initialised message pointers (n < 0 on error only).
        unsafe { self.taken.set_len(n.max(0) as usize) };
        // A full burst may leave more behind, which raises no new wake-up: come back for it.
        if self.taken.len() == max {
            self.ready.notify_one();
        }
        Burst { fetched: self }
    }
}

impl Drop for Fetched {
    fn drop(&mut self) {
        // Partitions assigned from now on are fetched into the consumer queue again.
        self.consumer.context().fetch_into(None);
        // SAFETY: the callback is switched off (under the queue's lock) before its `Notify` can
        // go; the handle is destroyed once, before the client (held in `consumer`).
        unsafe {
            rdsys::rd_kafka_queue_cb_event_enable(
                self.queue.0.as_ptr(),
                None,
                std::ptr::null_mut(),
            );
            rdsys::rd_kafka_queue_destroy(self.queue.0.as_ptr());
        }
    }
}

/// Messages taken in one go; destroyed with it.
pub(super) struct Burst<'f> {
    fetched: &'f mut Fetched,
}

impl Burst<'_> {
    pub(super) fn len(&self) -> usize {
        self.fetched.taken.len()
    }

    /// The `i`th record taken, received at `t_recv`; `None` for an error in its place (a
    /// partition's fetch failed).
    #[inline]
    pub(super) fn record(&self, i: usize, t_recv: crate::clock::Now) -> Option<Record<'_>> {
        // SAFETY: a message of this burst, live until the burst is dropped.
        let m = unsafe { &*self.fetched.taken[i] };
        if m.err != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return None;
        }
        let payload = if m.payload.is_null() {
            &[][..]
        } else {
            // SAFETY: librdkafka's payload of `len` bytes, owned by the message.
            unsafe { std::slice::from_raw_parts(m.payload as *const u8, m.len) }
        };
        Some(Record {
            partition: m.partition,
            offset: m.offset,
            payload,
            t_recv,
        })
    }
}

impl Drop for Burst<'_> {
    fn drop(&mut self) {
        for m in self.fetched.taken.drain(..) {
            // SAFETY: each message was returned by consume_batch_queue and is destroyed once.
            unsafe { rdsys::rd_kafka_message_destroy(m) };
        }
    }
}
