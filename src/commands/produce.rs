//! `tickbench produce`: the load without a sink, for measuring a cluster (or the producer itself)
//! alone, or as one of several workers that share a load (`--worker I/N`, `--start-at`). The same
//! schedule, generators and delivery timing as `run`; no consumer, no S3, no audit: a worker's
//! `produced.json` says what it sent, for `tickbench merge` to audit with the sinks' folders.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::commands::run::RunOptions;
use crate::config::Scenario;
use crate::io::connect;
use crate::io::embedded::EmbeddedKafka;
use crate::metrics::{now_ns, Counters, Percentiles, Recorders, Stage};
use crate::model::load::Schedule;
use crate::model::sim::{Model, Share, Universe};
use crate::produce::LoadOf;
use crate::results::{files, Endpoints, Manifest, ProduceSummary, Role, RunDir, StageSummary};

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
    let dir = RunDir::create(&opts.results_root, &name, started_at)?;
    let resolved = scenario.resolved_toml();
    dir.write_scenario(&resolved)?;
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
        opts.reporter.note(&format!(
            "worker {}: waiting {:.1} s for the start at {}",
            share.label(),
            wait_ns as f64 / 1e9,
            DateTime::<Utc>::from_timestamp_nanos(start_ns as i64).to_rfc3339()
        ));
        // Sleep most of the wait; the producer threads wait out the rest to the tick.
        tokio::time::sleep(std::time::Duration::from_nanos(wait_ns - 200_000_000)).await;
    }
    let rec = Arc::new(Recorders::new(
        start_ns,
        start_ns + scenario.warmup.as_nanos() as u64,
    ));
    let counters = Arc::new(Counters::default());
    let schedule = Schedule::of(
        &scenario.rate,
        scenario.total_duration(),
        scenario.seed,
        start_ns,
    );
    let stop = Arc::new(AtomicBool::new(false));
    let task = crate::produce::launch(
        &producer_cfg,
        &k.topic,
        &model,
        &schedule,
        share,
        crate::produce::Sending::of(&scenario.rate),
        &rec,
        &counters,
        &stop,
    )?;
    let progress = opts.reporter.live_produce(counters.clone(), rec.clone());
    let report = task.await.context("the producer threads panicked")??;
    drop(progress);
    let elapsed_s = now_ns().saturating_sub(start_ns) as f64 / 1e9;
    let acked = report.produced - report.failed.len() as u64;
    let end_offsets = connect::high_watermarks(&producer_cfg, &k.topic, &partitions).await?;
    rec.write_logs(&dir.histograms(), scenario.warmup)?;
    let start_at = DateTime::<Utc>::from_timestamp_nanos(start_ns as i64).to_rfc3339();
    let summary = ProduceSummary {
        run_id: dir.id().to_string(),
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
                    s,
                    StageSummary::from(&Percentiles::of(&rec.get(s).measured())),
                )
            })
            .collect(),
    };
    debug_assert_eq!(counters.acked.load(Ordering::Relaxed), acked);
    dir.write(files::PRODUCE, &summary)?;
    let produced = report.into_produced(LoadOf {
        scenario,
        share,
        schedule: &schedule,
        tickers: model.universe.tickers(),
        start_offsets,
        end_offsets,
    });
    dir.write(files::PRODUCED, &produced)?;
    let manifest = Manifest::new(
        Role::Producer,
        dir.id(),
        scenario,
        &resolved,
        None,
        Endpoints {
            kafka_brokers: brokers,
            kafka_embedded: embedded.is_some(),
            ..Default::default()
        },
        started_at,
    );
    dir.write(files::MANIFEST, &manifest)?;
    drop(embedded);
    Ok((dir.path().to_path_buf(), summary))
}
