//! `--metrics-addr`: a run scraped while it goes, the text parsed by the Prometheus project's own
//! parser (prometheus_client), its counters moving forward and agreeing with the final summary;
//! and the Grafana dashboard in deploy/grafana/, each of whose panels asks for metrics the
//! endpoint serves.

use crate::common;

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};

use tickbench::metrics::exposition::NAMES;

/// One sample as scripts/parse-metrics.py prints it.
#[derive(serde::Deserialize, Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn parse(text: &str, dir: &Path) -> Vec<Sample> {
    let file = dir.join("scrape.txt");
    std::fs::write(&file, text).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/parse-metrics.py");
    let out = common::succeeds(Command::new(common::python()).arg(script).arg(&file));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

#[ignore = "needs prometheus_client: scripts/install-deps.sh --tests puts it in .tools/venv"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_scraped_while_it_goes_agrees_with_its_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("scraped.toml");
    std::fs::write(
        &path,
        "name = \"scraped\"\nseed = 4\nduration = \"4s\"\nwarmup = \"1s\"\n[symbols]\ncount = 200\n[rate]\nticks_per_second = 3000\n[kafka]\npartitions = 2\n[kafka.consumer]\n\"fetch.wait.max.ms\" = \"50\"\n[sink]\nmax_age = \"500ms\"\n",
    )
    .unwrap();
    let results = tmp.path().join("results");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tickbench"))
        .args([
            "run",
            path.to_str().unwrap(),
            "--progress",
            "none",
            "--metrics-addr",
            "127.0.0.1:0",
            "--results-dir",
        ])
        .arg(&results)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = stderr
            .next()
            .expect("the run printed its metrics address")
            .unwrap();
        if let Some(u) = line.strip_prefix("metrics: ") {
            break u.to_string();
        }
    };
    std::thread::spawn(move || for _ in stderr {});
    let http = reqwest::Client::new();
    let mut scrapes = Vec::new();
    while child.try_wait().unwrap().is_none() {
        if let Ok(r) = http.get(&url).send().await {
            assert_eq!(
                r.headers()["content-type"],
                "application/openmetrics-text; version=1.0.0; charset=utf-8"
            );
            if let Ok(t) = r.text().await {
                scrapes.push(t);
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(child.wait().unwrap().success());
    assert!(scrapes.len() >= 20, "{} scrapes", scrapes.len());
    let summary = common::json(&common::folder(&results, "scraped"), "summary.json");

    let parsed: Vec<Vec<Sample>> = scrapes.iter().map(|t| parse(t, tmp.path())).collect();
    let run = [("run", "scraped")];
    let series =
        |name: &str| -> Vec<f64> { parsed.iter().filter_map(|p| value(p, name, &run)).collect() };
    for name in [
        "tickbench_ticks_produced_total",
        "tickbench_ticks_acknowledged_total",
        "tickbench_ticks_landed_total",
    ] {
        let s = series(name);
        assert!(s.len() >= 20, "{name}: {s:?}");
        assert!(
            s.windows(2).all(|w| w[0] <= w[1]),
            "{name} went back: {s:?}"
        );
    }
    // The load is over before the sink has drained and the audit has read S3 back: the last
    // scrapes hold the final counts, which are the summary's (warm-up included).
    let c = &summary["counts"];
    let last = |name: &str| *series(name).last().unwrap();
    assert_eq!(
        last("tickbench_ticks_produced_total"),
        c["produced"].as_f64().unwrap()
    );
    assert_eq!(
        last("tickbench_ticks_acknowledged_total"),
        c["acked"].as_f64().unwrap()
    );
    assert!(last("tickbench_ticks_landed_total") <= c["landed"].as_f64().unwrap());
    assert!(last("tickbench_ticks_landed_total") > 0.0);
    // While the load goes, a stage's last second is within what the whole run measured.
    let e2e: Vec<f64> = parsed
        .iter()
        .filter_map(|p| {
            value(
                p,
                "tickbench_stage_latency_seconds",
                &[("stage", "pipeline_e2e"), ("quantile", "0.99")],
            )
        })
        .collect();
    assert!(
        e2e.len() >= 5,
        "pipeline_e2e's last second in {} of {} scrapes",
        e2e.len(),
        parsed.len()
    );
    let max_s = summary["stages"]["pipeline_e2e"]["max_us"]
        .as_f64()
        .unwrap()
        / 1e6;
    assert!(
        e2e.iter().all(|v| *v > 0.0 && *v <= max_s * 1.01),
        "{e2e:?} against max {max_s}"
    );
    // The sink's S3 requests and bytes, by the end the summary's.
    let fin = parsed.last().unwrap();
    let puts = value(fin, "tickbench_s3_requests_total", &[("kind", "PutObject")]).unwrap();
    assert_eq!(puts, summary["requests"]["put_object"].as_f64().unwrap());
    assert!(puts > 0.0);
    assert_eq!(
        value(fin, "tickbench_bytes_landed_total", &run).unwrap(),
        summary["objects"]["bytes"].as_f64().unwrap()
    );
    let measured = series("tickbench_stage_measured_total");
    assert!(!measured.is_empty());
    let final_measured = value(
        parsed.last().unwrap(),
        "tickbench_stage_measured_total",
        &[("stage", "schedule_lag")],
    )
    .unwrap();
    assert_eq!(
        final_measured,
        summary["stages"]["schedule_lag"]["count"].as_f64().unwrap()
    );
}

/// Every panel of the dashboard queries at least one metric, and every metric a query names is
/// one the endpoint serves.
#[test]
fn the_grafana_dashboard_asks_only_for_metrics_the_endpoint_serves() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/tickbench.json");
    let d: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let panels = d["panels"].as_array().unwrap();
    assert!(panels.len() >= 6, "{} panels", panels.len());
    let served = |m: &str| NAMES.iter().any(|n| m == *n || m == format!("{n}_total"));
    for p in panels {
        let title = p["title"].as_str().unwrap();
        let targets = p["targets"]
            .as_array()
            .unwrap_or_else(|| panic!("{title}: no targets"));
        assert!(!targets.is_empty(), "{title}");
        for t in targets {
            let expr = t["expr"].as_str().unwrap();
            let names: Vec<&str> = expr
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("tickbench_"))
                .collect();
            assert!(
                !names.is_empty(),
                "{title}: {expr} names no tickbench metric"
            );
            for n in names {
                assert!(served(n), "{title}: {n} is not served");
            }
        }
    }
}
