//! A sweep from one scenario file: every variant runs on the embedded default in a folder of its
//! own, and the comparison in the sweep folder holds one row per run with figures that follow
//! from the settings (an object per message costs a request per message).

use crate::common;

use std::path::Path;

use tickbench::commands::run::RunOptions;
use tickbench::commands::sweep::{self, compare::Row};
use tickbench::config;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sweep_runs_every_variant_and_compares_them() {
    let tmp = tempfile::tempdir().unwrap();
    let text = r#"
name = "cmp"
seed = 4
duration = "2s"
[symbols]
count = 200
[rate]
ticks_per_second = 400
[kafka]
topic = "cmp"
partitions = 2
[kafka.consumer]
"fetch.wait.max.ms" = "50"
[sink]
max_age = "30s"
upload_concurrency = 16

[sweep]
"sink.format" = ["jsonl", "csv"]

[[variant]]
name = "per-message"
"sink.max_records" = 1

[[variant]]
name = "batched"
"sink.max_records" = 100
"#;
    let path = Path::new("cmp.toml");
    let s = config::parse(path, text).unwrap();
    let cells = sweep::cells(&s, path).unwrap();
    assert_eq!(cells.len(), 4);
    let opts = RunOptions {
        results_root: tmp.path().to_path_buf(),
        ..Default::default()
    };
    let out = tokio::time::timeout(
        common::HANG_GUARD,
        sweep::run(&s, &cells, Some(path), &opts),
    )
    .await
    .expect("no hang")
    .expect("the sweep ran");
    assert!(!out.interrupted);
    let rows: Vec<Row> =
        serde_json::from_str(&std::fs::read_to_string(out.dir.join("comparison.json")).unwrap())
            .unwrap();
    assert_eq!(rows.len(), 4);
    for r in &rows {
        assert!(r.passed && r.error.is_none(), "{}: {:?}", r.label, r.error);
        assert_eq!(r.landed, 800, "{}", r.label);
        let dir = Path::new(r.dir.as_deref().unwrap());
        assert!(dir.starts_with(&out.dir) && dir.join("summary.json").is_file());
    }
    let per_message: Vec<&Row> = rows
        .iter()
        .filter(|r| r.label.starts_with("per-message"))
        .collect();
    let batched: Vec<&Row> = rows
        .iter()
        .filter(|r| r.label.starts_with("batched"))
        .collect();
    assert_eq!(per_message.len(), 2);
    for r in &per_message {
        assert_eq!(
            (r.objects, r.put_object_requests),
            (800, 800),
            "{}",
            r.label
        );
    }
    for r in &batched {
        // 100 records an object on each of 2 partitions: 8 objects, or 9 or 10 when the
        // partitions' counts are not whole hundreds.
        assert!(
            (8..=10).contains(&r.objects),
            "{}: {} objects",
            r.label,
            r.objects
        );
        assert_eq!(r.put_class_requests, r.objects, "{}", r.label);
    }
    // $0.005 per 1,000 PUTs: a request per tick is $5 per million ticks; batching pays per object.
    assert!((per_message[0].s3_requests_per_million_ticks_usd - 5.0).abs() < 1e-9);
    let b = batched[0];
    let want = b.objects as f64 * 0.005 / 1000.0 * 1e6 / 800.0;
    assert!((b.s3_requests_per_million_ticks_usd - want).abs() < 1e-9);
    let md = std::fs::read_to_string(out.dir.join("comparison.md")).unwrap();
    assert_eq!(md.lines().count(), 2 + 4, "{md}");
    assert!(md.contains("| per-message format=csv | PASS |"), "{md}");
    let csv = std::fs::read_to_string(out.dir.join("comparison.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5);
    // The runs side by side as `tickbench compare` writes them: a column a run, changes against
    // the first, the plots overlaid.
    let side = std::fs::read_to_string(out.dir.join("compare.md")).unwrap();
    let head = side.lines().find(|l| l.starts_with("| metric |")).unwrap();
    assert_eq!(head.matches(" | ").count(), 4, "{head}");
    let objects = side.lines().find(|l| l.starts_with("| objects |")).unwrap();
    assert!(objects.contains('%'), "{objects}");
    let html = std::fs::read_to_string(out.dir.join("compare.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 3);
}
