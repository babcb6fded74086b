//! `tickbench merge DIR...`: one run folder from the folders of several producer workers
//! (`tickbench produce --worker I/N`) and sinks (`tickbench sink`), on one machine or many.
//!
//! Histograms are added (HdrHistogram addition, interval by interval on the wall clock), counts
//! summed, and the integrity audit runs over the union: every tick any worker had acknowledged
//! must be in S3 exactly once, whichever sink landed it. The result is an ordinary run folder:
//! `summary.json`, `expected.json` (so `tickbench verify` works on it), `report.html`...

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::audit::{self, Expectations};
use crate::metrics::{Percentiles, Recorders, Stage};
use crate::produce::only::Produced;
use crate::report::{
    self, hlog, Cost, Counts, KafkaSummary, Objects, Requests, Resources, StageSummary, Summary,
    Throughput, Window,
};
use crate::results::{self, read_jsonl, write_jsonl, Host, Manifest};
use crate::scenario::{self, Scenario};
use crate::sink::only::SinkSummary;
use crate::sink::upload::Landed;
use crate::verify::{read_json, RunStore};

/// A folder that went into a merge, as recorded in the merged manifest's `merged_from`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Part {
    /// `producer` or `sink`.
    pub role: String,
    pub run_id: String,
    /// The folder as given on the command line.
    pub dir: String,
    /// `--worker` of a producer (I/N), `--instance` of a sink.
    pub name: String,
    /// The machine it ran on, with its clock's state.
    pub host: Host,
}

struct ProducerDir {
    dir: PathBuf,
    produced: Produced,
    manifest: Manifest,
}

struct SinkDir {
    dir: PathBuf,
    summary: SinkSummary,
    manifest: Manifest,
    landed: Vec<Landed>,
    dead_letters: Vec<Landed>,
    scenario: Scenario,
}

/// How a merge is done.
#[derive(Debug, Clone, Default)]
pub struct MergeOptions {
    /// Parent of the merged run folder (when `out` is not given).
    pub results_root: PathBuf,
    /// The merged folder itself, instead of a new `<results_root>/<timestamp>-<name>-merged/`.
    pub out: Option<PathBuf>,
    /// S3 endpoint for the audit, instead of the one the sinks used.
    pub s3_endpoint: Option<String>,
    /// Show a bar while the objects are read back.
    pub progress: bool,
}

/// Cross-host latencies whose error bound is more than this share of their median get a warning.
const CLOCK_BOUND_SHARE: f64 = 0.1;

