//! The command line. `main.rs` only parses and calls [`execute`].

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

use crate::run::{self, RunOptions};
use crate::{doctor, maxrate, scenario, sweep, up};

/// Load generator and benchmark for Kafka-to-S3 market-data pipelines.
#[derive(Debug, Parser)]
#[command(name = "tickbench", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario end to end: simulate, produce to Kafka, sink to S3, audit, report. A
    /// scenario with `[sweep]` or `[[variant]]` runs each of its settings and compares them.
    Run {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// Folder the run's results folder is created in.
        #[arg(long, default_value = "results")]
        results_dir: PathBuf,
        /// No progress while running (the same as --progress none).
        #[arg(long, short)]
        quiet: bool,
        /// How progress is shown on stderr: a live bar on a terminal (auto), a line a second
        /// (lines), a JSON object a second for machines (json), or none.
        #[arg(long, value_enum, default_value_t = crate::progress::ProgressFormat::Auto)]
        progress: crate::progress::ProgressFormat,
        #[command(flatten)]
        targets: Targets,
    },
    /// Produce the scenario's load to Kafka with no sink: a cluster's (or the producer's) ceiling.
    Produce {
        /// The scenario file (TOML).
        scenario: PathBuf,
        /// Folder the run's results folder is created in.
        #[arg(long, default_value = "results")]
        results_dir: PathBuf,
        /// Kafka bootstrap servers, instead of the scenario's `kafka.brokers`.
        #[arg(long)]
        brokers: Option<String>,
        /// Topic, instead of the scenario's `kafka.topic`.
        #[arg(long)]
        topic: Option<String>,
        /// Produce worker I's share of N (counting from 1): symbols dealt out by activity so each
        /// worker carries about 1/N of the rate. The N workers together produce exactly the
        /// stream one would.
        #[arg(long, value_parser = crate::sim::Share::parse, default_value = "1/1")]
        worker: crate::sim::Share,
        /// Start the load at this wall-clock time (RFC 3339, for example 2026-11-22T10:00:00Z):
        /// give every worker the same, a little in the future.
        #[arg(long, value_parser = parse_start_at)]
        start_at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// Run only the sink, as one member of a consumer group: land what the topic holds, commit
    /// what is durable, stop when idle (`--until-idle`) or on SIGTERM / Ctrl-C. Start several
    /// (with different `--instance` names) to spread the partitions over them.
    Sink {
        /// The scenario file (TOML): its [kafka], [sink] and [s3] sections are used.
        scenario: PathBuf,
        /// Folder the sink's results folder is created in; `.sink-state/` in it keeps the upload
        /// journal a restarted sink cleans up from.
        #[arg(long, default_value = "results")]
        results_dir: PathBuf,
        /// This sink's name, unique among the sinks sharing a results folder; keep it across
        /// restarts so the restarted sink aborts the uploads the old one left open.
        #[arg(long, default_value = "sink-0")]
        instance: String,
        /// Consumer group, instead of the scenario's `kafka.group_id` (default
        /// `tickbench-sink-<scenario name>`).
        #[arg(long)]
        group: Option<String>,
        /// Stop once no record has arrived for this long (for example 10s); without it the sink
        /// runs until SIGTERM or Ctrl-C.
        #[arg(long, value_parser = humantime::parse_duration)]
        until_idle: Option<std::time::Duration>,
        /// The producers' agreed start (their `--start-at`): this sink's latency intervals and
        /// warm-up then line up with theirs, for `tickbench merge`.
        #[arg(long, value_parser = parse_start_at)]
        start_at: Option<chrono::DateTime<chrono::Utc>>,
        /// No progress line while running.
        #[arg(long, short)]
        quiet: bool,
        #[command(flatten)]
        targets: Targets,
    },
    /// Check that the scenario's brokers, topic and bucket are usable, and say how to fix what is not.
    Doctor {
        /// The scenario file (TOML).
        scenario: PathBuf,
        #[command(flatten)]
        targets: Targets,
    },
    /// Audit a run again from its results folder: read back every object from S3 and check it
    /// against what the run acknowledged. Exit 0 when nothing is lost or repeated, 1 otherwise.
    Verify {
        /// The run's results folder (results/<timestamp>-<name>).
        run_dir: PathBuf,
        /// S3 endpoint, instead of the one the run used.
        #[arg(long)]
        s3_endpoint: Option<String>,
    },
    /// Write a run's report again from its results folder: report.md, report.html (self-contained,
    /// with SVG plots) and timeseries.csv.
    Report {
        /// The run's results folder (results/<timestamp>-<name>).
        run_dir: PathBuf,
    },
    /// Compare runs side by side: compare.md and compare.html (figures with their change against
    /// the first run, latency spectra and throughput overlaid).
    Compare {
        /// Two or more results folders; the first is the baseline.
        #[arg(required = true, num_args = 1..)]
        run_dirs: Vec<PathBuf>,
        /// Folder to write the comparison into (default: a new `results/<timestamp>-compare/`).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Merge the folders of several producer workers (`tickbench produce --worker I/N`) and
    /// sinks (`tickbench sink`) into one run: histograms added, counts summed, the integrity
    /// audit over the union, one report. Exit 0 when nothing is lost or repeated and every
    /// threshold passes, 1 otherwise.
    Merge {
        /// Every producer worker's results folder and every sink's (copied from their hosts).
        #[arg(required = true, num_args = 1..)]
        dirs: Vec<PathBuf>,
        /// Folder the merged run's folder is created in.
        #[arg(long, default_value = "results")]
        results_dir: PathBuf,
        /// The merged run's folder itself (default: a new `<results-dir>/<timestamp>-<name>-merged/`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// S3 endpoint to read the objects back from, instead of the one the sinks used.
        #[arg(long)]
        s3_endpoint: Option<String>,
    },
    /// Print the Athena table over the landed objects: CREATE EXTERNAL TABLE with partition
    /// projection (or, with --glue, Glue's TableInput JSON). Given a run folder, also writes both
    /// into its catalog/ folder.
    Catalog {
        /// A run's results folder, or a scenario file.
        source: PathBuf,
        /// Glue database (Athena schema) of the table.
        #[arg(long, default_value = "tickbench")]
        database: String,
        /// Table name.
        #[arg(long, default_value = "ticks")]
        table: String,
        /// First day of the date projection, YYYY-MM-DD (default: the run's start day; for a
        /// scenario, 30 days ago).
        #[arg(long)]
        since: Option<String>,
        /// Print Glue's TableInput (for `aws glue create-table --table-input`) instead of the DDL.
        #[arg(long)]
        glue: bool,
    },
    /// Compact landed objects, as a Glue ETL job would: each time partition's objects become one
    /// Parquet object sorted by symbol and time, under `<prefix>-compacted/`; the sources are
    /// removed once it is durable and read back whole. Safe to run again.
    Compact {
        /// A run's results folder (its S3, the embedded one served again), or a scenario file.
        source: PathBuf,
        /// Only this time partition (dt=YYYY-MM-DD/hour=HH), repeatable; default all.
        #[arg(long)]
        partition: Vec<String>,
        /// Prefix of the compacted objects (default `<s3.prefix>-compacted`).
        #[arg(long)]
        target_prefix: Option<String>,
        #[command(flatten)]
        targets: Targets,
    },
    /// SQL over landed objects (Apache DataFusion): the table `ticks` with the tick's columns and
    /// the layout's partition columns (dt, hour, ...), as Athena sees it.
    Query {
        /// A run's results folder, a folder of objects, or s3://bucket/prefix/topic/.
        location: String,
        /// The SQL (the table is `ticks`); or use --preset.
        sql: Option<String>,
        /// A ready-made query: ohlc, vwap, moving-average, top-movers, volume-by-hour.
        #[arg(long, conflicts_with = "sql")]
        preset: Option<String>,
        /// Output: table, csv or json (one object a line).
        #[arg(long, value_enum, default_value_t = crate::query::Output::Table)]
        output: crate::query::Output,
        /// S3-compatible endpoint for an s3:// location (credentials from the AWS environment).
        #[arg(long)]
        s3_endpoint: Option<String>,
    },
    /// Start the embedded mock Kafka cluster and S3 server in the foreground for other tools.
    Up {
        /// Folder the S3 server keeps objects in.
        #[arg(long, default_value = "tickbench-up")]
        dir: PathBuf,
        /// Topic to create on the mock cluster.
        #[arg(long, default_value = "ticks")]
        topic: String,
        /// Partitions of that topic.
        #[arg(long, default_value_t = 12)]
        partitions: u32,
        /// Bucket to create on the S3 server.
        #[arg(long, default_value = "tickbench")]
        bucket: String,
        /// S3 port on 127.0.0.1 (0: any free port).
        #[arg(long, default_value_t = 0)]
        s3_port: u16,
    },
    /// Work with scenario files.
    Scenario {
        #[command(subcommand)]
        command: ScenarioCommand,
    },
}

/// `--start-at`: an RFC 3339 time.
fn parse_start_at(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| {
            format!("{e}: expected an RFC 3339 time such as 2026-11-22T10:00:00Z (`date -u -d \"+1 min\" +%FT%TZ` prints one)")
        })
}

