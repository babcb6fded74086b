//! One row a second of the run (`timeseries.csv`), from the stages' interval logs: what was sent,
//! acknowledged, received and landed that second, the consumer lag, and that second's latencies.
//! Ticks of the warm-up are not in the interval logs, so the rows cover the measured window.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;

use super::hlog::StageLog;
use crate::metrics::Stage;

/// One second.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Second {
    /// Seconds since the run's start (the warm-up's start).
    pub second: u64,
    /// Ticks handed to the producer that second (schedule_lag samples).
    pub sent: u64,
    /// Delivery reports received that second.
    pub acked: u64,
    /// Records the sink received that second.
    pub consumed: u64,
    /// Ticks whose object became durable that second.
    pub landed: u64,
    /// Sent so far minus received so far: records waiting in Kafka for the sink. None where no
    /// sink of tickbench's measured what it received (an observed sink).
    pub consumer_lag: Option<i64>,
    /// Objects that became durable that second.
    pub objects: u64,
    /// Latencies of that second's observations, microseconds: (p50, p99, max); None without any.
    pub produce_us: Option<(u64, u64, u64)>,
    pub kafka_e2e_us: Option<(u64, u64, u64)>,
    pub pipeline_e2e_us: Option<(u64, u64, u64)>,
}

fn stats(h: &Histogram<u64>) -> (u64, u64, u64) {
    (h.value_at_quantile(0.5), h.value_at_quantile(0.99), h.max())
}

/// Builds the rows, one for every second from the first observed to the last.
pub fn seconds(logs: &[StageLog]) -> Vec<Second> {
    let by_stage: BTreeMap<&str, BTreeMap<u64, &Histogram<u64>>> = logs
        .iter()
        .map(|l| {
            (
                l.stage.name(),
                l.seconds.iter().map(|(s, h)| (*s, h)).collect(),
            )
        })
        .collect();
    let get = |stage: Stage, sec: u64| by_stage.get(stage.name()).and_then(|m| m.get(&sec));
    let count = |stage: Stage, sec: u64| get(stage, sec).map(|h| h.len()).unwrap_or(0);
    let (Some(first), Some(last)) = (
        logs.iter()
            .filter_map(|l| l.seconds.first().map(|s| s.0))
            .min(),
        logs.iter()
            .filter_map(|l| l.seconds.last().map(|s| s.0))
            .max(),
    ) else {
        return Vec::new();
    };
    let received = by_stage
        .get(Stage::KafkaE2e.name())
        .is_some_and(|m| !m.is_empty());
    let mut lag = 0i64;
    (first..=last)
        .map(|sec| {
            let sent = count(Stage::ScheduleLag, sec);
            let consumed = count(Stage::KafkaE2e, sec);
            lag += sent as i64 - consumed as i64;
            Second {
                second: sec,
                sent,
                acked: count(Stage::Produce, sec),
                consumed,
                landed: count(Stage::PipelineE2e, sec),
                consumer_lag: received.then_some(lag.max(0)),
                objects: count(Stage::ObjectSize, sec),
                produce_us: get(Stage::Produce, sec).map(|h| stats(h)),
                kafka_e2e_us: get(Stage::KafkaE2e, sec).map(|h| stats(h)),
                pipeline_e2e_us: get(Stage::PipelineE2e, sec).map(|h| stats(h)),
            }
        })
        .collect()
}

/// `timeseries.csv`: a header, then one line a second; latencies in milliseconds, empty when that
/// second saw none.
pub fn csv(rows: &[Second]) -> String {
    let mut out = String::from(
        "second,sent,acked,consumed,landed,consumer_lag_records,objects,produce_p50_ms,produce_p99_ms,produce_max_ms,kafka_e2e_p50_ms,kafka_e2e_p99_ms,kafka_e2e_max_ms,pipeline_e2e_p50_ms,pipeline_e2e_p99_ms,pipeline_e2e_max_ms\n",
    );
    for r in rows {
        let _ = write!(
            out,
            "{},{},{},{},{},{},{}",
            r.second,
            r.sent,
            r.acked,
            r.consumed,
            r.landed,
            r.consumer_lag.map(|l| l.to_string()).unwrap_or_default(),
            r.objects
        );
        for s in [r.produce_us, r.kafka_e2e_us, r.pipeline_e2e_us] {
            match s {
                Some((a, b, c)) => {
                    let _ = write!(out, ",{},{},{}", ms(a), ms(b), ms(c));
                }
                None => out.push_str(",,,"),
            }
        }
        out.push('\n');
    }
    out
}

fn ms(us: u64) -> String {
    crate::units::ms(us, 3)
}
