//! Observe mode's read-back: how many objects and ticks a second it takes in from another sink's
//! prefix. `decode`: one object's records into ticks, per kind of object (CPU only), beside the
//! audit's own decoder on the same JSON lines as the reference. `read_back`:
//! the whole watch against the embedded S3 server over HTTP (LIST, 16 concurrent GETs, decoding,
//! the ledger) of 200 objects of 1,000 ticks; criterion's elements are ticks, so objects a
//! second are a thousandth of the figure.
//!
//! `cargo bench --bench observe`.
use std::collections::HashSet;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_s3::config::{Credentials, Region};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tickbench::audit::Ledger;
use tickbench::io::embedded::{EmbeddedS3, S3_ACCESS_KEY, S3_SECRET_KEY};
use tickbench::metrics::{Counters, Recorders};
use tickbench::model::tick::Tick;
use tickbench::observe::decode::{decode, Mapping};
use tickbench::observe::{observe, Until, Watch};

const PER_OBJECT: u64 = 1_000;
const OBJECTS: u64 = 200;
const T0: u64 = 1_795_377_600_000_000_000;

fn tick(i: u64) -> Tick {
    Tick {
        symbol: format!("SYM{}", i % 2000),
        seq: i / 2000,
        ts_ns: T0 + i * 100_000,
        price: 100.0 + (i % 1000) as f64 * 0.01,
        bid: 99.99 + (i % 1000) as f64 * 0.01,
        ask: 100.01 + (i % 1000) as f64 * 0.01,
        size: (i % 500) as u32 + 1,
    }
}

fn json(t: &Tick) -> Vec<u8> {
    let mut v = Vec::new();
    t.encode_json(&mut v);
    v
}

/// One object of `PER_OBJECT` ticks from `first`, as each kind of sink writes it.
fn object(kind: &str, first: u64) -> Vec<u8> {
    let ticks = (first..first + PER_OBJECT).map(tick);
    match kind {
        "json-lines" => ticks
            .flat_map(|t| [json(&t), b"\n".to_vec()])
            .flatten()
            .collect(),
        "json-lines+gzip" => {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&object("json-lines", first)).unwrap();
            gz.finish().unwrap()
        }
        "json-concatenated" => ticks.flat_map(|t| json(&t)).collect(),
        "connect-envelope" => ticks
            .flat_map(|t| {
                let mut v = br#"{"schema":{"type":"struct","name":"tick"},"payload":"#.to_vec();
                v.extend(json(&t));
                v.extend(b"}\n");
                v
            })
            .collect(),
        "avro+deflate" => {
            let schema = apache_avro::Schema::parse_str(
                r#"{"type":"record","name":"tick","fields":[
                {"name":"symbol","type":"string"},{"name":"seq","type":"long"},
                {"name":"ts_ns","type":"long"},{"name":"price","type":"double"},
                {"name":"bid","type":"double"},{"name":"ask","type":"double"},
                {"name":"size","type":"int"}]}"#,
            )
            .unwrap();
            let mut w = apache_avro::Writer::with_codec(
                &schema,
                Vec::new(),
                apache_avro::Codec::Deflate(Default::default()),
            )
            .unwrap();
            for t in ticks {
                let mut r = apache_avro::types::Record::new(&schema).unwrap();
                r.put("symbol", t.symbol);
                r.put("seq", t.seq as i64);
                r.put("ts_ns", t.ts_ns as i64);
                r.put("price", t.price);
                r.put("bid", t.bid);
                r.put("ask", t.ask);
                r.put("size", t.size as i32);
                w.append_value(r).unwrap();
            }
            w.into_inner().unwrap()
        }
        _ => unreachable!("{kind}"),
    }
}

const KINDS: [&str; 5] = [
    "json-lines",
    "json-lines+gzip",
    "json-concatenated",
    "connect-envelope",
    "avro+deflate",
];

fn decoding(c: &mut Criterion) {
    let mut g = c.benchmark_group("observe/decode");
    g.throughput(Throughput::Elements(PER_OBJECT));
    let map = Mapping::default();
    for kind in KINDS {
        let bytes = object(kind, 0);
        // Checked once: every record a tick.
        let mut n = 0;
        decode("k", &bytes, &map, |t| n += t.is_some() as u64).unwrap();
        assert_eq!(n, PER_OBJECT, "{kind}");
        if kind == "json-lines" {
            // The reference: the audit's own decoder, which knows the format from the name.
            g.bench_with_input(
                BenchmarkId::from_parameter("audit-decoder/json-lines"),
                &bytes,
                |b, bytes| {
                    b.iter(|| {
                        let mut n = 0u64;
                        tickbench::model::format::decode_object("k.jsonl", bytes, |t| {
                            n += t.is_some() as u64
                        })
                        .unwrap();
                        n
                    })
                },
            );
        }
        g.bench_with_input(BenchmarkId::from_parameter(kind), &bytes, |b, bytes| {
            b.iter(|| {
                let mut n = 0u64;
                decode("k", bytes, &map, |t| n += t.is_some() as u64).unwrap();
                n
            })
        });
    }
    g.finish();
}

fn read_back(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let root = tempfile::tempdir().unwrap();
    let server = rt.block_on(EmbeddedS3::start(root.path())).unwrap();
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version_latest()
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            S3_ACCESS_KEY,
            S3_SECRET_KEY,
            None,
            None,
            "bench",
        ))
        .endpoint_url(server.endpoint())
        .force_path_style(true)
        .build();
    let client = aws_sdk_s3::Client::from_conf(conf);
    let tickers: Vec<String> = (0..2000).map(|i| format!("SYM{i}")).collect();
    let total = OBJECTS * PER_OBJECT;
    let mut g = c.benchmark_group("observe/read_back");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(total));
    for kind in ["json-lines", "avro+deflate"] {
        let bucket = kind.replace('+', "-");
        rt.block_on(async {
            client.create_bucket().bucket(&bucket).send().await.unwrap();
            for o in 0..OBJECTS {
                client
                    .put_object()
                    .bucket(&bucket)
                    .key(format!("land/{o:05}"))
                    .body(object(kind, o * PER_OBJECT).into())
                    .send()
                    .await
                    .unwrap();
            }
        });
        g.bench_function(kind, |b| {
            b.iter(|| {
                rt.block_on(async {
                    let w = Watch {
                        client: &client,
                        bucket: &bucket,
                        prefix: "land/",
                        poll: Duration::from_millis(10),
                        poll_max: Duration::from_millis(10),
                        mapping: Mapping::default(),
                        pattern: None,
                    };
                    let mut ledger = Ledger::new(
                        tickers.iter().map(String::as_str),
                        (T0, T0 + total * 100_000),
                    );
                    let rec = Arc::new(Recorders::unanchored());
                    let counters = Counters::default();
                    let (_tx, rx) = tokio::sync::watch::channel(Some(Until {
                        found: total,
                        deadline_mono_ns: tickbench::clock::mono_ns() + 60_000_000_000,
                    }));
                    let obs = observe(&w, HashSet::new(), &mut ledger, &rec, &counters, rx, None)
                        .await
                        .unwrap();
                    assert!(obs.settled && obs.objects.len() as u64 == OBJECTS);
                })
            })
        });
    }
    g.finish();
    rt.block_on(server.stop());
}

criterion_group!(benches, decoding, read_back);
criterion_main!(benches);
