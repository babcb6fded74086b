//! The Iceberg table a sink lands into: its schema (the tick's columns with field ids, and `ts`,
//! the event time as a timestamp), its partition spec (day or hour of `ts`, and `symbol` when
//! batches are grouped by symbol), its data files' names, and the Kafka offsets each snapshot
//! records. Pure code over iceberg-rust's spec types; the catalog and storage are in `io`.

use std::collections::BTreeMap;

use iceberg::spec::{
    DataContentType, DataFile, DataFileBuilder, DataFileFormat, Literal, NestedField,
    PrimitiveType, Schema, Struct, TableMetadata, Transform, Type, UnboundPartitionSpec,
};

use crate::model::layout::TimeGranularity;
use crate::model::layout::{escape_segment, TimeBucket};

/// The snapshot summary property that holds, per Kafka partition, the next offset the table
/// covers: `tickbench.offsets.<topic>` = `{"0":1234,"1":987}`. Each snapshot records the
/// partitions it committed (several sinks of a group commit to one table, each for its own).
pub fn offsets_property(topic: &str) -> String {
    format!("tickbench.offsets.{topic}")
}

/// Field id of `ts` (the tick's seven columns are 1 to 7, in their wire order).
pub const TS_FIELD: i32 = 8;
const SYMBOL_FIELD: i32 = 1;

/// The table's schema, matching `format::parquet::iceberg_schema`.
pub fn schema() -> Schema {
    let f = |id, name: &str, t| NestedField::required(id, name, Type::Primitive(t)).into();
    Schema::builder()
        .with_fields(vec![
            f(1, "symbol", PrimitiveType::String),
            f(2, "seq", PrimitiveType::Long),
            f(3, "ts_ns", PrimitiveType::Long),
            f(4, "price", PrimitiveType::Double),
            f(5, "bid", PrimitiveType::Double),
            f(6, "ask", PrimitiveType::Double),
            f(7, "size", PrimitiveType::Long),
            f(TS_FIELD, "ts", PrimitiveType::Timestamptz),
        ])
        .build()
        .expect("the tick schema is a valid Iceberg schema")
}

/// Day or hour of `ts` (Iceberg has no minute transform), then `symbol` when `by_symbol`.
pub fn partition_spec(granularity: TimeGranularity, by_symbol: bool) -> UnboundPartitionSpec {
    let (name, transform) = time_field(granularity);
    let mut b = UnboundPartitionSpec::builder()
        .add_partition_field(TS_FIELD, name, transform)
        .expect("a transform of a timestamp");
    if by_symbol {
        b = b
            .add_partition_field(SYMBOL_FIELD, "symbol", Transform::Identity)
            .expect("identity of a string");
    }
    b.build()
}

fn time_field(granularity: TimeGranularity) -> (&'static str, Transform) {
    match granularity {
        TimeGranularity::Day => ("ts_day", Transform::Day),
        // Validation refuses minute for Iceberg.
        TimeGranularity::Hour | TimeGranularity::Minute => ("ts_hour", Transform::Hour),
    }
}

/// The partition tuple of a batch: its time bucket is already the transform's value (days or
/// hours since the epoch), and its symbol the identity.
pub fn partition_of(time: TimeBucket, symbol: Option<&str>) -> Struct {
    let mut values = vec![Some(Literal::int(time.index as i32))];
    if let Some(s) = symbol {
        values.push(Some(Literal::string(s)));
    }
    values.into_iter().collect()
}

/// `ts_hour=2026-12-01-13[/symbol=SYM]`: the partition directory, as Iceberg's writers name it.
pub fn partition_path(time: TimeBucket, symbol: Option<&str>) -> String {
    let secs = (time.index * granularity_secs(time.granularity)) as i64;
    let t = chrono::DateTime::<chrono::Utc>::from_timestamp(secs, 0).unwrap_or_default();
    let mut path = match time.granularity {
        TimeGranularity::Day => format!("ts_day={}", t.format("%Y-%m-%d")),
        _ => format!("ts_hour={}", t.format("%Y-%m-%d-%H")),
    };
    if let Some(s) = symbol {
        path.push_str(&format!("/symbol={}", escape_segment(s)));
    }
    path
}

