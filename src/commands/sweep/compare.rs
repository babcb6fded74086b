//! The comparison of a sweep's runs: one row per run, as a Markdown table to read and paste,
//! CSV for spreadsheets, and JSON for scripts.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Cell;
use crate::results::Summary;

/// One run of a sweep, reduced to the figures a batching strategy is chosen by.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub label: String,
    pub settings: Vec<(String, String)>,
    /// The run's folder (None when it could not run).
    pub dir: Option<String>,
    /// Why the run could not run at all.
    pub error: Option<String>,
    pub passed: bool,
    /// Thresholds of the scenario this run failed.
    #[serde(default)]
    pub failed_thresholds: Vec<String>,
    pub landed: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub landed_per_s: f64,
    pub pipeline_p50_us: u64,
    pub pipeline_p99_us: u64,
    pub pipeline_p999_us: u64,
    pub pipeline_max_us: u64,
    pub objects: u64,
    pub object_mean_bytes: f64,
    pub object_p99_bytes: u64,
    pub put_object_requests: u64,
    pub upload_part_requests: u64,
    /// Every request S3 bills at the PUT rate.
    pub put_class_requests: u64,
    pub s3_requests_per_million_ticks_usd: f64,
    pub sink_peak_buffered_bytes: u64,
    pub peak_rss_bytes: Option<u64>,
    pub cpu_rest_s_per_million_ticks: Option<f64>,
    /// Into an Iceberg table: when ticks became visible (t_visible - t_sched), snapshots
    /// committed, and one commit's latency.
    #[serde(default)]
    pub visible_p50_us: Option<u64>,
    #[serde(default)]
    pub visible_p99_us: Option<u64>,
    #[serde(default)]
    pub snapshots: Option<u64>,
    #[serde(default)]
    pub table_commit_p50_us: Option<u64>,
}

impl Row {
    pub fn of(cell: &Cell, dir: Option<&Path>, summary: Result<&Summary, &str>) -> Row {
        let mut row = Row {
            label: cell.label.clone(),
            settings: cell.settings.clone(),
            dir: dir.map(|d| d.display().to_string()),
            error: None,
            passed: false,
            failed_thresholds: Vec::new(),
            landed: 0,
            lost: 0,
            duplicated: 0,
            landed_per_s: 0.0,
            pipeline_p50_us: 0,
            pipeline_p99_us: 0,
            pipeline_p999_us: 0,
            pipeline_max_us: 0,
            objects: 0,
            object_mean_bytes: 0.0,
            object_p99_bytes: 0,
            put_object_requests: 0,
            upload_part_requests: 0,
            put_class_requests: 0,
            s3_requests_per_million_ticks_usd: 0.0,
            sink_peak_buffered_bytes: 0,
            peak_rss_bytes: None,
            cpu_rest_s_per_million_ticks: None,
            visible_p50_us: None,
            visible_p99_us: None,
            snapshots: None,
            table_commit_p50_us: None,
        };
        let s = match summary {
            Ok(s) => s,
            Err(e) => {
                row.error = Some(e.to_string());
                return row;
            }
        };
        let e2e = s
            .stages
            .get(&crate::metrics::Stage::PipelineE2e)
            .cloned()
            .unwrap_or_default();
        let table = s.table.as_ref();
        let stage = |st| table.and(s.stages.get(&st)).cloned().unwrap_or_default();
        let (visible, commit) = (
            stage(crate::metrics::Stage::Visible),
            stage(crate::metrics::Stage::TableCommit),
        );
        Row {
            visible_p50_us: table.map(|_| visible.p50_us),
            visible_p99_us: table.map(|_| visible.p99_us),
            snapshots: table.map(|t| t.snapshots),
            table_commit_p50_us: table.map(|_| commit.p50_us),
            passed: s.passed && !s.interrupted && s.thresholds_passed(),
            failed_thresholds: s
                .thresholds
                .iter()
                .filter(|t| !t.passed)
                .map(|t| format!("{} {}", t.metric, t.condition))
                .collect(),
            landed: s.counts.landed,
            lost: s.counts.lost,
            duplicated: s.counts.duplicated,
            landed_per_s: s.throughput.landed_per_s,
            pipeline_p50_us: e2e.p50_us,
            pipeline_p99_us: e2e.p99_us,
            pipeline_p999_us: e2e.p999_us,
            pipeline_max_us: e2e.max_us,
            objects: s.objects.count,
            object_mean_bytes: s.objects.size_mean_bytes,
            object_p99_bytes: s.objects.size_p99_bytes,
            put_object_requests: s.requests.put_object,
            upload_part_requests: s.requests.upload_part,
            put_class_requests: s.put_requests(),
            s3_requests_per_million_ticks_usd: s.cost.s3_requests_per_million_ticks_usd,
            sink_peak_buffered_bytes: s.resources.sink_peak_buffered_bytes,
            peak_rss_bytes: s.resources.peak_rss_bytes,
            cpu_rest_s_per_million_ticks: s.resources.cpu_rest_s_per_million_ticks,
            ..row
        }
    }
}

