//! `tickbench compare RUN_DIR...`: runs side by side. A table of the figures that decide between
//! configurations, each with its change in percent against the first run, and the runs' latency
//! spectra and throughput overlaid (`compare.md`, `compare.html`).

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;

use super::document::{quantile, spectrum, RunReport, CSS};
use super::svg::{self, Chart, Series, XAxis};
use super::table::{esc, Table};
use crate::metrics::Stage;

/// A row of the comparison: a name, and how to read it off a run (None: not measured).
type Metric = (&'static str, fn(&RunReport) -> Option<f64>);

fn stage_q(r: &RunReport, stage: Stage, q: f64) -> Option<f64> {
    r.logs
        .iter()
        .find(|l| l.stage == stage && !l.total.is_empty())
        .map(|l| quantile(&l.total, q) as f64 / 1e3)
}

const METRICS: [Metric; 13] = [
    ("landed ticks/s", |r| {
        Some(r.summary.throughput.landed_per_s)
    }),
    ("produced ticks/s", |r| {
        Some(r.summary.throughput.produced_per_s)
    }),
    ("pipeline_e2e p50 ms", |r| {
        stage_q(r, Stage::PipelineE2e, 0.5)
    }),
    ("pipeline_e2e p99 ms", |r| {
        stage_q(r, Stage::PipelineE2e, 0.99)
    }),
    ("pipeline_e2e p99.9 ms", |r| {
        stage_q(r, Stage::PipelineE2e, 0.999)
    }),
    ("pipeline_e2e max ms", |r| {
        stage_q(r, Stage::PipelineE2e, 1.0)
    }),
    ("kafka_e2e p99 ms", |r| stage_q(r, Stage::KafkaE2e, 0.99)),
    ("produce p99 ms", |r| stage_q(r, Stage::Produce, 0.99)),
    ("objects", |r| Some(r.summary.objects.count as f64)),
    ("S3 USD per million ticks", |r| {
        Some(r.summary.cost.s3_requests_per_million_ticks_usd)
    }),
    ("peak RSS MiB", |r| {
        r.summary
            .resources
            .peak_rss_bytes
            .map(|b| b as f64 / 1048576.0)
    }),
    ("lost", |r| Some(r.summary.counts.lost as f64)),
    ("duplicated", |r| Some(r.summary.counts.duplicated as f64)),
];

/// Runs loaded for comparison, labelled by their folder names.
pub struct Comparison {
    pub runs: Vec<(String, RunReport)>,
}

impl Comparison {
    pub fn load(dirs: &[impl AsRef<Path>]) -> anyhow::Result<Comparison> {
        anyhow::ensure!(!dirs.is_empty(), "name at least one run folder");
        let runs = dirs
            .iter()
            .map(|d| {
                let d = d.as_ref();
                let label = d
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| d.display().to_string());
                RunReport::load(d).map(|r| (label, r))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Comparison { runs })
    }

    /// Metric rows, a column a run; from the second run on each value carries its change
    /// against the first.
    pub fn table(&self) -> Table {
        let mut t = Table::new(
            std::iter::once("metric".to_string()).chain(self.runs.iter().map(|(l, _)| l.clone())),
        );
        for (name, f) in METRICS {
            let base = f(&self.runs[0].1);
            let mut row = vec![name.to_string()];
            for (i, (_, r)) in self.runs.iter().enumerate() {
                let v = f(r);
                let cell = match (v, base) {
                    (None, _) => "".to_string(),
                    (Some(v), Some(b)) if i > 0 && b != 0.0 => {
                        format!("{} ({:+.1}%)", num(v), (v - b) / b * 100.0)
                    }
                    (Some(v), _) => num(v),
                };
                row.push(cell);
            }
            t.row(row);
        }
        let mut verdicts = vec!["audit and thresholds".to_string()];
        verdicts.extend(self.runs.iter().map(|(_, r)| {
            if r.summary.passed && r.summary.thresholds_passed() {
                "PASS".to_string()
            } else {
                "FAIL".to_string()
            }
        }));
        t.row(verdicts);
        t
    }

    pub fn charts(&self) -> Vec<String> {
        let spectra = |stage: Stage| {
            svg::render(&Chart {
                title: format!("{} by percentile, per run", stage.name()),
                x_label: "percentile".into(),
                y_label: "milliseconds (log)".into(),
                x: XAxis::Percentile,
                y_log: true,
                series: self
                    .runs
                    .iter()
                    .filter_map(|(label, r)| {
                        let l = r.logs.iter().find(|l| l.stage == stage)?;
                        Some(Series {
                            name: label.clone(),
                            points: spectrum(&l.total)
                                .into_iter()
                                .map(|(q, v)| (svg::percentile_x(q), v as f64 / 1e3))
                                .collect(),
                        })
                    })
                    .collect(),
            })
        };
        vec![
            spectra(Stage::PipelineE2e),
            spectra(Stage::KafkaE2e),
            svg::render(&Chart {
                title: "Landed ticks per second, per run".into(),
                x_label: "second of the run".into(),
                y_label: "ticks per second".into(),
                x: XAxis::Linear,
                y_log: false,
                series: self
                    .runs
                    .iter()
                    .map(|(label, r)| Series {
                        name: label.clone(),
                        points: r
                            .seconds
                            .iter()
                            .map(|s| (s.second as f64, s.landed as f64))
                            .collect(),
                    })
                    .collect(),
            }),
        ]
    }

    pub fn markdown(&self) -> String {
        let mut out = String::from("# tickbench comparison\n\n");
        let _ = writeln!(
            out,
            "Changes in percent are against the first run, `{}`.\n",
            self.runs[0].0
        );
        out.push_str(&self.table().markdown());
        out
    }

    pub fn html(&self) -> String {
        let mut out = format!(
            r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>tickbench comparison</title><style>{CSS}</style></head><body><h1>tickbench comparison</h1><p>Changes in percent are against the first run, <code>{}</code>.</p>"#,
            esc(&self.runs[0].0)
        );
        out.push_str(&self.table().html());
        out.push_str(r#"<div class="charts">"#);
        for c in self.charts() {
            let _ = write!(out, "<figure>{c}</figure>");
        }
        out.push_str("</div></body></html>");
        out
    }

    /// Writes compare.md and compare.html into `dir`.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (name, text) in [
            ("compare.md", self.markdown()),
            ("compare.html", self.html()),
        ] {
            std::fs::write(dir.join(name), text)
                .with_context(|| format!("writing {}", dir.join(name).display()))?;
        }
        Ok(())
    }
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 || v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}