/// Merges the folders into one run folder, audits the union and writes its report.
pub async fn merge(dirs: &[PathBuf], opts: &MergeOptions) -> anyhow::Result<(PathBuf, Summary)> {
    let (producers, sinks) = classify(dirs)?;
    let first = &producers[0];
    let load = folder_scenario(&first.dir)?;
    let mut problems = check_parts(&producers, &sinks)?;
    let mut warnings = Vec::new();

    // The merged scenario: the producers' load, the sinks' landing.
    let mut merged_scenario = load.clone();
    merged_scenario.sink = sinks[0].scenario.sink.clone();
    merged_scenario.s3 = sinks[0].scenario.s3.clone();
    let topic = first.produced.topic.clone();

    let started_at = chrono::Utc::now();
    let (run_id, dir) = match &opts.out {
        Some(out) => {
            std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
            anyhow::ensure!(
                !out.join("summary.json").exists(),
                "{}: already holds a run; give --out an empty folder",
                out.display()
            );
            let id = out
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "merged".into());
            (id, out.clone())
        }
        None => results::create_run_dir(
            &opts.results_root,
            &format!("{}-merged", load.name),
            started_at,
        )?,
    };
    let resolved = merged_scenario.resolved_toml();
    std::fs::write(dir.join("scenario.toml"), &resolved).context("writing scenario.toml")?;

    // What was produced: the workers' shares added up.
    let tickers = first.produced.tickers.clone();
    let mut per_symbol = vec![0u64; tickers.len()];
    let mut failed = Vec::new();
    let mut start_offsets: BTreeMap<i32, i64> = BTreeMap::new();
    let mut end_offsets: BTreeMap<i32, i64> = BTreeMap::new();
    let mut acked_end: BTreeMap<i32, i64> = BTreeMap::new();
    let (mut not_sent, mut acks_without_offset) = (0, 0);
    for p in &producers {
        let pr = &p.produced;
        for (a, b) in per_symbol.iter_mut().zip(&pr.per_symbol) {
            *a += b;
        }
        failed.extend(pr.failed.iter().cloned());
        not_sent += pr.not_sent;
        acks_without_offset += pr.acks_without_offset;
        for (part, o) in &pr.start_offsets {
            let e = start_offsets.entry(*part).or_insert(*o);
            *e = (*e).min(*o);
        }
        for (part, o) in &pr.end_offsets {
            let e = end_offsets.entry(*part).or_insert(*o);
            *e = (*e).max(*o);
        }
        for (part, (_, last)) in &pr.acked_offsets {
            let e = acked_end.entry(*part).or_insert(last + 1);
            *e = (*e).max(last + 1);
        }
    }
    if acks_without_offset > 0 {
        warnings.push(format!(
            "the broker acknowledged {acks_without_offset} messages without an offset (librdkafka reports -1); the audit shows whether they are in its log"
        ));
    }

    // What was landed: every sink's objects, once each. A partition revoked before its objects
    // were committed is read again by its next owner, which writes the same keys: the last write
    // of a key is the one in the bucket.
    let mut by_key: BTreeMap<String, Landed> = BTreeMap::new();
    let mut dead_by_key: BTreeMap<String, Landed> = BTreeMap::new();
    let mut committed: BTreeMap<i32, i64> = BTreeMap::new();
    let mut set_aside: BTreeMap<i32, u64> = BTreeMap::new();
    let mut close_reasons: BTreeMap<String, u64> = BTreeMap::new();
    let mut requests = Requests::default();
    let mut counts = Counts::default();
    for s in &sinks {
        let ours =
            |l: &&Landed| l.first_offset >= start_offsets.get(&l.partition).copied().unwrap_or(0);
        for l in s.landed.iter().filter(ours) {
            keep_latest(&mut by_key, l);
        }
        for l in s.dead_letters.iter().filter(ours) {
            keep_latest(&mut dead_by_key, l);
        }
        for (p, o) in &s.summary.committed_offsets {
            let e = committed.entry(*p).or_insert(*o);
            *e = (*e).max(*o);
        }
        for (p, n) in &s.summary.set_aside {
            *set_aside.entry(*p).or_default() += n;
        }
        for (r, n) in &s.summary.objects.close_reasons {
            *close_reasons.entry(r.clone()).or_default() += n;
        }
        let (r, c) = (&s.summary.requests, &s.summary.counts);
        requests.put_object += r.put_object;
        requests.create_multipart_upload += r.create_multipart_upload;
        requests.upload_part += r.upload_part;
        requests.complete_multipart_upload += r.complete_multipart_upload;
        requests.abort_multipart_upload += r.abort_multipart_upload;
        requests.retried += r.retried;
        counts.consumed += c.consumed;
        counts.malformed += c.malformed;
        counts.offset_gaps += c.offset_gaps;
        counts.consumer_errors += c.consumer_errors;
        counts.rewinds += c.rewinds;
        counts.reread += c.reread;
        if s.summary.start_at.is_none() && first.produced.warmup_s > 0.0 {
            warnings.push(format!(
                "sink {} was started without --start-at: its latencies count from its own start, so the load's warm-up is in its measured window",
                s.summary.instance
            ));
        }
        if c.released_uncommitted > 0 {
            warnings.push(format!(
                "sink {} gave up {} revoked partitions with durable records the group would not let it commit; their next owner read them again",
                s.summary.instance, c.released_uncommitted
            ));
        }
    }
    let landed: Vec<Landed> = by_key.into_values().collect();
    let dead_letters: Vec<Landed> = dead_by_key.into_values().collect();
    for (p, end) in &acked_end {
        let c = committed.get(p).copied().unwrap_or(0);
        if c < *end {
            problems.push(format!(
                "partition {p}: the producers' records run to offset {end} but the sinks committed only up to {c}: the sinks stopped before they had landed everything (give --until-idle more time, or start them before the producers end)"
            ));
        }
    }

    let first_sink = &sinks[0];
    let expectations = Expectations {
        tickers,
        per_symbol,
        failed,
        landed,
        dead_letters,
        start_offsets: start_offsets.clone(),
        committed: committed.clone(),
        set_aside,
        // Where the group stands at the end: each partition's last owner read up to its commit.
        positions: committed.clone(),
        schedule_ns: (
            producers
                .iter()
                .map(|p| p.produced.schedule_ns.0)
                .min()
                .unwrap_or(0),
            producers
                .iter()
                .map(|p| p.produced.schedule_ns.1)
                .max()
                .unwrap_or(0),
        ),
        bucket: first_sink.manifest.s3_bucket.clone(),
        prefix: first_sink.scenario.s3.prefix.clone(),
        topic: topic.clone(),
    };
    results::write_json(&dir.join("expected.json"), &expectations)?;
    write_jsonl(&dir.join("objects.jsonl"), &expectations.landed)?;

    // The histograms, added interval by interval.
    let start_ns = producers
        .iter()
        .map(|p| p.produced.start_ns)
        .min()
        .unwrap_or(0);
    let warmup = Duration::from_secs_f64(first.produced.warmup_s);
    let part_dirs: Vec<&Path> = producers
        .iter()
        .map(|p| p.dir.as_path())
        .chain(sinks.iter().map(|s| s.dir.as_path()))
        .collect();
    let rec = add_histograms(&part_dirs, start_ns, warmup)?;
    rec.write_logs(&dir.join("histograms"), warmup)
        .context("writing the merged histograms")?;
    let stages: BTreeMap<String, StageSummary> = report::latency_stages()
        .map(|s| {
            (
                s.name().to_string(),
                StageSummary::from(&Percentiles::of(&rec.get(s).measured())),
            )
        })
        .collect();
    warnings.extend(clock_warnings(
        &producers
            .iter()
            .map(|p| &p.manifest.host)
            .collect::<Vec<_>>(),
        &sinks.iter().map(|s| &s.manifest.host).collect::<Vec<_>>(),
        &stages,
    ));

    // The audit over the union.
    let store = RunStore::open(&first_sink.dir, opts.s3_endpoint.as_deref()).await?;
    let audit = audit::run(
        &audit::Location {
            client: &store.client,
            bucket: &expectations.bucket,
            prefix: &expectations.prefix,
            topic: &topic,
            progress: opts.progress,
        },
        &expectations.expected(),
    )
    .await;
    store.close().await;
    let audit = audit?;
    problems.extend(audit.problems.iter().cloned());
    if counts.offset_gaps > 0 {
        problems.push(format!(
            "{} offsets were never delivered to the sinks: the broker dropped them (retention) before they were read, or its fetch skipped them; records lost that way are the broker's, not the sinks'",
            counts.offset_gaps
        ));
    }

    let produced: u64 = producers
        .iter()
        .map(|p| p.produced.per_symbol.iter().sum::<u64>())
        .sum();
    let delivery_failed = expectations.failed.len() as u64;
    counts.produced = produced;
    counts.acked = produced - delivery_failed;
    counts.landed = audit.landed;
    counts.lost = audit.lost;
    counts.duplicated = audit.duplicated;
    counts.delivery_failed = delivery_failed;
    counts.not_sent = not_sent;
    counts.dead_lettered = audit.dead_lettered;
    counts.foreign = audit.foreign;
    let last_durable = expectations
        .landed
        .iter()
        .map(|l| l.durable_ns)
        .max()
        .unwrap_or(start_ns);
    let mut sizes = rec.get(Stage::ObjectSize).measured();
    sizes.add(rec.get(Stage::ObjectSize).warmup()).ok();
    let price = load.cost.put_per_1000_usd;
    let usd = requests.put_class() as f64 * price / 1000.0;
    let mut summary = Summary {
        tickbench_version: env!("CARGO_PKG_VERSION").into(),
        run_id: run_id.clone(),
        scenario: load.name.clone(),
        passed: problems.is_empty(),
        interrupted: false,
        counts,
        throughput: Throughput {
            produced_per_s: produced as f64 / load.total_duration().as_secs_f64(),
            landed_per_s: audit.landed as f64
                / (last_durable.saturating_sub(start_ns) as f64 / 1e9).max(1e-9),
        },
        stages,
        objects: Objects::of(
            &expectations.landed,
            &Percentiles::of(&sizes),
            &close_reasons,
        ),
        requests,
        cost: Cost {
            put_per_1000_usd: price,
            s3_requests_usd: usd,
            s3_requests_per_million_ticks_usd: usd * 1e6 / audit.landed.max(1) as f64,
        },
        resources: merged_resources(&sinks, &merged_scenario),
        kafka: KafkaSummary {
            topic,
            partitions: start_offsets.len(),
            start_offsets,
            end_offsets,
            committed_offsets: committed,
        },
        window: Window {
            warmup_s: first.produced.warmup_s,
            measured_s: first.produced.measured_s,
        },
        problems,
        warnings,
        lost_sample: audit.lost_sample.clone(),
        thresholds: Vec::new(),
    };
    summary.thresholds = crate::thresholds::evaluate(&summary, &load.thresholds);
    results::write_json(&dir.join("summary.json"), &summary)?;

    let merged_from = producers
        .iter()
        .map(|p| Part {
            role: "producer".into(),
            run_id: p.manifest.run_id.clone(),
            dir: p.dir.display().to_string(),
            name: crate::sim::Share {
                worker: p.produced.worker,
                workers: p.produced.workers,
                ..crate::sim::Share::ALL
            }
            .label(),
            host: p.manifest.host.clone(),
        })
        .chain(sinks.iter().map(|s| Part {
            role: "sink".into(),
            run_id: s.manifest.run_id.clone(),
            dir: s.dir.display().to_string(),
            name: s.summary.instance.clone(),
            host: s.manifest.host.clone(),
        }))
        .collect();
    let manifest = Manifest {
        run_id,
        scenario_name: load.name.clone(),
        scenario_file: None,
        scenario_sha256: results::sha256_hex(resolved.as_bytes()),
        seed: load.seed,
        tickbench_version: env!("CARGO_PKG_VERSION").into(),
        git_revision: results::git_revision(),
        librdkafka_version: rdkafka::util::get_rdkafka_version().1,
        host: Host::current(),
        kafka_brokers: first.manifest.kafka_brokers.clone(),
        kafka_embedded: false,
        s3_endpoint: opts
            .s3_endpoint
            .clone()
            .or_else(|| first_sink.manifest.s3_endpoint.clone()),
        s3_bucket: first_sink.manifest.s3_bucket.clone(),
        s3_embedded: false,
        started_at: started_at.to_rfc3339(),
        ended_at: chrono::Utc::now().to_rfc3339(),
        merged_from,
    };
    results::write_json(&dir.join("manifest.json"), &manifest)?;
    report::document::RunReport::load(&dir)
        .and_then(|r| r.write())
        .context("writing the report")?;
    Ok((dir, summary))
}

