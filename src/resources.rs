//! What a run cost the machine: peak resident memory and CPU time, read from Linux's /proc (None
//! elsewhere), without unsafe code or a platform crate.

/// Peak resident set size of this process (VmHWM), bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    kib_field(&status, "VmHWM:")
}

/// Resets the peak resident set size to the current one (Linux: `5` to /proc/self/clear_refs),
/// so that a run measures its own peak; best effort.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Current resident set size of this process (VmRSS), bytes.
pub fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    kib_field(&status, "VmRSS:")
}

fn kib_field(status: &str, name: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with(name))?;
    let kib: u64 = line[name.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// CPU time of the whole process so far (user + system, all threads, exited ones included),
/// seconds. /proc reports it in USER_HZ, which Linux fixes at 100 for userspace.
pub fn process_cpu_s() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces, so cut at its closing paren).
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line; 12 and 13 after "pid (comm)".
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// CPU time of the calling thread so far, seconds (nanosecond resolution).
pub fn thread_cpu_s() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_figures_are_read_on_linux() {
        if !cfg!(target_os = "linux") {
            return;
        }
        let before = thread_cpu_s().unwrap();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(thread_cpu_s().unwrap() > before);
        assert!(process_cpu_s().unwrap() >= 0.0);
        let (rss, peak) = (rss_bytes().unwrap(), peak_rss_bytes().unwrap());
        assert!(rss > 1 << 20 && peak >= rss, "{rss} {peak}");
        assert_eq!(kib_field("VmHWM:\t  2048 kB\n", "VmHWM:"), Some(2 << 20));
        // A peak well above the current size comes back down to it once reset.
        let big = vec![1u8; 256 << 20];
        std::hint::black_box(&big);
        drop(big);
        let high = peak_rss_bytes().unwrap();
        reset_peak_rss();
        let after = peak_rss_bytes().unwrap();
        assert!(after < high, "peak {high} then {after} after the reset");
    }
}
