use super::*;
use crate::model::load::Schedule;
use crate::model::sim::settings::Symbols;
use crate::model::tick::Tick;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::Duration;

fn symbols(toml_text: &str) -> Symbols {
    toml::from_str(toml_text).unwrap()
}

/// Every tick of `shares` generators over the schedule, in tick order.
fn stream(sym: &Symbols, seed: u64, schedule: &Schedule, workers: u32) -> Vec<(u64, Tick)> {
    let model = Model::new(Universe::new(sym, seed), seed);
    let mut all = Vec::new();
    for w in 0..workers {
        let mut g = Generator::new(
            model.clone(),
            Share {
                worker: w,
                workers,
                ..Share::ALL
            },
            schedule.start_ns,
        );
        for (i, t) in schedule.iter() {
            if let Some((_, tick)) = g.tick(i, t) {
                all.push((i, tick.to_owned()));
            }
        }
    }
    all.sort_by_key(|(i, _)| *i);
    all
}

fn digest(ticks: &[(u64, Tick)]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for (i, t) in ticks {
        (
            i,
            &t.symbol,
            t.seq,
            t.ts_ns,
            t.price.to_bits(),
            t.bid.to_bits(),
            t.ask.to_bits(),
            t.size,
        )
            .hash(&mut h);
    }
    h.finish()
}

#[test]
fn the_stream_is_the_same_whatever_the_split() {
    let sym = symbols("count = 500\nzipf = 1.1\nbeta_min = 0.2\nbeta_max = 0.9\njumps = { per_year = 50000, mean = -0.01, sd = 0.01 }");
    let schedule = Schedule::new(
        1_800_000_000_000_000_000,
        crate::model::load::Profile::new(
            &[crate::model::load::segment::Segment::Ramp {
                duration: Duration::from_secs(20),
                from: 1000.0,
                to: 5000.0,
            }],
            Duration::from_secs(20),
        ),
        Some(3),
    );
    let one = stream(&sym, 11, &schedule, 1);
    assert!(one.len() > 50_000);
    let one_digest = digest(&one);
    for workers in [2, 3, 7] {
        assert_eq!(
            digest(&stream(&sym, 11, &schedule, workers)),
            one_digest,
            "{workers} workers"
        );
    }
    assert_ne!(
        digest(&stream(&sym, 12, &schedule, 1)),
        one_digest,
        "another seed, another stream"
    );
    // Every tick is well formed: on the grid, bid < ask, price within the quote.
    for (_, t) in &one {
        assert!(
            t.bid < t.ask && t.bid <= t.price && t.price <= t.ask,
            "{t:?}"
        );
        assert_eq!((t.price * 100.0).round() / 100.0, t.price);
        assert!(t.size >= 100 && t.size % 100 == 0);
    }
}

#[test]
fn log_returns_have_the_model_variance() {
    // One symbol, fine price grid, ticking every millisecond for 200 s of schedule.
    let sym = symbols(
        "fixed = [{ ticker = \"X\", start_price = 10000.0, drift = 0.0, volatility = 0.4 }]\ntick_size = 0.000001",
    );
    let schedule = Schedule::constant(0, 1000.0, Duration::from_secs(200));
    let ticks = stream(&sym, 5, &schedule, 1);
    let rets: Vec<f64> = ticks
        .windows(2)
        .map(|w| (w[1].1.price / w[0].1.price).ln())
        .collect();
    let n = rets.len() as f64;
    let dt = 0.001 / gbm::TRADING_SECONDS_PER_YEAR;
    let want_var = 0.4 * 0.4 * dt;
    let mean = rets.iter().sum::<f64>() / n;
    let var = rets.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let se_var = (2.0 * want_var * want_var / (n - 1.0)).sqrt();
    assert!(
        (var - want_var).abs() < 5.0 * se_var,
        "var {var} want {want_var}"
    );
    let want_mean = -0.5 * 0.4 * 0.4 * dt;
    assert!(
        (mean - want_mean).abs() < 5.0 * (want_var / n).sqrt(),
        "mean {mean}"
    );
}

