//! `tickbench sink`: the sink as a process of its own, a member of a consumer group that any number
//! of such processes (on any number of machines) share. It lands what the topic holds, commits
//! only what is durable, and stops when the topic has been idle for `--until-idle` or on
//! SIGTERM / Ctrl-C, landing and committing what it holds first.
//!
//! A sink killed without that chance (SIGKILL, a lost machine) leaves its open multipart uploads
//! behind; they are noted in a journal under the results root, and the next start of the same
//! instance aborts them before it consumes anything. Its records are read again from the
//! committed offsets and land under the same keys.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, watch};

use super::journal::Journal;
use super::upload::Uploader;
use super::{CommitRecord, SinkControl, SinkSettings};
use crate::connect;
use crate::metrics::{now_ns, Counters, Percentiles, Recorders, Stage};
use crate::report::{self, Objects, Requests, Resources, StageSummary};
use crate::results::{self, Host, Manifest};
use crate::scenario::Scenario;

/// How a sink process is told apart and when it stops.
#[derive(Debug, Clone)]
pub struct SinkOptions {
    /// Parent of the results folder; the upload journal lives in its `.sink-state/`.
    pub results_root: PathBuf,
    /// This sink's name among the group's members on this machine: it names the journal, so a
    /// restarted sink must keep it.
    pub instance: String,
    /// Consumer group, instead of the scenario's `kafka.group_id` (default
    /// `tickbench-sink-<scenario name>`).
    pub group: Option<String>,
    /// Stop once no record has arrived for this long.
    pub until_idle: Option<Duration>,
    /// Print a progress line every second to stderr.
    pub progress: bool,
    /// The producers' agreed start (`tickbench produce --start-at`): the sink's interval logs
    /// count from it and its warm-up is the scenario's from it, as the producers' are. Without
    /// it they count from the sink's own start and nothing is warm-up.
    pub start_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// The sink's own counts (`summary.json` of a sink's results folder).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SinkCounts {
    /// Records received from Kafka, re-reads after rewinds included.
    pub consumed: u64,
    /// Ticks in the objects this sink made durable.
    pub landed: u64,
    /// Records that were not ticks, set aside to the dead-letter prefix.
    pub malformed: u64,
    pub dead_lettered: u64,
    pub offset_gaps: u64,
    pub consumer_errors: u64,
    pub rewinds: u64,
    pub reread: u64,
    /// Partitions the group gave this sink and took back.
    pub assigned: u64,
    pub revoked: u64,
    /// Revoked partitions given up with durable records the group would not let this sink
    /// commit while it rebalanced; the next owner reads them again (and writes the same keys).
    pub released_uncommitted: u64,
    /// Multipart uploads a killed earlier sink of this instance left open, aborted at start.
    pub orphaned_uploads_aborted: u64,
}

/// `summary.json` of `tickbench sink`. It has no audit: a sink does not know what was produced;
/// `tickbench run` (or a merge of producer and sink folders) checks the counts end to end.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SinkSummary {
    pub tickbench_version: String,
    pub run_id: String,
    pub scenario: String,
    pub instance: String,
    pub group_id: String,
    pub topic: String,
    /// Why the sink stopped: `idle`, `signal`.
    pub stopped_by: String,
    pub elapsed_s: f64,
    /// Landed ticks over the time from the first record received to the last object durable.
    pub landed_per_s: f64,
    pub counts: SinkCounts,
    pub objects: Objects,
    pub requests: Requests,
    /// Stages the sink observes (kafka_e2e, pipeline_e2e, upload, commit...), whole run.
    pub stages: BTreeMap<String, StageSummary>,
    /// Per partition, the offset this sink last committed (the next to read).
    pub committed_offsets: BTreeMap<i32, i64>,
    /// Per partition, the next offset this sink would have read when it stopped.
    #[serde(default)]
    pub positions: BTreeMap<i32, i64>,
    /// Per partition, records this sink set aside as not ticks.
    #[serde(default)]
    pub set_aside: BTreeMap<i32, u64>,
    /// What the sink's time-keeping counted from (see `--start-at`), RFC 3339.
    #[serde(default)]
    pub start_at: Option<String>,
    /// Memory and CPU of this sink process (the producer-thread figures are left empty).
    #[serde(default)]
    pub resources: Resources,
}

