//! The README and `docs/` as a user reads them: every `tickbench` command shown parses with the
//! real command line, every scenario named passes validation, every TOML block parses (and
//! validates when it is a whole scenario), every relative link leads to a file, and every page of
//! `docs/` is linked from the README. `scripts/check-docs.sh` runs this module.

use std::path::{Path, PathBuf};

use clap::Parser;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every page of docs/, with their text.
fn pages() -> Vec<(PathBuf, String)> {
    let mut files = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            (f, text)
        })
        .collect()
}

/// A page's path from the repository's root, for messages.
fn relative(file: &Path) -> String {
    file.strip_prefix(root()).unwrap().display().to_string()
}

/// The fenced code blocks of a page: (language, first line number, text).
fn code_blocks(text: &str) -> Vec<(String, usize, String)> {
    let mut out = Vec::new();
    let mut open: Option<(String, usize, String)> = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(lang) = trimmed.strip_prefix("```") {
            match open.take() {
                Some(block) => out.push(block),
                None => open = Some((lang.trim().to_string(), n + 2, String::new())),
            }
        } else if let Some((_, _, body)) = open.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    out
}

/// Words of a shell command, with '…' and "…" quoting; `$VAR` and `$(…)` are kept as words.
fn shell_words(cmd: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in cmd.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// The `tickbench …` commands of a shell block: `$ ` prompts dropped, `\` continuations joined,
/// comments cut, and each command of a `&&`, `;` or `|` chain on its own.
fn commands_in(block: &str) -> Vec<String> {
    let mut joined = String::new();
    let mut lines = Vec::new();
    for line in block.lines() {
        let line = line.trim();
        if let Some(head) = line.strip_suffix('\\') {
            joined.push_str(head);
            joined.push(' ');
            continue;
        }
        joined.push_str(line);
        lines.push(std::mem::take(&mut joined));
    }
    let mut out = Vec::new();
    for line in lines {
        let line = line.strip_prefix("$ ").unwrap_or(&line);
        let line = match line.find(" #") {
            Some(i) => &line[..i],
            None => line,
        };
        for part in line
            .split("&&")
            .flat_map(|p| p.split(';'))
            .flat_map(|p| p.split(" | "))
        {
            let part = part.trim();
            let part = part.split(" >").next().unwrap_or(part).trim();
            if part.starts_with("tickbench ") || part == "tickbench" {
                out.push(part.to_string());
            }
        }
    }
    out
}

/// Shell variables a doc's commands use stand for values of the right kind.
fn with_values(word: &str) -> String {
    let stands_for = [
        ("$(date -u -d '+2 min' +%FT%TZ)", "2026-12-01T12:00:00Z"),
        ("$T", "2026-12-01T12:00:00Z"),
        ("${T}", "2026-12-01T12:00:00Z"),
    ];
    // Placeholders of running text: worker I of N, the agreed start T.
    match word {
        "I/N" | "I/2" | "I/3" => return "1/2".into(),
        "T" => return "2026-12-01T12:00:00Z".into(),
        _ => {}
    }
    let mut w = word.to_string();
    for (var, value) in stands_for {
        w = w.replace(var, value);
    }
    w
}

/// Parses `cmd` with the real command line. `name_only` (a code span in running text, such as
/// "`tickbench sink`") may leave required arguments out: it names a command.
fn parse_command(cmd: &str, name_only: bool) -> Result<(), String> {
    use clap::error::ErrorKind;
    let mut words: Vec<String> = shell_words(cmd).iter().map(|w| with_values(w)).collect();
    match tickbench::cli::Cli::try_parse_from(&words) {
        Ok(_) => Ok(()),
        // `tickbench --help` and friends are commands too.
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => Ok(()),
        Err(e) if name_only && e.kind() == ErrorKind::MissingRequiredArgument => {
            words.push("--help".into());
            match tickbench::cli::Cli::try_parse_from(&words) {
                Err(e) if e.kind() == ErrorKind::DisplayHelp => Ok(()),
                _ => Err(e.to_string()),
            }
        }
        Err(e) => Err(e.to_string()),
    }
}

#[test]
fn every_tickbench_command_in_the_docs_parses() {
    let mut problems = Vec::new();
    let mut seen = 0;
    for (file, text) in pages() {
        let name = relative(&file);
        for (lang, line, body) in code_blocks(&text) {
            if !matches!(lang.as_str(), "sh" | "bash" | "console" | "shell" | "") {
                continue;
            }
            for cmd in commands_in(&body) {
                seen += 1;
                if let Err(e) = parse_command(&cmd, false) {
                    problems.push(format!("{name}:{line}: `{cmd}`: {e}"));
                }
            }
        }
        // Commands in running text, as `tickbench …` code spans.
        for (n, l) in text.lines().enumerate() {
            for span in l.split('`').skip(1).step_by(2) {
                if span.starts_with("tickbench ") && !span.contains('…') {
                    seen += 1;
                    if let Err(e) = parse_command(span, true) {
                        problems.push(format!("{name}:{}: `{span}`: {e}", n + 1));
                    }
                }
            }
        }
    }
    assert!(
        seen > 40,
        "only {seen} commands found: is the parser right?"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn every_scenario_named_in_the_docs_exists_and_validates() {
    let mut named = std::collections::BTreeSet::new();
    for (_, text) in pages() {
        for (i, _) in text.match_indices("scenarios/") {
            // An error message quoted in the text names a file that is not there on purpose.
            let line_start = text[..i].rfind('\n').map_or(0, |n| n + 1);
            if text[line_start..i].contains("error: ") {
                continue;
            }
            let rest = &text[i..];
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || "/-_.".contains(c)))
                .unwrap_or(rest.len());
            let path = rest[..end].trim_end_matches('.');
            if path.ends_with(".toml") {
                named.insert(path.to_string());
            }
        }
    }
    assert!(named.len() >= 8, "{named:?}");
    for path in &named {
        // A scenario for the user's own cluster takes its addresses and secrets from the
        // environment: give each variable it names a value.
        let text = std::fs::read_to_string(root().join(path)).unwrap();
        set_env_placeholders(&text);
        if let Err(e) = tickbench::config::load(&root().join(path)) {
            panic!("{path}: {e}");
        }
    }
    // And every shipped scenario is named somewhere.
    for e in std::fs::read_dir(root().join("scenarios")).unwrap() {
        let p = format!("scenarios/{}", e.unwrap().file_name().to_string_lossy());
        assert!(named.contains(&p), "{p} is in no page");
    }
}

/// Gives every `${env:NAME}` of `text` a value (secrets and addresses come from the environment).
fn set_env_placeholders(text: &str) {
    for (i, _) in text.match_indices("${env:") {
        let var = &text[i + 6..];
        let var = &var[..var.find('}').unwrap()];
        // An endpoint must look like one (scenarios/soak.toml's S3 endpoint).
        let value = if var.ends_with("ENDPOINT") {
            "http://127.0.0.1:9000"
        } else {
            "docs-placeholder"
        };
        std::env::set_var(var, value);
    }
}

/// The smallest whole scenario: a snippet's sections replace its own.
const BASE: &str = "name = \"docs\"\nseed = 1\nduration = \"1s\"\n[symbols]\ncount = 10\n[rate]\nticks_per_second = 100\n";

#[test]
fn every_toml_block_validates_as_part_of_a_scenario() {
    let mut problems = Vec::new();
    let mut blocks = 0;
    for (file, text) in pages() {
        let name = relative(&file);
        for (lang, line, body) in code_blocks(&text) {
            if lang != "toml" {
                continue;
            }
            blocks += 1;
            let snippet: toml::Table = match toml::from_str(&body) {
                Ok(v) => v,
                Err(e) => {
                    problems.push(format!("{name}:{line}: {e}"));
                    continue;
                }
            };
            // A snippet shows a section or two: it goes into the base scenario, its sections in
            // place of the base's, and the whole must validate.
            let mut whole: toml::Table = toml::from_str(BASE).unwrap();
            for (k, v) in snippet {
                whole.insert(k, v);
            }
            let text = toml::to_string(&whole).unwrap();
            set_env_placeholders(&text);
            if let Err(e) = tickbench::config::parse(Path::new(&name), &text) {
                problems.push(format!("{name}:{line}: {e}\n{text}"));
            }
        }
    }
    assert!(blocks >= 8, "only {blocks} TOML blocks found");
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[test]
fn every_relative_link_leads_to_a_file_and_every_page_is_linked_from_the_readme() {
    let mut problems = Vec::new();
    let mut readme_links = Vec::new();
    for (file, text) in pages() {
        let dir = file.parent().unwrap().to_path_buf();
        for (i, _) in text.match_indices("](") {
            let rest = &text[i + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = &rest[..end];
            if target.starts_with("http") || target.starts_with('#') || target.contains(' ') {
                continue;
            }
            let path = target.split('#').next().unwrap();
            let resolved = dir.join(path);
            if !resolved.exists() {
                problems.push(format!("{}: {target}: no such file", file.display()));
            }
            if file.ends_with("README.md") {
                readme_links.push(path.to_string());
            }
        }
    }
    for e in std::fs::read_dir(root().join("docs")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") && !readme_links.contains(&format!("docs/{name}")) {
            problems.push(format!("docs/{name} is not linked from the README"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_readme_fits_on_a_few_screens() {
    let lines = std::fs::read_to_string(root().join("README.md"))
        .unwrap()
        .lines()
        .count();
    assert!(
        lines < 250,
        "README.md has {lines} lines: move detail into docs/"
    );
}
