//! The report of one run (`report.md`, `report.html`, `timeseries.csv`), built from its results
//! folder alone, so `tickbench report RUN_DIR` makes the same files the run did.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use hdrhistogram::Histogram;

use super::hlog::{self, StageLog};
use super::svg::{self, Chart, Series, XAxis};
use super::table::{esc, Table};
use super::timeseries::{self, Second};
use crate::metrics::Stage;
use crate::results::{files, latency_stages, Manifest, RunDir, Summary};

/// Quantiles of the latency tables, as (label, quantile).
const QUANTILES: [(&str, f64); 7] = [
    ("p50", 0.5),
    ("p90", 0.9),
    ("p99", 0.99),
    ("p99.9", 0.999),
    ("p99.99", 0.9999),
    ("p99.999", 0.99999),
    ("max", 1.0),
];

/// Everything a report shows, read from a results folder.
pub struct RunReport {
    pub dir: PathBuf,
    pub summary: Summary,
    pub scenario_toml: String,
    /// None for a folder whose manifest is missing or unreadable (the report still shows the rest).
    pub manifest: Option<Manifest>,
    pub logs: Vec<StageLog>,
    pub seconds: Vec<Second>,
}

impl RunReport {
    pub fn load(dir: &Path) -> anyhow::Result<RunReport> {
        let run = RunDir::open(dir);
        let summary = run.summary().with_context(|| {
            format!(
                "{}: not the summary.json of a `tickbench run`",
                run.file(files::SUMMARY).display()
            )
        })?;
        let logs = hlog::read_all(&run.histograms())?;
        let seconds = timeseries::seconds(&logs);
        Ok(RunReport {
            dir: dir.to_path_buf(),
            summary,
            scenario_toml: std::fs::read_to_string(run.file(files::SCENARIO)).unwrap_or_default(),
            manifest: run.manifest().ok(),
            logs,
            seconds,
        })
    }

    /// Writes report.md, report.html and timeseries.csv into the run's folder.
    pub fn write(&self) -> anyhow::Result<()> {
        let w = |name: &str, text: String| {
            std::fs::write(self.dir.join(name), text)
                .with_context(|| format!("writing {}", self.dir.join(name).display()))
        };
        w(files::REPORT_MD, self.markdown())?;
        w(files::REPORT_HTML, self.html())?;
        w(files::TIMESERIES, timeseries::csv(&self.seconds))
    }

    fn log(&self, stage: Stage) -> Option<&StageLog> {
        self.logs
            .iter()
            .find(|l| l.stage == stage && !l.total.is_empty())
    }

    fn verdict(&self) -> String {
        if self.summary.passed {
            "PASS (every acknowledged tick landed exactly once)".into()
        } else {
            format!("FAIL ({})", self.summary.problems.join("; "))
        }
    }

    fn counts(&self) -> Table {
        let c = &self.summary.counts;
        let mut t = Table::new([
            "produced",
            "acknowledged",
            "consumed",
            "landed",
            "lost",
            "duplicated",
            "delivery failed",
            "malformed",
        ]);
        t.row(
            [
                c.produced,
                c.acked,
                c.consumed,
                c.landed,
                c.lost,
                c.duplicated,
                c.delivery_failed,
                c.malformed,
            ]
            .map(|n| n.to_string()),
        );
        t
    }

    /// Latency percentiles per stage, milliseconds, from the interval logs (the summary's
    /// figures when a stage has no log).
    fn latency(&self) -> Table {
        let mut t = Table::new(
            ["stage", "count"]
                .into_iter()
                .chain(QUANTILES.iter().map(|q| q.0)),
        );
        for stage in latency_stages() {
            if let Some(l) = self.log(stage) {
                let mut row = vec![stage.name().to_string(), l.total.len().to_string()];
                row.extend(QUANTILES.iter().map(|(_, q)| ms(quantile(&l.total, *q))));
                t.row(row);
            } else if let Some(s) = self.summary.stages.get(&stage).filter(|s| s.count > 0) {
                let mut row = vec![stage.name().to_string(), s.count.to_string()];
                let known = [
                    Some(s.p50_us),
                    Some(s.p90_us),
                    Some(s.p99_us),
                    Some(s.p999_us),
                    None,
                    None,
                    Some(s.max_us),
                ];
                row.extend(known.iter().map(|v| v.map(ms).unwrap_or_else(|| "".into())));
                t.row(row);
            }
        }
        t
    }

