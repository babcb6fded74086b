//! The symbol universe: tickers and per-symbol parameters, a pure function of the seed and the
//! `[symbols]` settings, and the activity weights (Zipf over a seeded ranking).

use std::collections::HashSet;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use super::rng::substream;
use super::settings::{grid_divisions, Crash, Jumps, Symbols};

/// One symbol's fixed parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct SymbolParams {
    pub ticker: String,
    pub start_price: f64,
    /// Annual drift.
    pub mu: f64,
    /// Annual volatility.
    pub sigma: f64,
    /// Beta to the market index.
    pub beta: f64,
}

/// Everything the generator needs that does not change during a run.
#[derive(Debug, Clone)]
pub struct Universe {
    pub symbols: Vec<SymbolParams>,
    /// Relative activity of each symbol (Zipf weight of its rank).
    pub weights: Vec<f64>,
    /// Prices are whole multiples of 1/grid.
    pub grid: u64,
    pub half_spread_bps: f64,
    pub size_alpha: f64,
    pub jumps: Option<Jumps>,
    /// Market-wide crashes, in time order.
    pub crashes: Vec<Crash>,
}

impl Universe {
    /// Each symbol's ticker, by symbol index.
    pub fn tickers(&self) -> Vec<String> {
        self.symbols.iter().map(|s| s.ticker.clone()).collect()
    }

    pub fn new(cfg: &Symbols, seed: u64) -> Universe {
        let mut rng = ChaCha8Rng::seed_from_u64(substream(seed, "universe"));
        let mut symbols: Vec<SymbolParams> = cfg
            .fixed
            .iter()
            .chain(&cfg.file_rows)
            .map(|f| SymbolParams {
                ticker: f.ticker.clone(),
                start_price: f.start_price,
                mu: f.drift,
                sigma: f.volatility,
                beta: f.beta,
            })
            .collect();
        let mut taken: HashSet<String> = symbols.iter().map(|s| s.ticker.clone()).collect();
        for _ in 0..cfg.count {
            let ticker = plausible_ticker(&mut rng, &mut taken);
            let z: f64 = StandardNormal.sample(&mut rng);
            symbols.push(SymbolParams {
                ticker,
                start_price: (cfg.price_median.ln() + cfg.price_log_sd * z).exp(),
                mu: uniform(&mut rng, cfg.drift_min, cfg.drift_max),
                sigma: uniform(&mut rng, cfg.volatility_min, cfg.volatility_max),
                beta: uniform(&mut rng, cfg.beta_min, cfg.beta_max),
            });
        }
        // Which symbols are hot is seeded too: rank r (from 0) gets weight 1/(r+1)^zipf.
        let mut order: Vec<usize> = (0..symbols.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(substream(seed, "ranks")));
        let mut weights = vec![0.0; symbols.len()];
        for (rank, &i) in order.iter().enumerate() {
            weights[i] = ((rank + 1) as f64).powf(-cfg.zipf);
        }
        Universe {
            symbols,
            weights,
            grid: grid_divisions(cfg.tick_size).unwrap_or(100),
            half_spread_bps: cfg.half_spread_bps,
            size_alpha: cfg.size_alpha,
            jumps: cfg.jumps.clone().filter(|j| j.per_year > 0.0),
            crashes: {
                let mut c = cfg.crashes.clone();
                c.sort_by_key(|c| c.at);
                c
            },
        }
    }

    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    /// Symbol indices ordered from the most to the least active.
    pub fn by_activity(&self) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.len()).collect();
        idx.sort_by(|a, b| self.weights[*b].total_cmp(&self.weights[*a]));
        idx
    }
}

fn uniform(rng: &mut ChaCha8Rng, lo: f64, hi: f64) -> f64 {
    if hi > lo {
        rng.random_range(lo..hi)
    } else {
        lo
    }
}

/// A new ticker that looks like a listed one: two to four letters, mostly three or four, with
/// five letters only once the shorter ones run thin.
fn plausible_ticker(rng: &mut ChaCha8Rng, taken: &mut HashSet<String>) -> String {
    for attempt in 0u32.. {
        let len = match (rng.random_range(0..100u32), attempt / 64) {
            (_, k) if k >= 1 => 5 + (k as usize - 1).min(3),
            (0..5, _) => 2,
            (5..45, _) => 3,
            _ => 4,
        };
        let t: String = (0..len)
            .map(|_| rng.random_range(b'A'..=b'Z') as char)
            .collect();
        if taken.insert(t.clone()) {
            return t;
        }
    }
    unreachable!("the loop returns")
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn cfg(count: u32) -> Symbols {
        toml::from_str(&format!("count = {count}")).unwrap()
    }

    #[test]
    fn tickers_are_plausible_distinct_and_seeded() {
        let u = Universe::new(&cfg(100_000), 3);
        let names: HashSet<&str> = u.symbols.iter().map(|s| s.ticker.as_str()).collect();
        assert_eq!(names.len(), 100_000);
        assert!(u
            .symbols
            .iter()
            .all(|s| crate::config::is_ticker(&s.ticker) && s.ticker.len() <= 8));
        let short = u
            .symbols
            .iter()
            .filter(|s| (2..=4).contains(&s.ticker.len()))
            .count();
        assert!(short > 95_000, "{short}");
        assert_eq!(
            u.symbols[..50],
            Universe::new(&cfg(100_000), 3).symbols[..50]
        );
        assert_ne!(
            u.symbols[..50],
            Universe::new(&cfg(100_000), 4).symbols[..50]
        );
    }

    #[test]
    fn start_prices_are_log_normal_around_the_median() {
        let u = Universe::new(&cfg(20_000), 1);
        let mut logs: Vec<f64> = u.symbols.iter().map(|s| s.start_price.ln()).collect();
        logs.sort_by(f64::total_cmp);
        let median = logs[logs.len() / 2].exp();
        assert!((median / 50.0 - 1.0).abs() < 0.05, "{median}");
        let mean = logs.iter().sum::<f64>() / logs.len() as f64;
        let sd = (logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / logs.len() as f64).sqrt();
        assert!((sd - 1.0).abs() < 0.03, "{sd}");
    }

    #[test]
    fn fixed_and_file_symbols_come_first() {
        let mut c = cfg(5);
        c.fixed.push(crate::model::sim::settings::FixedSymbol {
            ticker: "ACME".into(),
            start_price: 12.5,
            drift: 0.1,
            volatility: 0.2,
            beta: 0.5,
        });
        let u = Universe::new(&c, 1);
        assert_eq!(u.len(), 6);
        assert_eq!(
            u.symbols[0],
            SymbolParams {
                ticker: "ACME".into(),
                start_price: 12.5,
                mu: 0.1,
                sigma: 0.2,
                beta: 0.5
            }
        );
    }
}
