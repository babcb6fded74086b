//! What a run shows while it goes, once a second: a live bar on a terminal, plain lines in a log,
//! or JSON lines for machines (`--progress json`). Rate, schedule lag, consumer lag, the current
//! p99 of the pipeline and the time left.

use std::io::IsTerminal;
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
    /// Acknowledged and not yet received by the sink.
    pub consumer_lag: u64,
    /// This second's p99 of schedule_lag and pipeline_e2e, milliseconds.
    pub schedule_lag_p99_ms: f64,
    pub pipeline_e2e_p99_ms: f64,
}

impl Tick {
    fn line(&self) -> String {
        format!(
            "[{:5.1}s/{:.0}s] {} ticks/s, schedule lag p99 {:.2}ms | acked {} consumed {} (lag {}) landed {} in {} objects | e2e p99 {:.0}ms | {:.0}s left",
            self.elapsed_s,
            self.total_s,
            self.rate_per_s,
            self.schedule_lag_p99_ms,
            self.acked,
            self.consumed,
            self.consumer_lag,
            self.landed,
            self.objects,
            self.pipeline_e2e_p99_ms,
            self.time_left_s
        )
    }
}

/// Shows progress until aborted (the run aborts the task when the load is landed).
pub async fn show(
    format: ProgressFormat,
    c: Arc<Counters>,
    rec: Arc<Recorders>,
    start_ns: u64,
    total: Duration,
) {
    let tty = std::io::stderr().is_terminal();
    let bar = (format == ProgressFormat::Auto && tty).then(|| {
        let b = indicatif::ProgressBar::new(total.as_millis() as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{bar:30.cyan/blue} {msg}")
                .expect("a valid template"),
        );
        b
    });
    let mut every = tokio::time::interval(Duration::from_secs(1));
    let mut last_produced = 0;
    every.tick().await;
    loop {
        every.tick().await;
        let produced = c.produced.load(Ordering::Relaxed);
        let acked = c.acked.load(Ordering::Relaxed);
        let consumed = c.consumed.load(Ordering::Relaxed);
        let elapsed_s = now_ns().saturating_sub(start_ns) as f64 / 1e9;
        let t = Tick {
            elapsed_s,
            total_s: total.as_secs_f64(),
            time_left_s: (total.as_secs_f64() - elapsed_s).max(0.0),
            produced,
            rate_per_s: produced - last_produced,
            acked,
            consumed,
            landed: c.landed.load(Ordering::Relaxed),
            objects: c.objects.load(Ordering::Relaxed),
            consumer_lag: acked.saturating_sub(consumed),
            schedule_lag_p99_ms: rec.get(Stage::ScheduleLag).current_interval().p99 as f64 / 1e3,
            pipeline_e2e_p99_ms: rec.get(Stage::PipelineE2e).current_interval().p99 as f64 / 1e3,
        };
        last_produced = produced;
        match (format, &bar) {
            (_, Some(b)) => {
                b.set_position((elapsed_s * 1e3) as u64);
                b.set_message(t.line());
            }
            (ProgressFormat::Json, _) => {
                eprintln!("{}", serde_json::to_string(&t).expect("a tick serializes"))
            }
            (ProgressFormat::None, _) => {}
            _ => eprintln!("{}", t.line()),
        }
    }
}
