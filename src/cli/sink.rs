//! `tickbench sink`: one sink process of a consumer group.

use super::exit;
use std::path::PathBuf;

use anyhow::Context;

use super::orchestrator::parse_start_at;
use super::{Signals, Targets};
use crate::config;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The scenario file (TOML): its [kafka], [sink] and [s3] sections are used.
    pub scenario: PathBuf,
    /// Folder the sink's results folder is created in; `.sink-state/` in it keeps the upload
    /// journal a restarted sink cleans up from.
    #[arg(long, default_value = "results")]
    pub results_dir: PathBuf,
    /// This sink's name, unique among the sinks sharing a results folder; keep it across
    /// restarts so the restarted sink aborts the uploads the old one left open. `auto`:
    /// `sink-<index>` from the orchestrator's environment (as `tickbench produce --worker auto`).
    #[arg(long, env = "TICKBENCH_INSTANCE", default_value = "sink-0")]
    pub instance: String,
    /// Consumer group, instead of the scenario's `kafka.group_id` (default
    /// `tickbench-sink-<scenario name>`).
    #[arg(long)]
    pub group: Option<String>,
    /// Stop once no record has arrived for this long (for example 10s); without it the sink
    /// runs until SIGTERM or Ctrl-C.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub until_idle: Option<std::time::Duration>,
    /// The producers' agreed start (their `--start-at`): this sink's latency intervals and
    /// warm-up then line up with theirs, for `tickbench merge`.
    #[arg(long, env = "TICKBENCH_START_AT", value_parser = parse_start_at)]
    pub start_at: Option<chrono::DateTime<chrono::Utc>>,
    #[command(flatten)]
    pub output: super::progress::Output,
    /// Also copy the results folder to S3 when done, under s3://bucket/prefix/<folder name>/
    /// (the scenario's S3 endpoint and the AWS config chain), for pods that go away; `tickbench
    /// merge s3://bucket/prefix/` reads every folder there.
    #[arg(long, env = "TICKBENCH_RESULTS_TO", value_parser = crate::commands::results_to::S3Folder::parse)]
    pub results_to: Option<crate::commands::results_to::S3Folder>,
    #[command(flatten)]
    pub targets: Targets,
    #[command(flatten)]
    pub metrics: super::metrics::MetricsArgs,
}

pub async fn execute(
    args: Args,
    signals: &Signals,
    stdout: &mut (dyn std::io::Write + Send),
) -> anyhow::Result<u8> {
    let Args {
        scenario: path,
        results_dir,
        instance,
        group,
        until_idle,
        start_at,
        output,
        targets,
        results_to,
        metrics,
    } = args;
    let instance = super::orchestrator::instance(&instance, |k| std::env::var(k).ok())
        .map_err(|e| anyhow::anyhow!("--instance {e}"))?;
    let s = config::load_with(&path, &targets.overrides())?;
    signals.listen(true)?;
    let (reporter, _metrics) = metrics
        .reporter(
            output.terminal(crate::progress::ProgressFormat::Lines),
            vec![
                ("run".into(), s.name.clone()),
                ("instance".into(), instance.clone()),
            ],
        )
        .await?;
    let opts = crate::commands::sink::SinkOptions {
        results_root: results_dir,
        instance,
        group,
        until_idle,
        start_at,
        reporter,
        stop: signals.stop.clone(),
    };
    let (dir, summary) = crate::commands::sink::sink(&s, &opts)
        .await
        .with_context(|| format!("sinking {}", path.display()))?;
    write!(stdout, "{}", summary.to_text())?;
    writeln!(stdout, "results: {}", dir.display())?;
    super::send_results(&dir, results_to.as_ref(), &s.s3, None, stdout).await?;
    Ok(match &summary.failure {
        // The system under test failed; the folder holds what it did.
        Some(f) => {
            eprintln!("sink failed: {f}");
            exit::FAILED
        }
        None => exit::PASSED,
    })
}
