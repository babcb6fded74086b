use super::*;
use bytesize::ByteSize;

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
fn dead_letter_caps_that_cannot_hold_one_dead_letter_are_rejected() {
    let e = err(&format!(
        "{GOOD}\n[sink]\ndead_letter_max_record = \"1 MiB\"\ndead_letter_max_bytes = \"1 MiB\"\n"
    ));
    assert!(e.contains("sink.dead_letter_max_bytes"), "{e}");
    assert!(e.contains("2 x sink.dead_letter_max_record + 4 KiB"), "{e}");
    let e = err(&format!(
        "{GOOD}\n[sink]\ndead_letter_max_record = \"17 MiB\"\n"
    ));
    assert!(
        e.contains("sink.dead_letter_max_record") && e.contains("to 16 MiB"),
        "{e}"
    );
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
    // Every librdkafka property that carries key or token material.
    for key in [
        "ssl.key.pem",
        "ssl.key.password",
        "ssl.keystore.password",
        "sasl.oauthbearer.config",
        "sasl.oauthbearer.client.secret",
        "sasl.oauthbearer.extensions",
    ] {
        let text = format!("{GOOD}\n[kafka.producer]\n\"{key}\" = \"planted-{key}\"\n");
        let out = parse(Path::new("x.toml"), &text).unwrap().resolved_toml();
        assert!(!out.contains("planted-"), "{key}: {out}");
        assert!(
            out.contains(&format!("\"{key}\" = \"[redacted]\"")),
            "{key}: {out}"
        );
    }
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
            // Scenarios for the user's own cluster name environment variables for their
            // addresses and secrets: each must be set for the file to load.
            let text = std::fs::read_to_string(&path).unwrap();
            for (i, _) in text.match_indices("${env:") {
                let var = &text[i + 6..];
                let var = &var[..var.find('}').unwrap()];
                // An endpoint must look like one (scenarios/soak.toml's S3 endpoint).
                let value = if var.ends_with("ENDPOINT") {
                    "http://127.0.0.1:9000"
                } else {
                    "placeholder"
                };
                std::env::set_var(var, value);
            }
            load(&path).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 1);
}

const PROFILE: &str = r#"
name = "p"
seed = 1
duration = "10s"
[symbols]
count = 10
[rate]
[[rate.segments]]
kind = "ramp"
duration = "10s"
from = 100
to = 1000
"#;

#[test]
fn profiles_parse_and_bad_ones_name_the_segment() {
    let s = parse(Path::new("p.toml"), PROFILE).unwrap();
    assert_eq!(s.rate.segments.len(), 1);
    let e = err(&PROFILE.replace("\"ramp\"", "\"square\""));
    assert!(e.contains("unknown variant `square`"), "{e}");
    assert!(
        e.contains("`constant`, `ramp`, `steps`, `burst`, `sine`, `intraday`"),
        "{e}"
    );
    let e = err(&PROFILE.replace("from = 100", "from = 0"));
    assert!(e.contains("segment 1 (ramp) goes from 0.0"), "{e}");
    assert!(e.contains("greater than 0"), "{e}");
    let e = err(&PROFILE.replace("[rate]", "[rate]\nticks_per_second = 5"));
    assert!(e.contains("not both"), "{e}");
    let e = err(&PROFILE.replace("to = 1000", "to = 1000\nlength = \"1s\""));
    assert!(e.contains("unknown field `length`"), "{e}");
}

#[test]
fn market_settings_out_of_range_are_rejected() {
    let e = err(&GOOD.replace("count = 10", "count = 10\nzipf = 6"));
    assert!(
        e.contains("`symbols.zipf` = 6: an exponent from 0 (uniform) to 5"),
        "{e}"
    );
    let e = err(&GOOD.replace("count = 10", "count = 10\ntick_size = 0.03"));
    assert!(e.contains("symbols.tick_size") && e.contains("1/N"), "{e}");
    let e = err(&GOOD.replace("count = 10", "count = 10\nbeta_max = 1.5"));
    assert!(e.contains("symbols.beta_max"), "{e}");
    let e = err(&GOOD.replace(
        "count = 10",
        "count = 10\ncrashes = [{ at = \"5s\", move = -0.1, recover = 0.5 }]",
    ));
    assert!(
        e.contains("symbols.crashes.recover_over") && e.contains("above 0 when recover is set"),
        "{e}"
    );
    let e = err(&GOOD.replace(
        "count = 10",
        "count = 10\ncrashes = [{ at = \"5s\", drop = -0.1 }]",
    ));
    assert!(e.contains("unknown field `drop`"), "{e}");
    let e = err(&GOOD.replace(
        "count = 10",
        "count = 10\nfixed = [{ ticker = \"bad ticker\", start_price = 1.0, drift = 0.0, volatility = 0.1 }]",
    ));
    assert!(
        e.contains("symbols.fixed") && e.contains("ticker") && e.contains("A-Z 0-9"),
        "{e}"
    );
}

