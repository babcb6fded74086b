use std::path::Path;

use super::*;

const BASE: &str = r#"
name = "sw"
seed = 1
duration = "1s"
[symbols]
count = 10
[rate]
ticks_per_second = 100
[sink]
max_bytes = "1 MiB"
"#;

fn parse(extra: &str) -> Result<Vec<Cell>, ScenarioError> {
    let path = Path::new("sw.toml");
    let s = config::parse(path, &format!("{BASE}{extra}"))?;
    cells(&s, path)
}

#[test]
fn no_sweep_is_one_cell_as_written() {
    let c = parse("").unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].scenario.sink.max_bytes.as_u64(), 1 << 20);
}

#[test]
fn the_matrix_is_every_combination_for_every_variant() {
    let c = parse(
        r#"
[sweep]
"sink.max_bytes" = ["64 KiB", "8 MiB"]
"sink.format" = ["jsonl", "parquet"]
"kafka.producer.\"linger.ms\"" = ["0"]

[[variant]]
name = "tutorial"
"sink.max_records" = 1

[[variant]]
name = "batched"
"sink.max_age" = "2s"
"#,
    )
    .unwrap();
    assert_eq!(c.len(), 8);
    let names: std::collections::BTreeSet<_> = c.iter().map(|c| c.scenario.name.clone()).collect();
    assert_eq!(names.len(), 8, "each run has a folder name of its own");
    let first = &c[0];
    assert_eq!(first.scenario.sink.max_records, 1);
    assert_eq!(
        first.scenario.sink.format,
        crate::model::format::Format::Jsonl
    );
    assert_eq!(first.scenario.kafka.producer["linger.ms"], "0");
    assert!(first.scenario.sweep.is_empty() && first.scenario.variant.is_empty());
    assert_eq!(
        first.label,
        "tutorial linger.ms=0 format=jsonl max_bytes=64 KiB"
    );
    let last = &c[7];
    assert_eq!(
        last.scenario.sink.max_age,
        std::time::Duration::from_secs(2)
    );
    assert_eq!(
        last.scenario.sink.format,
        crate::model::format::Format::Parquet
    );
    assert_eq!(last.scenario.sink.max_bytes.as_u64(), 8 << 20);
}

#[test]
fn a_bad_value_in_a_sweep_names_the_run_field_and_allowed_values() {
    let e = parse("[sweep]\n\"sink.format\" = [\"jsonl\", \"avro\"]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("sw.toml") && e.contains("format=avro"), "{e}");
    assert!(e.contains("jsonl") && e.contains("parquet"), "{e}");
    let e = parse("[sweep]\n\"sink.max_bytes\" = [\"1 MiB\", \"0 B\"]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("sink.max_bytes"), "{e}");
    let e = parse("[sweep]\n\"sink.nope\" = [1]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope"), "{e}");
    let e = parse("[sweep]\n\"sink.max_bytes.x\" = [1]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a table"), "{e}");
    let e = parse("[sweep]\n\"sink.max_bytes\" = []\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("empty list"), "{e}");
    let many = (1..=9)
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let e = parse(&format!(
        "[sweep]\n\"sink.max_records\" = [{many}]\n\"sink.upload_concurrency\" = [{many}]\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("81 runs"), "{e}");
}
