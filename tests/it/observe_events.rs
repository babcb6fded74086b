//! `[observe]` with S3 Event Notifications: durable times from each object's `eventTime`, read
//! from an SQS queue, instead of a listing. moto's server (S3 and SQS in one process, S3 sending
//! `s3:ObjectCreated:*` to the queue as AWS does) stands in for AWS; the sink is `tickbench
//! sink`, a separate process treated as a black box, writing to that S3.

use std::process::{Command, Stdio};

use crate::common;
use crate::observe::{lines, spawn_tickbench_sink, tb, up_with_obs};

/// moto's server on a free port; killed on drop.
struct Moto {
    child: std::process::Child,
    endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_moto(log: &std::path::Path) -> Moto {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::fs::File::create(log).unwrap();
    let child = Command::new(common::python())
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let endpoint = format!("http://127.0.0.1:{port}");
    let addr = format!("127.0.0.1:{port}");
    common::wait_until("moto's server to listen", || {
        std::net::TcpStream::connect(&addr).is_ok()
    })
    .await;
    Moto { child, endpoint }
}

#[ignore = "needs moto in the tools venv: scripts/install-deps.sh --tests"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_times_from_s3_event_notifications_through_sqs() {
    let dir = tempfile::tempdir().unwrap();
    let moto = start_moto(&dir.path().join("moto.log")).await;
    common::use_embedded_s3_keys();
    // The bucket, its queue, and the notification between them, as one sets them up on AWS.
    let s3 = common::s3_client_for(&moto.endpoint).await;
    s3.create_bucket().bucket("events").send().await.unwrap();
    let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&moto.endpoint)
        .load()
        .await;
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let url = sqs
        .create_queue()
        .queue_name("tickbench-events")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    s3.put_bucket_notification_configuration()
        .bucket("events")
        .notification_configuration(
            aws_sdk_s3::types::NotificationConfiguration::builder()
                .queue_configurations(
                    aws_sdk_s3::types::QueueConfiguration::builder()
                        .queue_arn(arn)
                        .events(aws_sdk_s3::types::Event::from("s3:ObjectCreated:*"))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();

    let up = up_with_obs(dir.path(), "unused");
    let path = dir.path().join("events.toml");
    std::fs::write(
        &path,
        format!(
            "name = \"events\"\nseed = 5\nduration = \"2s\"\nwarmup = \"0s\"\n[symbols]\ncount = 100\n[rate]\nticks_per_second = 1000\n[kafka]\nbrokers = \"{}\"\ntopic = \"obs\"\npartitions = 2\n[kafka.consumer]\n\"fetch.wait.max.ms\" = \"50\"\n[sink]\nmax_age = \"500ms\"\n[s3]\nendpoint = \"{}\"\nbucket = \"events\"\n[observe]\nprefix = \"tickbench/obs\"\nsettle = \"30s\"\nsqs_queue_url = \"{url}\"\n",
            up.brokers, moto.endpoint
        ),
    )
    .unwrap();
    let sinks = dir.path().join("sinks");
    let mut sink = spawn_tickbench_sink(
        &path,
        "events-sink",
        &sinks,
        "10s",
        &dir.path().join("sink.log"),
    );
    let runs = dir.path().join("runs");
    let mut run = tb();
    run.args(["run", path.to_str().unwrap(), "--quiet", "--results-dir"])
        .arg(&runs)
        // The SQS client takes its endpoint from the AWS config chain, as any SDK does.
        .env("AWS_ENDPOINT_URL_SQS", &moto.endpoint);
    let out = tokio::task::spawn_blocking(move || run.output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let st = common::exit_of(&mut sink).await;
    assert!(
        st.success(),
        "{}",
        common::log_of(&dir.path().join("sink.log"))
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("observed sink: S3 event notifications"),
        "{stdout}"
    );

    let run_dir = common::folder(&runs, "events");
    let summary = common::json(&run_dir, "summary.json");
    let c = &summary["counts"];
    assert_eq!(
        (
            c["landed"].as_u64(),
            c["lost"].as_u64(),
            c["duplicated"].as_u64()
        ),
        (Some(2000), Some(0), Some(0)),
        "{summary}"
    );
    let o = &summary["observed"];
    assert_eq!(o["method"], "s3-events", "{o}");
    assert_eq!(o["listings"], 0, "no listing after the first: {o}");
    assert!(o["sqs_requests"].as_u64().unwrap() > 0, "{o}");
    // Each object's durable time is S3's eventTime: taken while S3 handled the PUT, so no later
    // than the sink's (after the answer came back) and close before it.
    let sink_dir = common::folder(&sinks, "events-sink-sink-0");
    let theirs: std::collections::HashMap<String, i64> = lines(&sink_dir, "objects.jsonl")
        .iter()
        .map(|o| {
            (
                o["key"].as_str().unwrap().to_string(),
                o["durable_ns"].as_i64().unwrap(),
            )
        })
        .collect();
    let mine = lines(&run_dir, "objects.jsonl");
    assert_eq!(mine.len(), theirs.len());
    for o in &mine {
        let key = o["key"].as_str().unwrap();
        let early_ms = (theirs[key] - o["durable_ns"].as_i64().unwrap()) as f64 / 1e6;
        assert!(
            (-1.0..=250.0).contains(&early_ms),
            "{key}: eventTime {early_ms:.1} ms before the sink's durable time"
        );
    }
}
