//! How figures are written for people: durations, sizes and plain numbers, one way each, used by
//! every report (the text summary, report.md/html, compare, the clock's bounds).

/// A duration in microseconds as people read it: "850 µs", "12.3 ms", "1.50 s".
pub fn duration_us(us: f64) -> String {
    if us >= 1e6 {
        format!("{:.2} s", us / 1e6)
    } else if us >= 1000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

/// A latency for a table column headed in ms: the number only, to `places` decimals.
pub fn ms(us: u64, places: usize) -> String {
    format!("{:.*}", places, us as f64 / 1e3)
}

/// A latency in the terminal's stage table: "12.34ms", or "12.3s" from ten seconds up.
pub fn ms_short(us: u64) -> String {
    if us >= 10_000_000 {
        format!("{:.1}s", us as f64 / 1e6)
    } else {
        format!("{:.2}ms", us as f64 / 1e3)
    }
}

/// A size: "12.0 KiB", "1.5 MiB".
pub fn bytes(b: f64) -> String {
    if b >= 1048576.0 {
        format!("{:.1} MiB", b / 1048576.0)
    } else {
        format!("{:.1} KiB", b / 1024.0)
    }
}

/// A value as people read it: whole numbers without decimals, others to 2 places.
pub fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_unit_reads_as_people_write_it() {
        assert_eq!(duration_us(850.0), "850 µs");
        assert_eq!(duration_us(1200.0), "1.2 ms");
        assert_eq!(duration_us(1_500_000.0), "1.50 s");
        assert_eq!(ms(12_345, 2), "12.35");
        assert_eq!(ms_short(12_345), "12.35ms");
        assert_eq!(ms_short(12_000_000), "12.0s");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(bytes(3.0 * 1048576.0), "3.0 MiB");
        assert_eq!(
            (number(3.0), number(2.5)),
            ("3".to_string(), "2.50".to_string())
        );
    }
}
