//! doctor's Kafka checks: the brokers answer, and what a run does on a probe topic works.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::FutureRecord;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;

use super::{check, fail, ok, warn, Check, Status, PROBE};
use crate::config::Scenario;
use crate::io::connect::{self, CONNECT_TIMEOUT};
use crate::io::msk_iam::AuthContext;

/// A Kafka error, classified: refused by an ACL or IAM policy, unanswered, or otherwise wrong.
fn kafka_error(what: &str, e: &KafkaError, needs: &str) -> Check {
    let code = e.rdkafka_error_code();
    match code {
        Some(
            c @ (RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::GroupAuthorizationFailed
            | RDKafkaErrorCode::ClusterAuthorizationFailed
            | RDKafkaErrorCode::TransactionalIdAuthorizationFailed
            | RDKafkaErrorCode::SaslAuthenticationFailed
            | RDKafkaErrorCode::Authentication),
        ) => check(
            Status::Denied(format!("{c:?}")),
            format!("kafka: {what} was refused: {e}; {needs}"),
        ),
        Some(
            RDKafkaErrorCode::MessageTimedOut
            | RDKafkaErrorCode::RequestTimedOut
            | RDKafkaErrorCode::OperationTimedOut
            | RDKafkaErrorCode::AllBrokersDown
            | RDKafkaErrorCode::BrokerTransportFailure,
        ) => check(
            Status::Unreachable,
            format!("kafka: {what}: no answer: {e}"),
        ),
        _ => fail(format!("kafka: {what} failed: {e}; {needs}")),
    }
}

pub(super) async fn kafka_checks(brokers: &str, s: &Scenario) -> Vec<Check> {
    let k = &s.kafka;
    if let Err(e) = connect::prepare_auth(k).await {
        return vec![check(
            Status::Denied("credentials".into()),
            format!("kafka: {e:#}"),
        )];
    }
    let cfg = connect::admin_config(brokers, k);
    let probe: BaseConsumer<AuthContext> = match connect::short_lived(&cfg) {
        Ok(p) => p,
        Err(e) => {
            return vec![fail(format!(
                "kafka: cannot create a client for {brokers}: {e:#}"
            ))]
        }
    };
    let topic = k.topic.clone();
    let (probe, md) = tokio::task::spawn_blocking(move || {
        let md = probe
            .fetch_metadata(Some(&topic), CONNECT_TIMEOUT)
            .map(|md| {
                let parts = md
                    .topics()
                    .iter()
                    .find(|t| t.name() == topic && t.error().is_none())
                    .map(|t| t.partitions().len());
                (md.brokers().len(), parts)
            });
        (probe, md)
    })
    .await
    .expect("metadata thread");
    drop(probe);
    let mut out = Vec::new();
    let (broker_count, partitions) = match md {
        Ok(x) => x,
        Err(e) => {
            return vec![check(Status::Unreachable, format!(
                "kafka: {brokers} did not answer within {}s: {e}. Is the broker running and reachable from here? Check kafka.brokers, the listener it advertises, and the security settings (kafka.auth, security.protocol, sasl.*, ssl.ca.location)",
                CONNECT_TIMEOUT.as_secs()
            ))]
        }
    };
    out.push(ok(format!(
        "kafka: {brokers} answered: {broker_count} broker(s) in the cluster"
    )));
    // An observed sink reads kafka.topic itself; a run of its own makes a topic.
    if k.topic_per_run() && s.observe.is_none() {
        // What a run does on its own topic: create it, produce, read back, commit, delete.
        let probe_topic = format!("{}-doctor-{:04x}", k.topic, rand::random::<u16>());
        out.extend(round_trip(brokers, s, &probe_topic, true).await);
    } else {
        match partitions {
            Some(n) => {
                out.push(ok(format!(
                    "kafka: topic {} exists with {n} partitions",
                    k.topic
                )));
                // One probe record in the topic itself: a later run starts past it.
                out.extend(round_trip(brokers, s, &k.topic, false).await);
            }
            None => out.push(can_create_topic(&cfg, s).await),
        }
    }
    out
}

