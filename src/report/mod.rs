//! What a run leaves behind for people: `summary.json` and the short text summary printed at the end.

pub mod compare;
pub mod document;
pub mod hlog;
pub mod svg;
pub mod table;
pub mod timeseries;

use std::fmt::Write as _;

use crate::results::{latency_stages, SinkSummary, Summary};
use crate::units::ms_short;

impl Summary {
    /// True when every threshold passed (or there are none).
    pub fn thresholds_passed(&self) -> bool {
        self.thresholds.iter().all(|t| t.passed)
    }

    /// The short human summary printed at the end of a run.
    pub fn to_text(&self) -> String {
        let c = &self.counts;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} produced, {} acknowledged, {} consumed, {} landed, {} lost, {} duplicated",
            c.produced, c.acked, c.consumed, c.landed, c.lost, c.duplicated
        );
        if c.duplicated_in_log > 0 {
            let _ = writeln!(
                s,
                "duplicated: {} twice in the topic (the producer's retries), {} landed twice by the sink",
                c.duplicated_in_log, c.duplicated_by_sink
            );
        }
        if c.delivery_failed + c.malformed + c.offset_gaps + c.not_sent + c.foreign > 0 {
            let _ = writeln!(
                s,
                "{} delivery failures, {} not sent, {} malformed records ({} in dead-letter objects), {} offsets never seen by the sink, {} foreign records (another load on the topic)",
                c.delivery_failed, c.not_sent, c.malformed, c.dead_lettered, c.offset_gaps, c.foreign
            );
        }
        let _ = writeln!(
            s,
            "throughput: {:.0} ticks/s produced, {:.0} ticks/s landed",
            self.throughput.produced_per_s, self.throughput.landed_per_s
        );
        let o = &self.objects;
        let _ = writeln!(
            s,
            "objects: {} ({} multipart, {} parts), {:.1} MiB, mean {:.1} KiB",
            o.count,
            o.multipart,
            o.parts,
            o.bytes as f64 / 1048576.0,
            o.size_mean_bytes / 1024.0
        );
        let r = &self.resources;
        let _ = writeln!(
            s,
            "S3 requests: {} (${:.4} per million ticks); sink buffers peak {:.1} MiB of a {:.1} MiB bound{}",
            self.put_requests(),
            self.cost.s3_requests_per_million_ticks_usd,
            r.sink_peak_buffered_bytes as f64 / 1048576.0,
            r.sink_memory_bound_bytes as f64 / 1048576.0,
            r.peak_rss_bytes
                .map(|b| format!("; process peak RSS {:.0} MiB", b as f64 / 1048576.0))
                .unwrap_or_default()
        );
        let _ = writeln!(
            s,
            "{:<14} {:>9} {:>10} {:>10} {:>10} {:>10}",
            "stage", "count", "p50", "p99", "p99.9", "max"
        );
        for stage in latency_stages() {
            if let Some(st) = self.stages.get(&stage).filter(|st| st.count > 0) {
                let _ = writeln!(
                    s,
                    "{:<14} {:>9} {:>10} {:>10} {:>10} {:>10}",
                    stage.name(),
                    st.count,
                    ms_short(st.p50_us),
                    ms_short(st.p99_us),
                    ms_short(st.p999_us),
                    ms_short(st.max_us)
                );
            }
        }
        if self.interrupted {
            let _ = writeln!(
                s,
                "interrupted: {} scheduled ticks were not sent",
                c.not_sent
            );
        }
        if let Some(o) = &self.observed {
            let how = if o.method == "s3-events" {
                format!(
                    "S3 event notifications for {} ({} SQS requests); durable times are S3's eventTime, to the millisecond on S3's clock",
                    o.prefix, o.sqs_requests
                )
            } else {
                format!(
                    "{} of {} every {:.0} ms; durable times late by at most {:.0} ms; {} LIST requests",
                    o.method, o.prefix, o.poll_interval_ms, o.durable_bound_ms, o.list_requests
                )
            };
            let _ = writeln!(
                s,
                "observed sink: {how}; {} GET requests; {} objects there before the run; objects {}; keys {}{}",
                o.get_requests,
                o.preexisting_objects,
                kinds(&o.objects_by_kind),
                o.key_layout,
                if o.notes.is_empty() {
                    String::new()
                } else {
                    format!("; notes: {}", o.notes)
                }
            );
        }
        if let Some(f) = &self.failure {
            let _ = writeln!(
                s,
                "did not complete: {f} (what had been done by then is counted, audited and reported)"
            );
        }
        for w in &self.warnings {
            let _ = writeln!(s, "warning: {w}");
        }
        for t in &self.thresholds {
            let _ = writeln!(
                s,
                "threshold {} {}: {} {}",
                t.metric,
                t.condition,
                t.actual_text(),
                if t.passed { "PASS" } else { "FAIL" }
            );
        }
        if self.passed {
            let _ = writeln!(
                s,
                "audit: PASS (every acknowledged tick landed exactly once)"
            );
        } else {
            let _ = writeln!(s, "audit: FAIL");
            for p in &self.problems {
                let _ = writeln!(s, "  - {p}");
            }
        }
        s
    }
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
            self.stopped_by.name()
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

/// "12 json-lines, 3 avro+gzip".
fn kinds(k: &std::collections::BTreeMap<String, u64>) -> String {
    if k.is_empty() {
        return "none read".into();
    }
    k.iter()
        .map(|(kind, n)| format!("{n} {kind}"))
        .collect::<Vec<_>>()
        .join(", ")
}
