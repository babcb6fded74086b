//! `tickbench merge`: one run from producer and sink folders.

use super::exit;
use std::path::PathBuf;

use anyhow::Context;

use super::Signals;
use crate::commands::results_to::S3Folder;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Every producer worker's results folder and every sink's (copied from their hosts), or
    /// s3://bucket/prefix/ where `--results-to` put them (every folder under it is read).
    #[arg(required = true, num_args = 1..)]
    pub dirs: Vec<String>,
    /// Folder the merged run's folder is created in.
    #[arg(long, default_value = "results")]
    pub results_dir: PathBuf,
    /// The merged run's folder itself (default: a new `<results-dir>/<timestamp>-<name>-merged/`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// S3 endpoint to read the objects back from, instead of the one the sinks used; also where
    /// s3:// folders are read from and `--results-to` writes.
    #[arg(long)]
    s3_endpoint: Option<String>,
    /// Also copy the results folder to S3 when done, under s3://bucket/prefix/<folder name>/
    /// (the scenario's S3 endpoint and the AWS config chain), for pods that go away; `tickbench
    /// merge s3://bucket/prefix/` reads every folder there.
    #[arg(long, env = "TICKBENCH_RESULTS_TO", value_parser = crate::commands::results_to::S3Folder::parse)]
    pub results_to: Option<crate::commands::results_to::S3Folder>,
}

pub async fn execute(
    args: Args,
    _signals: &Signals,
    stdout: &mut (dyn std::io::Write + Send),
) -> anyhow::Result<u8> {
    let Args {
        dirs,
        results_dir,
        out,
        s3_endpoint,
        results_to,
    } = args;
    // Folders in S3 are read into a folder of their own for the merge, and removed after.
    let fetched = tempfile::tempdir_in(std::env::temp_dir())?;
    let results_s3 = crate::config::S3::default();
    let mut local = Vec::new();
    for d in &dirs {
        if d.starts_with("s3://") {
            let from = S3Folder::parse(d).map_err(|e| anyhow::anyhow!(e))?;
            let client =
                crate::commands::results_to::client(&results_s3, s3_endpoint.as_deref()).await;
            let into = fetched.path().join(local.len().to_string());
            let found = crate::commands::results_to::download(&client, &from, &into)
                .await
                .with_context(|| format!("reading the results folders under {from}"))?;
            eprintln!("{} results folders read from {from}", found.len());
            local.extend(found);
        } else {
            local.push(PathBuf::from(d));
        }
    }
    use std::io::IsTerminal;
    let opts = crate::commands::merge::MergeOptions {
        results_root: results_dir,
        out,
        s3_endpoint: s3_endpoint.clone(),
        progress: std::io::stderr().is_terminal(),
    };
    let (dir, summary) = crate::commands::merge::merge(&local, &opts)
        .await
        .context("merging the producers' and sinks' folders")?;
    write!(stdout, "{}", summary.to_text())?;
    writeln!(stdout, "results: {}", dir.display())?;
    super::send_results(
        &dir,
        results_to.as_ref(),
        &results_s3,
        s3_endpoint.as_deref(),
        stdout,
    )
    .await?;
    Ok(if summary.passed && summary.thresholds_passed() {
        exit::PASSED
    } else {
        exit::FAILED
    })
}
