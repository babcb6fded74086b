//! `tickbench doctor SCENARIO`: checks, before a run, that the brokers answer, the topic exists or
//! may be created, and the bucket takes what the sink will do to it (put, multipart, list). Each
//! check says plainly what is wrong and how to fix it.

use std::fmt;

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_s3::primitives::ByteStream;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

use crate::config::Scenario;
use crate::io::connect::{self, CONNECT_TIMEOUT};

/// One check's outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Clone)]
pub struct Check {
    pub status: Status,
    pub what: String,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.status {
            Status::Ok => "ok  ",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
        };
        write!(f, "{tag}  {}", self.what)
    }
}

fn ok(what: impl Into<String>) -> Check {
    Check {
        status: Status::Ok,
        what: what.into(),
    }
}

fn warn(what: impl Into<String>) -> Check {
    Check {
        status: Status::Warn,
        what: what.into(),
    }
}

fn fail(what: impl Into<String>) -> Check {
    Check {
        status: Status::Fail,
        what: what.into(),
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
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", brokers);
    for (k, v) in &s.kafka.client {
        cfg.set(k, v);
    }
    let probe: BaseConsumer = match cfg.create() {
        Ok(p) => p,
        Err(e) => {
            return vec![fail(format!(
                "kafka: cannot create a client for {brokers}: {e}"
            ))]
        }
    };
    let topic = s.kafka.topic.clone();
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
            return vec![fail(format!(
                "kafka: {brokers} did not answer within {}s: {e}. Is the broker running and reachable from here? Check kafka.brokers, the listener it advertises, and kafka.client security settings (security.protocol, sasl.*, ssl.ca.location)",
                CONNECT_TIMEOUT.as_secs()
            ))]
        }
    };
    out.push(ok(format!(
        "kafka: {brokers} answered: {broker_count} broker(s) in the cluster"
    )));
    match partitions {
        Some(n) => out.push(ok(format!(
            "kafka: topic {} exists with {n} partitions",
            s.kafka.topic
        ))),
        None => out.push(can_create_topic(&cfg, s).await),
    }
    out
}

async fn can_create_topic(cfg: &ClientConfig, s: &Scenario) -> Check {
    let admin: AdminClient<DefaultClientContext> = match cfg.create() {
        Ok(a) => a,
        Err(e) => return fail(format!("kafka: cannot create an admin client: {e}")),
    };
    let topic = NewTopic::new(
        &s.kafka.topic,
        s.kafka.partitions as i32,
        TopicReplication::Fixed(-1),
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
async fn read_back_check(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    prefix: &str,
) -> Check {
    let needs = format!(
        "the audit reads every landed object back: it needs s3:GetObject on {bucket}/{prefix}*"
    );
    if let Err(e) = client.head_object().bucket(bucket).key(key).send().await {
        return fail(format!(
            "s3: HeadObject of the probe failed: {}; {needs}",
            DisplayErrorContext(&e)
        ));
    }
    match client.get_object().bucket(bucket).key(key).send().await {
        Ok(o) => match o.body.collect().await.map(|b| b.into_bytes()) {
            Ok(b) if b.as_ref() == PROBE => {
                ok("s3: HeadObject and GetObject of the probe (the audit reads back through them)")
            }
            Ok(_) => fail(format!(
                "s3: GetObject of the probe returned other bytes than were put; {needs}"
            )),
            Err(e) => fail(format!("s3: reading the probe's body failed: {e}; {needs}")),
        },
        Err(e) => fail(format!(
            "s3: GetObject of the probe failed: {}; {needs}",
            DisplayErrorContext(&e)
        )),
    }
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
            out.push(fail(format!(
                "s3: {at} did not answer within {}s (check s3.endpoint and the network)",
                CONNECT_TIMEOUT.as_secs()
            )));
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
                Some(403) => format!(
                    "s3: access to bucket {bucket} at {at} is denied: the credentials the AWS config chain found lack s3:ListBucket on it, or the bucket belongs to another account"
                ),
                Some(301) => format!(
                    "s3: bucket {bucket} is in another region than {:?}; set s3.region",
                    s.s3.region.as_deref().unwrap_or("the configured one")
                ),
                _ => format!("s3: bucket {bucket} at {at}: {}", DisplayErrorContext(&e)),
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
            out.push(read_back_check(&client, bucket, &probe_key, &s.s3.prefix).await);
            match client.delete_object().bucket(bucket).key(&probe_key).send().await {
                Ok(_) => out.push(ok("s3: DeleteObject of the probe")),
                Err(e) => out.push(warn(format!(
                    "s3: could not delete the probe object s3://{bucket}/{probe_key} ({}); the sink never deletes, so runs are unaffected",
                    e.code().unwrap_or("error")
                ))),
            }
        }
        Err(e) => out.push(fail(format!(
            "s3: PutObject to s3://{bucket}/{probe_key} failed: {}. The sink needs s3:PutObject on {bucket}/{}*",
            DisplayErrorContext(&e),
            s.s3.prefix
        ))),
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
        Err(e) => out.push(fail(format!(
            "s3: ListObjectsV2 on {bucket} failed: {}. The audit needs s3:ListBucket",
            DisplayErrorContext(&e)
        ))),
    }
    out
}

async fn multipart_check(client: &aws_sdk_s3::Client, bucket: &str, key: &str) -> Check {
    let created = match client.create_multipart_upload().bucket(bucket).key(key).send().await {
        Ok(c) => c,
        Err(e) => {
            return fail(format!(
                "s3: CreateMultipartUpload failed: {}. Batches larger than a part need multipart uploads (s3:PutObject covers them on AWS)",
                DisplayErrorContext(&e)
            ))
        }
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
        (Err(e), _) => fail(format!("s3: UploadPart failed: {}", DisplayErrorContext(&e))),
        (Ok(_), Err(e)) => fail(format!(
            "s3: AbortMultipartUpload failed: {}. Without it a failed upload leaves billed parts behind (s3:AbortMultipartUpload)",
            DisplayErrorContext(&e)
        )),
    }
}
