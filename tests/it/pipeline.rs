//! The whole pipeline, in-process, over real protocols: librdkafka's mock cluster and the s3s
//! server on loopback, spoken to by the same rdkafka and aws-sdk-s3 code a real run uses.

use crate::common;

use std::path::Path;

use tickbench::config;
use tickbench::io::embedded::EmbeddedS3;
use tickbench::metrics::Stage;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn embedded_default_lands_every_tick_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let s = config::parse(
        Path::new("embedded.toml"),
        r#"
name = "embedded"
seed = 5
duration = "3s"
warmup = "1s"
[symbols]
count = 300
[rate]
ticks_per_second = 3000
[kafka]
partitions = 4
[kafka.consumer]
"fetch.wait.max.ms" = "50"
[sink]
max_age = "1s"
part_size = "5 MiB"
"#,
    )
    .unwrap();
    let out = common::run_in(tmp.path(), &s).await.expect("run succeeded");
    let sum = &out.summary;
    let c = &sum.counts;
    assert_eq!(c.produced, 12_000);
    assert_eq!((c.acked, c.consumed, c.landed), (12_000, 12_000, 12_000));
    assert_eq!((c.lost, c.duplicated), (0, 0));
    assert!(sum.passed, "{:?}", sum.problems);
    // Warm-up (1 s of 4) is left out of the latency stages.
    for stage in [
        Stage::ScheduleLag,
        Stage::Produce,
        Stage::ProduceRaw,
        Stage::KafkaE2e,
        Stage::PipelineE2e,
    ] {
        let st = &sum.stages[&stage];
        assert_eq!(st.count, 9_000, "{stage:?}");
        assert!(
            st.p50_us <= st.p99_us && st.p99_us <= st.max_us,
            "{stage:?}: {st:?}"
        );
    }
    // Latency to durable includes the batch's age trigger (1 s); it cannot be less than Kafka's.
    assert!(sum.stages[&Stage::PipelineE2e].p50_us > sum.stages[&Stage::KafkaE2e].p50_us);
    assert_eq!(sum.objects.multipart, 0, "all batches are far below a part");
    assert_eq!(sum.requests.put_object, sum.objects.count);

    // The landed objects, read back over the S3 API from the run's folder.
    let server = EmbeddedS3::start(&out.dir.join("s3")).await.unwrap();
    let client =
        tickbench::io::connect::s3_client(&Default::default(), Some(&server.endpoint())).await;
    let objects = common::read_back(&client, "tickbench", "tickbench/ticks/").await;
    assert_eq!(objects.len() as u64, sum.objects.count);
    assert_eq!(common::assert_each_tick_once(&objects), 12_000);
    for o in &objects {
        assert!(
            o.key.contains("/dt=") && o.key.contains("/hour="),
            "{}",
            o.key
        );
        assert!(o.key.ends_with(".jsonl"));
        let hour = tickbench::model::layout::TimeBucket::hour_of(o.ticks[0].ts_ns);
        assert!(
            o.key.contains(&hour.path()),
            "{} holds ticks of {}",
            o.key,
            hour.path()
        );
    }
    assert_eq!(
        common::records_per_partition(&objects),
        sum.kafka.committed_offsets,
        "committed offsets equal what landed"
    );
    server.stop().await;

    // The results folder holds what a person needs.
    for f in [
        "scenario.toml",
        "manifest.json",
        "summary.json",
        "objects.jsonl",
    ] {
        assert!(out.dir.join(f).is_file(), "{f}");
    }
    let hlog = std::fs::read_to_string(out.dir.join("histograms/pipeline_e2e.hlog")).unwrap();
    assert!(hlog.contains("Tag=pipeline_e2e,"), "{hlog}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.dir.join("summary.json")).unwrap())
            .unwrap();
    for k in [
        "produced",
        "acked",
        "consumed",
        "landed",
        "lost",
        "duplicated",
    ] {
        assert!(summary["counts"][k].is_u64(), "counts.{k}");
    }
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.dir.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["seed"], 5);
    assert!(manifest["librdkafka_version"]
        .as_str()
        .unwrap()
        .starts_with('2'));
}

