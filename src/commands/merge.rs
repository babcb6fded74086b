//! `tickbench merge DIR...`: one run folder from the folders of several producer workers
//! (`tickbench produce --worker I/N`) and sinks (`tickbench sink`), on one machine or many.
//!
//! Histograms are added (HdrHistogram addition, interval by interval on the wall clock), counts
//! summed, and the integrity audit runs over the union: every tick any worker had acknowledged
//! must be in S3 exactly once, whichever sink landed it. The result is an ordinary run folder:
//! `summary.json`, `expected.json` (so `tickbench verify` works on it), `report.html`...

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::audit;
use crate::commands::store::RunStore;
use crate::config::{self, Scenario};
use crate::metrics::{Recorders, Stage};
use crate::outcome::{self, Assembly, Bucket, ProducerPart, SinkPart};
use crate::report::{self, hlog};
use crate::results::{files, Endpoints, Manifest, Part, Resources, Role, RunDir, Summary};

struct ProducerDir {
    dir: PathBuf,
    part: ProducerPart,
    manifest: Manifest,
}

struct SinkDir {
    dir: PathBuf,
    part: SinkPart,
    manifest: Manifest,
    scenario: Scenario,
}

/// The SQL catalog a sink into an Iceberg table used by default (`catalog.db` in the results
/// folder its own folder is in), as a URI; None when its scenario names a catalog itself.
fn shared_catalog(sink: &SinkDir) -> Option<String> {
    let i = sink.scenario.sink.iceberg.clone().unwrap_or_default();
    if sink.scenario.sink.format != crate::model::format::Format::Iceberg
        || i.catalog != config::CatalogKind::Sql
        || i.uri.is_some()
    {
        return None;
    }
    let root = std::fs::canonicalize(&sink.dir).ok()?;
    Some(format!(
        "sqlite:{}?mode=rw",
        root.parent()?.join("catalog.db").display()
    ))
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

/// Merges the folders into one run folder, audits the union and writes its report.
pub async fn merge(dirs: &[PathBuf], opts: &MergeOptions) -> anyhow::Result<(PathBuf, Summary)> {
    let (producers, sinks) = classify(dirs)?;
    let first = &producers[0];
    let load = folder_scenario(&first.dir)?;
    let problems = check_parts(&producers, &sinks)?;

    // The merged scenario: the producers' load, the sinks' landing.
    let mut merged_scenario = load.clone();
    merged_scenario.sink = sinks[0].scenario.sink.clone();
    merged_scenario.s3 = sinks[0].scenario.s3.clone();
    merged_scenario.observe = sinks[0].scenario.observe.clone();
    // Sinks into an Iceberg table on the default SQL catalog shared `catalog.db` in their results
    // folder: the merged folder names it, so that its audit, `verify`, `query` and `compact`
    // read the same table.
    if let Some(uri) = shared_catalog(&sinks[0]) {
        let mut i = merged_scenario.sink.iceberg.clone().unwrap_or_default();
        i.uri = Some(uri);
        merged_scenario.sink.iceberg = Some(i);
    }

    let started_at = chrono::Utc::now();
    let dir = match &opts.out {
        Some(out) => RunDir::create_at(out)?,
        None => RunDir::create(
            &opts.results_root,
            &format!("{}-merged", load.name),
            started_at,
        )?,
    };
    let resolved = merged_scenario.resolved_toml();
    dir.write_scenario(&resolved)?;

    let producer_parts: Vec<ProducerPart> = producers.iter().map(|p| p.part.clone()).collect();
    let sink_parts: Vec<SinkPart> = sinks.iter().map(|s| s.part.clone()).collect();
    let first_sink = &sinks[0];
    let expectations = outcome::expectations(
        &producer_parts,
        &sink_parts,
        &Bucket {
            bucket: &first_sink.manifest.s3_bucket,
            prefix: &first_sink.scenario.s3.prefix,
        },
    );
    dir.write(files::EXPECTED, &expectations)?;
    dir.write_lines(files::OBJECTS, &expectations.landed)?;

    // The histograms, added interval by interval.
    let start_ns = producers
        .iter()
        .map(|p| p.part.produced.start_ns)
        .min()
        .unwrap_or(0);
    let warmup = Duration::from_secs_f64(first.part.produced.warmup_s);
    let part_dirs: Vec<&Path> = producers
        .iter()
        .map(|p| p.dir.as_path())
        .chain(sinks.iter().map(|s| s.dir.as_path()))
        .collect();
    let rec = add_histograms(&part_dirs, start_ns, warmup)?;
    rec.write_logs(&dir.histograms(), warmup)
        .context("writing the merged histograms")?;

    // The audit over the union.
    let store = RunStore::open(&first_sink.dir, opts.s3_endpoint.as_deref()).await?;
    // An observed sink's objects follow no naming of tickbench's: the audit reads exactly the
    // objects the observers saw, decoded as they were.
    let observed = observed_parts(&sinks);
    let audit = match (&first_sink.scenario.observe, &observed) {
        (Some(o), Some(_)) => {
            let prefix = o.prefix.trim_matches('/').to_string() + "/";
            let w = crate::observe::Watch {
                client: &store.client,
                bucket: &expectations.bucket,
                prefix: &prefix,
                poll: o.poll_interval,
                poll_max: o.poll_interval_max,
                mapping: crate::observe::decode::Mapping::of(o),
                pattern: None,
            };
            let mut keys: Vec<(String, i64)> = expectations
                .landed
                .iter()
                .map(|l| (l.key.clone(), l.bytes as i64))
                .collect();
            keys.sort();
            keys.dedup();
            let mut ledger = audit::Ledger::new(
                expectations.tickers.iter().map(String::as_str),
                expectations.schedule_ns,
            );
            crate::observe::reread(&w, keys, &mut ledger)
                .await
                .map(|found| ledger.finish(&expectations.expected(), found))
        }
        _ => {
            // Sinks into an Iceberg table: judged by the table's current snapshot.
            let lake = match merged_scenario.sink.format {
                crate::model::format::Format::Iceberg => {
                    let spec = crate::io::iceberg::TableSpec::of(
                        &merged_scenario,
                        &expectations.bucket,
                        dir.path(),
                    );
                    Some(crate::io::iceberg::Lake::open(&spec, store.client.clone()).await?)
                }
                _ => None,
            };
            audit::run(
                &audit::Location {
                    client: &store.client,
                    bucket: &expectations.bucket,
                    prefix: &expectations.prefix,
                    topic: &expectations.topic,
                    progress: opts.progress,
                    table: lake.as_ref(),
                },
                &expectations.expected(),
            )
            .await
        }
    };
    store.close().await;
    let audit = audit?;

    let summary = outcome::assemble(Assembly {
        run_id: dir.id(),
        load: &load,
        producers: &producer_parts,
        sinks: &sink_parts,
        expectations: &expectations,
        audit: &audit,
        rec: &rec,
        resources: merged_resources(&sinks, &merged_scenario),
        interrupted: false,
        failure: None,
        observed,
        problems,
        warnings: Vec::new(),
        end_offsets: None,
    })?;
    dir.write(files::SUMMARY, &summary)?;

    let mut manifest = Manifest::new(
        Role::Merged,
        dir.id(),
        &load,
        &resolved,
        None,
        Endpoints {
            kafka_brokers: first.manifest.kafka_brokers.clone(),
            kafka_embedded: false,
            s3_endpoint: opts
                .s3_endpoint
                .clone()
                .or_else(|| first_sink.manifest.s3_endpoint.clone()),
            s3_bucket: first_sink.manifest.s3_bucket.clone(),
            s3_embedded: false,
        },
        started_at,
    );
    manifest.merged_from = producers
        .iter()
        .map(|p| Part {
            role: Role::Producer,
            run_id: p.manifest.run_id.clone(),
            dir: p.dir.display().to_string(),
            name: crate::model::sim::Share {
                worker: p.part.produced.worker,
                workers: p.part.produced.workers,
                ..crate::model::sim::Share::ALL
            }
            .label(),
            host: p.manifest.host.clone(),
        })
        .chain(sinks.iter().map(|s| Part {
            role: Role::Sink,
            run_id: s.manifest.run_id.clone(),
            dir: s.dir.display().to_string(),
            name: s.part.summary.instance.clone(),
            host: s.manifest.host.clone(),
        }))
        .collect();
    dir.write(files::MANIFEST, &manifest)?;
    report::document::RunReport::load(dir.path())
        .and_then(|r| r.write())
        .context("writing the report")?;
    Ok((dir.path().to_path_buf(), summary))
}

/// How observed parts were watched, requests summed over the observers; None when the sinks
/// are tickbench's own.
fn observed_parts(sinks: &[SinkDir]) -> Option<crate::results::Observed> {
    let mut parts = sinks
        .iter()
        .filter_map(|s| s.part.summary.observed.as_ref());
    let mut o = parts.next()?.clone();
    for p in parts {
        o.list_requests += p.list_requests;
        o.listings += p.listings;
        o.incremental_listings += p.incremental_listings;
        o.get_requests += p.get_requests;
        o.durable_bound_ms = o.durable_bound_ms.max(p.durable_bound_ms);
        o.unreadable_objects
            .extend(p.unreadable_objects.iter().cloned());
        o.objects_without_ticks
            .extend(p.objects_without_ticks.iter().cloned());
        for (k, n) in &p.objects_by_kind {
            *o.objects_by_kind.entry(k.clone()).or_default() += n;
        }
    }
    Some(o)
}

/// The sinks' memory: the largest of each figure (each sink has its own bound); CPU: the sinks'
/// processes together per million landed ticks. Producer processes are measured in their own
/// folders only.
fn merged_resources(sinks: &[SinkDir], load: &Scenario) -> Resources {
    let r: Vec<&Resources> = sinks.iter().map(|s| &s.part.summary.resources).collect();
    let landed: u64 = sinks.iter().map(|s| s.part.summary.counts.landed).sum();
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
    let path = RunDir::open(dir).file(files::SCENARIO);
    let first_try = config::load(&path);
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
            config::parse(&path, &doc.to_string()).ok()
        });
    without_file
        .ok_or(err)
        .with_context(|| format!("{}: reading its scenario", dir.display()))
}

