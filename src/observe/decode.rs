//! Reading what another sink wrote. Its objects follow no naming convention of tickbench's, so
//! each is told apart by its content: the compression by its magic bytes (gzip, zstd, framed
//! snappy; raw snappy only by a `.snappy` name), then the container (Parquet and Avro by their
//! magic, a JSON array, JSON records one a line or back to back with nothing between them as
//! Firehose writes them, CSV with a header). Records are mapped to ticks through
//! `observe.record` and `observe.fields`; Kafka Connect's `schema`/`payload` envelope and a
//! `value` or `message` wrapper are found without either.

use std::collections::BTreeMap;
use std::io::Read;

use anyhow::Context;
use serde_json::Value;

use crate::config::Observe;
use crate::model::tick::TickField;
use crate::model::tick::{decode_payload, Tick};

/// How an object's records are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Container {
    JsonLines,
    /// JSON records with no separator (`}{`): Firehose's default.
    JsonConcatenated,
    JsonArray,
    Csv,
    Parquet,
    /// An Avro object container file (Kafka Connect's AvroFormat).
    Avro,
}

/// How an object's bytes are compressed, as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Codec {
    None,
    Gzip,
    Zstd,
    Snappy,
}

/// What one object held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    pub container: Container,
    pub codec: Codec,
    /// Records read, ticks or not.
    pub records: u64,
    /// Of them, ticks.
    pub ticks: u64,
}

impl Decoded {
    /// "json-lines", "avro+gzip"...: how the summary counts objects by what they were.
    pub fn kind(&self) -> String {
        let c = match self.container {
            Container::JsonLines => "json-lines",
            Container::JsonConcatenated => "json-concatenated",
            Container::JsonArray => "json-array",
            Container::Csv => "csv",
            Container::Parquet => "parquet",
            Container::Avro => "avro",
        };
        match self.codec {
            Codec::None => c.to_string(),
            Codec::Gzip => format!("{c}+gzip"),
            Codec::Zstd => format!("{c}+zstd"),
            Codec::Snappy => format!("{c}+snappy"),
        }
    }
}

/// Where a record's tick fields are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// Path to the tick inside each record; empty: found by itself.
    record: Vec<String>,
    /// The name of each tick field, in `TickField::ALL` order.
    names: [String; 7],
    /// Records are ticks as tickbench writes them (no path, no renames): the fast path applies.
    plain: bool,
}

impl Default for Mapping {
    fn default() -> Self {
        Mapping {
            record: Vec::new(),
            names: TickField::ALL.map(|f| f.name().to_string()),
            plain: true,
        }
    }
}

impl Mapping {
    pub fn of(o: &Observe) -> Self {
        let record: Vec<String> = o
            .record
            .split('.')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        let names = TickField::ALL.map(|f| o.fields.get(&f).map_or(f.name(), |s| s).to_string());
        let plain = record.is_empty()
            && TickField::ALL
                .iter()
                .zip(&names)
                .all(|(f, n)| f.name() == n);
        Mapping {
            record,
            names,
            plain,
        }
    }

    fn is_plain(&self) -> bool {
        self.plain
    }

    fn name(&self, f: TickField) -> &str {
        &self.names[f as usize]
    }

    /// The tick a record holds, if it holds one.
    pub fn tick(&self, record: &Value) -> Option<Tick> {
        let v = self.unwrap(record)?;
        // A wrapper whose value is the tick's JSON as a string (a Kafka value kept as text).
        if let Value::String(s) = v {
            let inner: Value = serde_json::from_str(s).ok()?;
            return self.fields(&inner);
        }
        self.fields(v)
    }

