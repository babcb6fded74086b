//! The sink's consumer lag: records in the partitions it holds that it has not received yet, as
//! `kafka-consumer-groups.sh` counts them, with the end offsets asked of the brokers (see
//! [`crate::io::lag`]), so that a sink on its own (no producer in the process to count against)
//! can say whether it keeps up.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::Consumer;
use rdkafka::{Offset, TopicPartitionList};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::SinkConsumer;
use crate::io::lag;
use crate::metrics::Counters;

/// How often the lag is sampled.
const EVERY: Duration = Duration::from_secs(1);

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
                // The brokers' answer is waited for on a thread of its own; a sample they do
                // not answer is skipped (the last one stays).
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
    let held = consumer.assignment().ok()?;
    if held.count() == 0 {
        return Some(0);
    }
    let ends = lag::end_offsets(consumer, held)
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
            .committed_offsets(unread, lag::ASK_FOR)
            .map_err(|e| tracing::debug!("consumer lag: the committed offsets: {e}"))
            .ok()?,
    };
    tracing::trace!("consumer lag: ends {ends:?}, positions {positions:?}, {committed:?}");
    Some(lag::behind(&ends, |t, p| {
        match positions.find_partition(t, p)?.offset() {
            Offset::Offset(o) => Some(o),
            _ => committed.find_partition(t, p)?.offset().to_raw(),
        }
    }))
}
