//! Scenario files: parsing, validation with errors that name file, line, field and allowed values,
//! and the resolved (defaults filled in, secrets redacted) form written to the results folder.

mod schema;

pub use schema::*;

use std::path::{Path, PathBuf};

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
        field: &'static str,
        value: String,
        allowed: String,
    },
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
    let scenario: Scenario = toml::from_str(text).map_err(|e| ScenarioError::Parse {
        file: path.to_owned(),
        message: e.to_string().trim_end().to_string(),
    })?;
    validate(&scenario).map_err(|v| ScenarioError::Invalid {
        file: path.to_owned(),
        line: line_of(text, v.field),
        field: v.field,
        value: v.value,
        allowed: v.allowed,
    })?;
    Ok(scenario)
}

struct Violation {
    field: &'static str,
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
            field,
            value: value.to_string(),
            allowed: allowed.to_string(),
        })
    }
}

fn validate(s: &Scenario) -> Result<(), Violation> {
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
    check(
        (1..=100_000).contains(&sym.count),
        "symbols.count",
        sym.count,
        "a whole number from 1 to 100000",
    )?;
    check(
        sym.price_min > 0.0 && sym.price_min.is_finite(),
        "symbols.price_min",
        sym.price_min,
        "a price greater than 0",
    )?;
    check(
        sym.price_max >= sym.price_min && sym.price_max.is_finite(),
        "symbols.price_max",
        sym.price_max,
        "a price at least symbols.price_min",
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
        (0.0..=1000.0).contains(&sym.half_spread_bps),
        "symbols.half_spread_bps",
        sym.half_spread_bps,
        "basis points from 0 to 1000",
    )?;
    check(
        s.rate.ticks_per_second > 0.0 && s.rate.ticks_per_second <= 10_000_000.0,
        "rate.ticks_per_second",
        s.rate.ticks_per_second,
        "a rate greater than 0 and at most 10000000",
    )?;
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
