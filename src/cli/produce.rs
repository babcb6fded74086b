//! `tickbench produce`: the load alone, or one worker's share of it.

use super::exit;
use std::path::PathBuf;

use anyhow::Context;

use super::orchestrator::{parse_start_at, WorkerArg};
use super::Signals;
use crate::commands::run::RunOptions;
use crate::config;
use crate::progress::ProgressFormat;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    /// Folder the run's results folder is created in.
    #[arg(long, default_value = "results")]
    pub results_dir: PathBuf,
    #[command(flatten)]
    pub targets: super::KafkaTargets,
    #[command(flatten)]
    pub output: super::progress::Output,
    /// Produce worker I's share of N (counting from 1): symbols dealt out by activity so each
    /// worker carries about 1/N of the rate. The N workers together produce exactly the
    /// stream one would. `auto`: I and N from the orchestrator's environment (a Kubernetes
    /// Indexed Job's JOB_COMPLETION_INDEX with TICKBENCH_WORKERS, an AWS Batch array job's
    /// AWS_BATCH_JOB_ARRAY_INDEX and _SIZE, or TICKBENCH_WORKER_INDEX with TICKBENCH_WORKERS).
    #[arg(long, env = "TICKBENCH_WORKER", value_parser = WorkerArg::parse, default_value = "1/1")]
    pub worker: WorkerArg,
    /// Start the load at this wall-clock time (RFC 3339, for example 2026-11-22T10:00:00Z, or
    /// one plus a delay: 2026-11-22T10:00:00Z+2m): give every worker the same, a little in the
    /// future.
    #[arg(long, env = "TICKBENCH_START_AT", value_parser = parse_start_at)]
    pub start_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Also copy the results folder to S3 when done, under s3://bucket/prefix/<folder name>/
    /// (the scenario's S3 endpoint and the AWS config chain), for pods that go away; `tickbench
    /// merge s3://bucket/prefix/` reads every folder there.
    #[arg(long, env = "TICKBENCH_RESULTS_TO", value_parser = crate::commands::results_to::S3Folder::parse)]
    pub results_to: Option<crate::commands::results_to::S3Folder>,
    #[command(flatten)]
    pub metrics: super::metrics::MetricsArgs,
}

pub async fn execute(
    args: Args,
    _signals: &Signals,
    stdout: &mut (dyn std::io::Write + Send),
) -> anyhow::Result<u8> {
    let Args {
        scenario: path,
        results_dir,
        targets,
        output,
        worker,
        start_at,
        results_to,
        metrics,
    } = args;
    let worker = worker
        .resolve(|k| std::env::var(k).ok())
        .map_err(|e| anyhow::anyhow!("--worker {e}"))?;
    let s = config::load_with(&path, &targets.overrides())?;
    let (reporter, _metrics) = metrics
        .reporter(
            output.terminal(ProgressFormat::Lines),
            vec![
                ("run".into(), s.name.clone()),
                ("worker".into(), worker.label()),
            ],
        )
        .await?;
    let opts = RunOptions {
        results_root: results_dir,
        reporter,
        ..Default::default()
    };
    if worker.workers > 1 && start_at.is_none() {
        eprintln!("note: --worker {} without --start-at: the workers' schedules start when each does, so their ticks' times differ from one worker's stream", worker.label());
    }
    let workers = crate::commands::produce::WorkerOptions {
        share: worker,
        start_at,
    };
    let (dir, sum) = crate::commands::produce::produce(&s, &opts, &workers)
        .await
        .with_context(|| format!("producing {}", path.display()))?;
    if worker.workers > 1 {
        write!(stdout, "worker {}: ", sum.worker)?;
    }
    writeln!(
        stdout,
        "{} produced, {} acknowledged, {} failed in {:.2} s: {:.0} ticks/s achieved ({:.0} scheduled)",
        sum.produced, sum.acked, sum.delivery_failed, sum.elapsed_s, sum.achieved_per_s, sum.scheduled_per_s
    )?;
    for (name, st) in &sum.stages {
        writeln!(
            stdout,
            "{name:<14} p50 {:>9.2}ms  p99 {:>9.2}ms  max {:>9.2}ms",
            st.p50_us as f64 / 1e3,
            st.p99_us as f64 / 1e3,
            st.max_us as f64 / 1e3
        )?;
    }
    writeln!(stdout, "results: {}", dir.display())?;
    super::send_results(&dir, results_to.as_ref(), &s.s3, None, stdout).await?;
    Ok(if sum.delivery_failed == 0 {
        exit::PASSED
    } else {
        exit::FAILED
    })
}
