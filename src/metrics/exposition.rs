//! The live state of a load as Prometheus / OpenMetrics text (`--metrics-addr`): counters of
//! ticks at each step, what a sink holds, and per stage the percentiles of the last whole second
//! (a summary of the last interval, as the progress line shows) and the count measured so far.
//! Built anew from the atomics at each scrape, so a scrape reads exactly what the run holds.

use std::sync::atomic::Ordering;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::{Counters, Recorders, Stage};

/// A quantile's label and where it is in [`super::Percentiles`].
type Quantile = (&'static str, fn(&super::Percentiles) -> u64);

/// The quantiles served of each stage's last second, as labels.
const QUANTILES: [Quantile; 5] = [
    ("0.5", |p| p.p50),
    ("0.9", |p| p.p90),
    ("0.99", |p| p.p99),
    ("0.999", |p| p.p999),
    ("1", |p| p.max),
];

/// Every metric name served, without the `_total` a counter gets: for the dashboard's test and
/// the docs.
pub const NAMES: [&str; 15] = [
    "tickbench_ticks_produced",
    "tickbench_ticks_acknowledged",
    "tickbench_ticks_delivery_failed",
    "tickbench_ticks_consumed",
    "tickbench_ticks_landed",
    "tickbench_objects_landed",
    "tickbench_bytes_landed",
    "tickbench_dead_letter_objects",
    "tickbench_rewinds",
    "tickbench_s3_requests",
    "tickbench_consumer_lag_ticks",
    "tickbench_partitions_held",
    "tickbench_stage_latency_seconds",
    "tickbench_object_size_bytes",
    "tickbench_stage_measured",
];

/// What is served: the labels every metric carries (run, worker, instance...), and the load's
/// counters and recorders once one is under way.
pub struct Source<'a> {
    pub labels: &'a [(String, String)],
    pub counters: Option<&'a Counters>,
    pub rec: Option<&'a Recorders>,
}

