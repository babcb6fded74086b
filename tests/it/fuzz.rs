//! Bad input never panics: the scenario parser, the tick decoder and the object reader, fed
//! arbitrary and mutated input by proptest (a few thousand cases each, so CI stays quick; raise
//! PROPTEST_CASES to search longer). Objects of every format cut short are refused, never read as
//! a smaller object; `${env:}` values come through whatever they hold; a sweep expands to the
//! product of its lists.

use std::path::Path;

use proptest::prelude::*;
use tickbench::config;
use tickbench::model::format::{decode_object, writer, Compression, Encoding, Format};
use tickbench::model::tick::{decode_payload, Tick};

const FORMATS: [(Format, Compression); 8] = tickbench::model::format::WRITTEN;

/// One whole object of `n` ticks in this format, as the sink writes it, and its key.
fn object(f: Format, c: Compression, n: u64) -> (String, Vec<u8>, Vec<Tick>) {
    let enc = Encoding::new(f, c);
    let ticks: Vec<Tick> = (0..n)
        .map(|i| Tick {
            symbol: format!("S{}", i % 7),
            seq: i,
            ts_ns: 1_795_319_090_000_000_000 + i * 1_000,
            price: 100.0 + i as f64 * 0.01,
            bid: 99.99 + i as f64 * 0.01,
            ask: 100.01 + i as f64 * 0.01,
            size: 100 + i as u32,
        })
        .collect();
    let mut w = writer(&enc);
    let mut json = Vec::new();
    for t in &ticks {
        json.clear();
        t.encode_json(&mut json);
        w.stage(t, &json);
        w.commit();
    }
    let bytes = w.finish().unwrap();
    (format!("t/t+0+0.{}", enc.extension()), bytes, ticks)
}

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

    #[test]
    fn an_object_cut_short_is_refused_or_reads_as_a_prefix(which in 0..FORMATS.len(), n in 1u64..400, cut in any::<prop::sample::Index>()) {
        let (f, c) = FORMATS[which];
        let (key, whole, ticks) = object(f, c, n);
        let at = cut.index(whole.len());
        let mut read = Vec::new();
        let res = decode_object(&key, &whole[..at], |t| read.push(t));
        // Compressed frames and Parquet files carry their own end (a gzip trailer, a zstd frame's
        // end, Parquet's footer): cut anywhere, they must not read as a smaller object. Plain
        // text cut between two records is a whole smaller object, so the most it may give is a
        // prefix of what was written.
        if c != Compression::None || f == Format::Parquet {
            prop_assert!(res.is_err(), "{key} cut at {at} of {} read as {} ticks", whole.len(), read.len());
        } else if res.is_ok() {
            // Whole records first, then at most the cut one, which is not a tick.
            let whole_records: Vec<Tick> = read.iter().map_while(|t| t.clone()).collect();
            prop_assert!(read.len() - whole_records.len() <= 1, "{key}: {read:?}");
            prop_assert!(whole_records.len() < ticks.len());
            prop_assert_eq!(&whole_records[..], &ticks[..whole_records.len()]);
        }
    }

    #[test]
    fn env_values_come_through_whatever_they_hold(value in "\\PC{0,60}") {
        // A name of this process's own: the proptest cases run on one thread of the test.
        let name = format!("TICKBENCH_FUZZ_{}", std::process::id());
        std::env::set_var(&name, &value);
        let text = SCENARIO.replace("\"linger.ms\" = \"5\"", &format!("\"linger.ms\" = \"5\"\n\"client.id\" = \"${{env:{name}}}\""));
        let s = config::parse(Path::new("fuzz.toml"), &text);
        std::env::remove_var(&name);
        match s {
            Ok(s) => prop_assert_eq!(s.kafka.producer.get("client.id").map(String::as_str), Some(value.as_str())),
            // The only refusal allowed is the value's own (a property librdkafka would refuse).
            Err(e) => prop_assert!(e.to_string().contains("client.id"), "{e}"),
        }
    }

    #[test]
    fn a_sweep_expands_to_the_product_of_its_lists(records in prop::collection::btree_set(1u64..100_000, 1..5), ages in prop::collection::btree_set(1u64..60, 1..4)) {
        let list = |v: &std::collections::BTreeSet<u64>, f: &dyn Fn(u64) -> String| v.iter().map(|x| f(*x)).collect::<Vec<_>>().join(", ");
        let text = SCENARIO.replace(
            "\"sink.max_records\" = [1, 10]",
            &format!(
                "\"sink.max_records\" = [{}]\n\"sink.max_age\" = [{}]",
                list(&records, &|x| x.to_string()),
                list(&ages, &|x| format!("\"{x}s\"")),
            ),
        );
        let s = config::parse(Path::new("fuzz.toml"), &text).unwrap();
        let cells = tickbench::commands::sweep::cells(&s, Path::new("fuzz.toml")).unwrap();
        prop_assert_eq!(cells.len(), records.len() * ages.len());
        let mut seen = std::collections::BTreeSet::new();
        for c in &cells {
            let (r, a) = (c.scenario.sink.max_records, c.scenario.sink.max_age);
            prop_assert!(records.contains(&r), "{r}");
            prop_assert!(ages.contains(&a.as_secs()), "{a:?}");
            prop_assert!(seen.insert((r, a)), "two cells alike: {}", c.label);
        }
    }
}
