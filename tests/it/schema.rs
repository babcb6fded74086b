//! `summary.json` against its committed JSON Schema (`schemas/summary.schema.json`). The schema is
//! generated from the Rust types; this test fails when they change without the committed file
//! (`UPDATE_SNAPSHOTS=1 cargo test --test it schema::` rewrites it; review the diff: a renamed or
//! removed field breaks users' tooling).

use crate::common;

use std::path::Path;

use tickbench::config;
use tickbench::results::Summary;

fn committed() -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/summary.schema.json");
    let generated = serde_json::to_string_pretty(&schemars::schema_for!(Summary)).unwrap() + "\n";
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let text = std::fs::read_to_string(&path).expect("schemas/summary.schema.json");
    assert_eq!(
        text, generated,
        "summary.json's types changed; UPDATE_SNAPSHOTS=1 to accept"
    );
    serde_json::from_str(&text).unwrap()
}

fn errors(schema: &serde_json::Value, instance: &serde_json::Value) -> Vec<String> {
    let v = jsonschema::validator_for(schema).expect("the schema is a valid JSON Schema");
    v.iter_errors(instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn summary_json_follows_the_committed_schema() {
    let schema = committed();
    // A run's summary, thresholds included.
    let text = "name = \"schema\"\nseed = 3\nduration = \"2s\"\n[symbols]\ncount = 20\n[rate]\nticks_per_second = 200\n[sink]\nmax_age = \"500ms\"\n[thresholds]\nlost = \"== 0\"\n";
    let s = config::parse(Path::new("schema.toml"), text).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = common::run_in(tmp.path(), &s).await.unwrap();
    let run: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.dir.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(errors(&schema, &run), Vec::<String>::new());
    assert_eq!(run["thresholds"][0]["metric"], "lost");

    // The report test's fixture, written by an earlier version: still valid.
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("../fixtures/run/summary.json")).unwrap();
    assert_eq!(errors(&schema, &fixture), Vec::<String>::new());

    // The schema has teeth: a count as text, a missing section.
    let mut bad = run.clone();
    bad["counts"]["lost"] = "0".into();
    bad.as_object_mut().unwrap().remove("throughput");
    let e = errors(&schema, &bad);
    assert!(e.iter().any(|e| e.starts_with("/counts/lost")), "{e:?}");
    assert!(e.iter().any(|e| e.contains("throughput")), "{e:?}");
}
