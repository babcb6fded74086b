//! The sink process killed with SIGKILL, twice, while ticks keep arriving: once while a multipart
//! upload is open (its journal says so), once mid-batch. Each restart resumes from the committed
//! offsets, aborts the uploads the killed sink left open, and rewrites the same keys; in the end
//! every tick is in S3 exactly once and the group's offsets are at the topic's end.
//!
//! Kafka is the separate tansu broker (`scripts/services.sh start`): the mock cluster keeps only
//! 5 MiB a partition, less than one multipart object. S3 is the s3s server in this process, then
//! moto's separate server: each is asked (ListParts) for the parts of every upload a killed sink
//! left open.

use crate::common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use aws_sdk_s3::Client;
use tickbench::config;
use tickbench::io::embedded::EmbeddedS3;

const TICKS: u64 = 240_000;

/// Against the s3s server in this process, then against moto's, one after the other. Run as two
/// tests at once (two loads of 20,000 ticks/s in this process beside their sinks), the in-process
/// server once kept a part of an upload after its abort (seen once in four runs on 2026-12-02; a
/// part the killed sink had sent in full, written late, is the likely way): one at a time, it has
/// not.
#[ignore = "needs the separate services: scripts/services.sh start; source .services/env"]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_sink_resumes_from_committed_offsets_and_leaves_no_open_uploads() {
    common::use_embedded_s3_keys();
    let tmp = tempfile::tempdir().unwrap();
    let s3 = EmbeddedS3::start(&tmp.path().join("s3")).await.unwrap();
    kill_twice(&tmp.path().join("s3s"), &s3.endpoint(), "kill").await;
    s3.stop().await;
    // The same against moto's server, a second implementation of multipart uploads and their
    // abort.
    kill_twice(
        &tmp.path().join("moto"),
        &common::moto(),
        &common::unique("kill"),
    )
    .await;
}

/// Parts the server still holds of an upload: none once it was aborted or completed (s3s-fs lists
/// none for an upload it does not know, moto answers NoSuchUpload).
async fn parts_left(client: &Client, bucket: &str, key: &str, upload_id: &str) -> usize {
    match client
        .list_parts()
        .bucket(bucket)
        .key(key)
        .upload_id(upload_id)
        .send()
        .await
    {
        Ok(out) => {
            for p in out.parts() {
                eprintln!(
                    "left of {key} ({upload_id}): part {:?}, {:?} bytes, last modified {:?}",
                    p.part_number(),
                    p.size(),
                    p.last_modified()
                );
            }
            out.parts().len()
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.meta().code() == Some("NoSuchUpload")) =>
        {
            0
        }
        Err(e) => panic!("ListParts {key} {upload_id}: {e:?}"),
    }
}

