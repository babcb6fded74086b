//! `max` mode: the search steps, judges each step by its bounds, and says where it settled.

use std::path::Path;

use tickbench::commands::run::RunOptions;
use tickbench::config;

fn scenario_with(max: &str) -> config::Scenario {
    let text = format!(
        "name = \"mx\"\nseed = 3\nduration = \"1s\"\n[symbols]\ncount = 100\n[rate]\n[kafka]\npartitions = 2\n[kafka.consumer]\n\"fetch.wait.max.ms\" = \"50\"\n[sink]\nmax_age = \"1s\"\n[max]\n{max}"
    );
    config::parse(Path::new("mx.toml"), &text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_search_grows_while_sustained_and_reports_why_a_step_failed() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        results_root: tmp.path().to_path_buf(),
        ..Default::default()
    };

    // Bounds any pipeline meets: every step is sustained, and the search says it could go higher.
    let s = scenario_with("start = 500\nfactor = 2\nstep = \"1s\"\nmax_steps = 2\nschedule_lag_p99 = \"10s\"\nkafka_e2e_p99 = \"60s\"\n");
    let out = tickbench::commands::max::search(&s, s.max.as_ref().unwrap(), &opts)
        .await
        .unwrap();
    let rates: Vec<f64> = out.steps.iter().map(|s| s.ticks_per_second).collect();
    assert_eq!(rates, vec![500.0, 1000.0]);
    assert!(out.steps.iter().all(|s| s.sustained), "{:?}", out.steps);
    assert_eq!(out.settled_ticks_per_second, Some(1000.0));
    assert_eq!(out.first_failed_ticks_per_second, None);
    assert!(
        out.to_text().contains("raise max.max_steps"),
        "{}",
        out.to_text()
    );
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.dir.join("max.json")).unwrap()).unwrap();
    assert_eq!(saved["steps"].as_array().unwrap().len(), 2);
    for st in &out.steps {
        let summary: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(st.run_dir.join("summary.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(
            summary["counts"]["produced"].as_u64().unwrap() as f64,
            st.ticks_per_second
        );
    }

    // A bound no Kafka meets (1 µs end to end): the first step fails and says why.
    let s = scenario_with("start = 500\nstep = \"1s\"\nkafka_e2e_p99 = \"1us\"\n");
    let out = tickbench::commands::max::search(&s, s.max.as_ref().unwrap(), &opts)
        .await
        .unwrap();
    assert_eq!(out.steps.len(), 1);
    assert!(!out.steps[0].sustained);
    assert!(
        out.steps[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("Kafka end-to-end p99"),
        "{:?}",
        out.steps[0]
    );
    assert_eq!(out.settled_ticks_per_second, None);
    assert_eq!(out.first_failed_ticks_per_second, Some(500.0));
    assert!(out.to_text().contains("no rate was sustained"));

    // The scenario's thresholds are part of "sustained": one no sink meets fails the step too.
    let s =
        scenario_with("start = 500\nstep = \"1s\"\n[thresholds]\npipeline_e2e_p99 = \"<= 1ms\"\n");
    let out = tickbench::commands::max::search(&s, s.max.as_ref().unwrap(), &opts)
        .await
        .unwrap();
    assert_eq!(out.steps.len(), 1);
    let reason = out.steps[0].reason.as_deref().unwrap_or_default();
    assert!(
        reason.starts_with("threshold pipeline_e2e_p99 <= 1ms: "),
        "{:?}",
        out.steps[0]
    );
}

/// A step whose system under test fails (every upload answered 503, so the sink cannot land its
/// batches within drain_timeout) is a FAILED step with its reason and its own complete results
/// folder; the search finishes and writes max.json, and `tickbench run` exits 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_whose_sink_fails_is_a_failed_step_and_the_search_still_writes_max_json() {
    use tickbench::io::embedded::{EmbeddedS3, S3Faults, S3_ACCESS_KEY, S3_SECRET_KEY};
    let tmp = tempfile::tempdir().unwrap();
    let s3 = EmbeddedS3::start(&tmp.path().join("s3")).await.unwrap();
    let client = tickbench::io::connect::s3_client(&Default::default(), Some(&s3.endpoint())).await;
    client
        .create_bucket()
        .bucket("mx-bucket")
        .send()
        .await
        .unwrap();
    s3.set_faults(S3Faults {
        error_every: Some((1, 503)),
        ..Default::default()
    });
    let path = tmp.path().join("mx.toml");
    std::fs::write(
        &path,
        format!(
            "name = \"mx\"\nseed = 3\nduration = \"1s\"\n[symbols]\ncount = 100\n[rate]\n[kafka]\npartitions = 2\n[kafka.consumer]\n\"fetch.wait.max.ms\" = \"50\"\n[sink]\nmax_age = \"500ms\"\nupload_retry_for = \"1s\"\ndrain_timeout = \"3s\"\n[s3]\nendpoint = \"{}\"\nbucket = \"mx-bucket\"\nmax_attempts = 1\n[max]\nstart = 500\nstep = \"1s\"\nmax_steps = 2\n",
            s3.endpoint()
        ),
    )
    .unwrap();
    let results = tmp.path().join("results");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tickbench"));
    cmd.args(["run", path.to_str().unwrap(), "--quiet", "--results-dir"])
        .arg(&results)
        .env("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(s3.faults_injected() > 0, "the uploads were refused");
    let max_dir = crate::common::folder(&results, "mx-max");
    let saved = crate::common::json(&max_dir, "max.json");
    let steps = saved["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "{saved}");
    assert_eq!(steps[0]["sustained"], false);
    let reason = steps[0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("did not complete: the sink failed"),
        "{reason}"
    );
    assert!(
        stdout.contains("FAILED") && stdout.contains("did not complete"),
        "{stdout}"
    );
    let step = std::path::PathBuf::from(steps[0]["run_dir"].as_str().unwrap());
    let summary = crate::common::json(&step, "summary.json");
    assert_eq!(summary["completed"], false, "{summary}");
    assert!(step.join("report.html").is_file());
    s3.stop().await;
}
