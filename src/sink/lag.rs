//! The sink's consumer lag: records in the partitions it holds that it has not received yet, as
//! `kafka-consumer-groups.sh` counts them, so that a sink on its own (no producer in the process
//! to count against) can say whether it keeps up.
//!
//! The end offsets are asked of the brokers (one ListOffsets per leader for the whole assignment),
//! not taken from librdkafka's cache: that cache is refreshed by fetch responses, and a sink that
//! falls behind stops fetching once its queue is full, just when its lag matters.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::SinkConsumer;
use crate::metrics::Counters;

/// How often the lag is sampled.
const EVERY: Duration = Duration::from_secs(1);
/// How long the brokers are given to answer; a sample they miss is skipped (the last one stays).
const ASK_FOR: Duration = Duration::from_secs(2);

/// Samples the lag into `Counters::sink_lag` until stopped.
pub(super) struct Sampler {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Sampler {
    pub fn start(consumer: Arc<SinkConsumer>, counters: Arc<Counters>) -> Sampler {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stopped.changed() => return,
                    _ = tokio::time::sleep(EVERY) => {}
                }
                let c = consumer.clone();
                // The brokers' answer is waited for on a thread of its own.
                if let Ok(Some(lag)) = tokio::task::spawn_blocking(move || sample(&c)).await {
                    counters.sink_lag.set(lag);
                }
            }
        });
        Sampler { stop, task }
    }

    /// Stops sampling; returns once no sample holds the consumer any more.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// The lag over the partitions the consumer holds now; None if the brokers did not answer.
fn sample(consumer: &SinkConsumer) -> Option<u64> {
    let mut ask = consumer.assignment().ok()?;
    if ask.count() == 0 {
        return Some(0);
    }
    // The timestamp "end" (-1) asks each partition's end offset (the last stable one under
    // read_committed).
    ask.set_all_offsets(Offset::End).ok()?;
    let ends = consumer
        .offsets_for_times(ask, ASK_FOR)
        .map_err(|e| tracing::debug!("consumer lag: the end offsets: {e}"))
        .ok()?;
    let positions = consumer
        .position()
        .map_err(|e| tracing::debug!("consumer lag: the positions: {e}"))
        .ok()?;
    // A partition not read from yet has no position: it starts from its committed offset.
    let mut unread = TopicPartitionList::new();
    for p in positions.elements() {
        if !matches!(p.offset(), Offset::Offset(_)) {
            unread.add_partition(p.topic(), p.partition());
        }
    }
    let committed = match unread.count() {
        0 => unread,
        _ => consumer
            .committed_offsets(unread, ASK_FOR)
            .map_err(|e| tracing::debug!("consumer lag: the committed offsets: {e}"))
            .ok()?,
    };
    tracing::trace!("consumer lag: ends {ends:?}, positions {positions:?}, {committed:?}");
    let pairs = ends.elements().into_iter().filter_map(|e| {
        let pos = match positions.find_partition(e.topic(), e.partition())?.offset() {
            Offset::Offset(o) => o,
            _ => committed.find_partition(e.topic(), e.partition())?.offset().to_raw()?,
        };
        Some((e.offset().to_raw()?, pos))
    });
    Some(lag(pairs))
}

/// Σ (end − position) over partitions whose both offsets are known (a partition with neither a
/// position nor a commit is left out: where it starts depends on `auto.offset.reset`).
fn lag(pairs: impl IntoIterator<Item = (i64, i64)>) -> u64 {
    pairs
        .into_iter()
        .filter(|&(end, pos)| end >= 0 && pos >= 0)
        .map(|(end, pos)| end.saturating_sub(pos).max(0) as u64)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::lag;

    #[test]
    fn lag_sums_what_is_behind_and_leaves_out_partitions_not_read_yet() {
        // -1001 is librdkafka's "invalid" offset: no position, and no commit either.
        assert_eq!(lag([(100, 40), (50, 50), (70, -1001), (10, 12)]), 60);
        assert_eq!(lag([]), 0);
    }
}
