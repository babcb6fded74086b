//! `tickbench sink`: the sink as a process of its own, a member of a consumer group that any number
//! of such processes (on any number of machines) share. It lands what the topic holds, commits
//! only what is durable, and stops when the topic has been idle for `--until-idle` or on
//! SIGTERM / Ctrl-C, landing and committing what it holds first.
//!
//! A sink killed without that chance (SIGKILL, a lost machine) leaves its open multipart uploads
//! behind; they are noted in a journal under the results root, and the next start of the same
//! instance aborts them once `ORPHAN_GRACE` (five seconds) has passed, consuming meanwhile. Its
//! records are read again from the committed offsets and land under the same keys.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::config::{KafkaTarget, S3Target, Scenario};
use crate::io::connect;
use crate::metrics::{now_ns, Counters, Recorders};
use crate::results::{
    files, Endpoints, Manifest, Resources, Role, RunDir, SinkSummary, StopReason,
};
use crate::sink::journal::Journal;
use crate::sink::start::Identity;

/// How a sink process is told apart and when it stops.
#[derive(Debug, Clone, Default)]
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
    /// Where progress and notes go.
    pub reporter: crate::progress::Reporter,
    /// Cancelled (by the caller, on SIGTERM or Ctrl-C): land and commit what is held, then stop.
    pub stop: tokio_util::sync::CancellationToken,
    /// The producers' agreed start (`tickbench produce --start-at`): the sink's interval logs
    /// count from it and its warm-up is the scenario's from it, as the producers' are. Without
    /// it they count from the sink's own start and nothing is warm-up.
    pub start_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Runs the sink until idle or a signal; returns its results folder and summary.