#[test]
fn betas_give_the_one_factor_correlation() {
    let sym = symbols(
        "fixed = [{ ticker = \"A\", start_price = 10000.0, drift = 0.0, volatility = 0.5, beta = 0.8 }, { ticker = \"B\", start_price = 10000.0, drift = 0.0, volatility = 0.3, beta = 0.8 }]\ntick_size = 0.000001",
    );
    let schedule = Schedule::constant(0, 2000.0, Duration::from_secs(300));
    let ticks = stream(&sym, 8, &schedule, 1);
    // Last price of each symbol in every 100 ms; log returns bucket to bucket.
    let mut last: HashMap<(&str, u64), f64> = HashMap::new();
    for (_, t) in &ticks {
        last.insert((t.symbol.as_str(), t.ts_ns / 100_000_000), t.price);
    }
    let series = |s: &str| -> Vec<f64> {
        (0..3000)
            .map(|k| last.get(&(s, k)).copied().unwrap_or(f64::NAN))
            .collect()
    };
    let (a, b) = (series("A"), series("B"));
    let mut ra = Vec::new();
    let mut rb = Vec::new();
    for k in 1..3000 {
        if a[k].is_finite() && a[k - 1].is_finite() && b[k].is_finite() && b[k - 1].is_finite() {
            ra.push((a[k] / a[k - 1]).ln());
            rb.push((b[k] / b[k - 1]).ln());
        }
    }
    let corr = correlation(&ra, &rb);
    // beta_a * beta_b = 0.64; with ~3000 samples the standard error is about 0.01.
    assert!(
        (corr - 0.64).abs() < 0.06,
        "correlation {corr} over {} samples",
        ra.len()
    );
}

fn correlation(x: &[f64], y: &[f64]) -> f64 {
    let n = x.len() as f64;
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let cov: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let vx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let vy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    cov / (vx * vy).sqrt()
}

#[test]
fn jumps_arrive_at_their_rate() {
    // A trading year is 5,896,800 s, so this intensity is one jump a second of schedule.
    let per_year = 5_896_800.0;
    let sym = symbols(&format!(
        "fixed = [{{ ticker = \"J\", start_price = 10000.0, drift = 0.0, volatility = 0.01 }}]\ntick_size = 0.000001\njumps = {{ per_year = {per_year}, mean = -0.05, sd = 0.001 }}"
    ));
    let schedule = Schedule::constant(0, 100.0, Duration::from_secs(400));
    let ticks = stream(&sym, 2, &schedule, 1);
    let big_drops = ticks
        .windows(2)
        .filter(|w| (w[1].1.price / w[0].1.price).ln() < -0.03)
        .count() as f64;
    // ~400 jumps (Poisson, sd 20); two in one 10 ms step are counted once (rare: ~0.5 %).
    assert!((big_drops - 400.0).abs() < 100.0, "{big_drops}");
}

#[test]
fn zipf_frequencies_match_the_exponent() {
    let sym = symbols("count = 1000\nzipf = 1.0");
    let model = Model::new(Universe::new(&sym, 4), 4);
    let mut counts = vec![0u64; 1000];
    let n = 2_000_000u64;
    for i in 0..n {
        counts[model.symbol_of(i)] += 1;
    }
    let order = model.universe.by_activity();
    // Frequency of rank r is (1/r) / H(1000).
    let h: f64 = (1..=1000).map(|r| 1.0 / r as f64).sum();
    for (rank, &s) in order.iter().take(20).enumerate() {
        let p = 1.0 / (rank + 1) as f64 / h;
        let sd = (n as f64 * p * (1.0 - p)).sqrt();
        assert!(
            (counts[s] as f64 - n as f64 * p).abs() < 5.0 * sd,
            "rank {}: {} vs {}",
            rank + 1,
            counts[s],
            n as f64 * p
        );
    }
    // The log-log slope over ranks 1..100 is the exponent.
    let xs: Vec<f64> = (1..=100).map(|r| (r as f64).ln()).collect();
    let ys: Vec<f64> = order
        .iter()
        .take(100)
        .map(|s| (counts[*s] as f64).ln())
        .collect();
    let (mx, my) = (
        xs.iter().sum::<f64>() / 100.0,
        ys.iter().sum::<f64>() / 100.0,
    );
    let slope = xs
        .iter()
        .zip(&ys)
        .map(|(x, y)| (x - mx) * (y - my))
        .sum::<f64>()
        / xs.iter().map(|x| (x - mx).powi(2)).sum::<f64>();
    assert!((slope + 1.0).abs() < 0.05, "slope {slope}");
}

#[test]
fn per_symbol_seq_runs_from_zero_and_counts_add_up() {
    let sym = symbols("count = 50");
    let model = Model::new(Universe::new(&sym, 1), 1);
    let schedule = Schedule::constant(0, 1000.0, Duration::from_secs(5));
    let mut g = Generator::new(model, Share::ALL, 0);
    let mut next: HashMap<Vec<u8>, u64> = HashMap::new();
    for (i, t) in schedule.iter() {
        let (_, tick) = g.tick(i, t).unwrap();
        let n = next.entry(tick.symbol.to_vec()).or_insert(0);
        assert_eq!(tick.seq, *n);
        *n += 1;
    }
    assert_eq!(g.produced().map(|(_, c)| c).sum::<u64>(), 5000);
}

