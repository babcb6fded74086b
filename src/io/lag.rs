//! Consumer lag as the brokers see it: the partitions' end offsets, asked of the brokers, minus
//! where a consumer is (its positions, or a group's commits). Every call here waits on the
//! brokers: run it on a thread that may block.
//!
//! The end offsets are asked for (one ListOffsets per leader), not taken from librdkafka's cache:
//! that cache is refreshed by fetch responses, and a consumer that falls behind stops fetching
//! once its queue is full, just when its lag matters.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaResult;
use rdkafka::{Offset, TopicPartitionList};

use crate::config::Kafka;
use crate::io::connect;
use crate::io::msk_iam::AuthContext;

/// How long the brokers are given to answer one question.
pub const ASK_FOR: Duration = Duration::from_secs(2);

/// Each partition of `partitions`' end offset (the last stable one under read_committed).
pub fn end_offsets<C: ConsumerContext>(
    consumer: &impl Consumer<C>,
    mut partitions: TopicPartitionList,
) -> KafkaResult<TopicPartitionList> {
    // The timestamp "end" (-1) asks for the end offset.
    partitions.set_all_offsets(Offset::End)?;
    consumer.offsets_for_times(partitions, ASK_FOR)
}

/// Σ (end − offset) over the partitions of `ends` whose offset `at` knows (a negative offset is
/// librdkafka's "none": no position, or no commit).
pub fn behind(ends: &TopicPartitionList, at: impl Fn(&str, i32) -> Option<i64>) -> u64 {
    ends.elements()
        .iter()
        .filter_map(|e| Some((e.offset().to_raw()?, at(e.topic(), e.partition())?)))
        .filter(|&(end, at)| end >= 0 && at >= 0)
        .map(|(end, at)| (end - at).max(0) as u64)
        .sum()
}

/// A consumer group's lag on the scenario's topic, watched from outside as
/// `kafka-consumer-groups.sh --describe` does: the end offsets minus the group's commits. The
/// client carries the group's id only to ask for its commits: it never joins the group, and
/// never commits.
pub struct GroupLag {
    consumer: BaseConsumer<AuthContext>,
    topic: String,
    /// Where a partition the group has not committed on counts from (the load's first offsets).
    from: BTreeMap<i32, i64>,
}

impl GroupLag {
    pub fn new(
        brokers: &str,
        k: &Kafka,
        group_id: &str,
        from: BTreeMap<i32, i64>,
    ) -> anyhow::Result<GroupLag> {
        let mut cfg = connect::consumer_config(brokers, k, group_id)?;
        cfg.set("client.id", "tickbench-observer");
        Ok(GroupLag {
            consumer: connect::short_lived(&cfg)?,
            topic: k.topic.clone(),
            from,
        })
    }

    /// The group's lag now: from its commit on each partition of the topic, or where the load
    /// began on one it has not committed on (left out when that is not known either). The
    /// partitions are asked for each time: a topic may be created, or grow, while it is watched.
    pub fn sample(&self) -> KafkaResult<u64> {
        let md = self.consumer.fetch_metadata(Some(&self.topic), ASK_FOR)?;
        let mut partitions = TopicPartitionList::new();
        for t in md.topics().iter().filter(|t| t.name() == self.topic) {
            for p in t.partitions() {
                partitions.add_partition(&self.topic, p.id());
            }
        }
        if partitions.count() == 0 {
            return Ok(0);
        }
        let ends = end_offsets(&self.consumer, partitions.clone())?;
        let committed = self.consumer.committed_offsets(partitions, ASK_FOR)?;
        Ok(behind(&ends, |t, p| {
            match committed.find_partition(t, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => Some(o),
                _ => self.from.get(&p).copied(),
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behind_sums_what_each_partition_lacks_and_leaves_out_those_with_no_offset() {
        let mut ends = TopicPartitionList::new();
        for (p, end) in [(0, 100), (1, 50), (2, 70), (3, 10)] {
            ends.add_partition_offset("t", p, Offset::Offset(end))
                .unwrap();
        }
        // Partition 2 has no offset (-1001, librdkafka's "invalid"); 3 is ahead of its end
        // (read between the two questions).
        let at = |_: &str, p: i32| [40, 50, -1001, 12].get(p as usize).copied();
        assert_eq!(behind(&ends, at), 60);
        assert_eq!(behind(&TopicPartitionList::new(), at), 0);
    }
}
