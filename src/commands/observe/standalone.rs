//! `tickbench observe`: the watch of an external sink as a process of its own, for a load that
//! `tickbench produce` workers make on other hosts. It lists the `[observe]` prefix, reads each
//! new object, and records every tick's `pipeline_e2e` from the intended send time the tick
//! carries, until no object has appeared for `--until-idle` or SIGTERM / Ctrl-C. Its folder is a
//! sink part (with `observed` in its summary) that `tickbench merge` joins with the producers'
//! folders: the merged audit reads the objects it saw again and checks them against every
//! worker's acknowledged ticks.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::sync::watch;

use crate::audit::Ledger;
use crate::config::{S3Target, Scenario};
use crate::io::connect;
use crate::metrics::{now_ns, Counters, Recorders};
use crate::model::load::Schedule;
use crate::model::sim::Universe;
use crate::observe::{self, Until};
use crate::results::{files, Endpoints, Manifest, Role, RunDir, SinkSummary, StopReason};
use crate::sink::start::Identity;

/// How an observer process is told apart and when it stops.
#[derive(Debug, Clone, Default)]
pub struct ObserveOptions {
    /// Parent of the results folder.
    pub results_root: PathBuf,
    /// This observer's name (its folder's), to tell several apart.
    pub instance: String,
    /// Stop once no new object has appeared for this long (after the first).
    pub until_idle: Option<Duration>,
    /// The producers' agreed start (`tickbench produce --start-at`): intervals and warm-up line
    /// up with theirs, and ticks from outside the load's schedule are `foreign`.
    pub start_at: Option<chrono::DateTime<chrono::Utc>>,
    pub reporter: crate::progress::Reporter,
    /// Cancelled on SIGTERM or Ctrl-C: finish the listing under way, then stop.
    pub stop: tokio_util::sync::CancellationToken,
}

