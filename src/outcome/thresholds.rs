//! The verdicts of the scenario's thresholds against a run's summary.

use crate::config::thresholds::{Metric, Stat, Threshold};
use crate::results::{Summary, Verdict};

/// The run's value of a metric, with its unit; None when the run has no data for it (a stage
/// nothing was recorded in: a bound on it is a FAIL, never a pass on an empty histogram).
fn value(s: &Summary, metric: Metric) -> (Option<f64>, &'static str) {
    match metric {
        Metric::Latency(stage, stat) => {
            let Some(st) = s.stages.get(&stage).filter(|st| st.count > 0) else {
                return (None, "ms");
            };
            let us = match stat {
                Stat::P50 => st.p50_us as f64,
                Stat::P90 => st.p90_us as f64,
                Stat::P99 => st.p99_us as f64,
                Stat::P999 => st.p999_us as f64,
                Stat::Max => st.max_us as f64,
                Stat::Mean => st.mean_us,
            };
            (Some(us / 1e3), "ms")
        }
        Metric::Count(c) => (Some(s.counts.get(c) as f64), c.unit()),
        Metric::ProducedPerS => (Some(s.throughput.produced_per_s), "ticks/s"),
        Metric::LandedPerS => (Some(s.throughput.landed_per_s), "ticks/s"),
        Metric::Objects => (Some(s.objects.count as f64), "objects"),
        Metric::S3UsdPerMillionTicks => (Some(s.cost.s3_requests_per_million_ticks_usd), "USD"),
    }
}

/// Checks every threshold against the run's summary.
pub fn evaluate(s: &Summary, thresholds: &[Threshold]) -> Vec<Verdict> {
    thresholds
        .iter()
        .map(|t| {
            let (actual, unit) = value(s, t.metric);
            Verdict {
                passed: actual.is_some_and(|a| t.op.holds(a, t.bound)),
                metric: t.metric.name(),
                condition: t.condition.clone(),
                actual,
                unit: unit.to_string(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::thresholds::parse;
    use crate::metrics::Stage;

    fn fixture() -> Summary {
        serde_json::from_str(include_str!("../../tests/fixtures/run/summary.json")).unwrap()
    }

    #[test]
    fn every_metric_has_a_value_and_bounds_can_fail() {
        let s = fixture();
        for m in Metric::all() {
            if let Metric::Latency(stage, _) = m {
                if s.stages.get(&stage).is_none_or(|st| st.count == 0) {
                    continue;
                }
            }
            assert!(value(&s, m).0.is_some(), "{}", m.name());
        }
        let v = evaluate(
            &s,
            &[
                parse("lost", "== 0").unwrap(),
                parse("pipeline_e2e_p99", "<= 1ms").unwrap(),
            ],
        );
        assert!(v[0].passed, "{v:?}");
        assert!(
            !v[1].passed && v[1].actual.is_some_and(|a| a > 1.0) && v[1].unit == "ms",
            "{v:?}"
        );
    }

    #[test]
    fn a_bound_on_a_stage_without_data_fails_as_no_data() {
        let mut s = fixture();
        s.stages.insert(Stage::Complete, Default::default());
        let v = evaluate(&s, &[parse("complete_p99", "<= 1ms").unwrap()]);
        assert_eq!((v[0].passed, v[0].actual), (false, None), "{v:?}");
    }
}
