//! The market a scenario describes (`[symbols]`): the universe, its prices' drifts and volatilities,
//! jumps and crashes. Read from the scenario file; validated by `config`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The symbol universe, drawn reproducibly from the seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Symbols {
    /// Symbols generated from the seed (plausible tickers), besides `fixed` and `file`; the whole
    /// universe holds 1 to 100,000.
    #[serde(default)]
    pub count: u32,
    /// Median start price of generated symbols (start prices are log-normal).
    #[serde(default = "default_price_median")]
    pub price_median: f64,
    /// Standard deviation of the log of generated start prices.
    #[serde(default = "default_price_log_sd")]
    pub price_log_sd: f64,
    /// Lowest annual drift mu of generated symbols (for example -0.05 for -5 % a year).
    #[serde(default = "default_drift_min")]
    pub drift_min: f64,
    /// Highest annual drift mu.
    #[serde(default = "default_drift_max")]
    pub drift_max: f64,
    /// Lowest annual volatility sigma (for example 0.1 for 10 %).
    #[serde(default = "default_vol_min")]
    pub volatility_min: f64,
    /// Highest annual volatility sigma.
    #[serde(default = "default_vol_max")]
    pub volatility_max: f64,
    /// Lowest beta to the market index (one-factor correlation); 0 and 0 make symbols independent.
    #[serde(default)]
    pub beta_min: f64,
    /// Highest beta to the market index, at most 1.
    #[serde(default)]
    pub beta_max: f64,
    /// Zipf exponent of activity: the symbol of rank r ticks in proportion to 1/r^zipf
    /// (0: every symbol equally often; about 1: a real market's skew), 0 to 5.
    #[serde(default)]
    pub zipf: f64,
    /// Quoted half-spread, in basis points of the price, for a symbol of 25 % volatility; it
    /// scales with the square root of volatility and is at least half a tick.
    #[serde(default = "default_half_spread_bps")]
    pub half_spread_bps: f64,
    /// Price grid: prices, bids and asks are whole multiples of this, which must be 1/N for a
    /// whole N (0.01, 0.05, 0.0001).
    #[serde(default = "default_tick_size")]
    pub tick_size: f64,
    /// Tail exponent of trade sizes (Pareto, in lots of 100): smaller means heavier, 1.05 to 10.
    #[serde(default = "default_size_alpha")]
    pub size_alpha: f64,
    /// Merton jumps: Poisson arrivals of normal log-price jumps, each symbol on its own (news,
    /// idiosyncratic shocks). A crash of the whole market is `crashes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jumps: Option<Jumps>,
    /// Market-wide crashes at scheduled times: the market index jumps, so every symbol moves
    /// with its beta at the same moment (a symbol of beta 0 does not move).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crashes: Vec<Crash>,
    /// Symbols set by hand, ahead of the generated ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fixed: Vec<FixedSymbol>,
    /// CSV file of symbols (header `ticker,start_price,drift,volatility[,beta]`), relative to the
    /// scenario file; its symbols come after `fixed`, before the generated ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<std::path::PathBuf>,
    /// The rows of `file`, read when the scenario is loaded.
    #[serde(skip)]
    pub file_rows: Vec<FixedSymbol>,
}

/// Merton jump parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Jumps {
    /// Expected jumps per symbol per year of trading time.
    pub per_year: f64,
    /// Mean log-price jump (for example -0.05 for about -5 %).
    pub mean: f64,
    /// Standard deviation of the log-price jump.
    pub sd: f64,
}

/// A jump of the market index at a scheduled time, optionally recovered in part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crash {
    /// When, from the start of the load (the warm-up included), as the rate segments count.
    #[serde(with = "humantime_serde")]
    pub at: Duration,
    /// The index's log move (for example -0.1 for about -9.5 %); a symbol moves beta times it.
    #[serde(rename = "move")]
    pub market_move: f64,
    /// Share of the move given back afterwards, 0 (none) to 1 (all).
    #[serde(default)]
    pub recover: f64,
    /// Over how long the recovery is given back, evenly.
    #[serde(with = "humantime_serde", default)]
    pub recover_over: Duration,
}

/// One symbol set by hand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixedSymbol {
    /// Ticker: 1 to 12 characters from A-Z 0-9 . -
    pub ticker: String,
    /// Start price.
    pub start_price: f64,
    /// Annual drift mu.
    pub drift: f64,
    /// Annual volatility sigma.
    pub volatility: f64,
    /// Beta to the market index (default 0).
    #[serde(default)]
    pub beta: f64,
}

fn default_price_median() -> f64 {
    50.0
}
fn default_price_log_sd() -> f64 {
    1.0
}
fn default_drift_min() -> f64 {
    -0.05
}
fn default_drift_max() -> f64 {
    0.15
}
fn default_vol_min() -> f64 {
    0.10
}
fn default_vol_max() -> f64 {
    0.60
}
fn default_half_spread_bps() -> f64 {
    1.0
}
fn default_tick_size() -> f64 {
    0.01
}
fn default_size_alpha() -> f64 {
    1.5
}

/// N when `tick_size` is 1/N for a whole N (prices are then whole ticks divided by N, which
/// prints as short decimals).
pub fn grid_divisions(tick_size: f64) -> Option<u64> {
    if !(tick_size > 0.0 && tick_size <= 1.0) {
        return None;
    }
    let n = (1.0 / tick_size).round();
    ((1.0..=1_000_000.0).contains(&n) && ((1.0 / n) - tick_size).abs() <= tick_size * 1e-9)
        .then_some(n as u64)
}
