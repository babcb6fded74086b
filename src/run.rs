//! `tickbench run`: start what the scenario needs, drive the load, land it, audit it, report it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};
use tokio::sync::{oneshot, watch};

use crate::audit;
use crate::connect;
use crate::embedded::{EmbeddedKafka, EmbeddedS3};
use crate::load::Schedule;
use crate::metrics::{now_ns, Counters, Percentiles, Recorders, Stage};
use crate::produce;
use crate::report::{
    self, Cost, Counts, KafkaSummary, Objects, Requests, Resources, StageSummary, Summary,
    Throughput, Window,
};
use crate::results::{self, Host, Manifest};
use crate::scenario::Scenario;
use crate::sim::{Model, Universe};
use crate::sink::{self, upload::Uploader, SinkControl, SinkSettings};

/// How a run reports while it goes and where it writes.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Parent of the run folder (`results/` by default).
    pub results_root: PathBuf,
    /// How progress is shown on stderr while the run goes.
    pub progress: crate::progress::ProgressFormat,
    /// On Ctrl-C, stop the load, then land, audit and report what was produced (a second Ctrl-C
    /// aborts). For the command line; a library caller handles its own signals.
    pub interruptible: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            results_root: PathBuf::from("results"),
            progress: crate::progress::ProgressFormat::None,
            interruptible: false,
        }
    }
}

/// A finished run: its folder and its summary (also in `summary.json`).
#[derive(Debug)]
pub struct RunOutcome {
    pub dir: PathBuf,
    pub summary: Summary,
}

