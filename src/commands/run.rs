//! `tickbench run`: start what the scenario needs, drive the load, land it, audit it, report it.
//! The run is one producer part and one sink part made in this process; `outcome` assembles them
//! exactly as `tickbench merge` assembles the parts of several hosts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context};

use crate::audit;
use crate::config::{S3Target, Scenario};
use crate::io::connect;
use crate::io::embedded::{EmbeddedKafka, EmbeddedS3};
use crate::metrics::{now_ns, Counters, Recorders};
use crate::model::load::Schedule;
use crate::model::sim::{Model, Share, Universe};
use crate::outcome::{self, Assembly, Bucket, ProducerPart, SinkPart};
use crate::produce::{self, LoadOf};
use crate::progress::Reporter;
use crate::report;
use crate::results::{files, Endpoints, Host, Manifest, Resources, Role, RunDir, Summary};
use crate::sink::{self, start::Identity};

/// How a run reports while it goes and where it writes.
#[derive(Clone)]
pub struct RunOptions {
    /// Parent of the run folder (`results/` by default).
    pub results_root: PathBuf,
    /// Where progress and notes go while the run goes (nowhere by default).
    pub reporter: Reporter,
    /// Cancelled (by the caller's Ctrl-C handler): stop the load, then land, audit and report
    /// what was produced.
    pub stop: tokio_util::sync::CancellationToken,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            results_root: PathBuf::from("results"),
            reporter: Reporter::silent(),
            stop: tokio_util::sync::CancellationToken::new(),
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
    if scenario.observe.is_some() {
        return super::observe::run::run(scenario, scenario_file, opts).await;
    }
    let started_at = chrono::Utc::now();
    // This run's share of the process's CPU and peak memory (a sweep runs many in one process).
    let cpu_at_start = crate::resources::process_cpu_s();
    crate::resources::reset_peak_rss();
    let dir = RunDir::create(&opts.results_root, &scenario.name, started_at)?;
    let resolved = scenario.resolved_toml();
    dir.write_scenario(&resolved)?;
    // From here on the scenario names the run's own topic (the folder's scenario.toml keeps the
    // one written; the manifest names the topic).
    let own_topic = scenario.kafka.brokers.is_some() && scenario.kafka.topic_per_run();
    let scenario = &scenario.for_run(dir.id());

    let Start {
        services,
        partitions,
        producer_cfg,
        start_offsets,
        model,
    } = Start::of(scenario, &dir).await?;
    let (brokers, client, bucket) = (&services.brokers, &services.client, &services.bucket);
    let k = &scenario.kafka;

    let counters = Arc::new(Counters::default());
    let group_id = k
        .group_id
        .clone()
        .unwrap_or_else(|| format!("tickbench-{}", dir.id()));
    if k.group_id.is_none() {
        // A fresh group would start at `earliest` and read a shared topic's whole history only to
        // skip it: start it where this run's records will begin instead.
        connect::commit_offsets(brokers, k, &group_id, &start_offsets).await?;
    }

    let tickers = model.universe.tickers();

    // The sink starts consuming at once so the group forms; the load's clock starts once it has.
    let rec = Arc::new(Recorders::unanchored());
    let table = sink::start::table_target(scenario, client, bucket, dir.path()).await?;
    let lake = table.as_ref().map(|t| t.lake.clone());
    let mut sink = sink::start::start(
        scenario,
        sink::start::Target {
            brokers,
            group_id: &group_id,
            client: client.clone(),
            endpoint: services.endpoints(scenario).s3_endpoint,
            bucket,
            start_offsets: start_offsets.clone(),
            journal: None,
            conditional_writes: services.conditional_writes,
            table,
        },
        rec.clone(),
        counters.clone(),
    )?;
    tokio::time::timeout(GROUP_JOIN_TIMEOUT, &mut sink.ready)
        .await
        .map_err(|_| anyhow!("the sink's consumer group {group_id} got no partitions within {GROUP_JOIN_TIMEOUT:?}"))?
        .map_err(|_| anyhow!("the sink stopped before joining its group"))?;
    // A little ahead, so the first tick is not due before the producer threads are up.
    let run_start_ns = now_ns() + 50_000_000;
    let measure_start_ns = run_start_ns + scenario.warmup.as_nanos() as u64;
    rec.anchor(run_start_ns, measure_start_ns);
    let schedule = Schedule::of(
        &scenario.rate,
        scenario.total_duration(),
        scenario.seed,
        run_start_ns,
    );

