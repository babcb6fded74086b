//! `tickbench query` over 10 million landed ticks: the VWAP preset (a full scan and a group-by over
//! 2,000 symbols) on JSON-lines objects as the sink lands them, and on the Parquet objects
//! `tickbench compact` makes of them. The objects are made once with the sink's own writers and
//! kept under target/bench-data/ (about 1.1 GB of JSON, 90 MB of Parquet).
//!
//! `cargo bench --bench query`; TICKBENCH_QUERY_TICKS changes the count.
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tickbench::commands::query::{preset, query, ObjectsAt};
use tickbench::model::format::{Compression, Encoding, Format};
use tickbench::model::tick::Tick;

const PER_OBJECT: u64 = 100_000;

fn ticks() -> u64 {
    std::env::var("TICKBENCH_QUERY_TICKS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000)
}

fn tick(i: u64) -> Tick {
    Tick {
        symbol: format!("SYM{}", i % 2000),
        seq: i / 2000,
        // 10,000 ticks a second from 2026-11-22 20:00 UTC: about 17 minutes, one hour partition.
        ts_ns: 1_795_377_600_000_000_000 + i * 100_000,
        price: 100.0 + (i % 1000) as f64 * 0.01,
        bid: 99.99 + (i % 1000) as f64 * 0.01,
        ask: 100.01 + (i % 1000) as f64 * 0.01,
        size: (i % 500) as u32 + 1,
    }
}

/// Writes the objects once (a `done` file marks a complete set).
fn objects(format: Format, compression: Compression, n: u64) -> PathBuf {
    let enc = Encoding::new(format, compression);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/bench-data")
        .join(format!("query-{n}-{}", enc.extension()));
    let dir = root.join("dt=2026-11-22/hour=20");
    if root.join("done").is_file() {
        return root;
    }
    std::fs::create_dir_all(&dir).unwrap();
    let mut json = Vec::with_capacity(160);
    for first in (0..n).step_by(PER_OBJECT as usize) {
        let mut w = tickbench::model::format::writer(&enc);
        for i in first..(first + PER_OBJECT).min(n) {
            let t = tick(i);
            json.clear();
            t.encode_json(&mut json);
            w.stage(&t, &json);
            w.commit();
        }
        let name = format!("ticks+0+{first:020}.{}", enc.extension());
        std::fs::write(dir.join(name), w.finish().unwrap()).unwrap();
    }
    std::fs::write(root.join("done"), "").unwrap();
    root
}

fn bench(c: &mut Criterion) {
    let n = ticks();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut g = c.benchmark_group("query");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(30))
        .throughput(Throughput::Elements(n));
    for (name, format, compression) in [
        ("vwap_jsonl", Format::Jsonl, Compression::None),
        ("vwap_parquet_zstd", Format::Parquet, Compression::Zstd),
    ] {
        let loc = ObjectsAt::Folder(objects(format, compression, n));
        // The answer is checked once: every tick counted.
        let rows = rt
            .block_on(query(&loc, "SELECT count(*) AS n FROM ticks"))
            .unwrap();
        let counted = rows[0]
            .column(0)
            .as_any()
            .downcast_ref::<datafusion::arrow::array::Int64Array>()
            .unwrap()
            .value(0);
        assert_eq!(counted as u64, n);
        g.bench_function(name, |b| {
            b.iter(|| rt.block_on(query(&loc, preset("vwap").unwrap())).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
