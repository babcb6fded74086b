//! `tickbench catalog`: the Athena table (or Glue TableInput) over the landed objects.

use super::exit;
use std::path::PathBuf;

use super::Signals;
use crate::config;
use crate::results::RunDir;

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
    let Args {
        source,
        database,
        table,
        since,
        glue,
    } = args;
    let run_dir = source.is_dir().then(|| source.clone());
    let s = match &run_dir {
        Some(d) => RunDir::open(d).scenario()?,
        None => config::load(&source)?,
    };
    let since = match (since, &run_dir) {
        (Some(d), _) => d,
        (None, Some(d)) => {
            let m = RunDir::open(d).manifest()?;
            m.started_at.get(..10).unwrap_or("2020-01-01").to_string()
        }
        (None, None) => (chrono::Utc::now() - chrono::Duration::days(30))
            .format("%Y-%m-%d")
            .to_string(),
    };
    anyhow::ensure!(
        chrono::NaiveDate::parse_from_str(&since, "%Y-%m-%d").is_ok(),
        "--since {since:?}: a date YYYY-MM-DD"
    );
    for (what, v) in [("--database", &database), ("--table", &table)] {
        anyhow::ensure!(
            !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "{what} {v:?}: Athena names are letters, digits and _"
        );
    }
    if s.sink.format == crate::model::format::Format::Iceberg {
        return iceberg(&s, run_dir.as_deref(), &database, &table, glue, stdout).await;
    }
    let t = crate::commands::catalog::Table::of(
        &s,
        &crate::commands::catalog::Options {
            database,
            table,
            since,
        },
    );
    let json = serde_json::to_string_pretty(&t.table_input())?;
    if let Some(d) = run_dir {
        let dir = d.join("catalog");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("athena.sql"), t.ddl())?;
        std::fs::write(dir.join("glue-table-input.json"), &json)?;
        eprintln!(
            "wrote {0}/athena.sql and {0}/glue-table-input.json",
            dir.display()
        );
    }
    if glue {
        writeln!(stdout, "{json}")?;
    } else {
        write!(stdout, "{}", t.ddl())?;
    }
    Ok(exit::PASSED)
}

/// The Iceberg forms: Athena's DDL for a table of the same shape, and (from a run's folder, whose
/// table is opened for its current metadata file) Glue's registration of the table itself.
async fn iceberg(
    s: &config::Scenario,
    run_dir: Option<&std::path::Path>,
    database: &str,
    table: &str,
    glue: bool,
    stdout: &mut (dyn std::io::Write + Send),
) -> anyhow::Result<u8> {
    use crate::commands::iceberg_catalog::IcebergTable;
    use crate::io::iceberg::{Lake, TableSpec};
    let bucket = s.s3.bucket_name().to_string();
    let t = match run_dir {
        Some(d) => {
            let store = crate::commands::store::RunStore::open(d, None).await?;
            let lake = Lake::open(&TableSpec::of(s, &bucket, d), store.client.clone()).await;
            let locations = match lake {
                Ok(l) => l.locations().await,
                Err(e) => Err(e),
            };
            store.close().await;
            let (location, metadata) = locations?;
            IcebergTable::of(s, location, metadata, database, table)
        }
        None => {
            let spec = TableSpec::of(s, &bucket, std::path::Path::new("."));
            let location = format!("{}/{}/{}", spec.warehouse, spec.namespace, spec.table);
            IcebergTable::of(s, location, None, database, table)
        }
    };
    if let Some(d) = run_dir {
        let dir = d.join("catalog");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("athena.sql"), t.ddl())?;
        std::fs::write(
            dir.join("glue-table-input.json"),
            serde_json::to_string_pretty(&t.table_input()?)?,
        )?;
        eprintln!(
            "wrote {0}/athena.sql and {0}/glue-table-input.json",
            dir.display()
        );
    }
    if glue {
        writeln!(
            stdout,
            "{}",
            serde_json::to_string_pretty(&t.table_input()?)?
        )?;
    } else {
        write!(stdout, "{}", t.ddl())?;
    }
    Ok(exit::PASSED)
}
