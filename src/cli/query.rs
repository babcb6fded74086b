//! `tickbench query`: SQL over landed objects.

use super::exit;

use anyhow::Context;

use super::Signals;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A run's results folder, a folder of objects, or s3://bucket/prefix/topic/.
    pub location: String,
    /// The SQL (the table is `ticks`); or use --preset.
    pub sql: Option<String>,
    /// A ready-made query: ohlc, vwap, moving-average, top-movers, market, volume-by-hour.
    #[arg(long, conflicts_with = "sql")]
    pub preset: Option<String>,
    /// Output: table, csv or json (one object a line).
    #[arg(long, value_enum, default_value_t = crate::commands::query::Output::Table)]
    pub output: crate::commands::query::Output,
    /// Also write the result as an SVG line chart: the first column along x, each other column
    /// a series (one chart; plot few columns).
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<std::path::PathBuf>,
    /// S3-compatible endpoint for an s3:// location (credentials from the AWS config chain).
    #[arg(long)]
    s3_endpoint: Option<String>,
    /// For an s3:// location: the scenario whose `[s3]` endpoint, region and profile to use,
    /// as `tickbench run` does (a run folder brings its own).
    #[arg(long, value_name = "SCENARIO.toml")]
    scenario: Option<std::path::PathBuf>,
}

pub async fn execute(
    args: Args,
    _signals: &Signals,
    stdout: &mut (dyn std::io::Write + Send),
) -> anyhow::Result<u8> {
    let Args {
        location,
        sql,
        preset,
        output,
        plot,
        s3_endpoint,
        scenario,
    } = args;
    let title = preset.clone().unwrap_or_else(|| "query".into());
    let sql = match (sql, preset) {
        (Some(s), None) => s,
        (None, Some(p)) => crate::commands::query::preset(&p)?.to_string(),
        _ => {
            let names: Vec<String> = crate::commands::query::PRESETS
                .iter()
                .map(|p| format!("  {:<16} {}", p.0, p.1))
                .collect();
            anyhow::bail!(
                "give the SQL or --preset NAME; presets:\n{}",
                names.join("\n")
            )
        }
    };
    let settings = scenario
        .as_deref()
        .map(crate::config::load)
        .transpose()?
        .map(|s| s.s3);
    let loc = crate::commands::query::ObjectsAt::parse(
        &location,
        s3_endpoint.as_deref(),
        settings.as_ref(),
    )?;
    let files =
        crate::commands::query::table_files(&location, &loc, s3_endpoint.as_deref()).await?;
    let batches = crate::commands::query::query_in(&loc, files.as_deref(), &sql)
        .await
        .with_context(|| format!("querying {location}"))?;
    write!(
        stdout,
        "{}",
        crate::commands::query::render(&batches, output)?
    )?;
    if let Some(path) = plot {
        let svg = crate::commands::query::plot(&batches, &format!("{title}: {location}"))?;
        std::fs::write(&path, svg).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(exit::PASSED)
}
