//! Helpers shared by the integration tests: read back what landed, over the S3 API.

use std::collections::BTreeMap;

use std::path::Path;
use std::time::Duration;

use aws_sdk_s3::Client;
use tickbench::commands::run::{run, RunOptions, RunOutcome};
use tickbench::config::{self, Scenario};
use tickbench::model::format::decode_object;
use tickbench::model::layout::parse_object_name;
use tickbench::model::tick::Tick;

/// Guards against hangs only; it says nothing about speed.
pub const HANG_GUARD: Duration = Duration::from_secs(300);

/// Runs a scenario in-process with its results under `dir`, failing the test on a hang.
pub async fn run_in(dir: &Path, s: &Scenario) -> anyhow::Result<RunOutcome> {
    let opts = RunOptions {
        results_root: dir.to_path_buf(),
        ..Default::default()
    };
    tokio::time::timeout(HANG_GUARD, run(s, None, &opts))
        .await
        .expect("the run finished (or failed) instead of hanging")
}

/// Produces the scenario's load in-process (no sink) with its results under `dir`; the test
/// fails if it cannot.
pub async fn produce_in(dir: &Path, s: &Scenario) -> tickbench::results::ProduceSummary {
    let opts = RunOptions {
        results_root: dir.to_path_buf(),
        ..Default::default()
    };
    tickbench::commands::produce::produce(s, &opts, &Default::default())
        .await
        .expect("the load was produced")
        .1
}

/// The separate test services (`scripts/services.sh start` writes their addresses to
/// `.services/env`): Kafka bootstrap servers and S3 endpoint. The tests that call this are
/// `#[ignore]`d; run with `--include-ignored`, a missing service fails them.
pub fn services() -> (String, String) {
    match (
        std::env::var("TICKBENCH_KAFKA_BROKERS"),
        std::env::var("TICKBENCH_S3_ENDPOINT"),
    ) {
        (Ok(k), Ok(s)) => (k, s),
        _ => panic!(
            "TICKBENCH_KAFKA_BROKERS and TICKBENCH_S3_ENDPOINT are not set: scripts/services.sh start; source .services/env"
        ),
    }
}

/// The second separate S3 server, moto's (`scripts/services.sh start` starts it too). It takes
/// any keys, so the AWS chain's (the s3s-fs pair) serve for both.
pub fn moto() -> String {
    std::env::var("TICKBENCH_MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "TICKBENCH_MOTO_ENDPOINT is not set: scripts/services.sh start; source .services/env"
        )
    })
}

/// The Python that has the test tools (HdrHistogram_py): `scripts/install-deps.sh --tests` makes
/// a venv at `.tools/venv` (or TICKBENCH_TOOLS_DIR); TICKBENCH_PYTHON overrides.
pub fn python() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("TICKBENCH_PYTHON") {
        return p.into();
    }
    let tools = std::env::var_os("TICKBENCH_TOOLS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools"));
    let venv = tools.join("venv/bin/python");
    if venv.is_file() {
        venv
    } else {
        "python3".into()
    }
}

/// A name no other test (or earlier CI run against the same servers) uses.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        nanos % 1_000_000_000_000
    )
}

/// The broker's committed offsets of `group` on partitions 0..partitions of `topic` (partitions
/// with no commit are left out).
pub fn committed_offsets(
    brokers: &str,
    group: &str,
    topic: &str,
    partitions: i32,
) -> BTreeMap<i32, i64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let committed = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .unwrap();
    committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            rdkafka::Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect()
}

