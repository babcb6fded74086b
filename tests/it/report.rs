//! The report of a run, from a results folder kept in `tests/fixtures/run` (a smoke run's
//! summary.json, scenario.toml, manifest.json and interval logs): the Markdown against its
//! snapshot, the HTML's self-containedness, and the HTML as headless Chromium draws it.
//!
//! After an intended change of the Markdown, `UPDATE_SNAPSHOTS=1 cargo test --test it report::`
//! rewrites the snapshot; review its diff like code.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use tickbench::report::document::RunReport;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/run")
}

/// The fixture copied to a temporary folder (reports are written beside the run's files).
fn copy_of_fixture() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let copy = |from: &Path, to: &Path| {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_file() {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    };
    copy(&fixture(), tmp.path());
    copy(
        &fixture().join("histograms"),
        &tmp.path().join("histograms"),
    );
    tmp
}

#[test]
fn the_markdown_report_matches_its_snapshot() {
    let md = RunReport::load(&fixture()).unwrap().markdown();
    let snapshot = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/report.md");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&snapshot, &md).unwrap();
    }
    let want = std::fs::read_to_string(&snapshot).expect("tests/snapshots/report.md");
    assert_eq!(md, want, "report.md changed; UPDATE_SNAPSHOTS=1 to accept");
    // What the snapshot holds, read off the fixture's own logs: 100,000 measured ticks a stage,
    // every second of the measured window a row.
    assert!(md.contains("| pipeline_e2e | 100000 |"), "{md}");
    assert!(md.contains("| 120000 | 120000 | 120000 | 120000 | 0 | 0 | 0 | 0 |"));
    assert!(md.contains("p99.999"));
}

