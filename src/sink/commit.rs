//! In-order offset commits: a partition's offset may move past a batch only when that batch and
//! every earlier batch of the partition are durable, whatever order their uploads finish in.

use std::collections::{BTreeMap, VecDeque};

#[derive(Debug)]
struct Pending {
    first_offset: i64,
    last_offset: i64,
    durable: bool,
}

/// Batches of each partition in offset order, waiting to become durable.
#[derive(Debug, Default)]
pub struct CommitTracker {
    partitions: BTreeMap<i32, VecDeque<Pending>>,
}

impl CommitTracker {
    /// A batch closed; it must be durable before anything after it is committed.
    pub fn closed(&mut self, partition: i32, first_offset: i64, last_offset: i64) {
        self.partitions
            .entry(partition)
            .or_default()
            .push_back(Pending {
                first_offset,
                last_offset,
                durable: false,
            });
    }

    /// The batch starting at `first_offset` is durable. Returns the offset that may now be
    /// committed for the partition (last durable-in-order offset + 1), if it moved.
    pub fn durable(&mut self, partition: i32, first_offset: i64) -> Option<i64> {
        let q = self.partitions.get_mut(&partition)?;
        if let Some(p) = q.iter_mut().find(|p| p.first_offset == first_offset) {
            p.durable = true;
        }
        let mut next = None;
        while q.front().is_some_and(|p| p.durable) {
            next = q.pop_front().map(|p| p.last_offset + 1);
        }
        next
    }

    /// Batches closed but not yet committable.
    pub fn pending(&self) -> usize {
        self.partitions.values().map(|q| q.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_completion_commits_in_order() {
        let mut t = CommitTracker::default();
        t.closed(0, 0, 9);
        t.closed(0, 10, 19);
        t.closed(0, 20, 29);
        t.closed(1, 0, 4);
        assert_eq!(t.durable(0, 10), None, "batch 0..9 is not durable yet");
        assert_eq!(t.durable(0, 20), None);
        assert_eq!(t.durable(1, 0), Some(5));
        assert_eq!(
            t.durable(0, 0),
            Some(30),
            "all three are now durable in order"
        );
        assert_eq!(t.pending(), 0);
        assert_eq!(t.durable(0, 40), None);
    }
}
