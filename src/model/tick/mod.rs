//! The tick: one market event for one symbol, and its JSON-lines encoding. Shared by the simulator
//! (which makes ticks) and the sink (which decodes them); the sink never depends on the simulator.

mod decode;
mod writer;

pub use decode::TickDecoder;

use serde::{Deserialize, Serialize};
use writer::Writer;

/// A field of a tick, by its wire name (what `observe.fields` maps other names to).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TickField {
    Symbol,
    Seq,
    TsNs,
    Price,
    Bid,
    Ask,
    Size,
}

impl TickField {
    /// Every field, in the tick's wire order.
    pub const ALL: [TickField; 7] = [
        TickField::Symbol,
        TickField::Seq,
        TickField::TsNs,
        TickField::Price,
        TickField::Bid,
        TickField::Ask,
        TickField::Size,
    ];

    /// The name tickbench itself writes it under.
    pub fn name(self) -> &'static str {
        match self {
            TickField::Symbol => "symbol",
            TickField::Seq => "seq",
            TickField::TsNs => "ts_ns",
            TickField::Price => "price",
            TickField::Bid => "bid",
            TickField::Ask => "ask",
            TickField::Size => "size",
        }
    }
}

/// One market event. Field names are the wire format (DESIGN.md, "Vocabulary").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tick {
    /// Ticker, also the Kafka record key.
    pub symbol: String,
    /// Per-symbol sequence number, from 0.
    pub seq: u64,
    /// Intended send time (t_sched), nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Last trade price.
    pub price: f64,
    /// Best bid.
    pub bid: f64,
    /// Best ask.
    pub ask: f64,
    /// Traded volume.
    pub size: u32,
}

/// The header row of CSV objects: the tick's fields in wire order.
pub const CSV_HEADER: &str = "symbol,seq,ts_ns,price,bid,ask,size";

/// A record on the wire that is not a tick.
#[derive(Debug, thiserror::Error)]
#[error("not a tick: {0}")]
pub struct DecodeError(String);

/// A tick whose symbol is borrowed: what the generator makes, with no allocation per tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TickRef<'a> {
    /// The ticker's bytes (A-Z 0-9 . -).
    pub symbol: &'a [u8],
    pub seq: u64,
    pub ts_ns: u64,
    pub price: f64,
    pub bid: f64,
    pub ask: f64,
    pub size: u32,
    /// Some(d) when price, bid and ask are whole multiples of 10^-d: they are then written as
    /// decimals directly, which is the same text ryu finds and several times faster.
    pub decimals: Option<u8>,
}

impl TickRef<'_> {
    /// Appends the tick as one JSON object (no newline) to `out`: the same text serde_json writes
    /// (integers by itoa, floats by ryu's shortest round-trip form), without its machinery.
    /// Symbols are validated tickers (A-Z 0-9 . -), so they need no escaping.
    #[inline]
    pub fn encode_json(&self, out: &mut Vec<u8>) {
        let mut w = Writer::new();
        w.bytes(b"{\"symbol\":\"");
        w.bytes(self.symbol);
        w.bytes(b"\",\"seq\":");
        w.u64(self.seq);
        w.bytes(b",\"ts_ns\":");
        w.u64(self.ts_ns);
        w.bytes(b",\"price\":");
        write_price(&mut w, self.price, self.decimals);
        w.bytes(b",\"bid\":");
        write_price(&mut w, self.bid, self.decimals);
        w.bytes(b",\"ask\":");
        write_price(&mut w, self.ask, self.decimals);
        w.bytes(b",\"size\":");
        w.u64(self.size as u64);
        w.byte(b'}');
        out.extend_from_slice(w.as_slice());
    }

    pub fn to_owned(&self) -> Tick {
        Tick {
            symbol: String::from_utf8_lossy(self.symbol).into_owned(),
            seq: self.seq,
            ts_ns: self.ts_ns,
            price: self.price,
            bid: self.bid,
            ask: self.ask,
            size: self.size,
        }
    }
}

/// A grid price (a whole number of 10^-d) as the shortest decimal that reads back to it: what
/// ryu would print, since no shorter decimal rounds to the same double at these magnitudes.
#[inline]
fn write_price(w: &mut Writer, v: f64, decimals: Option<u8>) {
    match decimals {
        Some(d) if d <= 6 && (1e-5..1e12).contains(&v) => {
            // v is the double nearest k / 10^d, so v * 10^d is within an ulp of k.
            let k = (v * 10u64.pow(d as u32) as f64 + 0.5) as u64;
            w.decimal(k, d as u32);
        }
        _ => write_f64(w, v),
    }
}

/// ryu for any other price; serde_json itself outside ryu's plain-decimal range (it spells
/// exponents differently), so the text is always what serde_json would write.
fn write_f64(w: &mut Writer, v: f64) {
    if v == 0.0 || (1e-5..1e16).contains(&v.abs()) {
        w.bytes(ryu::Buffer::new().format_finite(v).as_bytes());
    } else {
        w.bytes(&serde_json::to_vec(&v).expect("a finite float serializes"));
    }
}

