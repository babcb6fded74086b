//! Dropping a partition's batches: on a rewind (an upload gave up, so the partition is read again
//! from its oldest batch not yet durable) and on a revocation (the group gave the partition to
//! another member). Either way the partition's open batches are discarded, its uploads in flight
//! are let finish, and only then does it move: seek back, or commit and give it up.

use std::collections::BTreeSet;
use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::Offset;

use super::context::{give_up, Membership};
use super::upload::{Refusal, UploadGaveUp};
use super::{SinkError, State};

/// Why a partition is being reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reset {
    Rewind,
    Revoke,
}

/// What a rewound partition's second reading must reproduce so nothing lands twice.
#[derive(Debug, Default)]
pub(super) struct Replay {
    /// Offset ranges of tick objects already durable: their ticks are skipped.
    ticks: Vec<(i64, i64)>,
    /// Offset ranges of dead-letter objects already durable: their records are skipped.
    dead: Vec<(i64, i64)>,
    /// Objects another sink wrote first at this sink's keys: from their first offset, that many
    /// ticks are skipped (which offset they end at is not in the object; counting finds it).
    claimed: Vec<(i64, u64)>,
    /// Offsets before which the open batch closes: where a batch that failed had closed, where a
    /// durable object begins. The second reading then writes the same keys.
    cuts: BTreeSet<i64>,
    /// Past this offset the replay is over.
    end: i64,
}

fn within(ranges: &[(i64, i64)], offset: i64) -> bool {
    ranges.iter().any(|(a, b)| *a <= offset && offset <= *b)
}

impl Replay {
    /// Whether the record at `offset` is already durable (a tick in a tick object, or a record set
    /// aside in a dead-letter object).
    pub(super) fn durable(&mut self, offset: i64, is_tick: bool) -> bool {
        if is_tick {
            if let Some(c) = self
                .claimed
                .iter_mut()
                .find(|(from, left)| *from <= offset && *left > 0)
            {
                c.1 -= 1;
                if c.1 == 0 {
                    // The other sink's object ends here: the next batch begins after it.
                    self.cuts.insert(offset + 1);
                }
                return true;
            }
        }
        within(if is_tick { &self.ticks } else { &self.dead }, offset)
    }

    /// True when the open batch must close before `offset`.
    pub(super) fn cut_before(&mut self, offset: i64) -> bool {
        let mut cut = false;
        while self.cuts.first().is_some_and(|c| *c <= offset) {
            self.cuts.pop_first();
            cut = true;
        }
        cut
    }

    /// Whether the reading has come back to where the sink was when it rewound.
    pub(super) fn caught_up(&self, next_offset: i64) -> bool {
        next_offset >= self.end
    }

    pub(super) fn over(&self, offset: i64) -> bool {
        offset > self.end && self.claimed.iter().all(|(_, left)| *left == 0)
    }
}

impl State {
    /// An upload came back failed. Transient failures rewind the partition; a permanent one
    /// (access denied, no such bucket) stops the sink, since reading again would not help.
    pub(super) fn on_failed(&mut self, f: UploadGaveUp) -> Result<(), SinkError> {
        let p = f.id.partition;
        match self.resetting.get(&p) {
            // Discarded on purpose: the partition is being revoked or rewound already.
            Some(Reset::Revoke) => return Ok(()),
            Some(Reset::Rewind) => {}
            None if !f.error.transient => return Err(f.error.into()),
            // Another sink wrote this batch's key first, or the group refused this sink's commit
            // before the write. A sink whose assignment the group took away (paused past its
            // session timeout) lets the partition go; an owner reads the partition again,
            // skipping what an object written first holds.
            None if f.error.refused.is_some() && self.consumer.assignment_lost() => {
                tracing::warn!(
                    "{}: {}, and this sink's assignment was lost; dropping partition {p}",
                    f.error.key,
                    match f.error.refused {
                        Some(Refusal::Fenced) =>
                            "not written (the group refused this sink's commit)",
                        _ => "written by another sink",
                    }
                );
                self.report.fenced += 1;
                self.begin_reset(p, Reset::Revoke);
                self.to_give_up.push(p);
                return Ok(());
            }
            None if f.error.exists().is_some() => {
                tracing::warn!(
                    "{} was written first by another sink ({} records); reading partition {p} again from offset {}",
                    f.error.key,
                    f.error.exists().unwrap_or(0),
                    f.id.first_offset
                );
            }
            None => {
                tracing::warn!(
                    "{}; rewinding partition {p} to offset {}",
                    f.error,
                    f.id.first_offset
                );
            }
        }
        match f.error.exists() {
            Some(n) => self
                .claimed
                .entry(p)
                .or_default()
                .push((f.id.first_offset, n)),
            None => {
                if let Some(last) = f.last_offset {
                    self.failed_last.entry(p).or_default().push(last);
                }
            }
        }
        self.begin_reset(p, Reset::Rewind);
        Ok(())
    }

