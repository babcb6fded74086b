//! `tickbench catalog` for an Iceberg table: Athena's `CREATE TABLE ... TBLPROPERTIES
//! ('table_type' = 'ICEBERG')` (a new, empty table of the same schema and partitioning at a
//! location of your choice), and the Glue registration of the table tickbench committed (a
//! `TableInput` whose `metadata_location` is the table's current metadata file, as PyIceberg's
//! and Iceberg's own Glue catalogs write it), after which Athena reads the existing snapshots.

use std::fmt::Write as _;

use serde_json::json;

use crate::config::{GroupBy, Scenario};
use crate::model::layout::TimeGranularity;

/// The table's columns as Athena names them, with the Iceberg field they are.
const COLUMNS: [(&str, &str, &str); 8] = [
    ("symbol", "string", "ticker, also the Kafka record key"),
    ("seq", "bigint", "per-symbol sequence number from 0"),
    (
        "ts_ns",
        "bigint",
        "intended send time, ns since the Unix epoch",
    ),
    ("price", "double", "last trade price"),
    ("bid", "double", "best bid"),
    ("ask", "double", "best ask"),
    ("size", "bigint", "traded volume"),
    (
        "ts",
        "timestamp",
        "ts_ns as a timestamp (UTC, microseconds), the source of the partitions",
    ),
];

/// The Iceberg table of a scenario in table mode.
#[derive(Debug, Clone, PartialEq)]
pub struct IcebergTable {
    pub database: String,
    pub name: String,
    /// `s3://bucket/prefix/warehouse/<namespace>/<table>`
    pub location: String,
    /// The current metadata file, when the table exists (a run's folder): what Glue registers.
    pub metadata_location: Option<String>,
    pub compression: &'static str,
    /// Athena's partition transforms: `hour(ts)` or `day(ts)`, then `symbol`.
    pub partitioning: Vec<String>,
}

impl IcebergTable {
    pub fn of(
        s: &Scenario,
        location: String,
        metadata_location: Option<String>,
        database: &str,
        name: &str,
    ) -> IcebergTable {
        let mut partitioning = vec![match s.sink.time_partition {
            TimeGranularity::Day => "day(ts)".to_string(),
            _ => "hour(ts)".to_string(),
        }];
        if s.sink.group_by == GroupBy::Symbol {
            partitioning.push("symbol".into());
        }
        IcebergTable {
            database: database.to_string(),
            name: name.to_string(),
            location,
            metadata_location,
            compression: s.sink.encoding().compression.name(),
            partitioning,
        }
    }

    /// Athena's DDL for an Iceberg table of this schema and partitioning. Athena writes its own
    /// metadata at the location: give it one of its own, or register tickbench's table instead.
    pub fn ddl(&self) -> String {
        let mut out = String::new();
        out.push_str(
            "-- A new Iceberg table of the same schema and partitioning, managed by Athena.\n",
        );
        out.push_str("-- To query the table tickbench committed, register it in Glue instead:\n");
        out.push_str("-- `tickbench catalog <run folder> --glue` prints the TableInput.\n");
        let _ = writeln!(
            out,
            "CREATE TABLE IF NOT EXISTS `{}`.`{}` (",
            self.database, self.name
        );
        let cols: Vec<String> = COLUMNS
            .iter()
            .map(|(n, t, c)| format!("  `{n}` {t} COMMENT '{c}'"))
            .collect();
        let _ = writeln!(out, "{}\n)", cols.join(",\n"));
        let _ = writeln!(out, "PARTITIONED BY ({})", self.partitioning.join(", "));
        let _ = writeln!(out, "LOCATION '{}'", self.location);
        let _ = writeln!(
            out,
            "TBLPROPERTIES (\n  'table_type' = 'ICEBERG',\n  'format' = 'parquet',\n  'write_compression' = '{}'\n);",
            self.compression
        );
        out
    }

    /// Glue's `TableInput` registering the existing table (`aws glue create-table
    /// --database-name <db> --table-input file://...`).
    pub fn table_input(&self) -> anyhow::Result<serde_json::Value> {
        let Some(metadata) = &self.metadata_location else {
            anyhow::bail!(
                "the Glue registration names the table's current metadata file: give a run's folder, not a scenario"
            );
        };
        Ok(json!({
            "Name": self.name,
            "Description": "Market ticks landed by tickbench (Iceberg)",
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {
                "table_type": "ICEBERG",
                "metadata_location": metadata,
            },
            "StorageDescriptor": {
                "Columns": COLUMNS.iter().map(|(n, t, c)| json!({"Name": n, "Type": t, "Comment": c})).collect::<Vec<_>>(),
                "Location": self.location,
            },
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn athenas_ddl_and_glues_registration_name_the_tables_partitioning_and_metadata() {
        let text = "name = \"c\"\nseed = 1\nduration = \"1s\"\n[symbols]\ncount = 1\n[rate]\nticks_per_second = 1\n[kafka]\ntopic = \"ticks\"\n[sink]\nformat = \"iceberg\"\ngroup_by = \"symbol\"\ntime_partition = \"day\"\ncompression = \"zstd\"\n";
        let s = crate::config::parse(std::path::Path::new("c.toml"), text).unwrap();
        let loc = "s3://lake/tickbench/warehouse/tickbench/ticks".to_string();
        let t = IcebergTable::of(&s, loc.clone(), None, "tickbench", "ticks");
        let ddl = t.ddl();
        assert!(ddl.contains("PARTITIONED BY (day(ts), symbol)"), "{ddl}");
        assert!(ddl.contains("'table_type' = 'ICEBERG'"), "{ddl}");
        assert!(ddl.contains("'write_compression' = 'zstd'"), "{ddl}");
        assert!(ddl.contains(&format!("LOCATION '{loc}'")), "{ddl}");
        assert!(t.table_input().is_err(), "no metadata file without a table");
        let meta = format!("{loc}/metadata/00003-x.metadata.json");
        let t = IcebergTable::of(&s, loc, Some(meta.clone()), "tickbench", "ticks");
        let input = t.table_input().unwrap();
        assert_eq!(input["Parameters"]["table_type"], "ICEBERG");
        assert_eq!(input["Parameters"]["metadata_location"], meta.as_str());
        assert_eq!(input["StorageDescriptor"]["Columns"][7]["Name"], "ts");
    }
}
