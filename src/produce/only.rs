//! `tickbench produce`: the load without a sink, for measuring a cluster (or the producer itself)
//! alone. The same schedule, generators and delivery timing as `run`; no consumer, no S3, no audit.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use serde::Serialize;

use crate::connect;
use crate::embedded::EmbeddedKafka;
use crate::load::Schedule;
use crate::metrics::{now_ns, Counters, Percentiles, Recorders, Stage};
use crate::report::StageSummary;
use crate::results;
use crate::run::RunOptions;
use crate::scenario::Scenario;
use crate::sim::{Model, Universe};

/// `produce.json`.
#[derive(Debug, Clone, Serialize)]
pub struct ProduceSummary {
    pub run_id: String,
    pub scenario: String,
    pub brokers: String,
    pub topic: String,
    pub producer_threads: u32,
    pub produced: u64,
    pub acked: u64,
    pub delivery_failed: u64,
    /// Times a producer found librdkafka's local queue full and waited.
    pub queue_full_waits: u64,
    /// The schedule's rate: produced ticks over the load's length.
    pub scheduled_per_s: f64,
    /// What was achieved: acknowledged ticks over the time from the first intended send to the
    /// last delivery report (flush included).
    pub achieved_per_s: f64,
    pub elapsed_s: f64,
    /// Mean payload size (the tick's JSON), bytes.
    pub payload_bytes_mean: f64,
    /// schedule_lag, produce, produce_raw; measured window only.
    pub stages: std::collections::BTreeMap<String, StageSummary>,
}

/// Runs the scenario's load against its brokers (or the in-process mock cluster) with no sink.
pub async fn produce(
    scenario: &Scenario,
    opts: &RunOptions,
) -> anyhow::Result<(PathBuf, ProduceSummary)> {
    let (run_id, dir) = results::create_run_dir(
        &opts.results_root,
        &format!("{}-produce", scenario.name),
        chrono::Utc::now(),
    )?;
    std::fs::write(dir.join("scenario.toml"), scenario.resolved_toml())
        .context("writing scenario.toml")?;
    let k = &scenario.kafka;
    let (brokers, embedded) = EmbeddedKafka::unless_named(k)?;
    connect::prepare_topic(&brokers, k).await?;
    let model = Model::new(
        Universe::new(&scenario.symbols, scenario.seed),
        scenario.seed,
    );
    let start_ns = now_ns() + 50_000_000;
    let rec = Arc::new(Recorders::new(
        start_ns,
        start_ns + scenario.warmup.as_nanos() as u64,
    ));
    let counters = Arc::new(Counters::default());
    let schedule = Schedule::of_scenario(scenario, start_ns);
    let stop = Arc::new(AtomicBool::new(false));
    let task = crate::produce::launch(
        &connect::producer_config(&brokers, k),
        &k.topic,
        &model,
        &schedule,
        scenario.rate.producer_threads,
        &rec,
        &counters,
        &stop,
    )?;
    let report = task.await.context("the producer threads panicked")??;
    let elapsed_s = now_ns().saturating_sub(start_ns) as f64 / 1e9;
    let acked = report.produced - report.failed.len() as u64;
    rec.write_logs(&dir.join("histograms"), scenario.warmup)?;
    let summary = ProduceSummary {
        run_id,
        scenario: scenario.name.clone(),
        brokers,
        topic: k.topic.clone(),
        producer_threads: scenario.rate.producer_threads,
        produced: report.produced,
        acked,
        delivery_failed: report.failed.len() as u64,
        queue_full_waits: report.queue_full_waits,
        scheduled_per_s: report.produced as f64 / scenario.total_duration().as_secs_f64(),
        achieved_per_s: acked as f64 / elapsed_s.max(1e-9),
        elapsed_s,
        payload_bytes_mean: report.bytes as f64 / report.produced.max(1) as f64,
        stages: [Stage::ScheduleLag, Stage::Produce, Stage::ProduceRaw]
            .into_iter()
            .map(|s| {
                (
                    s.name().to_string(),
                    StageSummary::from(&Percentiles::of(&rec.get(s).measured())),
                )
            })
            .collect(),
    };
    debug_assert_eq!(counters.acked.load(Ordering::Relaxed), acked);
    results::write_json(&dir.join("produce.json"), &summary)?;
    drop(embedded);
    Ok((dir, summary))
}