/// Sorts the folders into producers and sinks by their manifests' roles.
fn classify(dirs: &[PathBuf]) -> anyhow::Result<(Vec<ProducerDir>, Vec<SinkDir>)> {
    let (mut producers, mut sinks) = (Vec::new(), Vec::new());
    for path in dirs {
        let dir = RunDir::open(path);
        let manifest = dir.manifest()?;
        match manifest.role {
            Role::Producer => producers.push(ProducerDir {
                dir: path.clone(),
                part: ProducerPart {
                    produced: dir.read(files::PRODUCED)?,
                    host: manifest.host.clone(),
                },
                manifest,
            }),
            Role::Sink => sinks.push(SinkDir {
                scenario: folder_scenario(path)?,
                part: SinkPart {
                    summary: dir.sink_summary()?,
                    landed: dir.objects()?,
                    dead_letters: dir.dead_letters()?,
                    host: manifest.host.clone(),
                },
                dir: path.clone(),
                manifest,
            }),
            other => bail!(
                "{}: neither a producer's folder (`tickbench produce`) nor a sink's (`tickbench sink`): its manifest says it is a {} folder",
                path.display(),
                other.name()
            ),
        }
    }
    if producers.is_empty() || sinks.is_empty() {
        bail!(
            "tickbench merge needs the folders of every producer worker and of at least one sink; got {} producer and {} sink folders",
            producers.len(),
            sinks.len()
        );
    }
    producers.sort_by_key(|p| p.part.produced.worker);
    Ok((producers, sinks))
}

