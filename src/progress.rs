//! What a command shows while it goes goes through a [`Reporter`] its caller gives: the command
//! line's draws a bar or prints lines on stderr, a library caller's or a test's shows nothing.
//! The library itself never writes to the terminal. Here: the reporter, and the one-second
//! snapshots of a load that any display draws from.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::metrics::{now_ns, Counters, Recorders, Stage};

/// How progress is shown (`--progress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ProgressFormat {
    /// A live bar on a terminal, lines otherwise.
    #[default]
    Auto,
    /// A line a second on stderr.
    Lines,
    /// A JSON object a second on stderr (see the README for its fields).
    Json,
    /// Nothing (the same as --quiet).
    None,
}

/// A load under way, for a live display.
#[derive(Clone)]
pub enum Live {
    /// `tickbench run`: producer and sink in this process.
    Run {
        counters: Arc<Counters>,
        rec: Arc<Recorders>,
        start_ns: u64,
        total: Duration,
    },
    /// `tickbench sink` (and `observe`): a sink process landing what arrives.
    Sink {
        counters: Arc<Counters>,
        rec: Arc<Recorders>,
        start_ns: u64,
    },
    /// `tickbench produce`: a producer worker sending its share (no line of its own: it notes).
    Produce {
        counters: Arc<Counters>,
        rec: Arc<Recorders>,
    },
}

/// What a display of the caller's does with a command's progress and notes.
pub trait Observe: Send + Sync {
    /// A line for people: what the command is doing, or a warning.
    fn note(&self, _line: &str) {}
    /// A load has started: show it until the returned guard is dropped.
    fn live(&self, _live: Live) -> Option<Box<dyn Send>> {
        None
    }
    /// Whether long reads (the audit's) may draw a bar on the terminal.
    fn bars(&self) -> bool {
        false
    }
}

struct Silent;
impl Observe for Silent {}

/// The caller's display, shared by everything a command starts.
#[derive(Clone)]
pub struct Reporter(Arc<dyn Observe>);

impl Reporter {
    /// Shows nothing (notes still go to `tracing`).
    pub fn silent() -> Reporter {
        Reporter(Arc::new(Silent))
    }

    pub fn new(o: impl Observe + 'static) -> Reporter {
        Reporter(Arc::new(o))
    }

    pub fn note(&self, line: &str) {
        tracing::info!("{line}");
        self.0.note(line);
    }

    /// Shows a run's load until the guard is dropped.
    pub fn live_run(
        &self,
        counters: Arc<Counters>,
        rec: Arc<Recorders>,
        start_ns: u64,
        total: Duration,
    ) -> Option<Box<dyn Send>> {
        self.0.live(Live::Run {
            counters,
            rec,
            start_ns,
            total,
        })
    }

    /// Shows a sink's landing until the guard is dropped.
    pub fn live_sink(
        &self,
        counters: Arc<Counters>,
        rec: Arc<Recorders>,
        start_ns: u64,
    ) -> Option<Box<dyn Send>> {
        self.0.live(Live::Sink {
            counters,
            rec,
            start_ns,
        })
    }

    /// Shows a producer worker's sending until the guard is dropped.
    pub fn live_produce(
        &self,
        counters: Arc<Counters>,
        rec: Arc<Recorders>,
    ) -> Option<Box<dyn Send>> {
        self.0.live(Live::Produce { counters, rec })
    }

    pub fn shows_bars(&self) -> bool {
        self.0.bars()
    }
}

impl Default for Reporter {
    fn default() -> Self {
        Reporter::silent()
    }
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reporter")
    }
}

/// One second's state of a run (a `--progress json` line).
#[derive(Debug, Clone, Serialize)]
pub struct Tick {
    pub elapsed_s: f64,
    pub total_s: f64,
    pub time_left_s: f64,
    pub produced: u64,
    /// Ticks handed to the producer in the last second.
    pub rate_per_s: u64,
    pub acked: u64,
    pub consumed: u64,
    pub landed: u64,
    pub objects: u64,
    /// Records not yet received by the sink (by an observed sink's group: not yet committed),
    /// sampled from the brokers once a second; null until sampled, and without a sink to ask of.
    pub consumer_lag: Option<u64>,
    /// This second's p99 of schedule_lag and pipeline_e2e, milliseconds.
    pub schedule_lag_p99_ms: f64,
    pub pipeline_e2e_p99_ms: f64,
}

impl Tick {
    /// The run's state now; `last_produced` is the previous sample's `produced`.
    pub fn sample(
        c: &Counters,
        rec: &Recorders,
        start_ns: u64,
        total: Duration,
        last_produced: u64,
    ) -> Tick {
        let produced = c.produced.load(Ordering::Relaxed);
        let acked = c.acked.load(Ordering::Relaxed);
        let consumed = c.consumed.load(Ordering::Relaxed);
        let elapsed_s = now_ns().saturating_sub(start_ns) as f64 / 1e9;
        Tick {
            elapsed_s,
            total_s: total.as_secs_f64(),
            time_left_s: (total.as_secs_f64() - elapsed_s).max(0.0),
            produced,
            rate_per_s: produced.saturating_sub(last_produced),
            acked,
            consumed,
            landed: c.landed.load(Ordering::Relaxed),
            objects: c.objects.load(Ordering::Relaxed),
            consumer_lag: c.sink_lag.get(),
            schedule_lag_p99_ms: rec.get(Stage::ScheduleLag).current_interval().p99 as f64 / 1e3,
            pipeline_e2e_p99_ms: rec.get(Stage::PipelineE2e).current_interval().p99 as f64 / 1e3,
        }
    }

    pub fn line(&self) -> String {
        format!(
            "[{:5.1}s/{:.0}s] {} ticks/s, schedule lag p99 {:.2}ms | acked {} consumed {}{} landed {} in {} objects | e2e p99 {:.0}ms | {:.0}s left",
            self.elapsed_s,
            self.total_s,
            self.rate_per_s,
            self.schedule_lag_p99_ms,
            self.acked,
            self.consumed,
            lag_note(self.consumer_lag),
            self.landed,
            self.objects,
            self.pipeline_e2e_p99_ms,
            self.time_left_s
        )
    }
}

/// A sink process's line a second; `last_consumed` is the previous line's count.
pub fn sink_line(c: &Counters, start_ns: u64, last_consumed: u64) -> (String, u64) {
    let consumed = c.consumed.load(Ordering::Relaxed);
    let mut line = format!(
        "[{:6.1}s] consumed {consumed} ({}/s)",
        now_ns().saturating_sub(start_ns) as f64 / 1e9,
        consumed.saturating_sub(last_consumed),
    );
    line.push_str(&lag_note(c.sink_lag.get()));
    line.push_str(&format!(
        " landed {} in {} objects",
        c.landed.load(Ordering::Relaxed),
        c.objects.load(Ordering::Relaxed),
    ));
    (line, consumed)
}

/// " (lag N)" once the lag is sampled, else nothing.
fn lag_note(lag: Option<u64>) -> String {
    lag.map(|l| format!(" (lag {l})")).unwrap_or_default()
}
