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
//! at load time, never a threshold that silently passes. Checking them against a run's figures
//! is `outcome::thresholds`.

use crate::metrics::{Count, Stage};

/// A statistic of a latency stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    P50,
    P90,
    P99,
    P999,
    Max,
    Mean,
}

impl Stat {
    pub const ALL: [Stat; 6] = [
        Stat::P50,
        Stat::P90,
        Stat::P99,
        Stat::P999,
        Stat::Max,
        Stat::Mean,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stat::P50 => "p50",
            Stat::P90 => "p90",
            Stat::P99 => "p99",
            Stat::P999 => "p999",
            Stat::Max => "max",
            Stat::Mean => "mean",
        }
    }
}

/// What a threshold bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// `<stage>_<stat>`, in milliseconds.
    Latency(Stage, Stat),
    /// One of the run's counts.
    Count(Count),
    ProducedPerS,
    LandedPerS,
    Objects,
    S3UsdPerMillionTicks,
}

const OTHERS: [(&str, Metric); 4] = [
    ("produced_per_s", Metric::ProducedPerS),
    ("landed_per_s", Metric::LandedPerS),
    ("objects", Metric::Objects),
    ("s3_usd_per_million_ticks", Metric::S3UsdPerMillionTicks),
];

impl Metric {
    /// Every metric a threshold may name.
    pub fn all() -> Vec<Metric> {
        let mut out: Vec<Metric> = Stage::latencies()
            .flat_map(|s| Stat::ALL.map(|st| Metric::Latency(s, st)))
            .collect();
        out.extend(Count::ALL.map(Metric::Count));
        out.extend(OTHERS.map(|(_, m)| m));
        out
    }

    /// The name used in `[thresholds]` and in `summary.json`'s verdicts.
    pub fn name(self) -> String {
        match self {
            Metric::Latency(s, st) => format!("{}_{}", s.name(), st.name()),
            Metric::Count(c) => c.name().to_string(),
            other => OTHERS
                .iter()
                .find(|(_, m)| *m == other)
                .map(|(n, _)| n.to_string())
                .unwrap_or_default(),
        }
    }

    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::all().into_iter().find(|m| m.name() == name)
    }
}

/// How a value compares with the bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Le,
    Lt,
    Ge,
    Gt,
    Eq,
}

impl Op {
    pub fn holds(self, a: f64, b: f64) -> bool {
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
    pub metric: Metric,
    pub op: Op,
    /// In the metric's unit: milliseconds for latencies.
    pub bound: f64,
    /// As written in the scenario.
    pub condition: String,
}

/// The allowed values of a threshold, for error messages.
pub fn allowed() -> String {
    let stats: Vec<&str> = Stat::ALL.iter().map(|s| s.name()).collect();
    let numbers: Vec<&str> = Count::ALL
        .iter()
        .map(|c| c.name())
        .chain(OTHERS.iter().map(|(n, _)| *n))
        .collect();
    format!(
        "a condition \"<= 2s\" (latencies: <stage>_{{{}}}, stages {}) or \">= 50000\" (numbers: {}), with one of <= < >= > ==",
        stats.join(","),
        Stage::latencies().map(|s| s.name()).collect::<Vec<_>>().join(", "),
        numbers.join(", ")
    )
}

/// Parses `metric = "condition"`; the error is what is wrong, for the scenario's message.
pub fn parse(metric: &str, condition: &str) -> Result<Threshold, String> {
    let m = Metric::from_name(metric).ok_or_else(|| format!("`{metric}` is not a metric"))?;
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
    let bound = if matches!(m, Metric::Latency(..)) {
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
        metric: m,
        op,
        bound,
        condition: condition.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_parse_with_their_units() {
        let t = parse("pipeline_e2e_p99", "<= 2s").unwrap();
        assert_eq!(
            (t.metric, t.op, t.bound),
            (
                Metric::Latency(Stage::PipelineE2e, Stat::P99),
                Op::Le,
                2000.0
            )
        );
        let t = parse("landed_per_s", ">= 50_000").unwrap();
        assert_eq!((t.op, t.bound), (Op::Ge, 50000.0));
        assert_eq!(parse("lost", "== 0").unwrap().op, Op::Eq);
        assert_eq!(
            parse("skipped_preexisting", "== 0").unwrap().metric,
            Metric::Count(Count::SkippedPreexisting)
        );
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
    fn every_metric_name_reads_back_as_itself() {
        for m in Metric::all() {
            assert_eq!(Metric::from_name(&m.name()), Some(m), "{}", m.name());
        }
    }
}
