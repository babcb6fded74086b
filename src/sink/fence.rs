//! The generation check, for S3 servers that ignore conditional writes: before a tick object is
//! written, the sink commits its partition's oldest offset not yet durable, synchronously, and
//! writes only if the group takes it. Kafka refuses commits from a member of an older generation
//! (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID), which is what a zombie is once its session has timed
//! out: it aborts instead of replacing its successor's object. The commit moves nothing past what
//! is durable, so it costs a round trip to the coordinator and no correctness. A window remains
//! between the answer and the write (a pause just there); conditional writes close it.

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use super::commit::CommitTracker;
use super::committer::CommitMsg;
use super::upload::Fence;

/// The fence of a sink whose tracker and committer are these. It holds the committer weakly: the
/// committer ends when the sink drops its own sender, whoever still holds the uploader.
pub(super) fn fence(
    tracker: Arc<Mutex<CommitTracker>>,
    commits: mpsc::WeakUnboundedSender<CommitMsg>,
) -> Fence {
    Arc::new(move |p| {
        let floor = tracker.lock().expect("commit tracker").first_pending(p);
        let commits = commits.upgrade();
        Box::pin(async move {
            let Some(floor) = floor else {
                return Err(format!("partition {p} was dropped meanwhile"));
            };
            let (tx, rx) = oneshot::channel();
            commits
                .ok_or("the sink is stopping")?
                .send(CommitMsg::Fence(p, floor, tx))
                .map_err(|_| "the sink is stopping")?;
            tracing::debug!("fence: committing partition {p} at {floor} before a write");
            rx.await
                .unwrap_or_else(|_| Err("the committer stopped".to_string()))
        })
    })
}