/// Runs a tiny scenario that must fail, and returns its error message.
async fn run_error(tail: &str) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let text = format!("name = \"x\"\nseed = 1\nduration = \"1s\"\n[symbols]\ncount = 1\n[rate]\nticks_per_second = 1\n{tail}");
    let s = config::parse(Path::new("x.toml"), &text).unwrap();
    let err = common::run_in(tmp.path(), &s).await.unwrap_err();
    format!("{err:#}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_broker_fails_with_a_clear_error() {
    let msg = run_error("[kafka]\nbrokers = \"127.0.0.1:9\"\n").await;
    assert!(msg.contains("cannot reach Kafka at 127.0.0.1:9"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_s3_fails_with_a_clear_error() {
    let msg = run_error("[s3]\nendpoint = \"http://127.0.0.1:9\"\nbucket = \"nowhere\"\n").await;
    assert!(
        msg.contains("bucket nowhere at http://127.0.0.1:9"),
        "{msg}"
    );
}

/// Two producer threads with Poisson arrivals on a ramp: everything lands, and what landed is,
/// tick for tick, the single generator's stream for the same seed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn producer_threads_land_the_single_generator_stream() {
    let tmp = tempfile::tempdir().unwrap();
    let text = r#"
name = "threads"
seed = 77
duration = "3s"
[symbols]
count = 400
zipf = 1.0
beta_min = 0.5
beta_max = 0.9
jumps = { per_year = 20000, mean = -0.02, sd = 0.01 }
[rate]
poisson = true
producer_threads = 2
[[rate.segments]]
kind = "ramp"
duration = "3s"
from = 1000
to = 3000
[kafka]
partitions = 3
[kafka.consumer]
"fetch.wait.max.ms" = "50"
[sink]
max_age = "1s"
"#;
    let s = config::parse(Path::new("threads.toml"), text).unwrap();
    let out = common::run_in(tmp.path(), &s).await.expect("run succeeded");
    let c = &out.summary.counts;
    assert!(out.summary.passed, "{:?}", out.summary.problems);

    // The same schedule and generator, alone, in this process.
    use tickbench::model::load::{Profile, Schedule};
    use tickbench::model::sim::{rng::substream, Generator, Model, Share, Universe};
    let schedule = Schedule::new(
        0,
        Profile::from_rate(&s.rate, s.total_duration()),
        Some(substream(77, "arrivals")),
    );
    let model = Model::new(Universe::new(&s.symbols, 77), 77);
    let mut gen = Generator::new(model, Share::ALL, 0);
    let mut want: Vec<String> = Vec::new();
    for (i, t) in schedule.iter() {
        let (_, tick) = gen.tick(i, t).unwrap();
        // Everything but the wall-clock send time, which depends on when the run started.
        let tick = tick.to_owned();
        want.push(format!(
            "{} {} {} {} {} {}",
            tick.symbol, tick.seq, tick.price, tick.bid, tick.ask, tick.size
        ));
    }
    assert_eq!(c.produced, want.len() as u64);
    assert_eq!(
        (c.acked, c.landed, c.consumed),
        (c.produced, c.produced, c.produced)
    );
    // Poisson around a 2,000/s mean for 3 s.
    assert!((5_000..7_000).contains(&c.produced), "{}", c.produced);

    let server = EmbeddedS3::start(&out.dir.join("s3")).await.unwrap();
    let client =
        tickbench::io::connect::s3_client(&Default::default(), Some(&server.endpoint())).await;
    let objects = common::read_back(&client, "tickbench", "tickbench/ticks/").await;
    let mut got: Vec<String> = objects
        .iter()
        .flat_map(|o| o.ticks.iter())
        .map(|t| {
            format!(
                "{} {} {} {} {} {}",
                t.symbol, t.seq, t.price, t.bid, t.ask, t.size
            )
        })
        .collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    server.stop().await;
}

/// On a topic that already holds records, a run's fresh consumer group starts where the run's own
/// records begin: it neither reads the history nor lands it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_run_on_a_used_topic_starts_at_its_own_records() {
    use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
    let kafka = tickbench::io::embedded::EmbeddedKafka::start(1, "used", 2).unwrap();
    let p: ThreadedProducer<DefaultProducerContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap_servers())
        .create()
        .unwrap();
    for i in 0..500 {
        let payload = format!("history {i}");
        p.send(
            BaseRecord::<str, str>::to("used")
                .key("old")
                .payload(&payload),
        )
        .map_err(|(e, _)| e)
        .unwrap();
    }
    p.flush(std::time::Duration::from_secs(10)).unwrap();
    drop(p);

    let tmp = tempfile::tempdir().unwrap();
    let text = format!(
        "name = \"used\"\nseed = 2\nduration = \"2s\"\n[symbols]\ncount = 50\n[rate]\nticks_per_second = 1000\n[kafka]\nbrokers = \"{}\"\ntopic = \"used\"\ntopic_per_run = false\n[kafka.consumer]\n\"fetch.wait.max.ms\" = \"50\"\n[sink]\nmax_age = \"1s\"\n",
        kafka.bootstrap_servers()
    );
    let s = config::parse(Path::new("used.toml"), &text).unwrap();
    let out = common::run_in(tmp.path(), &s).await.expect("run succeeded");
    let c = &out.summary.counts;
    assert!(out.summary.passed, "{:?}", out.summary.problems);
    assert_eq!((c.produced, c.consumed, c.landed), (2000, 2000, 2000));
    assert_eq!(
        (c.skipped_preexisting, c.malformed),
        (0, 0),
        "the history was never read"
    );
    assert_eq!(out.summary.kafka.start_offsets.values().sum::<i64>(), 500);
    // Nothing failed on the way, so librdkafka sent nothing twice (faults:: shows the opposite).
    assert_eq!(c.produce_resent, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn time_triggers_rotate_and_flush_idle_partitions_into_minute_partitions() {
    let tmp = tempfile::tempdir().unwrap();
    // Two busy seconds, then a trickle: rotation closes the busy batches on each second, and
    // in the trickle every batch is closed by the idle flush long before max_age (60 s).
    let s = config::parse(
        Path::new("time.toml"),
        r#"
name = "time"
seed = 8
duration = "5s"
[symbols]
count = 100
[[rate.segments]]
kind = "constant"
duration = "2s"
ticks_per_second = 2000
[[rate.segments]]
kind = "constant"
duration = "3s"
ticks_per_second = 2
[kafka]
partitions = 3
[kafka.consumer]
"fetch.wait.max.ms" = "50"
[sink]
max_age = "60s"
rotate_every = "1s"
idle_timeout = "300ms"
time_partition = "minute"
time_source = "wall"
"#,
    )
    .unwrap();
    let out = common::run_in(tmp.path(), &s).await.expect("run succeeded");
    let sum = &out.summary;
    assert!(sum.passed, "{:?}", sum.problems);
    let reasons = &sum.objects.close_reasons;
    assert!(
        reasons.get("rotate").copied().unwrap_or(0) >= 3,
        "{reasons:?}"
    );
    assert!(
        reasons.get("idle").copied().unwrap_or(0) >= 2,
        "{reasons:?}"
    );
    // Nothing waited for max_age: no batch closed on age (how long each waited instead is the
    // machine's, not something a test can bound).
    assert_eq!(reasons.get("age"), None, "{reasons:?}");

    let server = EmbeddedS3::start(&out.dir.join("s3")).await.unwrap();
    let client =
        tickbench::io::connect::s3_client(&Default::default(), Some(&server.endpoint())).await;
    let objects = common::read_back(&client, "tickbench", "tickbench/ticks/").await;
    assert_eq!(
        common::assert_each_tick_once(&objects) as u64,
        sum.counts.landed
    );
    assert_eq!(sum.counts.landed, 4_006);
    for o in &objects {
        assert!(o.key.contains("/minute="), "{}", o.key);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn grouped_by_symbol_each_object_holds_one_symbol_and_commits_stay_behind_open_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let s = config::parse(
        Path::new("by-symbol.toml"),
        r#"
name = "by-symbol"
seed = 12
duration = "3s"
[symbols]
count = 40
zipf = 1.0
[rate]
ticks_per_second = 2000
[kafka]
partitions = 3
[kafka.consumer]
"fetch.wait.max.ms" = "50"
[sink]
group_by = "symbol"
max_records = 150
max_age = "60s"
"#,
    )
    .unwrap();
    let out = common::run_in(tmp.path(), &s).await.expect("run succeeded");
    let sum = &out.summary;
    // The audit checks that the committed offsets equal where the sink read, and that every
    // offset read is accounted for (landed or set aside), although batches interleave.
    assert!(sum.passed, "{:?}", sum.problems);
    assert_eq!(sum.counts.landed, 6_000);

    let server = EmbeddedS3::start(&out.dir.join("s3")).await.unwrap();
    let client =
        tickbench::io::connect::s3_client(&Default::default(), Some(&server.endpoint())).await;
    let objects = common::read_back(&client, "tickbench", "tickbench/ticks/").await;
    assert_eq!(common::assert_each_tick_once(&objects), 6_000);
    let mut symbols = std::collections::BTreeSet::new();
    for o in &objects {
        let sym = &o.ticks[0].symbol;
        assert!(
            o.ticks.iter().all(|t| &t.symbol == sym),
            "{} mixes symbols",
            o.key
        );
        assert!(o.key.contains(&format!("/symbol={sym}/")), "{}", o.key);
        assert!(o.ticks.len() <= 150);
        symbols.insert(sym.clone());
    }
    assert_eq!(symbols.len(), 40, "every symbol got objects of its own");
    // Hot symbols (Zipf) filled several 150-record objects; the rest closed at the end.
    assert!(
        sum.objects.close_reasons["records"] >= 10,
        "{:?}",
        sum.objects.close_reasons
    );
    assert!(sum.resources.sink_peak_open_batches > 3);
}
