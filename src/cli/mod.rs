//! The command line: clap's types and one file a command, each building options, calling
//! `commands::<cmd>` and printing what it returns. `main.rs` only parses and calls [`execute`].

mod catalog;
mod compact;
mod compare;
mod doctor;
mod merge;
pub mod metrics;
mod observe;
pub mod orchestrator;
mod produce;
pub mod progress;
mod query;
mod report;
mod run;
mod scenario;
mod signals;
mod sink;
mod up;
mod verify;

pub use signals::Signals;

/// The exit codes, as `main` returns them.
pub mod exit {
    /// The audit passed and every threshold held.
    pub const PASSED: u8 = 0;
    /// Something was lost, duplicated or out of place, or a threshold failed.
    pub const FAILED: u8 = 1;
    /// The command could not be done (bad scenario, unreachable broker or S3).
    pub const ERROR: u8 = 2;
    /// Ctrl-C stopped the load before its end (what was produced is still landed and audited).
    pub const INTERRUPTED: u8 = 130;
}

use clap::{Parser, Subcommand};

use crate::config;

/// Load generator and benchmark for Kafka-to-S3 market-data pipelines.
#[derive(Debug, Parser)]
#[command(name = "tickbench", version, about)]
pub struct Cli {
    /// More diagnostics on stderr (-v: debug, -vv: trace; RUST_LOG overrides).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Diagnostics as text for people, or one JSON object a line (with a timestamp) for a log
    /// collector (pods); progress lines and notes stay text on stderr.
    #[arg(long, global = true, value_enum, env = "TICKBENCH_LOG_FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Diagnostics (`tracing`) on stderr: warnings by default, more with -v, or as RUST_LOG says.
    pub fn init_tracing(&self) {
        let level = match self.verbose {
            0 => "warn",
            1 => "debug",
            _ => "trace",
        };
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            // librdkafka's own log (its errors and warnings; with a `debug` property, its debug
            // lines) under the target `librdkafka`.
            .unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new(format!("tickbench={level},librdkafka={level}"))
            });
        let fmt = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr);
        let _ = match self.log_format {
            LogFormat::Text => fmt.without_time().try_init(),
            LogFormat::Json => fmt.json().with_current_span(false).try_init(),
        };
    }
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario end to end: simulate, produce to Kafka, sink to S3, audit, report. A
    /// scenario with `[sweep]` or `[[variant]]` runs each of its settings and compares them.
    Run(run::Args),
    /// Produce the scenario's load to Kafka with no sink: a cluster's (or the producer's) ceiling.
    Produce(produce::Args),
    /// Run only the sink, as one member of a consumer group: land what the topic holds, commit
    /// what is durable, stop when idle (`--until-idle`) or on SIGTERM / Ctrl-C. Start several
    /// (with different `--instance` names) to spread the partitions over them.
    Sink(sink::Args),
    /// Watch an external sink's objects (the scenario's `[observe]` prefix) while `tickbench
    /// produce` workers make the load elsewhere: every new object read back, every tick's
    /// pipeline_e2e recorded, until idle (`--until-idle`) or SIGTERM / Ctrl-C. `tickbench merge`
    /// joins its folder with the producers'.
    Observe(observe::Args),
    /// Check that the scenario's brokers, topic and bucket are usable, and say how to fix what is not.
    Doctor(doctor::Args),
    /// Audit a run again from its results folder: read back every object from S3 and check it
    /// against what the run acknowledged. Exit 0 when nothing is lost or repeated, 1 otherwise.
    Verify(verify::Args),
    /// Write a run's report again from its results folder: report.md, report.html (self-contained,
    /// with SVG plots) and timeseries.csv.
    Report(report::Args),
    /// Compare runs side by side: compare.md and compare.html (figures with their change against
    /// the first run, latency spectra and throughput overlaid).
    Compare(compare::Args),
    /// Merge the folders of several producer workers (`tickbench produce --worker I/N`) and
    /// sinks (`tickbench sink`) into one run: histograms added, counts summed, the integrity
    /// audit over the union, one report. Exit 0 when nothing is lost or repeated and every
    /// threshold passes, 1 otherwise.
    Merge(merge::Args),
    /// Print the Athena table over the landed objects: CREATE EXTERNAL TABLE with partition
    /// projection (or, with --glue, Glue's TableInput JSON). Given a run folder, also writes both
    /// into its catalog/ folder.
    Catalog(catalog::Args),
    /// Compact landed objects, as a Glue ETL job would: each time partition's objects become one
    /// Parquet object sorted by symbol and time, under `<prefix>-compacted/`; the sources are
    /// removed once it is durable and read back whole. Safe to run again.
    Compact(compact::Args),
    /// SQL over landed objects (Apache DataFusion): the table `ticks` with the tick's columns and
    /// the layout's partition columns (dt, hour, ...), as Athena sees it.
    Query(query::Args),
    /// Start the embedded mock Kafka cluster and S3 server in the foreground for other tools.
    Up(up::Args),
    /// Work with scenario files.
    Scenario(scenario::Args),
}