impl SinkSummary {
    pub fn to_text(&self) -> String {
        let c = &self.counts;
        let mut out = format!(
            "sink {} of group {}: {} consumed, {} landed in {} objects ({:.0} ticks/s), {} set aside, {} rewinds, stopped by {}\n",
            self.instance,
            self.group_id,
            c.consumed,
            c.landed,
            self.objects.count,
            self.landed_per_s,
            c.malformed,
            c.rewinds,
            self.stopped_by
        );
        if c.orphaned_uploads_aborted > 0 {
            out.push_str(&format!(
                "aborted {} multipart uploads left open by an earlier sink of this instance\n",
                c.orphaned_uploads_aborted
            ));
        }
        for (p, o) in &self.committed_offsets {
            out.push_str(&format!("committed partition {p} at {o}\n"));
        }
        out
    }
}

/// Runs the sink until idle or a signal; returns its results folder and summary.
pub async fn sink(
    scenario: &Scenario,
    opts: &SinkOptions,
) -> anyhow::Result<(PathBuf, SinkSummary)> {
    let k = &scenario.kafka;
    let Some(brokers) = k.brokers.clone() else {
        bail!("tickbench sink needs the brokers the producers use: set kafka.brokers in the scenario or pass --brokers (`tickbench up` starts a mock cluster to share)");
    };
    if scenario.s3.is_embedded() {
        bail!("tickbench sink needs an S3 its readers can reach after it stops: set s3.endpoint or s3.bucket in the scenario, or pass --s3-endpoint / --bucket (`tickbench up` starts a local S3 server)");
    }
    anyhow::ensure!(
        crate::scenario::is_safe_name(&opts.instance),
        "--instance {:?}: allowed are A-Z a-z 0-9 . _ -, not starting with '.'",
        opts.instance
    );
    let group_id = opts
        .group
        .clone()
        .or_else(|| k.group_id.clone())
        .unwrap_or_else(|| format!("tickbench-sink-{}", scenario.name));
    anyhow::ensure!(
        crate::scenario::is_safe_name(&group_id),
        "consumer group {group_id:?}: allowed are A-Z a-z 0-9 . _ -, not starting with '.'"
    );

    // The journal first: a second sink with the same instance name must fail before it joins.
    let journal_path = opts
        .results_root
        .join(".sink-state")
        .join(&group_id)
        .join(format!("{}.jsonl", opts.instance));
    let (journal, orphans) = Journal::open(&journal_path)?;
    let journal = Arc::new(journal);

    let started_at = chrono::Utc::now();
    let (run_id, dir) = results::create_run_dir(
        &opts.results_root,
        &format!("{}-sink-{}", scenario.name, opts.instance),
        started_at,
    )?;
    let resolved = scenario.resolved_toml();
    std::fs::write(dir.join("scenario.toml"), &resolved).context("writing scenario.toml")?;

    let client = connect::s3_client(&scenario.s3, None).await;
    let bucket = scenario.s3.bucket_name().to_string();
    let where_ = scenario
        .s3
        .endpoint
        .clone()
        .unwrap_or_else(|| "AWS S3".into());
    connect::prepare_bucket(&client, &bucket, scenario.s3.create_bucket, &where_).await?;
    let aborted = journal
        .abort(&client, &orphans)
        .await
        .context("aborting the uploads an earlier sink left open")?;
    let partitions = connect::prepare_topic(&brokers, k).await?;
    if let Some(at) = opts.start_at {
        start_group_at(&brokers, k, &group_id, &partitions, at).await?;
    }

    let consumer: super::SinkConsumer = connect::consumer_config(&brokers, k, &group_id)?
        .create_with_context(super::SinkContext::default())
        .context("creating the sink's Kafka consumer")?;
    rdkafka::consumer::Consumer::subscribe(&consumer, &[&k.topic])
        .context("subscribing the sink")?;

    let start_ns = now_ns();
    let load_start_ns = opts
        .start_at
        .and_then(|t| t.timestamp_nanos_opt())
        .map_or(0, |t| t.max(0) as u64);
    let rec = Arc::new(match opts.start_at.and_then(|t| t.timestamp_nanos_opt()) {
        Some(at) => Recorders::new(at as u64, at as u64 + scenario.warmup.as_nanos() as u64),
        None => Recorders::new(start_ns, start_ns),
    });
    let counters = Arc::new(Counters::default());
    // Whatever the group has not committed is this sink's to land.
    let settings = SinkSettings::of(scenario, BTreeMap::new());
    let uploader = Uploader::new(
        client.clone(),
        &bucket,
        scenario.sink.upload_concurrency as usize,
        scenario.sink.encoding().content_type(),
        scenario.sink.upload_retry_for,
        rec.clone(),
    )
    .with_journal(journal.clone());
    let requests = uploader.counts.clone();
    let (ready_tx, mut ready_rx) = oneshot::channel();
    let (drain_tx, drain_rx) = watch::channel(None);
    let mut sink_task = tokio::spawn(super::run(
        consumer,
        uploader,
        settings,
        rec.clone(),
        counters.clone(),
        SinkControl {
            ready: ready_tx,
            drain: drain_rx,
        },
    ));

    // An empty drain target means: land what is held, commit it, stop.
    let drain_now = move || {
        let _ = drain_tx.send(Some(BTreeMap::new()));
    };
    let mut idle = IdleClock::new(opts.until_idle);
    let mut progress = Progress::new(opts.progress, start_ns);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listening for SIGTERM")?;
    let mut stopped_by = None;
    let report = loop {
        tokio::select! {
            r = &mut sink_task => break r.context("the sink panicked")??,
            _ = tick.tick() => {
                let consumed = counters.consumed.load(Ordering::Relaxed);
                // Idle time counts from the first assignment: joining a group takes seconds. A
                // member the group leaves without partitions starts counting after a while.
                // With --start-at, nothing can arrive before the load starts: idle time counts
                // from then at the earliest.
                if !idle.started && now_ns() >= load_start_ns && (ready_rx.try_recv().is_ok() || now_ns() - start_ns > NO_ASSIGNMENT_NS) {
                    idle.start();
                }
                // Holding no partitions (a rebalance under way, or more members than partitions),
                // the sink waits longer: a group can take most of a session timeout to settle.
                idle.patient = counters.partitions_held.load(Ordering::Relaxed) <= 0;
                if stopped_by.is_none() && idle.idle(consumed) {
                    stopped_by = Some("idle");
                    drain_now();
                }
                progress.show(&counters);
            }
            _ = sigterm.recv(), if stopped_by.is_none() => {
                stopped_by = Some("signal");
                eprintln!("SIGTERM: landing and committing what this sink holds, then leaving the group");
                drain_now();
            }
            r = tokio::signal::ctrl_c(), if stopped_by.is_none() => {
                r.context("waiting for Ctrl-C")?;
                stopped_by = Some("signal");
                eprintln!("\ninterrupted: landing and committing what this sink holds (Ctrl-C again to abort; the next start cleans up)");
                tokio::spawn(async {
                    let _ = tokio::signal::ctrl_c().await;
                    eprintln!("aborted");
                    std::process::exit(130);
                });
                drain_now();
            }
        }
    };
    progress.finish();

    rec.write_logs(&dir.join("histograms"), Duration::ZERO)
        .context("writing histograms")?;
    results::write_jsonl(&dir.join("objects.jsonl"), &report.landed)?;
    results::write_jsonl(&dir.join("commits.jsonl"), &report.commits)?;
    if !report.dead_letters.is_empty() {
        results::write_jsonl(&dir.join("dead_letters.jsonl"), &report.dead_letters)?;
    }
    let mut sizes = rec.get(Stage::ObjectSize).measured();
    sizes.add(rec.get(Stage::ObjectSize).warmup()).ok();
    let landed: u64 = report.landed.iter().map(|l| l.records).sum();
    let last_durable = report.landed.iter().map(|l| l.durable_ns).max();
    let first_recv = idle.first_record_ns;
    let summary = SinkSummary {
        tickbench_version: env!("CARGO_PKG_VERSION").into(),
        run_id: run_id.clone(),
        scenario: scenario.name.clone(),
        instance: opts.instance.clone(),
        group_id: group_id.clone(),
        topic: k.topic.clone(),
        stopped_by: stopped_by.unwrap_or("signal").into(),
        elapsed_s: now_ns().saturating_sub(start_ns) as f64 / 1e9,
        landed_per_s: match (first_recv, last_durable) {
            (Some(a), Some(b)) if b > a => landed as f64 / ((b - a) as f64 / 1e9),
            _ => 0.0,
        },
        counts: SinkCounts {
            consumed: report.consumed,
            landed,
            malformed: report.malformed,
            dead_lettered: report.dead_letters.iter().map(|l| l.records).sum(),
            offset_gaps: report.offset_gaps,
            consumer_errors: report.consumer_errors,
            rewinds: report.rewinds,
            reread: report.reread,
            assigned: report.assigned,
            revoked: report.revoked,
            released_uncommitted: report.released_uncommitted,
            orphaned_uploads_aborted: aborted,
        },
        objects: Objects::of(
            &report.landed,
            &Percentiles::of(&sizes),
            &report.close_reasons,
        ),
        requests: Requests::of(&requests),
        stages: report::latency_stages()
            .filter(|s| s.sink_side())
            .map(|s| {
                (
                    s.name().to_string(),
                    StageSummary::from(&Percentiles::of(&rec.get(s).measured())),
                )
            })
            .collect(),
        committed_offsets: report.committed.clone(),
        positions: report.positions.clone(),
        set_aside: report.set_aside.clone(),
        start_at: opts.start_at.map(|t| t.to_rfc3339()),
        resources: Resources {
            peak_rss_bytes: crate::resources::peak_rss_bytes(),
            sink_peak_buffered_bytes: report.peak_buffered_bytes,
            sink_peak_open_batches: report.peak_open_batches,
            sink_memory_bound_bytes: super::memory_bound(&scenario.sink, report.peak_open_batches),
            cpu_process_s: crate::resources::process_cpu_s(),
            cpu_producer_threads_s: None,
            cpu_rest_s_per_million_ticks: crate::resources::process_cpu_s()
                .map(|c| c * 1e6 / landed.max(1) as f64),
        },
    };
    results::write_json(&dir.join("summary.json"), &summary)?;
    let manifest = Manifest {
        run_id,
        scenario_name: scenario.name.clone(),
        scenario_file: None,
        scenario_sha256: results::sha256_hex(resolved.as_bytes()),
        seed: scenario.seed,
        tickbench_version: env!("CARGO_PKG_VERSION").into(),
        git_revision: results::git_revision(),
        librdkafka_version: rdkafka::util::get_rdkafka_version().1,
        host: Host::current(),
        kafka_brokers: brokers,
        kafka_embedded: false,
        s3_endpoint: scenario.s3.endpoint.clone(),
        s3_bucket: bucket,
        s3_embedded: false,
        started_at: started_at.to_rfc3339(),
        ended_at: chrono::Utc::now().to_rfc3339(),
        merged_from: Vec::new(),
    };
    results::write_json(&dir.join("manifest.json"), &manifest)?;
    Ok((dir, summary))
}