#[test]
fn a_symbol_file_of_100000_rows_loads_and_a_repeated_ticker_is_named_with_both_lines() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("ticker,start_price,drift,volatility\n");
    for i in 0..100_000 {
        csv.push_str(&format!("S{i:05},{}.5,0.01,0.2\n", 10 + i % 90));
    }
    std::fs::write(dir.path().join("syms.csv"), &csv).unwrap();
    let scen = dir.path().join("s.toml");
    let text = GOOD.replace("count = 10", "count = 0\nfile = \"syms.csv\"");
    std::fs::write(&scen, &text).unwrap();
    let s = load(&scen).unwrap();
    assert_eq!(s.symbols.file_rows.len(), 100_000);
    assert_eq!(s.symbols.file_rows[99_999].ticker, "S99999");

    // Row 17's ticker again on the last row (line 100,001 of the file).
    let again = csv.replace("S99999,", "S00015,");
    std::fs::write(dir.path().join("syms.csv"), again).unwrap();
    let e = load(&scen).unwrap_err().to_string();
    assert!(
        e.contains("syms.csv:100001: `ticker` = \"S00015\" (also on line 17): each ticker once"),
        "{e}"
    );
}

#[test]
fn symbol_files_are_read_relative_to_the_scenario_and_bad_rows_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("syms.csv"),
        "ticker,start_price,drift,volatility,beta\nACME,12.5,0.05,0.3,0.9\nBOLT,80,0.0,0.2,0.1\n",
    )
    .unwrap();
    let scen = dir.path().join("s.toml");
    let text = GOOD.replace("count = 10", "count = 10\nfile = \"syms.csv\"");
    std::fs::write(&scen, &text).unwrap();
    let s = load(&scen).unwrap();
    assert_eq!(s.symbols.file_rows.len(), 2);
    assert_eq!(s.symbols.file_rows[0].ticker, "ACME");
    assert_eq!(s.symbols.file_rows[1].beta, 0.1);
    assert!(s.symbols.file.as_ref().unwrap().is_absolute());
    // The resolved scenario still finds the file from anywhere.
    let again = parse(Path::new("/elsewhere/resolved.toml"), &s.resolved_toml()).unwrap();
    assert_eq!(again.symbols.file_rows, s.symbols.file_rows);

    std::fs::write(
        dir.path().join("syms.csv"),
        "ticker,start_price,drift,volatility\nACME,12.5,0.05,0.3\nBOLT,eighty,0.0,0.2\n",
    )
    .unwrap();
    let e = load(&scen).unwrap_err().to_string();
    assert!(
        e.contains("syms.csv:3: `start_price` = \"eighty\": a number"),
        "{e}"
    );
    std::fs::write(dir.path().join("syms.csv"), "symbol,price\nACME,1\n").unwrap();
    let e = load(&scen).unwrap_err().to_string();
    assert!(
        e.contains("syms.csv:1: `header`") && e.contains("ticker,start_price,drift,volatility"),
        "{e}"
    );
    std::fs::write(
        dir.path().join("syms.csv"),
        "ticker,start_price,drift,volatility\nACME,-3,0,0.2\n",
    )
    .unwrap();
    let e = load(&scen).unwrap_err().to_string();
    assert!(
        e.contains("syms.csv:2: `start_price` = -3: a price greater than 0"),
        "{e}"
    );
}

