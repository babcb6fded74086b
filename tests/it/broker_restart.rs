//! A broker restarted under the load, as every MSK patch and rolling upgrade restarts one: tansu
//! with SQLite storage (a process of its own, its log kept across the restart) is SIGKILLed once
//! the load is under way and started again on the same port and file a few seconds later, while
//! `tickbench run`'s producer and sink go on. Each run is audited: nothing acknowledged lost,
//! nothing landed twice by the sink, every partition committed at its end. Without idempotence the
//! producer may have written a retried batch twice: the audit then says so, apart from the sink.
//!
//! A rolling restart, as MSK patches a cluster: two tansu brokers over one PostgreSQL database
//! (tansu's brokers are stateless over a shared store), each SIGKILLed and started again in turn
//! under the load.
//!
//! The broker is built by `scripts/services.sh start` (TICKBENCH_TANSU_PERSISTENT is its path,
//! TICKBENCH_PG_BIN PostgreSQL's programs); each test starts its own brokers and database, on free
//! ports, in folders of their own.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use tickbench::config;
use tickbench::io::embedded::EmbeddedS3;
use tickbench::results::Summary;

/// The test's own tansu: its port, folder, store and process.
struct Broker {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    storage: String,
    child: Option<Child>,
}

/// A free port on the loopback interface.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Broker {
    /// A broker whose log is the SQLite file `tansu.db` in `dir`.
    fn new(dir: &Path) -> Broker {
        Broker::over(dir, "sqlite://tansu.db")
    }

    /// A broker whose log is in `storage` (a URL tansu takes).
    fn over(dir: &Path, storage: &str) -> Broker {
        let bin = std::env::var_os("TICKBENCH_TANSU_PERSISTENT")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                panic!("TICKBENCH_TANSU_PERSISTENT is not set: scripts/services.sh start; source .services/env")
            });
        std::fs::create_dir_all(dir).unwrap();
        Broker {
            bin,
            dir: dir.to_path_buf(),
            port: free_port(),
            storage: storage.to_string(),
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
            .args(["--storage-engine", &self.storage])
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

/// Waits until the 4-partition topic's log holds `at` records; returns how many it holds.
fn wait_for_log(probe: &BaseConsumer, topic: &str, at: i64) -> i64 {
    let guard = std::time::Instant::now();
    loop {
        let records = in_log(probe, topic, 4);
        if records >= at {
            return records;
        }
        assert!(
            guard.elapsed() < common::HANG_GUARD,
            "the load stalled at {records} records"
        );
        std::thread::sleep(Duration::from_millis(20));
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
            let records = wait_for_log(&probe, &topic, 9_000);
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

/// The test's own PostgreSQL: a database cluster in its folder, on a free port, with tansu's
/// schema. Run as the `postgres` user when the test runs as root (initdb refuses root).
struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
}

impl Postgres {
    fn start(dir: &Path) -> Postgres {
        let bin = std::env::var_os("TICKBENCH_PG_BIN")
            .filter(|b| !b.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                panic!(
                    "TICKBENCH_PG_BIN is not set: scripts/services.sh start; source .services/env"
                )
            });
        std::fs::create_dir_all(dir).unwrap();
        let pg = Postgres {
            bin,
            data: dir.join("data"),
            port: free_port(),
        };
        if Self::as_root() {
            // The test's temporary folders are root's: postgres must reach and own its own.
            let mut p = dir.to_path_buf();
            while p.pop() && p != Path::new("/") {
                let _ = Command::new("chmod").arg("o+x").arg(&p).status();
            }
            let mut chown = Command::new("chown");
            chown.args(["-R", "postgres"]).arg(dir);
            Self::ok(chown, "chown");
        }
        let mut init = pg.owner("initdb");
        init.arg("-D")
            .arg(&pg.data)
            .args(["-U", "tickbench", "--auth=trust", "-E", "UTF8"]);
        Self::ok(init, "initdb");
        let mut start = pg.owner("pg_ctl");
        start
            .arg("-D")
            .arg(&pg.data)
            .arg("-l")
            .arg(dir.join("postgres.log"))
            .arg("-o")
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1",
                pg.port,
                dir.display()
            ))
            .args(["-w", "start"]);
        Self::ok(start, "pg_ctl start");
        // tansu's schema for PostgreSQL (its etc/initdb.d/010-schema.sql at v0.6.0, Apache-2.0).
        let schema = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/tansu-0.6.0-postgres-schema.sql");
        let mut psql = Command::new(pg.bin.join("psql"));
        psql.args(["-h", "127.0.0.1", "-p", &pg.port.to_string()])
            .args(["-U", "tickbench", "-d", "postgres"])
            .args(["-v", "ON_ERROR_STOP=1", "-q", "-f"])
            .arg(schema);
        Self::ok(psql, "tansu's schema");
        pg
    }

    fn as_root() -> bool {
        // SAFETY: geteuid has no preconditions and cannot fail.
        unsafe { libc::geteuid() == 0 }
    }

    /// One of PostgreSQL's programs, run as the owner of the data folder.
    fn owner(&self, program: &str) -> Command {
        if Self::as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(self.bin.join(program));
            c
        } else {
            Command::new(self.bin.join(program))
        }
    }

    fn ok(mut c: Command, what: &str) {
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{what}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The URL tansu's `--storage-engine` takes.
    fn url(&self) -> String {
        format!("postgres://tickbench@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let mut stop = self.owner("pg_ctl");
        let _ = stop
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .output();
    }
}

/// Two brokers bootstrapped together under 16 s at 3,000 ticks/s over 4 partitions, idempotent
/// producer: the first SIGKILLed once 9,000 records are in the log, the second once 27,000 are,
/// each started again 3 s later on its port and store. `stores` gives each broker's store.
async fn run_with_a_rolling_restart(stores: [String; 2], tmp: &Path) -> Summary {
    common::use_embedded_s3_keys();
    let s3 = EmbeddedS3::start(&tmp.join("s3")).await.unwrap();
    let [a, b] = stores;
    let mut brokers = [
        Broker::over(&tmp.join("broker-a"), &a),
        Broker::over(&tmp.join("broker-b"), &b),
    ];
    for b in &mut brokers {
        b.start();
    }
    let bootstrap = format!("{},{}", brokers[0].address(), brokers[1].address());
    let topic = common::unique("rolling");
    let text = format!(
        r#"
name = "rolling"
seed = 6
duration = "16s"
warmup = "0s"
[symbols]
count = 500
[rate]
ticks_per_second = 3000
[kafka]
brokers = "{bootstrap}"
topic = "{topic}"
topic_per_run = false
partitions = 4
[kafka.producer]
"enable.idempotence" = "true"
[kafka.consumer]
"fetch.wait.max.ms" = "50"
[sink]
max_age = "1s"
[s3]
endpoint = "{endpoint}"
bucket = "rolling"
create_bucket = true
"#,
        endpoint = s3.endpoint()
    );
    let s = config::parse(Path::new("rolling.toml"), &text).unwrap();
    let restarts = {
        let (topic, bootstrap) = (topic.clone(), bootstrap.clone());
        tokio::task::spawn_blocking(move || {
            let probe: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &bootstrap)
                .create()
                .unwrap();
            let mut killed_at = Vec::new();
            for (i, at) in [9_000, 27_000].into_iter().enumerate() {
                let records = wait_for_log(&probe, &topic, at);
                brokers[i].kill();
                // The outage of one broker (a fault, not a wait for an outcome).
                std::thread::sleep(Duration::from_secs(3));
                brokers[i].start();
                killed_at.push(records);
            }
            (brokers, killed_at)
        })
    };
    let out = common::run_in(&tmp.join("results"), &s)
        .await
        .expect("the run finished");
    let (brokers, killed_at) = restarts.await.unwrap();
    for b in &brokers {
        eprintln!("--- broker {}\n{}", b.address(), b.log());
    }
    let sum = out.summary;
    let end: i64 = sum.kafka.end_offsets.values().sum();
    // Both faults happened mid-load: records reached the log after the second restart.
    assert!(
        end > killed_at[1],
        "the second broker was killed at {} records, after the load's last ({end})",
        killed_at[1]
    );
    sum
}

#[ignore = "needs tansu with PostgreSQL storage and PostgreSQL 16: scripts/services.sh start; source .services/env"]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_restart_of_two_brokers_over_one_store_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let pg = Postgres::start(&tmp.path().join("postgres"));
    let sum = run_with_a_rolling_restart([pg.url(), pg.url()], tmp.path()).await;
    assert_nothing_lost_or_landed_twice(&sum);
    assert_eq!(sum.counts.duplicated, 0, "{:?}", sum.counts);
}