/// Watches until idle or a signal; returns the folder and its summary.
pub async fn observe(
    scenario: &Scenario,
    opts: &ObserveOptions,
) -> anyhow::Result<(PathBuf, SinkSummary)> {
    let Some(o) = &scenario.observe else {
        bail!("tickbench observe needs an [observe] section in the scenario: the prefix the external sink writes to (docs/observe.md)");
    };
    if scenario.s3.target() == S3Target::Embedded {
        bail!("tickbench observe needs the bucket the external sink writes to: set s3.bucket (and s3.endpoint for an S3-compatible server) or pass --bucket / --s3-endpoint");
    }
    anyhow::ensure!(
        crate::config::is_safe_name(&opts.instance),
        "--instance {:?}: allowed are A-Z a-z 0-9 . _ -, not starting with '.'",
        opts.instance
    );
    let started_at = chrono::Utc::now();
    let dir = RunDir::create(
        &opts.results_root,
        &format!("{}-observe-{}", scenario.name, opts.instance),
        started_at,
    )?;
    let resolved = scenario.resolved_toml();
    dir.write_scenario(&resolved)?;

    let client = connect::s3_client(&scenario.s3, None).await;
    let bucket = scenario.s3.bucket_name().to_string();
    let prefix = super::listed_prefix(o);
    let w = super::watch(o, &client, &bucket, &prefix);
    let known = observe::snapshot(&w)
        .await
        .with_context(|| format!("listing s3://{bucket}/{prefix} before watching"))?;

    let start_ns = now_ns();
    let at_ns = opts
        .start_at
        .and_then(|t| t.timestamp_nanos_opt())
        .map(|t| t.max(0) as u64);
    let rec = Arc::new(match at_ns {
        Some(at) => Recorders::new(at, at + scenario.warmup.as_nanos() as u64),
        None => Recorders::new(start_ns, start_ns),
    });
    let counters = Arc::new(Counters::default());
    // Without the load's start, any time is the load's: nothing is foreign.
    let schedule_ns = at_ns.map_or((0, u64::MAX), |at| {
        let s = Schedule::of(&scenario.rate, scenario.total_duration(), scenario.seed, at);
        (s.start_ns, s.end_ns())
    });
    let tickers = Universe::new(&scenario.symbols, scenario.seed).tickers();
    let mut ledger = Ledger::new(tickers.iter().map(String::as_str), schedule_ns);

    let (until_tx, until_rx) = watch::channel(None);
    let stopping = {
        let (counters, stop, idle) = (counters.clone(), opts.stop.clone(), opts.until_idle);
        let reporter = opts.reporter.clone();
        tokio::spawn(async move {
            let mut last = (0u64, tokio::time::Instant::now());
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            let by = loop {
                tokio::select! {
                    _ = stop.cancelled() => {
                        reporter.note("stopping: finishing the listing under way");
                        break StopReason::Signal;
                    }
                    _ = tick.tick() => {
                        let n = counters.objects.load(Ordering::Relaxed);
                        if n != last.0 {
                            last = (n, tokio::time::Instant::now());
                        } else if n > 0 && idle.is_some_and(|d| last.1.elapsed() >= d) {
                            break StopReason::Idle;
                        }
                    }
                }
            };
            // Nothing can be "all found" for a load this process did not produce: stop now.
            let _ = until_tx.send(Some(Until {
                found: u64::MAX,
                deadline_mono_ns: 0,
            }));
            by
        })
    };
    // Validated with [observe]: the brokers the external sink reads from are named.
    let brokers = scenario.kafka.brokers.clone().unwrap_or_default();
    let group = super::GroupWatch::start(
        o,
        &brokers,
        &scenario.kafka,
        Default::default(),
        counters.clone(),
    )
    .await?;
    let progress = opts
        .reporter
        .live_sink(counters.clone(), rec.clone(), start_ns);
    let queue = super::queue(o, &scenario.s3, &bucket, &prefix).await;
    let watched = observe::observe(&w, known, &mut ledger, &rec, &counters, until_rx, queue).await;
    let group = match group {
        Some(g) => g.stop().await,
        None => None,
    };
    drop(progress);
    let (obs, failure) = match watched {
        Ok(obs) => (obs, None),
        Err(e) => (
            Default::default(),
            Some(format!("watching the sink's objects: {e:#}")),
        ),
    };
    stopping.abort();
    let stopped_by = match (&failure, stopping.await) {
        (Some(_), _) => StopReason::Failed,
        (None, Ok(by)) => by,
        (None, Err(_)) => StopReason::Signal,
    };

    rec.write_logs(&dir.histograms(), Duration::ZERO)
        .context("writing histograms")?;
    dir.write_lines(files::OBJECTS, &obs.objects)?;
    let report = crate::sink::SinkReport {
        landed: obs.objects.clone(),
        ..Default::default()
    };
    let mut summary = crate::sink::start::summarize(
        scenario,
        &report,
        Identity {
            run_id: dir.id(),
            instance: &opts.instance,
            group_id: "observed",
            stopped_by,
            elapsed_s: now_ns().saturating_sub(start_ns) as f64 / 1e9,
            first_record_ns: Some(start_ns),
            start_at: opts.start_at.map(|t| t.to_rfc3339()),
            orphaned_uploads_aborted: 0,
        },
        &rec,
        &observe::requests_seen(&obs),
        crate::results::Resources {
            peak_rss_bytes: crate::resources::peak_rss_bytes(),
            cpu_process_s: crate::resources::process_cpu_s(),
            ..Default::default()
        },
    );
    summary.counts.consumed = 0;
    summary.failure = failure;
    summary.observed = Some(super::observed(o, &prefix, &obs, group));
    dir.write(files::SUMMARY, &summary)?;
    let manifest = Manifest::new(
        Role::Sink,
        dir.id(),
        scenario,
        &resolved,
        None,
        Endpoints {
            kafka_brokers: scenario.kafka.brokers.clone().unwrap_or_default(),
            kafka_embedded: false,
            s3_endpoint: scenario.s3.endpoint.clone(),
            s3_bucket: bucket,
            s3_embedded: false,
        },
        started_at,
    );
    dir.write(files::MANIFEST, &manifest)?;
    Ok((dir.path().to_path_buf(), summary))
}
