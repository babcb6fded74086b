//! `tickbench catalog`: the Athena table (or Glue TableInput) over the landed objects.

use super::exit;
use std::path::PathBuf;

use super::Signals;
use crate::commands::catalog::command::Request;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A run's results folder, or a scenario file.
    pub source: PathBuf,
    /// Glue database (Athena schema) of the table.
    #[arg(long, default_value = "tickbench")]
    pub database: String,
    /// Table name.
    #[arg(long, default_value = "ticks")]
    pub table: String,
    /// First day of the date projection, YYYY-MM-DD (default: the run's start day; for a
    /// scenario, 30 days ago).
    #[arg(long)]
    pub since: Option<String>,
    /// Print Glue's TableInput (for `aws glue create-table --table-input`) instead of the DDL.
    #[arg(long)]
    pub glue: bool,
}

pub async fn execute(
    args: Args,
    _signals: &Signals,
    stdout: &mut (dyn std::io::Write + Send),
) -> anyhow::Result<u8> {
    let forms = crate::commands::catalog::command::describe(&Request {
        source: args.source,
        database: args.database,
        table: args.table,
        since: args.since,
    })
    .await?;
    if let Some(dir) = &forms.written_to {
        eprintln!(
            "wrote {0}/athena.sql and {0}/glue-table-input.json",
            dir.display()
        );
    }
    if args.glue {
        writeln!(
            stdout,
            "{}",
            serde_json::to_string_pretty(&forms.table_input)?
        )?;
    } else {
        write!(stdout, "{}", forms.ddl)?;
    }
    Ok(exit::PASSED)
}