/// The sinks' memory: the largest of each figure (each sink has its own bound); CPU: the sinks'
/// processes together per million landed ticks. Producer processes are measured in their own
/// folders only.
fn merged_resources(sinks: &[SinkDir], load: &Scenario) -> Resources {
    let r: Vec<&Resources> = sinks.iter().map(|s| &s.summary.resources).collect();
    let landed: u64 = sinks.iter().map(|s| s.summary.counts.landed).sum();
    let open = r
        .iter()
        .map(|r| r.sink_peak_open_batches)
        .max()
        .unwrap_or(0);
    let cpu: Option<f64> = r.iter().map(|r| r.cpu_process_s).sum();
    Resources {
        peak_rss_bytes: r.iter().filter_map(|r| r.peak_rss_bytes).max(),
        sink_peak_buffered_bytes: r
            .iter()
            .map(|r| r.sink_peak_buffered_bytes)
            .max()
            .unwrap_or(0),
        sink_peak_open_batches: open,
        sink_memory_bound_bytes: crate::sink::memory_bound(&load.sink, open),
        cpu_process_s: cpu,
        cpu_producer_threads_s: None,
        cpu_rest_s_per_million_ticks: cpu.map(|c| c * 1e6 / landed.max(1) as f64),
    }
}

/// A part's scenario (`scenario.toml` in its folder). The symbol file it names, with its path on
/// the host that ran it, may not be on this one: then the scenario is read without it, since the
/// merge needs its load, thresholds and prices, and `produced.json` has the tickers.
fn folder_scenario(dir: &Path) -> anyhow::Result<Scenario> {
    let path = dir.join("scenario.toml");
    let first_try = scenario::load(&path);
    let Err(err) = first_try else {
        return Ok(first_try?);
    };
    let without_file = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| t.parse::<toml_edit::DocumentMut>().ok())
        .and_then(|mut doc| {
            doc.get_mut("symbols")?
                .as_table_like_mut()?
                .remove("file")?;
            scenario::parse(&path, &doc.to_string()).ok()
        });
    without_file
        .ok_or(err)
        .with_context(|| format!("{}: reading its scenario", dir.display()))
}