/// A group new to the topic would start at its earliest offset and land earlier loads' records
/// with this one's (in objects that straddle the load's start). Given the load's start, a new
/// group starts where the load's records begin: the topic's end when the start is still ahead,
/// else the first record produced at or after it. A group with commits resumes from them.
async fn start_group_at(
    brokers: &str,
    k: &crate::scenario::Kafka,
    group_id: &str,
    partitions: &[i32],
    at: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    if !connect::committed_offsets(brokers, k, group_id, partitions)
        .await?
        .is_empty()
    {
        return Ok(());
    }
    let cfg = connect::producer_config(brokers, k);
    let offsets = if at > chrono::Utc::now() {
        connect::high_watermarks(&cfg, &k.topic, partitions).await?
    } else {
        let (offsets, at_end) =
            connect::offsets_for_time(&cfg, &k.topic, partitions, at.timestamp_millis()).await?;
        if !partitions.is_empty() && at_end.len() == partitions.len() {
            eprintln!(
                "warning: the broker found no record at or after --start-at {} on any partition of {}: the new group {group_id} starts at the topic's end (a broker that cannot look offsets up by time, such as librdkafka's mock cluster, answers the same; then use a group with commits, or start the sink before the load)",
                at.to_rfc3339(),
                k.topic
            );
        }
        offsets
    };
    if let Err(e) = connect::commit_offsets(brokers, k, group_id, &offsets).await {
        // Another sink of the group may have joined (or committed) meanwhile: then the group
        // has its start already.
        if connect::committed_offsets(brokers, k, group_id, partitions)
            .await?
            .is_empty()
        {
            return Err(e.context("starting the new group at the load's start"));
        }
    }
    Ok(())
}

