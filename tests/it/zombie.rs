//! A zombie sink: one `tickbench sink` process is paused (SIGSTOP) with a write to S3 on its way,
//! for longer than the group's session timeout; a second sink takes its partition and lands the
//! same records under the same key (the key names the batch's first offset); the first is resumed
//! (SIGCONT) and its write goes on. Unfenced, its copy would replace the successor's object.
//! Fenced, its write is refused and it gives the partition up: every tick is in S3 exactly once.
//!
//! The zombie reaches S3 through the fault layer, which holds its write (a request sent just
//! before the pause) until the successor's object is there, so the fence each test names is the
//! one that acts: with conditional writes, the zombie's CompleteMultipartUpload is what was held,
//! and S3 refuses it (`If-None-Match`); with the generation check, the last part of its batch is
//! what was held, and the group refuses the commit the zombie makes before it completes. (Paused
//! at an arbitrary moment instead, the zombie could hear that its session had timed out before
//! its batch closed and abort its upload without either fence being asked.)
//!
//! Kafka is the separate tansu broker and S3 the separate s3s-fs server (`scripts/services.sh
//! start`): two processes of their own, as a zombie's successor would see them.

use crate::common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use tickbench::config;
use tickbench::io::embedded::{Hold, S3FaultProxy, S3Faults};

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
    let [a, b] = zombie("auto", Hold::CompleteMultipartUpload).await;
    let n = |s: &serde_json::Value, what: &str| s["requests"][what].as_u64().unwrap();
    assert!(
        n(&a, "precondition_failed") >= 1,
        "S3 refused the zombie's completion:\na: {a}\nb: {b}"
    );
    for s in [&a, &b] {
        assert_eq!(s["counts"]["conditional_writes"], true, "{s}");
    }
}

/// Where writes are not conditional, the group's generation fences the zombie: its commit just
/// before the write is refused, and it aborts the upload instead of completing it.
#[ignore = "needs the separate services: scripts/services.sh start; source .services/env"]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_conditional_writes_the_groups_generation_fences_the_paused_sink() {
    // The batch closes at 10 MiB: its first 5 MiB part goes while it fills, the rest is part 2.
    let [a, b] = zombie("off", Hold::UploadPart(2)).await;
    let n = |s: &serde_json::Value, what: &str| s["requests"][what].as_u64().unwrap();
    assert!(
        n(&a, "fence_refused") >= 1 && n(&a, "abort_multipart_upload") >= 1,
        "the group refused the zombie's commit, and it aborted:\na: {a}\nb: {b}"
    );
    for s in [&a, &b] {
        assert_eq!(s["counts"]["conditional_writes"], false, "{s}");
        assert_eq!(n(s, "precondition_failed"), 0, "{s}");
    }
}

