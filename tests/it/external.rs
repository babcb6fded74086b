//! The pipeline against services that run as processes of their own and were written by someone
//! else: a Kafka-protocol broker (tansu) and an S3-compatible server (s3s-fs; the landing and
//! doctor tests also against a second, moto's server), started by
//! `scripts/services.sh start`. `#[ignore]`d: a plain `cargo test`
//! names them as skipped; `cargo test -- --include-ignored` (as `.ci/run` does) runs them and fails
//! if TICKBENCH_KAFKA_BROKERS / TICKBENCH_S3_ENDPOINT (set by the script's `.services/env`) are
//! missing. Each test uses a topic and a bucket of its own.

use crate::common;

use std::path::Path;

use tickbench::config;
use tickbench::metrics::Stage;

#[ignore = "needs the separate services: scripts/services.sh start; source .services/env"]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn separate_broker_and_s3_processes_land_every_acknowledged_tick() {
    let (brokers, endpoint) = common::services();
    land_every_acknowledged_tick(&brokers, &endpoint).await;
}

/// The same against the second S3 implementation, moto's server: multipart, listing, reading
/// back and the audit do not depend on one server's quirks.
#[ignore = "needs the separate services: scripts/services.sh start; source .services/env"]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_lands_every_acknowledged_tick_in_moto() {
    let (brokers, _) = common::services();
    land_every_acknowledged_tick(&brokers, &common::moto()).await;
}

async fn land_every_acknowledged_tick(brokers: &str, endpoint: &str) {
    let topic = common::unique("ext");
    let bucket = common::unique("tb-ext");
    let tmp = tempfile::tempdir().unwrap();
    let text = format!(
        r#"
name = "external"
seed = 21
duration = "5s"
warmup = "1s"
[symbols]
count = 1000
[rate]
ticks_per_second = 20000
[kafka]
brokers = "{brokers}"
topic = "{topic}"
partitions = 2
group_id = "{topic}-sink"
# The scenario's own topic: tansu 0.6.0 stalls fetching one partition of this load from a topic
# named like a run's own (35+ characters); two_runs_of_one_scenario_at_once... covers those.
topic_per_run = false
[kafka.consumer]
"fetch.wait.max.ms" = "50"
[sink]
max_bytes = "5500 KiB"
max_age = "30s"
part_size = "5 MiB"
[s3]
endpoint = "{endpoint}"
bucket = "{bucket}"
prefix = "ext"
create_bucket = true
"#
    );
    let s = config::parse(Path::new("external.toml"), &text).unwrap();
    let out = common::run_in(tmp.path(), &s).await.expect("run succeeded");
    let sum = &out.summary;
    let c = &sum.counts;
    assert_eq!(c.produced, 120_000);
    // The audit names exactly what went wrong, if anything did; a clean run has nothing to say.
    assert!(
        sum.passed,
        "problems: {:#?}\nwarnings: {:#?}",
        sum.problems, sum.warnings
    );
    assert_eq!(
        (c.acked, c.landed, c.lost, c.duplicated),
        (120_000, 120_000, 0, 0)
    );
    for stage in [
        Stage::ScheduleLag,
        Stage::Produce,
        Stage::KafkaE2e,
        Stage::PipelineE2e,
        Stage::PartUpload,
    ] {
        assert!(sum.stages[&stage].count > 0, "{stage:?}");
    }

    let run_topic = &sum.kafka.topic;
    assert_eq!(run_topic, &topic);
    // Read back over the S3 API from the separate server, with the AWS chain's credentials.
    let client = common::s3_client_for(endpoint).await;
    let objects = common::read_back(&client, &bucket, &format!("ext/{run_topic}/")).await;
    assert_eq!(common::assert_each_tick_once(&objects), 120_000);
    let part = 5 * 1024 * 1024;
    // About 60,000 ticks (6 MB) a partition fill a 5500 KiB object.
    common::assert_byte_trigger_fired(&objects, 5500 * 1024, part, 1);
    for o in objects.iter().filter(|o| o.bytes > part) {
        assert!(o.e_tag.ends_with("-2"), "{} ETag {}", o.key, o.e_tag);
    }

    // The broker's view of the group's offsets equals what landed.
    let committed = common::committed_offsets(brokers, &format!("{topic}-sink"), run_topic, 2);
    assert_eq!(committed, common::records_per_partition(&objects));

    // The same kind of results folder as on the embedded default (minus the local s3/ copy).
    for f in [
        "scenario.toml",
        "manifest.json",
        "summary.json",
        "objects.jsonl",
        "histograms/pipeline_e2e.hlog",
    ] {
        assert!(out.dir.join(f).is_file(), "{f}");
    }
    assert!(!out.dir.join("s3").exists());
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.dir.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["kafka_brokers"], brokers);
    assert_eq!(manifest["kafka_embedded"], false);
    assert_eq!(manifest["s3_endpoint"], endpoint);
}

