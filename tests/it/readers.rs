//! Other clients read what tickbench wrote: pyarrow (Arrow's C++ readers and its own S3 client)
//! reads every object of every format and codec to the ticks tickbench's audit read, and kcat
//! (librdkafka's command-line client, a C program, on Debian's librdkafka 2.0.2) reads the topic
//! tickbench produced on `tickbench up`'s broker, every record a tick keyed by its symbol.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use tickbench::config;
use tickbench::io::embedded::{EmbeddedKafka, EmbeddedS3, S3_ACCESS_KEY, S3_SECRET_KEY};

/// A tick as both readers give it: symbol, seq, ts_ns, and the prices and size to the bit.
type Row = (String, u64, u64, u64, u64, u64, u64);

#[ignore = "needs pyarrow: scripts/install-deps.sh --tests puts it in .tools/venv"]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pyarrow_reads_every_object_to_the_ticks_the_audit_read() {
    common::use_embedded_s3_keys();
    let tmp = tempfile::tempdir().unwrap();
    let s3 = EmbeddedS3::start(&tmp.path().join("s3")).await.unwrap();
    let client = common::s3_client_for(&s3.endpoint()).await;
    let cases = [
        ("jsonl", "none"),
        ("jsonl", "gzip"),
        ("jsonl", "zstd"),
        ("csv", "none"),
        ("csv", "gzip"),
        ("csv", "zstd"),
        ("parquet", "none"),
        ("parquet", "snappy"),
        ("parquet", "zstd"),
    ];
    for (i, (format, compression)) in cases.into_iter().enumerate() {
        let topic = format!("rd{i}");
        let kafka = EmbeddedKafka::start(1, &topic, 2).unwrap();
        let text = format!(
            r#"
name = "{topic}"
seed = 11
duration = "2s"
[symbols]
count = 300
[rate]
ticks_per_second = 4000
[kafka]
brokers = "{brokers}"
topic = "{topic}"
topic_per_run = false
[kafka.consumer]
"fetch.wait.max.ms" = "50"
[sink]
format = "{format}"
compression = "{compression}"
max_records = 2500
row_group_records = 1000
max_age = "60s"
[s3]
endpoint = "{endpoint}"
bucket = "readers"
create_bucket = true
"#,
            brokers = kafka.bootstrap_servers(),
            endpoint = s3.endpoint()
        );
        let s = config::parse(Path::new(&format!("{topic}.toml")), &text).unwrap();
        let case = format!("{format} {compression}");
        let out = common::run_in(tmp.path(), &s).await.expect("run succeeded");
        assert!(out.summary.passed, "{case}: {:?}", out.summary.problems);
        assert_eq!(out.summary.counts.landed, 8000, "{case}");

        // What tickbench's own reader finds, object by object...
        let prefix = format!("tickbench/{topic}/");
        let objects = common::read_back(&client, "readers", &prefix).await;
        assert!(objects.len() >= 4, "{case}: {} objects", objects.len());
        let mut ours: BTreeMap<String, BTreeSet<Row>> = BTreeMap::new();
        for o in &objects {
            let rows = o.ticks.iter().map(|t| {
                let bits = |v: f64| v.to_bits();
                let (p, b, a) = (bits(t.price), bits(t.bid), bits(t.ask));
                (t.symbol.clone(), t.seq, t.ts_ns, p, b, a, t.size as u64)
            });
            ours.insert(o.key.clone(), rows.collect());
        }
        // ... and what pyarrow finds through its own S3 client.
        let theirs = pyarrow_rows(&s3.endpoint(), "readers", &prefix);
        let counted: usize = theirs.values().map(BTreeSet::len).sum();
        assert_eq!(
            counted, 8000,
            "{case}: pyarrow read {counted} distinct ticks"
        );
        assert_eq!(
            theirs.keys().collect::<Vec<_>>(),
            ours.keys().collect::<Vec<_>>(),
            "{case}: the same objects"
        );
        for (key, rows) in &ours {
            assert!(rows == &theirs[key], "{case}: {key} reads differently");
        }
    }
    s3.stop().await;
}

/// Every tick pyarrow reads under the prefix, by object key (a tick read twice would show as a
/// count short of the records landed).
fn pyarrow_rows(endpoint: &str, bucket: &str, prefix: &str) -> BTreeMap<String, BTreeSet<Row>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/read-objects.py");
    let out = common::succeeds(
        Command::new(common::python())
            .arg(script)
            .args([endpoint, bucket, prefix])
            .env("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY),
    );
    let mut by_key: BTreeMap<String, BTreeSet<Row>> = BTreeMap::new();
    let mut lines = 0;
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        lines += 1;
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let u = |i: usize| v[i].as_u64().unwrap_or_else(|| panic!("{line}"));
        let f = |i: usize| v[i].as_f64().unwrap_or_else(|| panic!("{line}")).to_bits();
        let row = (
            v[1].as_str().unwrap().to_string(),
            u(2),
            u(3),
            f(4),
            f(5),
            f(6),
            u(7),
        );
        by_key
            .entry(v[0].as_str().unwrap().to_string())
            .or_default()
            .insert(row);
    }
    let distinct: usize = by_key.values().map(BTreeSet::len).sum();
    assert_eq!(lines, distinct, "pyarrow read a tick twice in one object");
    by_key
}

