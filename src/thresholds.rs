//! Pass/fail bounds on a run's figures, from the scenario's `[thresholds]`:
//!
//! ```toml
//! [thresholds]
//! pipeline_e2e_p99 = "<= 2s"
//! landed_per_s = ">= 50000"
//! lost = "== 0"
//! ```
//!
//! Latency metrics take a duration, the others a number. A name that is not a metric is an error
//! at load time, never a threshold that silently passes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::report::{latency_stages, Summary};

const STATS: [&str; 6] = ["p50", "p90", "p99", "p999", "max", "mean"];
const COUNTS: [&str; 15] = [
    "produced",
    "acked",
    "consumed",
    "landed",
    "lost",
    "duplicated",
    "delivery_failed",
    "not_sent",
    "malformed",
    "dead_lettered",
    "offset_gaps",
    "consumer_errors",
    "rewinds",
    "reread",
    "foreign",
];
const OTHERS: [&str; 4] = [
    "produced_per_s",
    "landed_per_s",
    "objects",
    "s3_usd_per_million_ticks",
];

/// How a value compares with the bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Le,
    Lt,
    Ge,
    Gt,
    Eq,
}

impl Op {
    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Le => a <= b,
            Op::Lt => a < b,
            Op::Ge => a >= b,
            Op::Gt => a > b,
            Op::Eq => a == b,
        }
    }
}

/// A threshold, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub metric: String,
    op: Op,
    /// In the metric's unit: milliseconds for latencies.
    bound: f64,
    /// As written in the scenario.
    pub condition: String,
}

/// One threshold's outcome (`summary.json` `thresholds`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, schemars::JsonSchema)]
pub struct Verdict {
    pub metric: String,
    /// As written in the scenario, for example "<= 2s".
    pub condition: String,
    /// The run's value, in `unit`.
    pub actual: f64,
    pub unit: String,
    pub passed: bool,
}

/// Every metric name a threshold may use.
pub fn metric_names() -> Vec<String> {
    let mut out: Vec<String> = latency_stages()
        .flat_map(|s| STATS.iter().map(move |st| format!("{}_{st}", s.name())))
        .collect();
    out.extend(COUNTS.iter().chain(OTHERS.iter()).map(|s| s.to_string()));
    out
}

fn is_latency(metric: &str) -> bool {
    latency_stages().any(|s| {
        metric
            .strip_prefix(s.name())
            .and_then(|rest| rest.strip_prefix('_'))
            .is_some_and(|st| STATS.contains(&st))
    })
}

/// The allowed values of a threshold, for error messages.
pub fn allowed() -> String {
    format!(
        "a condition \"<= 2s\" (latencies: <stage>_{{{}}}, stages {}) or \">= 50000\" (numbers: {}), with one of <= < >= > ==",
        STATS.join(","),
        latency_stages().map(|s| s.name()).collect::<Vec<_>>().join(", "),
        COUNTS.iter().chain(OTHERS.iter()).copied().collect::<Vec<_>>().join(", ")
    )
}

/// Parses `metric = "condition"`; the error is what is wrong, for the scenario's message.
pub fn parse(metric: &str, condition: &str) -> Result<Threshold, String> {
    if !metric_names().iter().any(|m| m == metric) {
        return Err(format!("`{metric}` is not a metric"));
    }
    let c = condition.trim();
    let (op, rest) = [
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("==", Op::Eq),
        ("<", Op::Lt),
        (">", Op::Gt),
    ]
    .iter()
    .find_map(|(p, op)| c.strip_prefix(p).map(|r| (*op, r.trim())))
    .ok_or_else(|| format!("{condition:?} does not start with <= < >= > =="))?;
    let bound = if is_latency(metric) {
        humantime::parse_duration(rest)
            .map_err(|_| format!("{rest:?} is not a duration (2s, 150ms)"))?
            .as_secs_f64()
            * 1e3
    } else {
        rest.replace('_', "")
            .parse::<f64>()
            .map_err(|_| format!("{rest:?} is not a number"))?
    };
    Ok(Threshold {
        metric: metric.to_string(),
        op,
        bound,
        condition: condition.to_string(),
    })
}

