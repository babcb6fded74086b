//! Tick generation and JSON encoding: what the producer does per tick besides the Kafka call.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tickbench::scenario::Symbols;
use tickbench::sim::{Simulator, Universe};

fn symbols(count: u32) -> Symbols {
    Symbols {
        count,
        price_min: 5.0,
        price_max: 500.0,
        drift_min: -0.05,
        drift_max: 0.15,
        volatility_min: 0.1,
        volatility_max: 0.6,
        half_spread_bps: 1.0,
    }
}

fn generate_and_encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("tick");
    const N: u64 = 10_000;
    g.throughput(Throughput::Elements(N));
    for count in [2_000u32, 100_000] {
        g.bench_with_input(
            BenchmarkId::new("generate+encode_json", count),
            &count,
            |b, &count| {
                let mut sim = Simulator::new(Universe::new(&symbols(count), 1), 1);
                let mut buf = Vec::with_capacity(256);
                let mut t = 1_700_000_000_000_000_000u64;
                b.iter(|| {
                    for _ in 0..N {
                        t += 10_000;
                        let (_, tick) = sim.next_tick(t);
                        buf.clear();
                        tick.encode_json(&mut buf);
                        std::hint::black_box(&buf);
                    }
                })
            },
        );
    }
    g.bench_function("decode_json", |b| {
        let mut sim = Simulator::new(Universe::new(&symbols(2_000), 1), 1);
        let lines: Vec<Vec<u8>> = (0..N)
            .map(|i| {
                let mut v = Vec::new();
                sim.next_tick(i * 1000).1.encode_json(&mut v);
                v
            })
            .collect();
        let mut scratch = Vec::new();
        b.iter(|| {
            for l in &lines {
                std::hint::black_box(tickbench::tick::decode_payload(l, &mut scratch).unwrap());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, generate_and_encode);
criterion_main!(benches);
