//! `tickbench doctor SCENARIO`: checks, before a run, that the brokers answer, the topic exists or
//! may be created, and the bucket takes what the sink will do to it (put, multipart, list). Each
//! check says plainly what is wrong and how to fix it.

use std::fmt;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::FutureRecord;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::ClientConfig;

use crate::config::Scenario;
use crate::io::connect::{self, CONNECT_TIMEOUT};
use crate::io::msk_iam::AuthContext;

/// One check's outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Ok,
    Warn,
    /// The service answered and refused: the credentials lack a permission (the AWS or Kafka
    /// error code says which).
    Denied(String),
    /// The service did not answer (connection refused, no such host, timeout).
    Unreachable,
    Fail,
}

impl Status {
    /// A run would fail on it.
    pub fn is_failure(&self) -> bool {
        matches!(self, Status::Denied(_) | Status::Unreachable | Status::Fail)
    }
}

#[derive(Debug, Clone)]
pub struct Check {
    pub status: Status,
    pub what: String,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.status {
            Status::Ok => write!(f, "ok           {}", self.what),
            Status::Warn => write!(f, "warn         {}", self.what),
            Status::Denied(code) => write!(f, "DENIED       {} [{code}]", self.what),
            Status::Unreachable => write!(f, "UNREACHABLE  {}", self.what),
            Status::Fail => write!(f, "FAIL         {}", self.what),
        }
    }
}

fn check(status: Status, what: impl Into<String>) -> Check {
    Check {
        status,
        what: what.into(),
    }
}

fn ok(what: impl Into<String>) -> Check {
    check(Status::Ok, what)
}

fn warn(what: impl Into<String>) -> Check {
    check(Status::Warn, what)
}

fn fail(what: impl Into<String>) -> Check {
    check(Status::Fail, what)
}

/// An S3 request's failure, classified: refused (AccessDenied and its kin, or a bare 403),
/// unanswered, or otherwise wrong.
fn s3_error<E>(what: &str, e: &SdkError<E, HttpResponse>, needs: &str) -> Check
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let detail = DisplayErrorContext(e);
    match e {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => check(
            Status::Unreachable,
            format!("s3: {what}: S3 did not answer: {detail}"),
        ),
        _ => {
            let status = e.raw_response().map(|r| r.status().as_u16());
            match (e.code(), status) {
                (
                    Some(
                        code @ ("AccessDenied"
                        | "AllAccessDisabled"
                        | "InvalidAccessKeyId"
                        | "SignatureDoesNotMatch"
                        | "AccountProblem"),
                    ),
                    _,
                ) => check(
                    Status::Denied(code.to_string()),
                    format!("s3: {what} was refused; {needs}"),
                ),
                (_, Some(403)) => check(
                    Status::Denied("403 Forbidden".into()),
                    format!("s3: {what} was refused; {needs}"),
                ),
                _ => fail(format!("s3: {what} failed: {detail}; {needs}")),
            }
        }
    }
}

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

/// Runs every check that applies to the scenario; `report` is called as each one finishes.
pub async fn run(s: &Scenario, mut report: impl FnMut(&Check)) -> Vec<Check> {
    let mut out = Vec::new();
    let mut push = |c: Check| {
        report(&c);
        out.push(c);
    };
    match &s.kafka.brokers {
        None => push(ok(
            "kafka: no brokers named; `tickbench run` starts librdkafka's mock cluster in-process",
        )),
        Some(brokers) => {
            for c in kafka_checks(brokers, s).await {
                push(c);
            }
        }
    }
    if s.s3.is_embedded() {
        push(ok(
            "s3: no endpoint or bucket named; `tickbench run` starts the in-process S3 server",
        ));
    } else {
        for c in s3_checks(s).await {
            push(c);
        }
    }
    out
}

