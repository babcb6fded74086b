//! A consumer-group rebalance mid-batch: a second `tickbench sink` process joins the group while
//! ticks arrive and batches are open, then leaves on SIGTERM. Every commit either sink made is
//! checked against the objects' durable times: no commit ever passed what was durable, and every
//! tick is in S3 exactly once.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tickbench::config;
use tickbench::io::embedded::{EmbeddedKafka, EmbeddedS3};
use tickbench::results::{Landed, RunDir};

const TICKS: u64 = 60_000;
const PARTITIONS: i32 = 4;
/// True once a sink's progress lines show it has read records.
fn has_read(log: &Path) -> bool {
    common::log_of(log)
        .lines()
        .any(|l| l.contains("consumed") && !l.contains("consumed 0 "))
}
fn read_landed(dir: &Path) -> Vec<Landed> {
    std::fs::read_to_string(dir.join("objects.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_joining_and_leaving_mid_batch_never_commits_past_what_is_durable() {
    rebalance_mid_batch("", "").await;
}

/// The same where writes are not conditional: each tick object waits for the generation check (a
/// commit of its partition's oldest offset not yet durable), refused while the group rebalances.
/// Those commits are in commits.jsonl, so the check below holds them to what was durable too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_with_the_generation_check_instead_of_conditional_writes() {
    rebalance_mid_batch("", "conditional_writes = \"off\"").await;
}

/// The same with the cooperative protocol: only the partitions that change owner are revoked, and
/// the sink gives up exactly those (incremental_unassign) after committing what is durable.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_under_cooperative_sticky_assignment() {
    rebalance_mid_batch(
        "\"partition.assignment.strategy\" = \"cooperative-sticky\"",
        "",
    )
    .await;
}

