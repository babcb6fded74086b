//! `tickbench doctor`: check the scenario's brokers, topic and bucket.

use super::exit;
use std::path::PathBuf;

use super::{Signals, Targets};
use crate::commands::doctor;
use crate::config;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The scenario file (TOML).
    pub scenario: PathBuf,
    #[command(flatten)]
    pub targets: Targets,
}

pub async fn execute(
    args: Args,
    _signals: &Signals,
    stdout: &mut (dyn std::io::Write + Send),
) -> anyhow::Result<u8> {
    let Args {
        scenario: path,
        targets,
    } = args;
    let s = config::load_with(&path, &targets.overrides())?;
    writeln!(stdout, "ok           scenario: {} is valid", path.display())?;
    // A line that cannot be written is not a failed check: the checks go on.
    let checks = doctor::run(&s, |c| {
        let _ = writeln!(stdout, "{c}");
    })
    .await;
    let failed = checks.iter().filter(|c| c.status.is_failure()).count();
    if failed > 0 {
        eprintln!("doctor: {failed} check(s) failed");
        Ok(exit::FAILED)
    } else {
        Ok(exit::PASSED)
    }
}