    fn unwrap<'v>(&self, record: &'v Value) -> Option<&'v Value> {
        if !self.record.is_empty() {
            return self.record.iter().try_fold(record, |v, k| v.get(k));
        }
        let Value::Object(o) = record else {
            return Some(record);
        };
        if o.contains_key(self.name(TickField::Symbol)) {
            return Some(record);
        }
        if o.contains_key("schema") && o.contains_key("payload") {
            return o.get("payload");
        }
        o.get("value").or_else(|| o.get("message")).or(Some(record))
    }

    fn fields(&self, v: &Value) -> Option<Tick> {
        let get = |f: TickField| v.get(self.name(f));
        let uint = |f: TickField| {
            let x = get(f)?;
            x.as_u64().or_else(|| x.as_str()?.parse().ok())
        };
        let float = |f: TickField| {
            let x = get(f)?;
            x.as_f64().or_else(|| x.as_str()?.parse().ok())
        };
        Some(Tick {
            symbol: get(TickField::Symbol)?.as_str()?.to_string(),
            seq: uint(TickField::Seq)?,
            ts_ns: uint(TickField::TsNs)?,
            price: float(TickField::Price)?,
            bid: float(TickField::Bid)?,
            ask: float(TickField::Ask)?,
            size: u32::try_from(uint(TickField::Size)?).ok()?,
        })
    }
}

/// Decodes one object, calling `each` with every record's tick (None: a record that is not one).
/// Fails only when the object as a whole cannot be read: corrupt compression, a container that
/// is none of those above.
pub fn decode(
    key: &str,
    bytes: &[u8],
    map: &Mapping,
    mut each: impl FnMut(Option<Tick>),
) -> anyhow::Result<Decoded> {
    let (codec, plain) = decompress(key, bytes)?;
    let mut ticks = 0u64;
    let mut counted = |t: Option<Tick>| {
        ticks += t.is_some() as u64;
        each(t)
    };
    let (container, records) = if plain.starts_with(b"PAR1") {
        let names: [&str; 7] = std::array::from_fn(|i| map.names[i].as_str());
        let n = crate::model::format::decode_parquet_columns(key, &plain, names, &mut counted)?;
        (Container::Parquet, n)
    } else if plain.starts_with(b"Obj\x01") {
        (Container::Avro, avro(key, &plain, map, &mut counted)?)
    } else {
        match plain.iter().find(|b| !b.is_ascii_whitespace()) {
            None => (Container::JsonLines, 0),
            Some(b'{') | Some(b'[') => json(&plain, map, &mut counted),
            Some(_) => (Container::Csv, csv(key, &plain, map, &mut counted)?),
        }
    };
    Ok(Decoded {
        container,
        codec,
        records,
        ticks,
    })
}

fn decompress<'b>(
    key: &str,
    bytes: &'b [u8],
) -> anyhow::Result<(Codec, std::borrow::Cow<'b, [u8]>)> {
    const SNAPPY_FRAMED: &[u8] = b"\xff\x06\x00\x00sNaPpY";
    let mut out = Vec::with_capacity(bytes.len() * 4);
    let codec = if bytes.starts_with(&[0x1f, 0x8b]) {
        flate2::read::MultiGzDecoder::new(bytes)
            .read_to_end(&mut out)
            .with_context(|| format!("{key}: gzip"))?;
        Codec::Gzip
    } else if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        out = zstd::decode_all(bytes).with_context(|| format!("{key}: zstd"))?;
        Codec::Zstd
    } else if bytes.starts_with(SNAPPY_FRAMED) {
        snap::read::FrameDecoder::new(bytes)
            .read_to_end(&mut out)
            .with_context(|| format!("{key}: snappy"))?;
        Codec::Snappy
    } else if key.ends_with(".snappy") {
        // Raw snappy has no magic: only the name says so.
        out = snap::raw::Decoder::new()
            .decompress_vec(bytes)
            .with_context(|| format!("{key}: snappy"))?;
        Codec::Snappy
    } else {
        return Ok((Codec::None, bytes.into()));
    };
    Ok((codec, out.into()))
}