#[ignore = "needs the separate services: scripts/services.sh start; source .services/env"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_against_the_separate_services() {
    let (brokers, endpoint) = common::services();
    doctor_passes(&brokers, &endpoint).await;
}

#[ignore = "needs the separate services: scripts/services.sh start; source .services/env"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_against_moto() {
    let (brokers, _) = common::services();
    doctor_passes(&brokers, &common::moto()).await;
}

async fn doctor_passes(brokers: &str, endpoint: &str) {
    let bucket = common::unique("tb-doc");
    let client = common::s3_client_for(endpoint).await;
    tickbench::io::connect::prepare_bucket(&client, &bucket, true, endpoint)
        .await
        .unwrap();
    let text = format!(
        "name = \"d\"\nseed = 1\nduration = \"1s\"\n[symbols]\ncount = 1\n[rate]\nticks_per_second = 1\n[kafka]\nbrokers = \"{brokers}\"\ntopic = \"{}\"\n[s3]\nendpoint = \"{endpoint}\"\nbucket = \"{bucket}\"\n",
        common::unique("doc")
    );
    let s = config::parse(Path::new("doctor.toml"), &text).unwrap();
    let checks = tickbench::commands::doctor::run(&s, |_| {}).await;
    let failed: Vec<String> = checks
        .iter()
        .filter(|c| c.status.is_failure())
        .map(|c| c.to_string())
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    let text: Vec<String> = checks.iter().map(|c| c.to_string()).collect();
    assert!(
        text.iter()
            .any(|c| c.contains("CreateMultipartUpload, UploadPart, AbortMultipartUpload")),
        "{text:#?}"
    );
    assert!(
        text.iter()
            .any(|c| c.contains(&format!("{brokers} answered"))),
        "{text:#?}"
    );
}