/// Puts the embedded S3 server's keys in the environment, where the AWS chain finds them (for
/// runs whose scenario names the server as an endpoint, as a user's would). The environment is
/// the process's: this is sound because cargo-nextest runs each test in a process of its own
/// (`.config/nextest.toml`), and it is called before the test starts any client.
pub fn use_embedded_s3_keys() {
    use tickbench::io::embedded::{S3_ACCESS_KEY, S3_SECRET_KEY};
    std::env::set_var("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY);
    std::env::set_var("AWS_REGION", "us-east-1");
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
}

/// An S3 client for an S3-compatible endpoint, credentials from the AWS chain.
pub async fn s3_client_for(endpoint: &str) -> Client {
    let cfg = config::S3 {
        endpoint: Some(endpoint.to_string()),
        ..Default::default()
    };
    tickbench::io::connect::s3_client(&cfg, None).await
}

/// One object read back from S3.
pub struct Object {
    pub key: String,
    pub partition: i32,
    pub first_offset: i64,
    pub e_tag: String,
    pub content_type: String,
    pub bytes: usize,
    pub ticks: Vec<Tick>,
}

/// Lists every object under `prefix` and reads each one back through the S3 API.
pub async fn read_back(client: &Client, bucket: &str, prefix: &str) -> Vec<Object> {
    let mut keys = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        for o in page.expect("ListObjectsV2").contents() {
            keys.push(o.key().unwrap().to_string());
        }
    }
    let mut out = Vec::new();
    for key in keys {
        let obj = client
            .get_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .expect("GetObject");
        let e_tag = obj
            .e_tag()
            .unwrap_or_default()
            .trim_matches('"')
            .to_string();
        let content_type = obj.content_type().unwrap_or_default().to_string();
        let body = obj.body.collect().await.unwrap().into_bytes();
        // Any format the sink writes, by the key's extension (csv and parquet crates underneath).
        let mut ticks = Vec::new();
        decode_object(&key, &body, |t| {
            ticks.push(t.expect("every landed record is a tick"))
        })
        .expect("the object reads back");
        let (_, partition, first_offset) = parse_object_name(&key).expect("key follows the layout");
        out.push(Object {
            key,
            partition,
            first_offset,
            e_tag,
            content_type,
            bytes: body.len(),
            ticks,
        });
    }
    out
}

/// Asserts that, per symbol, `seq` runs 0..n with no gap and no duplicate, and returns the total.
pub fn assert_each_tick_once(objects: &[Object]) -> u64 {
    let mut seqs: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for o in objects {
        for t in &o.ticks {
            seqs.entry(t.symbol.as_str()).or_default().push(t.seq);
        }
    }
    let mut total = 0;
    for (sym, mut s) in seqs {
        s.sort_unstable();
        for (i, seq) in s.iter().enumerate() {
            assert_eq!(
                *seq, i as u64,
                "symbol {sym}: seq {seq} at position {i} (gap or duplicate)"
            );
        }
        total += s.len() as u64;
    }
    total
}

/// Records landed per partition (offsets run contiguously from 0 on a fresh topic).
pub fn records_per_partition(objects: &[Object]) -> BTreeMap<i32, i64> {
    let mut m = BTreeMap::new();
    for o in objects {
        *m.entry(o.partition).or_insert(0) += o.ticks.len() as i64;
    }
    m
}

/// Asserts that the byte trigger closed objects where it had to: every (partition, hour
/// directory) group holding more than `max_bytes` has an object over `part` bytes. Returns how
/// many objects are over `part` bytes.
///
/// Why per hour directory: a run that crosses an hour boundary splits each partition's records
/// into two time partitions, and neither half need reach the byte target. A run inside one hour
/// must show at least one such object a partition (`partitions`).
pub fn assert_byte_trigger_fired(
    objects: &[Object],
    max_bytes: usize,
    part: usize,
    partitions: usize,
) -> usize {
    let mut groups: BTreeMap<(i32, String), (usize, usize)> = BTreeMap::new();
    for o in objects {
        let dir = o.key.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        let g = groups.entry((o.partition, dir.to_string())).or_default();
        g.0 += o.bytes;
        g.1 += usize::from(o.bytes > part);
    }
    for ((p, dir), (bytes, large)) in &groups {
        if *bytes > max_bytes {
            assert!(
                *large > 0,
                "partition {p} in {dir} holds {bytes} bytes, over max_bytes {max_bytes}, \
                 yet no object over {part} bytes"
            );
        }
    }
    let large: usize = groups.values().map(|g| g.1).sum();
    let hours: std::collections::BTreeSet<_> = groups.keys().map(|k| &k.1).collect();
    if hours.len() == 1 {
        assert!(
            large >= partitions,
            "{large} objects over {part} bytes, want one a partition ({partitions})"
        );
    }
    large
}

