//! The market model. Every tick of the run is a pure function of the seed and its place in the
//! schedule, whatever the thread count or the split across workers:
//!
//! - tick i's symbol is drawn from the Zipf activity weights with a counter-based draw of i;
//! - each symbol has a random stream of its own, consumed in the order of its own ticks;
//! - the market index is a Brownian path on a 1 ms grid from a stream of its own, which every
//!   generator walks in full.
//!
//! A generator owns the symbols of its share (see [`Share`]) and skips the other ticks, so the
//! union of the shares' streams is exactly the single generator's stream.

pub mod alias;
pub mod gbm;
pub mod rng;
pub mod settings;
pub mod universe;

use std::sync::Arc;

use rand::{RngCore, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use rand_xoshiro::Xoshiro256PlusPlus;

pub use universe::{SymbolParams, Universe};

use crate::model::tick::TickRef;
use alias::Alias;
use rng::{bits_from, mix, substream};

/// Width of a market-index grid cell, ns.
const MARKET_CELL_NS: u64 = 1_000_000;

/// Entries of the trade-size quantile table (12 bits of a draw index it; the topmost bucket, the
/// far tail, is computed exactly). Small enough to stay in L1.
const SIZE_BITS: u32 = 12;
const SIZE_TABLE: usize = 1 << SIZE_BITS;

/// Which symbols a generator owns. The symbols are dealt to the workers from the most active
/// down, each to the worker with the least activity so far (the longest-processing-time rule), so
/// every worker gets a like share of the load however skewed the weights (as long as no single
/// symbol is more than 1/N of it); each worker's symbols are dealt to its producer threads the
/// same way. Which symbols a worker owns does not depend on its thread count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    pub worker: u32,
    pub workers: u32,
    pub thread: u32,
    pub threads: u32,
}

/// Deals items of the given weights (most active first) to `parts` parts, each to the part with
/// the least weight so far (the first such on a tie); returns each item's part.
fn deal(weights: impl Iterator<Item = f64>, parts: u32) -> Vec<u32> {
    let mut load = vec![0.0f64; parts as usize];
    weights
        .map(|w| {
            let mut best = 0;
            for (k, l) in load.iter().enumerate() {
                if *l < load[best] {
                    best = k;
                }
            }
            load[best] += w;
            best as u32
        })
        .collect()
}

impl Share {
    pub const ALL: Share = Share {
        worker: 0,
        workers: 1,
        thread: 0,
        threads: 1,
    };

    /// The symbols of this share, most active first.
    pub fn symbols(&self, universe: &Universe) -> Vec<usize> {
        let order = universe.by_activity();
        let w = &universe.weights;
        let worker_of = deal(order.iter().map(|s| w[*s]), self.workers);
        let mine: Vec<usize> = order
            .iter()
            .zip(worker_of)
            .filter(|(_, k)| *k == self.worker)
            .map(|(s, _)| *s)
            .collect();
        let thread_of = deal(mine.iter().map(|s| w[*s]), self.threads);
        mine.into_iter()
            .zip(thread_of)
            .filter(|(_, t)| *t == self.thread)
            .map(|(s, _)| s)
            .collect()
    }

    /// This worker's share split over `threads` producer threads; together they own exactly it.
    pub fn split(self, threads: u32) -> impl Iterator<Item = Share> {
        (0..threads).map(move |t| Share {
            thread: t,
            threads,
            ..self
        })
    }

    /// Parses `I/N` (worker I of N, counting from 1), as `--worker` takes it.
    pub fn parse(text: &str) -> Result<Share, String> {
        let bad = || {
            format!("--worker {text:?}: expected I/N, worker I of N counting from 1 (for example 1/2 and 2/2)")
        };
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let (i, n): (u32, u32) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if n == 0 || i == 0 || i > n {
            return Err(format!(
                "--worker {text:?}: I must be 1 to N and N at least 1 (workers count from 1)"
            ));
        }
        Ok(Share {
            worker: i - 1,
            workers: n,
            ..Share::ALL
        })
    }

