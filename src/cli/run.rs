//! `tickbench run`: run a scenario end to end, a sweep of its variants, or a max-rate search.

use super::exit;
use std::path::PathBuf;

use anyhow::Context;

use super::{Signals, Targets};
use crate::commands::run::{self, RunOptions};
use crate::commands::{max, sweep};
use crate::config;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    /// Folder the run's results folder is created in.
    #[arg(long, default_value = "results")]
    pub results_dir: PathBuf,
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
        output,
        targets,
        metrics,
    } = args;
    let s = config::load_with(&path, &targets.overrides())?;
    let terminal = output.terminal(crate::progress::ProgressFormat::Auto);
    let terminal_format = terminal.format;
    signals.listen(false)?;
    let (reporter, _metrics) = metrics
        .reporter(terminal, vec![("run".into(), s.name.clone())])
        .await?;
    let opts = RunOptions {
        results_root: results_dir,
        reporter,
        stop: signals.stop.clone(),
    };
    if let Some(m) = s.max.clone() {
        let outcome = max::search(&s, &m, &opts)
            .await
            .with_context(|| format!("max-rate search of {}", path.display()))?;
        write!(stdout, "{}", outcome.to_text())?;
        writeln!(stdout, "results: {}", outcome.dir.display())?;
        return Ok(if outcome.settled_ticks_per_second.is_some() {
            exit::PASSED
        } else {
            exit::FAILED
        });
    }
    if !s.sweep.is_empty() || !s.variant.is_empty() {
        let cells = sweep::cells(&s, &path)?;
        let outcome = sweep::run(&s, &cells, Some(&path), &opts)
            .await
            .with_context(|| format!("sweep of {}", path.display()))?;
        write!(stdout, "{}", sweep::compare::markdown(&outcome.rows))?;
        writeln!(stdout, "results: {}", outcome.dir.display())?;
        return Ok(if outcome.interrupted {
            exit::INTERRUPTED
        } else if outcome.rows.iter().any(|r| r.error.is_some()) {
            exit::ERROR
        } else if outcome.rows.iter().all(|r| r.passed) {
            exit::PASSED
        } else {
            exit::FAILED
        });
    }
    let outcome = run::run(&s, Some(&path), &opts)
        .await
        .with_context(|| format!("running {}", path.display()))?;
    if terminal_format == crate::progress::ProgressFormat::Auto {
        eprintln!();
    }
    write!(stdout, "{}", outcome.summary.to_text())?;
    writeln!(stdout, "results: {}", outcome.dir.display())?;
    Ok(if outcome.summary.interrupted {
        // What was produced is landed and audited, but the run is not the scenario.
        exit::INTERRUPTED
    } else if outcome.summary.passed && outcome.summary.thresholds_passed() {
        exit::PASSED
    } else {
        exit::FAILED
    })
}
