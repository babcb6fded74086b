//! The wall clock stepped mid-run (an NTP step, a VM restored), through the clock module's
//! injectable source: batch ages, idle times and deadlines are on the monotonic clock, so no batch
//! closes early on a step ahead or late on a step back, the producer's pacing does not burst or
//! stall, and every tick still lands once. Each test steps its own process's clock (cargo-nextest
//! runs each test in a process of its own).

use std::path::Path;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use tickbench::config;
use tickbench::io::embedded::EmbeddedKafka;
use tickbench::metrics::Stage;
use tickbench::results::{CloseReason, Landed};

use crate::common;

const HOUR_NS: i64 = 3_600_000_000_000;

/// A one-partition load of `ticks` at 1,000 a second with the sink's triggers `sink`; the wall
/// clock is stepped by `step_ns` once 2,000 ticks are in the log. Returns the summary, the
/// objects that landed and the wall time just before the step.
async fn run_with_step(
    dir: &Path,
    ticks: u64,
    sink: &str,
    step_ns: i64,
) -> (tickbench::results::Summary, Vec<Landed>, u64) {
    let kafka = EmbeddedKafka::start(1, "clk", 1).unwrap();
    let text = format!(
        r#"
name = "clock-step"
seed = 4
duration = "{secs}s"
[symbols]
count = 50
[rate]
ticks_per_second = 1000
[kafka]
brokers = "{brokers}"
topic = "clk"
topic_per_run = false
group_id = "clk-sink"
[kafka.consumer]
"fetch.wait.max.ms" = "50"
[sink]
{sink}
"#,
        secs = ticks / 1000,
        brokers = kafka.bootstrap_servers(),
    );
    let s = config::parse(Path::new("clock-step.toml"), &text).unwrap();
    let brokers = kafka.bootstrap_servers().to_string();
    let stepper = tokio::task::spawn_blocking(move || {
        let probe: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .create()
            .unwrap();
        while probe
            .fetch_watermarks("clk", 0, Duration::from_secs(5))
            .map(|(_, hi)| hi)
            .unwrap_or(0)
            < 2_000
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        let before = tickbench::clock::wall_ns();
        tickbench::clock::step_wall(step_ns);
        before
    });
    let out = common::run_in(dir, &s).await.expect("the run finished");
    let stepped_at = stepper.await.unwrap();
    let objects: Vec<Landed> = std::fs::read_to_string(out.dir.join("objects.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let sum = out.summary;
    assert_eq!(
        (
            sum.counts.acked,
            sum.counts.landed,
            sum.counts.lost,
            sum.counts.duplicated
        ),
        (ticks, ticks, 0, 0),
        "every tick landed once: {:?}",
        sum.problems
    );
    assert!(sum.passed, "{:?}", sum.problems);
    assert!(
        sum.warnings
            .iter()
            .any(|w| w.contains("the wall clock stepped during the run (1 step,")),
        "the sink saw the step: {:?}",
        sum.warnings
    );
    (sum, objects, stepped_at)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_step_ahead_flushes_nothing_early_and_does_not_burst_the_load() {
    let tmp = tempfile::tempdir().unwrap();
    // Batches close on 1,500 records; an hour's age is never reached. Two hours ahead on the
    // wall clock, every open batch would be "an hour old" (closing on age) and every tick still
    // to send would be overdue (sent at once).
    let (sum, objects, _) = run_with_step(
        tmp.path(),
        6_000,
        "max_records = 1500\nmax_age = \"1h\"",
        2 * HOUR_NS,
    )
    .await;
    let reasons: Vec<CloseReason> = objects.iter().map(|o| o.close_reason).collect();
    assert!(
        !reasons.contains(&CloseReason::Age),
        "no batch closed on age: {reasons:?}"
    );
    assert!(reasons.contains(&CloseReason::Records), "{reasons:?}");
    // The producer paced on: no tick went anywhere near the step's two hours late.
    let lag = &sum.stages[&Stage::ScheduleLag];
    assert!(lag.max_us < 600_000_000, "{lag:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_step_back_holds_nothing_late() {
    let tmp = tempfile::tempdir().unwrap();
    // Batches close on age (1 s). Two hours back on the wall clock, a batch's age by the wall
    // would stay at 0 until the run's end: every batch after the step would close on drain.
    let (_, objects, stepped_at) = run_with_step(
        tmp.path(),
        8_000,
        "max_records = 1000000\nmax_age = \"1s\"",
        -2 * HOUR_NS,
    )
    .await;
    // Stamped after the step: an hour and more before the wall time it was taken at.
    let after: Vec<&Landed> = objects
        .iter()
        .filter(|o| o.durable_ns < stepped_at - HOUR_NS as u64)
        .collect();
    let aged = after
        .iter()
        .filter(|o| o.close_reason == CloseReason::Age)
        .count();
    // At most one batch was on its way to S3 when the clock stepped; the others closed after.
    assert!(
        aged >= 2,
        "batches kept closing on age after the step: {:?}",
        after
            .iter()
            .map(|o| (o.close_reason, o.records))
            .collect::<Vec<_>>()
    );
}