/// A sink started after the load's start, in a new group, begins at the first record produced at
/// or after `--start-at` (the broker's offsets for that time), not at the topic's earliest. On the
/// separate tansu broker: librdkafka's mock cluster does not look offsets up by time.
#[ignore = "needs the separate services: scripts/services.sh start; source .services/env"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_sink_in_a_new_group_starts_at_the_loads_first_record() {
    let (brokers, endpoint) = common::services();
    let tmp = tempfile::tempdir().unwrap();
    let topic = common::unique("late");
    let scenario = |name: &str, seed: u64| {
        let path = tmp.path().join(format!("{name}.toml"));
        std::fs::write(
            &path,
            format!(
                "name = \"{name}\"\nseed = {seed}\nduration = \"1s\"\nwarmup = \"0s\"\n[symbols]\ncount = 50\n[rate]\nticks_per_second = 2000\n[kafka]\nbrokers = \"{brokers}\"\ntopic = \"{topic}\"\npartitions = 2\n[kafka.consumer]\n\"fetch.wait.max.ms\" = \"50\"\n[sink]\nmax_age = \"1s\"\n[s3]\nendpoint = \"{endpoint}\"\nbucket = \"{topic}\"\ncreate_bucket = true\n"
            ),
        )
        .unwrap();
        path
    };
    let produce = |path: &Path| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tickbench"))
            .args(["produce", path.to_str().unwrap(), "--results-dir"])
            .arg(tmp.path().join("produced"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    produce(&scenario("before", 1));
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let start_at = chrono::Utc::now().to_rfc3339();
    let this = scenario("this", 2);
    produce(&this);

    let log = tmp.path().join("sink.log");
    let results = tmp.path().join("results");
    let mut sink = common::start_sink(
        &this,
        &results,
        &log,
        &["--start-at", &start_at, "--until-idle", "3s", "--quiet"],
    );
    let st = common::exit_of(&mut sink).await;
    assert!(st.success(), "{}", common::log_of(&log));
    let summary = common::json(
        &common::folder(&results, "this-sink-sink-0"),
        "summary.json",
    );
    assert_eq!(summary["counts"]["consumed"], 2000, "{summary}");
    assert_eq!(summary["counts"]["landed"], 2000, "{summary}");
}

/// Two teammates start the same scenario at the same moment on one cluster, one bucket and one
/// prefix: each run has its own id, topic and consumer group, lands under a key space only it
/// writes, and passes; neither reads or writes the other's records or objects, and neither run's
/// topic outlives it.
#[ignore = "needs the separate services: scripts/services.sh start; source .services/env"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_of_one_scenario_at_once_on_one_cluster_and_bucket_both_pass_apart() {
    let (brokers, endpoint) = common::services();
    let tmp = tempfile::tempdir().unwrap();
    let bucket = common::unique("tb-two");
    let path = tmp.path().join("shared.toml");
    std::fs::write(
        &path,
        format!(
            "name = \"shared\"\nseed = 5\nduration = \"3s\"\nwarmup = \"0s\"\n[symbols]\ncount = 200\n[rate]\nticks_per_second = 3000\n[kafka]\nbrokers = \"{brokers}\"\ntopic = \"ticks\"\npartitions = 2\n[sink]\nmax_age = \"1s\"\n[s3]\nendpoint = \"{endpoint}\"\nbucket = \"{bucket}\"\nprefix = \"team\"\ncreate_bucket = true\n"
        ),
    )
    .unwrap();
    let results = tmp.path().join("results");
    let start = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_tickbench"))
            .args(["run", path.to_str().unwrap(), "--quiet", "--results-dir"])
            .arg(&results)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (start(), start());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    for out in [&a, &b] {
        assert!(
            out.status.success(),
            "exit {:?}\n{}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut runs: Vec<_> = std::fs::read_dir(&results)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    runs.sort();
    assert_eq!(runs.len(), 2, "{runs:?}");
    let client = common::s3_client_for(&endpoint).await;
    let mut keys = Vec::new();
    let mut topics = Vec::new();
    for run in &runs {
        let summary = common::json(run, "summary.json");
        assert_eq!(summary["passed"], true, "{summary}");
        assert_eq!(summary["counts"]["landed"], 9000, "{summary}");
        assert_eq!(summary["counts"]["foreign"], 0, "{summary}");
        let topic = summary["kafka"]["topic"].as_str().unwrap().to_string();
        assert!(
            topic.starts_with("ticks-") && topic.ends_with("-shared"),
            "{topic}"
        );
        // What the run's key space holds is exactly what this run landed.
        let objects = common::read_back(&client, &bucket, &format!("team/{topic}/")).await;
        assert_eq!(common::assert_each_tick_once(&objects), 9000);
        let mine: Vec<String> = std::fs::read_to_string(run.join("objects.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["key"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        let mut listed: Vec<String> = objects.iter().map(|o| o.key.clone()).collect();
        let mut reported = mine.clone();
        listed.sort();
        reported.sort();
        assert_eq!(listed, reported);
        keys.push(mine);
        topics.push(topic);
    }
    assert_ne!(topics[0], topics[1]);
    assert!(keys[0].iter().all(|k| !keys[1].contains(k)), "shared keys");
    // Both runs deleted their topics.
    let md_client: rdkafka::consumer::BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .create()
        .unwrap();
    let md = rdkafka::consumer::Consumer::fetch_metadata(
        &md_client,
        None,
        std::time::Duration::from_secs(10),
    )
    .unwrap();
    for t in &topics {
        assert!(
            md.topics().iter().all(|m| m.name() != t),
            "topic {t} is still on the cluster"
        );
    }
}
