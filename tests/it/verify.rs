//! `tickbench verify RUN_DIR` audits a run folder again: it passes on what the run landed, and
//! names what is missing or repeated once the objects are tampered with.

use crate::common;

use std::path::{Path, PathBuf};

use tickbench::config;

async fn verify(dir: &Path) -> (u8, String) {
    let out = crate::common::execute(&["verify", dir.to_str().unwrap()]).await;
    (out.code, format!("{}{}", out.stdout, out.error))
}

fn objects(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            objects(&p, out);
        } else if p.extension().is_some_and(|x| x == "jsonl") {
            out.push(p);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn verify_passes_then_names_what_was_removed_or_copied() {
    let tmp = tempfile::tempdir().unwrap();
    let s = config::parse(
        Path::new("v.toml"),
        "name = \"v\"\nseed = 2\nduration = \"2s\"\n[symbols]\ncount = 50\n[rate]\nticks_per_second = 1000\n[kafka]\npartitions = 2\n[kafka.consumer]\n\"fetch.wait.max.ms\" = \"50\"\n[sink]\nmax_records = 300\n",
    )
    .unwrap();
    let out = common::run_in(tmp.path(), &s).await.expect("run succeeded");
    assert!(out.summary.passed);
    assert!(out.dir.join("expected.json").is_file());

    let (code, text) = verify(&out.dir).await;
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("2000 acknowledged, 2000 landed, 0 lost, 0 duplicated"),
        "{text}"
    );
    assert!(text.contains("verify: PASS"), "{text}");

    // Remove one object and copy another under a new name: lost and duplicated ticks, and the
    // objects involved, are named.
    let mut files = Vec::new();
    objects(&out.dir.join("s3"), &mut files);
    files.sort();
    assert!(files.len() >= 7, "{files:?}");
    let removed = files[0].clone();
    let removed_records = std::fs::read_to_string(&removed).unwrap().lines().count();
    std::fs::remove_file(&removed).unwrap();
    let copied = files[1].clone();
    let name = copied.file_name().unwrap().to_str().unwrap();
    let (stem, ext) = name.split_once('.').unwrap();
    let (head, offset) = stem.rsplit_once('+').unwrap();
    let moved = format!("{head}+{:020}.{ext}", offset.parse::<i64>().unwrap() + 1);
    std::fs::copy(&copied, copied.with_file_name(&moved)).unwrap();
    let copied_records = std::fs::read_to_string(&copied).unwrap().lines().count();

    let (code, text) = verify(&out.dir).await;
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(&format!(
            "{} lost, {} duplicated",
            removed_records, copied_records
        )),
        "{text}"
    );
    assert!(text.contains("verify: FAIL"), "{text}");
    let removed_key = removed.file_name().unwrap().to_str().unwrap();
    assert!(
        text.contains(removed_key) && text.contains("is not in the bucket"),
        "{text}"
    );
    assert!(
        text.contains(&moved) && text.contains("never reported it durable"),
        "{text}"
    );

    // Not a run folder: a clear error, exit 2.
    let (code, text) = verify(tmp.path()).await;
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("expected.json"), "{text}");
}
