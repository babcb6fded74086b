//! Object formats: how a batch's records become the bytes of one S3 object. One file per format
//! family; the batcher sees only [`ObjectWriter`], which tells it how big the object is (after
//! encoding and compression) so that the byte trigger measures what actually lands.

mod encoding;
pub mod parquet;
mod read;
mod text;

pub use encoding::{Compression, Encoding, Format};
pub use read::{decode_object, decode_parquet_columns, encoding_of_key};

use crate::model::tick::Tick;

/// Every format and codec pair the sink writes (Parquet uncompressed aside): what the round-trip
/// tests, the fuzz targets and the benches go through.
pub const WRITTEN: [(Format, Compression); 8] = [
    (Format::Jsonl, Compression::None),
    (Format::Jsonl, Compression::Gzip),
    (Format::Jsonl, Compression::Zstd),
    (Format::Csv, Compression::None),
    (Format::Csv, Compression::Gzip),
    (Format::Csv, Compression::Zstd),
    (Format::Parquet, Compression::Snappy),
    (Format::Parquet, Compression::Zstd),
];

/// A writer for one object in this encoding. (Content-Encoding is left unset: the objects are
/// files of their type, a `.gz` is a gzip file to Athena and to `aws s3 cp`, not transfer-encoded
/// text that HTTP clients would inflate.)
pub fn writer(enc: &Encoding) -> Box<dyn ObjectWriter> {
    match enc.format {
        Format::Parquet | Format::Iceberg => Box::new(parquet::ParquetWriter::new(enc)),
        f => Box::new(text::TextWriter::new(f, enc.compression)),
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
