//! Scale-out: two producer workers (`tickbench produce --worker I/2 --start-at T`) and two sinks
//! (`tickbench sink`, one consumer group) as separate processes on loopback, against one broker
//! and one S3 server, both served by a fifth process (`tickbench up`: librdkafka's mock cluster and
//! the s3s server). `tickbench merge` makes one run of their four folders; the test checks it
//! against what landed and against the stream one generator makes for the same seed.
//!
//! Not tansu: with two producers writing to one partition at once, tansu 0.6.0 lets a consumer
//! fetch past records it has acknowledged but not yet made readable (they are in its log when read
//! again later); the sinks count them as offset gaps and the audit as lost. See the README.

use crate::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tickbench::config;
use tickbench::metrics::Stage;
use tickbench::model::load::Schedule;
use tickbench::model::sim::{Generator, Model, Share, Universe};
use tickbench::model::tick::Tick;

fn start(args: &[&str], log: &Path) -> Child {
    let log = std::fs::File::create(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_tickbench"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("starting tickbench")
}

/// Every tick one generator makes for the scenario's seed and a schedule starting at `start_ns`.
fn single_worker_stream(s: &config::Scenario, start_ns: u64) -> Vec<Tick> {
    let model = Model::new(Universe::new(&s.symbols, s.seed), s.seed);
    let schedule = Schedule::of(&s.rate, s.total_duration(), s.seed, start_ns);
    let mut gen = Generator::new(model, Share::ALL, start_ns);
    schedule
        .iter()
        .filter_map(|(i, t)| gen.tick(i, t).map(|(_, tick)| tick.to_owned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_and_two_sinks_merge_into_one_run_with_every_tick_once() {
    scale_out(false).await;
}

/// The same with the sinks committing to one Iceberg table (the SQL catalog they share in their
/// results folder): the merged run's audit, and `verify` of its folder, read the table's current
/// snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_into_one_iceberg_table() {
    scale_out(true).await;
}

async fn scale_out(iceberg: bool) {
    common::use_embedded_s3_keys();
    let tmp = tempfile::tempdir().unwrap();
    let results = tmp.path().join("results");
    let (topic, bucket) = ("scale", "scale");
    let up_dir = tmp.path().join("up");
    let up = common::start_up(&[
        "--dir",
        up_dir.to_str().unwrap(),
        "--topic",
        topic,
        "--partitions",
        "4",
        "--bucket",
        bucket,
    ]);
    let (brokers, endpoint) = (up.brokers.clone(), up.endpoint.clone());
    let group = format!("{topic}-sinks");
    let text = format!(
        r#"
name = "scale"
seed = 99
duration = "4s"
warmup = "1s"
[symbols]
count = 400
zipf = 1.0
[rate]
ticks_per_second = 5000
[kafka]
brokers = "{brokers}"
topic = "{topic}"
partitions = 4
[kafka.consumer]
"fetch.wait.max.ms" = "50"
[sink]
max_age = "1s"
{format}
[s3]
endpoint = "{endpoint}"
bucket = "{bucket}"
prefix = "scale"
create_bucket = true
"#,
        format = if iceberg { "format = \"iceberg\"" } else { "" }
    );
    let path = tmp.path().join("scale.toml");
    std::fs::write(&path, &text).unwrap();
    let s = config::parse(&path, &text).unwrap();

    // An earlier load on the same topic: the sinks' new group must start at this load's records,
    // not at the topic's earliest offset.
    let earlier = tmp.path().join("earlier.toml");
    std::fs::write(
        &earlier,
        text.replace("name = \"scale\"", "name = \"earlier\"")
            .replace("seed = 99", "seed = 7")
            .replace("duration = \"4s\"", "duration = \"1s\"")
            .replace("warmup = \"1s\"", "warmup = \"0s\""),
    )
    .unwrap();
    common::succeeds(
        std::process::Command::new(env!("CARGO_BIN_EXE_tickbench"))
            .args(["produce", earlier.to_str().unwrap(), "--results-dir"])
            .arg(tmp.path().join("earlier")),
    );

    // The agreed start: far enough ahead for four processes to start and the group to settle.
    let start_at = chrono::Utc::now() + chrono::Duration::seconds(10);
    let start_ns = start_at.timestamp_nanos_opt().unwrap() as u64;
    let start_arg = start_at.to_rfc3339();
    let (p, r) = (path.to_str().unwrap(), results.to_str().unwrap());
    let mut sinks: Vec<Child> = ["sink-a", "sink-b"]
        .iter()
        .map(|name| {
            start(
                &[
                    "sink",
                    p,
                    "--results-dir",
                    r,
                    "--instance",
                    name,
                    "--group",
                    &group,
                    "--until-idle",
                    "6s",
                    "--start-at",
                    &start_arg,
                    "--quiet",
                ],
                &tmp.path().join(format!("{name}.log")),
            )
        })
        .collect();
    let mut producers: Vec<Child> = ["1/2", "2/2"]
        .iter()
        .enumerate()
        .map(|(i, w)| {
            start(
                &[
                    "produce",
                    p,
                    "--results-dir",
                    r,
                    "--worker",
                    w,
                    "--start-at",
                    &start_arg,
                ],
                &tmp.path().join(format!("producer-{i}.log")),
            )
        })
        .collect();
    for (i, c) in producers.iter_mut().enumerate() {
        let st = common::exit_of(c).await;
        assert!(
            st.success(),
            "producer {i}: {st}\n{}",
            common::log_of(&tmp.path().join(format!("producer-{i}.log")))
        );
    }
    for (c, name) in sinks.iter_mut().zip(["sink-a", "sink-b"]) {
        let st = common::exit_of(c).await;
        assert!(
            st.success(),
            "{name}: {st}\n{}",
            common::log_of(&tmp.path().join(format!("{name}.log")))
        );
    }

    let dirs = vec![
        common::folder(&results, "scale-produce-1of2"),
        common::folder(&results, "scale-produce-2of2"),
        common::folder(&results, "scale-sink-sink-a"),
        common::folder(&results, "scale-sink-sink-b"),
    ];
    // The workers split the symbols: no symbol was generated by both, each generated some.
    let shares: Vec<Vec<u64>> = dirs[..2]
        .iter()
        .map(|d| {
            common::json(d, "produced.json")["per_symbol"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap())
                .collect()
        })
        .collect();
    assert!(shares.iter().all(|s| s.iter().sum::<u64>() > 0));
    assert!(shares[0]
        .iter()
        .zip(&shares[1])
        .all(|(a, b)| *a == 0 || *b == 0));
    // The group spread the partitions and both sinks landed records. Every record was received
    // once, plus what a sink read again itself (`reread`) and, if the group took partitions back
    // mid-run (a slow CI machine can miss a heartbeat), what their next owner read again. That
    // none of the earlier load's records landed is checked below, tick for tick, from S3.
    let counts: Vec<serde_json::Value> = dirs[2..]
        .iter()
        .map(|d| common::json(d, "summary.json")["counts"].clone())
        .collect();
    let total = |field: &str| -> u64 { counts.iter().map(|c| c[field].as_u64().unwrap()).sum() };
    let produced: u64 = shares.iter().flatten().sum();
    let rebalanced = total("revoked") > 0;
    let explain = || {
        format!(
            "{counts:?}\n{}\n{}",
            common::log_of(&tmp.path().join("sink-a.log")),
            common::log_of(&tmp.path().join("sink-b.log"))
        )
    };
    let received_once = total("consumed") - total("reread");
    if rebalanced {
        assert!(received_once >= produced, "{}", explain());
    } else {
        assert_eq!(received_once, produced, "{}", explain());
    }
    for d in &dirs[2..] {
        let landed = common::json(d, "summary.json")["counts"]["landed"]
            .as_u64()
            .unwrap();
        assert!(
            landed > 0,
            "{} landed nothing: {}\n{}",
            d.display(),
            std::fs::read_to_string(d.join("summary.json")).unwrap(),
            common::log_of(&tmp.path().join("sink-a.log"))
        );
    }

    let opts = tickbench::commands::merge::MergeOptions {
        results_root: results.clone(),
        out: Some(tmp.path().join("merged")),
        ..Default::default()
    };
    let (merged, sum) = tickbench::commands::merge::merge(&dirs, &opts)
        .await
        .unwrap();
    let c = &sum.counts;
    assert!(
        sum.passed,
        "problems: {:#?}\nwarnings: {:#?}",
        sum.problems, sum.warnings
    );
    // One host, one clock, sinks anchored to the workers' start: nothing to warn about, but
    // what a mid-run rebalance made a sink give up.
    assert!(
        sum.warnings
            .iter()
            .all(|w| rebalanced && w.contains("revoked partitions")),
        "{:#?}",
        sum.warnings
    );
    let expected = single_worker_stream(&s, start_ns);
    assert_eq!(c.produced, expected.len() as u64);
    assert_eq!(
        (c.acked, c.landed, c.lost, c.duplicated),
        (c.produced, c.produced, 0, 0)
    );

    // What landed, read back over the S3 API, is the single generator's stream, tick for tick.
    let client = common::s3_client_for(&endpoint).await;
    let landed_under = if iceberg {
        "scale/warehouse/tickbench/scale/data/"
    } else {
        "scale/"
    };
    let objects = common::read_back(&client, bucket, landed_under).await;
    assert_eq!(common::assert_each_tick_once(&objects), c.produced);
    let mut landed: Vec<Tick> = objects.into_iter().flat_map(|o| o.ticks).collect();
    let key = |t: &Tick| (t.symbol.clone(), t.seq);
    landed.sort_by_key(key);
    let mut want = expected;
    want.sort_by_key(key);
    assert_eq!(landed.len(), want.len());
    for (got, want) in landed.iter().zip(&want) {
        assert_eq!(
            got, want,
            "the landed tick differs from the single worker's"
        );
    }

    // The histograms were added: the merged counts are the parts' sums.
    let stage_count = |d: &Path, file: &str, stage: &str| {
        common::json(d, file)["stages"][stage]["count"]
            .as_u64()
            .unwrap()
    };
    let parts_sum = |range: &[PathBuf], file: &str, stage: &str| -> u64 {
        range.iter().map(|d| stage_count(d, file, stage)).sum()
    };
    assert_eq!(
        sum.stages[&Stage::ScheduleLag].count,
        parts_sum(&dirs[..2], "produce.json", "schedule_lag")
    );
    assert_eq!(
        sum.stages[&Stage::PipelineE2e].count,
        parts_sum(&dirs[2..], "summary.json", "pipeline_e2e")
    );
    // 4 s measured at 5,000 a second, the warm-up second apart.
    let measured = sum.stages[&Stage::ScheduleLag].count;
    assert!((19_000..=21_000).contains(&measured), "{measured}");
    assert!(sum.stages[&Stage::PipelineE2e].count >= measured - 100);

    // The merged folder is a run folder like any other.
    for f in [
        "report.html",
        "report.md",
        "timeseries.csv",
        "expected.json",
    ] {
        assert!(merged.join(f).is_file(), "{f}");
    }
    let md = std::fs::read_to_string(merged.join("report.md")).unwrap();
    assert!(
        md.contains("## Hosts (merged run)") && md.contains("| 2/2 | producer |"),
        "{md}"
    );
    let manifest = common::json(&merged, "manifest.json");
    let parts = manifest["merged_from"].as_array().unwrap();
    assert_eq!(parts.len(), 4);
    assert!(parts
        .iter()
        .all(|p| p["host"]["clock"]["source"].is_string()));
    let v = tickbench::commands::verify::verify(&merged, None)
        .await
        .unwrap();
    assert!(v.audit.passed(), "{:#?}", v.audit.problems);
    assert_eq!(v.audit.records_read, c.produced);
    let by_role: BTreeMap<String, usize> = parts.iter().fold(BTreeMap::new(), |mut m, p| {
        *m.entry(p["role"].as_str().unwrap().to_string())
            .or_default() += 1;
        m
    });
    assert_eq!(
        by_role,
        BTreeMap::from([("producer".into(), 2), ("sink".into(), 2)])
    );
    drop(up);
}

/// The same two workers and two sinks started as a Kubernetes Indexed Job starts them: no
/// `--worker`, `--instance`, `--start-at` or results flag on their command lines, only the
/// environment the Job and its manifest give each pod (JOB_COMPLETION_INDEX, TICKBENCH_WORKERS,
/// TICKBENCH_START_AT as a shared time plus a delay, TICKBENCH_RESULTS_TO), each in a results
/// folder of its own that is deleted afterwards, as a pod's is. `tickbench merge` reads the four
/// folders back from S3, passes the audit, and leaves its own folder there too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_numbered_by_the_orchestrator_merge_from_their_folders_in_s3() {
    common::use_embedded_s3_keys();
    let tmp = tempfile::tempdir().unwrap();
    let (topic, bucket) = ("pods", "pods");
    let up = common::start_up(&[
        "--dir",
        tmp.path().join("up").to_str().unwrap(),
        "--topic",
        topic,
        "--partitions",
        "4",
        "--bucket",
        bucket,
    ]);
    let text = format!(
        r#"
name = "pods"
seed = 3
duration = "3s"
warmup = "0s"
[symbols]
count = 200
[rate]
ticks_per_second = 2000
[kafka]
brokers = "{}"
topic = "{topic}"
partitions = 4
group_id = "pods-sinks"
[kafka.consumer]
"fetch.wait.max.ms" = "50"
[sink]
max_age = "1s"
[s3]
endpoint = "{}"
bucket = "{bucket}"
prefix = "ticks"
"#,
        up.brokers, up.endpoint
    );
    let path = tmp.path().join("pods.toml");
    std::fs::write(&path, &text).unwrap();
    let p = path.to_str().unwrap();

    // What the manifest passes every pod: a time they share and the delay to be up by then.
    let shared = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let run = format!("s3://{bucket}/runs/{}", std::process::id());
    let pod = |role: &str, index: usize, args: &[&str]| {
        let dir = tmp.path().join(format!("{role}-{index}"));
        let log = std::fs::File::create(tmp.path().join(format!("{role}-{index}.log"))).unwrap();
        let mut args: Vec<&str> = args.to_vec();
        args.extend(["--results-dir", dir.to_str().unwrap()]);
        let child = Command::new(env!("CARGO_BIN_EXE_tickbench"))
            .args(&args)
            .env("JOB_COMPLETION_INDEX", index.to_string())
            .env("TICKBENCH_WORKERS", "2")
            .env("TICKBENCH_WORKER", "auto")
            .env("TICKBENCH_INSTANCE", "auto")
            .env("TICKBENCH_START_AT", format!("{shared}+10s"))
            .env("TICKBENCH_RESULTS_TO", &run)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        (child, dir, tmp.path().join(format!("{role}-{index}.log")))
    };
    let mut pods: Vec<_> = (0..2)
        .map(|i| pod("sink", i, &["sink", p, "--until-idle", "5s", "--quiet"]))
        .chain((0..2).map(|i| pod("producer", i, &["produce", p])))
        .collect();
    for (child, dir, log) in &mut pods {
        let st = common::exit_of(child).await;
        assert!(st.success(), "{st}\n{}", common::log_of(log));
        assert!(
            common::log_of(log).contains(&format!("results copied to {run}/")),
            "{}",
            common::log_of(log)
        );
        // The pod goes away, and its disk with it.
        std::fs::remove_dir_all(dir).unwrap();
    }

    let merged_root = tmp.path().join("merged");
    let out = common::succeeds(
        Command::new(env!("CARGO_BIN_EXE_tickbench"))
            .args(["merge", &format!("{run}/"), "--s3-endpoint", &up.endpoint])
            .arg("--results-dir")
            .arg(&merged_root)
            .arg("--results-to")
            .arg(format!("{run}-merged/")),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let merged = common::folder(&merged_root, "pods-merged");
    let sum = common::json(&merged, "summary.json");
    assert_eq!(sum["passed"], true, "{text}");
    let c = &sum["counts"];
    assert_eq!(c["produced"].as_u64(), Some(6000), "{text}");
    assert_eq!(c["landed"], c["produced"], "{text}");
    assert_eq!(
        (c["lost"].as_u64(), c["duplicated"].as_u64()),
        (Some(0), Some(0))
    );
    // Both workers' shares and both sinks are in it, named as the orchestrator numbered them.
    let manifest = std::fs::read_to_string(merged.join("manifest.json")).unwrap();
    for part in ["produce-1of2", "produce-2of2", "sink-sink-0", "sink-sink-1"] {
        assert!(manifest.contains(part), "{part} not in {manifest}");
    }
    let client = common::s3_client_for(&up.endpoint).await;
    let listed = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(format!("runs/{}-merged/", std::process::id()))
        .send()
        .await
        .unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert!(
        keys.iter().any(|k| k.ends_with("/summary.json")),
        "{keys:?}"
    );
}
