//! The open-loop schedule: every tick's intended send time, fixed in advance by the rate profile
//! (and, for Poisson arrivals, the seed). A slow system never moves these times; it only shows up
//! as schedule lag.
//!
//! The profile's cumulative intensity Λ(t) = ∫ rate is known in closed form per segment. Tick i
//! is due when Λ reaches i (evenly spaced arrivals) or the i-th partial sum of unit exponentials
//! (Poisson arrivals). The schedule walks Λ forward in 1 ms cells and interpolates inside a cell,
//! which is exact for constant segments and off by far less than a microsecond elsewhere.

use std::sync::Arc;
use std::time::Duration;

mod rate;
pub mod segment;

use crate::model::sim::rng::unit_from;
pub use rate::Rate;
use segment::{seg_integral, seg_rate, segment_duration, Segment};

/// Length of one cell of the Λ walk.
const CELL_S: f64 = 0.001;

/// A rate profile over the run's load time (warm-up + duration).
#[derive(Debug, Clone)]
pub struct Profile {
    /// (start second, segment); the last segment's final rate holds past its end.
    segments: Vec<(f64, Segment)>,
    total_s: f64,
}

impl Profile {
    pub fn new(segments: &[Segment], total: Duration) -> Profile {
        let mut at = 0.0;
        let segments = segments
            .iter()
            .map(|s| {
                let start = at;
                at += segment_duration(s).as_secs_f64();
                (start, s.clone())
            })
            .collect();
        Profile {
            segments,
            total_s: total.as_secs_f64(),
        }
    }

    pub fn from_rate(rate: &Rate, total: Duration) -> Profile {
        match rate.ticks_per_second {
            Some(r) => Profile::new(
                &[Segment::Constant {
                    duration: total,
                    ticks_per_second: r,
                }],
                total,
            ),
            None => Profile::new(&rate.segments, total),
        }
    }

    /// Length of the load in seconds.
    pub fn total_s(&self) -> f64 {
        self.total_s
    }

    /// Rate `t` seconds into the load.
    pub fn rate_at(&self, t: f64) -> f64 {
        let (start, seg) = self.segment_at(t);
        let d = segment_duration(seg).as_secs_f64();
        seg_rate(seg, (t - start).min(d * 0.999_999_999))
    }

    fn segment_at(&self, t: f64) -> (f64, &Segment) {
        let i = self
            .segments
            .partition_point(|(s, _)| *s <= t)
            .saturating_sub(1);
        let (s, seg) = &self.segments[i];
        (*s, seg)
    }

    /// Λ(t) = ∫₀ᵗ rate, ticks expected by `t` seconds into the load.
    pub fn cumulative(&self, t: f64) -> f64 {
        let t = t.clamp(0.0, self.total_s);
        let mut acc = 0.0;
        for (i, (start, seg)) in self.segments.iter().enumerate() {
            if t <= *start {
                break;
            }
            let d = segment_duration(seg).as_secs_f64();
            let last = i + 1 == self.segments.len();
            acc += seg_integral(seg, (t - start).min(d));
            if last && t > start + d {
                // Past the final segment: its final rate holds.
                acc += seg_rate(seg, d * 0.999_999_999) * (t - start - d);
            }
        }
        acc
    }

    /// Ticks the profile holds (evenly spaced arrivals).
    pub fn expected_ticks(&self) -> f64 {
        self.cumulative(self.total_s)
    }
}

/// Intended send times of every tick, in order.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Start of the load (intended send time of the first tick at most), ns since the epoch.
    pub start_ns: u64,
    profile: Arc<Profile>,
    /// Seed for Poisson gaps; None for evenly spaced arrivals.
    poisson_seed: Option<u64>,
}

impl Schedule {
    pub fn new(start_ns: u64, profile: Profile, poisson_seed: Option<u64>) -> Schedule {
        Schedule {
            start_ns,
            profile: Arc::new(profile),
            poisson_seed,
        }
    }

    /// `rate`'s profile over `length` from `start_ns`, with Poisson arrivals drawn from `seed`
    /// if it asks for them.
    pub fn of(rate: &Rate, length: Duration, seed: u64, start_ns: u64) -> Schedule {
        Schedule::new(
            start_ns,
            Profile::from_rate(rate, length),
            rate.poisson
                .then(|| crate::model::sim::rng::substream(seed, "arrivals")),
        )
    }

    /// A constant rate with evenly spaced arrivals.
    pub fn constant(start_ns: u64, ticks_per_second: f64, length: Duration) -> Schedule {
        let seg = Segment::Constant {
            duration: length,
            ticks_per_second,
        };
        Schedule::new(start_ns, Profile::new(&[seg], length), None)
    }

    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// End of the load, ns since the epoch.
    pub fn end_ns(&self) -> u64 {
        self.start_ns + (self.profile.total_s * 1e9) as u64
    }

    /// Every (tick index, intended send time). Each producer thread walks the whole schedule, so
    /// tick i is due at the same time whatever the thread count.
    pub fn iter(&self) -> ScheduleIter {
        ScheduleIter {
            profile: self.profile.clone(),
            start_ns: self.start_ns,
            poisson_seed: self.poisson_seed,
            i: 0,
            target: 0.0,
            cell: 0,
            cell_lam: 0.0,
            next_lam: self.profile.cumulative(CELL_S),
            total_lam: self.profile.expected_ticks(),
        }
    }
}

/// Walks Λ forward cell by cell; every tick costs a comparison and an interpolation.
pub struct ScheduleIter {
    profile: Arc<Profile>,
    start_ns: u64,
    poisson_seed: Option<u64>,
    i: u64,
    /// Λ value tick i is due at.
    target: f64,
    /// Current cell: [cell × CELL_S, (cell + 1) × CELL_S), counted (not summed) so it never drifts.
    cell: u64,
    cell_lam: f64,
    next_lam: f64,
    total_lam: f64,
}

impl Iterator for ScheduleIter {
    type Item = (u64, u64);

    #[inline]
    fn next(&mut self) -> Option<(u64, u64)> {
        if let Some(seed) = self.poisson_seed {
            // Exponential gap with mean 1 in Λ units, a pure function of (seed, i).
            let u = unit_from(seed ^ 0x5bd1_e995_5bd1_e995, self.i);
            self.target += -(1.0 - u).ln();
        } else {
            self.target = self.i as f64;
        }
        // Ticks are due strictly before the end: Λ(end) = 12000 means ticks 0..11999.
        if self.target >= self.total_lam {
            return None;
        }
        while self.target >= self.next_lam
            && ((self.cell + 1) as f64) * CELL_S < self.profile.total_s
        {
            self.cell += 1;
            self.cell_lam = self.next_lam;
            self.next_lam = self.profile.cumulative((self.cell + 1) as f64 * CELL_S);
        }
        let cell_t = self.cell as f64 * CELL_S;
        let span = (self.next_lam - self.cell_lam).max(f64::MIN_POSITIVE);
        let cell_len = (self.profile.total_s - cell_t).min(CELL_S);
        let t = cell_t + ((self.target - self.cell_lam) / span).clamp(0.0, 1.0) * cell_len;
        let i = self.i;
        self.i += 1;
        Some((i, self.start_ns + (t * 1e9).round() as u64))
    }
}

#[cfg(test)]
mod tests;
