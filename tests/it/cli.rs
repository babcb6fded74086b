//! The binary's contract: exit codes and messages a user (or CI) relies on. Errors are checked
//! in-process through `cli::execute`, as `main` runs it; what is printed, through the binary.

use std::process::Command;

/// A command line run in-process: its exit code and the message `main` would print for an
/// error (clap's own for a bad argument).
async fn execute(args: &[&str]) -> (u8, String) {
    let done = crate::common::execute(args).await;
    (done.code, done.error)
}

fn tickbench(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tickbench"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn scenario_check_accepts_the_shipped_smoke_scenario() {
    let (code, stdout, stderr) = tickbench(&["scenario", "check", "scenarios/smoke.toml"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("scenarios/smoke.toml: ok"), "{stderr}");
    // The resolved scenario shows the defaults that were filled in.
    assert!(stdout.contains("drain_timeout"), "{stdout}");
}

#[tokio::test]
async fn bad_scenarios_exit_non_zero_naming_file_field_and_allowed_values() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "count = 100",
            "count = 0",
            "`symbols.count` = 0",
            "1 to 100000",
        ),
        (
            "ticks_per_second = 10",
            "ticks_per_second = -1",
            "rate.ticks_per_second",
            "greater than 0",
        ),
        (
            "duration = \"2s\"",
            "duration = \"soon\"",
            "duration",
            "line 3",
        ),
        (
            "[rate]",
            "[rate]\nburst = true",
            "unknown field `burst`",
            "ticks_per_second",
        ),
        (
            "[rate]",
            "[sink]\npart_size = \"4 MiB\"\n[rate]",
            "sink.part_size",
            "5 MiB to 5 GiB",
        ),
        (
            "[rate]",
            "[thresholds]\npipline_e2e_p99 = \"<= 2s\"\n[rate]",
            "`thresholds.pipline_e2e_p99`",
            "is not a metric",
        ),
        (
            "[rate]",
            "[thresholds]\npipeline_e2e_p99 = \"<= 2\"\n[rate]",
            "bad6.toml:7: `thresholds.pipeline_e2e_p99`",
            "not a duration (2s, 150ms)",
        ),
    ];
    let good = "name = \"b\"\nseed = 1\nduration = \"2s\"\n[symbols]\ncount = 100\n[rate]\nticks_per_second = 10\n";
    for (i, (from, to, field, allowed)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("bad{i}.toml"));
        std::fs::write(&path, good.replace(from, to)).unwrap();
        let p = path.to_str().unwrap();
        for args in [vec!["scenario", "check", p], vec!["run", p]] {
            let (code, stderr) = execute(&args).await;
            assert_eq!(code, 2, "{args:?}");
            assert!(stderr.contains(p), "names the file: {stderr}");
            assert!(stderr.contains(field), "names the field {field}: {stderr}");
            assert!(
                stderr.contains(allowed),
                "says what is allowed ({allowed}): {stderr}"
            );
        }
    }
}

#[tokio::test]
async fn missing_scenario_file_is_a_clear_error() {
    let (code, stderr) = execute(&["run", "no/such/file.toml"]).await;
    assert_eq!(code, 2);
    assert!(
        stderr.contains("no/such/file.toml: cannot read"),
        "{stderr}"
    );
}

#[test]
fn produce_without_a_sink_reports_what_the_broker_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.toml");
    std::fs::write(
        &path,
        "name = \"p\"\nseed = 1\nduration = \"2s\"\n[symbols]\ncount = 100\n[rate]\nticks_per_second = 1000\n[kafka]\npartitions = 2\n",
    )
    .unwrap();
    let results = dir.path().join("results");
    let (code, stdout, stderr) = tickbench(&[
        "produce",
        path.to_str().unwrap(),
        "--results-dir",
        results.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with("2000 produced, 2000 acknowledged, 0 failed"),
        "{stdout}"
    );
    let run = std::fs::read_dir(&results)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let sum: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("produce.json")).unwrap()).unwrap();
    assert_eq!(sum["acked"], 2000);
    assert_eq!(sum["stages"]["produce"]["count"], 2000);
    assert!(sum["payload_bytes_mean"].as_f64().unwrap() > 80.0);
    assert!(run.join("histograms/produce.hlog").is_file());
}

/// Every file under `dir` (recursively), except the landed objects themselves.
fn files_under(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "s3") {
                files_under(&p, out);
            }
        } else {
            out.push(p);
        }
    }
}

