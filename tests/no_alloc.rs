//! The generator's steady state allocates nothing per tick, nor does the sink's decoder per
//! record: counted by a global allocator that this test binary (and only it) installs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tickbench::model::load::Schedule;
use tickbench::model::sim::settings::Symbols;
use tickbench::model::sim::{Generator, Model, Share, Universe};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn generating_encoding_and_decoding_ticks_allocates_nothing() {
    let sym: Symbols = toml::from_str(
        "count = 5000\nzipf = 1.0\nbeta_min = 0.2\nbeta_max = 0.8\njumps = { per_year = 1000, mean = -0.02, sd = 0.01 }",
    )
    .unwrap();
    let model = Model::new(Universe::new(&sym, 1), 1);
    let schedule = Schedule::new(
        0,
        tickbench::model::load::Profile::new(
            &[tickbench::model::load::segment::Segment::Constant {
                duration: Duration::from_secs(10),
                ticks_per_second: 50_000.0,
            }],
            Duration::from_secs(10),
        ),
        Some(9),
    );
    let mut gen = Generator::new(model, Share::ALL, 0);
    let mut buf = Vec::with_capacity(512);
    let mut iter = schedule.iter();
    let mut dec = tickbench::model::tick::TickDecoder::default();
    // Warm up: every symbol's first tick, the buffers' growth.
    for (i, t) in iter.by_ref().take(100_000) {
        buf.clear();
        gen.tick(i, t).unwrap().1.encode_json(&mut buf);
        dec.decode(&buf).unwrap();
    }
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mut n = 0;
    let mut seq_sum = 0u64;
    for (i, t) in iter.by_ref().take(300_000) {
        buf.clear();
        gen.tick(i, t).unwrap().1.encode_json(&mut buf);
        // What the sink does with the record: decoded into one reused tick.
        seq_sum += dec.decode(&buf).unwrap().seq;
        n += 1;
    }
    let after = ALLOCATIONS.load(Ordering::Relaxed);
    assert_eq!(n, 300_000);
    assert!(seq_sum > 0);
    assert_eq!(after - before, 0, "allocations during 300,000 ticks");
}
