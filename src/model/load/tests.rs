use super::segment::segment_rate_range;
use super::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn constant_rate_times_are_evenly_spaced_and_exact() {
    let s = Schedule::constant(1_000, 3.0, secs(2));
    let t: Vec<u64> = s.iter().map(|(_, t)| t).collect();
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
    // Ten seconds at a million a second (10,000 cells): no drift at the end.
    let big = Schedule::constant(0, 1_000_000.0, secs(10));
    let (i, t) = big.iter().last().unwrap();
    assert_eq!(i, 9_999_999);
    assert!(t.abs_diff(9_999_999_000) <= 1, "{t}");
}

#[test]
fn cumulative_intensity_matches_each_segment_kind() {
    let p = Profile::new(
        &[
            Segment::Constant {
                duration: secs(10),
                ticks_per_second: 100.0,
            },
            Segment::Ramp {
                duration: secs(10),
                from: 100.0,
                to: 300.0,
            },
            Segment::Steps {
                duration: secs(9),
                from: 100.0,
                to: 300.0,
                steps: 3,
            },
            Segment::Burst {
                duration: secs(10),
                base: 100.0,
                peak: 1000.0,
                at: secs(2),
                length: secs(1),
            },
            Segment::Sine {
                duration: secs(10),
                mean: 200.0,
                amplitude: 100.0,
                period: secs(5),
            },
            Segment::Intraday {
                duration: secs(10),
                open: 300.0,
                midday: 100.0,
                close: 300.0,
            },
        ],
        secs(69),
    );
    let close = |a: f64, b: f64| (a - b).abs() < 1e-6 * b.max(1.0);
    assert!(close(p.cumulative(10.0), 1000.0));
    assert!(close(p.cumulative(20.0), 1000.0 + 2000.0), "ramp mean 200");
    assert!(
        close(
            p.cumulative(29.0),
            3000.0 + 300.0 * 3.0 + 300.0 * 2.0 + 300.0
        ),
        "steps 100, 200, 300 for 3 s each"
    );
    assert!(
        close(p.cumulative(39.0), 4800.0 + 1000.0 + 900.0),
        "burst adds 900 in its second"
    );
    assert!(
        close(p.cumulative(49.0), 6700.0 + 2000.0),
        "whole sine periods add nothing"
    );
    // Parabola 300 → 100 → 300: mean = 300 - 2/3 * 200.
    assert!(close(
        p.cumulative(59.0),
        8700.0 + 10.0 * (300.0 - 200.0 * 2.0 / 3.0)
    ));
    // Past the last segment its final rate (300) holds.
    assert!(close(p.cumulative(69.0), p.cumulative(59.0) + 3000.0));
    // A numerical check of every closed form: Λ matches the integral of rate_at.
    let mut acc = 0.0;
    let dt = 0.0005;
    let mut t = 0.0;
    while t < 69.0 {
        acc += p.rate_at(t + dt / 2.0) * dt;
        t += dt;
    }
    assert!(
        (acc - p.cumulative(69.0)).abs() < 2.0,
        "{acc} vs {}",
        p.cumulative(69.0)
    );
}

#[test]
fn ticks_follow_the_profile() {
    let p = Profile::new(
        &[Segment::Ramp {
            duration: secs(10),
            from: 1000.0,
            to: 3000.0,
        }],
        secs(10),
    );
    let s = Schedule::new(0, p, None);
    let times: Vec<u64> = s.iter().map(|(_, t)| t).collect();
    assert_eq!(times.len(), 20_000);
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    // First second holds ∫₀¹ (1000 + 200 t) dt = 1100 ticks; the last 2900.
    let in_sec = |k: u64| times.iter().filter(|t| **t / 1_000_000_000 == k).count() as i64;
    assert!((in_sec(0) - 1100).abs() <= 1, "{}", in_sec(0));
    assert!((in_sec(9) - 2900).abs() <= 1, "{}", in_sec(9));
}

#[test]
fn poisson_arrivals_are_seeded_and_have_the_profile_mean() {
    let p = || {
        Profile::new(
            &[Segment::Constant {
                duration: secs(100),
                ticks_per_second: 1000.0,
            }],
            secs(100),
        )
    };
    let a: Vec<u64> = Schedule::new(0, p(), Some(7))
        .iter()
        .map(|(_, t)| t)
        .collect();
    let b: Vec<u64> = Schedule::new(0, p(), Some(7))
        .iter()
        .map(|(_, t)| t)
        .collect();
    let c: Vec<u64> = Schedule::new(0, p(), Some(8))
        .iter()
        .map(|(_, t)| t)
        .collect();
    assert_eq!(a, b);
    assert_ne!(a, c);
    // Count ~ Poisson(100,000): sd 316; allow 5 sd.
    assert!((a.len() as i64 - 100_000).abs() < 1_600, "{}", a.len());
    // Gaps are exponential: their coefficient of variation is 1 (evenly spaced would be 0).
    let gaps: Vec<f64> = a.windows(2).map(|w| (w[1] - w[0]) as f64).collect();
    let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
    let sd = (gaps.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / gaps.len() as f64).sqrt();
    assert!((sd / mean - 1.0).abs() < 0.02, "cv {}", sd / mean);
    assert!((mean - 1e6).abs() < 1e4, "mean gap {mean} ns");
}

#[test]
fn rate_ranges_find_bad_profiles() {
    let (lo, _) = segment_rate_range(&Segment::Intraday {
        duration: secs(10),
        open: 100.0,
        midday: 1.0,
        close: 1.0,
    });
    assert!(lo < 0.0, "this parabola dips below zero: {lo}");
    let (lo, hi) = segment_rate_range(&Segment::Sine {
        duration: secs(10),
        mean: 100.0,
        amplitude: 50.0,
        period: secs(3),
    });
    assert!(
        (lo - 50.0).abs() < 0.1 && (hi - 150.0).abs() < 0.1,
        "{lo} {hi}"
    );
}