    fn thresholds(&self) -> Table {
        let mut t = Table::new(["threshold", "condition", "actual", "verdict"]);
        for v in &self.summary.thresholds {
            t.row([
                v.metric.clone(),
                v.condition.clone(),
                v.actual_text(),
                if v.passed { "PASS" } else { "FAIL" }.to_string(),
            ]);
        }
        t
    }

    fn objects(&self) -> Table {
        let o = &self.summary.objects;
        let mut t = Table::new([
            "objects",
            "multipart",
            "parts",
            "MiB",
            "size p50",
            "size p99",
            "size max",
            "under 128 MiB",
            "closed by",
        ]);
        let reasons: Vec<String> = o
            .close_reasons
            .iter()
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        t.row([
            o.count.to_string(),
            o.multipart.to_string(),
            o.parts.to_string(),
            format!("{:.1}", o.bytes as f64 / 1048576.0),
            size(o.size_p50_bytes),
            size(o.size_p99_bytes),
            size(o.size_max_bytes),
            o.small.to_string(),
            reasons.join(", "),
        ]);
        t
    }

    fn requests(&self) -> Table {
        let r = &self.summary.requests;
        let mut t = Table::new([
            "PutObject",
            "CreateMultipartUpload",
            "UploadPart",
            "CompleteMultipartUpload",
            "AbortMultipartUpload",
            "sent again",
            "USD per million ticks",
        ]);
        t.row([
            r.put_object.to_string(),
            r.create_multipart_upload.to_string(),
            r.upload_part.to_string(),
            r.complete_multipart_upload.to_string(),
            r.abort_multipart_upload.to_string(),
            r.retried.to_string(),
            format!("{:.4}", self.summary.cost.s3_requests_per_million_ticks_usd),
        ]);
        t
    }

    /// The per-second table; a long run shows every n-th second (all are in timeseries.csv).
    /// Consumer lag only where a sink of tickbench's counted what it received.
    fn over_time(&self) -> (Table, usize) {
        let step = self.seconds.len().div_ceil(60).max(1);
        let lag = self.seconds.iter().any(|s| s.consumer_lag.is_some());
        let mut head = vec!["second", "sent", "landed"];
        head.extend(lag.then_some("consumer lag"));
        head.extend(["pipeline_e2e p50", "p99", "max"]);
        let mut t = Table::new(head);
        for s in self.seconds.iter().step_by(step) {
            let (p50, p99, max) = match s.pipeline_e2e_us {
                Some((a, b, c)) => (ms(a), ms(b), ms(c)),
                None => Default::default(),
            };
            let mut row = vec![
                s.second.to_string(),
                s.sent.to_string(),
                s.landed.to_string(),
            ];
            row.extend(lag.then(|| s.consumer_lag.map(|l| l.to_string()).unwrap_or_default()));
            row.extend([p50, p99, max]);
            t.row(row);
        }
        (t, step)
    }

    fn headline(&self) -> String {
        let s = &self.summary;
        format!(
            "{:.0} ticks/s produced, {:.0} ticks/s landed; {:.0} s warm-up, {:.0} s measured; {} partitions of `{}`",
            s.throughput.produced_per_s,
            s.throughput.landed_per_s,
            s.window.warmup_s,
            s.window.measured_s,
            s.kafka.partitions,
            s.kafka.topic
        )
    }

