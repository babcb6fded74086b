//! The sink's last commits. Once it has stopped landing, the consumer is still served until the
//! group has taken what is durable: a member that a broker outage threw out of the group
//! (UnknownMemberId) rejoins only through its rebalance events, and until it does every commit is
//! refused. A partition revoked meanwhile is given up once the commit sent before it is answered
//! (refused: its offset is left to the next owner and counted); one the group gives back after a
//! rejoin is committed again where this sink left it, unless the group's offset moved past that.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::{mpsc, oneshot};

use super::committer::CommitMsg;
use super::context::{give_up, Membership};
use super::{SinkConsumer, SinkReport};
use crate::metrics::{now_ns, Counters};

/// How often a refused closing commit is asked for again.
const RETRY: Duration = Duration::from_millis(250);

/// What the closing phase needs of the sink.
pub(super) struct Closing<'a> {
    pub consumer: &'a Arc<SinkConsumer>,
    pub topic: &'a str,
    pub commit_tx: &'a mpsc::UnboundedSender<CommitMsg>,
    /// Per partition still held, the offset the sink's last commit moves it to.
    pub finals: BTreeMap<i32, i64>,
    pub counters: &'a Counters,
    /// How long the group may refuse the commits before the sink stops asking.
    pub within: Duration,
}

impl Closing<'_> {
    /// Serves the consumer until every commit sent is taken, or `within` is over (the committer
    /// then reports what was left). Partitions given up uncommitted are counted in `report`.
    pub(super) async fn run(self, report: &mut SinkReport) {
        let deadline = tokio::time::Instant::now() + self.within;
        let mut stream = self.consumer.stream();
        let mut revoked: Vec<i32> = Vec::new();
        // Given up with their commit refused; taken out again if committed after a rejoin.
        let mut uncommitted: BTreeSet<i32> = BTreeSet::new();
        let mut answer = Some(self.barrier());
        let mut retry = tokio::time::interval(RETRY);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                a = async { answer.as_mut().expect("guarded").await }, if answer.is_some() => {
                    answer = None;
                    let taken = a.unwrap_or(false);
                    if !revoked.is_empty() {
                        let ps = std::mem::take(&mut revoked);
                        if !taken {
                            for p in &ps {
                                let _ = self.commit_tx.send(CommitMsg::Forget(*p));
                                uncommitted.insert(*p);
                            }
                        }
                        if let Err(e) = give_up(self.consumer, self.topic, &ps) {
                            tracing::debug!("closing: giving up {ps:?}: {e}");
                        }
                    }
                    if taken {
                        break;
                    }
                    tracing::debug!("closing: the group refused the last commits; serving it");
                }
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::warn!(
                        "the group did not take the sink's last commits within {:?}",
                        self.within
                    );
                    break;
                }
                _ = retry.tick(), if answer.is_none() => answer = Some(self.barrier()),
                // Group events are served inside the poll. Records (none are fetched into this
                // queue, see `fetched.rs`, but a partition the group gives back after the sink
                // stopped reading is) are not landed: nothing past what is durable is committed.
                Some(_) = stream.next() => {}
            }
            for m in self.consumer.context().take() {
                match m {
                    Membership::Revoked(ps) => {
                        report.revoked += ps.len() as u64;
                        self.counters
                            .partitions_held
                            .fetch_sub(ps.len() as i64, Ordering::Relaxed);
                        revoked.extend(ps);
                    }
                    Membership::Assigned(ps) => {
                        report.assigned += ps.len() as u64;
                        self.counters
                            .partitions_held
                            .fetch_add(ps.len() as i64, Ordering::Relaxed);
                        for p in self.behind(&ps).await {
                            let _ = self.commit_tx.send(CommitMsg::Offset(
                                p,
                                self.finals[&p],
                                now_ns(),
                            ));
                            uncommitted.remove(&p);
                        }
                        if answer.is_none() {
                            answer = Some(self.barrier());
                        }
                    }
                }
            }
        }
        report.released_uncommitted += uncommitted.len() as u64;
    }

    /// A question to the committer: are the commits sent so far taken?
    fn barrier(&self) -> oneshot::Receiver<bool> {
        let (tx, rx) = oneshot::channel();
        let _ = self.commit_tx.send(CommitMsg::Barrier(tx));
        rx
    }

    /// Of the partitions `ps` given (back) to this sink, those whose group offset is below where
    /// the sink left them (another member may have committed past that meanwhile).
    async fn behind(&self, ps: &[i32]) -> Vec<i32> {
        let mut tpl = TopicPartitionList::new();
        for p in ps.iter().filter(|p| self.finals.contains_key(p)) {
            tpl.add_partition(self.topic, *p);
        }
        if tpl.count() == 0 {
            return Vec::new();
        }
        let consumer = self.consumer.clone();
        let committed = tokio::task::spawn_blocking(move || {
            consumer.committed_offsets(tpl, Duration::from_secs(5))
        })
        .await;
        let Ok(Ok(committed)) = committed else {
            // Unknown: leave it to the next owner rather than risk moving its offset back.
            return Vec::new();
        };
        committed
            .elements()
            .iter()
            .filter(|e| {
                let at = match e.offset() {
                    Offset::Offset(o) => o,
                    _ => -1,
                };
                at < self.finals[&e.partition()]
            })
            .map(|e| e.partition())
            .collect()
    }
}
