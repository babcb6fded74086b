//! `tickbench observe`: watch an external sink's objects, beside `tickbench produce` workers.

use super::exit;
use std::path::PathBuf;

use anyhow::Context;

use super::orchestrator::parse_start_at;
use super::{Signals, Targets};
use crate::config;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The scenario file (TOML) with an [observe] section; its [s3] names the bucket.
    pub scenario: PathBuf,
    /// Folder the observer's results folder is created in.
    #[arg(long, default_value = "results")]
    pub results_dir: PathBuf,
    /// This observer's name, in its folder's name.
    #[arg(long, default_value = "observer-0")]
    pub instance: String,
    /// Stop once no new object has appeared for this long (after the first), for example 30s;
    /// without it the observer runs until SIGTERM or Ctrl-C.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub until_idle: Option<std::time::Duration>,
    /// The producers' agreed start (their `--start-at`): intervals and warm-up line up with
    /// theirs, for `tickbench merge`.
    #[arg(long, env = "TICKBENCH_START_AT", value_parser = parse_start_at)]
    pub start_at: Option<chrono::DateTime<chrono::Utc>>,
    #[command(flatten)]
    pub output: super::progress::Output,
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
        until_idle,
        start_at,
        output,
        targets,
        metrics,
    } = args;
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
    let opts = crate::commands::observe::standalone::ObserveOptions {
        results_root: results_dir,
        instance,
        until_idle,
        start_at,
        reporter,
        stop: signals.stop.clone(),
    };
    let (dir, summary) = crate::commands::observe::standalone::observe(&s, &opts)
        .await
        .with_context(|| format!("observing for {}", path.display()))?;
    write!(stdout, "{}", summary.to_text())?;
    writeln!(stdout, "results: {}", dir.display())?;
    Ok(match &summary.failure {
        Some(f) => {
            eprintln!("observe failed: {f}");
            exit::FAILED
        }
        None => exit::PASSED,
    })
}