    let stop = Arc::new(AtomicBool::new(false));
    let (mut producer_task, progress) = launch_load(
        scenario,
        &producer_cfg,
        &model,
        &schedule,
        (&rec, &counters, &stop),
        opts,
    )?;

    // From here on a failure of the system under test ends the run early but not the results:
    // what was produced, landed and committed by then is audited and reported, and `failure`
    // says what stopped it.
    let (report, interrupted, sink_ended) =
        drive(&mut producer_task, &mut sink.task, &stop, opts).await?;
    let mut failure = None;
    let end_offsets = match connect::high_watermarks(&producer_cfg, &k.topic, &partitions).await {
        Ok(o) => o,
        Err(e) => {
            failure = Some(format!(
                "reading the topic's end offsets after the load: {e:#}"
            ));
            acked_ends(&start_offsets, &report.acked_offsets)
        }
    };
    let (drain_to, warnings) = drain_targets(&end_offsets, &report.acked_offsets);
    let sink_result = match sink_ended {
        Some(r) => r,
        None => {
            let _ = sink.drain.send(Some(drain_to));
            sink.task.await.context("the sink panicked")?
        }
    };
    let sink_report = match sink_result {
        Ok(r) => r,
        Err(f) => {
            failure = Some(match failure {
                Some(before) => format!("the sink failed: {}; {before}", f.error),
                None => format!("the sink failed: {}", f.error),
            });
            *f.report
        }
    };
    let cpu_producer_threads_s = report.cpu_s;
    let produced = report.into_produced(LoadOf {
        scenario,
        share: Share::ALL,
        schedule: &schedule,
        tickers,
        start_offsets,
        end_offsets: end_offsets.clone(),
    });
    drop(progress);

    // The run's two parts, as `tickbench produce` and `tickbench sink` would have written them.
    let mut sink_part = SinkPart {
        summary: sink::start::summarize(
            scenario,
            &sink_report,
            Identity::of_run(dir.id(), "run", &group_id, failure.is_some(), run_start_ns),
            &rec,
            &sink.requests,
            Resources::default(),
        ),
        landed: sink_report.landed.clone(),
        dead_letters: sink_report.dead_letters.clone(),
        host: Host::current(),
    };
    sink_part.summary.failure = failure.clone();
    let producers = [ProducerPart {
        produced,
        host: sink_part.host.clone(),
    }];
    let summary = conclude(Concluding {
        scenario,
        dir: &dir,
        services: &services,
        opts,
        rec: &rec,
        producers: &producers,
        sinks: &[sink_part],
        report: &sink_report,
        cpu_at_start,
        cpu_producer_threads_s,
        interrupted,
        failure,
        warnings,
        end_offsets,
        lake: lake.as_deref(),
    })
    .await?;
    finish_folder(
        &dir,
        scenario,
        (&resolved, scenario_file, started_at),
        services.endpoints(scenario),
        &summary,
    )?;
    if own_topic && !k.keep_topic {
        let group = k.group_id.is_none().then_some(group_id.as_str());
        if let Err(e) = connect::delete_run_topic(brokers, k, group).await {
            opts.reporter.note(&format!(
                "warning: the run's own topic {} stays on the cluster: {e:#}",
                k.topic
            ));
        }
    }
    services.stop().await;
    Ok(RunOutcome {
        dir: dir.path().to_path_buf(),
        summary,
    })
}

