//! One assembly of a run's outcome, whatever made its parts: a single `tickbench run` (one
//! producer part and one sink part, in-process), or `tickbench merge` over the folders of several
//! producer workers and sinks on several hosts. From the parts it builds what the audit expects;
//! from the parts and the audit, the summary with its problems, warnings and threshold verdicts.

mod thresholds;
mod warnings;

use std::collections::BTreeMap;

pub use thresholds::evaluate;
pub use warnings::clock_warnings;

use crate::audit::Audit;
use crate::config::Scenario;
use crate::metrics::{Percentiles, Recorders, Stage};
use crate::results::{
    latency_stages, Cost, Counts, Expectations, Host, KafkaSummary, Landed, Objects, Produced,
    Requests, Resources, SinkSummary, StageSummary, StopReason, Summary, Throughput, Window,
};

/// What one producer (a worker, or a run's own producer threads) contributed.
#[derive(Debug, Clone)]
pub struct ProducerPart {
    pub produced: Produced,
    pub host: Host,
}

/// What one sink contributed: its summary and the objects it made durable.
#[derive(Debug, Clone)]
pub struct SinkPart {
    pub summary: SinkSummary,
    pub landed: Vec<Landed>,
    pub dead_letters: Vec<Landed>,
    pub host: Host,
}

/// Where the objects are.
pub struct Bucket<'a> {
    pub bucket: &'a str,
    pub prefix: &'a str,
}

/// What the audit expects of the parts together: every acknowledged tick of any producer once in
/// S3, whichever sink landed it. A partition revoked before its objects were committed is read
/// again by its next owner, which writes the same keys: the last write of a key is the one in
/// the bucket.
pub fn expectations(
    producers: &[ProducerPart],
    sinks: &[SinkPart],
    at: &Bucket<'_>,
) -> Expectations {
    let all = produced(producers);
    let start_offsets = all.start_offsets.clone();
    let mut by_key: BTreeMap<String, Landed> = BTreeMap::new();
    let mut dead_by_key: BTreeMap<String, Landed> = BTreeMap::new();
    let mut committed: BTreeMap<i32, i64> = BTreeMap::new();
    let mut set_aside: BTreeMap<i32, u64> = BTreeMap::new();
    for s in sinks {
        // Objects of earlier loads start below the run's offsets. A watched sink's objects whose
        // names carry no offsets (partition -1) are the run's by when they appeared.
        let ours = |l: &&Landed| {
            l.partition < 0
                || l.first_offset >= start_offsets.get(&l.partition).copied().unwrap_or(0)
        };
        for l in s.landed.iter().filter(ours) {
            keep_latest(&mut by_key, l);
        }
        for l in s.dead_letters.iter().filter(ours) {
            keep_latest(&mut dead_by_key, l);
        }
        max_into(&mut committed, &s.summary.committed_offsets);
        for (p, n) in &s.summary.set_aside {
            *set_aside.entry(*p).or_default() += n;
        }
    }
    // Where the group stands at the end. One sink knows its own positions; of several, each
    // partition's last owner read up to its commit.
    let positions = match sinks {
        [one] => one.summary.positions.clone(),
        _ => committed.clone(),
    };
    Expectations {
        tickers: all.tickers,
        per_symbol: all.per_symbol,
        failed: all.failed,
        landed: by_key.into_values().collect(),
        dead_letters: dead_by_key.into_values().collect(),
        start_offsets,
        committed,
        set_aside,
        positions,
        schedule_ns: all.schedule_ns,
        table_opened_at_sequence: sinks
            .iter()
            .filter_map(|s| s.summary.table.as_ref()?.opened_at_sequence)
            .min(),
        bucket: at.bucket.to_string(),
        prefix: at.prefix.to_string(),
        topic: all.topic,
    }
}

/// What the producers sent, together.
fn produced(producers: &[ProducerPart]) -> Produced {
    let mut all = producers[0].produced.clone();
    for p in &producers[1..] {
        all.merge(&p.produced);
    }
    all
}

fn max_into(into: &mut BTreeMap<i32, i64>, from: &BTreeMap<i32, i64>) {
    for (p, o) in from {
        let e = into.entry(*p).or_insert(*o);
        *e = (*e).max(*o);
    }
}

