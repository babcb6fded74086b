//! `tickbench doctor` and `tickbench up` as a user runs them: separate processes, exit codes,
//! messages that name what is wrong.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common;

use std::io::{BufRead, BufReader};

use tickbench::io::embedded::{EmbeddedS3, S3User, S3_ACCESS_KEY, S3_SECRET_KEY};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tickbench"));
    c.env("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    c
}

fn scenario(dir: &Path, extra: &str) -> String {
    let path = dir.join("doctor.toml");
    std::fs::write(
        &path,
        format!("name = \"d\"\nseed = 1\nduration = \"1s\"\n[symbols]\ncount = 1\n[rate]\nticks_per_second = 1\n{extra}"),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn doctor_names_a_stopped_broker() {
    let dir = tempfile::tempdir().unwrap();
    let path = scenario(dir.path(), "[kafka]\nbrokers = \"127.0.0.1:9\"\n");
    let out = bin().args(["doctor", &path]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("UNREACHABLE  kafka: 127.0.0.1:9 did not answer"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_a_missing_bucket_and_passes_an_existing_one() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = EmbeddedS3::start(&dir.path().join("s3")).await.unwrap();
    let client = tickbench::io::connect::s3_client(&Default::default(), Some(&s3.endpoint())).await;
    tickbench::io::connect::prepare_bucket(&client, "present", true, "test")
        .await
        .unwrap();

    let path = scenario(
        dir.path(),
        &format!(
            "[s3]\nendpoint = \"{}\"\nbucket = \"absent-bucket\"\n",
            s3.endpoint()
        ),
    );
    let out = tokio::task::spawn_blocking(move || bin().args(["doctor", &path]).output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout
            .contains("FAIL         s3: bucket absent-bucket does not exist at http://127.0.0.1:"),
        "{stdout}"
    );
    assert!(
        stdout.contains("s3.create_bucket = true"),
        "says how to fix it: {stdout}"
    );

    let path = scenario(
        dir.path(),
        &format!(
            "[s3]\nendpoint = \"{}\"\nbucket = \"present\"\n",
            s3.endpoint()
        ),
    );
    let out = tokio::task::spawn_blocking(move || bin().args(["doctor", &path]).output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    for line in [
        "ok           s3: bucket present at",
        "ok           s3: PutObject s3://present/tickbench/_tickbench_doctor/",
        "ok           s3: HeadObject of the probe",
        "ok           s3: GetObject of the probe, the same bytes",
        "ok           s3: DeleteObject of the probe",
        "ok           s3: CreateMultipartUpload, UploadPart, AbortMultipartUpload",
        "ok           s3: ListObjectsV2",
        "ok           kafka: no brokers named",
    ] {
        assert!(stdout.contains(line), "{line}: {stdout}");
    }
    // The probe cleaned up after itself.
    let left = client
        .list_objects_v2()
        .bucket("present")
        .send()
        .await
        .unwrap();
    assert_eq!(left.contents().len(), 0);
    s3.stop().await;
}

/// Credentials whose policy lacks s3:GetObject (a second key pair of the embedded server, refused
/// GetObject as an IAM policy without it is): doctor names exactly that operation DENIED, with
/// S3's error code, passes what the key pair may do, and exits 1; the full key pair passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reports_denied_for_the_operation_the_credentials_lack() {
    let dir = tempfile::tempdir().unwrap();
    let s3 = EmbeddedS3::start_with_users(
        &dir.path().join("s3"),
        0,
        &[
            S3User {
                access_key: S3_ACCESS_KEY.into(),
                secret_key: S3_SECRET_KEY.into(),
                denied: vec![],
            },
            S3User {
                access_key: "writer".into(),
                secret_key: "writer-secret".into(),
                denied: vec!["GetObject"],
            },
        ],
    )
    .await
    .unwrap();
    let client = tickbench::io::connect::s3_client(&Default::default(), Some(&s3.endpoint())).await;
    client
        .create_bucket()
        .bucket("shared")
        .send()
        .await
        .unwrap();
    let path = scenario(
        dir.path(),
        &format!(
            "[s3]\nendpoint = \"{}\"\nbucket = \"shared\"\n",
            s3.endpoint()
        ),
    );
    let doctor = |access: &'static str, secret: &'static str| {
        let path = path.clone();
        tokio::task::spawn_blocking(move || {
            bin()
                .env("AWS_ACCESS_KEY_ID", access)
                .env("AWS_SECRET_ACCESS_KEY", secret)
                .args(["doctor", &path])
                .output()
                .unwrap()
        })
    };
    let out = doctor("writer", "writer-secret").await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    let denied: Vec<&str> = stdout.lines().filter(|l| l.starts_with("DENIED")).collect();
    assert_eq!(denied.len(), 1, "{stdout}");
    assert!(
        denied[0].contains("s3: GetObject of the probe was refused")
            && denied[0].contains("s3:GetObject")
            && denied[0].ends_with("[AccessDenied]"),
        "{stdout}"
    );
    for allowed in [
        "s3: PutObject",
        "s3: HeadObject of the probe",
        "s3: ListObjectsV2",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with("ok") && l.contains(allowed)),
            "{allowed}: {stdout}"
        );
    }
    let out = doctor(S3_ACCESS_KEY, S3_SECRET_KEY).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(!stdout.contains("DENIED"), "{stdout}");
    s3.stop().await;
}

/// `tickbench up` serves; a second tickbench runs a whole scenario against it; Ctrl-C stops it.
#[test]
fn up_serves_a_second_tickbench_and_stops_on_interrupt() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("up-data");
    let mut up = common::start_up(&[
        "--dir",
        data.to_str().unwrap(),
        "--topic",
        "shared",
        "--partitions",
        "3",
        "--bucket",
        "shared-bucket",
    ]);

    let path = scenario(
        dir.path(),
        "[kafka]\ntopic = \"shared\"\n[kafka.consumer]\n\"fetch.wait.max.ms\" = \"50\"\n[sink]\nmax_age = \"1s\"\n",
    );
    let results = dir.path().join("results");
    let run = bin()
        .args([
            "run",
            "-q",
            &path,
            "--results-dir",
            results.to_str().unwrap(),
        ])
        .args([
            "--brokers",
            &up.brokers,
            "--topic",
            "shared",
            "--s3-endpoint",
            &up.endpoint,
            "--bucket",
            "shared-bucket",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        stdout.contains("1 produced, 1 acknowledged, 1 consumed, 1 landed, 0 lost, 0 duplicated"),
        "{stdout}"
    );
    // The object is a plain file in up's folder.
    let found = walk(&data.join("shared-bucket"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .count();
    assert_eq!(found, 1);

    let pid = up.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let status = up.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(
        up.lines.next().map(|l| l.unwrap()),
        Some("stopped".to_string())
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Ctrl-C during `tickbench run`: the load stops, what was produced is landed, audited and
/// reported, and the exit code (130) says the run was cut short.
#[test]
fn interrupting_a_run_still_lands_audits_and_reports_what_was_produced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.toml");
    std::fs::write(
        &path,
        "name = \"long\"\nseed = 1\nduration = \"120s\"\n[symbols]\ncount = 200\n[rate]\nticks_per_second = 2000\n[kafka]\npartitions = 2\n[kafka.consumer]\n\"fetch.wait.max.ms\" = \"50\"\n[sink]\nmax_age = \"1s\"\n",
    )
    .unwrap();
    let results = dir.path().join("results");
    let mut child = bin()
        .args([
            "run",
            path.to_str().unwrap(),
            "--results-dir",
            results.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the load is under way (the progress line of second 2).
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "the run ended before the load began"
        );
        if line.contains("ticks/s") && line.contains("[  2.") {
            break;
        }
    }
    assert!(Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(130), "{stdout}");
    assert!(stdout.contains("0 lost, 0 duplicated"), "{stdout}");
    assert!(stdout.contains("interrupted:"), "{stdout}");
    let run = std::fs::read_dir(&results)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let sum: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("summary.json")).unwrap()).unwrap();
    assert_eq!(sum["interrupted"], true);
    assert_eq!(sum["passed"], true);
    let produced = sum["counts"]["produced"].as_u64().unwrap();
    assert!(produced > 2_000 && produced < 240_000, "{produced}");
    assert_eq!(sum["counts"]["landed"].as_u64().unwrap(), produced);
    assert_eq!(
        sum["counts"]["not_sent"].as_u64().unwrap(),
        240_000 - produced
    );
}