async fn rebalance_mid_batch(consumer_extra: &str, s3_extra: &str) {
    common::use_embedded_s3_keys();
    let tmp = tempfile::tempdir().unwrap();
    let topic = "rebalance";
    let kafka = EmbeddedKafka::start(1, topic, PARTITIONS).unwrap();
    let s3 = EmbeddedS3::start(&tmp.path().join("s3")).await.unwrap();
    let text = format!(
        r#"
name = "rebalance"
seed = 9
duration = "15s"
warmup = "0s"
[symbols]
count = 300
[rate]
ticks_per_second = 4000
[kafka]
brokers = "{}"
topic = "{topic}"
# The scenario's topic, which the test watches on its own mock cluster.
topic_per_run = false
partitions = {PARTITIONS}
group_id = "rebalance-sink"
[kafka.consumer]
"fetch.wait.max.ms" = "50"
{consumer_extra}
[sink]
max_records = 1000000
max_bytes = "64 MiB"
max_age = "3s"
[s3]
endpoint = "{}"
bucket = "rebalance"
create_bucket = true
{s3_extra}
"#,
        kafka.bootstrap_servers(),
        s3.endpoint()
    );
    let path = tmp.path().join("rebalance.toml");
    std::fs::write(&path, &text).unwrap();
    let s = config::parse(&path, &text).unwrap();
    let results = tmp.path().join("results");
    let (log_a, log_b) = (tmp.path().join("a.log"), tmp.path().join("b.log"));

    // -v: the sinks' logs (printed when a count falls short) then trace every rebalance.
    let mut a = common::start_sink(&path, &results, &log_a, &["-v", "--until-idle", "8s"]);
    let produce_dir = tmp.path().join("produce");
    let producer = tokio::spawn(async move { common::produce_in(&produce_dir, &s).await });
    common::wait_until("sink A to read records", || has_read(&log_a)).await;

    // B joins while A's batches are open (they close after 3 s), reads, then leaves.
    let mut b = common::start_sink(&path, &results, &log_b, &["-v", "--instance", "sink-1"]);
    common::wait_until("sink B to read records", || has_read(&log_b)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let term = Command::new("kill")
        .args(["-TERM", &b.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let st = common::exit_of_logged(&mut b, &log_b).await;
    assert!(st.success(), "sink B: {}", common::log_of(&log_b));

    let produced = producer.await.unwrap();
    assert_eq!((produced.produced, produced.acked), (TICKS, TICKS));
    let st = common::exit_of_logged(&mut a, &log_a).await;
    assert!(st.success(), "sink A: {}", common::log_of(&log_a));

    let (dir_a, dir_b) = (
        common::folder(&results, "-sink-sink-0"),
        common::folder(&results, "-sink-sink-1"),
    );
    let summary = |d: &Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(d.join("summary.json")).unwrap()).unwrap()
    };
    let (sum_a, sum_b) = (summary(&dir_a), summary(&dir_b));
    let revoked = sum_a["counts"]["revoked"].as_u64().unwrap();
    assert!(revoked > 0, "A gave partitions up to B: {sum_a}");
    // Eager assignment takes every partition from every member at each rebalance (B joining,
    // B leaving); the cooperative protocol takes from A only those that move to B.
    if consumer_extra.contains("cooperative") {
        assert!(revoked < PARTITIONS as u64, "only what moved: {sum_a}");
    } else {
        assert!(
            revoked >= PARTITIONS as u64,
            "everything, at least once: {sum_a}"
        );
    }
    assert!(sum_b["counts"]["landed"].as_u64().unwrap() > 0, "{sum_b}");
    assert_eq!(sum_b["stopped_by"], "signal");
    assert_eq!(sum_a["stopped_by"], "idle");
    for s in [&sum_a, &sum_b] {
        assert_eq!(
            s["counts"]["conditional_writes"],
            s3_extra.is_empty(),
            "{s}"
        );
    }

    // Every tick once in S3, each partition's offsets tiled from 0 by the objects there.
    let client = common::s3_client_for(&s3.endpoint()).await;
    let objects = common::read_back(&client, "rebalance", "tickbench/rebalance/").await;
    let landed = common::assert_each_tick_once(&objects);
    assert_eq!(
        landed,
        TICKS,
        "sink A:\n{}\nsink B:\n{}",
        common::log_of(&log_a),
        common::log_of(&log_b)
    );
    let mut end: BTreeMap<i32, i64> = BTreeMap::new();
    let mut tiles: Vec<_> = objects.iter().collect();
    tiles.sort_by_key(|o| (o.partition, o.first_offset));
    for o in tiles {
        let n = end.entry(o.partition).or_insert(0);
        assert_eq!(o.first_offset, *n, "{} does not follow on", o.key);
        *n += o.ticks.len() as i64;
    }

    // No commit, by either sink, passed an offset whose object was not yet durable: the objects
    // durable when a commit was sent cover its partition from 0 up to the offset committed.
    // (A key landed twice, by both sinks, is the same records written again.)
    let mut landed = read_landed(&dir_a);
    landed.extend(read_landed(&dir_b));
    let mut commits = RunDir::open(&dir_a).commits().unwrap();
    let from_b = RunDir::open(&dir_b).commits().unwrap();
    assert!(!from_b.is_empty(), "B committed what it landed");
    commits.extend(from_b);
    for c in &commits {
        let mut durable: Vec<(i64, i64)> = landed
            .iter()
            .filter(|l| l.partition == c.partition && l.durable_ns <= c.sent_ns)
            .map(|l| (l.first_offset, l.last_offset))
            .collect();
        durable.sort_unstable();
        let mut covered = 0;
        for (first, last) in durable {
            if first <= covered {
                covered = covered.max(last + 1);
            }
        }
        assert!(
            covered >= c.offset,
            "partition {} committed at {} when only offsets below {covered} were durable",
            c.partition,
            c.offset
        );
    }
    let committed = tokio::task::spawn_blocking({
        let brokers = kafka.bootstrap_servers().to_string();
        move || common::committed_offsets(&brokers, "rebalance-sink", topic, PARTITIONS)
    })
    .await
    .unwrap();
    assert_eq!(committed, end);
    s3.stop().await;
}