fn keep_latest(by_key: &mut BTreeMap<String, Landed>, l: &Landed) {
    match by_key.get(&l.key) {
        Some(have) if have.durable_ns >= l.durable_ns => {}
        _ => {
            by_key.insert(l.key.clone(), l.clone());
        }
    }
}

/// Everything the summary is made of.
pub struct Assembly<'a> {
    pub run_id: &'a str,
    /// The load's scenario: its name, window, prices and thresholds.
    pub load: &'a Scenario,
    pub producers: &'a [ProducerPart],
    pub sinks: &'a [SinkPart],
    pub expectations: &'a Expectations,
    pub audit: &'a Audit,
    /// The parts' histograms together.
    pub rec: &'a Recorders,
    /// How the parts were hosted (a run's process, or the sinks' processes of a merge).
    pub resources: Resources,
    /// Ctrl-C stopped the load before its end.
    pub interrupted: bool,
    /// What stopped the run before it could finish (the system under test failed).
    pub failure: Option<String>,
    /// The sink was someone else's, watched from outside: it commits nothing tickbench can see,
    /// so what landed is judged by the audit of the records alone.
    pub observed: Option<crate::results::Observed>,
    /// Found before the audit (how the parts fit together; how the run drained).
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
    /// Per partition, the high watermark after the load (None: the producers' own).
    pub end_offsets: Option<BTreeMap<i32, i64>>,
}

/// The summary of the parts: counts, figures, problems, warnings and threshold verdicts.
pub fn assemble(a: Assembly<'_>) -> anyhow::Result<Summary> {
    let exp = a.expectations;
    let mut warnings = a.warnings;
    warnings.extend(warnings::producers(a.producers));
    warnings.extend(warnings::sinks(a.sinks, a.load));
    let stages: BTreeMap<Stage, StageSummary> = latency_stages()
        .map(|s| {
            (
                s,
                StageSummary::from(&Percentiles::of(&a.rec.get(s).measured())),
            )
        })
        .collect();
    let producer_hosts: Vec<&Host> = a.producers.iter().map(|p| &p.host).collect();
    let sink_hosts: Vec<&Host> = a.sinks.iter().map(|s| &s.host).collect();
    warnings.extend(clock_warnings(&producer_hosts, &sink_hosts, &stages));

    let mut problems = a.problems;
    if let Some(f) = &a.failure {
        problems.push(format!("the run did not complete: {f}"));
    }
    let all = produced(a.producers);
    if a.observed.is_none() {
        problems.extend(unlanded(&all, &exp.committed, a.sinks));
    }
    problems.extend(a.audit.problems.iter().cloned());
    warnings.extend(a.audit.warnings());
    let mut counts = Counts::default();
    let mut requests = Requests::default();
    let mut close_reasons: BTreeMap<String, u64> = BTreeMap::new();
    let mut table: Option<crate::results::TableSummary> = None;
    for s in a.sinks {
        if let Some(t) = &s.summary.table {
            table.get_or_insert_with(Default::default).merge(t);
        }
        counts.add_sink(&s.summary.counts);
        requests.merge(&s.summary.requests);
        for (r, n) in &s.summary.objects.close_reasons {
            *close_reasons.entry(r.clone()).or_default() += n;
        }
    }
    if counts.offset_gaps > 0 {
        // Say whose loss it is: offsets the consumer never saw were dropped by the broker (for
        // example the mock cluster's per-partition retention) before the sink could read them.
        problems.push(format!(
            "{} offsets were never delivered to the sink: the broker dropped them (retention) before they were read, or its fetch skipped them; records lost that way are the broker's, not the sink's",
            counts.offset_gaps
        ));
    }
    let produced: u64 = all.per_symbol.iter().sum();
    let delivery_failed = exp.failed.len() as u64;
    counts.produced = produced;
    counts.acked = produced - delivery_failed;
    counts.delivery_failed = delivery_failed;
    counts.not_sent = all.not_sent;
    counts.produce_resent = all.resent;
    counts.landed = a.audit.landed;
    counts.lost = a.audit.lost;
    counts.duplicated = a.audit.duplicated;
    counts.duplicated_in_log = a.audit.duplicated_in_log;
    counts.duplicated_by_sink = a.audit.duplicated_by_sink;
    counts.dead_lettered = a.audit.dead_lettered;
    counts.foreign = a.audit.foreign;

    let start_ns = all.start_ns;
    let last_durable = exp
        .landed
        .iter()
        .map(|l| l.durable_ns)
        .max()
        .unwrap_or(start_ns);
    // Object sizes over the whole run: every object counts, whenever it landed.
    let mut sizes = a.rec.get(Stage::ObjectSize).measured();
    sizes.add(a.rec.get(Stage::ObjectSize).warmup()).ok();
    let price = a.load.cost.put_per_1000_usd;
    let usd = crate::results::billed_puts(&requests, table.as_ref()) as f64 * price / 1000.0;
    let end_offsets = a.end_offsets.unwrap_or(all.end_offsets);
    let mut summary = Summary {
        tickbench_version: env!("CARGO_PKG_VERSION").into(),
        run_id: a.run_id.to_string(),
        scenario: a.load.name.clone(),
        passed: problems.is_empty(),
        interrupted: a.interrupted,
        completed: a.failure.is_none(),
        failure: a.failure.clone(),
        table,
        counts,
        throughput: Throughput {
            produced_per_s: produced as f64 / a.load.total_duration().as_secs_f64(),
            landed_per_s: a.audit.landed as f64
                / (last_durable.saturating_sub(start_ns) as f64 / 1e9).max(1e-9),
        },
        stages,
        objects: Objects::of(&exp.landed, &Percentiles::of(&sizes), &close_reasons),
        requests,
        cost: Cost {
            put_per_1000_usd: price,
            s3_requests_usd: usd,
            s3_requests_per_million_ticks_usd: usd * 1e6 / a.audit.landed.max(1) as f64,
        },
        resources: a.resources,
        kafka: KafkaSummary {
            topic: exp.topic.clone(),
            partitions: exp.start_offsets.len(),
            start_offsets: exp.start_offsets.clone(),
            end_offsets,
            committed_offsets: exp.committed.clone(),
        },
        window: Window {
            warmup_s: all.warmup_s,
            measured_s: all.measured_s,
        },
        problems,
        warnings,
        lost_sample: a.audit.lost_sample.clone(),
        thresholds: Vec::new(),
        observed: a.observed.clone(),
    };
    summary.thresholds = evaluate(&summary, &a.load.parsed_thresholds()?);
    Ok(summary)
}

