//! The market model: a seeded symbol universe and a tick generator that moves each symbol's price
//! by exact GBM over its own time between ticks.

pub mod gbm;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Pareto, StandardNormal};

use crate::scenario::Symbols;
use crate::tick::Tick;

/// One symbol's fixed parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolParams {
    pub ticker: String,
    pub start_price: f64,
    /// Annual drift.
    pub mu: f64,
    /// Annual volatility.
    pub sigma: f64,
}

/// The symbol universe, a pure function of the seed and the `[symbols]` settings.
#[derive(Debug, Clone)]
pub struct Universe {
    pub symbols: Vec<SymbolParams>,
    pub half_spread: f64,
}

/// Distinct uppercase tickers: AAA, AAB, ... (3 letters for the first 17,576, then 4).
pub fn ticker(mut i: u32) -> String {
    let mut len = 3;
    let mut span = 26u32.pow(3);
    while i >= span {
        i -= span;
        len += 1;
        span = 26u32.saturating_pow(len);
    }
    let mut out = vec![b'A'; len as usize];
    for slot in out.iter_mut().rev() {
        *slot = b'A' + (i % 26) as u8;
        i /= 26;
    }
    String::from_utf8(out).expect("ASCII")
}

impl Universe {
    pub fn new(cfg: &Symbols, seed: u64) -> Universe {
        // A stream of its own, so adding draws elsewhere never changes the universe.
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(1);
        let (lo, hi) = (cfg.price_min.ln(), cfg.price_max.ln());
        let symbols = (0..cfg.count)
            .map(|i| SymbolParams {
                ticker: ticker(i),
                start_price: uniform(&mut rng, lo, hi).exp(),
                mu: uniform(&mut rng, cfg.drift_min, cfg.drift_max),
                sigma: uniform(&mut rng, cfg.volatility_min, cfg.volatility_max),
            })
            .collect();
        Universe {
            symbols,
            half_spread: cfg.half_spread_bps / 10_000.0,
        }
    }

    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }
}

fn uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    if hi > lo {
        rng.random_range(lo..hi)
    } else {
        lo
    }
}

/// Rounds to the cent grid.
fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

struct SymbolState {
    price: f64,
    last_ns: Option<u64>,
    next_seq: u64,
}

/// Generates ticks in schedule order. Every random draw depends only on the seed and the tick's
/// position in the stream, never on wall-clock time, so a run replays exactly.
pub struct Simulator {
    universe: Universe,
    state: Vec<SymbolState>,
    rng: ChaCha8Rng,
    size_dist: Pareto<f64>,
}

impl Simulator {
    pub fn new(universe: Universe, seed: u64) -> Simulator {
        let state = universe
            .symbols
            .iter()
            .map(|s| SymbolState {
                price: s.start_price,
                last_ns: None,
                next_seq: 0,
            })
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(2);
        Simulator {
            universe,
            state,
            rng,
            size_dist: Pareto::new(1.0, 1.5).expect("valid Pareto parameters"),
        }
    }

    pub fn universe(&self) -> &Universe {
        &self.universe
    }

    /// The next tick, intended to be sent at `ts_ns`. Returns the symbol's index with it.
    pub fn next_tick(&mut self, ts_ns: u64) -> (usize, Tick) {
        let i = self.rng.random_range(0..self.universe.len());
        let z: f64 = StandardNormal.sample(&mut self.rng);
        // Heavy-tailed size in round lots of 100 (a few very large prints, as in real tapes).
        let lots = self.size_dist.sample(&mut self.rng).min(10_000.0) as u32;
        let p = &self.universe.symbols[i];
        let st = &mut self.state[i];
        if let Some(last) = st.last_ns {
            let dt = ts_ns.saturating_sub(last) as f64 / 1e9 / gbm::TRADING_SECONDS_PER_YEAR;
            st.price = gbm::step(st.price, p.mu, p.sigma, dt, z);
        }
        st.last_ns = Some(ts_ns);
        let seq = st.next_seq;
        st.next_seq += 1;
        let price = cents(st.price).max(0.01);
        let half = (st.price * self.universe.half_spread).max(0.005);
        let tick = Tick {
            symbol: p.ticker.clone(),
            seq,
            ts_ns,
            price,
            bid: cents(st.price - half).max(0.01).min(price),
            ask: cents(st.price + half).max(price),
            size: lots.max(1) * 100,
        };
        (i, tick)
    }

    /// Ticks generated so far for each symbol (the next `seq` of each).
    pub fn produced_per_symbol(&self) -> Vec<u64> {
        self.state.iter().map(|s| s.next_seq).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(count: u32) -> Symbols {
        Symbols {
            count,
            price_min: 10.0,
            price_max: 100.0,
            drift_min: 0.0,
            drift_max: 0.1,
            volatility_min: 0.2,
            volatility_max: 0.4,
            half_spread_bps: 1.0,
        }
    }

    #[test]
    fn tickers_are_distinct_and_uppercase() {
        let names: std::collections::HashSet<_> = (0..30_000).map(ticker).collect();
        assert_eq!(names.len(), 30_000);
        assert_eq!(ticker(0), "AAA");
        assert_eq!(ticker(17_576), "AAAA");
    }

    #[test]
    fn universe_parameters_are_in_range_and_seeded() {
        let u = Universe::new(&cfg(500), 3);
        for s in &u.symbols {
            assert!((10.0..=100.0).contains(&s.start_price));
            assert!((0.0..0.1).contains(&s.mu));
            assert!((0.2..0.4).contains(&s.sigma));
        }
        assert_eq!(u.symbols, Universe::new(&cfg(500), 3).symbols);
        assert_ne!(u.symbols, Universe::new(&cfg(500), 4).symbols);
    }

    #[test]
    fn same_seed_same_stream_and_seq_counts_per_symbol() {
        let run = |seed| {
            let mut sim = Simulator::new(Universe::new(&cfg(50), seed), seed);
            let ticks: Vec<Tick> = (0..5_000)
                .map(|i| sim.next_tick(1_000 + i * 1_000_000).1)
                .collect();
            (ticks, sim.produced_per_symbol())
        };
        let (a, counts) = run(9);
        let (b, _) = run(9);
        assert_eq!(a, b);
        assert_ne!(a, run(10).0);
        assert_eq!(counts.iter().sum::<u64>(), 5_000);
        // Per symbol, seq runs 0..n in order.
        let mut next = std::collections::HashMap::new();
        for t in &a {
            let n = next.entry(t.symbol.clone()).or_insert(0u64);
            assert_eq!(t.seq, *n);
            *n += 1;
            assert!(t.bid <= t.price && t.price <= t.ask && t.bid > 0.0, "{t:?}");
            assert!(t.size >= 100 && t.size % 100 == 0);
        }
    }
}
