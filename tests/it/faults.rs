//! Broker faults through librdkafka's own mock-cluster fault injection, during real runs: request
//! errors, a broker down and back, added round-trip time, non-retriable errors, the idempotent
//! producer, leaders moving between brokers, the sink's Fetch requests failing. Each asserts what the run proves about itself: nothing acknowledged is lost or
//! repeated in the final objects, and what failed is counted.

use crate::common;

use std::path::Path;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::ClientConfig;
use tickbench::config;
use tickbench::io::embedded::{EmbeddedKafka, Fault};
use tickbench::metrics::Stage;
use tickbench::results::Summary;

/// Runs 4 s at 1,000 ticks/s against a mock cluster the test owns, injecting `faults` (each
/// after its delay) once the load is under way: a second of it on the topic.
async fn run_with(topic: &str, extra: &str, faults: Vec<(Duration, Fault)>) -> Summary {
    run_on(1, topic, extra, vec![], faults).await.0
}

/// As `run_with`, on a mock cluster of `brokers` brokers, with the faults `from_start` in force
/// before the load begins; also gives each partition's leader at the end, as the cluster's
/// metadata says.
async fn run_on(
    brokers: i32,
    topic: &str,
    extra: &str,
    from_start: Vec<Fault>,
    faults: Vec<(Duration, Fault)>,
) -> (Summary, Vec<i32>) {
    let tmp = tempfile::tempdir().unwrap();
    let kafka = EmbeddedKafka::start(brokers, topic, 2).unwrap();
    for fault in from_start {
        kafka.inject(fault).unwrap();
    }
    let text = format!(
        r#"
name = "{topic}"
seed = 3
duration = "4s"
[symbols]
count = 100
[rate]
ticks_per_second = 1000
[kafka]
brokers = "{brokers}"
topic = "{topic}"
# The scenario's topic, which the test watches on its own mock cluster.
topic_per_run = false
partitions = 2
[kafka.consumer]
"fetch.wait.max.ms" = "50"
{extra}
[sink]
max_age = "1s"
"#,
        brokers = kafka.bootstrap_servers()
    );
    let s = config::parse(Path::new("faults.toml"), &text).unwrap();
    let kafka = std::sync::Arc::new(kafka);
    let injector = {
        let kafka = kafka.clone();
        let topic = topic.to_string();
        tokio::task::spawn_blocking(move || {
            let probe: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", kafka.bootstrap_servers())
                .create()
                .unwrap();
            let records = || -> i64 {
                (0..2)
                    .filter_map(|p| {
                        probe
                            .fetch_watermarks(&topic, p, Duration::from_secs(5))
                            .ok()
                    })
                    .map(|(_, hi)| hi)
                    .sum()
            };
            while records() < 1000 {
                std::thread::sleep(Duration::from_millis(20));
            }
            for (after, fault) in faults {
                std::thread::sleep(after);
                kafka.inject(fault).unwrap();
            }
        })
    };
    let out = common::run_in(tmp.path(), &s).await.expect("run succeeded");
    injector.await.unwrap();
    let leaders = tokio::task::spawn_blocking({
        let (kafka, topic) = (kafka.clone(), topic.to_string());
        move || {
            let probe: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", kafka.bootstrap_servers())
                .create()
                .unwrap();
            let md = probe
                .fetch_metadata(Some(&topic), Duration::from_secs(5))
                .unwrap();
            md.topics()[0]
                .partitions()
                .iter()
                .map(|p| p.leader())
                .collect()
        }
    })
    .await
    .unwrap();
    (out.summary, leaders)
}

/// The next Produce requests fail with `errors`, as soon as the load is under way.
fn produce_errors(errors: Vec<RDKafkaRespErr>) -> Vec<(Duration, Fault)> {
    vec![(
        Duration::ZERO,
        Fault::RequestErrors {
            api: RDKafkaApiKey::Produce,
            errors,
        },
    )]
}