pub async fn sink(
    scenario: &Scenario,
    opts: &SinkOptions,
) -> anyhow::Result<(PathBuf, SinkSummary)> {
    let k = &scenario.kafka;
    let KafkaTarget::Brokers(brokers) = k.target() else {
        bail!("tickbench sink needs the brokers the producers use: set kafka.brokers in the scenario or pass --brokers (`tickbench up` starts a mock cluster to share)");
    };
    if scenario.s3.target() == S3Target::Embedded {
        bail!("tickbench sink needs an S3 its readers can reach after it stops: set s3.endpoint or s3.bucket in the scenario, or pass --s3-endpoint / --bucket (`tickbench up` starts a local S3 server)");
    }
    anyhow::ensure!(
        crate::config::is_safe_name(&opts.instance),
        "--instance {:?}: allowed are A-Z a-z 0-9 . _ -, not starting with '.'",
        opts.instance
    );
    let group_id = opts
        .group
        .clone()
        .or_else(|| k.group_id.clone())
        .unwrap_or_else(|| format!("tickbench-sink-{}", scenario.name));
    anyhow::ensure!(
        crate::config::is_safe_name(&group_id),
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
    let dir = RunDir::create(
        &opts.results_root,
        &format!("{}-sink-{}", scenario.name, opts.instance),
        started_at,
    )?;
    let resolved = scenario.resolved_toml();
    dir.write_scenario(&resolved)?;

    let client = connect::s3_client(&scenario.s3, None).await;
    let bucket = scenario.s3.bucket_name().to_string();
    let where_ = scenario.s3.target().describe();
    connect::prepare_bucket(&client, &bucket, scenario.s3.create_bucket, &where_).await?;
    let conditional_writes = connect::conditional_writes(&client, &scenario.s3, &bucket).await?;
    let cleanup = tokio::spawn({
        let (journal, client) = (journal.clone(), client.clone());
        async move {
            if orphans.is_empty() {
                return Ok(0);
            }
            tokio::time::sleep(ORPHAN_GRACE).await;
            journal.abort(&client, &orphans).await
        }
    });
    let partitions = connect::prepare_topic(brokers, k).await?;
    if let Some(at) = opts.start_at {
        start_group_at(brokers, k, &group_id, &partitions, at, &opts.reporter).await?;
    }

    let started = crate::clock::Now::read();
    let start_ns = started.wall_ns;
    let load_start_ns = opts
        .start_at
        .and_then(|t| t.timestamp_nanos_opt())
        .map_or(0, |t| t.max(0) as u64);
    let rec = Arc::new(match opts.start_at.and_then(|t| t.timestamp_nanos_opt()) {
        Some(at) => Recorders::new(at as u64, at as u64 + scenario.warmup.as_nanos() as u64),
        None => Recorders::new(start_ns, start_ns),
    });
    let counters = Arc::new(Counters::default());
    // Sinks sharing a results folder share its default catalog, as they share a group.
    std::fs::create_dir_all(&opts.results_root)?;
    let table =
        crate::sink::start::table_target(scenario, &client, &bucket, &opts.results_root).await?;
    // Whatever the group has not committed is this sink's to land.
    let mut sink = crate::sink::start::start(
        scenario,
        crate::sink::start::Target {
            brokers,
            group_id: &group_id,
            client: client.clone(),
            endpoint: scenario.s3.endpoint.clone(),
            bucket: &bucket,
            start_offsets: BTreeMap::new(),
            journal: Some(journal.clone()),
            conditional_writes,
            table,
        },
        rec.clone(),
        counters.clone(),
    )?;

    let progress = opts
        .reporter
        .live_sink(counters.clone(), rec.clone(), start_ns);
    let (report, stopped_by, first_record_ns, failure) =
        land_until_stopped(&mut sink, &counters, opts, started, load_start_ns).await?;
    drop(progress);
    let aborted = match cleanup.await.context("the orphan clean-up panicked")? {
        Ok(n) => n,
        Err(e) => {
            // They stay in the journal for the next start.
            opts.reporter.note(&format!(
                "warning: {:#}",
                e.context("aborting the uploads an earlier sink left open")
            ));
            0
        }
    };

    rec.write_logs(&dir.histograms(), Duration::ZERO)
        .context("writing histograms")?;
    dir.write_lines(files::OBJECTS, &report.landed)?;
    dir.write_lines(files::COMMITS, &report.commits)?;
    dir.write_lines(files::DEAD_LETTERS, &report.dead_letters)?;
    let landed: u64 = report.landed.iter().map(|l| l.records).sum();
    let cpu = crate::resources::process_cpu_s();
    let mut summary = crate::sink::start::summarize(
        scenario,
        &report,
        Identity {
            run_id: dir.id(),
            instance: &opts.instance,
            group_id: &group_id,
            stopped_by,
            elapsed_s: crate::clock::mono_ns().saturating_sub(started.mono_ns) as f64 / 1e9,
            first_record_ns,
            start_at: opts.start_at.map(|t| t.to_rfc3339()),
            orphaned_uploads_aborted: aborted,
        },
        &rec,
        &sink.requests,
        Resources {
            peak_rss_bytes: crate::resources::peak_rss_bytes(),
            sink_peak_buffered_bytes: report.peak_buffered_bytes,
            sink_peak_open_batches: report.peak_open_batches,
            sink_memory_bound_bytes: crate::sink::memory_bound(
                &scenario.sink,
                report.peak_open_batches,
            ),
            cpu_process_s: cpu,
            cpu_producer_threads_s: None,
            cpu_rest_s_per_million_ticks: cpu.map(|c| c * 1e6 / landed.max(1) as f64),
        },
    );
    summary.failure = failure;
    dir.write(files::SUMMARY, &summary)?;
    let manifest = Manifest::new(
        Role::Sink,
        dir.id(),
        scenario,
        &resolved,
        None,
        Endpoints {
            kafka_brokers: brokers.to_string(),
            kafka_embedded: false,
            s3_endpoint: scenario.s3.endpoint.clone(),
            s3_bucket: bucket,
            s3_embedded: false,
        },
        started_at,
    );
    dir.write(files::MANIFEST, &manifest)?;
    Ok((dir.path().to_path_buf(), summary))
}

/// Lands what arrives until the topic is idle for `--until-idle` or the caller stops the sink;
/// returns its report, what stopped it and when its first record arrived.
async fn land_until_stopped(
    sink: &mut crate::sink::start::Started,
    counters: &Counters,
    opts: &SinkOptions,
    started: crate::clock::Now,
    load_start_ns: u64,
) -> anyhow::Result<(
    crate::sink::SinkReport,
    StopReason,
    Option<u64>,
    Option<String>,
)> {
    // An empty drain target means: land what is held, commit it, stop.
    let drain = sink.drain.clone();
    let drain_now = move || {
        let _ = drain.send(Some(BTreeMap::new()));
    };
    let mut idle = IdleClock::new(opts.until_idle);
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut stopped_by = None;
    let report = loop {
        tokio::select! {
            r = &mut sink.task => break r.context("the sink panicked")?,
            _ = tick.tick() => {
                let consumed = counters.consumed.load(Ordering::Relaxed);
                // Idle time counts from the first assignment: joining a group takes seconds. A
                // member the group leaves without partitions starts counting after a while.
                // With --start-at, nothing can arrive before the load starts: idle time counts
                // from then at the earliest.
                if !idle.started && now_ns() >= load_start_ns && (sink.ready.try_recv().is_ok() || crate::clock::mono_ns().saturating_sub(started.mono_ns) > NO_ASSIGNMENT_NS) {
                    idle.start();
                }
                // Holding no partitions (a rebalance under way, or more members than partitions),
                // the sink waits longer: a group can take most of a session timeout to settle.
                idle.holding(counters.partitions_held.load(Ordering::Relaxed) > 0);
                if stopped_by.is_none() && idle.idle(consumed) {
                    stopped_by = Some(StopReason::Idle);
                    drain_now();
                }
            }
            _ = opts.stop.cancelled(), if stopped_by.is_none() => {
                stopped_by = Some(StopReason::Signal);
                opts.reporter.note("stopping: landing and committing what this sink holds, then leaving the group (Ctrl-C again to abort; the next start cleans up)");
                drain_now();
            }
        }
    };
    // A failed sink still leaves its folder: what it landed and committed is the evidence.
    Ok(match report {
        Ok(r) => (
            r,
            stopped_by.unwrap_or(StopReason::Signal),
            idle.first_record_ns,
            None,
        ),
        Err(f) => (
            *f.report,
            StopReason::Failed,
            idle.first_record_ns,
            Some(f.error.to_string()),
        ),
    })
}

/// A group new to the topic would start at its earliest offset and land earlier loads' records
/// with this one's (in objects that straddle the load's start). Given the load's start, a new
/// group starts where the load's records begin: the topic's end when the start is still ahead,
/// else the first record produced at or after it. A group with commits resumes from them.
async fn start_group_at(
    brokers: &str,
    k: &crate::config::Kafka,
    group_id: &str,
    partitions: &[i32],
    at: chrono::DateTime<chrono::Utc>,
    reporter: &crate::progress::Reporter,
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
            reporter.note(&format!(
                "warning: the broker found no record at or after --start-at {} on any partition of {}: the new group {group_id} starts at the topic's end (a broker that cannot look offsets up by time, such as librdkafka's mock cluster, answers the same; then use a group with commits, or start the sink before the load)",
                at.to_rfc3339(),
                k.topic
            ));
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

/// How long a restarted sink waits before aborting the uploads a killed one left open. S3 may
/// still complete a part the killed sink had sent in full, and a part that lands after the abort
/// is kept (AWS's AbortMultipartUpload docs: aborting may have to be repeated; s3s-fs keeps the
/// part's file with no upload to list it under). A few seconds let such requests finish first.
const ORPHAN_GRACE: Duration = Duration::from_secs(5);

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

    /// Whether the sink holds partitions now. Partitions given back count as activity: a sink
    /// that waited out a rebalance without any must not stop as they arrive, before their
    /// records do (it then landed what it held and left the rest to nobody).
    fn holding(&mut self, holds: bool) {
        if holds && self.patient {
            self.since = Instant::now();
        }
        self.patient = !holds;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_given_back_restart_the_idle_time() {
        let ago = |idle: &mut IdleClock, secs| idle.since -= Duration::from_secs(secs);
        let mut idle = IdleClock::new(Some(Duration::from_secs(10)));
        idle.start();
        idle.holding(true);
        assert!(!idle.idle(5), "a new count is activity");
        ago(&mut idle, 11);
        assert!(idle.idle(5), "10 s without a record");
        assert!(!idle.idle(6));
        // A rebalance: no partitions, so the extra patience...
        idle.holding(false);
        ago(&mut idle, 11);
        assert!(!idle.idle(6), "waits out the rebalance");
        // ...and the time without them does not count once they are back.
        ago(&mut idle, 60);
        idle.holding(true);
        assert!(!idle.idle(6));
        ago(&mut idle, 11);
        assert!(idle.idle(6));
    }
}
