//! Not a test: the last thing a plain `cargo test` prints, naming the tests it skipped because
//! they need programs from outside cargo (the separate services, Chromium, HdrHistogram_py), and
//! why. libtest prints each as "ignored, <reason>" somewhere in the middle of its output; this
//! puts them where a reader looks. It runs after the `it` binary because cargo runs test targets in
//! name order. With `--include-ignored` (as `.ci/run` passes) nothing was skipped.

use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        // `--list` (cargo nextest, IDEs): this binary has no tests of its own.
        return;
    }
    if args
        .iter()
        .any(|a| a == "--include-ignored" || a == "--ignored")
    {
        println!("skipped: none (--include-ignored)");
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it");
    let skipped = ignored_tests(&dir);
    if skipped.is_empty() {
        println!("skipped: none");
        return;
    }
    println!(
        "\nskipped {} tests that need programs outside cargo; `bash .ci/run` installs and starts them, or see docs/testing.md:",
        skipped.len()
    );
    for (name, why) in &skipped {
        println!("  {name}: {why}");
    }
}

/// `module::test` and the reason of each `#[ignore = "..."]` under `dir`, in file order.
fn ignored_tests(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let module = file.file_stem().unwrap().to_string_lossy().into_owned();
        let mut reason: Option<String> = None;
        for line in text.lines().map(str::trim) {
            if let Some(r) = line
                .strip_prefix("#[ignore = \"")
                .and_then(|r| r.strip_suffix("\"]"))
            {
                reason = Some(r.to_string());
            } else if let (Some(why), Some(sig)) = (
                reason.as_ref(),
                line.strip_prefix("async fn ")
                    .or_else(|| line.strip_prefix("fn ")),
            ) {
                let name = sig.split('(').next().unwrap_or(sig);
                out.push((format!("{module}::{name}"), why.clone()));
                reason = None;
            }
        }
    }
    out
}
