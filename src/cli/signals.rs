//! Ctrl-C and SIGTERM for the commands that stop gracefully (run, sink, sweeps): the first asks
//! the command to stop (it then lands, audits and reports what it has), a second Ctrl-C aborts.
//! `main` maps an abort to exit code 130; the library only ever sees the stop token.

use tokio_util::sync::CancellationToken;

/// The tokens a command and `main` watch.
#[derive(Debug, Clone, Default)]
pub struct Signals {
    /// Cancelled by the first Ctrl-C (or SIGTERM): stop gracefully.
    pub stop: CancellationToken,
    /// Cancelled by a second Ctrl-C: give up at once.
    pub abort: CancellationToken,
}

impl Signals {
    /// Tokens nothing cancels until [`Signals::listen`] is called (tests drive commands so).
    pub fn new() -> Signals {
        Signals::default()
    }

    /// Takes Ctrl-C (and SIGTERM, for a sink process) over from the default handlers, which end
    /// the process at once; commands that do not stop gracefully never call this.
    pub fn listen(&self, sigterm: bool) -> anyhow::Result<()> {
        let mut term = if sigterm {
            Some(tokio::signal::unix::signal(
                tokio::signal::unix::SignalKind::terminate(),
            )?)
        } else {
            None
        };
        let (stop, abort) = (self.stop.clone(), self.abort.clone());
        tokio::spawn(async move {
            loop {
                let ctrl_c = tokio::select! {
                    // No Ctrl-C handler could be installed: the default one stays.
                    r = tokio::signal::ctrl_c() => if r.is_err() { return } else { true },
                    Some(()) = async { match term.as_mut() { Some(t) => t.recv().await, None => std::future::pending().await } } => false,
                };
                if stop.is_cancelled() && ctrl_c {
                    abort.cancel();
                    return;
                }
                stop.cancel();
            }
        });
        Ok(())
    }
}
