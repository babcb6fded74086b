use super::*;

const GOOD: &str = r#"
name = "t"
seed = 7
duration = "3s"

[symbols]
count = 10

[rate]
ticks_per_second = 100
"#;

fn err(text: &str) -> String {
    parse(Path::new("x.toml"), text).unwrap_err().to_string()
}

#[test]
fn minimal_file_gets_defaults() {
    let s = parse(Path::new("x.toml"), GOOD).unwrap();
    assert_eq!(s.duration, std::time::Duration::from_secs(3));
    assert_eq!(s.kafka.topic, "ticks");
    assert_eq!(s.sink.part_size, ByteSize::mib(8));
    assert!(s.s3.is_embedded());
    assert!(s.kafka.brokers.is_none());
}

#[test]
fn unknown_field_names_file_line_and_allowed_fields() {
    let e = err(&GOOD.replace("count = 10", "count = 10\ncolour = 3"));
    assert!(e.starts_with("x.toml: "), "{e}");
    assert!(e.contains("line 8"), "{e}");
    assert!(e.contains("colour"), "{e}");
    assert!(
        e.contains("price_median"),
        "should list allowed fields: {e}"
    );
}

#[test]
fn negative_rate_is_rejected_with_line() {
    let e = err(&GOOD.replace("ticks_per_second = 100", "ticks_per_second = -5"));
    assert!(e.contains("x.toml:10"), "{e}");
    assert!(e.contains("rate.ticks_per_second"), "{e}");
    assert!(e.contains("greater than 0"), "{e}");
}

#[test]
fn zero_symbols_is_rejected() {
    let e = err(&GOOD.replace("count = 10", "count = 0"));
    assert!(e.contains("x.toml:7: `symbols.count` = 0"), "{e}");
    assert!(e.contains("1 to 100000"), "{e}");
}

#[test]
fn small_part_size_is_rejected() {
    let e = err(&format!("{GOOD}\n[sink]\npart_size = \"1 MiB\"\n"));
    assert!(e.contains("sink.part_size"), "{e}");
    assert!(e.contains("5 MiB to 5 GiB"), "{e}");
    assert!(e.contains("1048576 bytes"), "{e}");
}

#[test]
fn bad_duration_is_a_parse_error_naming_the_field() {
    let e = err(&GOOD.replace("\"3s\"", "\"three seconds\""));
    assert!(e.contains("x.toml"), "{e}");
    assert!(e.contains("duration"), "{e}");
    assert!(e.contains("line 4"), "{e}");
}

#[test]
fn traversal_in_prefix_and_topic_is_rejected() {
    let e = err(&format!("{GOOD}\n[s3]\nprefix = \"a/../b\"\n"));
    assert!(e.contains("s3.prefix"), "{e}");
    let e = err(&format!("{GOOD}\n[kafka]\ntopic = \"a/b\"\n"));
    assert!(e.contains("kafka.topic"), "{e}");
}

#[test]
fn byte_target_beyond_ten_thousand_parts_is_rejected() {
    let e = err(&format!(
        "{GOOD}\n[sink]\npart_size = \"5 MiB\"\nmax_bytes = \"100 GiB\"\n"
    ));
    assert!(e.contains("sink.max_bytes"), "{e}");
    assert!(e.contains("10,000 parts"), "{e}");
}

#[test]
fn resolved_scenario_redacts_secrets_and_round_trips() {
    let text = format!(
        "{GOOD}\n[kafka.client]\n\"sasl.password\" = \"hunter2\"\n\"security.protocol\" = \"SASL_SSL\"\n"
    );
    let s = parse(Path::new("x.toml"), &text).unwrap();
    let out = s.resolved_toml();
    assert!(!out.contains("hunter2"), "{out}");
    assert!(out.contains("[redacted]"));
    assert!(out.contains("SASL_SSL"));
    let back = parse(Path::new("resolved.toml"), &out).unwrap();
    assert_eq!(back.sink, s.sink);
    assert_eq!(back.symbols, s.symbols);
}

#[test]
fn shipped_scenarios_are_valid() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            load(&path).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 1);
}