/// Starts `tickbench sink SCENARIO --results-dir RESULTS EXTRA...` as a child process, its output
/// (progress lines included) into `log`.
pub fn start_sink(
    scenario: &Path,
    results: &Path,
    log: &Path,
    extra: &[&str],
) -> std::process::Child {
    use std::process::{Command, Stdio};
    let log = std::fs::File::create(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_tickbench"))
        .arg("sink")
        .arg(scenario)
        .arg("--results-dir")
        .arg(results)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("starting tickbench sink")
}

/// A file's text, empty while it does not exist.
pub fn log_of(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Waits until `done` says yes, failing the test after the hang guard.
pub async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < HANG_GUARD, "waited too long: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits for a child process to exit, failing the test after the hang guard.
pub async fn exit_of(child: &mut std::process::Child) -> std::process::ExitStatus {
    exit_or(child, String::new).await
}

/// [`exit_of`], the child's log in the failure when it hangs (the child is killed first).
pub async fn exit_of_logged(
    child: &mut std::process::Child,
    log: &Path,
) -> std::process::ExitStatus {
    exit_or(child, || format!(":\n{}", log_of(log))).await
}

async fn exit_or(
    child: &mut std::process::Child,
    why: impl Fn() -> String,
) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if start.elapsed() >= HANG_GUARD {
            let _ = child.kill();
            panic!("a child process hangs{}", why());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `tickbench up` as a child process: its broker and S3 addresses, and the rest of its output.
pub struct Up {
    pub child: std::process::Child,
    pub lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
    pub brokers: String,
    pub endpoint: String,
}

impl Drop for Up {
    /// A failed test must not leave the server running (it would hold the test's output open).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `tickbench up ARGS...` and reads the addresses it prints before it says "Ctrl-C".
pub fn start_up(args: &[&str]) -> Up {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tickbench"))
        .arg("up")
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("starting tickbench up");
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut brokers, mut endpoint) = (None, None);
    for line in lines.by_ref() {
        let line = line.unwrap();
        for word in line.split_whitespace() {
            if let Some(b) = word.strip_prefix("bootstrap.servers=") {
                brokers = Some(b.to_string());
            }
            if let Some(e) = word.strip_prefix("endpoint=") {
                endpoint = Some(e.to_string());
            }
        }
        if line.starts_with("Ctrl-C") {
            break;
        }
    }
    Up {
        child,
        lines,
        brokers: brokers.expect("tickbench up printed its brokers"),
        endpoint: endpoint.expect("tickbench up printed its S3 endpoint"),
    }
}

/// The one results folder under `root` whose name ends with `suffix`.
pub fn folder(root: &Path, suffix: &str) -> std::path::PathBuf {
    let found: Vec<std::path::PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && p.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(found.len(), 1, "one folder *{suffix} in {}", root.display());
    found.into_iter().next().unwrap()
}

pub fn json(dir: &Path, name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(name)).unwrap()).unwrap()
}

/// Runs a command to completion, failing the test with its stderr unless it succeeded.
pub fn succeeds(cmd: &mut std::process::Command) -> std::process::Output {
    let out = cmd.output().expect("starting the command");
    assert!(
        out.status.success(),
        "{:?}: {}\n{}",
        cmd,
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Multipart uploads started and not ended in a sink's journal: upload id → key.
pub fn open_uploads(journal: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(journal).unwrap_or_default();
    let mut open = BTreeMap::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let id = v["upload_id"].as_str().unwrap_or_default().to_string();
        match v["event"].as_str() {
            Some("started") => {
                open.insert(id, v["key"].as_str().unwrap().to_string());
            }
            Some("ended") => {
                open.remove(&id);
            }
            _ => {}
        }
    }
    open
}

/// What a command line run in-process did.
pub struct Executed {
    pub code: u8,
    /// What it printed for its user (the binary's stdout).
    pub stdout: String,
    /// The message `main` would print for an error (clap's own for a bad argument).
    pub error: String,
}

/// Runs a command line in-process, as `main` does, and keeps what it printed.
pub async fn execute(args: &[&str]) -> Executed {
    use clap::Parser;
    let argv = std::iter::once("tickbench").chain(args.iter().copied());
    let mut stdout = Vec::new();
    let (code, error) = match tickbench::cli::Cli::try_parse_from(argv) {
        Err(e) => (e.exit_code() as u8, e.to_string()),
        Ok(cli) => {
            let signals = tickbench::cli::Signals::new();
            match tickbench::cli::execute(cli, &signals, &mut stdout).await {
                Ok(code) => (code, String::new()),
                Err(e) => (tickbench::cli::exit::ERROR, format!("error: {e:#}")),
            }
        }
    };
    Executed {
        code,
        stdout: String::from_utf8(stdout).expect("UTF-8 output"),
        error,
    }
}