/// What a run starts with, whichever sink it measures: the services, the topic and where it
/// stands, and the market model.
pub(crate) struct Start {
    pub(crate) services: Services,
    pub(crate) partitions: Vec<i32>,
    pub(crate) producer_cfg: rdkafka::ClientConfig,
    pub(crate) start_offsets: BTreeMap<i32, i64>,
    pub(crate) model: Arc<Model>,
}

impl Start {
    pub(crate) async fn of(scenario: &Scenario, dir: &RunDir) -> anyhow::Result<Start> {
        let services = Services::start(scenario, dir).await?;
        let k = &scenario.kafka;
        let partitions = connect::prepare_topic(&services.brokers, k).await?;
        let producer_cfg = connect::producer_config(&services.brokers, k);
        let start_offsets = connect::high_watermarks(&producer_cfg, &k.topic, &partitions).await?;
        // The market model before the load's clock starts: a large universe or a symbol file
        // takes a moment to build.
        let model = Model::new(
            Universe::new(&scenario.symbols, scenario.seed),
            scenario.seed,
        );
        Ok(Start {
            services,
            partitions,
            producer_cfg,
            start_offsets,
            model,
        })
    }
}

type LoadTask = tokio::task::JoinHandle<anyhow::Result<produce::ProduceReport>>;

/// Starts the scenario's producer threads on `schedule`, and the live progress.
pub(crate) fn launch_load(
    scenario: &Scenario,
    producer_cfg: &rdkafka::ClientConfig,
    model: &Arc<Model>,
    schedule: &Schedule,
    (rec, counters, stop): (&Arc<Recorders>, &Arc<Counters>, &Arc<AtomicBool>),
    opts: &RunOptions,
) -> anyhow::Result<(LoadTask, Option<Box<dyn Send>>)> {
    let task = produce::launch(
        producer_cfg,
        &scenario.kafka.topic,
        model,
        schedule,
        Share::ALL,
        produce::Sending::of(&scenario.rate),
        rec,
        counters,
        stop,
    )?;
    let progress = opts.reporter.live_run(
        counters.clone(),
        rec.clone(),
        schedule.start_ns,
        scenario.total_duration(),
    );
    Ok((task, progress))
}

/// The services a run talks to: the embedded defaults unless the scenario names real ones.
pub(crate) struct Services {
    pub(crate) brokers: String,
    kafka: Option<EmbeddedKafka>,
    s3: Option<EmbeddedS3>,
    pub(crate) client: aws_sdk_s3::Client,
    pub(crate) bucket: String,
    /// The sink writes with `If-None-Match: *` ([`connect::conditional_writes`]).
    pub(crate) conditional_writes: bool,
}

impl Services {
    pub(crate) async fn start(scenario: &Scenario, dir: &RunDir) -> anyhow::Result<Services> {
        let (brokers, kafka) = EmbeddedKafka::unless_named(&scenario.kafka)?;
        let s3 = match scenario.s3.target() {
            S3Target::Embedded => Some(EmbeddedS3::start(&dir.embedded_s3()).await?),
            _ => None,
        };
        let endpoint = s3.as_ref().map(|e| e.endpoint());
        let client = connect::s3_client(&scenario.s3, endpoint.as_deref()).await;
        let bucket = scenario.s3.bucket_name().to_string();
        let where_ = endpoint.unwrap_or_else(|| scenario.s3.target().describe());
        connect::prepare_bucket(
            &client,
            &bucket,
            s3.is_some() || scenario.s3.create_bucket,
            &where_,
        )
        .await?;
        let conditional_writes =
            connect::conditional_writes(&client, &scenario.s3, &bucket).await?;
        Ok(Services {
            brokers,
            kafka,
            s3,
            client,
            bucket,
            conditional_writes,
        })
    }

    pub(crate) fn endpoints(&self, scenario: &Scenario) -> Endpoints {
        Endpoints {
            kafka_brokers: self.brokers.clone(),
            kafka_embedded: self.kafka.is_some(),
            s3_endpoint: self
                .s3
                .as_ref()
                .map(|e| e.endpoint())
                .or_else(|| scenario.s3.endpoint.clone()),
            s3_bucket: self.bucket.clone(),
            s3_embedded: self.s3.is_some(),
        }
    }

