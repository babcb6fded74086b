//! Scenario files: parsing, validation with errors that name file, line, field and allowed values,
//! and the resolved (defaults filled in, secrets redacted) form written to the results folder.

mod encoding;
mod schema;
pub mod segment;
pub mod thresholds;

pub use schema::*;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytesize::ByteSize;

/// S3's multipart limits.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
pub const MAX_PARTS: u64 = 10_000;

/// A scenario file that cannot be used, with enough detail to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    /// Syntax errors, unknown fields, wrong types: toml's message already names the line, the
    /// field and (for unknown fields) the allowed names.
    #[error("{file}: {message}")]
    Parse { file: PathBuf, message: String },
    #[error("{file}{line}: `{field}` = {value}: {allowed}", line = fmt_line(*.line))]
    Invalid {
        file: PathBuf,
        line: Option<usize>,
        field: std::borrow::Cow<'static, str>,
        value: String,
        allowed: String,
    },
}

/// Reads a symbol CSV: header `ticker,start_price,drift,volatility[,beta]`, one symbol a row.
pub fn read_symbol_file(file: &Path) -> Result<Vec<FixedSymbol>, ScenarioError> {
    let bad = |line: Option<usize>, field: &'static str, value: String, allowed: &str| {
        ScenarioError::Invalid {
            file: file.to_owned(),
            line,
            field: field.into(),
            value,
            allowed: allowed.to_string(),
        }
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(file)
        .map_err(|e| match e.into_kind() {
            csv::ErrorKind::Io(source) => ScenarioError::Read {
                file: file.to_owned(),
                source,
            },
            other => bad(None, "header", format!("{other:?}"), "a CSV file"),
        })?;
    let headers = reader
        .headers()
        .map_err(|e| {
            bad(
                Some(1),
                "header",
                e.to_string(),
                "ticker,start_price,drift,volatility[,beta]",
            )
        })?
        .clone();
    let want = ["ticker", "start_price", "drift", "volatility"];
    let cols: Vec<&str> = headers.iter().collect();
    if cols.len() < 4
        || cols[..4] != want
        || (cols.len() == 5 && cols[4] != "beta")
        || cols.len() > 5
    {
        return Err(bad(
            Some(1),
            "header",
            format!("{:?}", cols.join(",")),
            "ticker,start_price,drift,volatility or ticker,start_price,drift,volatility,beta",
        ));
    }
    let mut rows = Vec::new();
    for rec in reader.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map(|p| p.line() as usize);
            bad(line, "row", e.to_string(), "as many fields as the header")
        })?;
        let line = rec.position().map(|p| p.line() as usize);
        let num = |i: usize, field: &'static str| -> Result<f64, ScenarioError> {
            let v = rec.get(i).unwrap_or("");
            v.parse::<f64>()
                .map_err(|_| bad(line, field, format!("{v:?}"), "a number"))
        };
        let sym = FixedSymbol {
            ticker: rec.get(0).unwrap_or("").to_string(),
            start_price: num(1, "start_price")?,
            drift: num(2, "drift")?,
            volatility: num(3, "volatility")?,
            beta: if rec.len() > 4 { num(4, "beta")? } else { 0.0 },
        };
        check_symbol(&sym).map_err(|(field, value, allowed)| bad(line, field, value, allowed))?;
        rows.push(sym);
    }
    Ok(rows)
}

fn fmt_line(line: Option<usize>) -> String {
    line.map(|l| format!(":{l}")).unwrap_or_default()
}

/// Reads, parses and validates a scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        file: path.to_owned(),
        source,
    })?;
    parse(path, &text)
}

/// Parses and validates scenario text; `path` is used in messages only.
pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    let expanded = expand_env(path, text)?;
    let text = expanded.as_str();
    let mut scenario: Scenario = toml::from_str(text).map_err(|e| ScenarioError::Parse {
        file: path.to_owned(),
        message: e.to_string().trim_end().to_string(),
    })?;
    if let Some(file) = scenario.symbols.file.clone() {
        // Relative to the scenario file, and absolute from here on, so the resolved scenario in a
        // results folder still points at it.
        let file = path.parent().unwrap_or(Path::new(".")).join(file);
        let file = std::fs::canonicalize(&file).unwrap_or(file);
        scenario.symbols.file_rows = read_symbol_file(&file)?;
        scenario.symbols.file = Some(file);
    }
    validate(&scenario).map_err(|v| ScenarioError::Invalid {
        file: path.to_owned(),
        line: line_of(text, &v.field),
        field: v.field,
        value: v.value,
        allowed: v.allowed,
    })?;
    Ok(scenario)
}

/// Validates a scenario changed after it was read (command-line overrides); `label` names it in
/// errors, which then carry no line.
pub fn revalidate(s: Scenario, label: &Path) -> Result<Scenario, ScenarioError> {
    validate(&s).map_err(|v| ScenarioError::Invalid {
        file: label.to_owned(),
        line: None,
        field: v.field,
        value: v.value,
        allowed: v.allowed,
    })?;
    Ok(s)
}

/// Replaces `${env:NAME}` in string values with the environment variable's value, so secrets
/// (SASL passwords) need not sit in scenario files. Only string values are touched, and the
/// document keeps its lines, so errors still point at the right line.
fn expand_env(path: &Path, text: &str) -> Result<String, ScenarioError> {
    if !text.contains("${env:") {
        return Ok(text.to_string());
    }
    let mut doc: toml_edit::DocumentMut =
        text.parse()
            .map_err(|e: toml_edit::TomlError| ScenarioError::Parse {
                file: path.to_owned(),
                message: e.to_string().trim_end().to_string(),
            })?;
    let mut err = None;
    env_in_table(doc.as_table_mut(), "", &mut err);
    match err {
        Some(message) => Err(ScenarioError::Parse {
            file: path.to_owned(),
            message,
        }),
        None => Ok(doc.to_string()),
    }
}

