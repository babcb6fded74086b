//! A zombie sink: one `tickbench sink` process is paused (SIGSTOP) with a multipart upload open,
//! for longer than the group's session timeout; a second sink takes its partition and lands the
//! same records; the first is resumed (SIGCONT) and tries to finish the upload it had started,
//! under the same key (the key names the batch's first offset) but with fewer records, since its
//! batch closes at once on age. Unfenced, its shorter copy would replace the successor's object
//! and the records between the two ends would be lost. Fenced, its write is refused and it gives
//! the partition up: every tick is in S3 exactly once.
//!
//! Kafka is the separate tansu broker and S3 the separate s3s-fs server (`scripts/services.sh
//! start`): two processes of their own, as a zombie's successor would see them.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use tickbench::commands::run::RunOptions;
use tickbench::config;

const TICKS: u64 = 280_000;

/// Keys of the multipart uploads a sink's journal says it started.
fn started_keys(journal: &Path) -> BTreeSet<String> {
    common::log_of(journal)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "started")
        .map(|v| v["key"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn signal(child: &std::process::Child, sig: &str) {
    let ok = std::process::Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig}");
}

#[ignore = "needs the separate services: scripts/services.sh start; source .services/env"]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_paused_sink_that_lost_its_partition_cannot_overwrite_its_successors_object() {
    let (brokers, s3) = common::services();
    let tmp = tempfile::tempdir().unwrap();
    let topic = common::unique("zombie");
    let group = format!("{topic}-sink");
    let text = format!(
        r#"
name = "zombie"
seed = 9
duration = "14s"
warmup = "0s"
[symbols]
count = 500
[rate]
ticks_per_second = 20000
[kafka]
brokers = "{brokers}"
topic = "{topic}"
partitions = 1
group_id = "{group}"
[kafka.consumer]
"fetch.wait.max.ms" = "50"
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "1000"
[sink]
max_records = 100000
max_bytes = "64 MiB"
max_age = "6s"
part_size = "5 MiB"
upload = "streaming"
[s3]
endpoint = "{s3}"
bucket = "zombie"
create_bucket = true
"#
    );
    let path = tmp.path().join("zombie.toml");
    std::fs::write(&path, &text).unwrap();
    let s = config::parse(&path, &text).unwrap();
    let results = tmp.path().join("results");
    let journal = |i: &str| {
        results
            .join(".sink-state")
            .join(&group)
            .join(format!("{i}.jsonl"))
    };
    let log = |i: &str| tmp.path().join(format!("{i}.log"));
    let idle = ["--until-idle", "8s"];

    let mut a = common::start_sink(
        &path,
        &results,
        &log("a"),
        &[&["--instance", "a"][..], &idle].concat(),
    );
    let produce_opts = RunOptions {
        results_root: tmp.path().join("produce"),
        ..Default::default()
    };
    let producer = tokio::spawn(async move {
        tickbench::commands::produce::produce(&s, &produce_opts, &Default::default())
            .await
            .unwrap()
    });

    // Paused with a multipart upload open (its first part sent); meanwhile the successor joins,
    // is given the partition and lands from the committed offset.
    common::wait_until("sink a to start a multipart upload", || {
        !common::open_uploads(&journal("a")).is_empty()
    })
    .await;
    signal(&a, "STOP");
    let paused = std::time::Instant::now();
    let open_keys: Vec<String> = common::open_uploads(&journal("a")).into_values().collect();
    let mut b = common::start_sink(
        &path,
        &results,
        &log("b"),
        &[&["--instance", "b"][..], &idle].concat(),
    );
    // Resumed once the successor has landed an object under a key the zombie has open (however
    // long the group takes to move the partition on a loaded machine), and not before twice the
    // session timeout: the zombie then wakes to an object already there.
    let client = common::s3_client_for(&s3).await;
    loop {
        let mut landed = false;
        for key in &open_keys {
            landed |= client
                .head_object()
                .bucket("zombie")
                .key(key)
                .send()
                .await
                .is_ok();
        }
        if landed && paused.elapsed() >= Duration::from_secs(12) {
            break;
        }
        assert!(
            paused.elapsed() < common::HANG_GUARD,
            "the successor never landed {open_keys:?}:\n{}",
            common::log_of(&log("b"))
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    signal(&a, "CONT");

    let (_, produced) = tokio::time::timeout(common::HANG_GUARD, producer)
        .await
        .expect("the load ended")
        .unwrap();
    assert_eq!((produced.produced, produced.acked), (TICKS, TICKS));
    let status_a = common::exit_of_logged(&mut a, &log("a")).await;
    let status_b = common::exit_of_logged(&mut b, &log("b")).await;
    assert!(status_b.success(), "sink b: {}", common::log_of(&log("b")));
    assert!(status_a.success(), "sink a: {}", common::log_of(&log("a")));

    // Shown only if the test fails (the harness captures it): what each sink did, and when.
    for i in ["a", "b"] {
        eprintln!(
            "--- sink {i}\n{}\n--- journal {i}\n{}",
            common::log_of(&log(i)),
            common::log_of(&journal(i))
        );
    }

    // The fault happened: both sinks started an upload of the same key.
    let contested: Vec<String> = started_keys(&journal("a"))
        .intersection(&started_keys(&journal("b")))
        .cloned()
        .collect();
    assert!(
        !contested.is_empty(),
        "the successor never wrote a key the zombie had open:\n{}\n{}",
        common::log_of(&log("a")),
        common::log_of(&log("b"))
    );

    // Every tick once, read back over the S3 API; the offsets tile the partition from 0.
    let objects = common::read_back(&client, "zombie", &format!("tickbench/{topic}/")).await;
    assert_eq!(common::assert_each_tick_once(&objects), TICKS);
    let mut next: BTreeMap<i32, i64> = BTreeMap::new();
    let mut by_offset: Vec<_> = objects.iter().collect();
    by_offset.sort_by_key(|o| (o.partition, o.first_offset));
    for o in &by_offset {
        let n = next.entry(o.partition).or_insert(0);
        assert_eq!(o.first_offset, *n, "{} does not follow on", o.key);
        *n += o.ticks.len() as i64;
    }

    // The fence acted, one way or the other: one of the two writes of the contested key was
    // refused (unfenced, the later one replaces the earlier), or the paused sink heard that its
    // assignment was lost before its batch closed and aborted its upload. Which comes first when
    // it wakes is a race between its heartbeat and its batch timer; both end with every tick once.
    let summary = |i: &str| {
        common::json(
            &common::folder(&results, &format!("-sink-{i}")),
            "summary.json",
        )
    };
    let (summary_a, summary_b) = (summary("a"), summary("b"));
    let n = |s: &serde_json::Value, what: &str| s["requests"][what].as_u64().unwrap();
    assert!(
        n(&summary_a, "precondition_failed") + n(&summary_b, "precondition_failed") >= 1
            || n(&summary_a, "abort_multipart_upload") >= 1,
        "neither refused nor aborted:\na: {summary_a}\nb: {summary_b}"
    );
    for s in [&summary_a, &summary_b] {
        assert_eq!(s["counts"]["conditional_writes"], true, "{s}");
    }
    assert!(
        common::open_uploads(&journal("a")).is_empty()
            && common::open_uploads(&journal("b")).is_empty()
    );
}
