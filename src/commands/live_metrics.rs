//! A Prometheus endpoint beside a command's own display: it serves the load the command runs (the
//! last one started stays served until the process ends, so a final scrape reads the final
//! counts).

use std::sync::{Arc, Mutex};

use crate::io::metrics_server::{self, MetricsServer};
use crate::metrics::exposition::{render, Source};
use crate::progress::{Live, Observe, Reporter};

/// Serves `/metrics` at `addr` (`labels` on every metric) and returns the reporter that shows
/// `display` and feeds the endpoint. Keep the server until the command is done.
pub async fn publish<O: Observe + 'static>(
    addr: &str,
    labels: Vec<(String, String)>,
    display: O,
) -> anyhow::Result<(Reporter, MetricsServer)> {
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
    Ok((
        Reporter::new(Published {
            inner: display,
            current,
        }),
        server,
    ))
}

/// The caller's display, keeping the load under way for the endpoint.
struct Published<O> {
    inner: O,
    current: Arc<Mutex<Option<Live>>>,
}

impl<O: Observe> Observe for Published<O> {
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
