//! What the sink writes: the object format, its compression, and the two together as an encoding.

use serde::{Deserialize, Serialize};

/// How records are written into an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One JSON object a line (Athena's JSON SerDe, `jq`, DuckDB read it).
    #[default]
    Jsonl,
    /// Comma-separated with a header row.
    Csv,
    /// Apache Parquet with typed columns.
    Parquet,
    /// Parquet data files committed to an Apache Iceberg table (`[sink.iceberg]`).
    Iceberg,
}

/// Compression of the object (for Parquet: of its column chunks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    Snappy,
}

impl Format {
    pub const NAMES: &'static str = "jsonl, csv, parquet, iceberg";

    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::Parquet => "parquet",
            Format::Iceberg => "iceberg",
        }
    }

    /// Whether objects are Parquet files (plain, or an Iceberg table's data files).
    pub fn is_parquet(self) -> bool {
        matches!(self, Format::Parquet | Format::Iceberg)
    }

    /// Compression when the scenario names none: none for text, snappy for Parquet (as Spark
    /// and Glue write it).
    pub fn default_compression(self) -> Compression {
        match self {
            Format::Parquet | Format::Iceberg => Compression::Snappy,
            _ => Compression::None,
        }
    }

    /// The compressions this format accepts, for error messages.
    pub fn allowed_compressions(self) -> &'static [Compression] {
        match self {
            Format::Parquet | Format::Iceberg => {
                &[Compression::None, Compression::Snappy, Compression::Zstd]
            }
            _ => &[Compression::None, Compression::Gzip, Compression::Zstd],
        }
    }
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Snappy => "snappy",
        }
    }
}

/// A format with its compression: what the sink writes, and what it names objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Encoding {
    pub format: Format,
    pub compression: Compression,
    /// Parquet: records per row group (a row group also closes at the part size in bytes).
    pub row_group_records: usize,
    /// Parquet: bytes a row group may buffer before it is written.
    pub row_group_bytes: usize,
}

impl Encoding {
    pub fn new(format: Format, compression: Compression) -> Encoding {
        Encoding {
            format,
            compression,
            row_group_records: 100_000,
            row_group_bytes: 8 << 20,
        }
    }

    /// Object name extension: `jsonl`, `jsonl.gz`, `csv.zst`, `parquet`, `snappy.parquet`...
    /// Parquet names its codec before the extension, as Spark does; text formats after it, as
    /// gzip does, which is what Athena looks at to decompress.
    pub fn extension(&self) -> String {
        match (self.format, self.compression) {
            (Format::Parquet | Format::Iceberg, Compression::None) => "parquet".into(),
            (Format::Parquet | Format::Iceberg, c) => format!("{}.parquet", c.name()),
            (f, Compression::None) => f.name().into(),
            (f, Compression::Gzip) => format!("{}.gz", f.name()),
            (f, Compression::Zstd) => format!("{}.zst", f.name()),
            (f, Compression::Snappy) => format!("{}.snappy", f.name()),
        }
    }

    /// Content-Type of the object.
    pub fn content_type(&self) -> &'static str {
        match (self.format, self.compression) {
            (Format::Parquet | Format::Iceberg, _) => "application/vnd.apache.parquet",
            (_, Compression::Gzip) => "application/gzip",
            (_, Compression::Zstd) => "application/zstd",
            (Format::Jsonl, _) => "application/x-ndjson",
            (Format::Csv, _) => "text/csv",
        }
    }
}
