//! A load segment's shape: its length, its rate at any moment and the ticks it holds by then, in
//! closed form. Validation bounds the rates with it; the schedule walks it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One piece of a rate profile. Rates are ticks per second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Segment {
    /// The same rate throughout.
    Constant {
        #[serde(with = "humantime_serde")]
        duration: Duration,
        ticks_per_second: f64,
    },
    /// A linear change from one rate to another.
    Ramp {
        #[serde(with = "humantime_serde")]
        duration: Duration,
        from: f64,
        to: f64,
    },
    /// `steps` equal stairs from `from` to `to`.
    Steps {
        #[serde(with = "humantime_serde")]
        duration: Duration,
        from: f64,
        to: f64,
        steps: u32,
    },
    /// A base rate with a spike to `peak` from `at` for `length` (times within the segment).
    Burst {
        #[serde(with = "humantime_serde")]
        duration: Duration,
        base: f64,
        peak: f64,
        #[serde(with = "humantime_serde")]
        at: Duration,
        #[serde(with = "humantime_serde")]
        length: Duration,
    },
    /// mean + amplitude * sin(2 pi t / period).
    Sine {
        #[serde(with = "humantime_serde")]
        duration: Duration,
        mean: f64,
        amplitude: f64,
        #[serde(with = "humantime_serde")]
        period: Duration,
    },
    /// A trading day compressed into the segment: heavy at the open, quiet at midday, heavy at the
    /// close (a parabola through the three rates).
    Intraday {
        #[serde(with = "humantime_serde")]
        duration: Duration,
        open: f64,
        midday: f64,
        close: f64,
    },
}

pub fn segment_duration(s: &Segment) -> Duration {
    match s {
        Segment::Constant { duration, .. }
        | Segment::Ramp { duration, .. }
        | Segment::Steps { duration, .. }
        | Segment::Burst { duration, .. }
        | Segment::Sine { duration, .. }
        | Segment::Intraday { duration, .. } => *duration,
    }
}

pub fn segment_kind(s: &Segment) -> &'static str {
    match s {
        Segment::Constant { .. } => "constant",
        Segment::Ramp { .. } => "ramp",
        Segment::Steps { .. } => "steps",
        Segment::Burst { .. } => "burst",
        Segment::Sine { .. } => "sine",
        Segment::Intraday { .. } => "intraday",
    }
}

/// The intraday parabola r(x) = a x² + b x + c through (0, open), (½, midday), (1, close).
fn parabola(open: f64, midday: f64, close: f64) -> (f64, f64, f64) {
    let c = open;
    let a = 2.0 * (open + close) - 4.0 * midday;
    let b = close - open - a;
    (a, b, c)
}

/// Rate of stair `k` of `n` from `from` to `to` (the first at `from`, the last at `to`).
fn stair(from: f64, to: f64, n: u32, k: u32) -> f64 {
    if n <= 1 {
        from
    } else {
        from + (to - from) * k as f64 / (n - 1) as f64
    }
}

/// Rate of a segment `t` seconds into it.
pub fn seg_rate(s: &Segment, t: f64) -> f64 {
    let d = segment_duration(s).as_secs_f64().max(f64::MIN_POSITIVE);
    match s {
        Segment::Constant {
            ticks_per_second, ..
        } => *ticks_per_second,
        Segment::Ramp { from, to, .. } => from + (to - from) * (t / d).clamp(0.0, 1.0),
        Segment::Steps {
            from, to, steps, ..
        } => {
            let n = (*steps).max(1);
            let k = ((t / d) * n as f64).floor().clamp(0.0, (n - 1) as f64) as u32;
            stair(*from, *to, n, k)
        }
        Segment::Burst {
            base,
            peak,
            at,
            length,
            ..
        } => {
            let (a, l) = (at.as_secs_f64(), length.as_secs_f64());
            if t >= a && t < a + l {
                *peak
            } else {
                *base
            }
        }
        Segment::Sine {
            mean,
            amplitude,
            period,
            ..
        } => mean + amplitude * (std::f64::consts::TAU * t / period.as_secs_f64().max(1e-9)).sin(),
        Segment::Intraday {
            open,
            midday,
            close,
            ..
        } => {
            let (a, b, c) = parabola(*open, *midday, *close);
            let x = (t / d).clamp(0.0, 1.0);
            a * x * x + b * x + c
        }
    }
}

/// ∫₀ᵗ rate, for `t` within the segment.
pub fn seg_integral(s: &Segment, t: f64) -> f64 {
    let d = segment_duration(s).as_secs_f64().max(f64::MIN_POSITIVE);
    let t = t.clamp(0.0, d);
    match s {
        Segment::Constant {
            ticks_per_second, ..
        } => ticks_per_second * t,
        Segment::Ramp { from, to, .. } => from * t + (to - from) * t * t / (2.0 * d),
        Segment::Steps {
            from, to, steps, ..
        } => {
            let n = (*steps).max(1);
            let step = d / n as f64;
            let mut acc = 0.0;
            for k in 0..n {
                let s0 = k as f64 * step;
                if t <= s0 {
                    break;
                }
                acc += stair(*from, *to, n, k) * (t.min(s0 + step) - s0);
            }
            acc
        }
        Segment::Burst {
            base,
            peak,
            at,
            length,
            ..
        } => {
            let (a, l) = (at.as_secs_f64(), length.as_secs_f64());
            let inside = (t.min(a + l) - a).max(0.0);
            base * t + (peak - base) * inside
        }
        Segment::Sine {
            mean,
            amplitude,
            period,
            ..
        } => {
            let w = std::f64::consts::TAU / period.as_secs_f64().max(1e-9);
            mean * t + amplitude * (1.0 - (w * t).cos()) / w
        }
        Segment::Intraday {
            open,
            midday,
            close,
            ..
        } => {
            let (a, b, c) = parabola(*open, *midday, *close);
            let x = t / d;
            d * (a * x * x * x / 3.0 + b * x * x / 2.0 + c * x)
        }
    }
}

/// Lowest and highest rate a segment reaches (sampled finely; exact for the piecewise kinds).
pub fn segment_rate_range(s: &Segment) -> (f64, f64) {
    let d = segment_duration(s).as_secs_f64();
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for k in 0..=4000 {
        let r = seg_rate(s, d * k as f64 / 4000.0 * 0.999_999);
        lo = lo.min(r);
        hi = hi.max(r);
    }
    if let Segment::Burst { base, peak, .. } = s {
        lo = lo.min(*base).min(*peak);
        hi = hi.max(*base).max(*peak);
    }
    (lo, hi)
}