    /// How an external sink was watched (`[observe]`), and the notes on its settings.
    fn observed(&self) -> Option<(Table, &str)> {
        let o = self.summary.observed.as_ref()?;
        let mut t = Table::new(["observed sink", ""]);
        let kinds: Vec<String> = o
            .objects_by_kind
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        for (what, value) in [
            ("method", format!("{} of {}", o.method, o.prefix)),
            (
                "poll interval",
                format!(
                    "{:.0} to {:.0} ms",
                    o.poll_interval_ms, o.poll_interval_max_ms
                ),
            ),
            (
                "durable times late by at most",
                format!("{:.0} ms (measured)", o.durable_bound_ms),
            ),
            (
                "listings",
                format!(
                    "{} ({} after older time directories), {} LIST requests",
                    o.listings, o.incremental_listings, o.list_requests
                ),
            ),
            ("objects read", format!("{} GET requests", o.get_requests)),
            ("objects by kind", kinds.join(", ")),
            ("key layout", o.key_layout.clone()),
            ("there before", o.preexisting_objects.to_string()),
            (
                "unreadable / without ticks",
                format!(
                    "{} / {}",
                    o.unreadable_objects.len(),
                    o.objects_without_ticks.len()
                ),
            ),
            ("all found in time", o.settled.to_string()),
        ] {
            t.row([what.to_string(), value]);
        }
        if let Some(g) = &o.group {
            t.row([
                format!("consumer group {}", g.group_id),
                format!(
                    "lag (end offsets minus its commits) at most {} records, {} at the end; {} samples{}",
                    g.lag_max,
                    g.lag_last.map_or("unknown".into(), |l| l.to_string()),
                    g.samples,
                    match g.failed_samples {
                        0 => String::new(),
                        n => format!(", {n} unanswered"),
                    }
                ),
            ]);
        }
        Some((t, o.notes.as_str()))
    }

    /// For a merged run, the processes it was made of, with their hosts and clocks.
    fn hosts(&self) -> Option<Table> {
        let m = self.manifest.as_ref()?;
        if m.merged_from.is_empty() {
            return None;
        }
        let mut t = Table::new(["part", "role", "host", "clock", "run"]);
        for p in &m.merged_from {
            t.row([
                p.name.clone(),
                p.role.name().to_string(),
                p.host.hostname.clone(),
                p.host
                    .clock
                    .as_ref()
                    .map(|c| c.describe())
                    .unwrap_or_else(|| "not recorded".into()),
                p.run_id.clone(),
            ]);
        }
        Some(t)
    }

    /// `report.md`: the figures as tables, ready to paste.
    pub fn markdown(&self) -> String {
        let s = &self.summary;
        let mut out = String::new();
        let _ = writeln!(out, "# tickbench report: {}\n", s.scenario);
        let _ = writeln!(
            out,
            "Run `{}`, tickbench {}. Audit: **{}**.\n",
            s.run_id,
            s.tickbench_version,
            self.verdict()
        );
        let _ = writeln!(out, "{}.\n", self.headline());
        out.push_str(&self.counts().markdown());
        if !s.thresholds.is_empty() {
            out.push_str("\n## Thresholds\n\n");
            out.push_str(&self.thresholds().markdown());
        }
        let _ = writeln!(
            out,
            "\n## Latency, milliseconds (measured window)\n\nFrom each tick's intended send time (see the README's stages).\n"
        );
        out.push_str(&self.latency().markdown());
        out.push_str("\n## Objects\n\n");
        out.push_str(&self.objects().markdown());
        out.push_str("\n## S3 requests\n\n");
        out.push_str(&self.requests().markdown());
        if let Some((t, notes)) = self.observed() {
            out.push_str("\n## Observed sink\n\n");
            if !notes.is_empty() {
                let _ = writeln!(out, "Its settings: {notes}\n");
            }
            out.push_str(&t.markdown());
        }
        let (t, step) = self.over_time();
        if !t.rows.is_empty() {
            let _ = writeln!(
                out,
                "\n## Over time\n\n{}Latencies of the ticks that landed that second, milliseconds.\n",
                if step > 1 {
                    format!("Every {step}th second (all of them are in timeseries.csv). ")
                } else {
                    String::new()
                }
            );
            out.push_str(&t.markdown());
        }
        if let Some(t) = self.hosts() {
            out.push_str("\n## Hosts (merged run)\n\n");
            out.push_str(&t.markdown());
        }
        for (title, lines) in [("Problems", &s.problems), ("Warnings", &s.warnings)] {
            if !lines.is_empty() {
                let _ = writeln!(out, "\n## {title}\n");
                for l in lines {
                    let _ = writeln!(out, "- {l}");
                }
            }
        }
        out
    }

