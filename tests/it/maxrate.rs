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
