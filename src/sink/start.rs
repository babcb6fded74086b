//! Starting the sink in this process, for `tickbench run` and `tickbench sink` alike: its
//! consumer in the group, its uploader, its task; and what its report says, as a `SinkSummary`.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use aws_sdk_s3::Client;
use tokio::sync::{oneshot, watch};

use super::journal::Journal;
use super::upload::Uploader;
use super::{SinkContext, SinkControl, SinkFailure, SinkReport, SinkSettings};
use crate::config::Scenario;
use crate::io::connect;
use crate::metrics::RequestCounts;
use crate::metrics::{Counters, Percentiles, Recorders, Stage};
use crate::results::{Objects, Resources, SinkCounts, SinkSummary, StageSummary, StopReason};

/// A sink running in this process.
pub struct Started {
    pub task: tokio::task::JoinHandle<Result<SinkReport, SinkFailure>>,
    /// The uploader's S3 request counters.
    pub requests: Arc<RequestCounts>,
    /// Fires once the consumer holds an assignment (the group has formed).
    pub ready: oneshot::Receiver<()>,
    /// Send each partition's end offset to land up to (empty: what is held), then stop.
    pub drain: watch::Sender<Option<BTreeMap<i32, i64>>>,
}

/// Where and how a sink consumes and lands.
pub struct Target<'a> {
    pub brokers: &'a str,
    pub group_id: &'a str,
    pub client: Client,
    /// The endpoint `client` was built for; None: AWS itself.
    pub endpoint: Option<String>,
    pub bucket: &'a str,
    /// Per partition, the first offset of this load: older records are skipped (empty: whatever
    /// the group has not committed).
    pub start_offsets: BTreeMap<i32, i64>,
    /// The upload journal of a sink process that may be killed and restarted.
    pub journal: Option<Arc<Journal>>,
    /// Tick objects are written with `If-None-Match: *` ([`connect::conditional_writes`]).
    pub conditional_writes: bool,
    /// Table mode (`sink.format = "iceberg"`): the table, opened by [`table_target`].
    pub table: Option<super::TableTarget>,
}

/// Opens (creating it on first use) the table a scenario in table mode lands into; None for the
/// other formats. The SQL catalog's database defaults to `catalog.db` in `catalog_dir`.
pub async fn table_target(
    scenario: &Scenario,
    client: &Client,
    bucket: &str,
    catalog_dir: &std::path::Path,
) -> anyhow::Result<Option<super::TableTarget>> {
    if scenario.sink.format != crate::model::format::Format::Iceberg {
        return Ok(None);
    }
    let spec = crate::io::iceberg::TableSpec::of(scenario, bucket, catalog_dir);
    let lake = crate::io::iceberg::Lake::open(&spec, client.clone()).await?;
    anyhow::ensure!(
        lake.bucket == bucket,
        "Iceberg table {} lives in bucket {} but the sink writes to s3.bucket = {bucket:?}: give sink.iceberg.warehouse a location in that bucket (for a REST catalog, which chooses the location: set s3.bucket to its warehouse's bucket)",
        lake.name(),
        lake.bucket
    );
    Ok(Some(super::TableTarget {
        lake: std::sync::Arc::new(lake),
        every: spec.commit_every,
        retry_for: scenario.sink.upload_retry_for,
    }))
}

/// Joins the group and starts consuming at once, so the group forms while the caller goes on.
pub fn start(
    scenario: &Scenario,
    t: Target<'_>,
    rec: Arc<Recorders>,
    counters: Arc<Counters>,
) -> anyhow::Result<Started> {
    let k = &scenario.kafka;
    let cfg = connect::consumer_config(t.brokers, k, t.group_id)?;
    let consumer: super::SinkConsumer = cfg
        .create_with_context(SinkContext::default())
        .context("creating the sink's Kafka consumer")?;
    crate::io::msk_iam::prime(
        rdkafka::consumer::Consumer::client(&consumer).native_client(),
        &cfg,
    )?;
    rdkafka::consumer::Consumer::subscribe(&consumer, &[&k.topic])
        .context("subscribing the sink")?;
    let mut uploader = Uploader::new(
        t.client,
        t.endpoint.as_deref(),
        t.bucket,
        scenario.sink.upload_concurrency as usize,
        scenario.sink.encoding().content_type(),
        scenario.sink.upload_retry_for,
        rec.clone(),
    )
    .with_conditional_writes(t.conditional_writes)
    .with_counts(counters.requests.clone());
    if t.table.is_some() {
        uploader = uploader.for_table();
    }
    if let Some(j) = t.journal {
        uploader = uploader.with_journal(j);
    }
    let requests = uploader.counts.clone();
    let (ready_tx, ready) = oneshot::channel();
    let (drain, drain_rx) = watch::channel(None);
    let mut settings = SinkSettings::of(scenario, t.start_offsets);
    settings.table = t.table;
    let task = tokio::spawn(super::run(
        consumer,
        uploader,
        settings,
        rec,
        counters,
        SinkControl {
            ready: ready_tx,
            drain: drain_rx,
        },
    ));
    Ok(Started {
        task,
        requests,
        ready,
        drain,
    })
}