/// Partitions whose acknowledged records run past what the sinks committed: the sinks stopped
/// before they had landed everything. The hint says why, from how the sinks stopped.
fn unlanded(all: &Produced, committed: &BTreeMap<i32, i64>, sinks: &[SinkPart]) -> Vec<String> {
    let stops: Vec<StopReason> = sinks.iter().map(|s| s.summary.stopped_by).collect();
    let why = unlanded_because(&stops);
    all.acked_offsets
        .iter()
        .map(|(p, (_, last))| (*p, last + 1))
        .filter_map(|(p, end)| {
            let c = committed.get(&p).copied().unwrap_or(0);
            (c < end).then(|| format!(
                "partition {p}: the producers' records run to offset {end} but the sinks committed only up to {c}: {why}"
            ))
        })
        .collect()
}

/// Why sinks that stopped so committed less than was produced.
fn unlanded_because(stops: &[StopReason]) -> &'static str {
    let stopped = |r: StopReason| stops.contains(&r);
    if stopped(StopReason::Failed) {
        "a sink failed before it had landed everything (its failure is above)"
    } else if stopped(StopReason::Signal) {
        "a sink was stopped (Ctrl-C or SIGTERM) before it had landed everything"
    } else if stopped(StopReason::Idle) {
        "the sinks stopped before they had landed everything (give --until-idle more time, or start them before the producers end)"
    } else {
        "the sinks read up to the end but the group refused their last commits (the consumer group was rebalancing or the coordinator was unavailable; commits.jsonl shows what was accepted)"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_unlanded_hint_fits_how_the_sinks_stopped() {
        use StopReason::*;
        assert!(unlanded_because(&[Idle, Drain]).contains("--until-idle"));
        assert!(unlanded_because(&[Idle, Failed]).contains("failed"));
        assert!(unlanded_because(&[Signal]).contains("Ctrl-C"));
        // A run's own sink drains to the end: no --until-idle to give more time to.
        let run = unlanded_because(&[Drain]);
        assert!(
            !run.contains("--until-idle") && run.contains("refused"),
            "{run}"
        );
    }
}