impl Tick {
    pub fn as_ref(&self) -> TickRef<'_> {
        TickRef {
            symbol: self.symbol.as_bytes(),
            seq: self.seq,
            ts_ns: self.ts_ns,
            price: self.price,
            bid: self.bid,
            ask: self.ask,
            size: self.size,
            decimals: None,
        }
    }

    /// Appends the tick as one JSON object (no newline) to `out`.
    pub fn encode_json(&self, out: &mut Vec<u8>) {
        self.as_ref().encode_json(out)
    }

    /// Appends the tick as one CSV row (no newline) in the column order of [`CSV_HEADER`]; numbers
    /// as in the JSON, the symbol quoted only if it holds a comma, quote or line break.
    pub fn encode_csv(&self, out: &mut Vec<u8>) {
        let s = self.symbol.as_bytes();
        if s.iter().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
            out.push(b'"');
            for b in s {
                if *b == b'"' {
                    out.push(b'"');
                }
                out.push(*b);
            }
            out.push(b'"');
        } else {
            out.extend_from_slice(s);
        }
        let mut w = Writer::new();
        w.byte(b',');
        w.u64(self.seq);
        w.byte(b',');
        w.u64(self.ts_ns);
        w.byte(b',');
        write_f64(&mut w, self.price);
        w.byte(b',');
        write_f64(&mut w, self.bid);
        w.byte(b',');
        write_f64(&mut w, self.ask);
        w.byte(b',');
        w.u64(self.size as u64);
        out.extend_from_slice(w.as_slice());
    }

    /// Appends the tick as one JSON object, escaping whatever its symbol holds (for ticks that
    /// came off the wire, whose symbols are not known to be tickers).
    pub fn encode_json_escaped(&self, out: &mut Vec<u8>) {
        serde_json::to_writer(out, self).expect("a tick serializes");
    }

    /// Decodes one JSON tick. `buf` is used as scratch space by simd-json.
    pub fn decode_json(buf: &mut [u8]) -> Result<Tick, DecodeError> {
        simd_json::serde::from_slice::<Tick>(buf).map_err(|e| DecodeError(e.to_string()))
    }
}

/// Decodes a record payload into a tick, copying it into `scratch` first (simd-json parses in place).
pub fn decode_payload(payload: &[u8], scratch: &mut Vec<u8>) -> Result<Tick, DecodeError> {
    scratch.clear();
    scratch.extend_from_slice(payload);
    Tick::decode_json(scratch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick() -> Tick {
        Tick {
            symbol: "ABCD".into(),
            seq: 41,
            ts_ns: 1_700_000_000_123_456_789,
            price: 101.25,
            bid: 101.24,
            ask: 101.26,
            size: 300,
        }
    }

    #[test]
    fn json_round_trip_is_exact() {
        let mut out = Vec::new();
        tick().encode_json(&mut out);
        let text = String::from_utf8(out.clone()).unwrap();
        assert_eq!(
            text,
            r#"{"symbol":"ABCD","seq":41,"ts_ns":1700000000123456789,"price":101.25,"bid":101.24,"ask":101.26,"size":300}"#
        );
        let mut scratch = Vec::new();
        assert_eq!(decode_payload(&out, &mut scratch).unwrap(), tick());
    }

    #[test]
    fn hand_encoding_is_byte_identical_to_serde_json() {
        for t in [
            tick(),
            Tick {
                price: 7.0,
                bid: 0.0001,
                ask: 1e21,
                ..tick()
            },
            Tick {
                price: 123456.789,
                seq: u64::MAX,
                ts_ns: 0,
                size: u32::MAX,
                ..tick()
            },
        ] {
            let mut ours = Vec::new();
            t.encode_json(&mut ours);
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_json::to_string(&t).unwrap()
            );
        }
    }

    #[test]
    fn grid_prices_are_written_as_serde_json_writes_them() {
        for d in [0u8, 1, 2, 4, 6] {
            let scale = 10u64.pow(d as u32) as f64;
            for i in 0..200_000u64 {
                // Small, round, and large tick counts.
                let k = crate::model::sim::rng::bits_from(d as u64, i)
                    % [1_000, 100_000, 1_000_000_000_000][i as usize % 3]
                    + 1;
                let v = k as f64 / scale;
                if v < 1e-5 {
                    continue;
                }
                let mut w = Writer::new();
                write_price(&mut w, v, Some(d));
                assert_eq!(
                    std::str::from_utf8(w.as_slice()).unwrap(),
                    serde_json::to_string(&v).unwrap(),
                    "{k} / 10^{d}"
                );
            }
        }
    }

    #[test]
    fn garbage_and_wrong_types_are_errors_not_panics() {
        let mut scratch = Vec::new();
        for bad in [
            &b"not json"[..],
            b"",
            b"{\"symbol\":1}",
            b"{\"symbol\":\"A\",\"seq\":-1,\"ts_ns\":0,\"price\":1,\"bid\":1,\"ask\":1,\"size\":1}",
            b"[1,2,3]",
        ] {
            assert!(
                decode_payload(bad, &mut scratch).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
