//! `tickbench run` of a scenario with `[observe]`: the load is produced as always, but the sink is
//! someone else's (Kafka Connect's S3 sink, Firehose, Vector, your own consumer) reading
//! `kafka.topic`. tickbench watches the prefix it writes to until every acknowledged tick has
//! appeared or `observe.settle` runs out, and measures, audits and reports that sink exactly as
//! it does its own: the observation is one more source of a sink part for `outcome::assemble`.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::watch;

use crate::audit::{Audit, Ledger};
use crate::commands::run::{finish_folder, launch_load, RunOptions, RunOutcome, Start};
use crate::config::Scenario;
use crate::io::connect;
use crate::metrics::{now_ns, Counters, Recorders};
use crate::model::load::Schedule;
use crate::model::sim::Share;
use crate::observe::{self, Until};
use crate::outcome::{self, Assembly, Bucket, ProducerPart, SinkPart};
use crate::produce::LoadOf;
use crate::results::{files, Host, Resources, RunDir};
use crate::sink::start::Identity;

pub async fn run(
    scenario: &Scenario,
    scenario_file: Option<&Path>,
    opts: &RunOptions,
) -> anyhow::Result<RunOutcome> {
    let o = scenario.observe.as_ref().expect("an [observe] scenario");
    let started_at = chrono::Utc::now();
    let dir = RunDir::create(&opts.results_root, &scenario.name, started_at)?;
    let resolved = scenario.resolved_toml();
    dir.write_scenario(&resolved)?;

    let Start {
        services,
        partitions,
        producer_cfg,
        start_offsets,
        model,
    } = Start::of(scenario, &dir).await?;
    let (client, bucket) = (&services.client, &services.bucket);
    let k = &scenario.kafka;
    let tickers = model.universe.tickers();
    let prefix = super::listed_prefix(o);
    let w = super::watch(o, client, bucket, &prefix);
    // What is there already is not this run's: earlier runs, other loads.
    let known = observe::snapshot(&w)
        .await
        .with_context(|| format!("listing s3://{bucket}/{prefix} before the load"))?;

    let rec = Arc::new(Recorders::unanchored());
    let counters = Arc::new(Counters::default());
    let run_start_ns = now_ns() + 50_000_000;
    rec.anchor(
        run_start_ns,
        run_start_ns + scenario.warmup.as_nanos() as u64,
    );
    let schedule = Schedule::of(
        &scenario.rate,
        scenario.total_duration(),
        scenario.seed,
        run_start_ns,
    );
    let mut ledger = Ledger::new(
        tickers.iter().map(String::as_str),
        (schedule.start_ns, schedule.end_ns()),
    );
    let group = super::GroupWatch::start(
        o,
        &services.brokers,
        k,
        start_offsets.clone(),
        counters.clone(),
    )
    .await?;
    let stop = Arc::new(AtomicBool::new(false));
    let (mut producer_task, progress) = launch_load(
        scenario,
        &producer_cfg,
        &model,
        &schedule,
        (&rec, &counters, &stop),
        opts,
    )?;
    let (until_tx, until_rx) = watch::channel(None);
    let load = async {
        let mut interrupted = false;
        let report = loop {
            tokio::select! {
                r = &mut producer_task => break r.context("the producer threads panicked")?,
                _ = opts.stop.cancelled(), if !interrupted => {
                    interrupted = true;
                    stop.store(true, Ordering::Relaxed);
                    opts.reporter.note("interrupted: stopping the load; watching for what was produced (Ctrl-C again to abort)");
                }
            }
        }?;
        let acked = counters.acked.load(Ordering::Relaxed);
        let _ = until_tx.send(Some(Until {
            found: acked,
            deadline_mono_ns: crate::clock::mono_ns() + o.settle.as_nanos() as u64,
        }));
        anyhow::Ok((report, interrupted))
    };
    let queue = super::queue(o, &scenario.s3, bucket, &prefix).await;
    let watching = observe::observe(&w, known, &mut ledger, &rec, &counters, until_rx, queue);
    let (loaded, watched) = tokio::join!(load, watching);
    let group = match group {
        Some(g) => g.stop().await,
        None => None,
    };
    let (report, interrupted) = loaded?;
    drop(progress);
    // The watch failing (S3 gone) is the run not completing, not tickbench failing.
    let (obs, failure) = match watched {
        Ok(obs) => {
            let failure = (!obs.settled).then(|| {
                format!(
                    "not every acknowledged tick appeared under s3://{bucket}/{prefix} within observe.settle ({})",
                    humantime::format_duration(o.settle)
                )
            });
            (obs, failure)
        }
        Err(e) => (
            Default::default(),
            Some(format!("watching the sink's objects: {e:#}")),
        ),
    };
    let end_offsets = connect::high_watermarks(&producer_cfg, &k.topic, &partitions)
        .await
        .unwrap_or_default();
    let produced = report.into_produced(LoadOf {
        scenario,
        share: Share::ALL,
        schedule: &schedule,
        tickers,
        start_offsets,
        end_offsets: end_offsets.clone(),
    });

    // The observed sink as a sink part: its objects with the times they were first seen.
    let sink_report = crate::sink::SinkReport {
        landed: obs.objects.clone(),
        ..Default::default()
    };
    let mut summary_part = crate::sink::start::summarize(
        scenario,
        &sink_report,
        Identity::of_run(dir.id(), "observed", "", failure.is_some(), run_start_ns),
        &rec,
        &observe::requests_seen(&obs),
        Resources::default(),
    );
    summary_part.failure = failure.clone();
    let sinks = [SinkPart {
        summary: summary_part,
        landed: obs.objects.clone(),
        dead_letters: Vec::new(),
        host: Host::current(),
    }];
    let producers = [ProducerPart {
        produced,
        host: Host::current(),
    }];
    let expectations = outcome::expectations(
        &producers,
        &sinks,
        &Bucket {
            bucket,
            prefix: &o.prefix,
        },
    );
    dir.write(files::EXPECTED, &expectations)?;
    let mut found = Audit {
        objects: obs.objects.len() as u64,
        bytes: obs.objects.iter().map(|l| l.bytes).sum(),
        records_read: obs.objects.iter().map(|l| l.records).sum(),
        ..Default::default()
    };
    let warnings = super::findings(&obs, &mut found.problems);
    let audit = ledger.finish(&expectations.expected(), found);
    rec.write_logs(&dir.histograms(), scenario.warmup)
        .context("writing histograms")?;
    dir.write_lines(files::OBJECTS, &obs.objects)?;
    let summary = outcome::assemble(Assembly {
        run_id: dir.id(),
        load: scenario,
        producers: &producers,
        sinks: &sinks,
        expectations: &expectations,
        audit: &audit,
        rec: &rec,
        resources: Resources {
            peak_rss_bytes: crate::resources::peak_rss_bytes(),
            ..Default::default()
        },
        interrupted,
        failure,
        observed: Some(super::observed(o, &prefix, &obs, group)),
        problems: Vec::new(),
        warnings,
        end_offsets: Some(end_offsets),
    })?;
    finish_folder(
        &dir,
        scenario,
        (&resolved, scenario_file, started_at),
        services.endpoints(scenario),
        &summary,
    )?;
    services.stop().await;
    Ok(RunOutcome {
        dir: dir.path().to_path_buf(),
        summary,
    })
}