/// Secrets planted where they are really used: the S3 secret key signs every request to a named
/// endpoint that accepts only it (the run passes, so it was read), a session token goes with each
/// of those requests, and a SASL password goes to a broker that cannot do SASL (the run fails,
/// and says so without it). Debug logging is on, librdkafka's `debug = "all"` too (its
/// configuration dump among it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_from_the_environment_never_reach_output_or_results() {
    const SECRET: &str = "planted-Secret-7f3a9c";
    const TOKEN: &str = "planted-Session-Token-b41e";
    let dir = tempfile::tempdir().unwrap();
    let s3 = tickbench::io::embedded::EmbeddedS3::start_with_keys(
        &dir.path().join("s3"),
        0,
        "planted-key-id",
        SECRET,
    )
    .await
    .unwrap();
    let scenario = |name: &str, client: &str| {
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &path,
            format!(
                "name = \"{name}\"\nseed = 1\nduration = \"1s\"\n[symbols]\ncount = 50\n[rate]\nticks_per_second = 500\n[kafka]\npartitions = 1\n[kafka.client]\n\"debug\" = \"all\"\n{client}\"ssl.key.password\" = \"${{env:TB_PLANTED}}\"\n[kafka.consumer]\n\"fetch.wait.max.ms\" = \"50\"\n[s3]\nendpoint = \"{}\"\nbucket = \"secrets\"\ncreate_bucket = true\n",
                s3.endpoint()
            ),
        )
        .unwrap();
        path
    };
    let results = dir.path().join("results");
    let run = |path: &std::path::Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_tickbench"))
            .args(["-v", "run", path.to_str().unwrap(), "--results-dir"])
            .arg(&results)
            .env("TB_PLANTED", SECRET)
            .env("AWS_ACCESS_KEY_ID", "planted-key-id")
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_SESSION_TOKEN", TOKEN)
            .env("AWS_REGION", "us-east-1")
            .env("RUST_LOG", "debug")
            .output()
            .unwrap();
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    };
    let (code, text) = run(&scenario("s3", ""));
    assert_eq!(code, Some(0), "{text}");
    assert!(!text.contains(SECRET) && !text.contains(TOKEN), "{text}");
    // The fault happened: librdkafka dumped its configuration (where a password would show).
    assert!(
        text.contains("CONF [") && text.contains("Client configuration:"),
        "{text}"
    );
    let sasl = "\"security.protocol\" = \"SASL_PLAINTEXT\"\n\"sasl.mechanism\" = \"PLAIN\"\n\"sasl.username\" = \"tb\"\n\"sasl.password\" = \"${env:TB_PLANTED}\"\n";
    let (code, text) = run(&scenario("sasl", sasl));
    assert_eq!(code, Some(2), "the mock broker does no SASL: {text}");
    assert!(text.contains("cannot reach Kafka"), "{text}");
    assert!(!text.contains(SECRET) && !text.contains(TOKEN), "{text}");

    let mut files = Vec::new();
    files_under(&results, &mut files);
    assert!(files.len() > 5, "{files:?}");
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains(SECRET) && !text.contains(TOKEN),
            "{} holds a secret",
            f.display()
        );
    }
    // The scenario as run says where the secret was, not what it is.
    let run = std::fs::read_dir(&results)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("-sasl"))
        .expect("the failed run's folder");
    let resolved = std::fs::read_to_string(run.join("scenario.toml")).unwrap();
    assert!(
        resolved.contains("\"sasl.password\" = \"[redacted]\""),
        "{resolved}"
    );
}

#[tokio::test]
async fn an_unset_environment_variable_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("u.toml");
    std::fs::write(
        &path,
        "name = \"u\"\nseed = 1\nduration = \"1s\"\n[symbols]\ncount = 5\n[rate]\nticks_per_second = 5\n[kafka.client]\n\"sasl.username\" = \"${env:TB_SURELY_UNSET_NAME}\"\n",
    )
    .unwrap();
    let (code, stderr) = execute(&["scenario", "check", path.to_str().unwrap()]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("u.toml")
            && stderr.contains("TB_SURELY_UNSET_NAME")
            && stderr.contains("kafka.client.sasl.username"),
        "{stderr}"
    );
}