/// Sorts the folders into producers (`produced.json`) and sinks (a sink's `summary.json`).
fn classify(dirs: &[PathBuf]) -> anyhow::Result<(Vec<ProducerDir>, Vec<SinkDir>)> {
    let (mut producers, mut sinks) = (Vec::new(), Vec::new());
    for dir in dirs {
        let manifest: Manifest = read_json(dir, "manifest.json")?;
        if dir.join("produced.json").is_file() {
            producers.push(ProducerDir {
                dir: dir.clone(),
                produced: read_json(dir, "produced.json")?,
                manifest,
            });
        } else if dir.join("objects.jsonl").is_file() && dir.join("commits.jsonl").is_file() {
            let summary: SinkSummary = read_json(dir, "summary.json")?;
            let scenario = folder_scenario(dir)?;
            sinks.push(SinkDir {
                landed: read_jsonl(&dir.join("objects.jsonl"))?,
                dead_letters: read_jsonl(&dir.join("dead_letters.jsonl"))?,
                dir: dir.clone(),
                summary,
                manifest,
                scenario,
            });
        } else {
            bail!(
                "{}: neither a producer's folder (`tickbench produce`, with produced.json) nor a sink's (`tickbench sink`, with objects.jsonl and commits.jsonl)",
                dir.display()
            );
        }
    }
    if producers.is_empty() || sinks.is_empty() {
        bail!(
            "tickbench merge needs the folders of every producer worker and of at least one sink; got {} producer and {} sink folders",
            producers.len(),
            sinks.len()
        );
    }
    producers.sort_by_key(|p| p.produced.worker);
    Ok((producers, sinks))
}

