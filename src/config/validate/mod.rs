//! Validation: every field of a scenario against what it may be, with the field's name and the
//! allowed values for the message (the caller adds the file and line).

use bytesize::ByteSize;

use super::*;
use crate::model::load::segment::{self, Segment};
use crate::model::load::Rate;
use crate::model::sim::settings::{grid_divisions, FixedSymbol};

mod iceberg;
mod kafka;

use iceberg::check_iceberg;
use kafka::{check_kafka, check_observe};

pub(super) struct Violation {
    pub field: std::borrow::Cow<'static, str>,
    pub value: String,
    pub allowed: String,
}

fn check(
    ok: bool,
    field: &'static str,
    value: impl ToString,
    allowed: &str,
) -> Result<(), Violation> {
    if ok {
        Ok(())
    } else {
        Err(Violation {
            field: field.into(),
            value: value.to_string(),
            allowed: allowed.to_string(),
        })
    }
}

/// Every check of a scenario, section by section; the first violation is the error.
pub(super) fn validate(s: &Scenario) -> Result<(), Violation> {
    for (metric, condition) in &s.thresholds {
        if let Err(e) = thresholds::parse(metric, condition) {
            return Err(Violation {
                field: format!("thresholds.{metric}").into(),
                value: format!("{condition:?}"),
                allowed: format!("{e}; allowed: {}", thresholds::allowed()),
            });
        }
    }
    check(
        is_safe_name(&s.name),
        "name",
        format!("{:?}", s.name),
        "1 to 64 characters from A-Z a-z 0-9 . _ -, not starting with '.'",
    )?;
    check(
        !s.duration.is_zero(),
        "duration",
        "0s",
        "a duration greater than zero, such as \"10s\" or \"5m\"",
    )?;
    check_symbols(s)?;
    check_rate(&s.rate, s.max.is_some())?;
    check_max(s)?;
    check_kafka(s)?;
    check_sink(s)?;
    check_observe(s)?;
    check_s3(s)
}