    /// Acts on the group's assignment changes.
    pub(super) fn on_membership(&mut self, events: Vec<Membership>) {
        for m in events {
            match m {
                Membership::Assigned(ps) => {
                    self.report.assigned += ps.len() as u64;
                    self.counters
                        .partitions_held
                        .fetch_add(ps.len() as i64, std::sync::atomic::Ordering::Relaxed);
                }
                Membership::Revoked(ps) => {
                    self.report.revoked += ps.len() as u64;
                    self.counters
                        .partitions_held
                        .fetch_sub(ps.len() as i64, std::sync::atomic::Ordering::Relaxed);
                    for p in ps {
                        self.begin_reset(p, Reset::Revoke);
                        self.to_give_up.push(p);
                    }
                }
            }
        }
    }

    /// Stops batching `p`: its open batches are dropped (their records will be read again), its
    /// records are ignored until the reset completes.
    pub(super) fn begin_reset(&mut self, p: i32, kind: Reset) {
        if let Some(k) = self.resetting.get_mut(&p) {
            if kind == Reset::Revoke {
                *k = Reset::Revoke;
            }
            return;
        }
        self.resetting.insert(p, kind);
        if kind == Reset::Rewind {
            self.report.rewinds += 1;
            self.counters
                .rewinds
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        for id in self.batcher.discard(p) {
            // Dropping the stream aborts its multipart upload.
            self.streams.remove(&id);
        }
        if let Some(t) = &mut self.table {
            t.discard(p);
        }
        if let Some((_, records)) = self.dead.discard(p) {
            // They will be set aside again when read again (or by the next owner).
            self.report.malformed -= records;
            if let Some(n) = self.report.set_aside.get_mut(&p) {
                *n -= records;
            }
        }
        self.replay.remove(&p);
    }

    /// Completes the resets whose partitions have no upload in flight any more.
    pub(super) async fn finish_resets(&mut self) -> Result<(), SinkError> {
        let ready: Vec<(i32, Reset)> = self
            .resetting
            .iter()
            .filter(|(p, _)| self.in_flight_by.get(p).copied().unwrap_or(0) == 0)
            .map(|(p, k)| (*p, *k))
            .collect();
        for (p, kind) in ready {
            self.resetting.remove(&p);
            match kind {
                Reset::Rewind => self.rewind(p)?,
                Reset::Revoke => self.release(p).await?,
            }
        }
        if !self.to_give_up.is_empty() && !self.resetting.values().any(|k| *k == Reset::Revoke) {
            let ps = std::mem::take(&mut self.to_give_up);
            give_up(&self.consumer, &self.settings.topic, &ps)
                .map_err(|e| SinkError::Commit(format!("giving up revoked partitions: {e}")))?;
        }
        Ok(())
    }

    /// Reads `p` again from its oldest batch not yet durable, skipping what is durable since.
    fn rewind(&mut self, p: i32) -> Result<(), SinkError> {
        let start = self.settings.start_offsets.get(&p).copied().unwrap_or(0);
        let position = self.next_offset.get(&p).copied().unwrap_or(start);
        let from = self.tracker().first_pending(p).unwrap_or(position);
        let mut replay = Replay {
            end: position,
            ..Default::default()
        };
        // Objects grouped by symbol interleave, so ranges say nothing there: those records are
        // regrouped (as after a crash; see the README).
        if !self.settings.layout.by_symbol {
            let durable = |l: &&crate::results::Landed| {
                l.partition == p && l.first_offset >= from && l.first_offset < position
            };
            for l in self.report.landed.iter().filter(durable) {
                replay.ticks.push((l.first_offset, l.last_offset));
                replay.cuts.insert(l.first_offset);
            }
            for l in self.report.dead_letters.iter().filter(durable) {
                replay.dead.push((l.first_offset, l.last_offset));
            }
        }
        for last in self.failed_last.remove(&p).unwrap_or_default() {
            if last >= from {
                replay.cuts.insert(last + 1);
            }
        }
        for (first, records) in self.claimed.remove(&p).unwrap_or_default() {
            if first >= from {
                replay.cuts.insert(first);
                replay.claimed.push((first, records));
            }
        }
        self.tracker().forget(p, false);
        self.consumer
            .seek(
                &self.settings.topic,
                p,
                Offset::Offset(from),
                Duration::from_secs(10),
            )
            .map_err(|e| SinkError::Commit(format!("rewinding partition {p} to {from}: {e}")))?;
        self.next_offset.insert(p, from);
        self.report.reread += (position - from).max(0) as u64;
        self.replay.insert(p, replay);
        self.read_again = true;
        Ok(())
    }

    /// Commits what is durable of a revoked partition, then forgets it.
    async fn release(&mut self, p: i32) -> Result<(), SinkError> {
        if let Some(position) = self.next_offset.remove(&p) {
            let next = self.tracker().advance(p, position);
            if let Some(next) = next {
                let _ = self
                    .commit_tx
                    .send(super::CommitMsg::Offset(p, next, super::now_ns()));
            }
            self.positions_released.insert(p, position);
        }
        // The commit must be done before the partition goes to its next owner. A group that
        // refuses commits while it rebalances (the mock cluster does; Kafka accepts them until
        // the member rejoins) leaves the offset where it was: the next owner reads the uncommitted
        // records again from there and writes the same first key, overwriting the object.
        let (tx, rx) = tokio::sync::oneshot::channel();
        let _ = self.commit_tx.send(super::CommitMsg::Barrier(tx));
        if !rx.await.unwrap_or(false) {
            let _ = self.commit_tx.send(super::CommitMsg::Forget(p));
            self.report.released_uncommitted += 1;
        }
        self.tracker().forget(p, true);
        self.replay.remove(&p);
        self.failed_last.remove(&p);
        self.claimed.remove(&p);
        self.in_flight_by.remove(&p);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_skips_durable_ranges_and_cuts_once() {
        let mut r = Replay {
            ticks: vec![(100, 199)],
            dead: vec![(150, 150)],
            cuts: [50, 100].into_iter().collect(),
            end: 260,
            ..Default::default()
        };
        assert!(!r.cut_before(10));
        assert!(r.cut_before(50), "the failed batch closed at 49");
        assert!(!r.cut_before(51));
        assert!(r.cut_before(100));
        assert!(r.durable(120, true));
        assert!(
            !r.durable(120, false),
            "a record set aside at 120 is not in a tick object"
        );
        assert!(r.durable(150, false));
        assert!(!r.durable(200, true));
        assert!(!r.over(260));
        assert!(r.over(261));
    }

    #[test]
    fn a_claimed_object_skips_its_ticks_then_cuts_where_it_ends() {
        // Another sink's object at offset 10 holds 3 ticks; offset 11 is a record set aside.
        let mut r = Replay {
            claimed: vec![(10, 3)],
            cuts: [10].into_iter().collect(),
            end: 11,
            ..Default::default()
        };
        assert!(!r.durable(9, true), "before the object");
        assert!(r.cut_before(10));
        assert!(r.durable(10, true));
        assert!(!r.durable(11, false), "not a tick: not in a tick object");
        assert!(r.durable(12, true));
        assert!(
            !r.over(12),
            "the claim is not used up, whatever the end says"
        );
        assert!(r.durable(13, true));
        assert!(r.cut_before(14), "the next batch begins after the object");
        assert!(!r.durable(14, true));
        assert!(r.over(14));
    }
}
