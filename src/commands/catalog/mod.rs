//! `tickbench catalog`: the Athena table over what the sink lands, for the layout and format
//! actually used: `CREATE EXTERNAL TABLE` with partition projection on the time partitions (no
//! crawler, no `MSCK REPAIR`), and the same table as the Glue `TableInput` that
//! `aws glue create-table --table-input` takes. Both are rendered from one [`Table`].

pub mod command;
pub mod iceberg;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::json;

use crate::config::{GroupBy, Scenario};
use crate::model::format::{Compression, Format};
use crate::model::layout::TimeGranularity;

/// The tick's columns as Hive types, in wire order.
const COLUMNS: [(&str, &str, &str); 7] = [
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
];

/// The partition column of objects grouped by symbol (`symbol=<ticker>/` in their keys).
pub const SYMBOL_PARTITION: &str = "symbol_partition";

/// One partition column and its projection.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionKey {
    /// The column's name in the table.
    pub name: &'static str,
    /// The key segment it is read from (`<segment>=<value>/`): the column's name, but for the
    /// symbol, whose column name the data column already has.
    pub segment: &'static str,
    /// `projection.<name>.*` properties, without the prefix.
    pub projection: Vec<(&'static str, String)>,
}

/// An external table over the landed objects.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub database: String,
    pub name: String,
    /// `s3://bucket/prefix/topic/`
    pub location: String,
    pub format: Format,
    pub compression: Compression,
    pub partitions: Vec<PartitionKey>,
}

/// How the table is named and how far back its date projection reaches.
#[derive(Debug, Clone)]
pub struct Options {
    pub database: String,
    pub table: String,
    /// First day of the `dt` projection, `YYYY-MM-DD`.
    pub since: String,
}

impl Table {
    pub fn of(s: &Scenario, o: &Options) -> Table {
        let topic_prefix = crate::model::layout::topic_prefix(&s.s3.prefix, &s.kafka.topic);
        let mut partitions = vec![PartitionKey {
            name: "dt",
            segment: "dt",
            projection: vec![
                ("type", "date".into()),
                ("format", "yyyy-MM-dd".into()),
                ("range", format!("{},NOW", o.since)),
                ("interval", "1".into()),
                ("interval.unit", "DAYS".into()),
            ],
        }];
        let int = |name, max: u32| PartitionKey {
            name,
            segment: name,
            projection: vec![
                ("type", "integer".into()),
                ("range", format!("0,{max}")),
                ("digits", "2".into()),
            ],
        };
        if s.sink.time_partition != TimeGranularity::Day {
            partitions.push(int("hour", 23));
        }
        if s.sink.time_partition == TimeGranularity::Minute {
            partitions.push(int("minute", 59));
        }
        if s.sink.group_by == GroupBy::Symbol {
            // Thousands of tickers make an enum unwieldy: queries name the symbol instead. Athena
            // and Glue refuse a partition key named like a column, and the objects keep their
            // `symbol` column (CSV is read by position, so it cannot be left out): the key
            // segment `symbol=` is read into a column of its own name, through the template.
            partitions.push(PartitionKey {
                name: SYMBOL_PARTITION,
                segment: "symbol",
                projection: vec![("type", "injected".into())],
            });
        }
        let enc = s.sink.encoding();
        Table {
            database: o.database.clone(),
            name: o.table.clone(),
            location: format!("s3://{}/{topic_prefix}", s.s3.bucket_name()),
            format: enc.format,
            compression: enc.compression,
            partitions,
        }
    }

    /// Where Athena finds a partition's objects: the key layout with `${column}` for each value.
    pub fn location_template(&self) -> String {
        let mut t = self.location.clone();
        for p in &self.partitions {
            let _ = write!(t, "{}=${{{}}}/", p.segment, p.name);
        }
        t
    }

    /// The table properties: the format's, then partition projection.
    pub fn properties(&self) -> BTreeMap<String, String> {
        let mut p = BTreeMap::new();
        p.insert(
            "classification".to_string(),
            match self.format {
                Format::Jsonl => "json",
                Format::Csv => "csv",
                Format::Parquet | Format::Iceberg => "parquet",
            }
            .to_string(),
        );
        if self.format == Format::Csv {
            p.insert("skip.header.line.count".into(), "1".into());
        }
        p.insert("projection.enabled".into(), "true".into());
        for k in &self.partitions {
            for (prop, v) in &k.projection {
                p.insert(format!("projection.{}.{prop}", k.name), v.clone());
            }
        }
        p.insert("storage.location.template".into(), self.location_template());
        p
    }

    fn serde(&self) -> (&'static str, BTreeMap<&'static str, &'static str>) {
        match self.format {
            Format::Jsonl => ("org.openx.data.jsonserde.JsonSerDe", BTreeMap::new()),
            Format::Csv => (
                "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe",
                [("field.delim", ","), ("serialization.format", ",")]
                    .into_iter()
                    .collect(),
            ),
            Format::Parquet | Format::Iceberg => (
                "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                [("serialization.format", "1")].into_iter().collect(),
            ),
        }
    }

