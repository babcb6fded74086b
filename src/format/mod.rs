//! Object formats: how a batch's records become the bytes of one S3 object. One file per format
//! family; the batcher sees only [`ObjectWriter`], which tells it how big the object is (after
//! encoding and compression) so that the byte trigger measures what actually lands.

pub mod parquet;
mod read;
mod text;

pub use read::{decode_object, encoding_of_key};

use serde::{Deserialize, Serialize};

use crate::tick::Tick;

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
    pub const NAMES: &'static str = "jsonl, csv, parquet";

    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }

    /// Compression when the scenario names none: none for text, snappy for Parquet (as Spark
    /// and Glue write it).
    pub fn default_compression(self) -> Compression {
        match self {
            Format::Parquet => Compression::Snappy,
            _ => Compression::None,
        }
    }

    /// The compressions this format accepts, for error messages.
    pub fn allowed_compressions(self) -> &'static [Compression] {
        match self {
            Format::Parquet => &[Compression::None, Compression::Snappy, Compression::Zstd],
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
            (Format::Parquet, Compression::None) => "parquet".into(),
            (Format::Parquet, c) => format!("{}.parquet", c.name()),
            (f, Compression::None) => f.name().into(),
            (f, Compression::Gzip) => format!("{}.gz", f.name()),
            (f, Compression::Zstd) => format!("{}.zst", f.name()),
            (f, Compression::Snappy) => format!("{}.snappy", f.name()),
        }
    }

    /// Content-Type of the object.
    pub fn content_type(&self) -> &'static str {
        match (self.format, self.compression) {
            (Format::Parquet, _) => "application/vnd.apache.parquet",
            (_, Compression::Gzip) => "application/gzip",
            (_, Compression::Zstd) => "application/zstd",
            (Format::Jsonl, _) => "application/x-ndjson",
            (Format::Csv, _) => "text/csv",
        }
    }

    /// Content-Encoding, left unset: the objects are files of their type (a `.gz` is a gzip file
    /// to Athena and to `aws s3 cp`), not transfer-encoded text that HTTP clients would inflate.
    pub fn writer(&self) -> Box<dyn ObjectWriter> {
        match self.format {
            Format::Parquet => Box::new(parquet::ParquetWriter::new(self)),
            f => Box::new(text::TextWriter::new(f, self.compression)),
        }
    }
}

/// One object being written.
pub trait ObjectWriter: Send {
    /// Encodes one record into a staging area without adding it, and returns the bytes it would
    /// add to the object: exact for uncompressed text, an estimate otherwise.
    fn stage(&mut self, tick: &Tick, json: &[u8]) -> u64;
    /// Adds the staged record.
    fn commit(&mut self);
    /// The object's size if it were finished now: exact for uncompressed text; for compressed
    /// text and Parquet, the bytes already written plus an estimate of what is still buffered.
    fn size(&self) -> u64;
    /// Whether [`size`](Self::size) is exact.
    fn exact(&self) -> bool;
    /// Takes the next `part` bytes of final output, if that many are ready (streamed uploads).
    fn take_part(&mut self, part: usize) -> Option<Vec<u8>>;
    /// Finishes the object (trailers, footer) and returns the bytes not yet taken.
    fn finish(self: Box<Self>) -> std::io::Result<Vec<u8>>;
}

/// Cuts `part` bytes from the front of `out`, if it holds that many.
fn cut(out: &mut Vec<u8>, part: usize, taken: &mut u64) -> Option<Vec<u8>> {
    if out.len() < part {
        return None;
    }
    let rest = out.split_off(part);
    *taken += part as u64;
    Some(std::mem::replace(out, rest))
}

#[cfg(test)]
mod tests;
