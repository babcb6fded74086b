//! `tickbench merge`: one run from producer and sink folders.

use super::exit;
use std::path::PathBuf;

use anyhow::Context;

use super::Signals;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Every producer worker's results folder and every sink's (copied from their hosts).
    #[arg(required = true, num_args = 1..)]
    pub dirs: Vec<PathBuf>,
    /// Folder the merged run's folder is created in.
    #[arg(long, default_value = "results")]
    pub results_dir: PathBuf,
    /// The merged run's folder itself (default: a new `<results-dir>/<timestamp>-<name>-merged/`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// S3 endpoint to read the objects back from, instead of the one the sinks used.
    #[arg(long)]
    s3_endpoint: Option<String>,
}

pub async fn execute(args: Args, _signals: &Signals) -> anyhow::Result<u8> {
    let Args {
        dirs,
        results_dir,
        out,
        s3_endpoint,
    } = args;
    use std::io::IsTerminal;
    let opts = crate::commands::merge::MergeOptions {
        results_root: results_dir,
        out,
        s3_endpoint,
        progress: std::io::stderr().is_terminal(),
    };
    let (dir, summary) = crate::commands::merge::merge(&dirs, &opts)
        .await
        .context("merging the producers' and sinks' folders")?;
    print!("{}", summary.to_text());
    println!("results: {}", dir.display());
    Ok(if summary.passed && summary.thresholds_passed() {
        exit::PASSED
    } else {
        exit::FAILED
    })
}
