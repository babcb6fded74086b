//! `--metrics-addr`: the terminal's display, and beside it a Prometheus endpoint serving the
//! load the command runs (commands::live_metrics).

use super::progress::Terminal;
use crate::io::metrics_server::MetricsServer;
use crate::progress::Reporter;

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
        let (reporter, server) = crate::commands::live_metrics::publish(addr, labels, term).await?;
        eprintln!("metrics: http://{}/metrics", server.addr);
        Ok((reporter, Some(server)))
    }
}