    fn io_formats(&self) -> (&'static str, &'static str) {
        match self.format {
            Format::Parquet | Format::Iceberg => (
                "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            ),
            _ => (
                "org.apache.hadoop.mapred.TextInputFormat",
                "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat",
            ),
        }
    }

    /// Athena's `CREATE EXTERNAL TABLE`.
    pub fn ddl(&self) -> String {
        let mut out = String::new();
        if !self.format.is_parquet() && self.compression == Compression::Snappy {
            out.push_str("-- Note: Athena reads Snappy text only in Hadoop's framing; prefer gzip or zstd for text objects.\n");
        }
        let _ = writeln!(
            out,
            "CREATE EXTERNAL TABLE IF NOT EXISTS `{}`.`{}` (",
            self.database, self.name
        );
        let cols: Vec<String> = COLUMNS
            .iter()
            .map(|(n, t, c)| format!("  `{n}` {t} COMMENT '{c}'"))
            .collect();
        let _ = writeln!(out, "{}\n)", cols.join(",\n"));
        let parts: Vec<String> = self
            .partitions
            .iter()
            .map(|p| format!("`{}` string", p.name))
            .collect();
        let _ = writeln!(out, "PARTITIONED BY ({})", parts.join(", "));
        let (serde, params) = self.serde();
        let (input, output) = self.io_formats();
        let _ = writeln!(out, "ROW FORMAT SERDE '{serde}'");
        if !params.is_empty() {
            let p: Vec<String> = params
                .iter()
                .map(|(k, v)| format!("'{k}' = '{v}'"))
                .collect();
            let _ = writeln!(out, "WITH SERDEPROPERTIES ({})", p.join(", "));
        }
        let _ = writeln!(out, "STORED AS INPUTFORMAT '{input}'");
        let _ = writeln!(out, "OUTPUTFORMAT '{output}'");
        let _ = writeln!(out, "LOCATION '{}'", self.location);
        let props: Vec<String> = self
            .properties()
            .iter()
            .map(|(k, v)| format!("  '{k}' = '{v}'"))
            .collect();
        let _ = writeln!(out, "TBLPROPERTIES (\n{}\n);", props.join(",\n"));
        out
    }

    /// Glue's `TableInput` (`aws glue create-table --database-name <db> --table-input file://...`).
    pub fn table_input(&self) -> serde_json::Value {
        let (serde, params) = self.serde();
        let (input, output) = self.io_formats();
        let mut parameters = self.properties();
        parameters.insert("EXTERNAL".into(), "TRUE".into());
        json!({
            "Name": self.name,
            "Description": "Market ticks landed by tickbench",
            "TableType": "EXTERNAL_TABLE",
            "Parameters": parameters,
            "PartitionKeys": self.partitions.iter().map(|p| json!({"Name": p.name, "Type": "string"})).collect::<Vec<_>>(),
            "StorageDescriptor": {
                "Columns": COLUMNS.iter().map(|(n, t, c)| json!({"Name": n, "Type": t, "Comment": c})).collect::<Vec<_>>(),
                "Location": self.location,
                "InputFormat": input,
                "OutputFormat": output,
                "Compressed": self.compression != Compression::None,
                "SerdeInfo": {
                    "SerializationLibrary": serde,
                    "Parameters": params,
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::layout::{object_key, TimeBucket};

    fn scenario(sink: &str) -> Scenario {
        let text = format!(
            "name = \"c\"\nseed = 1\nduration = \"1s\"\n[symbols]\ncount = 1\n[rate]\nticks_per_second = 1\n[kafka]\ntopic = \"ticks\"\n[s3]\nbucket = \"lake\"\nprefix = \"raw/market\"\n[sink]\n{sink}\n"
        );
        crate::config::parse(std::path::Path::new("c.toml"), &text).unwrap()
    }

    fn options() -> Options {
        Options {
            database: "markets".into(),
            table: "ticks".into(),
            since: "2026-11-01".into(),
        }
    }

    /// Fills the template with a partition's values, as Athena does.
    fn fill(template: &str, values: &[(&str, &str)]) -> String {
        let mut t = template.to_string();
        for (k, v) in values {
            t = t.replace(&format!("${{{k}}}"), v);
        }
        t
    }

    #[test]
    fn the_location_template_matches_the_keys_the_sink_writes() {
        // 2026-11-22 20:07 UTC
        let ts = 1_795_378_020_000_000_000u64;
        for (sink, gran, symbol, values) in [
            (
                "",
                TimeGranularity::Hour,
                None,
                vec![("dt", "2026-11-22"), ("hour", "20")],
            ),
            (
                "time_partition = \"minute\"\ngroup_by = \"symbol\"",
                TimeGranularity::Minute,
                Some("BRK.B"),
                vec![
                    ("dt", "2026-11-22"),
                    ("hour", "20"),
                    ("minute", "07"),
                    ("symbol_partition", "BRK.B"),
                ],
            ),
            (
                "time_partition = \"day\"\nformat = \"parquet\"",
                TimeGranularity::Day,
                None,
                vec![("dt", "2026-11-22")],
            ),
        ] {
            let s = scenario(sink);
            let t = Table::of(&s, &options());
            let key = object_key(
                &s.s3.prefix,
                &s.kafka.topic,
                TimeBucket::of_ns(gran, ts),
                symbol,
                3,
                42,
                &s.sink.encoding().extension(),
            );
            let dir = fill(&t.location_template(), &values);
            assert_eq!(
                format!("s3://lake/{key}").rsplit_once('/').unwrap().0,
                dir.trim_end_matches('/'),
                "{sink}"
            );
            assert!(dir.starts_with("s3://lake/raw/market/ticks/"));
        }
    }

    #[test]
    fn the_ddl_carries_what_athena_needs() {
        let ddl = Table::of(&scenario("compression = \"gzip\""), &options()).ddl();
        for want in [
            "CREATE EXTERNAL TABLE IF NOT EXISTS `markets`.`ticks` (",
            "`ts_ns` bigint",
            "PARTITIONED BY (`dt` string, `hour` string)",
            "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'",
            "LOCATION 's3://lake/raw/market/ticks/'",
            "'projection.enabled' = 'true'",
            "'projection.dt.type' = 'date'",
            "'projection.dt.range' = '2026-11-01,NOW'",
            "'projection.dt.format' = 'yyyy-MM-dd'",
            "'projection.hour.digits' = '2'",
            "'storage.location.template' = 's3://lake/raw/market/ticks/dt=${dt}/hour=${hour}/'",
        ] {
            assert!(ddl.contains(want), "{want}\n{ddl}");
        }
        let csv = Table::of(&scenario("format = \"csv\""), &options()).ddl();
        assert!(csv.contains("'skip.header.line.count' = '1'"), "{csv}");
        assert!(csv.contains("'field.delim' = ','"), "{csv}");
        let pq = Table::of(&scenario("format = \"parquet\""), &options()).ddl();
        assert!(pq.contains("MapredParquetInputFormat"), "{pq}");
        let by_symbol = Table::of(&scenario("group_by = \"symbol\""), &options()).ddl();
        for want in [
            "`symbol` string COMMENT",
            "PARTITIONED BY (`dt` string, `hour` string, `symbol_partition` string)",
            "'projection.symbol_partition.type' = 'injected'",
            "'storage.location.template' = 's3://lake/raw/market/ticks/dt=${dt}/hour=${hour}/symbol=${symbol_partition}/'",
        ] {
            assert!(by_symbol.contains(want), "{want}\n{by_symbol}");
        }
        assert!(pq.contains("'classification' = 'parquet'"), "{pq}");
    }

    #[test]
    fn the_table_input_is_what_glue_create_table_takes() {
        let s = scenario("time_partition = \"minute\"\ngroup_by = \"symbol\"");
        let t = Table::of(&s, &options());
        let v = t.table_input();
        assert_eq!(v["TableType"], "EXTERNAL_TABLE");
        assert_eq!(v["Parameters"]["EXTERNAL"], "TRUE");
        let keys: Vec<&str> = v["PartitionKeys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["Name"].as_str().unwrap())
            .collect();
        assert_eq!(keys, ["dt", "hour", "minute", "symbol_partition"]);
        // Every partition key is projected and appears in the location template, read from the
        // key segment the sink writes.
        let template = v["Parameters"]["storage.location.template"]
            .as_str()
            .unwrap();
        for (k, segment) in keys.iter().zip(["dt", "hour", "minute", "symbol"]) {
            assert!(
                v["Parameters"][format!("projection.{k}.type")].is_string(),
                "{k}"
            );
            assert!(template.contains(&format!("{segment}=${{{k}}}")), "{k}");
        }
        assert_eq!(
            v["Parameters"]["projection.symbol_partition.type"],
            "injected"
        );
        let cols: Vec<&str> = v["StorageDescriptor"]["Columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["Name"].as_str().unwrap())
            .collect();
        assert_eq!(cols.len(), 7);
        // Glue and Athena refuse a partition key named like a column.
        assert!(keys.iter().all(|k| !cols.contains(k)), "{keys:?} {cols:?}");
        assert_eq!(
            v["StorageDescriptor"]["Location"],
            "s3://lake/raw/market/ticks/"
        );
        assert_eq!(
            v["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"],
            "org.openx.data.jsonserde.JsonSerDe"
        );
        // Only the members TableInput has: create-table rejects unknown ones.
        let allowed = [
            "Name",
            "Description",
            "TableType",
            "Parameters",
            "PartitionKeys",
            "StorageDescriptor",
        ];
        for k in v.as_object().unwrap().keys() {
            assert!(allowed.contains(&k.as_str()), "{k}");
        }
    }
}