#[test]
fn a_failed_threshold_fails_the_run_with_exit_code_1_and_progress_comes_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("thresholds.toml");
    std::fs::write(
        &path,
        "name = \"th\"\nseed = 1\nduration = \"2s\"\n[symbols]\ncount = 50\n[rate]\nticks_per_second = 500\n\
         [sink]\nmax_age = \"500ms\"\n\
         [thresholds]\nlost = \"== 0\"\npipeline_e2e_p99 = \"<= 1ms\"\nproduced = \">= 1000\"\n",
    )
    .unwrap();
    let results = dir.path().join("results");
    let (code, stdout, stderr) = tickbench(&[
        "run",
        path.to_str().unwrap(),
        "--progress",
        "json",
        "--results-dir",
        results.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    // Progress for machines: a JSON object a second on stderr, counts only growing.
    let ticks: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(ticks.len() >= 2, "{stderr}");
    for w in ticks.windows(2) {
        assert!(w[1]["produced"].as_u64() >= w[0]["produced"].as_u64());
        assert!(w[1]["time_left_s"].as_f64() <= w[0]["time_left_s"].as_f64());
    }
    for field in [
        "rate_per_s",
        "consumer_lag",
        "schedule_lag_p99_ms",
        "pipeline_e2e_p99_ms",
    ] {
        assert!(ticks[0].get(field).is_some(), "{field}: {}", ticks[0]);
    }
    assert_eq!(ticks[0]["total_s"], 2.0);
    assert!(
        stdout.contains("threshold lost == 0: 0 ticks PASS"),
        "{stdout}"
    );
    assert!(
        stdout.contains("threshold produced >= 1000: 1000 ticks PASS"),
        "{stdout}"
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("threshold pipeline_e2e_p99 <= 1ms: "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.ends_with(" ms FAIL"), "{line}");
    assert!(
        stdout.contains("audit: PASS"),
        "the audit itself passed: {stdout}"
    );
    let run = std::fs::read_dir(&results)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    let t = summary["thresholds"].as_array().unwrap();
    assert_eq!(t.len(), 3);
    assert!(t
        .iter()
        .any(|v| v["metric"] == "pipeline_e2e_p99" && v["passed"] == false));
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(md.contains("| pipeline_e2e_p99 | <= 1ms |"), "{md}");
}

#[tokio::test]
async fn scale_out_mistakes_are_named_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    // Workers count from 1 to N.
    let (code, stderr) = execute(&["produce", "scenarios/smoke.toml", "--worker", "3/2"]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--worker \"3/2\": I must be 1 to N"),
        "{stderr}"
    );
    // A start time is RFC 3339, and not in the past.
    let (code, stderr) = execute(&["produce", "scenarios/smoke.toml", "--start-at", "10:00"]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("RFC 3339"), "{stderr}");
    let (code, stderr) = execute(&[
        "produce",
        "scenarios/smoke.toml",
        "--results-dir",
        d,
        "--worker",
        "1/2",
        "--start-at",
        "2026-01-01T00:00:00Z",
    ])
    .await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--start-at 2026-01-01T00:00:00+00:00: that was"),
        "{stderr}"
    );
    // merge names a folder that is not a results folder, and a run's that is neither a worker's
    // nor a sink's.
    let (code, stderr) = execute(&["merge", "scenarios", "--results-dir", d]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("scenarios: cannot read manifest.json: is this a tickbench run folder?"),
        "{stderr}"
    );
    let (code, stderr) = execute(&["merge", "tests/fixtures/run", "--results-dir", d]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("tests/fixtures/run: neither a producer's folder"),
        "{stderr}"
    );
}

/// `--log-format json` (what a pod's log collector reads): every diagnostic is one JSON object a
/// line, with its time, level and message; the progress lines people read stay text.
#[test]
fn diagnostics_come_as_json_lines_with_log_format_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("logs.toml");
    std::fs::write(
        &path,
        "name = \"logs\"\nseed = 1\nduration = \"1s\"\n[symbols]\ncount = 20\n[rate]\nticks_per_second = 200\n[kafka]\npartitions = 1\n[kafka.consumer]\n\"fetch.wait.max.ms\" = \"50\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tickbench"))
        .args([
            "--log-format",
            "json",
            "run",
            path.to_str().unwrap(),
            "--progress",
            "lines",
            "--results-dir",
        ])
        .arg(dir.path().join("results"))
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let (json, text): (Vec<&str>, Vec<&str>) = stderr.lines().partition(|l| l.starts_with('{'));
    assert!(json.len() > 10, "{} JSON lines:\n{stderr}", json.len());
    for line in &json {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(
            v["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{line}"
        );
        assert!(
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&v["level"].as_str().unwrap()),
            "{line}"
        );
        assert!(v["fields"].is_object() && v["target"].is_string(), "{line}");
    }
    // What is not JSON is for people: progress and the run's notes, never a text diagnostic.
    assert!(text.iter().any(|l| l.contains("ticks/s")), "{stderr}");
    assert!(
        !text
            .iter()
            .any(|l| l.contains(" DEBUG ") || l.contains(" INFO ")),
        "{stderr}"
    );
}

/// The flags a command shares with others mean the same on each: the progress display
/// (`--quiet`, `--progress`), the targets, `--results-dir`.
#[test]
fn shared_flags_are_accepted_by_every_command_that_runs_a_load_or_a_sink() {
    use clap::Parser;
    let parse = |args: &[&str]| {
        let argv = ["tickbench"].iter().chain(args).copied();
        tickbench::cli::Cli::try_parse_from(argv).map_err(|e| e.to_string())
    };
    let kafka = ["--brokers", "b:9092", "--topic", "t"];
    let s3 = [
        "--s3-endpoint",
        "http://s",
        "--bucket",
        "b",
        "--create-bucket",
    ];
    let common = ["--results-dir", "r"];
    for cmd in ["run", "produce", "sink", "observe"] {
        for progress in [&["--quiet"][..], &["-q"], &["--progress", "json"]] {
            let mut args = vec![cmd, "s.toml"];
            args.extend(kafka);
            args.extend(common);
            args.extend(progress);
            if cmd != "produce" {
                args.extend(s3);
            }
            parse(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        }
    }
    // The load alone writes nothing to S3: its targets are Kafka's.
    let e = parse(&["produce", "s.toml", "--bucket", "b"]).unwrap_err();
    assert!(e.contains("--bucket"), "{e}");
}