/// Overrides of the scenario's targets, so one scenario file serves any cluster.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Targets {
    /// Kafka bootstrap servers, instead of the scenario's `kafka.brokers`.
    #[arg(long)]
    pub brokers: Option<String>,
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
    /// Applies the overrides, then validates the result as if it had been in the file.
    pub fn apply(
        &self,
        mut s: scenario::Scenario,
        path: &std::path::Path,
    ) -> anyhow::Result<scenario::Scenario> {
        if let Some(b) = &self.brokers {
            s.kafka.brokers = Some(b.clone());
        }
        if let Some(e) = &self.s3_endpoint {
            s.s3.endpoint = Some(e.clone());
        }
        if let Some(b) = &self.bucket {
            s.s3.bucket = Some(b.clone());
        }
        s.s3.create_bucket |= self.create_bucket;
        let text = toml::to_string(&s).context("re-reading the scenario")?;
        let label = format!("{} (with command-line overrides)", path.display());
        Ok(scenario::parse(std::path::Path::new(&label), &text)?)
    }
}

#[derive(Debug, Subcommand)]
pub enum ScenarioCommand {
    /// Validate a scenario file without running it; prints the resolved scenario.
    Check {
        /// The scenario file (TOML).
        file: PathBuf,
    },
}

/// Runs a parsed command line; the exit code says whether the run passed its audit.
pub async fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run {
            scenario: path,
            results_dir,
            quiet,
            progress,
            targets,
        } => {
            let s = targets.apply(scenario::load(&path)?, &path)?;
            let progress = if quiet {
                crate::progress::ProgressFormat::None
            } else {
                progress
            };
            let opts = RunOptions {
                results_root: results_dir,
                progress,
                interruptible: true,
            };
            if let Some(m) = s.max.clone() {
                let outcome = maxrate::search(&s, &m, &opts)
                    .await
                    .with_context(|| format!("max-rate search of {}", path.display()))?;
                print!("{}", outcome.to_text());
                println!("results: {}", outcome.dir.display());
                return Ok(if outcome.settled_ticks_per_second.is_some() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                });
            }
            if !s.sweep.is_empty() || !s.variant.is_empty() {
                let cells = sweep::cells(&s, &path)?;
                let outcome = sweep::run(&s, &cells, Some(&path), &opts)
                    .await
                    .with_context(|| format!("sweep of {}", path.display()))?;
                print!("{}", sweep::compare::markdown(&outcome.rows));
                println!("results: {}", outcome.dir.display());
                return Ok(if outcome.interrupted {
                    ExitCode::from(130)
                } else if outcome.rows.iter().any(|r| r.error.is_some()) {
                    ExitCode::from(2)
                } else if outcome.rows.iter().all(|r| r.passed) {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                });
            }
            let outcome = run::run(&s, Some(&path), &opts)
                .await
                .with_context(|| format!("running {}", path.display()))?;
            if progress == crate::progress::ProgressFormat::Auto {
                eprintln!();
            }
            print!("{}", outcome.summary.to_text());
            println!("results: {}", outcome.dir.display());
            Ok(if outcome.summary.interrupted {
                // What was produced is landed and audited, but the run is not the scenario.
                ExitCode::from(130)
            } else if outcome.summary.passed && outcome.summary.thresholds_passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Produce {
            scenario: path,
            results_dir,
            brokers,
            topic,
            worker,
            start_at,
        } => {
            let mut s = Targets {
                brokers,
                ..Default::default()
            }
            .apply(scenario::load(&path)?, &path)?;
            if let Some(t) = topic {
                anyhow::ensure!(
                    scenario::is_safe_name(&t),
                    "--topic {t:?}: a Kafka topic name is A-Z a-z 0-9 . _ -, not starting with '.'"
                );
                s.kafka.topic = t;
            }
            let opts = RunOptions {
                results_root: results_dir,
                ..Default::default()
            };
            if worker.workers > 1 && start_at.is_none() {
                eprintln!("note: --worker {} without --start-at: the workers' schedules start when each does, so their ticks' times differ from one worker's stream", worker.label());
            }
            let workers = crate::produce::only::WorkerOptions {
                share: worker,
                start_at,
            };
            let (dir, sum) = crate::produce::only::produce(&s, &opts, &workers)
                .await
                .with_context(|| format!("producing {}", path.display()))?;
            if worker.workers > 1 {
                print!("worker {}: ", sum.worker);
            }
            println!(
                "{} produced, {} acknowledged, {} failed in {:.2} s: {:.0} ticks/s achieved ({:.0} scheduled)",
                sum.produced, sum.acked, sum.delivery_failed, sum.elapsed_s, sum.achieved_per_s, sum.scheduled_per_s
            );
            for (name, st) in &sum.stages {
                println!(
                    "{name:<14} p50 {:>9.2}ms  p99 {:>9.2}ms  max {:>9.2}ms",
                    st.p50_us as f64 / 1e3,
                    st.p99_us as f64 / 1e3,
                    st.max_us as f64 / 1e3
                );
            }
            println!("results: {}", dir.display());
            Ok(if sum.delivery_failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Sink {
            scenario: path,
            results_dir,
            instance,
            group,
            until_idle,
            start_at,
            quiet,
            targets,
        } => {
            let s = targets.apply(scenario::load(&path)?, &path)?;
            let opts = crate::sink::only::SinkOptions {
                results_root: results_dir,
                instance,
                group,
                until_idle,
                progress: !quiet,
                start_at,
            };
            let (dir, summary) = crate::sink::only::sink(&s, &opts)
                .await
                .with_context(|| format!("sinking {}", path.display()))?;
            print!("{}", summary.to_text());
            println!("results: {}", dir.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Merge {
            dirs,
            results_dir,
            out,
            s3_endpoint,
        } => {
            use std::io::IsTerminal;
            let opts = crate::merge::MergeOptions {
                results_root: results_dir,
                out,
                s3_endpoint,
                progress: std::io::stderr().is_terminal(),
            };
            let (dir, summary) = crate::merge::merge(&dirs, &opts)
                .await
                .context("merging the producers' and sinks' folders")?;
            print!("{}", summary.to_text());
            println!("results: {}", dir.display());
            Ok(if summary.passed && summary.thresholds_passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Doctor {
            scenario: path,
            targets,
        } => {
            let s = targets.apply(scenario::load(&path)?, &path)?;
            println!("ok    scenario: {} is valid", path.display());
            let checks = doctor::run(&s, |c| println!("{c}")).await;
            let failed = checks
                .iter()
                .filter(|c| c.status == doctor::Status::Fail)
                .count();
            if failed > 0 {
                eprintln!("doctor: {failed} check(s) failed");
                Ok(ExitCode::FAILURE)
            } else {
                Ok(ExitCode::SUCCESS)
            }
        }
        Command::Verify {
            run_dir,
            s3_endpoint,
        } => {
            let v = crate::verify::verify(&run_dir, s3_endpoint.as_deref())
                .await
                .with_context(|| format!("verifying {}", run_dir.display()))?;
            print!("{}", v.to_text());
            Ok(if v.audit.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Report { run_dir } => {
            crate::report::document::RunReport::load(&run_dir)
                .and_then(|r| r.write())
                .with_context(|| format!("reporting {}", run_dir.display()))?;
            for f in ["report.md", "report.html", "timeseries.csv"] {
                println!("{}", run_dir.join(f).display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Catalog {
            source,
            database,
            table,
            since,
            glue,
        } => {
            let run_dir = source.is_dir().then(|| source.clone());
            let scenario_path = match &run_dir {
                Some(d) => d.join("scenario.toml"),
                None => source.clone(),
            };
            let s = scenario::load(&scenario_path)?;
            let since = match (since, &run_dir) {
                (Some(d), _) => d,
                (None, Some(d)) => {
                    let m: crate::results::Manifest = serde_json::from_str(
                        &std::fs::read_to_string(d.join("manifest.json")).with_context(|| {
                            format!("reading {}", d.join("manifest.json").display())
                        })?,
                    )?;
                    m.started_at.get(..10).unwrap_or("2020-01-01").to_string()
                }
                (None, None) => (chrono::Utc::now() - chrono::Duration::days(30))
                    .format("%Y-%m-%d")
                    .to_string(),
            };
            anyhow::ensure!(
                chrono::NaiveDate::parse_from_str(&since, "%Y-%m-%d").is_ok(),
                "--since {since:?}: a date YYYY-MM-DD"
            );
            for (what, v) in [("--database", &database), ("--table", &table)] {
                anyhow::ensure!(
                    !v.is_empty() && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
                    "{what} {v:?}: Athena names are letters, digits and _"
                );
            }
            let t = crate::catalog::Table::of(
                &s,
                &crate::catalog::Options {
                    database,
                    table,
                    since,
                },
            );
            let json = serde_json::to_string_pretty(&t.table_input())?;
            if let Some(d) = run_dir {
                let dir = d.join("catalog");
                std::fs::create_dir_all(&dir)?;
                std::fs::write(dir.join("athena.sql"), t.ddl())?;
                std::fs::write(dir.join("glue-table-input.json"), &json)?;
                eprintln!(
                    "wrote {0}/athena.sql and {0}/glue-table-input.json",
                    dir.display()
                );
            }
            if glue {
                println!("{json}");
            } else {
                print!("{}", t.ddl());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Compact {
            source,
            partition,
            target_prefix,
            targets,
        } => {
            let (s, store) = if source.is_dir() {
                let s = targets.apply(scenario::load(&source.join("scenario.toml"))?, &source)?;
                let store =
                    crate::verify::RunStore::open(&source, targets.s3_endpoint.as_deref()).await?;
                (s, store)
            } else {
                let s = targets.apply(scenario::load(&source)?, &source)?;
                anyhow::ensure!(
                    !s.s3.is_embedded(),
                    "{}: name the S3 to compact in (s3.endpoint / s3.bucket, or --s3-endpoint / --bucket); a run folder of the embedded default works too",
                    source.display()
                );
                let client = crate::connect::s3_client(&s.s3, None).await;
                (
                    s,
                    crate::verify::RunStore {
                        client,
                        server: None,
                    },
                )
            };
            let target = target_prefix
                .unwrap_or_else(|| format!("{}-compacted", s.s3.prefix.trim_end_matches('/')));
            anyhow::ensure!(
                target.trim_end_matches('/') != s.s3.prefix.trim_end_matches('/'),
                "--target-prefix {target:?}: must differ from the sink's prefix"
            );
            let res = crate::compact::compact(
                &crate::compact::Source {
                    client: &store.client,
                    bucket: s.s3.bucket_name(),
                    prefix: &s.s3.prefix,
                    topic: &s.kafka.topic,
                    target_prefix: &target,
                },
                &partition,
            )
            .await;
            store.close().await;
            let done = res.with_context(|| format!("compacting {}", source.display()))?;
            for c in &done {
                println!(
                    "{}: {} objects, {} ticks ({} repeated) -> {} ({} ticks, {:.1} KiB{}); {} sources removed",
                    c.partition,
                    c.sources,
                    c.records_read,
                    c.duplicates_dropped,
                    c.target_key,
                    c.target_records,
                    c.target_bytes as f64 / 1024.0,
                    if c.target_written { "" } else { ", already there" },
                    c.sources_removed
                );
            }
            if done.is_empty() {
                println!("nothing to compact");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Query {
            location,
            sql,
            preset,
            output,
            s3_endpoint,
        } => {
            let sql = match (sql, preset) {
                (Some(s), None) => s,
                (None, Some(p)) => crate::query::preset(&p)?.to_string(),
                _ => {
                    let names: Vec<String> = crate::query::PRESETS
                        .iter()
                        .map(|p| format!("  {:<16} {}", p.0, p.1))
                        .collect();
                    anyhow::bail!(
                        "give the SQL or --preset NAME; presets:\n{}",
                        names.join("\n")
                    )
                }
            };
            let loc = crate::query::Location::parse(&location, s3_endpoint.as_deref())?;
            let batches = crate::query::query(&loc, &sql)
                .await
                .with_context(|| format!("querying {location}"))?;
            print!("{}", crate::query::render(&batches, output)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Compare { run_dirs, out } => {
            let c = crate::report::compare::Comparison::load(&run_dirs)?;
            let out = match out {
                Some(o) => o,
                None => {
                    crate::results::create_run_dir(
                        std::path::Path::new("results"),
                        "compare",
                        chrono::Utc::now(),
                    )?
                    .1
                }
            };
            c.write(&out)?;
            print!("{}", c.markdown());
            println!("comparison: {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Up {
            dir,
            topic,
            partitions,
            bucket,
            s3_port,
        } => {
            up::up(&up::UpOptions {
                dir,
                topic,
                partitions,
                bucket,
                s3_port,
            })
            .await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Scenario {
            command: ScenarioCommand::Check { file },
        } => {
            let s = scenario::load(&file)?;
            let cells = sweep::cells(&s, &file)?;
            print!("{}", s.resolved_toml());
            if cells.len() > 1 {
                eprintln!("{}: ok, a sweep of {} runs:", file.display(), cells.len());
                for (i, c) in cells.iter().enumerate() {
                    eprintln!("  {:>2}. {}", i + 1, c.label);
                }
            } else {
                eprintln!("{}: ok", file.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