fn granularity_secs(g: TimeGranularity) -> u64 {
    match g {
        TimeGranularity::Day => 86_400,
        TimeGranularity::Hour => 3_600,
        TimeGranularity::Minute => 60,
    }
}

/// `<table key>/data/<partition>/<topic>+<partition>+<first offset>-<writer>-<n>.<ext>`. The
/// topic, partition and first offset come first, as in plain objects' names (the audit tells a
/// run's files by them); the writer's id and count make each name unique: a data file is never
/// overwritten, since a snapshot may already list it.
#[allow(clippy::too_many_arguments)]
pub fn data_key(
    table_key: &str,
    time: TimeBucket,
    symbol: Option<&str>,
    topic: &str,
    partition: i32,
    first_offset: i64,
    writer: &str,
    ext: &str,
) -> String {
    format!(
        "{}/data/{}/{topic}+{partition}+{first_offset:020}-{writer}.{ext}",
        table_key.trim_end_matches('/'),
        partition_path(time, symbol)
    )
}

/// A data file the sink wrote, for a snapshot.
pub fn data_file(
    path: String,
    records: u64,
    bytes: u64,
    partition: Struct,
    spec_id: i32,
) -> DataFile {
    DataFileBuilder::default()
        .content(DataContentType::Data)
        .file_path(path)
        .file_format(DataFileFormat::Parquet)
        .partition(partition)
        .partition_spec_id(spec_id)
        .record_count(records)
        .file_size_in_bytes(bytes)
        .build()
        .expect("every required field is set")
}

/// Per Kafka partition of `topic`, the next offset the table's current snapshot covers: from the
/// newest snapshot (walking back through parents) that recorded it.
pub fn floors(metadata: &TableMetadata, topic: &str) -> BTreeMap<i32, i64> {
    let key = offsets_property(topic);
    let mut out = BTreeMap::new();
    let mut at = metadata.current_snapshot().cloned();
    while let Some(s) = at {
        if let Some(v) = s.summary().additional_properties.get(&key) {
            for (p, o) in parse_offsets(v) {
                out.entry(p).or_insert(o);
            }
        }
        at = s
            .parent_snapshot_id()
            .and_then(|id| metadata.snapshot_by_id(id).cloned());
    }
    out
}

/// `{"0":1234}` as partitions and offsets; anything else as nothing (another writer's value).
pub fn parse_offsets(v: &str) -> BTreeMap<i32, i64> {
    serde_json::from_str::<BTreeMap<String, i64>>(v)
        .map(|m| {
            m.into_iter()
                .filter_map(|(p, o)| Some((p.parse().ok()?, o)))
                .collect()
        })
        .unwrap_or_default()
}

pub fn format_offsets(floors: &BTreeMap<i32, i64>) -> String {
    let m: BTreeMap<String, i64> = floors.iter().map(|(p, o)| (p.to_string(), *o)).collect();
    serde_json::to_string(&m).expect("a map of numbers")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_partitions_follow_icebergs_conventions() {
        let hour = TimeBucket::of_ns(TimeGranularity::Hour, 1_764_594_000_000_000_000);
        assert_eq!(partition_path(hour, None), "ts_hour=2025-12-01-13");
        let day = TimeBucket::of_ns(TimeGranularity::Day, 1_764_594_000_000_000_000);
        assert_eq!(
            partition_path(day, Some("BRK/B")),
            "ts_day=2025-12-01/symbol=BRK%2FB"
        );
        let key = data_key(
            "wh/ns/t",
            hour,
            None,
            "ticks",
            3,
            42,
            "ab12-7",
            "snappy.parquet",
        );
        assert_eq!(
            key,
            "wh/ns/t/data/ts_hour=2025-12-01-13/ticks+3+00000000000000000042-ab12-7.snappy.parquet"
        );
        assert_eq!(
            crate::model::layout::parse_object_name(&key),
            Some(("ticks".to_string(), 3, 42))
        );
        assert_eq!(
            partition_of(hour, None).fields(),
            &[Some(Literal::int(490_165))]
        );
    }

    #[test]
    fn offsets_round_trip_and_foreign_values_are_ignored() {
        let m = BTreeMap::from([(0, 10), (11, 7)]);
        assert_eq!(parse_offsets(&format_offsets(&m)), m);
        assert!(parse_offsets("not json").is_empty());
    }
}
