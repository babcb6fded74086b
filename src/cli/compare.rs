//! `tickbench compare`: runs side by side.

use super::exit;
use std::path::PathBuf;

use super::Signals;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Two or more results folders; the first is the baseline.
    #[arg(required = true, num_args = 1..)]
    pub run_dirs: Vec<PathBuf>,
    /// Folder to write the comparison into (default: a new `results/<timestamp>-compare/`).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub async fn execute(
    args: Args,
    _signals: &Signals,
    stdout: &mut (dyn std::io::Write + Send),
) -> anyhow::Result<u8> {
    let Args { run_dirs, out } = args;
    let c = crate::report::compare::Comparison::load(&run_dirs)?;
    let out = match out {
        Some(o) => o,
        None => crate::results::RunDir::create(
            std::path::Path::new("results"),
            "compare",
            chrono::Utc::now(),
        )?
        .path()
        .to_path_buf(),
    };
    c.write(&out)?;
    write!(stdout, "{}", c.markdown())?;
    writeln!(stdout, "comparison: {}", out.display())?;
    Ok(exit::PASSED)
}
