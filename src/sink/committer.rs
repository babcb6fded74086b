//! The committer: commits offsets in the order they become committable, coalescing what queued up
//! meanwhile. While the group rebalances the broker refuses commits; those offsets stay pending
//! and are sent again, and a revocation waiting on them is told at once instead of holding the
//! group up (a member that does not rejoin in time is thrown out of it).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::{mpsc, oneshot};

use super::{CommitRecord, SinkConsumer, SinkError};
use crate::metrics::{now_ns, us_between, Recorders, Stage};

/// What the committer is asked to do.
pub(super) enum CommitMsg {
    /// Commit partition's offset; the batch that allowed it became durable at the time given.
    Offset(i32, i64, u64),
    /// Answer true once every commit sent before is done, false if the group refused it for now.
    Barrier(oneshot::Sender<bool>),
    /// The partition went to another member: drop its pending commit (committing it later could
    /// move the new owner's offset back).
    Forget(i32),
    /// The generation check before a write (see `sink::fence`): commit the partition at least to
    /// `floor` (its oldest offset not yet durable) now, and say whether the group took it. Any
    /// refusal is the answer: waiting for the group to settle could wait for this very sink,
    /// which cannot give the partition up while the write is pending.
    Fence(i32, i64, oneshot::Sender<Result<(), String>>),
}

/// How often refused commits are sent again while the group rebalances.
const RETRY: Duration = Duration::from_millis(250);
/// Other commit errors are tried this often before the sink stops.
const ATTEMPTS: u32 = 6;

/// The group is rebalancing, or this member is not (yet) in its current generation.
fn group_busy(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::RebalanceInProgress
                | RDKafkaErrorCode::IllegalGeneration
                | RDKafkaErrorCode::UnknownMemberId
                | RDKafkaErrorCode::NotCoordinator
                | RDKafkaErrorCode::CoordinatorLoadInProgress
                | RDKafkaErrorCode::CoordinatorNotAvailable
                | RDKafkaErrorCode::State
        )
    )
}

/// Runs until the sink drops its sender; returns the offsets committed and every commit made.
pub(super) async fn committer(
    consumer: Arc<SinkConsumer>,
    topic: String,
    mut rx: mpsc::UnboundedReceiver<CommitMsg>,
    rec: Arc<Recorders>,
) -> Result<(BTreeMap<i32, i64>, Vec<CommitRecord>), SinkError> {
    let mut committed = BTreeMap::new();
    let mut log = Vec::new();
    // Offsets to commit, and when the batches that allowed them became durable.
    let mut pending: BTreeMap<i32, i64> = BTreeMap::new();
    let mut durable_at: Vec<(i32, u64)> = Vec::new();
    let mut closed = false;
    let mut failures = 0u32;
    loop {
        let mut next = if closed {
            None
        } else if pending.is_empty() {
            match rx.recv().await {
                Some(m) => Some(m),
                None => break,
            }
        } else {
            // Commits are pending: send them again after a while, or sooner with more to add.
            match tokio::time::timeout(RETRY, rx.recv()).await {
                Ok(Some(m)) => Some(m),
                Ok(None) => {
                    closed = true;
                    None
                }
                Err(_) => None,
            }
        };
        let (mut barriers, mut fences) = (Vec::new(), Vec::new());
        while let Some(msg) = next {
            match msg {
                CommitMsg::Offset(p, o, t) => {
                    pending.insert(p, o);
                    durable_at.push((p, t));
                }
                CommitMsg::Barrier(tx) => barriers.push(tx),
                CommitMsg::Forget(p) => {
                    pending.remove(&p);
                    durable_at.retain(|(q, _)| *q != p);
                }
                CommitMsg::Fence(p, floor, tx) => {
                    let o = pending.entry(p).or_insert(floor);
                    *o = (*o).max(floor);
                    fences.push(tx);
                }
            }
            next = rx.try_recv().ok();
        }
        if pending.is_empty() {
            answer(barriers, true);
            if closed {
                break;
            }
            continue;
        }
        let sent_ns = now_ns();
        match commit(&consumer, &topic, &pending).await? {
            Ok(()) => {
                let t = now_ns();
                for (_, durable_ns) in durable_at.drain(..) {
                    rec.event(Stage::Commit, us_between(durable_ns, t), t);
                }
                log.extend(pending.iter().map(|(p, o)| CommitRecord {
                    partition: *p,
                    offset: *o,
                    sent_ns,
                }));
                committed.append(&mut pending);
                failures = 0;
                answer(barriers, true);
                for f in fences {
                    let _ = f.send(Ok(()));
                }
            }
            Err(e) => {
                answer(barriers, false);
                for f in fences {
                    let _ = f.send(Err(e.to_string()));
                }
                if group_busy(&e) {
                    // The sink served the group while it waited for these (see `closing.rs`).
                    if closed {
                        return Err(SinkError::Commit(format!(
                            "the group kept refusing the last commits ({e}); offsets {pending:?} are durable in S3 but not committed: the next sink reads those records again and rewrites the same keys"
                        )));
                    }
                } else {
                    failures += 1;
                    if failures >= ATTEMPTS {
                        return Err(SinkError::Commit(e.to_string()));
                    }
                    tokio::time::sleep(Duration::from_millis(100 << failures)).await;
                }
                if closed {
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    }
    Ok((committed, log))
}

fn answer(barriers: Vec<oneshot::Sender<bool>>, done: bool) {
    for b in barriers {
        let _ = b.send(done);
    }
}

/// One synchronous commit, off the runtime's threads.
async fn commit(
    consumer: &Arc<SinkConsumer>,
    topic: &str,
    offsets: &BTreeMap<i32, i64>,
) -> Result<Result<(), KafkaError>, SinkError> {
    let mut tpl = TopicPartitionList::new();
    for (p, o) in offsets {
        tpl.add_partition_offset(topic, *p, Offset::Offset(*o))
            .map_err(|e| SinkError::Commit(e.to_string()))?;
    }
    let c = consumer.clone();
    tokio::task::spawn_blocking(move || c.commit(&tpl, CommitMode::Sync))
        .await
        .map_err(|e| SinkError::Commit(e.to_string()))
}