fn ms(us: u64) -> String {
    crate::units::duration_us(us as f64)
}

use crate::units::bytes;

/// The comparison as a Markdown table.
pub fn markdown(rows: &[Row]) -> String {
    let mut s = String::new();
    s.push_str("| run | audit | landed/s | e2e p50 | e2e p99 | e2e p99.9 | e2e max | objects | mean object | p99 object | PUT | UploadPart | $/M ticks (S3 requests) | sink buffers peak | CPU s/M ticks (all but producer) | visible p50 | visible p99 | snapshots | table commit p50 |\n");
    s.push_str("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
    for r in rows {
        if let Some(e) = &r.error {
            let _ = writeln!(
                s,
                "| {} | could not run: {} |||||||||||||||||",
                r.label,
                e.replace('|', "/").replace('\n', " ")
            );
            continue;
        }
        let audit = if r.passed {
            "PASS".to_string()
        } else if r.lost + r.duplicated == 0 && !r.failed_thresholds.is_empty() {
            format!("FAIL ({})", r.failed_thresholds.join(", "))
        } else {
            format!("FAIL ({} lost, {} dup)", r.lost, r.duplicated)
        };
        let _ = writeln!(
            s,
            "| {} | {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.4} | {} | {} | {} | {} | {} | {} |",
            r.label,
            audit,
            r.landed_per_s,
            ms(r.pipeline_p50_us),
            ms(r.pipeline_p99_us),
            ms(r.pipeline_p999_us),
            ms(r.pipeline_max_us),
            r.objects,
            bytes(r.object_mean_bytes),
            bytes(r.object_p99_bytes as f64),
            r.put_object_requests,
            r.upload_part_requests,
            r.s3_requests_per_million_ticks_usd,
            bytes(r.sink_peak_buffered_bytes as f64),
            r.cpu_rest_s_per_million_ticks
                .map(|c| format!("{c:.2}"))
                .unwrap_or_else(|| "-".into()),
            r.visible_p50_us.map(ms).unwrap_or_else(|| "-".into()),
            r.visible_p99_us.map(ms).unwrap_or_else(|| "-".into()),
            r.snapshots
                .map(|n| n.to_string())
                .unwrap_or_else(|| "-".into()),
            r.table_commit_p50_us.map(ms).unwrap_or_else(|| "-".into()),
        );
    }
    s
}

/// Writes `comparison.md`, `comparison.csv` and `comparison.json` into `dir`.
pub fn write(dir: &Path, rows: &[Row]) -> anyhow::Result<()> {
    std::fs::write(dir.join("comparison.md"), markdown(rows))?;
    crate::results::write_json(&dir.join("comparison.json"), &rows)?;
    let mut w = csv::Writer::from_path(dir.join("comparison.csv"))?;
    w.write_record([
        "run",
        "error",
        "passed",
        "landed",
        "lost",
        "duplicated",
        "landed_per_s",
        "pipeline_p50_us",
        "pipeline_p99_us",
        "pipeline_p999_us",
        "pipeline_max_us",
        "objects",
        "object_mean_bytes",
        "object_p99_bytes",
        "put_object_requests",
        "upload_part_requests",
        "put_class_requests",
        "s3_requests_per_million_ticks_usd",
        "sink_peak_buffered_bytes",
        "peak_rss_bytes",
        "cpu_rest_s_per_million_ticks",
        "visible_p50_us",
        "visible_p99_us",
        "snapshots",
        "table_commit_p50_us",
    ])?;
    let opt = |v: Option<String>| v.unwrap_or_default();
    for r in rows {
        w.write_record([
            r.label.clone(),
            r.error.clone().unwrap_or_default(),
            r.passed.to_string(),
            r.landed.to_string(),
            r.lost.to_string(),
            r.duplicated.to_string(),
            format!("{:.1}", r.landed_per_s),
            r.pipeline_p50_us.to_string(),
            r.pipeline_p99_us.to_string(),
            r.pipeline_p999_us.to_string(),
            r.pipeline_max_us.to_string(),
            r.objects.to_string(),
            format!("{:.1}", r.object_mean_bytes),
            r.object_p99_bytes.to_string(),
            r.put_object_requests.to_string(),
            r.upload_part_requests.to_string(),
            r.put_class_requests.to_string(),
            format!("{:.6}", r.s3_requests_per_million_ticks_usd),
            r.sink_peak_buffered_bytes.to_string(),
            opt(r.peak_rss_bytes.map(|b| b.to_string())),
            opt(r.cpu_rest_s_per_million_ticks.map(|c| format!("{c:.3}"))),
            opt(r.visible_p50_us.map(|v| v.to_string())),
            opt(r.visible_p99_us.map(|v| v.to_string())),
            opt(r.snapshots.map(|v| v.to_string())),
            opt(r.table_commit_p50_us.map(|v| v.to_string())),
        ])?;
    }
    w.flush()?;
    Ok(())
}
