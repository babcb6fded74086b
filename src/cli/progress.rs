//! The command line's display: a live bar on a terminal, a line a second in a log, JSON lines for
//! machines; notes and warnings on stderr.

use std::io::IsTerminal;
use std::time::Duration;

use crate::progress::{sink_line, Live, Observe, ProgressFormat, Tick};

/// Progress and notes on stderr.
pub struct Terminal {
    pub format: ProgressFormat,
}

/// How progress is shown, the same on every command that runs a load or a sink.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Output {
    /// No progress while running (the same as --progress none).
    #[arg(long, short)]
    pub quiet: bool,
    /// How progress is shown on stderr: a live bar on a terminal (auto), a line a second
    /// (lines), a JSON object a second for machines (json), or none. Default: auto for `run`;
    /// lines for `produce`, `sink` and `observe`, which usually run unattended.
    #[arg(long, value_enum)]
    pub progress: Option<ProgressFormat>,
}

impl Output {
    /// The display asked for; `default` when neither flag was given.
    pub fn terminal(&self, default: ProgressFormat) -> Terminal {
        Terminal {
            format: match (self.quiet, self.progress) {
                (true, _) => ProgressFormat::None,
                (false, Some(f)) => f,
                (false, None) => default,
            },
        }
    }
}

/// Stops a display task when dropped (ending a line it kept rewriting).
struct Abort(tokio::task::JoinHandle<()>, bool);
impl Drop for Abort {
    fn drop(&mut self) {
        self.0.abort();
        if self.1 {
            eprintln!();
        }
    }
}

impl Observe for Terminal {
    fn note(&self, line: &str) {
        eprintln!("{line}");
    }

    fn live(&self, live: Live) -> Option<Box<dyn Send>> {
        if self.format == ProgressFormat::None {
            return None;
        }
        let format = self.format;
        let rewrites = matches!(live, Live::Sink { .. }) && std::io::stderr().is_terminal();
        let task = match live {
            Live::Run {
                counters,
                rec,
                start_ns,
                total,
            } => tokio::spawn(async move {
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
                let mut last = 0;
                every.tick().await;
                loop {
                    every.tick().await;
                    let t = Tick::sample(&counters, &rec, start_ns, total, last);
                    last = t.produced;
                    match (&bar, format) {
                        (Some(b), _) => {
                            b.set_position((t.elapsed_s * 1e3) as u64);
                            b.set_message(t.line());
                        }
                        (None, ProgressFormat::Json) => {
                            eprintln!("{}", serde_json::to_string(&t).expect("a tick serializes"))
                        }
                        _ => eprintln!("{}", t.line()),
                    }
                }
            }),
            Live::Produce { .. } => return None,
            Live::Sink {
                counters, start_ns, ..
            } => tokio::spawn(async move {
                let tty = std::io::stderr().is_terminal();
                let mut every = tokio::time::interval(Duration::from_secs(1));
                let mut last = 0;
                every.tick().await;
                loop {
                    every.tick().await;
                    let (line, consumed) = sink_line(&counters, start_ns, last);
                    last = consumed;
                    if tty {
                        eprint!("\r\x1b[2K{line}");
                    } else {
                        eprintln!("{line}");
                    }
                }
            }),
        };
        Some(Box::new(Abort(task, rewrites)))
    }

    fn bars(&self) -> bool {
        self.format == ProgressFormat::Auto && std::io::stderr().is_terminal()
    }
}