/// The OpenMetrics text of `src`, `# EOF` last.
pub fn render(src: &Source) -> String {
    let mut reg = Registry::with_labels(
        src.labels
            .iter()
            .map(|(k, v)| (k.clone().into(), v.clone().into())),
    );
    if let Some(c) = src.counters {
        let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        for (name, help, v) in [
            (
                "tickbench_ticks_produced",
                "Ticks handed to the Kafka producer",
                load(&c.produced),
            ),
            (
                "tickbench_ticks_acknowledged",
                "Ticks the brokers acknowledged",
                load(&c.acked),
            ),
            (
                "tickbench_ticks_delivery_failed",
                "Ticks whose delivery failed",
                load(&c.delivery_failed),
            ),
            (
                "tickbench_ticks_consumed",
                "Records the sink received",
                load(&c.consumed),
            ),
            (
                "tickbench_ticks_landed",
                "Ticks in objects durable in S3",
                load(&c.landed),
            ),
            (
                "tickbench_objects_landed",
                "Objects durable in S3",
                load(&c.objects),
            ),
            (
                "tickbench_bytes_landed",
                "Bytes of the objects durable in S3",
                load(&c.bytes_landed),
            ),
            (
                "tickbench_dead_letter_objects",
                "Objects of records set aside (not ticks)",
                load(&c.dead_letter_objects),
            ),
            (
                "tickbench_rewinds",
                "Partitions the sink read again from their last commit",
                load(&c.rewinds),
            ),
        ] {
            let m = Counter::<u64>::default();
            m.inc_by(v);
            reg.register(name, help, m);
        }
        // Served once sampled: by a sink of this process, or of an observed sink's group.
        if let Some(lag) = c.sink_lag.get() {
            let g = Gauge::<i64>::default();
            g.set(lag as i64);
            reg.register(
                "tickbench_consumer_lag_ticks",
                "Records not yet received by the sink (by an observed sink: not yet committed)",
                g,
            );
        }
        let requests = Family::<Vec<(String, String)>, Counter<u64>>::default();
        let r = &c.requests;
        for (kind, v) in [
            ("PutObject", &r.put_object),
            ("CreateMultipartUpload", &r.create_multipart),
            ("UploadPart", &r.upload_part),
            ("CompleteMultipartUpload", &r.complete_multipart),
            ("AbortMultipartUpload", &r.abort_multipart),
            ("retried", &r.retried),
            ("precondition_failed", &r.precondition_failed),
        ] {
            requests
                .get_or_create(&vec![("kind".into(), kind.into())])
                .inc_by(load(v));
        }
        reg.register(
            "tickbench_s3_requests",
            "The sink's S3 requests by kind (retried and precondition_failed: of those, sent again or refused)",
            requests,
        );
        let held = Gauge::<i64>::default();
        held.set(c.partitions_held.load(Ordering::Relaxed));
        reg.register(
            "tickbench_partitions_held",
            "Kafka partitions this sink holds",
            held,
        );
    }
    if let Some(rec) = src.rec {
        let latency =
            Family::<Vec<(String, String)>, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        let sizes = Family::<Vec<(String, String)>, Gauge<i64>>::default();
        let measured = Family::<Vec<(String, String)>, Counter<u64>>::default();
        for r in rec.all() {
            let stage = r.stage();
            let count = r.measured_count();
            measured
                .get_or_create(&vec![("stage".into(), stage.name().into())])
                .inc_by(count);
            let last = r.last_interval();
            if last.count == 0 {
                continue;
            }
            for (q, of) in QUANTILES {
                let v = of(&last);
                if stage == Stage::ObjectSize {
                    sizes
                        .get_or_create(&vec![("quantile".into(), q.into())])
                        .set(v as i64);
                } else {
                    latency
                        .get_or_create(&vec![
                            ("stage".into(), stage.name().into()),
                            ("quantile".into(), q.into()),
                        ])
                        .set(v as f64 / 1e6);
                }
            }
        }
        reg.register(
            "tickbench_stage_latency_seconds",
            "Per stage, a quantile of the last whole second (quantile 1: its maximum); stages as in summary.json",
            latency,
        );
        reg.register(
            "tickbench_object_size_bytes",
            "A quantile of the sizes of the objects landed in the last whole second",
            sizes,
        );
        reg.register(
            "tickbench_stage_measured",
            "Per stage, the values measured so far (after the warm-up)",
            measured,
        );
    }
    let mut out = String::new();
    encode(&mut out, &reg).expect("writing to a String cannot fail");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_render_holds_the_counters_and_each_stages_last_second() {
        let c = Counters::default();
        c.produced.store(10, Ordering::Relaxed);
        c.acked.store(9, Ordering::Relaxed);
        c.consumed.store(7, Ordering::Relaxed);
        c.sink_lag.set(2);
        let rec = Recorders::new(0, 0);
        rec.get(Stage::PipelineE2e).record(2_000, false, 0);
        rec.get(Stage::PipelineE2e).record(4_000, false, 1);
        let labels = vec![("run".to_string(), "smoke".to_string())];
        let text = render(&Source {
            labels: &labels,
            counters: Some(&c),
            rec: Some(&rec),
        });
        assert!(
            text.contains("tickbench_ticks_produced_total{run=\"smoke\"} 10"),
            "{text}"
        );
        assert!(
            text.contains("tickbench_consumer_lag_ticks{run=\"smoke\"} 2"),
            "{text}"
        );
        // Second 0 closed when second 1's value came: its 2 ms is the last whole second.
        assert!(
            text.contains("tickbench_stage_latency_seconds{run=\"smoke\",stage=\"pipeline_e2e\",quantile=\"0.99\"} 0.002"),
            "{text}"
        );
        assert!(
            text.contains("tickbench_stage_measured_total{run=\"smoke\",stage=\"pipeline_e2e\"} 2"),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
        for name in NAMES {
            assert!(
                name == "tickbench_object_size_bytes" || text.contains(name),
                "{name} missing"
            );
        }
    }

    #[test]
    fn the_consumer_lag_is_served_once_sampled() {
        let c = Counters::default();
        c.acked.store(9, Ordering::Relaxed);
        let text = |c: &Counters| {
            render(&Source {
                labels: &[],
                counters: Some(c),
                rec: None,
            })
        };
        assert!(!text(&c).contains("tickbench_consumer_lag_ticks"));
        c.sink_lag.set(0);
        assert!(text(&c).contains("tickbench_consumer_lag_ticks 0"));
        c.sink_lag.set(1234);
        assert!(text(&c).contains("tickbench_consumer_lag_ticks 1234"));
    }
}
