//! `tickbench produce`: the load without a sink, for measuring a cluster (or the producer itself)
//! alone, or as one of several workers that share a load (`--worker I/N`, `--start-at`). The same
//! schedule, generators and delivery timing as `run`; no consumer, no S3, no audit: a worker's
//! `produced.json` says what it sent, for `tickbench merge` to audit with the sinks' folders.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::connect;
use crate::embedded::EmbeddedKafka;
use crate::load::Schedule;
use crate::metrics::{now_ns, Counters, Percentiles, Recorders, Stage};
use crate::produce::Failed;
use crate::report::StageSummary;
use crate::results::{self, Host, Manifest};
use crate::run::RunOptions;
use crate::scenario::Scenario;
use crate::sim::{Model, Share, Universe};

/// Which part of the load this process produces, and when.
#[derive(Debug, Clone, Copy)]
pub struct WorkerOptions {
    /// The symbols this worker generates (all of them by default).
    pub share: Share,
    /// The agreed wall-clock start of the load (the intended send time of its first tick); every
    /// worker of a load must be given the same. None: in 50 ms.
    pub start_at: Option<DateTime<Utc>>,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            share: Share::ALL,
            start_at: None,
        }
    }
}

/// `produce.json`.
#[derive(Debug, Clone, Serialize)]
pub struct ProduceSummary {
    pub run_id: String,
    pub scenario: String,
    pub brokers: String,
    pub topic: String,
    /// This worker as I/N (1/1 when alone).
    pub worker: String,
    /// The load's start (intended send time of its first tick), RFC 3339.
    pub start_at: String,
    pub producer_threads: u32,
    pub produced: u64,
    pub acked: u64,
    pub delivery_failed: u64,
    /// Ticks of this worker's share the schedule held but were never sent (the run was stopped).
    pub not_sent: u64,
    /// Times a producer found librdkafka's local queue full and waited.
    pub queue_full_waits: u64,
    /// The schedule's rate for this worker's share: produced ticks over the load's length.
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

/// `produced.json`: what one producer sent, in the detail the integrity audit needs; `tickbench
/// merge` adds the workers' together and audits the union against what the sinks landed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Produced {
    /// Worker I of N, counting from 0 here (`worker + 1` is the I of `--worker I/N`).
    pub worker: u32,
    pub workers: u32,
    pub topic: String,
    /// The load's start, ns since the Unix epoch: interval logs and warm-up count from it.
    pub start_ns: u64,
    /// Intended send times of the load's first and last tick (the whole load's, every worker's).
    pub schedule_ns: (u64, u64),
    pub warmup_s: f64,
    pub measured_s: f64,
    /// Ticker of each symbol index (the whole universe).
    pub tickers: Vec<String>,
    /// Ticks generated per symbol index: seq 0..n (0 for the symbols of other workers).
    pub per_symbol: Vec<u64>,
    pub failed: Vec<Failed>,
    pub not_sent: u64,
    /// Per partition, the high watermark before the load started.
    pub start_offsets: BTreeMap<i32, i64>,
    /// Per partition, the high watermark after this producer flushed.
    pub end_offsets: BTreeMap<i32, i64>,
    /// Per partition, the lowest and highest offset the broker acknowledged to this producer.
    pub acked_offsets: BTreeMap<i32, (i64, i64)>,
    /// Per partition, acknowledgements received.
    pub acks: BTreeMap<i32, u64>,
    pub acks_without_offset: u64,
}

/// A start time no more than this far in the past is taken as "now" (workers started by hand a
/// moment late); further back is a mistake.
const START_AT_SLACK_NS: u64 = 2_000_000_000;

/// When the load starts: the agreed time, or in 50 ms.
fn start_ns(start_at: Option<DateTime<Utc>>) -> anyhow::Result<u64> {
    let now = now_ns();
    let Some(at) = start_at else {
        return Ok(now + 50_000_000);
    };
    let at_ns = at
        .timestamp_nanos_opt()
        .filter(|n| *n > 0)
        .ok_or_else(|| anyhow::anyhow!("--start-at {at}: out of range"))? as u64;
    anyhow::ensure!(
        at_ns + START_AT_SLACK_NS >= now,
        "--start-at {}: that was {:.1} s ago; give every worker the same time, a little in the future (for example `date -u -d \"+1 min\" +%FT%TZ`)",
        at.to_rfc3339(),
        (now - at_ns) as f64 / 1e9
    );
    Ok(at_ns)
}