/// Reads the commits a sink logged (`commits.jsonl`).
pub fn read_commits(path: &std::path::Path) -> anyhow::Result<Vec<CommitRecord>> {
    anyhow::ensure!(path.is_file(), "{} is missing", path.display());
    results::read_jsonl(path)
}

/// How long a sink waits for partitions before its idle time counts anyway.
const NO_ASSIGNMENT_NS: u64 = 30_000_000_000;

/// Says when no record has arrived for the idle time, counted from [`IdleClock::start`].
struct IdleClock {
    started: bool,
    /// Wait [`NO_ASSIGNMENT_NS`] longer than the limit.
    patient: bool,
    limit: Option<Duration>,
    last_count: Option<u64>,
    since: Instant,
    /// When the first record was seen (to 100 ms).
    first_record_ns: Option<u64>,
}

impl IdleClock {
    fn new(limit: Option<Duration>) -> IdleClock {
        IdleClock {
            started: false,
            patient: false,
            limit,
            last_count: None,
            since: Instant::now(),
            first_record_ns: None,
        }
    }

    fn start(&mut self) {
        self.started = true;
        self.since = Instant::now();
    }

    fn idle(&mut self, consumed: u64) -> bool {
        if consumed > 0 && self.first_record_ns.is_none() {
            self.first_record_ns = Some(now_ns());
        }
        if self.last_count != Some(consumed) {
            self.last_count = Some(consumed);
            self.since = Instant::now();
            return false;
        }
        let extra = if self.patient {
            Duration::from_nanos(NO_ASSIGNMENT_NS)
        } else {
            Duration::ZERO
        };
        self.started
            && self
                .limit
                .is_some_and(|l| self.since.elapsed() >= l + extra)
    }
}