/// Who the sink was and how it stopped, for its summary.
pub struct Identity<'a> {
    pub run_id: &'a str,
    pub instance: &'a str,
    pub group_id: &'a str,
    pub stopped_by: StopReason,
    pub elapsed_s: f64,
    /// When its first record arrived (for its own landing rate).
    pub first_record_ns: Option<u64>,
    /// What its time-keeping counted from (`--start-at`), RFC 3339.
    pub start_at: Option<String>,
    pub orphaned_uploads_aborted: u64,
}

impl<'a> Identity<'a> {
    /// The sink part of a `tickbench run`, counting from the load's start; failed or drained.
    pub fn of_run(
        run_id: &'a str,
        instance: &'a str,
        group_id: &'a str,
        failed: bool,
        run_start_ns: u64,
    ) -> Self {
        Identity {
            run_id,
            instance,
            group_id,
            stopped_by: if failed {
                StopReason::Failed
            } else {
                StopReason::Drain
            },
            elapsed_s: crate::metrics::now_ns().saturating_sub(run_start_ns) as f64 / 1e9,
            first_record_ns: None,
            start_at: Some(
                chrono::DateTime::<chrono::Utc>::from_timestamp_nanos(run_start_ns as i64)
                    .to_rfc3339(),
            ),
            orphaned_uploads_aborted: 0,
        }
    }
}

/// The sink's report as its `summary.json`.
pub fn summarize(
    scenario: &Scenario,
    report: &SinkReport,
    who: Identity<'_>,
    rec: &Recorders,
    requests: &RequestCounts,
    resources: Resources,
) -> SinkSummary {
    let mut sizes = rec.get(Stage::ObjectSize).measured();
    sizes.add(rec.get(Stage::ObjectSize).warmup()).ok();
    let landed: u64 = report.landed.iter().map(|l| l.records).sum();
    let last_durable = report.landed.iter().map(|l| l.durable_ns).max();
    SinkSummary {
        tickbench_version: env!("CARGO_PKG_VERSION").into(),
        run_id: who.run_id.to_string(),
        scenario: scenario.name.clone(),
        instance: who.instance.to_string(),
        group_id: who.group_id.to_string(),
        topic: scenario.kafka.topic.clone(),
        stopped_by: who.stopped_by,
        elapsed_s: who.elapsed_s,
        landed_per_s: match (who.first_record_ns, last_durable) {
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
            skipped_preexisting: report.skipped_preexisting,
            rewinds: report.rewinds,
            reread: report.reread,
            assigned: report.assigned,
            revoked: report.revoked,
            released_uncommitted: report.released_uncommitted,
            fenced: report.fenced,
            conditional_writes: report.conditional_writes,
            wall_clock_steps: report.wall_clock_steps,
            largest_wall_clock_step_ms: report.largest_wall_clock_step_ns / 1_000_000,
            dead_letters_truncated: report.dead_letters_truncated,
            dead_letter_cap_closes: report.dead_letter_cap_closes,
            orphaned_uploads_aborted: who.orphaned_uploads_aborted,
        },
        objects: Objects::of(
            &report.landed,
            &Percentiles::of(&sizes),
            &report.close_reasons,
        ),
        requests: requests.snapshot(),
        stages: Stage::latencies()
            .filter(|s| s.sink_side())
            .map(|s| {
                (
                    s,
                    StageSummary::from(&Percentiles::of(&rec.get(s).measured())),
                )
            })
            .collect(),
        committed_offsets: report.committed.clone(),
        positions: report.positions.clone(),
        set_aside: report.set_aside.clone(),
        start_at: who.start_at,
        resources,
        failure: None,
        observed: None,
        table: report.table.clone(),
    }
}