/// The symbol universe: counts, shares, jumps, hand-set and file symbols.
fn check_symbols(s: &Scenario) -> Result<(), Violation> {
    let sym = &s.symbols;
    let universe = sym.count as usize + sym.fixed.len() + sym.file_rows.len();
    check(
        (1..=100_000).contains(&universe),
        "symbols.count",
        sym.count,
        "a whole number from 1 to 100000 (with symbols.fixed and symbols.file: 1 to 100000 symbols in all)",
    )?;
    check(
        sym.price_median > 0.0 && sym.price_median.is_finite(),
        "symbols.price_median",
        sym.price_median,
        "a price greater than 0",
    )?;
    check(
        (0.0..=5.0).contains(&sym.price_log_sd),
        "symbols.price_log_sd",
        sym.price_log_sd,
        "from 0 to 5",
    )?;
    check(
        sym.drift_min.is_finite() && sym.drift_min.abs() <= 10.0,
        "symbols.drift_min",
        sym.drift_min,
        "an annual drift between -10 and 10",
    )?;
    check(
        sym.drift_max >= sym.drift_min && sym.drift_max.abs() <= 10.0,
        "symbols.drift_max",
        sym.drift_max,
        "an annual drift between symbols.drift_min and 10",
    )?;
    check(
        sym.volatility_min >= 0.0 && sym.volatility_min <= 10.0,
        "symbols.volatility_min",
        sym.volatility_min,
        "an annual volatility from 0 to 10",
    )?;
    check(
        sym.volatility_max >= sym.volatility_min && sym.volatility_max <= 10.0,
        "symbols.volatility_max",
        sym.volatility_max,
        "an annual volatility from symbols.volatility_min to 10",
    )?;
    check(
        (-1.0..=1.0).contains(&sym.beta_min),
        "symbols.beta_min",
        sym.beta_min,
        "a beta from -1 to 1",
    )?;
    check(
        sym.beta_max >= sym.beta_min && sym.beta_max <= 1.0,
        "symbols.beta_max",
        sym.beta_max,
        "a beta from symbols.beta_min to 1",
    )?;
    check(
        (0.0..=5.0).contains(&sym.zipf),
        "symbols.zipf",
        sym.zipf,
        "an exponent from 0 (uniform) to 5",
    )?;
    check(
        (0.0..=1000.0).contains(&sym.half_spread_bps),
        "symbols.half_spread_bps",
        sym.half_spread_bps,
        "basis points from 0 to 1000",
    )?;
    check(
        grid_divisions(sym.tick_size).is_some(),
        "symbols.tick_size",
        sym.tick_size,
        "1/N for a whole N from 1 to 1000000, such as 0.01, 0.05 or 0.0001",
    )?;
    check(
        (1.05..=10.0).contains(&sym.size_alpha),
        "symbols.size_alpha",
        sym.size_alpha,
        "a Pareto tail exponent from 1.05 to 10",
    )?;
    if let Some(j) = &sym.jumps {
        check(
            (0.0..=100_000.0).contains(&j.per_year),
            "symbols.jumps.per_year",
            j.per_year,
            "from 0 to 100000 jumps a year",
        )?;
        check(
            j.mean.abs() <= 2.0,
            "symbols.jumps.mean",
            j.mean,
            "a mean log jump from -2 to 2",
        )?;
        check(
            (0.0..=2.0).contains(&j.sd),
            "symbols.jumps.sd",
            j.sd,
            "from 0 to 2",
        )?;
    }
    for c in &sym.crashes {
        check(
            c.market_move.abs() <= 2.0 && c.market_move != 0.0,
            "symbols.crashes.move",
            c.market_move,
            "a log move of the market index from -2 to 2, not 0",
        )?;
        check(
            (0.0..=1.0).contains(&c.recover),
            "symbols.crashes.recover",
            c.recover,
            "a share of the move from 0 to 1",
        )?;
        check(
            c.recover == 0.0 || !c.recover_over.is_zero(),
            "symbols.crashes.recover_over",
            humantime::format_duration(c.recover_over),
            "a duration above 0 when recover is set",
        )?;
    }
    for f in &sym.fixed {
        check_symbol(f).map_err(|(field, value, allowed)| Violation {
            field: "symbols.fixed".into(),
            value: format!("{field} = {value} (ticker {:?})", f.ticker),
            allowed: allowed.into(),
        })?;
    }
    let mut seen = std::collections::HashSet::new();
    for t in sym
        .fixed
        .iter()
        .chain(&sym.file_rows)
        .map(|f| f.ticker.as_str())
    {
        check(
            seen.insert(t),
            "symbols.fixed",
            format!("{t:?}"),
            "each ticker once, across symbols.fixed and symbols.file",
        )?;
    }
    Ok(())
}

/// `[max]`: the max-rate search.
fn check_max(s: &Scenario) -> Result<(), Violation> {
    if let Some(m) = &s.max {
        check(
            m.start > 0.0 && m.start <= 10_000_000.0,
            "max.start",
            m.start,
            "a rate greater than 0 and at most 10000000",
        )?;
        check(
            (1.05..=10.0).contains(&m.factor),
            "max.factor",
            m.factor,
            "from 1.05 to 10",
        )?;
        check(
            !m.step.is_zero(),
            "max.step",
            "0s",
            "a duration greater than zero",
        )?;
        check(
            (1..=50).contains(&m.max_steps),
            "max.max_steps",
            m.max_steps,
            "a whole number from 1 to 50",
        )?;
        check(
            m.refine <= 10,
            "max.refine",
            m.refine,
            "a whole number from 0 to 10",
        )?;
        check(
            !m.schedule_lag_p99.is_zero(),
            "max.schedule_lag_p99",
            "0s",
            "a duration greater than zero",
        )?;
        check(
            !m.kafka_e2e_p99.is_zero(),
            "max.kafka_e2e_p99",
            "0s",
            "a duration greater than zero",
        )?;
    }
    Ok(())
}

