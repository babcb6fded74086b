//! `tickbench catalog` as a request and its result: the scenario of a run folder or a file, the
//! date the projection starts, and the table's two forms (Athena's DDL, Glue's TableInput), which
//! a run folder also keeps in its `catalog/` folder.

use std::path::{Path, PathBuf};

use super::iceberg::IcebergTable;
use crate::config::{self, Scenario};
use crate::io::iceberg::{Lake, TableSpec};
use crate::model::format::Format;
use crate::results::RunDir;

/// Which table to describe.
#[derive(Debug, Clone)]
pub struct Request {
    /// A run's results folder, or a scenario file.
    pub source: PathBuf,
    /// Glue database (Athena schema) of the table.
    pub database: String,
    pub table: String,
    /// First day of the date projection, YYYY-MM-DD (default: the run's start day; for a
    /// scenario, 30 days ago).
    pub since: Option<String>,
}

/// The table in both forms.
#[derive(Debug, Clone, PartialEq)]
pub struct Forms {
    /// Athena's CREATE TABLE.
    pub ddl: String,
    /// Glue's TableInput, as `aws glue create-table --table-input` takes it.
    pub table_input: serde_json::Value,
    /// The run folder's `catalog/`, where both were written too.
    pub written_to: Option<PathBuf>,
}

/// Describes the table over what `req.source` landed (or will land).
pub async fn describe(req: &Request) -> anyhow::Result<Forms> {
    let run_dir = req.source.is_dir().then(|| req.source.clone());
    let s = match &run_dir {
        Some(d) => RunDir::open(d).scenario()?,
        None => config::load(&req.source)?,
    };
    let since = match (&req.since, &run_dir) {
        (Some(d), _) => d.clone(),
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
    for (what, v) in [("--database", &req.database), ("--table", &req.table)] {
        anyhow::ensure!(
            !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "{what} {v:?}: Athena names are letters, digits and _"
        );
    }
    let (ddl, table_input) = if s.sink.format == Format::Iceberg {
        let t = iceberg(&s, run_dir.as_deref(), &req.database, &req.table).await?;
        (t.ddl(), t.table_input()?)
    } else {
        let t = super::Table::of(
            &s,
            &super::Options {
                database: req.database.clone(),
                table: req.table.clone(),
                since,
            },
        );
        (t.ddl(), t.table_input())
    };
    let written_to = match run_dir {
        Some(d) => {
            let dir = d.join("catalog");
            std::fs::create_dir_all(&dir)?;
            std::fs::write(dir.join("athena.sql"), &ddl)?;
            std::fs::write(
                dir.join("glue-table-input.json"),
                serde_json::to_string_pretty(&table_input)?,
            )?;
            Some(dir)
        }
        None => None,
    };
    Ok(Forms {
        ddl,
        table_input,
        written_to,
    })
}

/// The Iceberg forms: Athena's DDL for a table of the same shape, and (from a run's folder, whose
/// table is opened for its current metadata file) Glue's registration of the table itself.
async fn iceberg(
    s: &Scenario,
    run_dir: Option<&Path>,
    database: &str,
    table: &str,
) -> anyhow::Result<IcebergTable> {
    let bucket = s.s3.bucket_name().to_string();
    Ok(match run_dir {
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
            let spec = TableSpec::of(s, &bucket, Path::new("."));
            let location = format!("{}/{}/{}", spec.warehouse, spec.namespace, spec.table);
            IcebergTable::of(s, location, None, database, table)
        }
    })
}