async fn kafka_checks(brokers: &str, s: &Scenario) -> Vec<Check> {
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

/// HeadObject and GetObject of the probe: the audit reads every landed object back.
async fn read_back_checks(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    prefix: &str,
) -> Vec<Check> {
    let needs = |op: &str| {
        format!("the audit reads every landed object back: it needs s3:{op} on {bucket}/{prefix}*")
    };
    let head = match client.head_object().bucket(bucket).key(key).send().await {
        Ok(_) => ok("s3: HeadObject of the probe"),
        Err(e) => s3_error("HeadObject of the probe", &e, &needs("GetObject")),
    };
    let get = match client.get_object().bucket(bucket).key(key).send().await {
        Ok(o) => match o.body.collect().await.map(|b| b.into_bytes()) {
            Ok(b) if b.as_ref() == PROBE => {
                ok("s3: GetObject of the probe, the same bytes (the audit reads back through it)")
            }
            Ok(_) => fail(format!(
                "s3: GetObject of the probe returned other bytes than were put; {}",
                needs("GetObject")
            )),
            Err(e) => fail(format!("s3: reading the probe's body failed: {e}")),
        },
        Err(e) => s3_error("GetObject of the probe", &e, &needs("GetObject")),
    };
    vec![head, get]
}

/// What the probe object holds.
const PROBE: &[u8] = b"tickbench doctor probe\n";

async fn s3_checks(s: &Scenario) -> Vec<Check> {
    let client = connect::s3_client(&s.s3, None).await;
    let bucket = s.s3.bucket_name();
    let at =
        s.s3.endpoint
            .clone()
            .unwrap_or_else(|| "AWS S3".to_string());
    let mut out = Vec::new();
    let head =
        tokio::time::timeout(CONNECT_TIMEOUT, client.head_bucket().bucket(bucket).send()).await;
    match head {
        Err(_) => {
            out.push(check(
                Status::Unreachable,
                format!(
                    "s3: {at} did not answer within {}s (check s3.endpoint and the network)",
                    CONNECT_TIMEOUT.as_secs()
                ),
            ));
            return out;
        }
        Ok(Ok(_)) => out.push(ok(format!("s3: bucket {bucket} at {at} is reachable"))),
        Ok(Err(e)) => {
            let status = e.raw_response().map(|r| r.status().as_u16());
            let msg = match status {
                Some(404) if s.s3.create_bucket => {
                    out.push(ok(format!(
                        "s3: bucket {bucket} does not exist at {at}; s3.create_bucket = true, so tickbench run will create it"
                    )));
                    return out;
                }
                Some(404) => format!(
                    "s3: bucket {bucket} does not exist at {at}. Create it (aws s3 mb s3://{bucket}) or set s3.create_bucket = true"
                ),
                Some(403) => {
                    out.push(check(Status::Denied("403 Forbidden".into()), format!(
                        "s3: HeadBucket {bucket} at {at} was refused: the credentials the AWS config chain found lack s3:ListBucket on it, or the bucket belongs to another account"
                    )));
                    return out;
                }
                Some(301) => format!(
                    "s3: bucket {bucket} is in another region than {:?}; set s3.region",
                    s.s3.region.as_deref().unwrap_or("the configured one")
                ),
                _ => {
                    out.push(s3_error(
                        &format!("HeadBucket {bucket} at {at}"),
                        &e,
                        "check s3.endpoint, s3.region and the credentials",
                    ));
                    return out;
                }
            };
            out.push(fail(msg));
            return out;
        }
    }
    let probe_key = format!(
        "{}_tickbench_doctor/{}.txt",
        if s.s3.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", s.s3.prefix)
        },
        crate::metrics::now_ns()
    );
    match client
        .put_object()
        .bucket(bucket)
        .key(&probe_key)
        .body(ByteStream::from_static(PROBE))
        .send()
        .await
    {
        Ok(_) => {
            out.push(ok(format!("s3: PutObject s3://{bucket}/{probe_key}")));
            out.extend(read_back_checks(&client, bucket, &probe_key, &s.s3.prefix).await);
            match client.delete_object().bucket(bucket).key(&probe_key).send().await {
                Ok(_) => out.push(ok("s3: DeleteObject of the probe")),
                Err(e) => out.push(warn(format!(
                    "s3: could not delete the probe object s3://{bucket}/{probe_key} ({}); `tickbench compact` needs s3:DeleteObject, runs do not",
                    e.code().unwrap_or("error")
                ))),
            }
        }
        Err(e) => out.push(s3_error(
            &format!("PutObject to s3://{bucket}/{probe_key}"),
            &e,
            &format!("the sink needs s3:PutObject on {bucket}/{}*", s.s3.prefix),
        )),
    }
    out.push(multipart_check(&client, bucket, &probe_key).await);
    match client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(&s.s3.prefix)
        .max_keys(1)
        .send()
        .await
    {
        Ok(_) => out.push(ok(format!(
            "s3: ListObjectsV2 under {:?} (the audit reads back through it)",
            s.s3.prefix
        ))),
        Err(e) => out.push(s3_error(
            &format!("ListObjectsV2 on {bucket}"),
            &e,
            "the audit needs s3:ListBucket",
        )),
    }
    out
}

async fn multipart_check(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Check {
    let created = match client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
    {
        Ok(c) => c,
        Err(e) => return s3_error(
            "CreateMultipartUpload",
            &e,
            "batches larger than a part need multipart uploads (s3:PutObject covers them on AWS)",
        ),
    };
    let id = created.upload_id().unwrap_or_default();
    let part = client
        .upload_part()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .part_number(1)
        .body(ByteStream::from_static(b"probe"))
        .send()
        .await;
    let abort = client
        .abort_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(id)
        .send()
        .await;
    match (part, abort) {
        (Ok(_), Ok(_)) => ok("s3: CreateMultipartUpload, UploadPart, AbortMultipartUpload"),
        (Err(e), _) => s3_error("UploadPart", &e, "multipart uploads need s3:PutObject"),
        (Ok(_), Err(e)) => s3_error(
            "AbortMultipartUpload",
            &e,
            "without it a failed upload leaves billed parts behind (s3:AbortMultipartUpload)",
        ),
    }
}