/// Runs the zombie with `s3.conditional_writes` as given, its request `hold` held until the
/// successor's object is there; checks every tick landed once and no upload was left open;
/// returns the two sinks' summaries.
async fn zombie(conditional_writes: &str, hold: Hold) -> [serde_json::Value; 2] {
    let (brokers, s3) = common::services();
    let tmp = tempfile::tempdir().unwrap();
    // The zombie's way to S3; the successor goes straight to the server.
    let proxy = S3FaultProxy::start(&s3).await.unwrap();
    proxy.set_faults(S3Faults {
        hold: Some(hold),
        ..Default::default()
    });
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
max_records = 10000000
max_bytes = "10 MiB"
max_age = "60s"
part_size = "5 MiB"
upload = "streaming"
[s3]
endpoint = "ENDPOINT"
bucket = "zombie"
create_bucket = true
conditional_writes = "{conditional_writes}"
"#
    );
    // One scenario, two ways to S3.
    let scenario = |name: &str, endpoint: &str| {
        let path = tmp.path().join(name);
        let text = text.replace("ENDPOINT", endpoint);
        std::fs::write(&path, &text).unwrap();
        (path, text)
    };
    let (path_a, _) = scenario("zombie-a.toml", &proxy.endpoint());
    let (path, text) = scenario("zombie.toml", &s3);
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
        &path_a,
        &results,
        &log("a"),
        &[&["--instance", "a"][..], &idle].concat(),
    );
    let produce_dir = tmp.path().join("produce");
    let producer = tokio::spawn(async move { common::produce_in(&produce_dir, &s).await });

    // Paused with its held request on the way; meanwhile the successor joins, is given the
    // partition and lands from the committed offset.
    common::wait_until("the fault layer to hold sink a's request", || {
        proxy.held() >= 1
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
    // The held request reaches S3 now; its answer waits for the zombie to wake.
    proxy.release_held();
    signal(&a, "CONT");

    let produced = tokio::time::timeout(common::HANG_GUARD, producer)
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

    // The callers check that the fence they name acted.
    let summary = |i: &str| {
        common::json(
            &common::folder(&results, &format!("-sink-{i}")),
            "summary.json",
        )
    };
    assert!(
        common::open_uploads(&journal("a")).is_empty()
            && common::open_uploads(&journal("b")).is_empty()
    );
    [summary("a"), summary("b")]
}

/// The refused owner, made certain: copies of a partition's objects already sit at the keys a
/// sink will write, as a zombie that completed first would leave them, with fewer records than
/// the sink's batches (a zombie's batch closes on age when it wakes) or as many (a killed sink's,
/// written again by its restart). Each conditional write is refused; the sink reads the copy
/// back, skips the ticks it holds, cuts its next batch where the copy ends, and writes only what
/// no copy holds. On `tickbench up` (the s3s server honours `If-None-Match`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_refused_by_copies_already_at_its_keys_writes_only_what_they_lack() {
    common::use_embedded_s3_keys();
    let tmp = tempfile::tempdir().unwrap();
    let (topic, bucket) = ("claims", "claims");
    let up_dir = tmp.path().join("up");
    let up = common::start_up(&[
        "--dir",
        up_dir.to_str().unwrap(),
        "--topic",
        topic,
        "--partitions",
        "1",
        "--bucket",
        bucket,
    ]);
    let scenario = |max_records: u64| {
        format!(
            r#"
name = "claims"
seed = 5
duration = "3s"
warmup = "0s"
[symbols]
count = 200
[rate]
ticks_per_second = 10000
[kafka]
brokers = "{}"
topic = "{topic}"
partitions = 1
[kafka.consumer]
"fetch.wait.max.ms" = "50"
[sink]
max_records = {max_records}
max_age = "5m"
[s3]
endpoint = "{}"
bucket = "{bucket}"
"#,
            up.brokers, up.endpoint
        )
    };
    let path = |max_records: u64| {
        let p = tmp.path().join(format!("claims-{max_records}.toml"));
        std::fs::write(&p, scenario(max_records)).unwrap();
        p
    };
    let results = tmp.path().join("results");
    // Each sink a group of its own, reading the partition from its start.
    let sink = |max_records: u64, name: &'static str| {
        let log = tmp.path().join(format!("{name}.log"));
        let results = results.clone();
        let mut child = common::start_sink(
            &path(max_records),
            &results,
            &log,
            &[
                "--instance",
                name,
                "--group",
                &format!("claims-{name}"),
                "--until-idle",
                "3s",
                "--quiet",
            ],
        );
        async move {
            let status = common::exit_of_logged(&mut child, &log).await;
            assert!(status.success(), "sink {name}: {}", common::log_of(&log));
            common::json(
                &common::folder(&results, &format!("-sink-{name}")),
                "summary.json",
            )
        }
    };
    let s = config::parse(&path(10_000), &scenario(10_000)).unwrap();
    let produced = common::produce_in(&tmp.path().join("produce"), &s).await;
    assert_eq!(produced.acked, 30_000);

    let client = common::s3_client_for(&up.endpoint).await;
    let prefix = format!("tickbench/{topic}/");
    let offsets = |objects: &[common::Object]| {
        let mut o: Vec<(i64, usize)> = objects
            .iter()
            .map(|o| (o.first_offset, o.ticks.len()))
            .collect();
        o.sort();
        o
    };
    // The copies: objects of 10,000 ticks at offsets 0, 10,000 and 20,000; the last one taken
    // away again, so the next sink has something of its own to write.
    let first = sink(10_000, "first").await;
    assert_eq!(first["counts"]["landed"], 30_000, "{first}");
    let objects = common::read_back(&client, bucket, &prefix).await;
    assert_eq!(
        offsets(&objects),
        [(0, 10_000), (10_000, 10_000), (20_000, 10_000)]
    );
    let last = &objects
        .iter()
        .find(|o| o.first_offset == 20_000)
        .unwrap()
        .key;
    client
        .delete_object()
        .bucket(bucket)
        .key(last)
        .send()
        .await
        .unwrap();

    // Batches of 25,000: its first two writes meet shorter copies; it writes the third itself.
    let longer = sink(25_000, "longer").await;
    let refused = |s: &serde_json::Value| s["requests"]["precondition_failed"].as_u64().unwrap();
    assert_eq!(refused(&longer), 2, "{longer}");
    let objects = common::read_back(&client, bucket, &prefix).await;
    assert_eq!(
        offsets(&objects),
        [(0, 10_000), (10_000, 10_000), (20_000, 10_000)],
        "{longer}"
    );
    assert_eq!(common::assert_each_tick_once(&objects), 30_000);

    // Batches of 10,000 again: every write meets the same batch, already landed.
    let same = sink(10_000, "same").await;
    assert_eq!(refused(&same), 3, "{same}");
    assert_eq!(same["counts"]["landed"], 30_000, "{same}");
    let again = common::read_back(&client, bucket, &prefix).await;
    assert_eq!(offsets(&again), offsets(&objects));
    let etags = |o: &[common::Object]| {
        let mut e: Vec<String> = o.iter().map(|o| o.e_tag.clone()).collect();
        e.sort();
        e
    };
    assert_eq!(etags(&again), etags(&objects), "an object was replaced");
    assert_eq!(common::assert_each_tick_once(&again), 30_000);
}
