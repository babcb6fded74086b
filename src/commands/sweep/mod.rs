//! Sweeps: a scenario's `[sweep]` matrix and `[[variant]]`s expanded into runs, run one after the
//! other, each in a run folder of its own, then compared side by side (see [`compare`]).

pub mod compare;

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::commands::run::{self, RunOptions};
use crate::config::{self, Scenario, ScenarioError};

/// Most runs one sweep may expand to: a typo in a list should not start a day of runs.
pub const MAX_CELLS: usize = 64;

/// One run of a sweep.
#[derive(Debug, Clone)]
pub struct Cell {
    /// What the comparison calls it: the variant's name and the swept values.
    pub label: String,
    /// The settings this cell changed, as written.
    pub settings: Vec<(String, String)>,
    pub scenario: Scenario,
}

/// Setting paths and the values a cell gives them.
type Settings = Vec<(String, toml::Value)>;

/// Expands a scenario's sweep into its cells, each validated as a scenario of its own. A
/// scenario without a sweep is one cell.
pub fn cells(s: &Scenario, path: &Path) -> Result<Vec<Cell>, ScenarioError> {
    let err = |message: String| ScenarioError::Parse {
        file: path.to_owned(),
        message,
    };
    let mut base = s.clone();
    base.sweep.clear();
    base.variant.clear();
    if s.sweep.is_empty() && s.variant.is_empty() {
        return Ok(vec![Cell {
            label: s.name.clone(),
            settings: Vec::new(),
            scenario: base,
        }]);
    }
    let base_value = toml::Value::try_from(&base).map_err(|e| err(e.to_string()))?;
    let variants: Vec<(Option<String>, Settings)> = if s.variant.is_empty() {
        vec![(None, Vec::new())]
    } else {
        s.variant
            .iter()
            .map(|v| {
                let set = v.set.iter().map(|(k, x)| (k.clone(), x.clone())).collect();
                (Some(v.name.clone()), set)
            })
            .collect()
    };
    let mut combos: Vec<Settings> = vec![Vec::new()];
    for (key, values) in &s.sweep {
        if values.is_empty() {
            return Err(err(format!(
                "sweep.\"{key}\": an empty list; give one or more values to try"
            )));
        }
        combos = combos
            .into_iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push((key.clone(), v.clone()));
                    c
                })
            })
            .collect();
    }
    let total = variants.len() * combos.len();
    if total > MAX_CELLS {
        return Err(err(format!(
            "the sweep expands to {total} runs; at most {MAX_CELLS} (split it into several scenarios)"
        )));
    }
    let mut out = Vec::with_capacity(total);
    for (vname, vset) in &variants {
        for combo in &combos {
            let mut value = base_value.clone();
            let mut settings = Vec::new();
            for (key, x) in vset.iter().chain(combo) {
                set_path(&mut value, key, x.clone())
                    .map_err(|m| err(format!("sweep setting \"{key}\": {m}")))?;
                settings.push((key.clone(), show(x)));
            }
            let mut label: Vec<String> = vname.iter().cloned().collect();
            label.extend(
                combo
                    .iter()
                    .map(|(k, x)| format!("{}={}", short(k), show(x))),
            );
            let label = label.join(" ");
            let i = out.len();
            if let Some(t) = value.as_table_mut() {
                t.insert("name".into(), format!("{}-{:02}", s.name, i + 1).into());
            }
            let text = toml::to_string(&value).map_err(|e| err(e.to_string()))?;
            let cell_path =
                PathBuf::from(format!("{} [sweep run {}: {label}]", path.display(), i + 1));
            let scenario = config::parse(&cell_path, &text)?;
            if scenario.max.is_some() {
                return Err(err("a sweep cannot be combined with [max] (search each setting's ceiling in a scenario of its own)".into()));
            }
            out.push(Cell {
                label,
                settings,
                scenario,
            });
        }
    }
    Ok(out)
}

/// A setting's last name, for labels: `sink.max_bytes` → `max_bytes`,
/// `kafka.producer."linger.ms"` → `linger.ms`.
fn short(key: &str) -> String {
    toml_edit::Key::parse(key)
        .ok()
        .and_then(|k| k.last().map(|k| k.get().to_string()))
        .unwrap_or_else(|| key.to_string())
}

fn show(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Sets `dotted` (TOML key syntax: `kafka.producer."linger.ms"`) in a scenario value, creating
/// the tables on the way.
fn set_path(root: &mut toml::Value, dotted: &str, v: toml::Value) -> Result<(), String> {
    let keys = toml_edit::Key::parse(dotted).map_err(|e| format!("not a TOML key path: {e}"))?;
    let (last, parents) = keys.split_last().ok_or("an empty key")?;
    let mut t = root.as_table_mut().ok_or("the scenario is not a table")?;
    for k in parents {
        let entry = t
            .entry(k.get().to_string())
            .or_insert_with(|| toml::Value::Table(Default::default()));
        t = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{}` is a value, not a table", k.get()))?;
    }
    t.insert(last.get().to_string(), v);
    Ok(())
}

/// What a sweep leaves behind.
pub struct SweepOutcome {
    pub dir: PathBuf,
    pub rows: Vec<compare::Row>,
    pub interrupted: bool,
}

/// Runs every cell, each in a folder of its own under one sweep folder, and writes the comparison
/// there (`comparison.md`, `.csv`, `.json`).
pub async fn run(
    s: &Scenario,
    cells: &[Cell],
    file: Option<&Path>,
    opts: &RunOptions,
) -> anyhow::Result<SweepOutcome> {
    let dir = crate::results::RunDir::create(
        &opts.results_root,
        &format!("sweep-{}", s.name),
        chrono::Utc::now(),
    )?
    .path()
    .to_path_buf();
    let cell_opts = RunOptions {
        results_root: dir.clone(),
        ..opts.clone()
    };
    let mut rows = Vec::new();
    let mut interrupted = false;
    for (i, cell) in cells.iter().enumerate() {
        opts.reporter.note(&format!(
            "sweep run {}/{}: {}",
            i + 1,
            cells.len(),
            cell.label
        ));
        match run::run(&cell.scenario, file, &cell_opts).await {
            Ok(out) => {
                interrupted = out.summary.interrupted;
                opts.reporter
                    .note(&format!("\n{}", out.summary.to_text().trim_end()));
                rows.push(compare::Row::of(cell, Some(&out.dir), Ok(&out.summary)));
            }
            Err(e) => rows.push(compare::Row::of(cell, None, Err(&format!("{e:#}")))),
        }
        compare::write(&dir, &rows).context("writing the comparison")?;
        if interrupted {
            break;
        }
    }
    // The runs' figures and plots side by side, as `tickbench compare` writes them.
    let ran: Vec<&String> = rows.iter().filter_map(|r| r.dir.as_ref()).collect();
    if !ran.is_empty() {
        crate::report::compare::Comparison::load(&ran)
            .and_then(|c| c.write(&dir))
            .context("writing compare.md and compare.html")?;
    }
    Ok(SweepOutcome {
        dir,
        rows,
        interrupted,
    })
}

#[cfg(test)]
mod tests;