/// `[sink]`: triggers, parts, encoding, uploads.
fn check_sink(s: &Scenario) -> Result<(), Violation> {
    let sink = &s.sink;
    check(
        sink.max_records >= 1,
        "sink.max_records",
        sink.max_records,
        "a whole number of at least 1",
    )?;
    check(
        (MIN_PART_SIZE..=MAX_PART_SIZE).contains(&sink.part_size.as_u64()),
        "sink.part_size",
        fmt_size(sink.part_size),
        "from 5 MiB to 5 GiB (S3's multipart limits)",
    )?;
    check(
        sink.max_bytes.as_u64() >= 1
            && sink.max_bytes.as_u64() <= sink.part_size.as_u64() * MAX_PARTS,
        "sink.max_bytes",
        fmt_size(sink.max_bytes),
        "from 1 byte to 10000 x sink.part_size (S3 allows 10,000 parts per upload)",
    )?;
    check(
        sink.dead_letter_max_record.as_u64() <= 16 << 20,
        "sink.dead_letter_max_record",
        fmt_size(sink.dead_letter_max_record),
        "from 0 bytes (no payload kept) to 16 MiB",
    )?;
    // A line holds the payload as base64 at worst (4/3 of it) and its place and reason: twice the
    // payload and 4 KiB always fit.
    check(
        (64 << 10..=1 << 30).contains(&sink.dead_letter_max_bytes.as_u64())
            && sink.dead_letter_max_bytes.as_u64()
                >= 2 * sink.dead_letter_max_record.as_u64() + 4096,
        "sink.dead_letter_max_bytes",
        fmt_size(sink.dead_letter_max_bytes),
        "from 64 KiB to 1 GiB, and at least 2 x sink.dead_letter_max_record + 4 KiB (one dead letter must fit)",
    )?;
    let enc = sink.encoding();
    check(
        enc.format.allowed_compressions().contains(&enc.compression),
        "sink.compression",
        format!("{:?}", enc.compression.name()),
        &format!(
            "for {}: {}",
            enc.format.name(),
            enc.format
                .allowed_compressions()
                .iter()
                .map(|c| format!("\"{}\"", c.name()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    )?;
    check(
        (1..=10_000_000).contains(&sink.row_group_records),
        "sink.row_group_records",
        sink.row_group_records,
        "a whole number from 1 to 10000000",
    )?;
    if let Some(t) = sink.multipart_threshold {
        check(
            (sink.part_size.as_u64()..=MAX_PART_SIZE).contains(&t.as_u64()),
            "sink.multipart_threshold",
            fmt_size(t),
            "from sink.part_size to 5 GiB (S3's PutObject limit)",
        )?;
    }
    for (field, d) in [
        ("sink.rotate_every", sink.rotate_every),
        ("sink.idle_timeout", sink.idle_timeout),
    ] {
        if let Some(d) = d {
            check(
                d >= Duration::from_millis(100),
                field,
                humantime::format_duration(d),
                "a duration of at least 100ms, such as \"60s\", or leave it out",
            )?;
        }
    }
    check(
        !sink.max_age.is_zero(),
        "sink.max_age",
        "0s",
        "a duration greater than zero, such as \"5s\"",
    )?;
    check(
        (1..=1024).contains(&sink.upload_concurrency),
        "sink.upload_concurrency",
        sink.upload_concurrency,
        "a whole number from 1 to 1024",
    )?;
    check_iceberg(sink)
}

/// `[s3]`.
fn check_s3(s: &Scenario) -> Result<(), Violation> {
    let s3 = &s.s3;
    check(
        (1..=20).contains(&s3.max_attempts),
        "s3.max_attempts",
        s3.max_attempts,
        "a whole number from 1 to 20",
    )?;
    if let Some(e) = &s3.endpoint {
        check(
            e.starts_with("http://") || e.starts_with("https://"),
            "s3.endpoint",
            format!("{e:?}"),
            "an http:// or https:// URL, or leave it out",
        )?;
    }
    if let Some(b) = &s3.bucket {
        check(
            is_bucket_name(b),
            "s3.bucket",
            format!("{b:?}"),
            "an S3 bucket name: 3 to 63 characters from a-z 0-9 . -, starting and ending with a letter or digit",
        )?;
    }
    check(
        is_safe_prefix(&s3.prefix),
        "s3.prefix",
        format!("{:?}", s3.prefix),
        "key segments of A-Z a-z 0-9 . _ - = separated by '/', with no empty, '.' or '..' segment",
    )?;
    Ok(())
}

/// Checks one hand-set or file symbol; on failure: (field, value, allowed).
pub(crate) fn check_symbol(f: &FixedSymbol) -> Result<(), (&'static str, String, &'static str)> {
    let bad = |field, v: f64, allowed| Err((field, v.to_string(), allowed));
    if !is_ticker(&f.ticker) {
        return Err((
            "ticker",
            format!("{:?}", f.ticker),
            "1 to 12 characters from A-Z 0-9 . -",
        ));
    }
    if !(f.start_price > 0.0 && f.start_price.is_finite()) {
        return bad("start_price", f.start_price, "a price greater than 0");
    }
    if !(f.drift.is_finite() && f.drift.abs() <= 10.0) {
        return bad("drift", f.drift, "an annual drift between -10 and 10");
    }
    if !(0.0..=10.0).contains(&f.volatility) {
        return bad(
            "volatility",
            f.volatility,
            "an annual volatility from 0 to 10",
        );
    }
    if !(-1.0..=1.0).contains(&f.beta) {
        return bad("beta", f.beta, "a beta from -1 to 1");
    }
    Ok(())
}

/// Tickers go into JSON and keys unescaped: only these characters.
pub fn is_ticker(t: &str) -> bool {
    (1..=12).contains(&t.len())
        && t.chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '.' || c == '-')
}

fn check_rate(r: &Rate, max_mode: bool) -> Result<(), Violation> {
    check(
        r.ticks_per_second.is_some() == r.segments.is_empty()
            || (max_mode && r.ticks_per_second.is_none() && r.segments.is_empty()),
        "rate",
        if r.segments.is_empty() {
            "neither"
        } else {
            "both"
        },
        "either rate.ticks_per_second (constant) or [[rate.segments]], not both",
    )?;
    if let Some(t) = r.ticks_per_second {
        check(
            t > 0.0 && t <= 10_000_000.0,
            "rate.ticks_per_second",
            t,
            "a rate greater than 0 and at most 10000000",
        )?;
    }
    for (i, seg) in r.segments.iter().enumerate() {
        let len = segment::segment_duration(seg);
        check(
            !len.is_zero(),
            "rate.segments",
            format!("segment {} duration 0s", i + 1),
            "a duration greater than zero",
        )?;
        if let Segment::Steps { steps, .. } = seg {
            check(
                *steps >= 1,
                "rate.segments",
                format!("segment {} steps = 0", i + 1),
                "at least 1 step",
            )?;
        }
        if let Segment::Sine { period, .. } = seg {
            check(
                !period.is_zero(),
                "rate.segments",
                format!("segment {} period 0s", i + 1),
                "a period greater than zero",
            )?;
        }
        let (lo, hi) = segment::segment_rate_range(seg);
        check(
            lo > 0.0 && hi <= 10_000_000.0 && lo.is_finite() && hi.is_finite(),
            "rate.segments",
            format!(
                "segment {} ({}) goes from {lo:.1} to {hi:.1} ticks/s",
                i + 1,
                segment::segment_kind(seg)
            ),
            "rates greater than 0 and at most 10000000 throughout (check from/to, base/peak, mean - amplitude, the intraday parabola)",
        )?;
    }
    check(
        (1..=64).contains(&r.producer_threads),
        "rate.producer_threads",
        r.producer_threads,
        "a whole number from 1 to 64",
    )?;
    if let Some(b) = r.record_size {
        // The sink sets aside records over 64 KiB as not ticks (dead_letter::MAX_RECORD_BYTES).
        check(
            (1..=64 * 1024).contains(&b.as_u64()),
            "rate.record_size",
            fmt_size(b),
            "a size from 1 byte to 64 KiB (ticks shorter than it are padded to it; \"1 KiB\" is OpenMessaging Benchmark's standard)",
        )?;
    }
    Ok(())
}

fn fmt_size(b: ByteSize) -> String {
    format!("{} ({} bytes)", b.display().iec(), b.as_u64())
}

/// Names used in file and key paths: no separators, no control characters, no traversal.
pub fn is_safe_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 249
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn is_safe_prefix(s: &str) -> bool {
    s.is_empty()
        || s.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '='))
        })
}

fn is_bucket_name(s: &str) -> bool {
    (3..=63).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// The 1-based line where a dotted field path is set, if it is set in the file.
pub(super) fn line_of(text: &str, dotted: &str) -> Option<usize> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let mut item = doc.as_item();
    for part in dotted_parts(dotted) {
        item = item.get(&part)?;
    }
    let span = item
        .span()
        .or_else(|| item.as_value().and_then(|v| v.span()))?;
    Some(text[..span.start].matches('\n').count() + 1)
}

/// The keys of a dotted path; a quoted part (`kafka.consumer."enable.auto.commit"`) is one key.
fn dotted_parts(dotted: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in dotted.chars() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    parts.push(cur);
    parts
}
