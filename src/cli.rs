//! The command line. `main.rs` only parses and calls [`execute`].

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::run::{self, RunOptions};
use crate::scenario;

/// Load generator and benchmark for Kafka-to-S3 market-data pipelines.
#[derive(Debug, Parser)]
#[command(name = "tickbench", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario end to end: simulate, produce to Kafka, sink to S3, audit, report.
    Run {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// Folder the run's results folder is created in.
        #[arg(long, default_value = "results")]
        results_dir: PathBuf,
        /// No progress line while running.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Work with scenario files.
    Scenario {
        #[command(subcommand)]
        command: ScenarioCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ScenarioCommand {
    /// Validate a scenario file without running it; prints the resolved scenario.
    Check {
        /// The scenario file (TOML).
        file: PathBuf,
    },
}

/// Runs a parsed command line; the exit code says whether the run passed its audit.
pub async fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run {
            scenario: path,
            results_dir,
            quiet,
        } => {
            let s = scenario::load(&path)?;
            let opts = RunOptions {
                results_root: results_dir,
                progress: !quiet,
            };
            let outcome = run::run(&s, Some(&path), &opts)
                .await
                .with_context(|| format!("running {}", path.display()))?;
            if !quiet {
                eprintln!();
            }
            print!("{}", outcome.summary.to_text());
            println!("results: {}", outcome.dir.display());
            Ok(if outcome.summary.passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Scenario {
            command: ScenarioCommand::Check { file },
        } => {
            let s = scenario::load(&file)?;
            print!("{}", s.resolved_toml());
            eprintln!("{}: ok", file.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}