    pub(crate) async fn stop(self) {
        if let Some(s3) = self.s3 {
            s3.stop().await;
        }
        drop(self.kafka);
    }
}

type SinkResult = Result<sink::SinkReport, sink::SinkFailure>;

/// Waits for the load to end. If the sink fails meanwhile, the producer stops rather than load a
/// dead pipeline, and the sink's end is returned with what it did; a stop (Ctrl-C) ends the load
/// early, and what was produced is still landed, audited and reported. Returns the producer's
/// report, whether the load was cut short, and the sink's end if it came first.
async fn drive(
    producer: &mut tokio::task::JoinHandle<anyhow::Result<produce::ProduceReport>>,
    sink: &mut tokio::task::JoinHandle<SinkResult>,
    stop: &AtomicBool,
    opts: &RunOptions,
) -> anyhow::Result<(produce::ProduceReport, bool, Option<SinkResult>)> {
    let mut interrupted = false;
    loop {
        tokio::select! {
            p = &mut *producer => return Ok((p.context("the producer threads panicked")??, interrupted, None)),
            s = &mut *sink => {
                stop.store(true, Ordering::Relaxed);
                let s = s.map_err(|e| anyhow!("the sink panicked: {e}"))?;
                opts.reporter.note(&format!(
                    "the sink stopped during the load ({}): stopping the load; auditing and reporting what landed",
                    s.as_ref().err().map_or("before the load ended".to_string(), |f| f.error.to_string())
                ));
                let report = (&mut *producer).await.context("the producer threads panicked")??;
                let s = match s {
                    Ok(r) => Err(sink::SinkFailure {
                        error: sink::SinkError::Stopped,
                        report: Box::new(r),
                    }),
                    Err(f) => Err(f),
                };
                return Ok((report, interrupted, Some(s)));
            }
            _ = opts.stop.cancelled(), if !interrupted => {
                interrupted = true;
                stop.store(true, Ordering::Relaxed);
                opts.reporter.note("interrupted: stopping the load; landing and auditing what was produced (Ctrl-C again to abort)");
            }
        }
    }
}

/// What the load left, for the audit and the results folder.
struct Concluding<'a> {
    scenario: &'a Scenario,
    dir: &'a RunDir,
    services: &'a Services,
    opts: &'a RunOptions,
    rec: &'a Recorders,
    producers: &'a [ProducerPart],
    sinks: &'a [SinkPart],
    report: &'a sink::SinkReport,
    cpu_at_start: Option<f64>,
    cpu_producer_threads_s: Option<f64>,
    interrupted: bool,
    failure: Option<String>,
    warnings: Vec<String>,
    end_offsets: BTreeMap<i32, i64>,
    lake: Option<&'a crate::io::iceberg::Lake>,
}

/// The audit over the run's parts, the folder's records, and the summary assembled from them.
async fn conclude(c: Concluding<'_>) -> anyhow::Result<Summary> {
    let expectations = outcome::expectations(
        c.producers,
        c.sinks,
        &Bucket {
            bucket: &c.services.bucket,
            prefix: &c.scenario.s3.prefix,
        },
    );
    c.dir.write(files::EXPECTED, &expectations)?;
    let audit = audit::run(
        &audit::Location {
            client: &c.services.client,
            bucket: &c.services.bucket,
            prefix: &c.scenario.s3.prefix,
            topic: &c.scenario.kafka.topic,
            progress: c.opts.reporter.shows_bars(),
            table: c.lake,
        },
        &expectations.expected(),
    )
    .await
    .unwrap_or_else(|e| audit::Audit {
        // S3 gone: nothing could be read back, so nothing can be vouched for.
        problems: vec![format!(
            "the audit could not read back what landed: {e:#} (`tickbench verify` reads it again later)"
        )],
        ..Default::default()
    });

    c.rec
        .write_logs(&c.dir.histograms(), c.scenario.warmup)
        .context("writing histograms")?;
    c.dir.write_lines(files::OBJECTS, &c.report.landed)?;
    c.dir
        .write_lines(files::DEAD_LETTERS, &c.report.dead_letters)?;
    outcome::assemble(Assembly {
        run_id: c.dir.id(),
        load: c.scenario,
        producers: c.producers,
        sinks: c.sinks,
        expectations: &expectations,
        audit: &audit,
        rec: c.rec,
        resources: resources(
            c.scenario,
            c.report,
            c.cpu_at_start,
            c.cpu_producer_threads_s,
            audit.landed,
        ),
        interrupted: c.interrupted,
        failure: c.failure,
        observed: None,
        problems: Vec::new(),
        warnings: c.warnings,
        end_offsets: Some(c.end_offsets),
    })
}

