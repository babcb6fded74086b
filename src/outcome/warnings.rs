//! Warnings every assembly gives: what the broker acknowledged oddly, how the sinks were
//! started, and how far the hosts' clocks may disagree.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::Scenario;
use crate::metrics::Stage;
use crate::results::{Host, StageSummary};

use super::{ProducerPart, SinkPart};

/// Cross-host latencies whose error bound is more than this share of their median get a warning.
const CLOCK_BOUND_SHARE: f64 = 0.1;

/// What the producers' delivery reports say about the broker.
pub fn producers(producers: &[ProducerPart]) -> Vec<String> {
    let mut out = Vec::new();
    let without: u64 = producers
        .iter()
        .map(|p| p.produced.acks_without_offset)
        .sum();
    if without > 0 {
        out.push(format!(
            "the broker acknowledged {without} messages without an offset (librdkafka reports -1, for example for an idempotent producer's retry that the broker answers as a duplicate of a batch it says it has); the audit shows whether they are in its log"
        ));
    }
    for p in producers {
        let pr = &p.produced;
        for (part, (first, last)) in &pr.acked_offsets {
            let acks = pr.acks.get(part).copied().unwrap_or(0);
            let span = (last - first + 1).max(0) as u64;
            if acks > span {
                out.push(format!(
                    "partition {part}: the broker acknowledged {acks} messages at offsets {first}..={last}, a span of {span}: it gave the same offset to more than one message, so {} acknowledged messages cannot all be in its log",
                    acks - span
                ));
            }
            // One producer alone knows no other writer's records came first.
            let start = pr.start_offsets.get(part).copied().unwrap_or(0);
            if producers.len() == 1 && *first > start {
                out.push(format!(
                    "partition {part}: the broker reported high watermark {start} before the load but gave this run's first record offset {first}: offsets {start}..{} held records written before the run",
                    first - 1
                ));
            }
        }
    }
    out
}

/// How the sinks were started and what the group did to them.
pub fn sinks(sinks: &[SinkPart], load: &Scenario) -> Vec<String> {
    let mut out = Vec::new();
    for s in sinks {
        let sum = &s.summary;
        if sum.start_at.is_none() && !load.warmup.is_zero() {
            out.push(format!(
                "sink {} was started without --start-at: its latencies count from its own start, so the load's warm-up is in its measured window",
                sum.instance
            ));
        }
        if sum.counts.released_uncommitted > 0 {
            out.push(format!(
                "sink {} gave up {} revoked partitions with durable records the group would not let it commit; their next owner read them again",
                sum.instance, sum.counts.released_uncommitted
            ));
        }
        if sum.counts.dead_letters_truncated > 0 {
            out.push(format!(
                "sink {} cut {} dead letters to sink.dead_letter_max_record: each line holds the value's first bytes and its full size (payload_bytes)",
                sum.instance, sum.counts.dead_letters_truncated
            ));
        }
        if sum.counts.wall_clock_steps > 0 {
            out.push(format!(
                "sink {}: the wall clock stepped during the run ({} {}, the largest by {:+.3} s): latencies measured across a step are off by as much; batches still closed on time (ages and deadlines are on the monotonic clock)",
                sum.instance,
                sum.counts.wall_clock_steps,
                if sum.counts.wall_clock_steps == 1 { "step" } else { "steps" },
                sum.counts.largest_wall_clock_step_ms as f64 / 1e3
            ));
        }
    }
    out
}

/// End-to-end stages start on a producer's clock and end on a sink's: across machines they are
/// off by as much as the two clocks disagree, which is at most the sum of their error bounds.
pub fn clock_warnings(
    producers: &[&Host],
    sinks: &[&Host],
    stages: &BTreeMap<Stage, StageSummary>,
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
    let Some((name, st)) = [Stage::KafkaE2e, Stage::PipelineE2e]
        .into_iter()
        .find_map(|n| {
            stages
                .get(&n)
                .filter(|s| s.count > 0)
                .map(|s| (n.name(), s))
        })
    else {
        return Vec::new();
    };
    if total <= CLOCK_BOUND_SHARE * st.p50_us as f64 {
        return Vec::new();
    }
    vec![format!(
        "the hosts' clocks may disagree by up to ±{} (producer hosts ±{}, sink hosts ±{}), more than a tenth of {name}'s p50 of {}: cross-host latencies are uncertain by that much",
        crate::units::duration_us(total),
        crate::units::duration_us(p_max),
        crate::units::duration_us(s_max),
        crate::units::duration_us(st.p50_us as f64)
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

    fn stages(kafka_e2e_p50_us: u64) -> BTreeMap<Stage, StageSummary> {
        BTreeMap::from([(
            Stage::KafkaE2e,
            StageSummary {
                count: 1000,
                p50_us: kafka_e2e_p50_us,
                ..Default::default()
            },
        )])
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
