//! Offset commits that never pass what is durable: a partition's offset may move up to the first
//! offset of its oldest batch not yet durable (open, closed or uploading), or, when it has none,
//! to the next offset the sink will read. This holds for any grouping: batches of one partition
//! may interleave (grouped by symbol) and finish in any order.

use std::collections::{BTreeMap, BTreeSet};

/// Per partition, the first offsets of the batches not yet durable, and the last commit point.
#[derive(Debug, Default)]
pub struct CommitTracker {
    pending: BTreeMap<i32, BTreeSet<i64>>,
    committed: BTreeMap<i32, i64>,
}

impl CommitTracker {
    /// A batch opened at `first_offset`: nothing from there on may be committed until it is durable.
    pub fn opened(&mut self, partition: i32, first_offset: i64) {
        self.pending
            .entry(partition)
            .or_default()
            .insert(first_offset);
    }

    /// The batch that opened at `first_offset` is durable (or was dropped with its partition).
    pub fn durable(&mut self, partition: i32, first_offset: i64) {
        if let Some(p) = self.pending.get_mut(&partition) {
            p.remove(&first_offset);
        }
    }

    /// The offset that may be committed for `partition` now that the sink has read up to
    /// `position` (the next offset it will read), if it moved past the last one returned.
    pub fn advance(&mut self, partition: i32, position: i64) -> Option<i64> {
        let point = self
            .pending
            .get(&partition)
            .and_then(|p| p.first().copied())
            .unwrap_or(position);
        let last = self.committed.entry(partition).or_insert(i64::MIN);
        (point > *last).then(|| {
            *last = point;
            point
        })
    }

    /// The first offset of the partition's oldest batch not yet durable.
    pub fn first_pending(&self, partition: i32) -> Option<i64> {
        self.pending
            .get(&partition)
            .and_then(|p| p.first().copied())
    }

    /// The first offsets of the partition's batches not yet durable, oldest first.
    pub fn pending_offsets(&self, partition: i32) -> impl Iterator<Item = i64> + '_ {
        self.pending
            .get(&partition)
            .into_iter()
            .flat_map(|p| p.iter().copied())
    }

    /// Drops the partition's pending batches (they will be read again, or by another member).
    /// With `revoked`, its commit point goes too: a new assignment starts from the group's
    /// committed offset, wherever that is by then.
    pub fn forget(&mut self, partition: i32, revoked: bool) {
        self.pending.remove(&partition);
        if revoked {
            self.committed.remove(&partition);
        }
    }

    /// Per partition, the last commit point returned by [`CommitTracker::advance`].
    pub fn points(&self) -> BTreeMap<i32, i64> {
        self.committed
            .iter()
            .filter(|(_, o)| **o != i64::MIN)
            .map(|(p, o)| (*p, *o))
            .collect()
    }

    /// Batches opened but not yet durable.
    pub fn pending(&self) -> usize {
        self.pending.values().map(|p| p.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_completion_commits_in_order() {
        let mut t = CommitTracker::default();
        t.opened(0, 0);
        t.opened(0, 10);
        t.opened(0, 20);
        t.opened(1, 0);
        t.durable(0, 10);
        assert_eq!(t.advance(0, 30), Some(0), "batch 0.. is not durable yet");
        t.durable(0, 20);
        assert_eq!(t.advance(0, 30), None, "nothing moved");
        t.durable(1, 0);
        assert_eq!(t.advance(1, 5), Some(5));
        t.durable(0, 0);
        assert_eq!(t.advance(0, 30), Some(30), "all three are now durable");
        assert_eq!(t.pending(), 0);
        assert_eq!(t.advance(0, 30), None);
        // Records read past the last batch but set aside (not ticks) are committed too.
        assert_eq!(t.advance(0, 33), Some(33));
    }

    #[test]
    fn interleaved_batches_hold_the_commit_at_the_oldest() {
        // Grouped by symbol: A holds offsets 0, 2, 4; B holds 1, 3; C opens at 5.
        let mut t = CommitTracker::default();
        t.opened(0, 0);
        t.opened(0, 1);
        t.durable(0, 0);
        assert_eq!(t.advance(0, 5), Some(1), "B (from 1) is still open");
        t.opened(0, 5);
        t.durable(0, 1);
        assert_eq!(t.advance(0, 6), Some(5), "C (from 5) is still open");
        t.durable(0, 5);
        assert_eq!(t.advance(0, 6), Some(6));
    }
}
