//! `tickbench scenario`: scenario files.

use super::exit;
use std::path::PathBuf;

use clap::Subcommand;

use super::Signals;
use crate::commands::sweep;
use crate::config;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: ScenarioCommand,
}

pub async fn execute(
    args: Args,
    _signals: &Signals,
    stdout: &mut (dyn std::io::Write + Send),
) -> anyhow::Result<u8> {
    let Args {
        command: ScenarioCommand::Check { file },
    } = args;
    let s = config::load(&file)?;
    let cells = sweep::cells(&s, &file)?;
    write!(stdout, "{}", s.resolved_toml())?;
    if cells.len() > 1 {
        eprintln!("{}: ok, a sweep of {} runs:", file.display(), cells.len());
        for (i, c) in cells.iter().enumerate() {
            eprintln!("  {:>2}. {}", i + 1, c.label);
        }
    } else {
        eprintln!("{}: ok", file.display());
    }
    Ok(exit::PASSED)
}

#[derive(Debug, Subcommand)]
pub enum ScenarioCommand {
    /// Validate a scenario file without running it; prints the resolved scenario.
    Check {
        /// The scenario file (TOML).
        file: PathBuf,
    },
}