#[ignore = "needs kcat: scripts/install-deps.sh --tests installs it (Debian's kcat)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kcat_reads_every_record_tickbench_produced_as_a_tick_keyed_by_its_symbol() {
    // The broker is `tickbench up`'s mock cluster, a process of its own: Debian bookworm's kcat
    // 1.7.1 links librdkafka 2.0.2, which cannot read tansu 0.6.0's ApiVersions answer
    // ("Protocol read buffer underflow for ApiVersion v3 at 274/279").
    let tmp = tempfile::tempdir().unwrap();
    let topic = "kcat";
    let up_dir = tmp.path().join("up");
    let up = common::start_up(&[
        "--dir",
        up_dir.to_str().unwrap(),
        "--topic",
        topic,
        "--partitions",
        "3",
    ]);
    let brokers = up.brokers.clone();
    let text = format!(
        r#"
name = "kcat"
seed = 12
duration = "2s"
warmup = "0s"
[symbols]
count = 200
[rate]
ticks_per_second = 3000
[kafka]
brokers = "{brokers}"
topic = "{topic}"
topic_per_run = false
partitions = 3
"#
    );
    let s = config::parse(Path::new("kcat.toml"), &text).unwrap();
    let produced = common::produce_in(&tmp.path().join("produce"), &s).await;
    assert_eq!((produced.produced, produced.acked), (6000, 6000));

    // kcat with its own librdkafka: `cargo test` puts rdkafka-sys's build folder, which holds the
    // librdkafka tickbench links, on LD_LIBRARY_PATH, and kcat would load that one instead.
    let out = common::succeeds(Command::new("kcat").env_remove("LD_LIBRARY_PATH").args([
        "-C",
        "-b",
        &brokers,
        "-t",
        topic,
        "-e",
        "-q",
        "-f",
        "%p %o %k %s\n",
    ]));
    let mut seen: BTreeSet<(String, u64)> = BTreeSet::new();
    let mut per_partition: BTreeMap<i32, BTreeSet<i64>> = BTreeMap::new();
    let mut partition_of: BTreeMap<String, i32> = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let mut parts = line.splitn(4, ' ');
        let (p, o, key, payload) = (
            parts.next().unwrap().parse::<i32>().unwrap(),
            parts.next().unwrap().parse::<i64>().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap_or_else(|| panic!("{line}")),
        );
        let tick: serde_json::Value =
            serde_json::from_str(payload).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert_eq!(tick["symbol"].as_str(), Some(key), "{line}");
        for field in ["ts_ns", "size"] {
            assert!(tick[field].is_u64(), "{line}: {field}");
        }
        for field in ["price", "bid", "ask"] {
            assert!(
                tick[field].as_f64().is_some_and(|v| v > 0.0),
                "{line}: {field}"
            );
        }
        assert!(
            tick["bid"].as_f64() <= tick["ask"].as_f64(),
            "{line}: bid above ask"
        );
        let seq = tick["seq"].as_u64().unwrap();
        assert!(seen.insert((key.to_string(), seq)), "{line}: read twice");
        per_partition.entry(p).or_default().insert(o);
        let home = *partition_of.entry(key.to_string()).or_insert(p);
        assert_eq!(home, p, "{key} on partitions {home} and {p}");
    }
    assert_eq!(seen.len(), 6000, "kcat read every record once");
    // Every symbol's ticks are there from seq 0 on, none missing.
    let mut last: BTreeMap<&str, u64> = BTreeMap::new();
    for (symbol, seq) in &seen {
        let n = last.entry(symbol.as_str()).or_insert(0);
        assert_eq!(*seq, *n, "{symbol}: seq {seq} after {n} others");
        *n += 1;
    }
    // Keyed by symbol: each symbol on one partition only, offsets 0.. on each.
    assert_eq!(per_partition.len(), 3, "all three partitions hold records");
    for (p, offsets) in &per_partition {
        let n = offsets.len() as i64;
        assert_eq!(
            offsets.iter().copied().collect::<Vec<_>>(),
            (0..n).collect::<Vec<_>>(),
            "partition {p}"
        );
    }
}
