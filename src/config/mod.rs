//! Scenario files: parsing, validation with errors that name file, line, field and allowed values,
//! and the resolved (defaults filled in, secrets redacted) form written to the results folder.

mod env;
mod iceberg;
mod observe;
mod schema;
mod targets;
pub mod thresholds;
mod validate;

use env::expand_env;
pub use env::substitute_env;
pub use iceberg::*;
pub use observe::*;
pub use schema::*;
pub use targets::*;
pub(crate) use validate::check_symbol;
pub use validate::{is_safe_name, is_ticker};
use validate::{line_of, validate};

use std::path::{Path, PathBuf};

use crate::model::sim::settings::FixedSymbol;
use std::time::Duration;

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
    /// A field that has no default is not there: named with its section and what it is for.
    #[error("{file}{line}: {section} has no `{field}`, which it needs: {meaning}", line = fmt_line(*.line))]
    Missing {
        file: PathBuf,
        line: Option<usize>,
        /// `the scenario` (its top level) or `[observe]`.
        section: String,
        field: String,
        meaning: String,
    },
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
    // Each ticker's first line, so that a repeat names both (a file of 100,000 rows is searched
    // by line number, not by eye).
    let mut first_line: std::collections::HashMap<String, Option<usize>> =
        std::collections::HashMap::new();
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
        if let Some(first) = first_line.insert(sym.ticker.clone(), line) {
            return Err(bad(
                line,
                "ticker",
                format!("{:?} (also on line {})", sym.ticker, first.unwrap_or(0)),
                "each ticker once",
            ));
        }
        rows.push(sym);
    }
    Ok(rows)
}

fn fmt_line(line: Option<usize>) -> String {
    line.map(|l| format!(":{l}")).unwrap_or_default()
}

/// Values given on the command line in place of the scenario file's. They are applied to the
/// scenario as read, before it is validated, so a rule that depends on one sees it; an error in
/// a value given here names its flag rather than a line of the file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overrides {
    /// `--brokers`: `kafka.brokers`.
    pub brokers: Option<String>,
    /// `--topic`: `kafka.topic`, used itself (`kafka.topic_per_run = false`).
    pub topic: Option<String>,
    /// `--s3-endpoint`: `s3.endpoint`.
    pub s3_endpoint: Option<String>,
    /// `--bucket`: `s3.bucket`.
    pub bucket: Option<String>,
    /// `--create-bucket`: `s3.create_bucket = true`.
    pub create_bucket: bool,
}

impl Overrides {
    fn apply(&self, s: &mut Scenario) {
        if let Some(b) = &self.brokers {
            s.kafka.brokers = Some(b.clone());
        }
        if let Some(t) = &self.topic {
            s.kafka.topic = t.clone();
            s.kafka.topic_per_run = Some(false);
        }
        if let Some(e) = &self.s3_endpoint {
            s.s3.endpoint = Some(e.clone());
        }
        if let Some(b) = &self.bucket {
            s.s3.bucket = Some(b.clone());
        }
        s.s3.create_bucket |= self.create_bucket;
    }

    /// The flag that gave `field` its value, if one did.
    fn flag_for(&self, field: &str) -> Option<&'static str> {
        match field {
            "kafka.brokers" if self.brokers.is_some() => Some("--brokers"),
            "kafka.topic" | "kafka.topic_per_run" if self.topic.is_some() => Some("--topic"),
            "s3.endpoint" if self.s3_endpoint.is_some() => Some("--s3-endpoint"),
            "s3.bucket" if self.bucket.is_some() => Some("--bucket"),
            "s3.create_bucket" if self.create_bucket => Some("--create-bucket"),
            _ => None,
        }
    }

    /// `v` as an error, pointing at the flag that set its field or else at its line in `text`.
    fn invalid(&self, file: &Path, text: Option<&str>, v: validate::Violation) -> ScenarioError {
        let (line, value) = match self.flag_for(&v.field) {
            Some(flag) => (None, format!("{} (given by {flag})", v.value)),
            None => (text.and_then(|t| line_of(t, &v.field)), v.value),
        };
        ScenarioError::Invalid {
            file: file.to_owned(),
            line,
            field: v.field,
            value,
            allowed: v.allowed,
        }
    }
}

/// Reads, parses and validates a scenario file.
pub fn load(path: &Path) -> Result<Scenario, ScenarioError> {
    load_with(path, &Overrides::default())
}

/// Reads a scenario file, applies `overrides`, then validates the result.
pub fn load_with(path: &Path, overrides: &Overrides) -> Result<Scenario, ScenarioError> {
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        file: path.to_owned(),
        source,
    })?;
    parse_with(path, &text, overrides)
}

/// Parses and validates scenario text; `path` is used in messages only.
pub fn parse(path: &Path, text: &str) -> Result<Scenario, ScenarioError> {
    parse_with(path, text, &Overrides::default())
}

