//! The sink's per-record work: each object format and compression, and the batcher around them
//! (triggers, parts). Throughput is in records; criterion reports ns per record as time/element.
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tickbench::model::format::{Compression, Encoding, Format};
use tickbench::model::tick::Tick;
use tickbench::sink::batcher::{Batcher, TimeLayout, Triggers};

const N: usize = 50_000;

/// Ticks as the sink sees them: decoded, with the JSON they came in.
fn records() -> Vec<(Tick, Vec<u8>)> {
    (0..N as u64)
        .map(|i| {
            let t = Tick {
                symbol: format!("SYM{}", i % 2000),
                seq: i / 2000,
                ts_ns: 1_795_319_090_000_000_000 + i * 20_000,
                price: 100.0 + (i % 1000) as f64 * 0.01,
                bid: 99.99 + (i % 1000) as f64 * 0.01,
                ask: 100.01 + (i % 1000) as f64 * 0.01,
                size: (i % 500) as u32 + 1,
            };
            let mut json = Vec::new();
            t.encode_json(&mut json);
            (t, json)
        })
        .collect()
}

const ENCODINGS: [(Format, Compression); 8] = tickbench::model::format::WRITTEN;

fn encoders(c: &mut Criterion) {
    let recs = records();
    let mut g = c.benchmark_group("encode");
    g.throughput(Throughput::Elements(N as u64));
    for (f, comp) in ENCODINGS {
        let enc = Encoding::new(f, comp);
        g.bench_with_input(
            BenchmarkId::from_parameter(enc.extension()),
            &enc,
            |b, enc| {
                b.iter(|| {
                    let mut w = tickbench::model::format::writer(enc);
                    for (t, json) in &recs {
                        w.stage(t, json);
                        w.commit();
                        while let Some(p) = w.take_part(5 << 20) {
                            std::hint::black_box(p);
                        }
                    }
                    std::hint::black_box(w.finish().unwrap());
                })
            },
        );
    }
    g.finish();
}

fn batcher(c: &mut Criterion) {
    let recs = records();
    let mut g = c.benchmark_group("batcher");
    g.throughput(Throughput::Elements(N as u64));
    for (f, comp) in [
        (Format::Jsonl, Compression::None),
        (Format::Parquet, Compression::Snappy),
    ] {
        let enc = Encoding::new(f, comp);
        let triggers = Triggers {
            max_records: 10_000,
            max_bytes: 8 << 20,
            max_age: Duration::from_secs(60),
            part_size: 5 << 20,
            rotate_every: None,
            idle_timeout: None,
            streaming: true,
            multipart_threshold: 5 << 20,
        };
        // The sink's whole per-record work short of Kafka and S3: the record decoded (as the
        // sink decodes it), then batched.
        g.bench_with_input(
            BenchmarkId::new("decode_and_batch", enc.extension()),
            &enc,
            |b, enc| {
                let mut dec = tickbench::model::tick::TickDecoder::default();
                b.iter(|| {
                    let mut batcher = Batcher::new(triggers, TimeLayout::default(), *enc);
                    let mut out = Vec::new();
                    for (i, (_, json)) in recs.iter().enumerate() {
                        let t = dec.decode(json).unwrap();
                        batcher.push(
                            (i % 12) as i32,
                            i as i64,
                            t,
                            json,
                            Default::default(),
                            &mut out,
                        );
                        out.clear();
                    }
                    batcher.drain(Default::default(), &mut out);
                    std::hint::black_box(&out);
                })
            },
        );
        g.bench_with_input(
            BenchmarkId::new("12_partitions", enc.extension()),
            &enc,
            |b, enc| {
                b.iter(|| {
                    let mut batcher = Batcher::new(triggers, TimeLayout::default(), *enc);
                    let mut out = Vec::new();
                    for (i, (t, json)) in recs.iter().enumerate() {
                        batcher.push(
                            (i % 12) as i32,
                            i as i64,
                            t,
                            json,
                            Default::default(),
                            &mut out,
                        );
                        out.clear();
                    }
                    batcher.drain(Default::default(), &mut out);
                    std::hint::black_box(&out);
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, encoders, batcher);
criterion_main!(benches);
