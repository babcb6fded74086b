//! Reading objects back (the audit, the tests, `tickbench verify`): any format and compression the
//! sink writes, told apart by the object's extension.

use std::io::Read;

use anyhow::{bail, Context};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{Compression, Encoding, Format};
use crate::model::tick::TickField;
use crate::model::tick::{decode_payload, Tick, CSV_HEADER};

/// The encoding an object name's extension stands for, if it is one the sink writes.
pub fn encoding_of_key(key: &str) -> Option<Encoding> {
    let name = key.rsplit('/').next()?;
    let ext = name.split_once('.')?.1;
    let (format, compression) = match ext {
        // `.json`: Kafka Connect's JsonFormat and most sinks write one JSON record a line.
        "jsonl" | "json" => (Format::Jsonl, Compression::None),
        "jsonl.gz" | "json.gz" => (Format::Jsonl, Compression::Gzip),
        "jsonl.zst" => (Format::Jsonl, Compression::Zstd),
        "csv" => (Format::Csv, Compression::None),
        "csv.gz" => (Format::Csv, Compression::Gzip),
        "csv.zst" => (Format::Csv, Compression::Zstd),
        "parquet" => (Format::Parquet, Compression::None),
        "snappy.parquet" => (Format::Parquet, Compression::Snappy),
        "zstd.parquet" => (Format::Parquet, Compression::Zstd),
        _ => return None,
    };
    Some(Encoding::new(format, compression))
}

/// Decodes every record of an object, calling `each` with the tick, or None for a record that is
/// not one. Returns the number of records. Fails only when the object as a whole cannot be read
/// (unknown extension, corrupt compression or Parquet).
pub fn decode_object(
    key: &str,
    bytes: &[u8],
    mut each: impl FnMut(Option<Tick>),
) -> anyhow::Result<u64> {
    let enc = encoding_of_key(key)
        .with_context(|| format!("{key}: not an object name tickbench writes"))?;
    if enc.format == Format::Parquet {
        return decode_parquet(key, bytes, each);
    }
    let plain: std::borrow::Cow<[u8]> = match enc.compression {
        Compression::Gzip => {
            let mut v = Vec::with_capacity(bytes.len() * 4);
            flate2::read::MultiGzDecoder::new(bytes)
                .read_to_end(&mut v)
                .with_context(|| format!("{key}: gzip"))?;
            v.into()
        }
        Compression::Zstd => zstd::decode_all(bytes)
            .with_context(|| format!("{key}: zstd"))?
            .into(),
        _ => bytes.into(),
    };
    // Every record tickbench writes ends with a newline: an object whose last byte is another
    // was cut, and its last record (a CSV row cut inside its last number still parses) must not
    // be read as a whole one.
    if plain.last().is_some_and(|b| *b != b'\n') {
        bail!(
            "{key}: ends inside a record (no newline after the last one): the object was cut short"
        );
    }
    let mut n = 0u64;
    let mut lines = plain.split(|b| *b == b'\n').filter(|l| !l.is_empty());
    if enc.format == Format::Csv {
        match lines.next() {
            Some(h) if h == CSV_HEADER.as_bytes() => {}
            Some(_) => bail!("{key}: the first row is not the header `{CSV_HEADER}`"),
            None => return Ok(0),
        }
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(plain.as_ref());
        for row in rdr.deserialize::<Tick>() {
            n += 1;
            each(row.ok());
        }
        return Ok(n);
    }
    let mut scratch = Vec::new();
    for line in lines {
        n += 1;
        each(decode_payload(line, &mut scratch).ok());
    }
    Ok(n)
}

fn decode_parquet(key: &str, bytes: &[u8], each: impl FnMut(Option<Tick>)) -> anyhow::Result<u64> {
    decode_parquet_columns(key, bytes, TickField::ALL.map(TickField::name), each)
}

/// Parquet ticks whose columns are named `columns` (in the tick's field order): tickbench's own
/// names, or another sink's (`observe.fields`).
pub fn decode_parquet_columns(
    key: &str,
    bytes: &[u8],
    columns: [&str; 7],
    mut each: impl FnMut(Option<Tick>),
) -> anyhow::Result<u64> {
    let [c_symbol, c_seq, c_ts, c_price, c_bid, c_ask, c_size] = columns;
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::copy_from_slice(bytes))
        .and_then(|b| b.build())
        .with_context(|| format!("{key}: Parquet"))?;
    let mut n = 0u64;
    for batch in reader {
        let batch = batch.with_context(|| format!("{key}: Parquet"))?;
        let col = |name: &str| {
            batch
                .column_by_name(name)
                .with_context(|| format!("{key}: no column {name}"))
        };
        // A Parquet file of another schema under the prefix is an error, never a panic.
        let typed = |name: &str| format!("{key}: column {name} is not of the tick schema's type");
        let ints = |name: &str| {
            col(name)?
                .as_primitive_opt::<Int64Type>()
                .with_context(|| typed(name))
        };
        let floats = |name: &str| {
            col(name)?
                .as_primitive_opt::<Float64Type>()
                .with_context(|| typed(name))
        };
        let symbol = col(c_symbol)?
            .as_string_opt::<i32>()
            .with_context(|| typed(c_symbol))?;
        let (seq, ts, size) = (ints(c_seq)?, ints(c_ts)?, ints(c_size)?);
        let (price, bid, ask) = (floats(c_price)?, floats(c_bid)?, floats(c_ask)?);
        for i in 0..batch.num_rows() {
            n += 1;
            each(Some(Tick {
                symbol: symbol.value(i).to_string(),
                seq: seq.value(i) as u64,
                ts_ns: ts.value(i) as u64,
                price: price.value(i),
                bid: bid.value(i),
                ask: ask.value(i),
                size: size.value(i) as u32,
            }));
        }
    }
    Ok(n)
}
