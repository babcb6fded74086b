//! Every object format and compression, end to end against services the test owns: every tick
//! lands once, objects carry the right names and content types, and CSV and Parquet objects
//! (read with the csv and parquet crates) hold exactly the records the JSON-lines run landed.

use crate::common;

use std::collections::BTreeSet;
use std::path::Path;

use tickbench::config;
use tickbench::io::embedded::{EmbeddedKafka, EmbeddedS3};

/// A tick without its intended send time, which differs between runs of the same seed.
type Record = (String, u64, u64, u64, u64, u32);

fn records(objects: &[common::Object]) -> BTreeSet<Record> {
    objects
        .iter()
        .flat_map(|o| &o.ticks)
        .map(|t| {
            (
                t.symbol.clone(),
                t.seq,
                t.price.to_bits(),
                t.bid.to_bits(),
                t.ask.to_bits(),
                t.size,
            )
        })
        .collect()
}

/// A run of `rate` ticks/s for `duration` on `topic` (2 partitions), 300 symbols, landing in
/// the bucket "formats" under the prefix "f" with these `[sink]` settings (and max_age 60 s).
fn scenario_for(
    kafka: &EmbeddedKafka,
    s3: &EmbeddedS3,
    topic: &str,
    duration: &str,
    rate: u32,
    sink: &str,
) -> config::Scenario {
    let text = format!(
        r#"
name = "{topic}"
seed = 5
duration = "{duration}"
[symbols]
count = 300
[rate]
ticks_per_second = {rate}
[kafka]
brokers = "{brokers}"
topic = "{topic}"
# The scenario's topic, which the test watches on its own mock cluster.
topic_per_run = false
[kafka.consumer]
"fetch.wait.max.ms" = "50"
[sink]
{sink}
max_age = "60s"
[s3]
endpoint = "{endpoint}"
bucket = "formats"
prefix = "f"
create_bucket = true
"#,
        brokers = kafka.bootstrap_servers(),
        endpoint = s3.endpoint()
    );
    config::parse(Path::new(&format!("{topic}.toml")), &text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_format_lands_the_same_records() {
    // Its own process (cargo-nextest), so setting the environment races with nothing.
    common::use_embedded_s3_keys();
    let tmp = tempfile::tempdir().unwrap();
    let s3 = EmbeddedS3::start(&tmp.path().join("s3")).await.unwrap();
    let client = tickbench::io::connect::s3_client(&Default::default(), Some(&s3.endpoint())).await;

    let cases = [
        ("jsonl", None, "jsonl", "application/x-ndjson"),
        ("jsonl", Some("zstd"), "jsonl.zst", "application/zstd"),
        ("csv", None, "csv", "text/csv"),
        ("csv", Some("gzip"), "csv.gz", "application/gzip"),
        (
            "parquet",
            None,
            "snappy.parquet",
            "application/vnd.apache.parquet",
        ),
        (
            "parquet",
            Some("zstd"),
            "zstd.parquet",
            "application/vnd.apache.parquet",
        ),
    ];
    let mut baseline: Option<BTreeSet<Record>> = None;
    for (i, (format, compression, ext, content_type)) in cases.into_iter().enumerate() {
        let topic = format!("fmt{i}");
        let kafka = EmbeddedKafka::start(1, &topic, 2).unwrap();
        let compression = compression
            .map(|c| format!("compression = \"{c}\""))
            .unwrap_or_default();
        let sink = format!(
            "format = \"{format}\"\n{compression}\nmax_records = 3000\nrow_group_records = 1000"
        );
        let s = scenario_for(&kafka, &s3, &topic, "2s", 8000, &sink);
        let out = common::run_in(tmp.path(), &s).await.expect("run succeeded");
        let sum = &out.summary;
        assert!(sum.passed, "{ext}: {:?}", sum.problems);
        assert_eq!(
            (sum.counts.landed, sum.counts.lost, sum.counts.duplicated),
            (16_000, 0, 0),
            "{ext}"
        );
        let objects = common::read_back(&client, "formats", &format!("f/{topic}/")).await;
        assert!(objects.len() >= 6, "{ext}: {} objects", objects.len());
        for o in &objects {
            assert!(o.key.ends_with(&format!(".{ext}")), "{}", o.key);
            assert_eq!(o.content_type, content_type, "{}", o.key);
            assert!(o.ticks.len() <= 3000, "{}: max_records", o.key);
        }
        assert_eq!(common::assert_each_tick_once(&objects), 16_000, "{ext}");
        assert_eq!(
            sum.objects
                .close_reasons
                .get("records")
                .copied()
                .unwrap_or(0) as usize,
            objects.iter().filter(|o| o.ticks.len() == 3000).count(),
            "{ext}"
        );
        // The same seed makes the same records whatever the format.
        let got = records(&objects);
        match &baseline {
            None => baseline = Some(got),
            Some(b) => assert!(*b == got, "{ext}: records differ from the JSON-lines run"),
        }
    }

    // The byte target holds after compression: objects closed by it land within a few percent of
    // it (a sink that estimated size before compressing would miss by the compression ratio).
    let kafka = EmbeddedKafka::start(1, "gzbytes", 2).unwrap();
    let s = scenario_for(
        &kafka,
        &s3,
        "gzbytes",
        "3s",
        10_000,
        "format = \"jsonl\"\ncompression = \"gzip\"\nmax_bytes = \"40 KiB\"",
    );
    let out = common::run_in(tmp.path(), &s).await.expect("run succeeded");
    assert!(out.summary.passed, "{:?}", out.summary.problems);
    let landed: Vec<tickbench::results::Landed> =
        std::fs::read_to_string(out.dir.join("objects.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let by_bytes: Vec<_> = landed
        .iter()
        .filter(|l| l.close_reason == tickbench::results::CloseReason::Bytes)
        .collect();
    assert!(
        by_bytes.len() >= 4,
        "{} objects closed by bytes",
        by_bytes.len()
    );
    for l in &by_bytes {
        let off = (l.bytes as f64 - 40960.0) / 40960.0;
        assert!(
            off.abs() < 0.05,
            "{} is {} bytes for a 40 KiB target",
            l.key,
            l.bytes
        );
        // ~10x the target before compression: the size is measured after it.
        assert!(l.records > 1000, "{}: {} records", l.key, l.records);
    }
}

/// `rate.record_size` pads each record to a fixed size (OpenMessaging Benchmark's 1 KiB): the
/// sink and the audit still read the tick inside, JSON-lines objects hold the records as they
/// came (every line 1 KiB), Parquet the tick's fields.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn padded_records_land_whole_and_read_as_ticks() {
    common::use_embedded_s3_keys();
    let tmp = tempfile::tempdir().unwrap();
    let s3 = EmbeddedS3::start(&tmp.path().join("s3")).await.unwrap();
    let client = tickbench::io::connect::s3_client(&Default::default(), Some(&s3.endpoint())).await;
    for (i, format) in ["jsonl", "parquet"].into_iter().enumerate() {
        let topic = format!("pad{i}");
        let kafka = EmbeddedKafka::start(1, &topic, 2).unwrap();
        let mut s = scenario_for(
            &kafka,
            &s3,
            &topic,
            "2s",
            3000,
            &format!("format = \"{format}\""),
        );
        s.rate.record_size = Some(bytesize::ByteSize::kib(1));
        let out = common::run_in(tmp.path(), &s).await.expect("run succeeded");
        let sum = &out.summary;
        assert!(sum.passed, "{format}: {:?}", sum.problems);
        assert_eq!(
            (sum.counts.landed, sum.counts.malformed),
            (6000, 0),
            "{format}"
        );
        let objects = common::read_back(&client, "formats", &format!("f/{topic}/")).await;
        assert_eq!(common::assert_each_tick_once(&objects), 6000, "{format}");
        let bytes: usize = objects.iter().map(|o| o.bytes).sum();
        if format == "jsonl" {
            assert_eq!(
                bytes,
                6000 * 1025,
                "every line is the 1 KiB record and its newline"
            );
        } else {
            assert!(
                bytes < 6000 * 200,
                "Parquet holds the fields, not the padding: {bytes}"
            );
        }
    }
}
