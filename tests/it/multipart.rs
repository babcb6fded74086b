//! Large batches against services the test owns (mock cluster, S3 server on loopback): streaming
//! multipart uploads, byte targets, malformed records, and the group's committed offsets as the
//! broker holds them. The sink reaches S3 through the ordinary AWS credential chain here, as it
//! would reach any S3-compatible server a user points it at.

use crate::common;

use std::path::Path;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tickbench::config;
use tickbench::io::embedded::{EmbeddedKafka, EmbeddedS3};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn large_batches_use_multipart_and_commits_match_what_landed() {
    // Its own process (cargo-nextest), so setting the environment races with nothing.
    common::use_embedded_s3_keys();
    let tmp = tempfile::tempdir().unwrap();
    // The test owns the services, so it can inspect them after the run.
    let kafka = EmbeddedKafka::start(1, "mp", 2).unwrap();
    let s3 = EmbeddedS3::start(&tmp.path().join("s3")).await.unwrap();
    let text = format!(
        r#"
name = "multipart"
seed = 9
duration = "8s"
[symbols]
count = 1000
[rate]
ticks_per_second = 15000
[kafka]
brokers = "{brokers}"
topic = "mp"
# The scenario's topic, which the test watches on its own mock cluster.
topic_per_run = false
group_id = "mp-sink"
[kafka.consumer]
"fetch.wait.max.ms" = "50"
[sink]
max_records = 10000000
max_bytes = "6 MiB"
max_age = "60s"
part_size = "5 MiB"
upload_concurrency = 2
[s3]
endpoint = "{endpoint}"
bucket = "landing"
prefix = "mp-test"
create_bucket = true
"#,
        brokers = kafka.bootstrap_servers(),
        endpoint = s3.endpoint()
    );
    let s = config::parse(Path::new("multipart.toml"), &text).unwrap();

    // Twelve records that are not ticks arrive on partition 0 during the run: sent once the
    // load's first 15,000 ticks (its first second of eight) are in the log, not at a time.
    let garbage_brokers = kafka.bootstrap_servers().to_string();
    let garbage = tokio::task::spawn_blocking(move || {
        let probe: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &garbage_brokers)
            .create()
            .unwrap();
        let in_log = || -> i64 {
            (0..2)
                .filter_map(|p| probe.fetch_watermarks("mp", p, Duration::from_secs(5)).ok())
                .map(|(_, hi)| hi)
                .sum()
        };
        while in_log() < 15_000 {
            std::thread::sleep(Duration::from_millis(20));
        }
        let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
            .set("bootstrap.servers", &garbage_brokers)
            .create()
            .unwrap();
        let mut junk: Vec<Vec<u8>> = (0..10)
            .map(|i| format!("not a tick {i}").into_bytes())
            .collect();
        // Not UTF-8, and oversized (a tick's fields, padded to 70 KB).
        junk.push(vec![0xff, 0xfe, 0x00, b'x']);
        junk.push(format!("{{\"symbol\":\"{}\",\"seq\":0}}", "Z".repeat(70_000)).into_bytes());
        for payload in &junk {
            p.send(
                BaseRecord::<str, [u8]>::to("mp")
                    .partition(0)
                    .key("junk")
                    .payload(payload),
            )
            .map_err(|(e, _)| e)
            .unwrap();
        }
        p.flush(Duration::from_secs(10)).unwrap();
    });

    let out = common::run_in(tmp.path(), &s).await.expect("run succeeded");
    garbage.await.unwrap();
    let sum = &out.summary;
    assert_eq!(sum.counts.produced, 120_000);
    assert_eq!(sum.counts.landed, 120_000);
    assert_eq!((sum.counts.lost, sum.counts.duplicated), (0, 0));
    assert_eq!(
        sum.counts.malformed, 12,
        "bad records are counted, never a crash"
    );
    assert_eq!(
        sum.counts.dead_lettered, 12,
        "and written to dead-letter objects"
    );
    assert_eq!(sum.counts.consumed, 120_012);
    assert!(sum.passed, "{:?}", sum.problems);

    let client = tickbench::io::connect::s3_client(&Default::default(), Some(&s3.endpoint())).await;
    let objects = common::read_back(&client, "landing", "mp-test/mp/").await;
    assert_eq!(common::assert_each_tick_once(&objects), 120_000);
    let part = 5 * 1024 * 1024;
    let large: Vec<_> = objects.iter().filter(|o| o.bytes > part).collect();
    // Each partition fills at least one 6 MiB object.
    common::assert_byte_trigger_fired(&objects, 6 * 1024 * 1024, part, 2);
    for o in &objects {
        assert!(
            o.bytes <= 6 * 1024 * 1024,
            "{} is {} bytes, over max_bytes",
            o.key,
            o.bytes
        );
        // S3 (and s3s) give a multipart object an ETag of md5-of-part-md5s plus "-<parts>".
        let want_parts = o.bytes.div_ceil(part);
        if o.bytes > part {
            assert!(
                o.e_tag.ends_with(&format!("-{want_parts}")),
                "{} ETag {}",
                o.key,
                o.e_tag
            );
        } else {
            assert!(
                !o.e_tag.contains('-'),
                "{} should be a single PutObject: {}",
                o.key,
                o.e_tag
            );
        }
    }
    assert_eq!(sum.objects.multipart as usize, large.len());
    assert_eq!(sum.requests.upload_part, sum.objects.parts);

    // The records that are not ticks are in dead-letter objects, each with its partition, offset,
    // reason and bytes.
    let mut dead = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket("landing")
        .prefix("mp-test/_dead_letter/mp/")
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        for o in page.unwrap().contents() {
            let body = client
                .get_object()
                .bucket("landing")
                .key(o.key().unwrap())
                .send()
                .await
                .unwrap()
                .body
                .collect()
                .await
                .unwrap()
                .into_bytes();
            for line in body.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                dead.push(serde_json::from_slice::<tickbench::results::DeadLetter>(line).unwrap());
            }
        }
    }
    assert_eq!(dead.len(), 12);
    assert!(dead.iter().all(|d| d.partition == 0));
    let texts: Vec<_> = dead.iter().filter_map(|d| d.payload.clone()).collect();
    assert!(texts.contains(&"not a tick 7".to_string()), "{texts:?}");
    assert!(dead
        .iter()
        .any(|d| d.payload_base64.as_deref() == Some("//4AeA==")));
    // The oversized one is cut to sink.dead_letter_max_record (64 KiB), its full size given.
    let big = dead
        .iter()
        .find(|d| d.error.starts_with("oversized: 70"))
        .expect("the oversized record's dead letter");
    assert_eq!(big.payload.as_ref().map(String::len), Some(64 * 1024));
    assert_eq!(big.payload_bytes, Some(70_021));
    assert_eq!(sum.counts.dead_letters_truncated, 1);
    assert!(dead.iter().filter(|d| d.payload_bytes.is_some()).count() == 1);
    let offsets: std::collections::BTreeSet<i64> = dead.iter().map(|d| d.offset).collect();
    assert_eq!(offsets.len(), 12, "each offset once");

    // What the broker holds as the group's committed offsets: exactly what landed (+ the
    // records set aside on partition 0, now durable as dead letters).
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap_servers())
        .set("group.id", "mp-sink")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition("mp", 0);
    tpl.add_partition("mp", 1);
    let committed = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    let mut landed = common::records_per_partition(&objects);
    *landed.get_mut(&0).unwrap() += 12;
    for (p, n) in landed {
        let off = committed.find_partition("mp", p).unwrap().offset();
        assert_eq!(off, Offset::Offset(n), "partition {p}");
    }
    drop(committed);
    drop(consumer);
    s3.stop().await;
}