/// The folder's last files: the summary, the manifest, the report.
pub(crate) fn finish_folder(
    dir: &RunDir,
    scenario: &Scenario,
    (resolved, scenario_file, started_at): (&str, Option<&Path>, chrono::DateTime<chrono::Utc>),
    endpoints: Endpoints,
    summary: &Summary,
) -> anyhow::Result<()> {
    dir.write(files::SUMMARY, summary)?;
    let manifest = Manifest::new(
        Role::Run,
        dir.id(),
        scenario,
        resolved,
        scenario_file,
        endpoints,
        started_at,
    );
    dir.write(files::MANIFEST, &manifest)?;
    report::document::RunReport::load(dir.path())
        .and_then(|r| r.write())
        .context("writing the report")
}

/// This run's share of the process's memory and CPU; the producer threads' CPU apart.
fn resources(
    scenario: &Scenario,
    sink: &sink::SinkReport,
    cpu_at_start: Option<f64>,
    cpu_producer_threads_s: Option<f64>,
    landed: u64,
) -> Resources {
    let process = crate::resources::process_cpu_s()
        .zip(cpu_at_start)
        .map(|(now, start)| now - start);
    Resources {
        peak_rss_bytes: crate::resources::peak_rss_bytes(),
        sink_peak_buffered_bytes: sink.peak_buffered_bytes,
        sink_peak_open_batches: sink.peak_open_batches,
        sink_memory_bound_bytes: crate::sink::memory_bound(&scenario.sink, sink.peak_open_batches),
        cpu_process_s: process,
        cpu_producer_threads_s,
        cpu_rest_s_per_million_ticks: process
            .zip(cpu_producer_threads_s)
            .map(|(p, q)| (p - q).max(0.0) * 1e6 / landed.max(1) as f64),
    }
}

/// The end offsets the producer's acknowledgements name, where the broker cannot be asked.
fn acked_ends(start: &BTreeMap<i32, i64>, acked: &BTreeMap<i32, (i64, i64)>) -> BTreeMap<i32, i64> {
    let mut ends = start.clone();
    for (p, (_, last)) in acked {
        ends.insert(*p, last + 1);
    }
    ends
}

/// Where the sink drains to: whichever is further, the broker's high watermark or the offsets its
/// own acknowledgements named (a broker whose watermark lags its log must not end the drain
/// early), with a warning for each partition where they disagree.
fn drain_targets(
    end_offsets: &BTreeMap<i32, i64>,
    acked: &BTreeMap<i32, (i64, i64)>,
) -> (BTreeMap<i32, i64>, Vec<String>) {
    let mut drain_to = end_offsets.clone();
    let mut warnings = Vec::new();
    for (p, (_, last)) in acked {
        let hw = drain_to.entry(*p).or_insert(0);
        if *hw <= *last {
            warnings.push(format!(
                "partition {p}: the broker reported high watermark {hw} after the load but had acknowledged offset {last}; draining to {}",
                last + 1
            ));
            *hw = last + 1;
        }
    }
    (drain_to, warnings)
}