/// Time the consumer group may take to form before the run fails.
const GROUP_JOIN_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs a scenario end to end. `scenario_file` is only recorded in the manifest.
pub async fn run(
    scenario: &Scenario,
    scenario_file: Option<&Path>,
    opts: &RunOptions,
) -> anyhow::Result<RunOutcome> {
    let started_at = chrono::Utc::now();
    // This run's share of the process's CPU and peak memory (a sweep runs many in one process).
    let cpu_at_start = crate::resources::process_cpu_s();
    crate::resources::reset_peak_rss();
    let (run_id, dir) = results::create_run_dir(&opts.results_root, &scenario.name, started_at)?;
    let resolved = scenario.resolved_toml();
    std::fs::write(dir.join("scenario.toml"), &resolved).context("writing scenario.toml")?;

    // Services: the embedded defaults unless the scenario names real ones.
    let k = &scenario.kafka;
    let (brokers, embedded_kafka) = EmbeddedKafka::unless_named(k)?;
    let embedded_s3 = if scenario.s3.is_embedded() {
        Some(EmbeddedS3::start(&dir.join("s3")).await?)
    } else {
        None
    };
    let s3_endpoint = embedded_s3.as_ref().map(|e| e.endpoint());
    let client = connect::s3_client(&scenario.s3, s3_endpoint.as_deref()).await;
    let bucket = scenario.s3.bucket_name().to_string();
    let where_ = s3_endpoint
        .clone()
        .or_else(|| scenario.s3.endpoint.clone())
        .unwrap_or_else(|| "AWS S3".into());
    connect::prepare_bucket(
        &client,
        &bucket,
        embedded_s3.is_some() || scenario.s3.create_bucket,
        &where_,
    )
    .await?;
    let partitions = connect::prepare_topic(&brokers, k).await?;
    let producer_cfg = connect::producer_config(&brokers, k);
    let start_offsets = connect::high_watermarks(&producer_cfg, &k.topic, &partitions).await?;

    // The load's clock: a little ahead so the group forms before the first tick is due.
    let counters = Arc::new(Counters::default());
    let group_id = k
        .group_id
        .clone()
        .unwrap_or_else(|| format!("tickbench-{run_id}"));
    if k.group_id.is_none() {
        // A fresh group would start at `earliest` and read a shared topic's whole history only to
        // skip it: start it where this run's records will begin instead.
        connect::commit_offsets(&brokers, k, &group_id, &start_offsets).await?;
    }
    let consumer: sink::SinkConsumer = connect::consumer_config(&brokers, k, &group_id)?
        .create_with_context(sink::SinkContext::default())
        .context("creating the sink's Kafka consumer")?;
    rdkafka::consumer::Consumer::subscribe(&consumer, &[&k.topic])
        .context("subscribing the sink")?;

    // The market model first: a large universe or a symbol file takes a moment to build.
    let model = Model::new(
        Universe::new(&scenario.symbols, scenario.seed),
        scenario.seed,
    );
    let tickers: Vec<String> = model
        .universe
        .symbols
        .iter()
        .map(|s| s.ticker.clone())
        .collect();

    // The sink starts consuming at once so the group forms; the load's clock starts once it has.
    let rec = Arc::new(Recorders::unanchored());
    let (ready_tx, ready_rx) = oneshot::channel();
    let (drain_tx, drain_rx) = watch::channel(None);
    let sink_settings = SinkSettings::of(scenario, start_offsets.clone());
    let uploader = Uploader::new(
        client.clone(),
        &bucket,
        scenario.sink.upload_concurrency as usize,
        scenario.sink.encoding().content_type(),
        scenario.sink.upload_retry_for,
        rec.clone(),
    );
    let requests = uploader.counts.clone();
    let control = SinkControl {
        ready: ready_tx,
        drain: drain_rx,
    };
    let mut sink_task = tokio::spawn(sink::run(
        consumer,
        uploader,
        sink_settings,
        rec.clone(),
        counters.clone(),
        control,
    ));
    tokio::time::timeout(GROUP_JOIN_TIMEOUT, ready_rx)
        .await
        .map_err(|_| anyhow!("the sink's consumer group {group_id} got no partitions within {GROUP_JOIN_TIMEOUT:?}"))?
        .map_err(|_| anyhow!("the sink stopped before joining its group"))?;
    let run_start_ns = now_ns() + 50_000_000;
    let measure_start_ns = run_start_ns + scenario.warmup.as_nanos() as u64;
    rec.anchor(run_start_ns, measure_start_ns);
    let schedule = Schedule::of_scenario(scenario, run_start_ns);

    let stop = Arc::new(AtomicBool::new(false));
    let producer_task = produce::launch(
        &producer_cfg,
        &k.topic,
        &model,
        &schedule,
        crate::sim::Share::ALL,
        scenario.rate.producer_threads,
        &rec,
        &counters,
        &stop,
    )?;

    let progress = (opts.progress != crate::progress::ProgressFormat::None).then(|| {
        let (c, r) = (counters.clone(), rec.clone());
        let total = scenario.total_duration();
        tokio::spawn(crate::progress::show(
            opts.progress,
            c,
            r,
            run_start_ns,
            total,
        ))
    });

    // If the sink fails while the load runs, stop the producer rather than loading a dead pipeline.
    // A Ctrl-C stops the load early; what was produced is still landed, audited and reported.
    let mut producer_task = producer_task;
    let mut interrupted = false;
    let produced = loop {
        tokio::select! {
            p = &mut producer_task => break p.context("the producer threads panicked")??,
            s = &mut sink_task => {
                stop.store(true, Ordering::Relaxed);
                let err = match s {
                    Ok(Err(e)) => e.into(),
                    Ok(Ok(_)) => anyhow!("the sink stopped before the load ended"),
                    Err(e) => anyhow!("the sink panicked: {e}"),
                };
                return Err(err.context("sink failed during the load"));
            }
            r = tokio::signal::ctrl_c(), if opts.interruptible && !interrupted => {
                r.context("waiting for Ctrl-C")?;
                interrupted = true;
                stop.store(true, Ordering::Relaxed);
                eprintln!("\ninterrupted: stopping the load; landing and auditing what was produced (Ctrl-C again to abort)");
                tokio::spawn(async {
                    let _ = tokio::signal::ctrl_c().await;
                    eprintln!("aborted");
                    std::process::exit(130);
                });
            }
        }
    };
    let end_offsets = connect::high_watermarks(&producer_cfg, &k.topic, &partitions).await?;
    // Land up to whichever is further: the broker's high watermark or the offsets its own
    // acknowledgements named (a broker whose watermark lags its log must not end the drain early).
    let mut drain_to = end_offsets.clone();
    let mut warnings = Vec::new();
    if produced.acks_without_offset > 0 {
        warnings.push(format!(
            "the broker acknowledged {} messages without an offset (librdkafka reports -1, for example for an idempotent producer's retry that the broker answers as a duplicate of a batch it says it has); the audit shows whether they are in its log",
            produced.acks_without_offset
        ));
    }
    for (p, (first, last)) in &produced.acked_offsets {
        let acks = produced.acks.get(p).copied().unwrap_or(0);
        let span = (last - first + 1).max(0) as u64;
        if acks > span {
            warnings.push(format!(
                "partition {p}: the broker acknowledged {acks} messages at offsets {first}..={last}, a span of {span}: it gave the same offset to more than one message, so {} acknowledged messages cannot all be in its log",
                acks - span
            ));
        }
        let hw = drain_to.entry(*p).or_insert(0);
        if *hw <= *last {
            warnings.push(format!(
                "partition {p}: the broker reported high watermark {hw} after the load but had acknowledged offset {last}; draining to {}",
                last + 1
            ));
            *hw = last + 1;
        }
        let start = start_offsets.get(p).copied().unwrap_or(0);
        if *first > start {
            warnings.push(format!(
                "partition {p}: the broker reported high watermark {start} before the load but gave this run's first record offset {first}: offsets {start}..{} held records written before the run",
                first - 1
            ));
        }
    }
    let _ = drain_tx.send(Some(drain_to));
    let sink_report = sink_task.await.context("the sink panicked")??;
    if let Some(p) = progress {
        p.abort();
    }

    let expectations = audit::Expectations {
        tickers: tickers.clone(),
        per_symbol: produced.per_symbol.clone(),
        failed: produced.failed.clone(),
        landed: sink_report.landed.clone(),
        dead_letters: sink_report.dead_letters.clone(),
        start_offsets: start_offsets.clone(),
        committed: sink_report.committed.clone(),
        set_aside: sink_report.set_aside.clone(),
        positions: sink_report.positions.clone(),
        schedule_ns: (schedule.start_ns, schedule.end_ns()),
        bucket: bucket.clone(),
        prefix: scenario.s3.prefix.clone(),
        topic: k.topic.clone(),
    };
    results::write_json(&dir.join("expected.json"), &expectations)?;
    let audit = audit::run(
        &audit::Location {
            client: &client,
            bucket: &bucket,
            prefix: &scenario.s3.prefix,
            topic: &k.topic,
            progress: opts.progress == crate::progress::ProgressFormat::Auto,
        },
        &expectations.expected(),
    )
    .await?;
    let mut problems = audit.problems.clone();
    if sink_report.offset_gaps > 0 {
        // Say whose loss it is: offsets the consumer never saw were dropped by the broker (for
        // example the mock cluster's per-partition retention) before the sink could read them.
        problems.push(format!(
            "{} offsets were never delivered to the sink: the broker dropped them (retention) before they were read, or its fetch skipped them; records lost that way are the broker's, not the sink's",
            sink_report.offset_gaps
        ));
    }

    // Results.
    let hist_dir = dir.join("histograms");
    rec.write_logs(&hist_dir, scenario.warmup)
        .context("writing histograms")?;
    results::write_jsonl(&dir.join("objects.jsonl"), &sink_report.landed)?;
    if !sink_report.dead_letters.is_empty() {
        results::write_jsonl(&dir.join("dead_letters.jsonl"), &sink_report.dead_letters)?;
    }

    let last_durable = sink_report
        .landed
        .iter()
        .map(|l| l.durable_ns)
        .max()
        .unwrap_or(run_start_ns);
    let load_s = scenario.total_duration().as_secs_f64();
    // Object sizes over the whole run: every object counts, whenever it landed.
    let mut all_sizes = rec.get(Stage::ObjectSize).measured();
    all_sizes.add(rec.get(Stage::ObjectSize).warmup()).ok();
    let all_sizes = Percentiles::of(&all_sizes);
    let requests_summary = Requests::of(&requests);
    let mut summary = Summary {
        tickbench_version: env!("CARGO_PKG_VERSION").into(),
        run_id: run_id.clone(),
        scenario: scenario.name.clone(),
        passed: problems.is_empty(),
        interrupted,
        counts: Counts {
            produced: produced.produced,
            acked: produced.produced - produced.failed.len() as u64,
            consumed: sink_report.consumed,
            landed: audit.landed,
            lost: audit.lost,
            duplicated: audit.duplicated,
            delivery_failed: produced.failed.len() as u64,
            not_sent: produced.not_sent,
            malformed: sink_report.malformed,
            dead_lettered: audit.dead_lettered,
            offset_gaps: sink_report.offset_gaps,
            consumer_errors: sink_report.consumer_errors,
            skipped_preexisting: sink_report.skipped_preexisting,
            rewinds: sink_report.rewinds,
            reread: sink_report.reread,
            foreign: audit.foreign,
        },
        throughput: Throughput {
            produced_per_s: produced.produced as f64 / load_s,
            landed_per_s: audit.landed as f64
                / (last_durable.saturating_sub(run_start_ns) as f64 / 1e9).max(1e-9),
        },
        stages: report::latency_stages()
            .map(|s| {
                (
                    s.name().to_string(),
                    StageSummary::from(&Percentiles::of(&rec.get(s).measured())),
                )
            })
            .collect(),
        objects: Objects::of(&sink_report.landed, &all_sizes, &sink_report.close_reasons),
        cost: {
            let price = scenario.cost.put_per_1000_usd;
            let usd = requests_summary.put_class() as f64 * price / 1000.0;
            Cost {
                put_per_1000_usd: price,
                s3_requests_usd: usd,
                s3_requests_per_million_ticks_usd: usd * 1e6 / (audit.landed.max(1)) as f64,
            }
        },
        resources: {
            let process = crate::resources::process_cpu_s()
                .zip(cpu_at_start)
                .map(|(now, start)| now - start);
            Resources {
                peak_rss_bytes: crate::resources::peak_rss_bytes(),
                sink_peak_buffered_bytes: sink_report.peak_buffered_bytes,
                sink_peak_open_batches: sink_report.peak_open_batches,
                sink_memory_bound_bytes: sink::memory_bound(
                    &scenario.sink,
                    sink_report.peak_open_batches,
                ),
                cpu_process_s: process,
                cpu_producer_threads_s: produced.cpu_s,
                cpu_rest_s_per_million_ticks: process
                    .zip(produced.cpu_s)
                    .map(|(p, q)| (p - q).max(0.0) * 1e6 / (audit.landed.max(1)) as f64),
            }
        },
        requests: requests_summary,
        kafka: KafkaSummary {
            topic: k.topic.clone(),
            partitions: partitions.len(),
            start_offsets: start_offsets.clone(),
            end_offsets,
            committed_offsets: sink_report.committed.clone(),
        },
        window: Window {
            warmup_s: scenario.warmup.as_secs_f64(),
            measured_s: scenario.duration.as_secs_f64(),
        },
        problems,
        warnings,
        lost_sample: audit.lost_sample.clone(),
        thresholds: Vec::new(),
    };
    summary.thresholds = crate::thresholds::evaluate(&summary, &scenario.thresholds);
    results::write_json(&dir.join("summary.json"), &summary)?;
    let manifest = Manifest {
        run_id,
        scenario_name: scenario.name.clone(),
        scenario_file: scenario_file.map(|p| p.display().to_string()),
        scenario_sha256: results::sha256_hex(resolved.as_bytes()),
        seed: scenario.seed,
        tickbench_version: env!("CARGO_PKG_VERSION").into(),
        git_revision: results::git_revision(),
        librdkafka_version: rdkafka::util::get_rdkafka_version().1,
        host: Host::current(),
        kafka_brokers: brokers,
        kafka_embedded: embedded_kafka.is_some(),
        s3_endpoint: s3_endpoint.or_else(|| scenario.s3.endpoint.clone()),
        s3_bucket: bucket,
        s3_embedded: embedded_s3.is_some(),
        started_at: started_at.to_rfc3339(),
        ended_at: chrono::Utc::now().to_rfc3339(),
        merged_from: Vec::new(),
    };
    results::write_json(&dir.join("manifest.json"), &manifest)?;
    report::document::RunReport::load(&dir)
        .and_then(|r| r.write())
        .context("writing the report")?;

    if let Some(s3) = embedded_s3 {
        s3.stop().await;
    }
    drop(embedded_kafka);
    Ok(RunOutcome { dir, summary })
}
