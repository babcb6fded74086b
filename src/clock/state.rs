//! The host clock's discipline, recorded in every manifest: end-to-end latency measured across machines
//! (intended send time on a producer host, durable time on a sink host) is only as good as the two
//! clocks' agreement. chrony's own figures are used where chronyc answers; otherwise the kernel's
//! NTP state (adjtimex), which any NTP daemon keeps up to date.

use std::process::{Command, Stdio};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What is known of this host's clock discipline when the record was made.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClockState {
    /// Where the figures come from: `chrony`, `kernel` (adjtimex) or `unknown`.
    pub source: String,
    /// Whether the kernel counts the clock as synchronized to a time source.
    pub synchronized: Option<bool>,
    /// Offset of the system clock from the time source, microseconds (chrony; sign as chronyc
    /// prints it in CSV).
    pub offset_us: Option<f64>,
    /// Bound on this clock's error against true time, microseconds: chrony's |offset| + root
    /// delay / 2 + root dispersion, or the kernel's maximum error. None when unknown or the clock
    /// is not synchronized.
    pub error_bound_us: Option<f64>,
    /// chrony's reference (server name or address), when chrony answered.
    pub reference: Option<String>,
}

impl ClockState {
    /// Reads the clock's state: chrony first, then the kernel.
    pub fn current() -> ClockState {
        if let Some(line) = chronyc_tracking() {
            if let Some(s) = parse_chrony_tracking(&line) {
                return s;
            }
        }
        kernel().unwrap_or_else(|| ClockState {
            source: "unknown".into(),
            ..Default::default()
        })
    }

    /// One line for people: "chrony, synchronized, ±120 µs" or why the bound is unknown.
    pub fn describe(&self) -> String {
        match (self.synchronized, self.error_bound_us) {
            (Some(false), _) => format!("{}: not synchronized", self.source),
            (_, Some(b)) => format!("{}: within ±{}", self.source, crate::units::duration_us(b)),
            _ => format!("{}: no error bound known", self.source),
        }
    }
}

/// `chronyc -c -n tracking`, waited for at most a second (a chronyc with no daemon answers at
/// once; one whose daemon hangs must not hold up a run).
fn chronyc_tracking() -> Option<String> {
    let mut child = Command::new("chronyc")
        .args(["-c", "-n", "tracking"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(Some(_)) | Err(_) => return None,
            Ok(None) if std::time::Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut()?, &mut out).ok()?;
    Some(out)
}

/// Parses chronyc's CSV tracking line: reference id, name, stratum, reference time, system time
/// offset (s), last offset, RMS offset, frequency, residual frequency, skew, root delay (s), root
/// dispersion (s), update interval, leap status.
pub fn parse_chrony_tracking(line: &str) -> Option<ClockState> {
    let f: Vec<&str> = line.trim().split(',').collect();
    if f.len() < 14 {
        return None;
    }
    let num = |i: usize| f[i].trim().parse::<f64>().ok();
    let (offset, delay, dispersion) = (num(4)?, num(10)?, num(11)?);
    let leap = f[13].trim();
    // Stratum 0 or a reference of 0 means chrony has no source yet.
    let synchronized = leap != "Not synchronised" && num(2).is_some_and(|s| s > 0.0);
    Some(ClockState {
        source: "chrony".into(),
        synchronized: Some(synchronized),
        offset_us: Some(offset * 1e6),
        error_bound_us: synchronized.then(|| (offset.abs() + delay / 2.0 + dispersion) * 1e6),
        reference: Some(f[1].trim().to_string()).filter(|s| !s.is_empty()),
    })
}

/// The kernel's NTP state: adjtimex with no modes set only reads.
#[cfg(target_os = "linux")]
fn kernel() -> Option<ClockState> {
    // SAFETY: a zeroed timex with modes = 0 asks for the state and changes nothing.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    let state = unsafe { libc::adjtimex(&mut tx) };
    if state < 0 {
        return None;
    }
    let synchronized = state != libc::TIME_ERROR && tx.status & libc::STA_UNSYNC == 0;
    Some(ClockState {
        source: "kernel".into(),
        synchronized: Some(synchronized),
        offset_us: None,
        error_bound_us: synchronized.then_some(tx.maxerror as f64),
        reference: None,
    })
}

#[cfg(not(target_os = "linux"))]
fn kernel() -> Option<ClockState> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chrony_tracking_gives_offset_and_bound() {
        // As chronyc -c -n tracking prints it on EC2 against the Amazon Time Sync Service.
        let line = "A9FEA97B,169.254.169.123,3,1795319090.123456789,-0.000012000,0.000003000,0.000020000,-12.345,0.001,0.012,0.000400000,0.000050000,64.2,Normal\n";
        let s = parse_chrony_tracking(line).unwrap();
        assert_eq!(s.source, "chrony");
        assert_eq!(s.synchronized, Some(true));
        assert!((s.offset_us.unwrap() + 12.0).abs() < 1e-6);
        // 12 µs offset + 400/2 µs delay + 50 µs dispersion.
        assert!((s.error_bound_us.unwrap() - 262.0).abs() < 1e-6, "{s:?}");
        assert_eq!(s.reference.as_deref(), Some("169.254.169.123"));
        assert_eq!(s.describe(), "chrony: within ±262 µs");
    }

    #[test]
    fn chrony_without_a_source_has_no_bound() {
        let line = "00000000,,0,0.000000000,0.000000000,0.000000000,0.000000000,0.000,0.000,0.000,1.000000000,1.000000000,0.0,Not synchronised";
        let s = parse_chrony_tracking(line).unwrap();
        assert_eq!(s.synchronized, Some(false));
        assert_eq!(s.error_bound_us, None);
        assert_eq!(s.describe(), "chrony: not synchronized");
        assert!(parse_chrony_tracking("506 Cannot talk to daemon").is_none());
    }

    #[test]
    fn the_current_state_is_read_without_failing() {
        // Whatever this machine has (chrony, a kernel without NTP, a container), a state with a
        // known source comes back, and a bound only when synchronized.
        let s = ClockState::current();
        assert!(["chrony", "kernel", "unknown"].contains(&s.source.as_str()));
        if s.synchronized == Some(false) {
            assert_eq!(s.error_bound_us, None);
        }
    }
}