async fn kill_twice(dir: &std::path::Path, endpoint: &str, bucket: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let (brokers, _) = common::services();
    let topic = common::unique("kill");
    let group = format!("{topic}-sink");
    let text = format!(
        r#"
name = "kill"
seed = 8
duration = "12s"
warmup = "0s"
[symbols]
count = 500
[rate]
ticks_per_second = 20000
[kafka]
brokers = "{brokers}"
topic = "{topic}"
partitions = 2
group_id = "{group}"
[kafka.consumer]
"fetch.wait.max.ms" = "50"
[sink]
max_records = 60000
max_bytes = "64 MiB"
max_age = "10m"
part_size = "5 MiB"
upload = "streaming"
[s3]
endpoint = "{endpoint}"
bucket = "{bucket}"
create_bucket = true
"#
    );
    let path = dir.join("kill.toml");
    std::fs::write(&path, &text).unwrap();
    let s = config::parse(&path, &text).unwrap();
    let results = dir.join("results");
    let journal = results
        .join(".sink-state")
        .join(&group)
        .join("sink-0.jsonl");
    let log = |n: u32| dir.join(format!("sink{n}.log"));

    // Sink 1, then the load (20,000 ticks/s for 12 s over two partitions).
    let mut sink = common::start_sink(&path, &results, &log(1), &[]);
    let produce_dir = dir.join("produce");
    let producer = tokio::spawn(async move { common::produce_in(&produce_dir, &s).await });

    // Kill 1: while a multipart upload is open.
    common::wait_until("sink 1 to start a multipart upload", || {
        !common::open_uploads(&journal).is_empty()
    })
    .await;
    sink.kill().unwrap();
    sink.wait().unwrap();
    let mut orphans = common::open_uploads(&journal);
    assert!(!orphans.is_empty());

    // Kill 2: mid-batch, once the restarted sink has read records (a batch takes 5 s to fill).
    let mut sink = common::start_sink(&path, &results, &log(2), &[]);
    common::wait_until("sink 2 to read records", || {
        common::log_of(&log(2))
            .lines()
            .any(|l| l.contains("consumed") && !l.contains("consumed 0 "))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    sink.kill().unwrap();
    sink.wait().unwrap();
    let left_for_the_last = common::open_uploads(&journal);
    // (Sink 1's upload among them unless sink 2 outlived its 5 s grace and aborted it.)
    orphans.extend(left_for_the_last.clone());

    // The last sink runs until the topic is idle.
    let produced = tokio::time::timeout(common::HANG_GUARD, producer)
        .await
        .expect("the load ended")
        .unwrap();
    assert_eq!((produced.produced, produced.acked), (TICKS, TICKS));
    let mut sink = common::start_sink(&path, &results, &log(3), &["--until-idle", "5s"]);
    let status = common::exit_of(&mut sink).await;
    assert!(status.success(), "sink 3: {}", common::log_of(&log(3)));

    // Every tick once, read back over the S3 API; offsets tile each partition from 0.
    let client = common::s3_client_for(endpoint).await;
    let objects = common::read_back(&client, bucket, &format!("tickbench/{topic}/")).await;
    assert_eq!(common::assert_each_tick_once(&objects), TICKS);
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    let mut by_offset: Vec<_> = objects.iter().collect();
    by_offset.sort_by_key(|o| (o.partition, o.first_offset));
    for o in &by_offset {
        let n = next.entry(o.partition).or_insert(0);
        assert_eq!(o.first_offset, *n, "{} does not follow on", o.key);
        *n += o.ticks.len() as i64;
    }
    assert_eq!(next.values().sum::<i64>() as u64, TICKS);

    // The killed uploads' keys were written again, and nothing of them is left in the server.
    let keys: Vec<&str> = objects.iter().map(|o| o.key.as_str()).collect();
    for (id, key) in &orphans {
        assert!(keys.contains(&key.as_str()), "{key} was not written again");
        let left = parts_left(&client, bucket, key, id).await;
        assert_eq!(
            left,
            0,
            "parts of {key} ({id}) left in the S3 server; now {:?}\n--- sink 2\n{}\n--- sink 3\n{}\n--- journal\n{}",
            std::time::SystemTime::now(),
            common::log_of(&log(2)),
            common::log_of(&log(3)),
            common::log_of(&journal)
        );
    }
    assert!(
        common::open_uploads(&journal).is_empty(),
        "the last sink ended every upload it journaled"
    );

    // The group's offsets are at the end of the topic, and the last sink says what it cleaned.
    let committed = tokio::task::spawn_blocking({
        let (brokers, group, topic) = (brokers.clone(), group.clone(), topic.clone());
        move || common::committed_offsets(&brokers, &group, &topic, 2)
    })
    .await
    .unwrap();
    assert_eq!(committed, next);
    let finished: Vec<PathBuf> = std::fs::read_dir(&results)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("summary.json").exists())
        .collect();
    assert_eq!(finished.len(), 1, "only sink 3 finished: {finished:?}");
    let summary = common::json(&finished[0], "summary.json");
    // Each upload sink 2 left open was aborted by the last sink, unless S3 had completed it: a
    // sink killed during CompleteMultipartUpload leaves it journaled, the server finishes the
    // request anyway (as S3 does), the abort then finds NoSuchUpload, and the last sink finds the
    // object already at its key (a refused conditional write).
    let aborted = summary["counts"]["orphaned_uploads_aborted"]
        .as_u64()
        .unwrap();
    let completed = summary["requests"]["precondition_failed"].as_u64().unwrap();
    let left = left_for_the_last.len() as u64;
    assert!(
        aborted <= left && aborted + completed >= left,
        "{left} uploads left open, {aborted} aborted, {completed} found completed: {summary}"
    );
    assert!(
        common::log_of(&log(3)).contains("stopped by idle"),
        "{}",
        common::log_of(&log(3))
    );
}