/// A progress line a second on stderr.
struct Progress {
    on: bool,
    start_ns: u64,
    next: Instant,
    last_consumed: u64,
    tty: bool,
}

impl Progress {
    fn new(on: bool, start_ns: u64) -> Progress {
        use std::io::IsTerminal;
        Progress {
            on,
            start_ns,
            next: Instant::now() + Duration::from_secs(1),
            last_consumed: 0,
            tty: std::io::stderr().is_terminal(),
        }
    }

    fn show(&mut self, c: &Counters) {
        if !self.on || Instant::now() < self.next {
            return;
        }
        self.next += Duration::from_secs(1);
        let consumed = c.consumed.load(Ordering::Relaxed);
        let line = format!(
            "[{:6.1}s] consumed {consumed} ({}/s) landed {} in {} objects",
            now_ns().saturating_sub(self.start_ns) as f64 / 1e9,
            consumed - self.last_consumed,
            c.landed.load(Ordering::Relaxed),
            c.objects.load(Ordering::Relaxed),
        );
        self.last_consumed = consumed;
        if self.tty {
            eprint!("\r\x1b[2K{line}");
        } else {
            eprintln!("{line}");
        }
    }

    fn finish(&self) {
        if self.on && self.tty {
            eprintln!();
        }
    }
}