/// The parts must be one load: the same scenario, every worker once, one topic. What makes the
/// merge meaningless is an error; what only makes it suspect is a problem of the merged run.
fn check_parts(producers: &[ProducerDir], sinks: &[SinkDir]) -> anyhow::Result<Vec<String>> {
    let first = &producers[0];
    let n = first.part.produced.workers;
    for p in producers {
        if p.manifest.scenario_sha256 != first.manifest.scenario_sha256 {
            bail!(
                "{} and {} ran different scenarios (scenario.toml differs): merge the workers of one load",
                first.dir.display(),
                p.dir.display()
            );
        }
        if p.part.produced.workers != n || p.part.produced.topic != first.part.produced.topic {
            bail!(
                "{} is worker {}/{} on topic {}, {} worker {}/{} on topic {}: merge the workers of one load",
                p.dir.display(),
                p.part.produced.worker + 1,
                p.part.produced.workers,
                p.part.produced.topic,
                first.dir.display(),
                first.part.produced.worker + 1,
                n,
                first.part.produced.topic
            );
        }
    }
    let have: BTreeSet<u32> = producers.iter().map(|p| p.part.produced.worker).collect();
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
        if s.part.summary.topic != first.part.produced.topic {
            bail!(
                "sink {} read topic {}, the producers wrote {}",
                s.dir.display(),
                s.part.summary.topic,
                first.part.produced.topic
            );
        }
    }
    let mut problems = Vec::new();
    let starts: BTreeSet<u64> = producers.iter().map(|p| p.part.produced.start_ns).collect();
    if starts.len() > 1 {
        problems.push(format!(
            "the workers started at {} different times (no common --start-at): their ticks' times are not one load's schedule",
            starts.len()
        ));
    }
    let groups: BTreeSet<&str> = sinks
        .iter()
        .map(|s| s.part.summary.group_id.as_str())
        .collect();
    if groups.len() > 1 {
        problems.push(format!(
            "the sinks were in {} consumer groups ({}): each group reads every record, so ticks land more than once",
            groups.len(),
            groups.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(problems)
}

/// Adds the parts' interval logs: each interval is placed at its wall-clock second (the log's
/// StartTime plus its offset), counted from `start_ns`; warm-up histograms are added whole.
fn add_histograms(dirs: &[&Path], start_ns: u64, warmup: Duration) -> anyhow::Result<Recorders> {
    let rec = Recorders::new(start_ns, start_ns + warmup.as_nanos() as u64);
    let mut intervals: HashMap<Stage, Vec<(u64, hdrhistogram::Histogram<u64>)>> = HashMap::new();
    for dir in dirs {
        let hist = RunDir::open(dir).histograms();
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