#[test]
fn the_html_report_is_one_file_with_a_plot_per_figure() {
    let html = RunReport::load(&fixture()).unwrap().html();
    for banned in ["<script", " src=", " href=", "@import", "url("] {
        assert!(!html.contains(banned), "report.html holds {banned:?}");
    }
    assert_eq!(html.matches("<svg").count(), 6);
    // Every chart drew lines, none fell back to "no data".
    assert!(!html.contains("no data"));
    assert!(html.matches(r#"class="series""#).count() >= 12);
    assert!(html.contains("seed = 42"), "the scenario is shown");
    assert!(html.contains("librdkafka_version"), "the manifest is shown");
}

#[tokio::test]
async fn tickbench_report_rewrites_the_files_of_a_run_folder() {
    let tmp = copy_of_fixture();
    let out = common::execute(&["report", tmp.path().to_str().unwrap()]).await;
    assert_eq!(out.code, 0, "{}", out.error);
    let md = std::fs::read_to_string(tmp.path().join("report.md")).unwrap();
    assert_eq!(md, RunReport::load(&fixture()).unwrap().markdown());
    let csv = std::fs::read_to_string(tmp.path().join("timeseries.csv")).unwrap();
    let mut lines = csv.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("second,sent,acked,consumed,landed,"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert!(
        rows.len() >= 10,
        "one row a second of the 10 s measured window"
    );
    let sent: u64 = rows.iter().map(|r| r[1].parse::<u64>().unwrap()).sum();
    assert_eq!(sent, 100_000, "the rows add up to the measured ticks");
    let html = std::fs::read_to_string(tmp.path().join("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));

    let missing = common::execute(&["report", "/nonexistent/run"]).await;
    assert_eq!(missing.code, 2);
    assert!(
        missing.error.contains("/nonexistent/run/summary.json"),
        "{}",
        missing.error
    );
}

/// Headless Chromium (Debian's `chromium`) takes a screenshot of report.html; the plots' line
/// colours must be on it.
#[test]
#[ignore = "needs Chromium: apt-get install chromium (scripts/install-deps.sh --tests)"]
fn chromium_draws_the_plots_of_report_html() {
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| Command::new(c).arg("--version").output().is_ok())
        .expect("Chromium is not installed: apt-get install chromium");
    let tmp = copy_of_fixture();
    RunReport::load(tmp.path()).unwrap().write().unwrap();
    let png = tmp.path().join("shot.png");
    let profile = tmp.path().join("profile");
    let out = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--window-size=1600,1400",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!(
            "file://{}",
            tmp.path().join("report.html").display()
        ))
        .output()
        .unwrap();
    assert!(
        png.is_file(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let pixels = &buf[..info.buffer_size()];
    // The first two series colours (#1f77b4 blue, #d62728 red), give or take anti-aliasing.
    let near = |p: &[u8], c: [u8; 3]| (0..3).all(|i| p[i].abs_diff(c[i]) < 24);
    let count = |c: [u8; 3]| pixels.chunks(channels).filter(|p| near(p, c)).count();
    let (blue, red) = (count([0x1f, 0x77, 0xb4]), count([0xd6, 0x27, 0x28]));
    assert!(
        blue > 2000 && red > 2000,
        "plot lines on the screenshot: {blue} blue, {red} red pixels"
    );
    // Kept for the README's picture when asked.
    if let Some(to) = std::env::var_os("TICKBENCH_REPORT_SHOT") {
        std::fs::copy(&png, to).unwrap();
    }
}

#[tokio::test]
async fn tickbench_compare_puts_runs_side_by_side_with_their_changes() {
    let (a, b) = (copy_of_fixture(), copy_of_fixture());
    // The second run: half again the landed rate, twice the objects, 3 ticks lost (a FAIL);
    // the same interval logs, so the same latencies.
    let path = b.path().join("summary.json");
    let mut sum: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    sum["throughput"]["landed_per_s"] = 15_000.0.into();
    sum["throughput"]["produced_per_s"] = 16_000.0.into();
    sum["objects"]["count"] = 144.into();
    sum["counts"]["lost"] = 3.into();
    sum["passed"] = false.into();
    std::fs::write(&path, serde_json::to_string(&sum).unwrap()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let run = common::execute(&[
        "compare",
        a.path().to_str().unwrap(),
        b.path().to_str().unwrap(),
        "--out",
        out.path().to_str().unwrap(),
    ])
    .await;
    assert_eq!(run.code, 0, "{}", run.error);
    let md = std::fs::read_to_string(out.path().join("compare.md")).unwrap();
    let row = |name: &str| {
        md.lines()
            .find(|l| l.starts_with(&format!("| {name} |")))
            .unwrap_or_else(|| panic!("no row {name}: {md}"))
            .to_string()
    };
    // Each change against the first run, in percent; the first run's figures are the fixture's.
    assert!(
        row("landed ticks/s").ends_with("| 9674 | 15000 (+55.1%) |"),
        "{md}"
    );
    assert!(
        row("produced ticks/s").ends_with("| 10000 | 16000 (+60.0%) |"),
        "{md}"
    );
    assert!(row("objects").ends_with("| 72 | 144 (+100.0%) |"), "{md}");
    // A change from zero has no percentage.
    assert!(row("lost").ends_with("| 0 | 3 |"), "{md}");
    assert!(
        row("pipeline_e2e p99 ms").ends_with("| 2839 | 2839 (+0.0%) |"),
        "{md}"
    );
    assert!(
        row("audit and thresholds").ends_with("| PASS | FAIL |"),
        "{md}"
    );
    let html = std::fs::read_to_string(out.path().join("compare.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 3);
    assert_eq!(html.matches(r#"class="series""#).count(), 6);
}

/// The interval logs read by another HdrHistogram implementation (HdrHistogram_py): the same
/// count and percentiles as tickbench's own reading.
#[test]
#[ignore = "needs HdrHistogram_py: scripts/install-deps.sh --tests (a venv in .tools/)"]
fn another_hdrhistogram_implementation_reads_the_interval_logs() {
    let python = common::python();
    let has = Command::new(&python)
        .args(["-c", "import hdrh"])
        .status()
        .is_ok_and(|st| st.success());
    assert!(
        has,
        "{} has no hdrh module: scripts/install-deps.sh --tests",
        python.display()
    );
    let script = r#"
import sys
from hdrh.log import HistogramLogReader
from hdrh.histogram import HdrHistogram
ref = HdrHistogram(1, 24 * 3600 * 10**6, 3)
acc = HdrHistogram(1, 24 * 3600 * 10**6, 3)
r = HistogramLogReader(sys.argv[1], ref)
while True:
    h = r.get_next_interval_histogram()
    if h is None:
        break
    acc.add(h)
print(acc.get_total_count(), acc.get_value_at_percentile(99), acc.get_max_value())
"#;
    let ours = RunReport::load(&fixture()).unwrap();
    for stage in ["pipeline_e2e", "kafka_e2e", "produce"] {
        let path = fixture().join(format!("histograms/{stage}.hlog"));
        let out = Command::new(&python)
            .args(["-c", script])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let theirs: Vec<u64> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect();
        let log = ours.logs.iter().find(|l| l.stage.name() == stage).unwrap();
        let t = &log.total;
        // Equal up to HdrHistogram's rounding to an equivalent value.
        assert_eq!(theirs[0], t.len(), "{stage} count");
        for (a, b) in [(theirs[1], t.value_at_quantile(0.99)), (theirs[2], t.max())] {
            assert!(t.equivalent(a, b), "{stage}: {a} vs {b}");
        }
    }
}

#[tokio::test]
async fn tickbench_catalog_of_a_run_folder_prints_the_ddl_and_writes_the_table_input() {
    let tmp = copy_of_fixture();
    let dir = tmp.path().to_str().unwrap();
    let out = common::execute(&["catalog", dir, "--database", "markets"]).await;
    assert_eq!(out.code, 0, "{}", out.error);
    let ddl = out.stdout;
    assert!(ddl.starts_with("CREATE EXTERNAL TABLE IF NOT EXISTS `markets`.`ticks` ("));
    // The date projection starts on the run's day (the fixture ran on 2026-11-22).
    assert!(
        ddl.contains("'projection.dt.range' = '2026-11-22,NOW'"),
        "{ddl}"
    );
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("catalog/athena.sql")).unwrap(),
        ddl
    );
    let input: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("catalog/glue-table-input.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        input["StorageDescriptor"]["Location"],
        "s3://tickbench/tickbench/ticks/"
    );

    let bad = common::execute(&["catalog", dir, "--since", "last week"]).await;
    assert_eq!(bad.code, 2);
    assert!(
        bad.error
            .contains("--since \"last week\": a date YYYY-MM-DD"),
        "{}",
        bad.error
    );
}