/// Runs the scenario's load against its brokers (or the in-process mock cluster) with no sink.
pub async fn produce(
    scenario: &Scenario,
    opts: &RunOptions,
    worker: &WorkerOptions,
) -> anyhow::Result<(PathBuf, ProduceSummary)> {
    let share = worker.share;
    // Checked before anything connects: a late worker should fail at once.
    start_ns(worker.start_at)?;
    let started_at = Utc::now();
    let name = if share.workers > 1 {
        format!(
            "{}-produce-{}of{}",
            scenario.name,
            share.worker + 1,
            share.workers
        )
    } else {
        format!("{}-produce", scenario.name)
    };
    let (run_id, dir) = results::create_run_dir(&opts.results_root, &name, started_at)?;
    let resolved = scenario.resolved_toml();
    std::fs::write(dir.join("scenario.toml"), &resolved).context("writing scenario.toml")?;
    let k = &scenario.kafka;
    let (brokers, embedded) = EmbeddedKafka::unless_named(k)?;
    let partitions = connect::prepare_topic(&brokers, k).await?;
    let producer_cfg = connect::producer_config(&brokers, k);
    let start_offsets = connect::high_watermarks(&producer_cfg, &k.topic, &partitions).await?;
    let model = Model::new(
        Universe::new(&scenario.symbols, scenario.seed),
        scenario.seed,
    );
    let start_ns = start_ns(worker.start_at)?;
    let wait_ns = start_ns.saturating_sub(now_ns());
    if wait_ns > 1_000_000_000 {
        eprintln!(
            "worker {}: waiting {:.1} s for the start at {}",
            share.label(),
            wait_ns as f64 / 1e9,
            DateTime::<Utc>::from_timestamp_nanos(start_ns as i64).to_rfc3339()
        );
        // Sleep most of the wait; the producer threads wait out the rest to the tick.
        tokio::time::sleep(std::time::Duration::from_nanos(wait_ns - 200_000_000)).await;
    }
    let rec = Arc::new(Recorders::new(
        start_ns,
        start_ns + scenario.warmup.as_nanos() as u64,
    ));
    let counters = Arc::new(Counters::default());
    let schedule = Schedule::of_scenario(scenario, start_ns);
    let stop = Arc::new(AtomicBool::new(false));
    let task = crate::produce::launch(
        &producer_cfg,
        &k.topic,
        &model,
        &schedule,
        share,
        scenario.rate.producer_threads,
        &rec,
        &counters,
        &stop,
    )?;
    let report = task.await.context("the producer threads panicked")??;
    let elapsed_s = now_ns().saturating_sub(start_ns) as f64 / 1e9;
    let acked = report.produced - report.failed.len() as u64;
    let end_offsets = connect::high_watermarks(&producer_cfg, &k.topic, &partitions).await?;
    rec.write_logs(&dir.join("histograms"), scenario.warmup)?;
    let start_at = DateTime::<Utc>::from_timestamp_nanos(start_ns as i64).to_rfc3339();
    let summary = ProduceSummary {
        run_id: run_id.clone(),
        scenario: scenario.name.clone(),
        brokers: brokers.clone(),
        topic: k.topic.clone(),
        worker: share.label(),
        start_at,
        producer_threads: scenario.rate.producer_threads,
        produced: report.produced,
        acked,
        delivery_failed: report.failed.len() as u64,
        not_sent: report.not_sent,
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
    let produced = Produced {
        worker: share.worker,
        workers: share.workers,
        topic: k.topic.clone(),
        start_ns,
        schedule_ns: (schedule.start_ns, schedule.end_ns()),
        warmup_s: scenario.warmup.as_secs_f64(),
        measured_s: scenario.duration.as_secs_f64(),
        tickers: model
            .universe
            .symbols
            .iter()
            .map(|s| s.ticker.clone())
            .collect(),
        per_symbol: report.per_symbol,
        failed: report.failed,
        not_sent: report.not_sent,
        start_offsets,
        end_offsets,
        acked_offsets: report.acked_offsets,
        acks: report.acks,
        acks_without_offset: report.acks_without_offset,
    };
    results::write_json(&dir.join("produced.json"), &produced)?;
    let manifest = Manifest {
        run_id,
        scenario_name: scenario.name.clone(),
        scenario_file: None,
        scenario_sha256: results::sha256_hex(resolved.as_bytes()),
        seed: scenario.seed,
        tickbench_version: env!("CARGO_PKG_VERSION").into(),
        git_revision: results::git_revision(),
        librdkafka_version: rdkafka::util::get_rdkafka_version().1,
        host: Host::current(),
        kafka_brokers: brokers,
        kafka_embedded: embedded.is_some(),
        s3_endpoint: None,
        s3_bucket: String::new(),
        s3_embedded: false,
        started_at: started_at.to_rfc3339(),
        ended_at: Utc::now().to_rfc3339(),
        merged_from: Vec::new(),
    };
    results::write_json(&dir.join("manifest.json"), &manifest)?;
    drop(embedded);
    Ok((dir, summary))
}
