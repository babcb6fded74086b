//! `tickbench report`: write a run's reports again.

use super::exit;
use std::path::PathBuf;

use anyhow::Context;

use super::Signals;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run's results folder (results/<timestamp>-<name>).
    pub run_dir: PathBuf,
}

pub async fn execute(
    args: Args,
    _signals: &Signals,
    stdout: &mut (dyn std::io::Write + Send),
) -> anyhow::Result<u8> {
    let Args { run_dir } = args;
    crate::report::document::RunReport::load(&run_dir)
        .and_then(|r| r.write())
        .with_context(|| format!("reporting {}", run_dir.display()))?;
    for f in crate::results::files::REPORTS {
        writeln!(stdout, "{}", run_dir.join(f).display())?;
    }
    Ok(exit::PASSED)
}
