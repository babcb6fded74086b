//! A broker restarted under the load, as every MSK patch and rolling upgrade restarts one: tansu
//! with SQLite storage (a process of its own, its log kept across the restart) is SIGKILLed once
//! the load is under way and started again on the same port and file a few seconds later, while
//! `tickbench run`'s producer and sink go on. Each run is audited: nothing acknowledged lost,
//! nothing landed twice by the sink, every partition committed at its end. Without idempotence the
//! producer may have written a retried batch twice: the audit then says so, apart from the sink.
//!
//! The broker is built by `scripts/services.sh start` (TICKBENCH_TANSU_PERSISTENT is its path);
//! each test starts its own, on a free port, in a folder of its own.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use tickbench::config;
use tickbench::io::embedded::EmbeddedS3;
use tickbench::results::Summary;

/// The test's own tansu: its port, folder and process.
struct Broker {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Broker {
    fn new(dir: &Path) -> Broker {
        let bin = std::env::var_os("TICKBENCH_TANSU_PERSISTENT")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                panic!("TICKBENCH_TANSU_PERSISTENT is not set: scripts/services.sh start; source .services/env")
            });
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::fs::create_dir_all(dir).unwrap();
        Broker {
            bin,
            dir: dir.to_path_buf(),
            port,
            child: None,
        }
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the broker on its port and file; returns once it listens.
    fn start(&mut self) {
        let url = format!("tcp://{}", self.address());
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("tansu.log"))
            .unwrap();
        let child = Command::new(&self.bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(&self.dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("tansu starts");
        self.child = Some(child);
        let guard = std::time::Instant::now();
        while std::net::TcpStream::connect(self.address()).is_err() {
            assert!(guard.elapsed() < common::HANG_GUARD, "{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGKILL: no clean shutdown, whatever the broker held in memory is gone.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    fn log(&self) -> String {
        common::log_of(&self.dir.join("tansu.log"))
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Records in the topic's log, as its partitions' high watermarks say.
fn in_log(probe: &BaseConsumer, topic: &str, partitions: i32) -> i64 {
    (0..partitions)
        .filter_map(|p| {
            probe
                .fetch_watermarks(topic, p, Duration::from_secs(2))
                .ok()
        })
        .map(|(_, hi)| hi)
        .sum()
}

/// Runs 12 s at 3,000 ticks/s over 4 partitions against a broker the test owns; once 9,000
/// records are in the log the broker is SIGKILLed, and started again 3 s later. Returns the
/// summary and the records in the log when it was killed.
async fn run_with_a_restart(name: &str, idempotence: bool) -> (Summary, i64) {
    common::use_embedded_s3_keys();
    let tmp = tempfile::tempdir().unwrap();
    let s3 = EmbeddedS3::start(&tmp.path().join("s3")).await.unwrap();
    let mut broker = Broker::new(&tmp.path().join("broker"));
    broker.start();
    let topic = common::unique(name);
    let text = format!(
        r#"
name = "{name}"
seed = 5
duration = "12s"
warmup = "0s"
[symbols]
count = 500
[rate]
ticks_per_second = 3000
[kafka]
brokers = "{brokers}"
topic = "{topic}"
# The test watches the topic's log to time the restart.
topic_per_run = false
partitions = 4
[kafka.producer]
"enable.idempotence" = "{idempotence}"
[kafka.consumer]
"fetch.wait.max.ms" = "50"
[sink]
max_age = "1s"
[s3]
endpoint = "{endpoint}"
bucket = "restart"
create_bucket = true
"#,
        brokers = broker.address(),
        endpoint = s3.endpoint()
    );
    let s = config::parse(Path::new("restart.toml"), &text).unwrap();
    let address = broker.address();
    let restart = {
        let topic = topic.clone();
        tokio::task::spawn_blocking(move || {
            let probe: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &address)
                .create()
                .unwrap();
            let guard = std::time::Instant::now();
            let mut records = in_log(&probe, &topic, 4);
            while records < 9_000 {
                assert!(guard.elapsed() < common::HANG_GUARD, "the load never began");
                std::thread::sleep(Duration::from_millis(20));
                records = in_log(&probe, &topic, 4);
            }
            broker.kill();
            // The outage: how long the cluster is without its broker (a fault, not a wait for
            // an outcome).
            std::thread::sleep(Duration::from_secs(3));
            broker.start();
            (broker, records)
        })
    };
    let out = common::run_in(&tmp.path().join("results"), &s)
        .await
        .expect("the run finished");
    let (broker, killed_at) = restart.await.unwrap();
    let sum = out.summary;
    let end: i64 = sum.kafka.end_offsets.values().sum();
    // The fault happened mid-load: records reached the log after the restart.
    assert!(
        end > killed_at,
        "the broker was killed at {killed_at} records, after the load's last ({end})"
    );
    eprintln!("--- broker log\n{}", broker.log());
    (sum, killed_at)
}

/// What a restart may never do: lose an acknowledged tick, have the sink land an offset twice,
/// or leave a partition uncommitted.
fn assert_nothing_lost_or_landed_twice(sum: &Summary) {
    let c = &sum.counts;
    assert!(
        sum.passed,
        "{:?}\n{:?}\n{:?}\n{:?}",
        sum.problems, sum.warnings, c, sum.kafka
    );
    assert_eq!((c.lost, c.duplicated_by_sink), (0, 0), "{c:?}");
    assert_eq!(c.acked + c.delivery_failed, c.produced, "{c:?}");
    assert_eq!(c.landed, c.acked, "every acknowledged tick landed: {c:?}");
    assert_eq!(
        sum.kafka.committed_offsets, sum.kafka.end_offsets,
        "every partition committed at its end"
    );
}

#[ignore = "needs tansu with SQLite storage: scripts/services.sh start; source .services/env"]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broker_killed_and_restarted_mid_run_loses_nothing() {
    let (sum, _) = run_with_a_restart("restart", false).await;
    assert_nothing_lost_or_landed_twice(&sum);
    // Without idempotence a retried batch may be in the log twice: every such copy is told to be
    // the log's, none the sink's.
    let c = &sum.counts;
    assert_eq!(c.duplicated, c.duplicated_in_log, "{c:?}");
    eprintln!(
        "{} copies in the log (the producer's retries), {} messages resent",
        c.duplicated_in_log, c.produce_resent
    );
}

#[ignore = "needs tansu with SQLite storage: scripts/services.sh start; source .services/env"]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_with_the_idempotent_producer_writes_nothing_twice() {
    let (sum, _) = run_with_a_restart("restart-idem", true).await;
    assert_nothing_lost_or_landed_twice(&sum);
    assert_eq!(sum.counts.duplicated, 0, "{:?}", sum.counts);
}