/// `--results-to`: the folder copied to S3 when the command is done (the scenario's S3 settings
/// and the AWS chain, or `endpoint`), and where it went printed.
pub(crate) async fn send_results(
    dir: &std::path::Path,
    to: Option<&crate::commands::results_to::S3Folder>,
    s3: &config::S3,
    endpoint: Option<&str>,
    stdout: &mut (dyn std::io::Write + Send),
) -> anyhow::Result<()> {
    use anyhow::Context;
    let Some(to) = to else { return Ok(()) };
    let client = crate::commands::results_to::client(s3, endpoint).await;
    let (at, n) = crate::commands::results_to::upload(&client, dir, to)
        .await
        .with_context(|| format!("copying {} to {to}", dir.display()))?;
    writeln!(stdout, "results copied to {at} ({n} files)")?;
    Ok(())
}

/// Overrides of the scenario's Kafka target, so one scenario file serves any cluster.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct KafkaTargets {
    /// Kafka bootstrap servers, instead of the scenario's `kafka.brokers`.
    #[arg(long)]
    pub brokers: Option<String>,
    /// Kafka topic, instead of the scenario's `kafka.topic`; a topic named here is used itself,
    /// not a run's own (`kafka.topic_per_run = false`): a topic that exists already, on a
    /// cluster that does not create topics on request (librdkafka's mock behind `tickbench up`).
    #[arg(long)]
    pub topic: Option<String>,
}

impl KafkaTargets {
    /// The overrides, for [`config::load_with`]: applied before the scenario is validated.
    pub fn overrides(&self) -> config::Overrides {
        config::Overrides {
            brokers: self.brokers.clone(),
            topic: self.topic.clone(),
            ..Default::default()
        }
    }
}

/// Overrides of the scenario's targets (Kafka and S3), so one scenario file serves any cluster.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Targets {
    #[command(flatten)]
    pub kafka: KafkaTargets,
    /// S3 endpoint URL, instead of the scenario's `s3.endpoint`.
    #[arg(long)]
    pub s3_endpoint: Option<String>,
    /// S3 bucket, instead of the scenario's `s3.bucket`.
    #[arg(long)]
    pub bucket: Option<String>,
    /// Create the bucket if it is missing (sets `s3.create_bucket`).
    #[arg(long)]
    pub create_bucket: bool,
}

impl Targets {
    /// The overrides, for [`config::load_with`]: applied before the scenario is validated.
    pub fn overrides(&self) -> config::Overrides {
        config::Overrides {
            s3_endpoint: self.s3_endpoint.clone(),
            bucket: self.bucket.clone(),
            create_bucket: self.create_bucket,
            ..self.kafka.overrides()
        }
    }
}

/// Runs a parsed command line; the exit code (see [`exit`]) says whether the run passed its audit.
/// What a command prints for its user goes to `stdout` (stdout, for `main`); progress and notes go
/// to stderr.
pub async fn execute(
    cli: Cli,
    signals: &Signals,
    stdout: &mut (dyn std::io::Write + Send),
) -> anyhow::Result<u8> {
    match cli.command {
        Command::Run(a) => run::execute(a, signals, stdout).await,
        Command::Produce(a) => produce::execute(a, signals, stdout).await,
        Command::Sink(a) => sink::execute(a, signals, stdout).await,
        Command::Observe(a) => observe::execute(a, signals, stdout).await,
        Command::Doctor(a) => doctor::execute(a, signals, stdout).await,
        Command::Verify(a) => verify::execute(a, signals, stdout).await,
        Command::Report(a) => report::execute(a, signals, stdout).await,
        Command::Compare(a) => compare::execute(a, signals, stdout).await,
        Command::Merge(a) => merge::execute(a, signals, stdout).await,
        Command::Catalog(a) => catalog::execute(a, signals, stdout).await,
        Command::Compact(a) => compact::execute(a, signals, stdout).await,
        Command::Query(a) => query::execute(a, signals, stdout).await,
        Command::Up(a) => up::execute(a, signals, stdout).await,
        Command::Scenario(a) => scenario::execute(a, signals, stdout).await,
    }
}
