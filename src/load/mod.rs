//! The open-loop schedule: every tick's intended send time, fixed in advance by the rate profile.
//! A slow system never moves these times; it only shows up as schedule lag.

use std::time::Duration;

/// Intended send times at a constant rate from `start_ns` for `length`.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    /// Intended send time of tick 0, ns since the Unix epoch.
    pub start_ns: u64,
    rate: f64,
    count: u64,
}

impl Schedule {
    pub fn constant(start_ns: u64, ticks_per_second: f64, length: Duration) -> Schedule {
        Schedule {
            start_ns,
            rate: ticks_per_second,
            count: (length.as_secs_f64() * ticks_per_second).floor() as u64,
        }
    }

    /// Number of ticks in the schedule.
    pub fn len(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Intended send time of tick `i` (computed from i, so error never accumulates).
    #[inline]
    pub fn at(&self, i: u64) -> u64 {
        self.start_ns + (i as f64 * 1e9 / self.rate).round() as u64
    }

    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.count).map(|i| self.at(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_rate_times_are_evenly_spaced_and_exact() {
        let s = Schedule::constant(1_000, 3.0, Duration::from_secs(2));
        assert_eq!(s.len(), 6);
        let t: Vec<u64> = s.iter().collect();
        assert_eq!(
            t,
            vec![
                1_000,
                333_334_333,
                666_667_667,
                1_000_001_000,
                1_333_334_333,
                1_666_667_667
            ]
        );
        let big = Schedule::constant(0, 1_000_000.0, Duration::from_secs(3600));
        assert_eq!(big.at(big.len() - 1), 3_599_999_999_000);
    }
}