    /// The report's charts, as SVG.
    pub fn charts(&self) -> Vec<String> {
        let spectrum = |stages: &[Stage], title: &str| {
            let series = stages
                .iter()
                .filter_map(|s| self.log(*s))
                .map(|l| Series {
                    name: l.stage.name().into(),
                    points: spectrum(&l.total)
                        .into_iter()
                        .map(|(q, v)| (svg::percentile_x(q), v as f64 / 1e3))
                        .collect(),
                })
                .collect();
            svg::render(&Chart {
                title: title.into(),
                x_label: "percentile".into(),
                y_label: "milliseconds (log)".into(),
                x: XAxis::Percentile,
                y_log: true,
                series,
            })
        };
        let per_second = |name: &str, f: &dyn Fn(&Second) -> Option<f64>| Series {
            name: name.into(),
            points: self
                .seconds
                .iter()
                .filter_map(|s| f(s).map(|v| (s.second as f64, v)))
                .collect(),
        };
        let e2e =
            |i: usize| move |s: &Second| s.pipeline_e2e_us.map(|v| [v.0, v.1, v.2][i] as f64 / 1e3);
        let mut charts = vec![
            spectrum(
                &[
                    Stage::ScheduleLag,
                    Stage::Produce,
                    Stage::KafkaE2e,
                    Stage::PipelineE2e,
                ],
                "Latency by percentile, per tick",
            ),
            spectrum(
                &[
                    Stage::BatchFill,
                    Stage::PartUpload,
                    Stage::Complete,
                    Stage::Commit,
                ],
                "Latency by percentile, per batch and request",
            ),
            svg::render(&Chart {
                title: "pipeline_e2e over time (ticks landed that second)".into(),
                x_label: "second of the run".into(),
                y_label: "milliseconds (log)".into(),
                x: XAxis::Linear,
                y_log: true,
                series: vec![
                    per_second("p50", &e2e(0)),
                    per_second("p99", &e2e(1)),
                    per_second("max", &e2e(2)),
                ],
            }),
            svg::render(&Chart {
                title: "Throughput: produced vs landed".into(),
                x_label: "second of the run".into(),
                y_label: "ticks per second".into(),
                x: XAxis::Linear,
                y_log: false,
                series: vec![
                    per_second("sent", &|s| Some(s.sent as f64)),
                    per_second("landed", &|s| Some(s.landed as f64)),
                ],
            }),
        ];
        // Only where a sink of tickbench's counted what it received (not for an observed sink).
        if self.seconds.iter().any(|s| s.consumer_lag.is_some()) {
            charts.push(svg::render(&Chart {
                title: "Consumer lag".into(),
                x_label: "second of the run".into(),
                y_label: "records sent, not yet received".into(),
                x: XAxis::Linear,
                y_log: false,
                series: vec![per_second("lag", &|s| s.consumer_lag.map(|l| l as f64))],
            }));
        }
        let sizes = self.log(Stage::ObjectSize).map(|l| Series {
            name: "object size".into(),
            points: (0..=100)
                .map(|p| {
                    let q = p as f64 / 100.0;
                    (p as f64, quantile(&l.total, q) as f64 / 1024.0)
                })
                .collect(),
        });
        charts.push(svg::render(&Chart {
            title: "Object sizes (measured window)".into(),
            x_label: "percentile of objects".into(),
            y_label: "KiB".into(),
            x: XAxis::Linear,
            y_log: false,
            series: sizes.into_iter().collect(),
        }));
        charts
    }

