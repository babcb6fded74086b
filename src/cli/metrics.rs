//! `--metrics-addr`: the terminal's display, and beside it a Prometheus endpoint serving the
//! load the command runs (the last one started stays served until the process ends, so a final
//! scrape reads the final counts).

use std::sync::{Arc, Mutex};

use super::progress::Terminal;
use crate::io::metrics_server::{self, MetricsServer};
use crate::metrics::exposition::{render, Source};
use crate::progress::{Live, Observe, Reporter};

#[derive(Debug, Clone, Default, clap::Args)]
pub struct MetricsArgs {
    /// Serve Prometheus / OpenMetrics text at http://ADDR/metrics while the command runs, for
    /// example 127.0.0.1:9464 (0.0.0.0:9464 in a pod); off by default.
    #[arg(long, env = "TICKBENCH_METRICS_ADDR")]
    pub metrics_addr: Option<String>,
}

impl MetricsArgs {
    /// The command's reporter: the terminal's display, published too when `--metrics-addr` is
    /// given (`labels` on every metric). Keep the server until the command is done.
    pub async fn reporter(
        &self,
        term: Terminal,
        labels: Vec<(String, String)>,
    ) -> anyhow::Result<(Reporter, Option<MetricsServer>)> {
        let Some(addr) = &self.metrics_addr else {
            return Ok((Reporter::new(term), None));
        };
        let current: Arc<Mutex<Option<Live>>> = Arc::default();
        let served = current.clone();
        let server = metrics_server::serve(
            addr,
            Arc::new(move || {
                let live = served.lock().expect("metrics lock").clone();
                let (counters, rec) = match &live {
                    Some(Live::Run { counters, rec, .. })
                    | Some(Live::Sink { counters, rec, .. })
                    | Some(Live::Produce { counters, rec }) => (Some(counters), Some(rec)),
                    None => (None, None),
                };
                render(&Source {
                    labels: &labels,
                    counters: counters.map(|c| &**c),
                    rec: rec.map(|r| &**r),
                })
            }),
        )
        .await?;
        eprintln!("metrics: http://{}/metrics", server.addr);
        Ok((
            Reporter::new(Published {
                inner: term,
                current,
            }),
            Some(server),
        ))
    }
}

/// The terminal's display, keeping the load under way for the endpoint.
struct Published {
    inner: Terminal,
    current: Arc<Mutex<Option<Live>>>,
}

impl Observe for Published {
    fn note(&self, line: &str) {
        self.inner.note(line)
    }

    fn live(&self, live: Live) -> Option<Box<dyn Send>> {
        *self.current.lock().expect("metrics lock") = Some(live.clone());
        self.inner.live(live)
    }

    fn bars(&self) -> bool {
        self.inner.bars()
    }
}
