//! The sink's consumer context: it takes partitions when the group assigns them, but when the group
//! revokes them it only tells the sink, which first lets their uploads finish, commits what is
//! durable, and then gives them up (librdkafka waits for that call before the group moves on).
//! Revoking at once would let the next owner read records whose objects are still uploading.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::TopicPartitionList;

use super::fetched::QueuePtr;

/// The consumer type the sink runs on.
pub type SinkConsumer = rdkafka::consumer::StreamConsumer<SinkContext>;

/// A change of the group's assignment, for the sink to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Membership {
    Assigned(Vec<i32>),
    /// The sink must give these up (see [`give_up`]) once their uploads are done.
    Revoked(Vec<i32>),
}

#[derive(Default)]
pub struct SinkContext {
    events: Mutex<Vec<Membership>>,
    /// Whether `events` holds any: checked every turn of the sink loop, so an atomic, not the lock.
    pending: AtomicBool,
    /// The sink has stopped: revocations (of leaving the group) take effect at once.
    closing: AtomicBool,
    /// The sink's own queue that assigned partitions are fetched into (see `fetched.rs`).
    fetch_into: Mutex<Option<QueuePtr>>,
}

impl SinkContext {
    /// The sink loop is over; from now on the consumer leaves the group without waiting for it.
    pub fn close(&self) {
        self.closing.store(true, Ordering::Relaxed);
    }

    /// Partitions assigned from now on are fetched into `queue` (none: the consumer queue).
    pub fn fetch_into(&self, queue: Option<QueuePtr>) {
        *self.fetch_into.lock().expect("fetch queue") = queue;
    }

    /// The assignment changes since the last call.
    pub fn take(&self) -> Vec<Membership> {
        if !self.pending.load(Ordering::Acquire) {
            return Vec::new();
        }
        let mut events = self.events.lock().expect("membership events");
        self.pending.store(false, Ordering::Release);
        std::mem::take(&mut *events)
    }

    fn push(&self, m: Membership) {
        self.events.lock().expect("membership events").push(m);
        self.pending.store(true, Ordering::Release);
    }
}

fn partitions(tpl: &TopicPartitionList) -> Vec<i32> {
    tpl.elements().iter().map(|e| e.partition()).collect()
}

impl ClientContext for SinkContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        config: Option<&str>,
    ) -> Result<rdkafka::client::OAuthToken, Box<dyn std::error::Error>> {
        crate::io::msk_iam::oauth_token(config)
    }
}

impl ConsumerContext for SinkContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        tracing::debug!(
            "rebalance: {err:?} of {:?}{}",
            partitions(tpl),
            if self.closing.load(Ordering::Relaxed) {
                " (closing)"
            } else {
                ""
            }
        );
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                // Before the assignment: its fetches must never reach the consumer queue.
                if let Some(q) = *self.fetch_into.lock().expect("fetch queue") {
                    for e in tpl.elements() {
                        q.take_partition(consumer.client().native_ptr(), e.topic(), e.partition());
                    }
                }
                let res = if cooperative {
                    consumer.incremental_assign(tpl)
                } else {
                    consumer.assign(tpl)
                };
                if let Err(e) = res {
                    tracing::warn!("taking the assigned partitions failed: {e}");
                }
                self.push(Membership::Assigned(partitions(tpl)));
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS
                if self.closing.load(Ordering::Relaxed) =>
            {
                let _ = if cooperative {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                };
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                self.push(Membership::Revoked(partitions(tpl)));
            }
            _ => {
                // The group itself failed: drop everything, as librdkafka's default does; the
                // sink's commits never passed what is durable.
                let _ = consumer.unassign();
                self.push(Membership::Revoked(partitions(tpl)));
            }
        }
    }
}

/// Gives up revoked partitions, once the sink has committed what is durable of them.
pub fn give_up(
    consumer: &SinkConsumer,
    topic: &str,
    partitions: &[i32],
) -> rdkafka::error::KafkaResult<()> {
    tracing::debug!("giving up partitions {partitions:?}");
    if matches!(
        consumer.rebalance_protocol(),
        RebalanceProtocol::Cooperative
    ) {
        let mut tpl = TopicPartitionList::new();
        for p in partitions {
            tpl.add_partition(topic, *p);
        }
        consumer.incremental_unassign(&tpl)
    } else {
        consumer.unassign()
    }
}

/// Closes the context when dropped (see [`SinkContext::close`]).
pub struct CloseOnDrop(pub std::sync::Arc<SinkConsumer>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.context().close();
    }
}
