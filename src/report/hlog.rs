//! Reads a run's HdrHistogram interval logs (`histograms/<stage>.hlog`) back: the whole measured
//! window as one histogram, and one histogram a second.

use std::io::Cursor;
use std::path::Path;

use anyhow::Context;
use base64::Engine as _;
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;

use crate::metrics::Stage;

/// One stage's log.
#[derive(Debug, Clone)]
pub struct StageLog {
    pub stage: Stage,
    /// Every interval added up: the measured window.
    pub total: Histogram<u64>,
    /// (second since the run's start, that second's histogram), in order.
    pub seconds: Vec<(u64, Histogram<u64>)>,
    /// The run's start (the log's StartTime), ns since the Unix epoch, to the millisecond.
    pub start_ns: Option<u64>,
}

/// Reads `<dir>/<stage>.hlog` for every stage; a stage without a log is left out.
pub fn read_all(dir: &Path) -> anyhow::Result<Vec<StageLog>> {
    let mut out = Vec::new();
    for stage in Stage::ALL {
        let path = dir.join(format!("{}.hlog", stage.name()));
        if !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        out.push(read(stage, &bytes).with_context(|| format!("reading {}", path.display()))?);
    }
    Ok(out)
}

/// Parses one interval log.
pub fn read(stage: Stage, bytes: &[u8]) -> anyhow::Result<StageLog> {
    let mut total = Histogram::<u64>::new(3).expect("3 significant digits is valid");
    total.auto(true);
    let mut seconds = Vec::new();
    let mut start_ns = None;
    let mut de = Deserializer::new();
    for entry in IntervalLogIterator::new(bytes) {
        let entry = entry.map_err(|e| anyhow::anyhow!("malformed interval log: {e:?}"))?;
        if let LogEntry::StartTime(t) = entry {
            start_ns = Some(t.as_nanos() as u64);
        }
        if let LogEntry::Interval(ilh) = entry {
            let raw = base64::engine::general_purpose::STANDARD
                .decode(ilh.encoded_histogram())
                .context("an interval's histogram is not base64")?;
            let h: Histogram<u64> = de
                .deserialize(&mut Cursor::new(raw))
                .map_err(|e| anyhow::anyhow!("an interval's histogram does not decode: {e:?}"))?;
            total.add(&h).context("adding intervals")?;
            seconds.push((ilh.start_timestamp().as_secs(), h));
        }
    }
    Ok(StageLog {
        stage,
        total,
        seconds,
        start_ns,
    })
}