    /// `I/N` as people write it (counting from 1).
    pub fn label(&self) -> String {
        format!("{}/{}", self.worker + 1, self.workers)
    }
}

/// What every generator of a run shares, built once.
#[derive(Debug)]
pub struct Model {
    pub universe: Universe,
    alias: Alias,
    /// Lots of 100 at each quantile of the Pareto size distribution.
    sizes: Vec<u16>,
    /// Per symbol, the constants of its step: drift term, idiosyncratic scale, half-spread.
    consts: Vec<StepConsts>,
    any_beta: bool,
    /// Some(d) when the grid is 10^d: prices are then written as plain decimals.
    decimals: Option<u8>,
    seed: u64,
}

impl Model {
    pub fn new(universe: Universe, seed: u64) -> Arc<Model> {
        let alias = Alias::new(&universe.weights);
        let a = universe.size_alpha;
        let sizes = (0..SIZE_TABLE)
            .map(|k| {
                // Upper tail quantile at the middle of bucket k: x = u^(-1/alpha), x >= 1.
                let u = (SIZE_TABLE - k) as f64 / SIZE_TABLE as f64 - 0.5 / SIZE_TABLE as f64;
                u.powf(-1.0 / a).min(10_000.0) as u16
            })
            .collect();
        let jump_drift = universe
            .jumps
            .as_ref()
            .map(|j| j.per_year * ((j.mean + j.sd * j.sd / 2.0).exp() - 1.0))
            .unwrap_or(0.0);
        let consts = universe
            .symbols
            .iter()
            .map(|s| StepConsts {
                drift: s.mu - 0.5 * s.sigma * s.sigma - jump_drift,
                market: s.sigma * s.beta,
                beta: s.beta,
                idio: s.sigma * (1.0 - s.beta * s.beta).max(0.0).sqrt(),
                half_spread: universe.half_spread_bps / 10_000.0 * (s.sigma / 0.25).sqrt(),
                ticker: {
                    let mut t = [0u8; 12];
                    t[..s.ticker.len()].copy_from_slice(s.ticker.as_bytes());
                    t
                },
                ticker_len: s.ticker.len() as u8,
            })
            .collect();
        let any_beta = universe.symbols.iter().any(|s| s.beta != 0.0);
        let decimals = (0..=6u8).find(|d| 10u64.pow(*d as u32) == universe.grid);
        Arc::new(Model {
            universe,
            alias,
            sizes,
            consts,
            any_beta,
            decimals,
            seed,
        })
    }

    /// The symbol of tick `i`.
    #[inline]
    pub fn symbol_of(&self, i: u64) -> usize {
        self.alias
            .sample(bits_from(substream(self.seed, "choice"), i))
    }
}

/// Per-symbol constants of the step, precomputed.
#[derive(Debug, Clone, Copy)]
#[repr(align(64))]
struct StepConsts {
    /// mu - sigma²/2 - λκ (the Merton compensator keeps the expected return at mu).
    drift: f64,
    /// sigma * beta.
    market: f64,
    /// How much of a market crash the symbol takes.
    beta: f64,
    /// sigma * sqrt(1 - beta²).
    idio: f64,
    /// Half-spread as a fraction of the price.
    half_spread: f64,
    /// The ticker, inline: with the constants, one cache line a symbol.
    ticker: [u8; 12],
    ticker_len: u8,
}

#[repr(align(64))]
struct SymbolState {
    /// Unrounded GBM price.
    price: f64,
    last_ns: u64,
    seq: u64,
    /// Market index at this symbol's last tick.
    w_last: f64,
    rng: Xoshiro256PlusPlus,
}

