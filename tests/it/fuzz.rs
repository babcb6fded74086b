//! Bad input never panics: the scenario parser, the tick decoder and the object reader, fed
//! arbitrary and mutated input by proptest (a few thousand cases each, so CI stays quick; raise
//! PROPTEST_CASES to search longer).

use std::path::Path;

use proptest::prelude::*;
use tickbench::config;
use tickbench::model::format::decode_object;
use tickbench::model::tick::{decode_payload, Tick};

const SCENARIO: &str = r#"name = "f"
seed = 7
duration = "3s"
warmup = "1s"
[symbols]
count = 10
zipf = 1.0
jumps = { per_year = 5, mean = -0.05, sd = 0.02 }
[[rate.segments]]
kind = "ramp"
duration = "2s"
from = 10
to = 100
[kafka]
topic = "t"
partitions = 3
[kafka.producer]
"linger.ms" = "5"
[sink]
max_bytes = "1 MiB"
format = "parquet"
[sweep]
"sink.max_records" = [1, 10]
"#;

fn tick_json() -> Vec<u8> {
    let mut v = Vec::new();
    Tick {
        symbol: "ABC".into(),
        seq: 12,
        ts_ns: 1_795_319_090_000_000_000,
        price: 101.25,
        bid: 101.24,
        ask: 101.26,
        size: 300,
    }
    .encode_json(&mut v);
    v
}

/// `base` with up to `edits` bytes replaced, inserted or removed.
fn mutate(base: &[u8], edits: Vec<(usize, u8, u8)>) -> Vec<u8> {
    let mut v = base.to_vec();
    for (at, op, byte) in edits {
        if v.is_empty() {
            v.push(byte);
            continue;
        }
        let i = at % v.len();
        match op % 3 {
            0 => v[i] = byte,
            1 => v.insert(i, byte),
            _ => {
                v.remove(i);
            }
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_scenario_parser_never_panics_on_mutations(edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8)) {
        let text = String::from_utf8_lossy(&mutate(SCENARIO.as_bytes(), edits)).into_owned();
        if let Ok(s) = config::parse(Path::new("fuzz.toml"), &text) {
            // Whatever parses also expands and renders.
            let _ = tickbench::commands::sweep::cells(&s, Path::new("fuzz.toml"));
            let _ = s.resolved_toml();
        }
    }

    #[test]
    fn the_scenario_parser_never_panics_on_noise(text in ".{0,400}") {
        let _ = config::parse(Path::new("fuzz.toml"), &text);
    }

    #[test]
    fn the_tick_decoder_never_panics(edits in prop::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 0..12), noise in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut scratch = Vec::new();
        let _ = decode_payload(&mutate(&tick_json(), edits), &mut scratch);
        let _ = decode_payload(&noise, &mut scratch);
    }

    #[test]
    fn the_object_reader_never_panics(noise in prop::collection::vec(any::<u8>(), 0..2000), ext in prop::sample::select(vec!["jsonl", "jsonl.gz", "jsonl.zst", "csv", "csv.gz", "csv.zst", "snappy.parquet", "zstd.parquet", "parquet"])) {
        let _ = decode_object(&format!("t/t+0+0.{ext}"), &noise, |_| {});
        let mut csv = b"symbol,seq,ts_ns,price,bid,ask,size\n".to_vec();
        csv.extend_from_slice(&noise);
        let _ = decode_object("t/t+0+0.csv", &csv, |_| {});
    }
}