#[test]
fn values_come_from_the_environment() {
    let env = |n: &str| (n == "PW").then(|| "hunter2".to_string());
    assert_eq!(
        super::substitute_env("a ${env:PW} b ${env:PW}", env).unwrap(),
        "a hunter2 b hunter2"
    );
    assert_eq!(
        super::substitute_env("${env:NOPE}", env),
        Err("NOPE".into())
    );
    assert_eq!(
        super::substitute_env("no ${env:open", env).unwrap(),
        "no ${env:open"
    );

    std::env::set_var("TICKBENCH_TEST_SASL_PW", "s3cret-from-env");
    let text = "name = \"e\"\nseed = 1\nduration = \"1s\"\n[symbols]\ncount = 5\n[rate]\nticks_per_second = 10\n[kafka.client]\n\"sasl.password\" = \"${env:TICKBENCH_TEST_SASL_PW}\"\n";
    let s = parse(Path::new("env.toml"), text).unwrap();
    assert_eq!(s.kafka.client["sasl.password"], "s3cret-from-env");
    assert!(
        !s.resolved_toml().contains("s3cret-from-env"),
        "redacted when shown"
    );
    let e = parse(
        Path::new("env.toml"),
        &text.replace("TICKBENCH_TEST_SASL_PW", "TICKBENCH_TEST_UNSET_VAR"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("env.toml")
            && e.contains("kafka.client.sasl.password")
            && e.contains("TICKBENCH_TEST_UNSET_VAR"),
        "{e}"
    );
}

#[test]
fn names_that_would_escape_the_key_layout_are_rejected() {
    let base = "name = \"t\"\nseed = 1\nduration = \"1s\"\n[symbols]\ncount = 5\n[rate]\nticks_per_second = 5\n";
    for (table, field, value) in [
        ("kafka", "topic", "../x"),
        ("kafka", "topic", "a/b"),
        ("kafka", "topic", "..\\u0000"),
        ("kafka", "topic", "tab\\there"),
        ("s3", "prefix", "a/../b"),
        ("s3", "prefix", "/abs"),
        ("s3", "prefix", "a//b"),
        ("s3", "prefix", "new\\nline"),
        ("s3", "prefix", ".."),
    ] {
        let text = format!("{base}[{table}]\n{field} = \"{value}\"\n");
        let e = parse(Path::new("esc.toml"), &text)
            .map(|_| ())
            .expect_err(value)
            .to_string();
        assert!(e.contains(&format!("{table}.{field}")), "{value}: {e}");
    }
    // Symbols come from the wire, so they are escaped rather than rejected (layout tests).
}

#[test]
fn consumer_settings_the_sink_cannot_honour_are_refused_with_their_line() {
    let text = format!("{GOOD}\n[kafka.consumer]\n\"fetch.wait.max.ms\" = \"50\"\n\"enable.auto.commit\" = \"true\"\n");
    let e = parse(Path::new("auto.toml"), &text)
        .unwrap_err()
        .to_string();
    let line = text
        .lines()
        .position(|l| l.starts_with("\"enable.auto.commit\""))
        .unwrap()
        + 1;
    assert!(e.contains(&format!("auto.toml:{line}")), "{e}");
    assert!(e.contains("kafka.consumer.\"enable.auto.commit\""), "{e}");
    assert!(
        e.contains("only after the S3 object holding its record is durable"),
        "{e}"
    );
    let ok = text.replace(
        "\"enable.auto.commit\" = \"true\"",
        "\"enable.auto.commit\" = \"false\"",
    );
    parse(Path::new("auto.toml"), &ok).unwrap();
}

#[test]
fn msk_iam_takes_its_brokers_and_refuses_the_properties_it_sets_itself() {
    let iam = format!(
        "{GOOD}\n[kafka]\nbrokers = \"b-1:9098\"\nauth = \"msk-iam\"\nregion = \"eu-west-1\"\n"
    );
    let s = parse(Path::new("iam.toml"), &iam).unwrap();
    assert_eq!(s.kafka.auth, Some(KafkaAuth::MskIam));

    let e = err(&format!("{GOOD}\n[kafka]\nauth = \"msk-iam\"\n"));
    assert!(e.contains("kafka.auth") && e.contains("port 9098"), "{e}");
    let e = err(&format!("{GOOD}\n[kafka]\nauth = \"iam\"\n"));
    assert!(e.contains("msk-iam"), "the allowed value is named: {e}");
    let e = err(&format!("{GOOD}\n[kafka]\nregion = \"eu-west-1\"\n"));
    assert!(e.contains("kafka.region") && e.contains("msk-iam"), "{e}");

    let planted = "hunter2-planted";
    let e = err(&format!(
        "{iam}\n[kafka.client]\n\"sasl.password\" = \"{planted}\"\n"
    ));
    assert!(e.contains("kafka.client.\"sasl.password\""), "{e}");
    assert!(!e.contains(planted), "the password is not echoed: {e}");
    let e = err(&format!(
        "{iam}\n[kafka.client]\n\"sasl.mechanism\" = \"SCRAM-SHA-512\"\n"
    ));
    assert!(e.contains("OAUTHBEARER"), "{e}");
    let e = err(&format!(
        "{iam}\n[kafka.consumer]\n\"sasl.oauthbearer.method\" = \"oidc\"\n"
    ));
    assert!(
        e.contains("kafka.consumer.\"sasl.oauthbearer.method\""),
        "{e}"
    );
    parse(
        Path::new("iam.toml"),
        &format!("{iam}\n[kafka.client]\n\"security.protocol\" = \"SASL_SSL\"\n"),
    )
    .unwrap();
}

#[test]
fn observe_needs_named_services_and_a_prefix() {
    let named = format!("{GOOD}\n[kafka]\nbrokers = \"b:9092\"\n[s3]\nbucket = \"landing\"\n");
    let s = parse(
        Path::new("o.toml"),
        &format!("{named}\n[observe]\nprefix = \"topics/ticks\"\n"),
    )
    .unwrap();
    let o = s.observe.unwrap();
    assert_eq!(o.poll_interval, std::time::Duration::from_millis(250));
    let e = err(&format!("{GOOD}\n[observe]\nprefix = \"topics/ticks\"\n"));
    assert!(
        e.contains("kafka.brokers") && e.contains("another process"),
        "{e}"
    );
    let e = err(&format!("{named}\n[observe]\nprefix = \"../up\"\n"));
    assert!(e.contains("observe.prefix"), "{e}");
    let e = err(&format!(
        "{named}\n[observe]\nprefix = \"p\"\npoll_interval = \"1ms\"\n"
    ));
    assert!(
        e.contains("observe.poll_interval") && e.contains("10ms"),
        "{e}"
    );
}

#[test]
fn record_size_is_bounded_by_what_the_sink_takes_as_a_tick() {
    let s = parse(
        Path::new("x.toml"),
        &GOOD.replace(
            "ticks_per_second = 100",
            "ticks_per_second = 100\nrecord_size = \"1 KiB\"",
        ),
    )
    .unwrap();
    assert_eq!(s.rate.record_size, Some(ByteSize::kib(1)));
    let e = err(&GOOD.replace(
        "ticks_per_second = 100",
        "ticks_per_second = 100\nrecord_size = \"1 MiB\"",
    ));
    assert!(e.contains("x.toml:11: `rate.record_size`"), "{e}");
    assert!(e.contains("1 byte to 64 KiB"), "{e}");
}

#[test]
fn iceberg_catalogs_name_the_field_and_what_is_allowed() {
    let table =
        |extra: &str| format!("{GOOD}\n[sink]\nformat = \"iceberg\"\n[sink.iceberg]\n{extra}\n");
    let glue = parse(
        Path::new("x.toml"),
        &table("catalog = \"glue\"\nuri = \"http://127.0.0.1:5000\""),
    )
    .unwrap();
    assert_eq!(glue.sink.iceberg.unwrap().catalog, CatalogKind::Glue);
    let e = err(&table("catalog = \"lakekeeper\""));
    assert!(
        e.contains("x.toml") && e.contains("catalog = \"lakekeeper\""),
        "{e}"
    );
    assert!(e.contains("`sql`, `rest`, `glue`"), "{e}");
    let rest = parse(
        Path::new("x.toml"),
        &table("catalog = \"rest\"\nuri = \"http://127.0.0.1:8181/api/catalog\"\nwarehouse = \"quickstart\"\nproperties = { scope = \"PRINCIPAL_ROLE:ALL\", \"header.X-Iceberg-Access-Delegation\" = \"\" }"),
    )
    .unwrap();
    let i = rest.sink.iceberg.unwrap();
    assert_eq!(
        (i.catalog, i.warehouse.as_deref()),
        (CatalogKind::Rest, Some("quickstart"))
    );
    assert_eq!(i.properties["scope"], "PRINCIPAL_ROLE:ALL");
    let e = err(&table("catalog = \"rest\""));
    assert!(e.contains("`sink.iceberg.uri`"), "{e}");
    assert!(e.contains("the catalog's base URL"), "{e}");
    let e = err(&table(
        "catalog = \"rest\"\nuri = \"http://c\"\nproperties = { token = \"abc\" }",
    ));
    assert!(e.contains("sink.iceberg.properties"), "{e}");
    assert!(e.contains("TICKBENCH_ICEBERG_TOKEN"), "{e}");
    assert!(!e.contains("abc"), "the error shows the secret: {e}");
    let e = err(&table("properties = { scope = \"catalog\" }"));
    assert!(e.contains("only with catalog = \"rest\""), "{e}");
    let e = err(&table("catalog = \"glue\"\nuri = \"sqlite:/tmp/c.db\""));
    assert!(e.contains("sink.iceberg.uri"), "{e}");
    assert!(e.contains("Glue's endpoint URL"), "{e}");
    let e = err(&table("uri = \"https://glue.us-east-1.amazonaws.com\""));
    assert!(e.contains("SQLite database URL"), "{e}");
}

#[test]
fn overrides_are_applied_before_validation_and_named_in_errors() {
    let text = format!("{GOOD}\n[observe]\nprefix = \"topics/ticks\"\n");
    let flags = Overrides {
        brokers: Some("127.0.0.1:9092".into()),
        topic: Some("obs".into()),
        s3_endpoint: Some("http://127.0.0.1:9000".into()),
        bucket: Some("landing".into()),
        create_bucket: false,
    };
    // Valid only with the command line's targets, and valid with them.
    assert!(parse(Path::new("o.toml"), &text).is_err());
    let s = parse_with(Path::new("o.toml"), &text, &flags).unwrap();
    assert_eq!(s.kafka.brokers.as_deref(), Some("127.0.0.1:9092"));
    assert_eq!(
        (s.kafka.topic.as_str(), s.kafka.topic_per_run),
        ("obs", Some(false))
    );
    assert_eq!(s.s3.bucket_name(), "landing");
    // Invalid only because of a flag: the flag is named, not a line of the file.
    let bad = Overrides {
        s3_endpoint: Some("127.0.0.1:9000".into()),
        ..flags.clone()
    };
    let e = parse_with(Path::new("o.toml"), &text, &bad)
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "o.toml: `s3.endpoint` = \"127.0.0.1:9000\" (given by --s3-endpoint): an http:// or https:// URL, or leave it out"
    );
    // A file's own mistake still points at its line.
    let e = parse_with(
        Path::new("o.toml"),
        &format!("{text}poll_interval = \"1ms\"\n"),
        &flags,
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with("o.toml:") && e.contains("observe.poll_interval"),
        "{e}"
    );
    assert!(!e.contains("given by"), "{e}");
}

#[test]
fn a_missing_required_field_is_named_with_its_section_and_meaning() {
    let e = err(
        "name = \"t\"\nduration = \"3s\"\n[symbols]\ncount = 1\n[rate]\nticks_per_second = 1\n",
    );
    assert_eq!(
        e,
        "x.toml: the scenario has no `seed`, which it needs: the seed of every random draw, so that the same scenario produces the same ticks (for example seed = 1)"
    );
    let e = err(&format!("{GOOD}\n[observe]\npoll_interval = \"1s\"\n"));
    assert!(
        e.starts_with("x.toml:")
            && e.contains("[observe] has no `prefix`, which it needs: the key prefix"),
        "{e}"
    );
    let e = err(&format!("{GOOD}\n[[variant]]\n\"sink.max_records\" = 10\n"));
    assert!(e.contains("a [[variant]] has no `name`"), "{e}");
}