/// The market index's log move from the crashes so far, `since_ns` after the load's start: each
/// crash's whole move from its time on, less what it has given back.
fn crash_level(crashes: &[settings::Crash], since_ns: u64) -> f64 {
    crashes
        .iter()
        .take_while(|c| since_ns >= c.at.as_nanos() as u64)
        .map(|c| {
            let after = (since_ns - c.at.as_nanos() as u64) as f64;
            let over = c.recover_over.as_nanos() as f64;
            let back = if c.recover > 0.0 {
                c.recover * (after / over).min(1.0)
            } else {
                0.0
            };
            c.market_move * (1.0 - back)
        })
        .sum()
}

/// The market index: standard Brownian motion in years of trading time, on a 1 ms grid.
struct Market {
    rng: Xoshiro256PlusPlus,
    start_ns: u64,
    cell: u64,
    w: f64,
    step_sd: f64,
}

impl Market {
    #[inline]
    fn at(&mut self, t_ns: u64) -> f64 {
        let k = t_ns.saturating_sub(self.start_ns) / MARKET_CELL_NS;
        while self.cell < k {
            let z: f64 = StandardNormal.sample(&mut self.rng);
            self.w += self.step_sd * z;
            self.cell += 1;
        }
        self.w
    }
}

/// Makes the ticks of one share of the symbols, in schedule order.
pub struct Generator {
    model: Arc<Model>,
    choice_seed: u64,
    /// Per symbol, the index of its state in `states`, or NOT_OWNED.
    slot: Vec<u32>,
    /// The owned symbols, in slot order.
    owned: Vec<u32>,
    states: Vec<SymbolState>,
    market: Market,
}

const NOT_OWNED: u32 = u32::MAX;

impl Generator {
    /// `start_ns` anchors the market grid: the schedule's start.
    pub fn new(model: Arc<Model>, share: Share, start_ns: u64) -> Generator {
        let owned: Vec<u32> = share
            .symbols(&model.universe)
            .into_iter()
            .map(|s| s as u32)
            .collect();
        let mut slot = vec![NOT_OWNED; model.universe.len()];
        for (k, s) in owned.iter().enumerate() {
            slot[*s as usize] = k as u32;
        }
        let states = owned
            .iter()
            .map(|&s| SymbolState {
                price: model.universe.symbols[s as usize].start_price,
                last_ns: 0,
                seq: 0,
                w_last: 0.0,
                rng: Xoshiro256PlusPlus::seed_from_u64(mix(
                    substream(model.seed, "symbol") ^ s as u64
                )),
            })
            .collect();
        let market = Market {
            rng: Xoshiro256PlusPlus::seed_from_u64(substream(model.seed, "market")),
            start_ns,
            cell: 0,
            w: 0.0,
            step_sd: (MARKET_CELL_NS as f64 / 1e9 / gbm::TRADING_SECONDS_PER_YEAR).sqrt(),
        };
        Generator {
            choice_seed: substream(model.seed, "choice"),
            model,
            slot,
            owned,
            states,
            market,
        }
    }

    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// Tick `i` of the run, due at `t_ns`, if its symbol is in this generator's share. Returns the
    /// symbol's index with it.
    #[inline]
    pub fn tick(&mut self, i: u64, t_ns: u64) -> Option<(usize, TickRef<'_>)> {
        let s = self.model.alias.sample(bits_from(self.choice_seed, i));
        let w_now = if self.model.any_beta {
            self.market.at(t_ns)
        } else {
            0.0
        };
        let k = self.slot[s];
        if k == NOT_OWNED {
            return None;
        }
        let m = &*self.model;
        let c = &m.consts[s];
        let st = &mut self.states[k as usize];
        if st.seq > 0 {
            // Exact GBM over this symbol's own dt, split into market and idiosyncratic parts.
            let dt = t_ns.saturating_sub(st.last_ns) as f64
                * (1.0 / 1e9 / gbm::TRADING_SECONDS_PER_YEAR);
            let z: f64 = StandardNormal.sample(&mut st.rng);
            let mut log_ret =
                c.drift * dt + c.market * (w_now - st.w_last) + c.idio * dt.sqrt() * z;
            if let Some(j) = &m.universe.jumps {
                let u = unit(st.rng.next_u64());
                for _ in 0..poisson_count(j.per_year * dt, u) {
                    let z: f64 = StandardNormal.sample(&mut st.rng);
                    log_ret += j.mean + j.sd * z;
                }
            }
            if !m.universe.crashes.is_empty() {
                let start = self.market.start_ns;
                log_ret += c.beta
                    * (crash_level(&m.universe.crashes, t_ns.saturating_sub(start))
                        - crash_level(&m.universe.crashes, st.last_ns.saturating_sub(start)));
            }
            st.price *= log_ret.exp();
        } else if !m.universe.crashes.is_empty() {
            // A symbol's first tick after a crash starts from where the market took it.
            let since = t_ns.saturating_sub(self.market.start_ns);
            st.price *= (c.beta * crash_level(&m.universe.crashes, since)).exp();
        }
        st.last_ns = t_ns;
        st.w_last = w_now;
        let seq = st.seq;
        st.seq += 1;
        let lots = size_lots(&m.sizes, m.universe.size_alpha, st.rng.next_u64());

        // Quotes on the grid: at least half a tick either side, wider for volatile names.
        let grid = m.universe.grid as f64;
        let x = st.price * grid;
        let h = (x * c.half_spread).max(0.5);
        // Casts instead of floor/ceil/round: on baseline x86-64 those are libm calls, and here
        // every operand is positive.
        let bid_t = ((x - h).max(0.0) as u64 as f64).max(1.0);
        let up = (x + h) as u64 as f64;
        let ask_t = if up < x + h { up + 1.0 } else { up }.max(bid_t + 1.0);
        let px_t = ((x + 0.5) as u64 as f64).clamp(bid_t, ask_t);
        Some((
            s,
            TickRef {
                symbol: &c.ticker[..c.ticker_len as usize],
                seq,
                ts_ns: t_ns,
                price: px_t / grid,
                bid: bid_t / grid,
                ask: ask_t / grid,
                size: lots * 100,
                decimals: m.decimals,
            },
        ))
    }