    /// `report.html`: one file, no scripts, no network; the charts inline.
    pub fn html(&self) -> String {
        let s = &self.summary;
        let mut out = String::new();
        let _ = write!(
            out,
            r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>tickbench report: {}</title><style>{}</style></head><body>"#,
            esc(&s.scenario),
            CSS
        );
        let _ = write!(
            out,
            r#"<h1>tickbench report: {}</h1><p>Run <code>{}</code>, tickbench {}. Audit: <strong class="{}">{}</strong>.</p><p>{}.</p>"#,
            esc(&s.scenario),
            esc(&s.run_id),
            esc(&s.tickbench_version),
            if s.passed { "pass" } else { "fail" },
            esc(&self.verdict()),
            esc(&self.headline())
        );
        out.push_str(&self.counts().html());
        if !s.thresholds.is_empty() {
            out.push_str("<h2>Thresholds</h2>");
            out.push_str(&self.thresholds().html());
        }
        out.push_str(r#"<div class="charts">"#);
        for c in self.charts() {
            let _ = write!(out, r#"<figure>{c}</figure>"#);
        }
        out.push_str("</div><h2>Latency, milliseconds (measured window)</h2>");
        out.push_str(&self.latency().html());
        out.push_str("<h2>Objects</h2>");
        out.push_str(&self.objects().html());
        out.push_str("<h2>S3 requests</h2>");
        out.push_str(&self.requests().html());
        if let Some((t, notes)) = self.observed() {
            out.push_str("<h2>Observed sink</h2>");
            if !notes.is_empty() {
                let _ = write!(out, "<p>Its settings: {}</p>", esc(notes));
            }
            out.push_str(&t.html());
        }
        if let Some(t) = self.hosts() {
            out.push_str("<h2>Hosts (merged run)</h2>");
            out.push_str(&t.html());
        }
        for (title, lines) in [("Problems", &s.problems), ("Warnings", &s.warnings)] {
            if !lines.is_empty() {
                let _ = write!(out, "<h2>{title}</h2><ul>");
                for l in lines {
                    let _ = write!(out, "<li>{}</li>", esc(l));
                }
                out.push_str("</ul>");
            }
        }
        let _ = write!(
            out,
            r#"<div class="side"><section><h2>Scenario</h2><pre>{}</pre></section><section><h2>Manifest</h2><pre>{}</pre></section></div></body></html>"#,
            esc(&self.scenario_toml),
            esc(&self
                .manifest
                .as_ref()
                .and_then(|m| serde_json::to_string_pretty(m).ok())
                .unwrap_or_default())
        );
        out
    }
}

pub(super) const CSS: &str = "body{font-family:sans-serif;margin:24px;color:#222;max-width:1600px}table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}th:first-child,td:first-child{text-align:left}.pass{color:#1a7f37}.fail{color:#cf222e}.charts{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0;border:1px solid #eee}.side{display:flex;gap:16px;flex-wrap:wrap}pre{background:#f6f8fa;padding:8px;font-size:12px;max-width:760px;overflow:auto}";

pub(super) fn quantile(h: &Histogram<u64>, q: f64) -> u64 {
    if q >= 1.0 {
        h.max()
    } else {
        h.value_at_quantile(q)
    }
}

/// The percentile spectrum: quantiles spaced evenly on the -log10(1-q) axis up to p99.999, as
/// HdrHistogram plots it.
pub(super) fn spectrum(h: &Histogram<u64>) -> Vec<(f64, u64)> {
    (0..=100)
        .map(|i| {
            let x = i as f64 * 0.05;
            let q = 1.0 - 10f64.powf(-x);
            (q, quantile(h, q))
        })
        .collect()
}

fn ms(us: u64) -> String {
    crate::units::ms(us, 2)
}

fn size(bytes: u64) -> String {
    crate::units::bytes(bytes as f64)
}
