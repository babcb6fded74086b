//! The load generator's hot path, per tick: symbol choice, GBM step, quotes, JSON encoding, the
//! schedule; and the sink's decoding. Throughput is in ticks.
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tickbench::model::load::segment::Segment;
use tickbench::model::load::{Profile, Schedule};
use tickbench::model::sim::settings::Symbols;
use tickbench::model::sim::{gbm, Generator, Model, Share, Universe};

const N: u64 = 100_000;

fn symbols(text: &str) -> Symbols {
    toml::from_str(text).unwrap()
}

fn generate_and_encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("tick");
    g.throughput(Throughput::Elements(N));
    let cases = [
        ("2000_uniform", "count = 2000"),
        ("100000_zipf", "count = 100000\nzipf = 1.0"),
        ("2000_zipf_beta_jumps", "count = 2000\nzipf = 1.0\nbeta_min = 0.3\nbeta_max = 0.9\njumps = { per_year = 50, mean = -0.05, sd = 0.02 }"),
    ];
    for (name, text) in cases {
        let model = Model::new(Universe::new(&symbols(text), 1), 1);
        g.bench_with_input(
            BenchmarkId::new("generate+encode_json", name),
            &model,
            |b, model| {
                let mut gen = Generator::new(model.clone(), Share::ALL, 0);
                let mut buf = Vec::with_capacity(256);
                let mut i = 0u64;
                b.iter(|| {
                    for _ in 0..N {
                        i += 1;
                        // 10 µs apart: 100,000 ticks a second of schedule.
                        if let Some((_, tick)) = gen.tick(i, i * 10_000) {
                            buf.clear();
                            tick.encode_json(&mut buf);
                            std::hint::black_box(&buf);
                        }
                    }
                })
            },
        );
    }
    let model = Model::new(Universe::new(&symbols("count = 100000\nzipf = 1.0"), 1), 1);
    g.bench_function("symbol_choice/100000_zipf", |b| {
        let mut i = 0u64;
        b.iter(|| {
            for _ in 0..N {
                i += 1;
                std::hint::black_box(model.symbol_of(i));
            }
        })
    });
    g.bench_function("gbm_step", |b| {
        let mut p = 100.0;
        b.iter(|| {
            for k in 0..N {
                p = gbm::step(p, 0.05, 0.3, 1e-7, (k % 7) as f64 * 0.3 - 0.9);
            }
            std::hint::black_box(p)
        })
    });
    g.bench_function("encode_json", |b| {
        let mut gen = Generator::new(model.clone(), Share::ALL, 0);
        let ticks: Vec<tickbench::model::tick::Tick> = (0..N)
            .map(|i| gen.tick(i, i * 1000).unwrap().1.to_owned())
            .collect();
        let mut buf = Vec::with_capacity(256);
        b.iter(|| {
            for t in &ticks {
                buf.clear();
                // As the generator hands them out: prices on the cent grid.
                let r = tickbench::model::tick::TickRef {
                    decimals: Some(2),
                    ..t.as_ref()
                };
                r.encode_json(&mut buf);
                std::hint::black_box(&buf);
            }
        })
    });
    // The producer's records, as the sink receives them.
    let lines: Vec<Vec<u8>> = {
        let mut gen = Generator::new(model.clone(), Share::ALL, 0);
        (0..N)
            .map(|i| {
                let mut v = Vec::new();
                gen.tick(i, i * 1000).unwrap().1.encode_json(&mut v);
                v
            })
            .collect()
    };
    g.bench_function("decode_json", |b| {
        let mut scratch = Vec::new();
        b.iter(|| {
            for l in &lines {
                std::hint::black_box(
                    tickbench::model::tick::decode_payload(l, &mut scratch).unwrap(),
                );
            }
        })
    });
    // What the sink runs: the producer's own shape parsed directly, into one reused tick.
    g.bench_function("decode_sink", |b| {
        let mut dec = tickbench::model::tick::TickDecoder::default();
        b.iter(|| {
            for l in &lines {
                std::hint::black_box(dec.decode(l).unwrap());
            }
        })
    });
    g.finish();
}

fn schedule(c: &mut Criterion) {
    let mut g = c.benchmark_group("schedule");
    g.throughput(Throughput::Elements(1_000_000));
    let secs = Duration::from_secs(1);
    let ramp = || {
        Profile::new(
            &[Segment::Ramp {
                duration: secs,
                from: 500_000.0,
                to: 1_500_000.0,
            }],
            secs,
        )
    };
    for (name, poisson) in [("ramp_even", None), ("ramp_poisson", Some(5))] {
        g.bench_function(name, |b| {
            let s = Schedule::new(0, ramp(), poisson);
            b.iter(|| std::hint::black_box(s.iter().fold(0u64, |acc, (_, t)| acc ^ t)))
        });
    }
    g.finish();
}

criterion_group!(benches, generate_and_encode, schedule);
criterion_main!(benches);
