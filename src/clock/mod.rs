//! Time, on two clocks. The wall clock stamps: a tick's intended send time, t_durable, every time
//! written to results, compared across hosts. The monotonic clock measures every age, timeout and
//! deadline in this process (a batch's age, a partition's idle time, the drain deadline, the
//! producer's pacing), so that an NTP step or a VM's clock jump neither flushes a batch early nor
//! holds it late. A step still shows in the latencies between wall stamps; the sink counts the
//! steps it sees and the run warns about them.

mod state;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub use state::{parse_chrony_tracking, ClockState};

/// The shift applied to the system clock's reading: 0 except where a test steps it.
static WALL_STEP_NS: AtomicI64 = AtomicI64::new(0);

/// Nanoseconds since the Unix epoch on the system clock (stamps only).
#[inline]
pub fn wall_ns() -> u64 {
    let system = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    system.saturating_add_signed(WALL_STEP_NS.load(Ordering::Relaxed))
}

/// Nanoseconds on the monotonic clock since this process first read it: never steps, never goes
/// back (ages, timeouts and deadlines).
#[inline]
pub fn mono_ns() -> u64 {
    static ANCHOR: OnceLock<Instant> = OnceLock::new();
    ANCHOR.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Steps this process's wall clock by `by_ns` (negative: back), as an NTP step or a restored VM
/// would, leaving the monotonic clock alone: the injectable source a test steps mid-run.
pub fn step_wall(by_ns: i64) {
    WALL_STEP_NS.fetch_add(by_ns, Ordering::Relaxed);
}

/// One reading of both clocks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Now {
    pub wall_ns: u64,
    pub mono_ns: u64,
}

impl Now {
    pub fn read() -> Now {
        Now {
            wall_ns: wall_ns(),
            mono_ns: mono_ns(),
        }
    }
}

/// The wall clock as it read at one moment, carried forward on the monotonic clock: a step after
/// that moment does not move it. The producer paces its schedule and stamps its sends and acks on
/// it, so a step neither stalls nor bursts the load, and its own latencies stay true.
#[derive(Debug, Clone, Copy)]
pub struct Anchored {
    wall_ns: u64,
    at: Instant,
}

impl Anchored {
    pub fn now() -> Anchored {
        Anchored {
            wall_ns: wall_ns(),
            at: Instant::now(),
        }
    }

    /// Nanoseconds since the Unix epoch, as the wall clock would read had it not stepped.
    #[inline]
    pub fn wall_ns(&self) -> u64 {
        self.wall_ns + self.at.elapsed().as_nanos() as u64
    }
}

/// A wall clock that moved more than this apart from the monotonic clock between two readings
/// was stepped (NTP slews at most 0.05 %, 0.5 ms a second).
pub const STEP_NS: u64 = 100_000_000;

/// Watches consecutive readings for wall-clock steps.
#[derive(Debug, Default)]
pub struct StepWatch {
    last: Option<Now>,
    /// Steps seen, and the largest, signed (negative: back).
    pub steps: u64,
    pub largest_ns: i64,
}

impl StepWatch {
    /// Takes a reading; returns the step since the last one, if the wall clock stepped.
    pub fn observe(&mut self, now: Now) -> Option<i64> {
        let last = self.last.replace(now)?;
        let wall = now.wall_ns as i128 - last.wall_ns as i128;
        let mono = now.mono_ns as i128 - last.mono_ns as i128;
        let step = (wall - mono) as i64;
        if step.unsigned_abs() < STEP_NS {
            return None;
        }
        self.steps += 1;
        if step.unsigned_abs() > self.largest_ns.unsigned_abs() {
            self.largest_ns = step;
        }
        Some(step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_is_seen_and_slew_is_not() {
        let mut w = StepWatch::default();
        let at = |wall_ns, mono_ns| Now { wall_ns, mono_ns };
        assert_eq!(w.observe(at(1_000_000_000_000_000, 0)), None);
        // 20 ms on both clocks, the wall 10 µs ahead (slew): no step.
        assert_eq!(w.observe(at(1_000_000_020_010_000, 20_000_000)), None);
        // The wall clock jumps back an hour.
        let hour = 3_600_000_000_000i64;
        let step = w.observe(at(1_000_000_040_010_000 - hour as u64, 40_000_000));
        assert_eq!(step, Some(-hour));
        assert_eq!(
            w.observe(at(1_000_000_060_010_000 - hour as u64, 60_000_000)),
            None
        );
        assert_eq!((w.steps, w.largest_ns), (1, -hour));
    }

    #[test]
    fn the_monotonic_clock_ignores_a_wall_step() {
        // This test binary's process is the test's own (cargo-nextest), so stepping it is safe.
        let (w0, m0) = (wall_ns(), mono_ns());
        step_wall(-7_200_000_000_000);
        let (w1, m1) = (wall_ns(), mono_ns());
        step_wall(7_200_000_000_000);
        assert!(w1 < w0 - 7_000_000_000_000, "the wall clock went back");
        assert!(m1 >= m0, "the monotonic clock did not");
    }

    #[test]
    fn an_anchored_clock_does_not_follow_a_step() {
        let a = Anchored::now();
        let before = a.wall_ns();
        step_wall(3_600_000_000_000);
        let (anchored, wall) = (a.wall_ns(), wall_ns());
        step_wall(-3_600_000_000_000);
        assert!(anchored >= before && anchored < before + 60_000_000_000);
        assert!(wall > anchored + 3_000_000_000_000);
    }
}
