//! Broker faults through librdkafka's own mock-cluster fault injection, during real runs: request
//! errors, a broker down and back, added round-trip time, non-retriable errors, the idempotent
//! producer. Each asserts what the run proves about itself: nothing acknowledged is lost or
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
    let tmp = tempfile::tempdir().unwrap();
    let kafka = EmbeddedKafka::start(1, topic, 2).unwrap();
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
    out.summary
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
    let sum = run_with(
        "rtt",
        "",
        vec![(
            Duration::ZERO,
            Fault::RoundTrip(1, Duration::from_millis(100)),
        )],
    )
    .await;
    assert_exactly_once(&sum);
    assert!(
        sum.stages[&Stage::Produce].p50_us >= 100_000,
        "{:?}",
        sum.stages[&Stage::Produce]
    );
}