/// The parts must be one load: the same scenario, every worker once, one topic. What makes the
/// merge meaningless is an error; what only makes it suspect is a problem of the merged run.
fn check_parts(producers: &[ProducerDir], sinks: &[SinkDir]) -> anyhow::Result<Vec<String>> {
    let first = &producers[0];
    let n = first.produced.workers;
    for p in producers {
        if p.manifest.scenario_sha256 != first.manifest.scenario_sha256 {
            bail!(
                "{} and {} ran different scenarios (scenario.toml differs): merge the workers of one load",
                first.dir.display(),
                p.dir.display()
            );
        }
        if p.produced.workers != n || p.produced.topic != first.produced.topic {
            bail!(
                "{} is worker {}/{} on topic {}, {} worker {}/{} on topic {}: merge the workers of one load",
                p.dir.display(),
                p.produced.worker + 1,
                p.produced.workers,
                p.produced.topic,
                first.dir.display(),
                first.produced.worker + 1,
                n,
                first.produced.topic
            );
        }
    }
    let have: BTreeSet<u32> = producers.iter().map(|p| p.produced.worker).collect();
    if have.len() != producers.len() {
        bail!("a producer worker's folder is given twice");
    }
    let missing: Vec<String> = (0..n)
        .filter(|w| !have.contains(w))
        .map(|w| format!("{}/{n}", w + 1))
        .collect();
    if !missing.is_empty() {
        bail!(
            "worker {} of the load is missing: give every producer worker's folder (without them the audit cannot tell their ticks from lost ones)",
            missing.join(", ")
        );
    }
    for s in sinks {
        if s.summary.topic != first.produced.topic {
            bail!(
                "sink {} read topic {}, the producers wrote {}",
                s.dir.display(),
                s.summary.topic,
                first.produced.topic
            );
        }
    }
    let mut problems = Vec::new();
    let starts: BTreeSet<u64> = producers.iter().map(|p| p.produced.start_ns).collect();
    if starts.len() > 1 {
        problems.push(format!(
            "the workers started at {} different times (no common --start-at): their ticks' times are not one load's schedule",
            starts.len()
        ));
    }
    let groups: BTreeSet<&str> = sinks.iter().map(|s| s.summary.group_id.as_str()).collect();
    if groups.len() > 1 {
        problems.push(format!(
            "the sinks were in {} consumer groups ({}): each group reads every record, so ticks land more than once",
            groups.len(),
            groups.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(problems)
}

fn keep_latest(by_key: &mut BTreeMap<String, Landed>, l: &Landed) {
    match by_key.get(&l.key) {
        Some(have) if have.durable_ns >= l.durable_ns => {}
        _ => {
            by_key.insert(l.key.clone(), l.clone());
        }
    }
}

/// Adds the parts' interval logs: each interval is placed at its wall-clock second (the log's
/// StartTime plus its offset), counted from `start_ns`; warm-up histograms are added whole.
fn add_histograms(dirs: &[&Path], start_ns: u64, warmup: Duration) -> anyhow::Result<Recorders> {
    let rec = Recorders::new(start_ns, start_ns + warmup.as_nanos() as u64);
    let mut intervals: HashMap<Stage, Vec<(u64, hdrhistogram::Histogram<u64>)>> = HashMap::new();
    for dir in dirs {
        let hist = dir.join("histograms");
        for log in hlog::read_all(&hist)? {
            let base = log.start_ns.with_context(|| {
                format!(
                    "{}: the {} log has no StartTime",
                    hist.display(),
                    log.stage.name()
                )
            })?;
            for (sec, h) in log.seconds {
                let at = base + sec * 1_000_000_000;
                // To the nearest second: StartTime is written to the millisecond.
                let merged_sec = (at.saturating_sub(start_ns) + 500_000_000) / 1_000_000_000;
                intervals
                    .entry(log.stage)
                    .or_default()
                    .push((merged_sec, h));
            }
        }
        for log in hlog::read_all(&hist.join("warmup"))? {
            rec.get(log.stage).absorb(&log.total, true, 0);
        }
    }
    for (stage, mut list) in intervals {
        // The recorder closes an interval when a later second arrives: add them in order.
        list.sort_by_key(|(s, _)| *s);
        for (sec, h) in list {
            rec.get(stage).absorb(&h, false, sec);
        }
    }
    Ok(rec)
}

/// End-to-end stages start on a producer's clock and end on a sink's: across machines they are
/// off by as much as the two clocks disagree, which is at most the sum of their error bounds.
fn clock_warnings(
    producers: &[&Host],
    sinks: &[&Host],
    stages: &BTreeMap<String, StageSummary>,
) -> Vec<String> {
    let names = |hosts: &[&Host]| -> BTreeSet<String> {
        hosts.iter().map(|h| h.hostname.clone()).collect()
    };
    let p_hosts = names(producers);
    if p_hosts.len() == 1 && p_hosts == names(sinks) {
        // One clock for both ends: no disagreement to bound.
        return Vec::new();
    }
    let mut unknown = BTreeSet::new();
    let mut worst = |hosts: &[&Host]| {
        let mut max = 0f64;
        for h in hosts {
            match h.clock.as_ref().and_then(|c| c.error_bound_us) {
                Some(b) => max = max.max(b),
                None => {
                    unknown.insert(format!(
                        "{} ({})",
                        h.hostname,
                        h.clock
                            .as_ref()
                            .map(|c| c.describe())
                            .unwrap_or_else(|| "not recorded".into())
                    ));
                }
            }
        }
        max
    };
    let (p_max, s_max) = (worst(producers), worst(sinks));
    if !unknown.is_empty() {
        return vec![format!(
            "the producers and sinks ran on different hosts, and the clock error of {} is unknown: kafka_e2e and pipeline_e2e start on one host's clock and end on another's, with no bound on the difference (run chrony, for example against the Amazon Time Sync Service)",
            unknown.into_iter().collect::<Vec<_>>().join("; ")
        )];
    }
    let total = p_max + s_max;
    let Some((name, st)) = ["kafka_e2e", "pipeline_e2e"]
        .into_iter()
        .find_map(|n| stages.get(n).filter(|s| s.count > 0).map(|s| (n, s)))
    else {
        return Vec::new();
    };
    if total <= CLOCK_BOUND_SHARE * st.p50_us as f64 {
        return Vec::new();
    }
    vec![format!(
        "the hosts' clocks may disagree by up to ±{} (producer hosts ±{}, sink hosts ±{}), more than a tenth of {name}'s p50 of {}: cross-host latencies are uncertain by that much",
        crate::clock::fmt_us(total),
        crate::clock::fmt_us(p_max),
        crate::clock::fmt_us(s_max),
        crate::clock::fmt_us(st.p50_us as f64)
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ClockState;

    fn host(name: &str, bound_us: Option<f64>) -> Host {
        Host {
            hostname: name.into(),
            os: "linux".into(),
            arch: "x86_64".into(),
            cpus: 2,
            clock: Some(ClockState {
                source: "chrony".into(),
                synchronized: Some(bound_us.is_some()),
                offset_us: Some(0.0),
                error_bound_us: bound_us,
                reference: None,
            }),
        }
    }

    fn stages(kafka_e2e_p50_us: u64) -> BTreeMap<String, StageSummary> {
        BTreeMap::from([(
            "kafka_e2e".to_string(),
            StageSummary {
                count: 1000,
                p50_us: kafka_e2e_p50_us,
                ..Default::default()
            },
        )])
    }

    #[test]
    fn a_parts_scenario_loads_without_the_symbol_file_of_its_host() {
        let dir = tempfile::tempdir().unwrap();
        let text = "name = \"far\"\nseed = 1\nduration = \"2s\"\n[symbols]\ncount = 10\nfile = \"/on/another/host/symbols.csv\"\n[rate]\nticks_per_second = 5\n[thresholds]\npipeline_e2e_p99 = \"<= 2s\"\n";
        std::fs::write(dir.path().join("scenario.toml"), text).unwrap();
        let s = folder_scenario(dir.path()).unwrap();
        assert_eq!((s.name.as_str(), s.thresholds.len()), ("far", 1));
        // Anything else wrong is still an error, naming the folder.
        std::fs::write(
            dir.path().join("scenario.toml"),
            text.replace("seed = 1", "sed = 1"),
        )
        .unwrap();
        let e = format!("{:#}", folder_scenario(dir.path()).unwrap_err());
        assert!(
            e.contains("reading its scenario") && e.contains("sed"),
            "{e}"
        );
    }

    #[test]
    fn one_host_needs_no_clock_bound() {
        let h = host("a", None);
        assert!(clock_warnings(&[&h, &h], &[&h], &stages(100)).is_empty());
    }

    #[test]
    fn hosts_whose_clocks_agree_well_enough_pass_quietly() {
        let (p, s) = (host("gen-1", Some(50.0)), host("sink-1", Some(100.0)));
        // ±150 µs against a 5 ms median: 3 %.
        assert!(clock_warnings(&[&p], &[&s], &stages(5_000)).is_empty());
    }

    #[test]
    fn a_loose_bound_is_named_with_the_stage_it_spoils() {
        let (p, s) = (host("gen-1", Some(400.0)), host("sink-1", Some(800.0)));
        // ±1.2 ms against a 5 ms median: 24 %.
        let w = clock_warnings(&[&p], &[&s], &stages(5_000));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("±1.2 ms") && w[0].contains("kafka_e2e's p50 of 5.0 ms"),
            "{}",
            w[0]
        );
    }

    #[test]
    fn an_unsynchronized_or_unrecorded_clock_is_named() {
        let (p, s) = (host("gen-1", Some(50.0)), host("sink-1", None));
        let mut old = host("gen-2", None);
        old.clock = None;
        let w = clock_warnings(&[&p, &old], &[&s], &stages(5_000));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains("sink-1 (chrony: not synchronized)"),
            "{}",
            w[0]
        );
        assert!(w[0].contains("gen-2 (not recorded)"), "{}", w[0]);
    }
}
