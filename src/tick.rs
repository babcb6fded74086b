//! The tick: one market event for one symbol, and its JSON-lines encoding. Shared by the simulator
//! (which makes ticks) and the sink (which decodes them); the sink never depends on the simulator.

use serde::{Deserialize, Serialize};

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

/// A record on the wire that is not a tick.
#[derive(Debug, thiserror::Error)]
#[error("not a tick: {0}")]
pub struct DecodeError(String);

/// A tick whose symbol is borrowed: what the generator makes, with no allocation per tick.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TickRef<'a> {
    pub symbol: &'a str,
    pub seq: u64,
    pub ts_ns: u64,
    pub price: f64,
    pub bid: f64,
    pub ask: f64,
    pub size: u32,
}

impl TickRef<'_> {
    /// Appends the tick as one JSON object (no newline) to `out`: the same text serde_json writes
    /// (integers by itoa, floats by ryu's shortest round-trip form), without its machinery.
    /// Symbols are validated tickers (A-Z 0-9 . -), so they need no escaping.
    #[inline]
    pub fn encode_json(&self, out: &mut Vec<u8>) {
        let mut int = itoa::Buffer::new();
        let mut float = ryu::Buffer::new();
        out.extend_from_slice(b"{\"symbol\":\"");
        out.extend_from_slice(self.symbol.as_bytes());
        out.extend_from_slice(b"\",\"seq\":");
        out.extend_from_slice(int.format(self.seq).as_bytes());
        out.extend_from_slice(b",\"ts_ns\":");
        out.extend_from_slice(int.format(self.ts_ns).as_bytes());
        out.extend_from_slice(b",\"price\":");
        write_f64(out, &mut float, self.price);
        out.extend_from_slice(b",\"bid\":");
        write_f64(out, &mut float, self.bid);
        out.extend_from_slice(b",\"ask\":");
        write_f64(out, &mut float, self.ask);
        out.extend_from_slice(b",\"size\":");
        out.extend_from_slice(int.format(self.size).as_bytes());
        out.push(b'}');
    }

    pub fn to_owned(&self) -> Tick {
        Tick {
            symbol: self.symbol.to_string(),
            seq: self.seq,
            ts_ns: self.ts_ns,
            price: self.price,
            bid: self.bid,
            ask: self.ask,
            size: self.size,
        }
    }
}

/// ryu for every price a market has; serde_json itself for the rest (it spells exponents
/// differently), so the text is always what serde_json would write.
#[inline]
fn write_f64(out: &mut Vec<u8>, buf: &mut ryu::Buffer, v: f64) {
    if v == 0.0 || (1e-5..1e16).contains(&v.abs()) {
        out.extend_from_slice(buf.format_finite(v).as_bytes());
    } else {
        serde_json::to_writer(&mut *out, &v).expect("writing to a Vec cannot fail");
    }
}

impl Tick {
    pub fn as_ref(&self) -> TickRef<'_> {
        TickRef {
            symbol: &self.symbol,
            seq: self.seq,
            ts_ns: self.ts_ns,
            price: self.price,
            bid: self.bid,
            ask: self.ask,
            size: self.size,
        }
    }

    /// Appends the tick as one JSON object (no newline) to `out`.
    pub fn encode_json(&self, out: &mut Vec<u8>) {
        self.as_ref().encode_json(out)
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