/// The run's value of a metric, with its unit.
fn value(s: &Summary, metric: &str) -> Option<(f64, &'static str)> {
    if is_latency(metric) {
        let (stage, stat) = metric.rsplit_once('_')?;
        let st = s.stages.get(stage)?;
        let us = match stat {
            "p50" => st.p50_us as f64,
            "p90" => st.p90_us as f64,
            "p99" => st.p99_us as f64,
            "p999" => st.p999_us as f64,
            "max" => st.max_us as f64,
            _ => st.mean_us,
        };
        return Some((us / 1e3, "ms"));
    }
    let c = &s.counts;
    let n = |v: u64| Some((v as f64, "ticks"));
    match metric {
        "produced" => n(c.produced),
        "acked" => n(c.acked),
        "consumed" => n(c.consumed),
        "landed" => n(c.landed),
        "lost" => n(c.lost),
        "duplicated" => n(c.duplicated),
        "delivery_failed" => n(c.delivery_failed),
        "not_sent" => n(c.not_sent),
        "malformed" => n(c.malformed),
        "dead_lettered" => n(c.dead_lettered),
        "offset_gaps" => n(c.offset_gaps),
        "consumer_errors" => n(c.consumer_errors),
        "rewinds" => Some((c.rewinds as f64, "rewinds")),
        "reread" => n(c.reread),
        "foreign" => n(c.foreign),
        "produced_per_s" => Some((s.throughput.produced_per_s, "ticks/s")),
        "landed_per_s" => Some((s.throughput.landed_per_s, "ticks/s")),
        "objects" => Some((s.objects.count as f64, "objects")),
        "s3_usd_per_million_ticks" => Some((s.cost.s3_requests_per_million_ticks_usd, "USD")),
        _ => None,
    }
}

/// A value as people read it: whole numbers without decimals, others to 2 places.
pub fn fmt_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Checks every threshold against the run's summary.
pub fn evaluate(s: &Summary, thresholds: &BTreeMap<String, String>) -> Vec<Verdict> {
    thresholds
        .iter()
        .filter_map(|(m, c)| parse(m, c).ok())
        .map(|t| {
            let (actual, unit) = value(s, &t.metric).unwrap_or((f64::NAN, ""));
            Verdict {
                passed: t.op.holds(actual, t.bound),
                metric: t.metric,
                condition: t.condition,
                actual,
                unit: unit.to_string(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_parse_with_their_units() {
        let t = parse("pipeline_e2e_p99", "<= 2s").unwrap();
        assert_eq!((t.op, t.bound), (Op::Le, 2000.0));
        let t = parse("landed_per_s", ">= 50_000").unwrap();
        assert_eq!((t.op, t.bound), (Op::Ge, 50000.0));
        assert_eq!(parse("lost", "== 0").unwrap().op, Op::Eq);
        assert!(parse("pipeline_e2e_p99", "<= 2")
            .unwrap_err()
            .contains("not a duration"));
        assert!(parse("lost", "0").unwrap_err().contains("does not start"));
        assert!(parse("pipline_e2e_p99", "<= 2s")
            .unwrap_err()
            .contains("not a metric"));
        assert!(
            parse("object_size_p99", "<= 2s").is_err(),
            "sizes are not latencies"
        );
    }

    #[test]
    fn every_listed_metric_has_a_value() {
        let s: Summary =
            serde_json::from_str(include_str!("../tests/fixtures/run/summary.json")).unwrap();
        for m in metric_names() {
            assert!(value(&s, &m).is_some(), "{m}");
        }
        let v = evaluate(
            &s,
            &[
                ("lost".to_string(), "== 0".to_string()),
                ("pipeline_e2e_p99".to_string(), "<= 1ms".to_string()),
            ]
            .into_iter()
            .collect(),
        );
        assert!(v[0].passed, "{v:?}");
        assert!(
            !v[1].passed && v[1].actual > 1.0 && v[1].unit == "ms",
            "{v:?}"
        );
    }
}