fn assert_exactly_once(sum: &Summary) {
    let c = &sum.counts;
    assert!(
        sum.passed,
        "{:?}\n{:?}\n{:?}\n{:?}",
        sum.problems, sum.warnings, sum.counts, sum.kafka
    );
    assert_eq!((c.lost, c.duplicated), (0, 0));
    assert_eq!(c.acked + c.delivery_failed, c.produced);
    assert_eq!(c.landed, c.acked, "every acknowledged tick landed once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retriable_produce_errors_are_retried_and_nothing_is_lost() {
    let errors = vec![RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION; 20];
    let sum = run_with("retriable", "", produce_errors(errors)).await;
    assert_exactly_once(&sum);
    assert_eq!(sum.counts.delivery_failed, 0, "retried, not failed");
    assert_eq!(sum.counts.landed, 4000);
    // The faults happened: librdkafka sent the failed requests' messages again.
    assert!(sum.counts.produce_resent >= 20, "{:?}", sum.counts);
}

/// librdkafka's mock cluster, with the idempotent producer and injected NOT_LEADER errors, now
/// and then acknowledges messages it never wrote: the retried batch is answered as a duplicate
/// (librdkafka reports offset -1) of a batch the mock does not have. tickbench must report
/// exactly that: every record in the broker's log landed once, the missing ones are lost, and
/// the summary says how many acknowledgements came without an offset.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_idempotent_producer_under_errors_is_measured_exactly() {
    let errors = vec![RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION; 20];
    let sum = run_with(
        "idempotent",
        "[kafka.producer]\n\"enable.idempotence\" = \"true\"",
        produce_errors(errors),
    )
    .await;
    let c = &sum.counts;
    assert_eq!((c.acked, c.delivery_failed, c.duplicated), (4000, 0, 0));
    let in_log: i64 = sum
        .kafka
        .end_offsets
        .iter()
        .map(|(p, end)| end - sum.kafka.start_offsets[p])
        .sum();
    assert_eq!(c.landed as i64, in_log, "everything in the log landed");
    assert_eq!(
        c.lost as i64,
        4000 - in_log,
        "the rest is what the broker never wrote"
    );
    if c.lost > 0 {
        assert!(!sum.passed);
        let said: u64 = sum
            .warnings
            .iter()
            .filter(|w| w.contains("without an offset"))
            .map(|w| {
                let n = w.split("acknowledged ").nth(1).unwrap();
                n.split(' ').next().unwrap().parse::<u64>().unwrap()
            })
            .sum();
        assert_eq!(said, c.lost, "{:?}", sum.warnings);
    } else {
        assert_exactly_once(&sum);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn non_retriable_errors_are_counted_as_delivery_failures_not_losses() {
    let errors = vec![RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED; 3];
    let sum = run_with("fatal", "", produce_errors(errors)).await;
    assert_exactly_once(&sum);
    assert!(
        sum.counts.delivery_failed > 0,
        "the refused batches are counted: {:?}",
        sum.counts
    );
    assert!(sum.counts.landed < 4000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broker_down_for_two_seconds_delays_but_loses_nothing() {
    let sum = run_with(
        "down",
        "",
        vec![
            (Duration::ZERO, Fault::BrokerDown(1)),
            (Duration::from_secs(2), Fault::BrokerUp(1)),
        ],
    )
    .await;
    assert_exactly_once(&sum);
    assert_eq!(sum.counts.landed, 4000);
    // Ticks sent while the broker was down waited for it: the latency says so.
    assert!(
        sum.stages[&Stage::Produce].max_us >= 1_000_000,
        "{:?}",
        sum.stages[&Stage::Produce]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn added_round_trip_time_shows_in_the_produce_latency() {
    // In force before the first tick: every acknowledgement waits for it, whatever the timing.
    let (sum, _) = run_on(
        1,
        "rtt",
        "",
        vec![Fault::RoundTrip(1, Duration::from_millis(100))],
        vec![],
    )
    .await;
    assert_exactly_once(&sum);
    assert!(
        sum.stages[&Stage::Produce].p50_us >= 100_000,
        "{:?}",
        sum.stages[&Stage::Produce]
    );
}

/// Both partitions' leaders move while the load goes (three brokers): the producer and the sink
/// follow them, the producer resends what the old leader refused, and every tick lands once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leaders_moving_mid_run_lose_nothing() {
    let leader = |partition, broker| Fault::Leader {
        topic: "leaders".into(),
        partition,
        broker,
    };
    let (sum, leaders) = run_on(
        3,
        "leaders",
        "",
        vec![],
        vec![
            (Duration::ZERO, leader(0, 2)),
            (Duration::from_millis(700), leader(1, 3)),
            (Duration::from_millis(700), leader(0, 3)),
        ],
    )
    .await;
    assert_exactly_once(&sum);
    assert_eq!(sum.counts.landed, 4000);
    assert_eq!(leaders, vec![3, 3], "the leaders moved");
}

/// The sink's Fetch requests fail (the leader not known, a timeout, a storage error) while the
/// load goes: the consumer backs off and fetches again from where it was, and every tick lands
/// once. Each error holds the partition back for `fetch.error.backoff.ms` (1 s here), which the
/// ticks consumed after it show.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fetch_errors_delay_the_sink_but_lose_nothing() {
    use RDKafkaRespErr::*;
    let sum = run_with(
        "fetch",
        "\"fetch.error.backoff.ms\" = \"1000\"",
        vec![(
            Duration::ZERO,
            Fault::RequestErrors {
                api: RDKafkaApiKey::Fetch,
                errors: vec![
                    RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
                    RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
                    RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR,
                ],
            },
        )],
    )
    .await;
    assert_exactly_once(&sum);
    assert_eq!(sum.counts.landed, 4000);
    assert!(
        sum.stages[&Stage::KafkaE2e].max_us >= 1_000_000,
        "{:?}",
        sum.stages[&Stage::KafkaE2e]
    );
}

/// Records larger than the producer may send (`message.max.bytes`, as a cluster's limit is
/// matched on the client): each is refused, counted as a failed delivery with librdkafka's reason,
/// and not expected in S3; the run completes and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_over_the_message_size_are_failed_deliveries_not_a_crash() {
    let tmp = tempfile::tempdir().unwrap();
    let text = r#"
name = "oversized"
seed = 5
duration = "2s"
warmup = "0s"
[symbols]
count = 10
[rate]
ticks_per_second = 500
record_size = "2 KiB"
[kafka]
partitions = 1
[kafka.producer]
"message.max.bytes" = "1500"
[kafka.consumer]
"fetch.wait.max.ms" = "50"
[sink]
max_age = "500ms"
"#;
    let s = config::parse(Path::new("oversized.toml"), text).unwrap();
    let out = common::run_in(tmp.path(), &s).await.expect("run finished");
    let c = &out.summary.counts;
    assert_eq!((c.produced, c.delivery_failed), (1000, 1000), "{c:?}");
    assert_eq!((c.acked, c.landed, c.lost, c.duplicated), (0, 0, 0, 0));
    assert!(out.summary.completed, "{:?}", out.summary.failure);
    let expected = common::json(&common::folder(tmp.path(), "oversized"), "expected.json");
    let failed = expected["failed"].as_array().unwrap();
    assert_eq!(failed.len(), 1000);
    let reason = failed[0]["error"].as_str().unwrap();
    assert!(reason.to_lowercase().contains("too large"), "{reason}");
}