/// Parses scenario text, applies `overrides`, then validates the result.
pub fn parse_with(
    path: &Path,
    text: &str,
    overrides: &Overrides,
) -> Result<Scenario, ScenarioError> {
    let expanded = expand_env(path, text)?;
    let text = expanded.as_str();
    let mut scenario: Scenario = toml::from_str(text).map_err(|e| {
        missing(path, text, &e).unwrap_or_else(|| ScenarioError::Parse {
            file: path.to_owned(),
            message: e.to_string().trim_end().to_string(),
        })
    })?;
    if let Some(file) = scenario.symbols.file.clone() {
        // Relative to the scenario file, and absolute from here on, so the resolved scenario in a
        // results folder still points at it.
        let file = path.parent().unwrap_or(Path::new(".")).join(file);
        let file = std::fs::canonicalize(&file).unwrap_or(file);
        scenario.symbols.file_rows = read_symbol_file(&file)?;
        scenario.symbols.file = Some(file);
    }
    overrides.apply(&mut scenario);
    validate(&scenario).map_err(|v| overrides.invalid(path, Some(text), v))?;
    Ok(scenario)
}

/// toml's "missing field `seed`" (which points at the section's first line, or the file's) as
/// the section that lacks the field and what the field is for.
fn missing(path: &Path, text: &str, e: &toml::de::Error) -> Option<ScenarioError> {
    let field = e
        .message()
        .strip_prefix("missing field `")?
        .split('`')
        .next()?
        .to_string();
    let at = e.span().map_or(0, |s| s.start);
    // The section is the last table header at or before where toml points.
    let header = text[..at.min(text.len())]
        .lines()
        .chain(text[at.min(text.len())..].lines().take(1))
        .filter_map(|l| {
            let l = l.trim();
            let name = l.strip_prefix("[[").and_then(|l| l.split("]]").next());
            name.or_else(|| l.strip_prefix('[').and_then(|l| l.split(']').next()))
                .map(|n| (n.trim().to_string(), l.starts_with("[[")))
        })
        .last();
    let (section, line) = match &header {
        Some((name, many)) => (
            if *many {
                format!("a [[{name}]]")
            } else {
                format!("[{name}]")
            },
            Some(text[..at.min(text.len())].matches('\n').count() + 1),
        ),
        None => ("the scenario".to_string(), None),
    };
    let key = match &header {
        Some((name, _)) => format!("{name}.{field}"),
        None => field.clone(),
    };
    let meaning = match key.as_str() {
        "name" => "a short name for the run, part of its results folder's name (for example name = \"smoke\")",
        "seed" => "the seed of every random draw, so that the same scenario produces the same ticks (for example seed = 1)",
        "duration" => "how long the measured load runs, after the warm-up (for example duration = \"30s\")",
        "symbols" => "a [symbols] section: the market's symbols (for example count = 100)",
        "rate" => "a [rate] section: the load's shape (for example ticks_per_second = 1000)",
        "observe.prefix" => "the key prefix, in s3.bucket, under which the external sink writes (for example prefix = \"topics/ticks\")",
        "max.start" => "the first rate the search tries, ticks per second (for example start = 10000)",
        "variant.name" => "the variant's name, shown in the comparison",
        _ => "it has no default",
    };
    Some(ScenarioError::Missing {
        file: path.to_owned(),
        line,
        section,
        field,
        meaning: meaning.to_string(),
    })
}

/// Applies `overrides` to a scenario read already (a run folder's), and validates the result.
pub fn override_and_validate(
    mut s: Scenario,
    label: &Path,
    overrides: &Overrides,
) -> Result<Scenario, ScenarioError> {
    overrides.apply(&mut s);
    validate(&s).map_err(|v| overrides.invalid(label, None, v))?;
    Ok(s)
}

/// Validates a scenario changed after it was read (command-line overrides); `label` names it in
/// errors, which then carry no line.
pub fn revalidate(s: Scenario, label: &Path) -> Result<Scenario, ScenarioError> {
    override_and_validate(s, label, &Overrides::default())
}

/// librdkafka property names whose values are secrets.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("password")
        || k.contains("secret")
        || k.ends_with(".key")
        // ssl.key.pem (an inline private key), ssl.key.location, ssl_key.
        || k.starts_with("ssl.key")
        || k.starts_with("ssl_key")
        // sasl.oauthbearer.config, .client.secret, .extensions...: token material, all of it.
        || k.starts_with("sasl.oauthbearer.")
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

    /// The scenario as `tickbench run` runs it under `run_id`: on its own topic when
    /// `kafka.topic_per_run` (see [`Kafka::run_topic`]).
    pub fn for_run(&self, run_id: &str) -> Scenario {
        let mut s = self.clone();
        s.kafka.topic = self.kafka.run_topic(run_id);
        s.kafka.topic_per_run = Some(false);
        s
    }

    /// Total load time: warm-up plus measured window.
    pub fn total_duration(&self) -> std::time::Duration {
        self.warmup + self.duration
    }
}

#[cfg(test)]
mod tests;