    /// True when tick `i`'s symbol is in this generator's share (without making the tick).
    pub fn owns_tick(&self, i: u64) -> bool {
        self.slot[self.model.alias.sample(bits_from(self.choice_seed, i))] != NOT_OWNED
    }

    /// Ticks made so far per owned symbol: (symbol index, count). Each symbol's seq ran 0..count.
    pub fn produced(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.owned
            .iter()
            .zip(&self.states)
            .map(|(s, st)| (*s as usize, st.seq))
    }
}

/// Trade size in lots from 64 random bits: the quantile table, or for the topmost bucket (the far
/// tail) the exact Pareto quantile.
#[inline]
fn size_lots(table: &[u16], alpha: f64, bits: u64) -> u32 {
    let k = (bits >> (64 - SIZE_BITS)) as usize;
    if k + 1 < SIZE_TABLE {
        return table[k].max(1) as u32;
    }
    // u in (0, 1/SIZE_TABLE]: the rest of the bits pick it.
    let u = ((bits << SIZE_BITS) >> 11).max(1) as f64 / (1u64 << 53) as f64 / SIZE_TABLE as f64;
    u.powf(-1.0 / alpha).min(1_000_000.0) as u32
}

#[inline]
fn unit(bits: u64) -> f64 {
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Poisson(mean) by inversion from one uniform; cheap when the mean is small, as it is per tick.
#[inline]
fn poisson_count(mean: f64, u: f64) -> u32 {
    if mean <= 0.0 {
        return 0;
    }
    let mut p = (-mean).exp();
    let mut cdf = p;
    let mut k = 0;
    while u > cdf && k < 1000 {
        k += 1;
        p *= mean / k as f64;
        cdf += p;
    }
    k
}

#[cfg(test)]
mod tests;