/// JSON values one after another, with or without whitespace between them, or in arrays.
fn json(plain: &[u8], map: &Mapping, each: &mut impl FnMut(Option<Tick>)) -> (Container, u64) {
    let mut n = 0u64;
    // The fast path: tickbench's own records, one a line, decoded without building a tree.
    if map.is_plain() {
        let mut scratch = Vec::new();
        let mut lines = plain.split(|b| *b == b'\n').filter(|l| !l.is_empty());
        if let Some(first) = lines.next() {
            if let Ok(t) = decode_payload(first, &mut scratch) {
                n += 1;
                each(Some(t));
                for line in lines {
                    n += json_values(line, map, each, &mut scratch).1;
                }
                return (Container::JsonLines, n);
            }
        }
    }
    let (container, n) = json_values(plain, map, each, &mut Vec::new());
    (container, n)
}

/// Every JSON value in `text`, as records (an array's elements each a record). A value that does
/// not parse ends its line: the rest of the line is one record that is not a tick.
fn json_values(
    text: &[u8],
    map: &Mapping,
    each: &mut impl FnMut(Option<Tick>),
    scratch: &mut Vec<u8>,
) -> (Container, u64) {
    if map.is_plain() && !text.contains(&b'\n') {
        if let Ok(t) = decode_payload(text, scratch) {
            each(Some(t));
            return (Container::JsonLines, 1);
        }
    }
    let mut n = 0u64;
    let mut container = Container::JsonLines;
    let mut rest = text;
    while !rest.is_empty() {
        let mut stream = serde_json::Deserializer::from_slice(rest).into_iter::<Value>();
        match stream.next() {
            None => break,
            Some(Ok(v)) => {
                let end = stream.byte_offset();
                match v {
                    Value::Array(items) => {
                        container = Container::JsonArray;
                        for item in &items {
                            n += 1;
                            each(map.tick(item));
                        }
                    }
                    v => {
                        n += 1;
                        each(map.tick(&v));
                        if rest[end..].first() == Some(&b'{') {
                            container = Container::JsonConcatenated;
                        }
                    }
                }
                rest = &rest[end..];
            }
            Some(Err(_)) => {
                n += 1;
                each(None);
                let skip = rest
                    .iter()
                    .position(|b| *b == b'\n')
                    .map_or(rest.len(), |i| i + 1);
                rest = &rest[skip..];
            }
        }
    }
    (container, n)
}

fn avro(
    key: &str,
    plain: &[u8],
    map: &Mapping,
    each: &mut impl FnMut(Option<Tick>),
) -> anyhow::Result<u64> {
    let reader = apache_avro::Reader::new(plain).with_context(|| format!("{key}: Avro"))?;
    let mut n = 0u64;
    for v in reader {
        let v = v.with_context(|| format!("{key}: Avro block"))?;
        n += 1;
        each(Value::try_from(v).ok().and_then(|j| map.tick(&j)));
    }
    Ok(n)
}

fn csv(
    key: &str,
    plain: &[u8],
    map: &Mapping,
    each: &mut impl FnMut(Option<Tick>),
) -> anyhow::Result<u64> {
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(plain);
    let header: BTreeMap<String, usize> = rdr
        .headers()
        .with_context(|| format!("{key}: CSV header"))?
        .iter()
        .enumerate()
        .map(|(i, h)| (h.trim().to_string(), i))
        .collect();
    let col = |f: TickField| {
        header.get(map.name(f)).copied().with_context(|| {
            format!(
                "{key}: neither JSON, Parquet nor Avro, and as CSV its header has no column `{}`",
                map.name(f)
            )
        })
    };
    let cols: Vec<usize> = TickField::ALL
        .iter()
        .map(|f| col(*f))
        .collect::<anyhow::Result<_>>()?;
    let mut n = 0u64;
    for row in rdr.records() {
        n += 1;
        let Ok(row) = row else {
            each(None);
            continue;
        };
        let at = |i: usize| row.get(cols[i]).map(str::trim);
        let tick = (|| {
            Some(Tick {
                symbol: at(0)?.to_string(),
                seq: at(1)?.parse().ok()?,
                ts_ns: at(2)?.parse().ok()?,
                price: at(3)?.parse().ok()?,
                bid: at(4)?.parse().ok()?,
                ask: at(5)?.parse().ok()?,
                size: at(6)?.parse().ok()?,
            })
        })();
        each(tick);
    }
    Ok(n)
}

#[cfg(test)]
mod tests;
