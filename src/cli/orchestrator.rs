//! What an orchestrator tells a worker through its environment: which worker of how many it is
//! (`--worker auto`, `--instance auto`), and when the load starts (`--start-at`, also from
//! TICKBENCH_START_AT, as a time or a time plus a delay).

use crate::model::sim::Share;

/// Where an index and a count come from, tried in this order. The index counts from 0, as the
/// orchestrators number them.
const SOURCES: [(&str, &str, &str); 3] = [
    (
        "TICKBENCH_WORKER_INDEX",
        "TICKBENCH_WORKERS",
        "set by hand or by any orchestrator",
    ),
    (
        "JOB_COMPLETION_INDEX",
        "TICKBENCH_WORKERS",
        "a Kubernetes Indexed Job; TICKBENCH_WORKERS = the Job's completions",
    ),
    (
        "AWS_BATCH_JOB_ARRAY_INDEX",
        "AWS_BATCH_JOB_ARRAY_SIZE",
        "an AWS Batch array job",
    ),
];

/// `--worker I/N` or `--worker auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerArg {
    Given(Share),
    Auto,
}

impl WorkerArg {
    pub fn parse(text: &str) -> Result<WorkerArg, String> {
        if text == "auto" {
            Ok(WorkerArg::Auto)
        } else {
            Share::parse(text).map(WorkerArg::Given)
        }
    }

    /// The share, reading the environment for `auto`.
    pub fn resolve(self, env: impl Fn(&str) -> Option<String>) -> Result<Share, String> {
        match self {
            WorkerArg::Given(s) => Ok(s),
            WorkerArg::Auto => {
                let (i, n) = index_from(env)?;
                Share::parse(&format!("{}/{n}", i + 1))
            }
        }
    }
}

/// `--instance NAME` or `--instance auto` (`sink-<index>` from the orchestrator's index, the
/// same name when it runs the sink again, so the new one cleans up after the old).
pub fn instance(given: &str, env: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    if given == "auto" {
        index_from(env).map(|(i, _)| format!("sink-{i}"))
    } else {
        Ok(given.to_string())
    }
}

/// The first source whose index is set: (index from 0, count).
fn index_from(env: impl Fn(&str) -> Option<String>) -> Result<(u32, u32), String> {
    for (index, count, what) in SOURCES {
        let Some(i) = env(index) else { continue };
        let bad = |var: &str, v: &str| format!("{var}={v:?} ({what}): expected a whole number");
        let i: u32 = i.trim().parse().map_err(|_| bad(index, &i))?;
        let n = env(count).ok_or_else(|| {
            format!(
                "{index} is set ({what}) but {count} is not: it gives how many workers there are"
            )
        })?;
        let n: u32 = n.trim().parse().map_err(|_| bad(count, &n))?;
        if i >= n {
            return Err(format!(
                "{index}={i} is not below {count}={n} ({what}; the index counts from 0)"
            ));
        }
        return Ok((i, n));
    }
    let known: Vec<String> = SOURCES
        .iter()
        .map(|(i, n, what)| format!("{i} and {n} ({what})"))
        .collect();
    Err(format!(
        "auto: no worker index in the environment; looked for {}",
        known.join(", ")
    ))
}

/// `--start-at`: an RFC 3339 time, or one plus a delay (`2026-11-22T10:00:00Z+2m`), so that a
/// manifest can pass a time all workers share (a Job's or a workflow's creation time) and the
/// delay they need to be up.
pub fn parse_start_at(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    let hint = "expected an RFC 3339 time such as 2026-11-22T10:00:00Z, or one plus a delay such as 2026-11-22T10:00:00Z+90s (`date -u -d \"+1 min\" +%FT%TZ` prints a time)";
    // The delay follows the last '+' after the time part (an offset such as +01:00 has a colon).
    let (time, delay) = match text.rsplit_once('+') {
        Some((t, d)) if !d.contains(':') && t.contains('T') => (t, Some(d)),
        _ => (text, None),
    };
    let t = chrono::DateTime::parse_from_rfc3339(time)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| format!("{text:?}: {e}: {hint}"))?;
    match delay {
        None => Ok(t),
        Some(d) => {
            let d = humantime::parse_duration(d).map_err(|e| format!("{text:?}: {e}: {hint}"))?;
            Ok(t + chrono::Duration::from_std(d).map_err(|e| e.to_string())?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn auto_reads_each_orchestrators_index_counting_from_zero() {
        let auto = WorkerArg::parse("auto").unwrap();
        let k8s = env(&[("JOB_COMPLETION_INDEX", "2"), ("TICKBENCH_WORKERS", "3")]);
        assert_eq!(auto.resolve(&k8s).unwrap().label(), "3/3");
        let batch = env(&[
            ("AWS_BATCH_JOB_ARRAY_INDEX", "0"),
            ("AWS_BATCH_JOB_ARRAY_SIZE", "20"),
        ]);
        assert_eq!(auto.resolve(&batch).unwrap().label(), "1/20");
        let by_hand = env(&[("TICKBENCH_WORKER_INDEX", "1"), ("TICKBENCH_WORKERS", "2")]);
        assert_eq!(auto.resolve(&by_hand).unwrap().label(), "2/2");
        assert_eq!(instance("auto", &k8s).unwrap(), "sink-2");
        assert_eq!(instance("sink-a", &k8s).unwrap(), "sink-a");
        assert_eq!(
            WorkerArg::parse("2/4")
                .unwrap()
                .resolve(&k8s)
                .unwrap()
                .label(),
            "2/4"
        );
    }

    #[test]
    fn auto_without_an_index_or_with_a_bad_one_says_what_it_looked_for() {
        let auto = WorkerArg::Auto;
        let e = auto.resolve(env(&[])).unwrap_err();
        assert!(e.contains("JOB_COMPLETION_INDEX"), "{e}");
        assert!(e.contains("AWS_BATCH_JOB_ARRAY_INDEX"), "{e}");
        let e = auto
            .resolve(env(&[("JOB_COMPLETION_INDEX", "1")]))
            .unwrap_err();
        assert!(e.contains("TICKBENCH_WORKERS is not"), "{e}");
        let e = auto
            .resolve(env(&[
                ("JOB_COMPLETION_INDEX", "3"),
                ("TICKBENCH_WORKERS", "3"),
            ]))
            .unwrap_err();
        assert!(e.contains("not below"), "{e}");
        let e = auto
            .resolve(env(&[
                ("JOB_COMPLETION_INDEX", "x"),
                ("TICKBENCH_WORKERS", "3"),
            ]))
            .unwrap_err();
        assert!(e.contains("whole number"), "{e}");
    }

    #[test]
    fn start_at_is_a_time_or_a_time_plus_a_delay() {
        let t = parse_start_at("2026-11-22T10:00:00Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-22T10:00:00+00:00");
        let t = parse_start_at("2026-11-22T10:00:00Z+90s").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-22T10:01:30+00:00");
        let t = parse_start_at("2026-11-22T11:00:00+01:00+2m").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-22T10:02:00+00:00");
        let t = parse_start_at("2026-11-22T11:00:00+01:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-22T10:00:00+00:00");
        let e = parse_start_at("2026-11-22T10:00:00Z+soon").unwrap_err();
        assert!(e.contains("plus a delay"), "{e}");
        assert!(parse_start_at("tomorrow").is_err());
    }
}
