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

impl Tick {
    /// Appends the tick as one JSON object (no newline) to `out`.
    pub fn encode_json(&self, out: &mut Vec<u8>) {
        // serde_json writes f64 with ryu: shortest text that reads back to the same value.
        serde_json::to_writer(&mut *out, self).expect("writing to a Vec cannot fail");
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