fn env_in_table(t: &mut toml_edit::Table, at: &str, err: &mut Option<String>) {
    for (k, item) in t.iter_mut() {
        let field = if at.is_empty() {
            k.get().to_string()
        } else {
            format!("{at}.{}", k.get())
        };
        match item {
            toml_edit::Item::Value(v) => env_in_value(v, &field, err),
            toml_edit::Item::Table(t) => env_in_table(t, &field, err),
            toml_edit::Item::ArrayOfTables(a) => {
                for t in a.iter_mut() {
                    env_in_table(t, &field, err);
                }
            }
            toml_edit::Item::None => {}
        }
    }
}

fn env_in_value(v: &mut toml_edit::Value, field: &str, err: &mut Option<String>) {
    match v {
        toml_edit::Value::String(f) if f.value().contains("${env:") => {
            match substitute_env(f.value(), |name| std::env::var(name).ok()) {
                Ok(new) => {
                    let decor = f.decor().clone();
                    *f = toml_edit::Formatted::new(new);
                    *f.decor_mut() = decor;
                }
                Err(name) => {
                    err.get_or_insert(format!(
                        "`{field}`: environment variable {name} is not set (the value asks for ${{env:{name}}})"
                    ));
                }
            }
        }
        toml_edit::Value::Array(a) => {
            for v in a.iter_mut() {
                env_in_value(v, field, err);
            }
        }
        toml_edit::Value::InlineTable(t) => {
            for (k, v) in t.iter_mut() {
                env_in_value(v, &format!("{field}.{}", k.get()), err);
            }
        }
        _ => {}
    }
}

/// `${env:NAME}` → the variable's value, anywhere in `s`; Err(NAME) for the first one unset.
pub fn substitute_env(s: &str, get: impl Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("${env:") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 6..];
        match after.find('}') {
            Some(j) => {
                let name = &after[..j];
                out.push_str(&get(name).ok_or_else(|| name.to_string())?);
                rest = &after[j + 1..];
            }
            None => {
                out.push_str(&rest[i..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

struct Violation {
    field: std::borrow::Cow<'static, str>,
    value: String,
    allowed: String,
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

fn validate(s: &Scenario) -> Result<(), Violation> {
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
    check_rate(&s.rate, s.max.is_some())?;
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
    let k = &s.kafka;
    check(
        is_safe_name(&k.topic) && k.topic.len() <= 249,
        "kafka.topic",
        format!("{:?}", k.topic),
        "a Kafka topic name: A-Z a-z 0-9 . _ -, not starting with '.'",
    )?;
    check(
        (1..=10_000).contains(&k.partitions),
        "kafka.partitions",
        k.partitions,
        "a whole number from 1 to 10000",
    )?;
    if let Some(b) = &k.brokers {
        check(
            !b.trim().is_empty(),
            "kafka.brokers",
            "\"\"",
            "host:port[,host:port...], or leave it out for the in-process mock cluster",
        )?;
    }
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

/// N when `tick_size` is 1/N for a whole N (prices are then whole ticks divided by N, which
/// prints as short decimals).
pub fn grid_divisions(tick_size: f64) -> Option<u64> {
    if !(tick_size > 0.0 && tick_size <= 1.0) {
        return None;
    }
    let n = (1.0 / tick_size).round();
    ((1.0..=1_000_000.0).contains(&n) && ((1.0 / n) - tick_size).abs() <= tick_size * 1e-9)
        .then_some(n as u64)
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
fn line_of(text: &str, dotted: &str) -> Option<usize> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let mut item = doc.as_item();
    for part in dotted.split('.') {
        item = item.get(part)?;
    }
    let span = item
        .span()
        .or_else(|| item.as_value().and_then(|v| v.span()))?;
    Some(text[..span.start].matches('\n').count() + 1)
}

/// librdkafka property names whose values are secrets.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("password")
        || k.contains("secret")
        || k.ends_with(".key")
        || k.contains("sasl.oauthbearer.config")
}

impl Scenario {
    /// The `[thresholds]`, parsed (a scenario loaded from a file was checked already; one built
    /// in code gets the same message here).
    pub fn parsed_thresholds(&self) -> Result<Vec<thresholds::Threshold>, ScenarioError> {
        self.thresholds
            .iter()
            .map(|(m, c)| {
                thresholds::parse(m, c).map_err(|e| ScenarioError::Invalid {
                    file: PathBuf::from(self.name.as_str()),
                    line: None,
                    field: format!("thresholds.{m}").into(),
                    value: format!("{c:?}"),
                    allowed: format!("{e}; allowed: {}", thresholds::allowed()),
                })
            })
            .collect()
    }

    /// The scenario with every default filled in and every secret replaced, for the results folder.
    pub fn resolved_toml(&self) -> String {
        let mut copy = self.clone();
        for map in [
            &mut copy.kafka.client,
            &mut copy.kafka.producer,
            &mut copy.kafka.consumer,
        ] {
            for (k, v) in map.iter_mut() {
                if is_secret_key(k) {
                    *v = "[redacted]".into();
                }
            }
        }
        toml::to_string_pretty(&copy).unwrap_or_else(|e| format!("# could not render: {e}\n"))
    }

    /// Total load time: warm-up plus measured window.
    pub fn total_duration(&self) -> std::time::Duration {
        self.warmup + self.duration
    }
}

#[cfg(test)]
mod tests;