#[test]
fn workers_split_over_threads_own_every_symbol_once_and_a_like_share_of_the_load() {
    // 997 symbols with steep Zipf activity: the most active alone is about a seventh of the load.
    let model = Model::new(Universe::new(&symbols("count = 997\nzipf = 1.1"), 4), 4);
    let w = &model.universe.weights;
    let total: f64 = w.iter().sum();
    for (workers, threads) in [(1, 1), (2, 1), (2, 3), (3, 2), (5, 4)] {
        let mut owners = vec![0u32; 997];
        let mut loads = Vec::new();
        for i in 1..=workers {
            let worker = Share::parse(&format!("{i}/{workers}")).unwrap();
            assert_eq!(worker.label(), format!("{i}/{workers}"));
            let mut load = 0.0;
            for part in worker.split(threads) {
                let g = Generator::new(model.clone(), part, 0);
                for (s, _) in g.produced() {
                    owners[s] += 1;
                    load += w[s] / total;
                }
            }
            // The same symbols whatever the thread count.
            let alone: Vec<usize> = Generator::new(model.clone(), worker, 0)
                .produced()
                .map(|(s, _)| s)
                .collect();
            let mut split: Vec<usize> = worker
                .split(threads)
                .flat_map(|p| {
                    Generator::new(model.clone(), p, 0)
                        .produced()
                        .map(|(s, _)| s)
                        .collect::<Vec<_>>()
                })
                .collect();
            split.sort_unstable();
            let mut alone = alone;
            alone.sort_unstable();
            assert_eq!(alone, split, "{i}/{workers} over {threads} threads");
            loads.push(load);
        }
        assert!(owners.iter().all(|n| *n == 1), "{workers} x {threads}");
        // Dealt in snake order, the workers' loads are within a few percent of 1/N (by index
        // modulo N, the one holding the hottest symbol would carry half as much again at N = 4).
        for l in &loads {
            let rel = l * workers as f64;
            assert!(
                (0.9..1.1).contains(&rel),
                "{workers} workers: loads {loads:?}"
            );
        }
    }
}

#[test]
fn worker_labels_are_checked() {
    for bad in ["0/2", "3/2", "1/0", "2", "a/b", "1/2/3"] {
        let e = Share::parse(bad).unwrap_err();
        assert!(e.contains("--worker") && e.contains("from 1"), "{bad}: {e}");
    }
    assert_eq!(
        Share::parse(" 2 / 4 ").unwrap(),
        Share {
            worker: 1,
            workers: 4,
            ..Share::ALL
        }
    );
}

#[test]
fn a_crash_moves_every_symbol_with_its_beta_at_its_time_and_recovers_as_asked() {
    // Three symbols of tiny volatility (their own noise ~1e-5 over the run), betas 1, 0.5, 0.
    let sym = symbols(
        "fixed = [\
           { ticker = \"A\", start_price = 100.0, drift = 0.0, volatility = 0.001, beta = 1.0 },\
           { ticker = \"H\", start_price = 100.0, drift = 0.0, volatility = 0.001, beta = 0.5 },\
           { ticker = \"Z\", start_price = 100.0, drift = 0.0, volatility = 0.001, beta = 0.0 }]\n\
         tick_size = 0.000001\n\
         crashes = [{ at = \"2s\", move = -0.1, recover = 0.5, recover_over = \"2s\" }]",
    );
    let schedule = Schedule::constant(0, 300.0, Duration::from_secs(6));
    let ticks = stream(&sym, 3, &schedule, 1);
    // Each symbol's log price against its start, just before and after the crash, and at the end.
    let log_move = |ticker: &str, from_s: f64, to_s: f64| -> f64 {
        let of = |t: f64| {
            ticks
                .iter()
                .rfind(|(_, k)| k.symbol == ticker && (k.ts_ns as f64) <= t * 1e9)
                .map(|(_, k)| k.price)
                .unwrap()
        };
        (of(to_s) / of(from_s)).ln()
    };
    for (ticker, beta) in [("A", 1.0), ("H", 0.5), ("Z", 0.0)] {
        // Nothing before the crash.
        assert!(log_move(ticker, 0.1, 1.99).abs() < 1e-3, "{ticker}");
        // The whole move within a few ticks of it, beta times the index's.
        let crash = log_move(ticker, 1.99, 2.03);
        assert!((crash - beta * -0.1).abs() < 2e-3, "{ticker}: {crash}");
        // Half of it given back over the next 2 s, then nothing more.
        let back = log_move(ticker, 2.03, 4.5);
        assert!((back - beta * 0.05).abs() < 3e-3, "{ticker}: {back}");
        assert!(log_move(ticker, 4.5, 5.99).abs() < 1e-3, "{ticker}");
    }
    // The same stream whatever the split (the crash is a function of time, not of a stream).
    assert_eq!(digest(&ticks), digest(&stream(&sym, 3, &schedule, 3)));
}