/// Produces one record to `topic` (created first when `create`), reads it back, commits its
/// offset in a group of its own, and removes what it made.
async fn round_trip(brokers: &str, s: &Scenario, topic: &str, create: bool) -> Vec<Check> {
    let k = &s.kafka;
    let mut out = Vec::new();
    let admin: AdminClient<AuthContext> =
        match connect::short_lived(&connect::admin_config(brokers, k)) {
            Ok(a) => a,
            Err(e) => return vec![fail(format!("kafka: cannot create an admin client: {e:#}"))],
        };
    let opts = AdminOptions::new().operation_timeout(Some(CONNECT_TIMEOUT));
    if create {
        let new = NewTopic::new(topic, 1, connect::replication(k));
        let res =
            tokio::time::timeout(CONNECT_TIMEOUT * 2, admin.create_topics([&new], &opts)).await;
        let needs = "a run creates a topic of its own (kafka-cluster:CreateTopic, or the CREATE ACL); or set kafka.topic_per_run = false to use kafka.topic as it is";
        match res {
            Ok(Ok(r)) => match r.into_iter().next() {
                Some(Ok(_)) | None => out.push(ok(format!(
                    "kafka: CreateTopics {topic} (a run makes its own topic, {} partitions)",
                    k.partitions
                ))),
                Some(Err((_, code))) => {
                    out.push(kafka_error(
                        "CreateTopics",
                        &KafkaError::AdminOp(code),
                        needs,
                    ));
                    return out;
                }
            },
            Ok(Err(e)) => {
                out.push(kafka_error("CreateTopics", &e, needs));
                return out;
            }
            Err(_) => {
                out.push(check(Status::Unreachable, format!(
                    "kafka: CreateTopics {topic} got no answer within {}s: the cluster may not create topics on request (librdkafka's mock cluster does not); set kafka.topic_per_run = false",
                    2 * CONNECT_TIMEOUT.as_secs()
                )));
                return out;
            }
        }
    }
    let mut pcfg = connect::producer_config(brokers, k);
    pcfg.set("message.timeout.ms", "10000");
    let produced = match connect::short_lived_producer(&pcfg) {
        Ok(p) => {
            let rec = FutureRecord::to(topic)
                .key("tickbench-doctor")
                .payload(PROBE);
            p.send(rec, CONNECT_TIMEOUT).await.map_err(|(e, _)| e)
        }
        Err(e) => Err(KafkaError::ClientCreation(format!("{e:#}"))),
    };
    let at = match produced {
        Ok(d) => {
            out.push(ok(format!(
                "kafka: produced a probe record to {topic}/{} at offset {} (WriteData)",
                d.partition, d.offset
            )));
            Some((d.partition, d.offset))
        }
        Err(e) => {
            out.push(kafka_error(
                &format!("producing to {topic}"),
                &e,
                "the producer needs kafka-cluster:WriteData (the WRITE ACL) on the topic",
            ));
            None
        }
    };
    if let Some((p, offset)) = at {
        let group = format!("tickbench-doctor-{:04x}", rand::random::<u16>());
        out.push(read_and_commit(brokers, k, topic, &group, p, offset).await);
        if create {
            let _ = admin.delete_groups(&[&group], &opts).await;
        }
    }
    if create {
        match tokio::time::timeout(CONNECT_TIMEOUT * 2, admin.delete_topics(&[topic], &opts)).await {
            Ok(Ok(r)) if r.iter().all(|x| x.is_ok()) => out.push(ok(format!(
                "kafka: DeleteTopics {topic} (a run deletes its own topic unless kafka.keep_topic)"
            ))),
            other => out.push(warn(format!(
                "kafka: the probe topic {topic} could not be deleted ({}); runs' own topics would stay on the cluster (kafka-cluster:DeleteTopic)",
                match other {
                    Ok(Ok(r)) => r
                        .into_iter()
                        .filter_map(|x| x.err())
                        .map(|(_, c)| format!("{c:?}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => "no answer".into(),
                }
            ))),
        }
    }
    out
}

/// Reads the probe back at its offset and commits past it in `group`: what the sink does.
async fn read_and_commit(
    brokers: &str,
    k: &crate::config::Kafka,
    topic: &str,
    group: &str,
    partition: i32,
    offset: i64,
) -> Check {
    let cfg = match connect::consumer_config(brokers, k, group) {
        Ok(c) => c,
        Err(e) => return fail(format!("kafka: {e:#}")),
    };
    let consumer: BaseConsumer<AuthContext> = match connect::short_lived(&cfg) {
        Ok(c) => c,
        Err(e) => return fail(format!("kafka: cannot create a consumer: {e:#}")),
    };
    let (topic, group) = (topic.to_string(), group.to_string());
    tokio::task::spawn_blocking(move || {
        let needs = "the sink needs kafka-cluster:ReadData on the topic and AlterGroup, DescribeGroup on its group (the READ ACLs)";
        let mut tpl = rdkafka::TopicPartitionList::new();
        if let Err(e) = tpl.add_partition_offset(&topic, partition, rdkafka::Offset::Offset(offset)) {
            return fail(format!("kafka: {e}"));
        }
        if let Err(e) = consumer.assign(&tpl) {
            return kafka_error("assigning the probe's partition", &e, needs);
        }
        let deadline = std::time::Instant::now() + CONNECT_TIMEOUT;
        loop {
            match consumer.poll(std::time::Duration::from_millis(200)) {
                Some(Ok(m)) if m.offset() == offset => break,
                Some(Ok(_)) => continue,
                Some(Err(e)) => return kafka_error(&format!("reading {topic}"), &e, needs),
                None if std::time::Instant::now() > deadline => {
                    return fail(format!(
                        "kafka: the probe record at {topic}/{partition}@{offset} was not read back within {}s; {needs}",
                        CONNECT_TIMEOUT.as_secs()
                    ))
                }
                None => {}
            }
        }
        let mut commit = rdkafka::TopicPartitionList::new();
        let _ = commit.add_partition_offset(&topic, partition, rdkafka::Offset::Offset(offset + 1));
        match consumer.commit(&commit, rdkafka::consumer::CommitMode::Sync) {
            Ok(()) => ok(format!(
                "kafka: read the probe back and committed its offset in group {group} (ReadData, AlterGroup)"
            )),
            Err(e) => kafka_error(&format!("committing an offset in group {group}"), &e, needs),
        }
    })
    .await
    .unwrap_or_else(|e| fail(format!("kafka: the read-back probe panicked: {e}")))
}

async fn can_create_topic(cfg: &ClientConfig, s: &Scenario) -> Check {
    let admin: AdminClient<AuthContext> = match connect::short_lived(cfg) {
        Ok(a) => a,
        Err(e) => return fail(format!("kafka: cannot create an admin client: {e:#}")),
    };
    let topic = NewTopic::new(
        &s.kafka.topic,
        s.kafka.partitions as i32,
        connect::replication(&s.kafka),
    );
    let opts = AdminOptions::new()
        .validate_only(true)
        .operation_timeout(Some(CONNECT_TIMEOUT));
    let res = tokio::time::timeout(CONNECT_TIMEOUT * 2, admin.create_topics([&topic], &opts)).await;
    match res {
        Ok(Ok(results)) => match results.into_iter().next() {
            Some(Ok(_)) | None => ok(format!(
                "kafka: topic {} does not exist; the broker accepts creating it with {} partitions (tickbench run will)",
                s.kafka.topic, s.kafka.partitions
            )),
            Some(Err((_, code))) => fail(format!(
                "kafka: topic {} does not exist and creating it was refused: {code}. Create it yourself (kafka-topics.sh --create --topic {} --partitions {}) or grant CREATE on the cluster",
                s.kafka.topic, s.kafka.topic, s.kafka.partitions
            )),
        },
        Ok(Err(e)) => fail(format!(
            "kafka: topic {} does not exist and could not be created: {e}. Create it yourself or grant CREATE",
            s.kafka.topic
        )),
        Err(_) => warn(format!(
            "kafka: topic {} does not exist; the broker did not answer whether it may be created",
            s.kafka.topic
        )),
    }
}
