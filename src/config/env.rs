//! `${env:NAME}` in scenario files: secrets (SASL passwords) come from the environment, never
//! from the file, and the document keeps its lines so errors still point at the right one.

use std::path::Path;

use super::ScenarioError;

/// Replaces `${env:NAME}` in string values with the environment variable's value, so secrets
/// (SASL passwords) need not sit in scenario files. Only string values are touched, and the
/// document keeps its lines, so errors still point at the right line.
pub(super) fn expand_env(path: &Path, text: &str) -> Result<String, ScenarioError> {
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
