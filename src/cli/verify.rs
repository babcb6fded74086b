//! `tickbench verify`: the audit again, from a results folder.

use super::exit;
use std::path::PathBuf;

use anyhow::Context;

use super::Signals;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run's results folder (results/<timestamp>-<name>).
    pub run_dir: PathBuf,
    /// S3 endpoint, instead of the one the run used.
    #[arg(long)]
    s3_endpoint: Option<String>,
}

pub async fn execute(
    args: Args,
    _signals: &Signals,
    stdout: &mut (dyn std::io::Write + Send),
) -> anyhow::Result<u8> {
    let Args {
        run_dir,
        s3_endpoint,
    } = args;
    let v = crate::commands::verify::verify(&run_dir, s3_endpoint.as_deref())
        .await
        .with_context(|| format!("verifying {}", run_dir.display()))?;
    write!(stdout, "{}", v.to_text())?;
    Ok(if v.audit.passed() {
        exit::PASSED
    } else {
        exit::FAILED
    })
}
