//! Building and checking the Kafka and S3 clients. Both fail fast with a clear message when the
//! service is unreachable, instead of hanging in retries.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::Client;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, NativeClient};
use rdkafka::config::{ClientConfig, FromClientConfigAndContext};
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::config::{Kafka, KafkaAuth, S3};
use crate::io::msk_iam::{self, AuthContext};

/// How long a reachability check may take before the run fails.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Client properties: tickbench's defaults, then `[kafka.client]`, then the role's own map.
fn client_config(
    brokers: &str,
    k: &Kafka,
    role: &BTreeMap<String, String>,
    defaults: &[(&str, &str)],
) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers);
    for (key, v) in defaults {
        c.set(*key, *v);
    }
    if k.auth == Some(KafkaAuth::MskIam) {
        c.set("security.protocol", "SASL_SSL");
        c.set("sasl.mechanism", "OAUTHBEARER");
    }
    for (key, v) in k.client.iter().chain(role) {
        c.set(key, v);
    }
    if k.auth == Some(KafkaAuth::MskIam) {
        c.set("sasl.oauthbearer.config", msk_iam::config_string(k));
    }
    c
}

/// Properties of a client with no role of its own (metadata, admin).
pub fn admin_config(brokers: &str, k: &Kafka) -> ClientConfig {
    client_config(brokers, k, &BTreeMap::new(), &[])
}

/// A short-lived client (metadata, offsets, admin) that can authenticate with MSK IAM.
pub fn short_lived<T>(cfg: &ClientConfig) -> anyhow::Result<T>
where
    T: FromClientConfigAndContext<AuthContext> + HasNative,
{
    let c: T = cfg
        .create_with_context(AuthContext)
        .context("creating a Kafka client")?;
    msk_iam::prime(c.native(), cfg)?;
    Ok(c)
}

/// A producer for a probe (doctor): MSK IAM signs for it as for the others.
pub fn short_lived_producer(
    cfg: &ClientConfig,
) -> anyhow::Result<rdkafka::producer::FutureProducer<AuthContext>> {
    let p: rdkafka::producer::FutureProducer<AuthContext> = cfg
        .create_with_context(AuthContext)
        .context("creating a Kafka producer")?;
    msk_iam::prime(rdkafka::producer::Producer::client(&p).native_client(), cfg)?;
    Ok(p)
}

/// The librdkafka handle of a client, for [`msk_iam::prime`].
pub trait HasNative {
    fn native(&self) -> &NativeClient;
}

impl<C: rdkafka::consumer::ConsumerContext> HasNative for BaseConsumer<C> {
    fn native(&self) -> &NativeClient {
        self.client().native_client()
    }
}

impl<C: ClientContext> HasNative for AdminClient<C> {
    fn native(&self) -> &NativeClient {
        self.inner().native_client()
    }
}

/// The scenario's Kafka credentials, loaded before any client is built (MSK IAM; nothing else
/// needs loading).
pub async fn prepare_auth(k: &Kafka) -> anyhow::Result<()> {
    msk_iam::prepare(k).await
}

pub fn producer_config(brokers: &str, k: &Kafka) -> ClientConfig {
    client_config(
        brokers,
        k,
        &k.producer,
        &[
            ("client.id", "tickbench-producer"),
            ("linger.ms", "5"),
            ("queue.buffering.max.messages", "1000000"),
            // Bounds how long an undeliverable tick is retried before it counts as failed.
            ("message.timeout.ms", "30000"),
            // librdkafka's statistics show the messages it sent again (`produce_resent`).
            ("statistics.interval.ms", "1000"),
        ],
    )
}

pub fn consumer_config(brokers: &str, k: &Kafka, group_id: &str) -> anyhow::Result<ClientConfig> {
    for key in ["enable.auto.commit", "enable.auto.offset.store"] {
        if k.consumer.get(key).is_some_and(|v| v != "false") {
            bail!(
                "kafka.consumer.\"{key}\" must be false or absent: the sink commits an offset only after the S3 object holding its record is durable"
            );
        }
    }
    let mut c = client_config(
        brokers,
        k,
        &k.consumer,
        &[
            ("client.id", "tickbench-sink"),
            ("auto.offset.reset", "earliest"),
            ("session.timeout.ms", "10000"),
        ],
    );
    c.set("group.id", group_id);
    c.set("enable.auto.commit", "false");
    c.set("enable.auto.offset.store", "false");
    Ok(c)
}

/// Checks the brokers answer, creates the topic if it is missing, and returns its partition ids.
pub async fn prepare_topic(brokers: &str, k: &Kafka) -> anyhow::Result<Vec<i32>> {
    prepare_auth(k).await?;
    let probe_cfg = client_config(brokers, k, &BTreeMap::new(), &[]);
    let probe: BaseConsumer<AuthContext> = short_lived(&probe_cfg)?;
    let topic = k.topic.clone();
    let (probe, partitions) = tokio::task::spawn_blocking(move || {
        let md = probe.fetch_metadata(Some(&topic), CONNECT_TIMEOUT);
        let parts = md.map(|md| {
            md.topics()
                .iter()
                .find(|t| t.name() == topic && t.error().is_none())
                .map(|t| t.partitions().iter().map(|p| p.id()).collect::<Vec<_>>())
                .unwrap_or_default()
        });
        (probe, parts)
    })
    .await?;
    drop(probe);
    let partitions = partitions.map_err(|e| {
        anyhow!(
            "cannot reach Kafka at {brokers} within {}s: {e} (check kafka.brokers and kafka.client security settings)",
            CONNECT_TIMEOUT.as_secs()
        )
    })?;
    if !partitions.is_empty() {
        return Ok(sorted(partitions));
    }
    let admin: AdminClient<AuthContext> =
        short_lived(&client_config(brokers, k, &BTreeMap::new(), &[]))?;
    let new = NewTopic::new(&k.topic, k.partitions as i32, replication(k));
    let opts = AdminOptions::new().operation_timeout(Some(CONNECT_TIMEOUT));
    let res = tokio::time::timeout(CONNECT_TIMEOUT * 2, admin.create_topics([&new], &opts))
        .await
        .map_err(|_| anyhow!("creating topic {} on {brokers} timed out: does the cluster create topics on request? (librdkafka's mock cluster behind `tickbench up` does not: name its topic with --topic, or set kafka.topic_per_run = false)", k.topic))??;
    for r in res {
        if let Err((name, code)) = r {
            if code != rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists {
                bail!("creating topic {name} on {brokers}: {code}");
            }
        }
    }
    Ok((0..k.partitions as i32).collect())
}

/// The scenario's replication factor, or the cluster's default (-1).
pub fn replication(k: &Kafka) -> TopicReplication<'static> {
    TopicReplication::Fixed(k.replication_factor.map(i32::from).unwrap_or(-1))
}

/// Deletes a run's own topic and, when tickbench named it, its consumer group: what a run made
/// for itself on a shared cluster does not outlive it.
pub async fn delete_run_topic(brokers: &str, k: &Kafka, group: Option<&str>) -> anyhow::Result<()> {
    let admin: AdminClient<AuthContext> =
        short_lived(&client_config(brokers, k, &BTreeMap::new(), &[]))?;
    let opts = AdminOptions::new().operation_timeout(Some(CONNECT_TIMEOUT));
    if let Some(g) = group {
        let res = tokio::time::timeout(CONNECT_TIMEOUT * 2, admin.delete_groups(&[g], &opts))
            .await
            .map_err(|_| anyhow!("deleting consumer group {g} timed out"))??;
        for r in res {
            if let Err((name, code)) = r {
                bail!("deleting consumer group {name}: {code}");
            }
        }
    }
    let res = tokio::time::timeout(CONNECT_TIMEOUT * 2, admin.delete_topics(&[&k.topic], &opts))
        .await
        .map_err(|_| anyhow!("deleting topic {} timed out", k.topic))??;
    for r in res {
        if let Err((name, code)) = r {
            bail!("deleting topic {name}: {code}");
        }
    }
    Ok(())
}

fn sorted(mut v: Vec<i32>) -> Vec<i32> {
    v.sort_unstable();
    v
}

/// High watermarks (next offset to be written) of every partition.
pub async fn high_watermarks(
    cfg: &ClientConfig,
    topic: &str,
    partitions: &[i32],
) -> anyhow::Result<BTreeMap<i32, i64>> {
    let consumer: BaseConsumer<AuthContext> = short_lived(cfg)?;
    let topic = topic.to_string();
    let partitions = partitions.to_vec();
    tokio::task::spawn_blocking(move || {
        let mut out = BTreeMap::new();
        for p in partitions {
            let (_, high) = consumer
                .fetch_watermarks(&topic, p, CONNECT_TIMEOUT)
                .with_context(|| format!("fetching watermarks of {topic}/{p}"))?;
            out.insert(p, high);
        }
        Ok(out)
    })
    .await?
}

/// The offsets `group_id` has committed on `partitions` of the scenario's topic (partitions
/// without a commit are left out).
pub async fn committed_offsets(
    brokers: &str,
    k: &Kafka,
    group_id: &str,
    partitions: &[i32],
) -> anyhow::Result<BTreeMap<i32, i64>> {
    let consumer: BaseConsumer<AuthContext> = short_lived(&consumer_config(brokers, k, group_id)?)?;
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in partitions {
        tpl.add_partition(&k.topic, *p);
    }
    let group = group_id.to_string();
    tokio::task::spawn_blocking(move || {
        let got = consumer.committed_offsets(tpl, CONNECT_TIMEOUT)?;
        Ok::<_, rdkafka::error::KafkaError>(
            got.elements()
                .iter()
                .filter_map(|e| match e.offset() {
                    rdkafka::Offset::Offset(o) => Some((e.partition(), o)),
                    _ => None,
                })
                .collect(),
        )
    })
    .await?
    .with_context(|| format!("reading the committed offsets of group {group}"))
}

/// Per partition, the first offset whose record's timestamp is at or after `ts_ms` (ms since the
/// epoch), or the high watermark where the broker found none; and the partitions of the latter.
pub async fn offsets_for_time(
    cfg: &ClientConfig,
    topic: &str,
    partitions: &[i32],
    ts_ms: i64,
) -> anyhow::Result<(BTreeMap<i32, i64>, Vec<i32>)> {
    let consumer: BaseConsumer<AuthContext> = short_lived(cfg)?;
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in partitions {
        tpl.add_partition_offset(topic, *p, rdkafka::Offset::Offset(ts_ms))?;
    }
    let found = tokio::task::spawn_blocking(move || {
        let r = consumer.offsets_for_times(tpl, CONNECT_TIMEOUT);
        (consumer, r)
    })
    .await?;
    let found = found
        .1
        .with_context(|| format!("looking up the offsets of {topic} at time {ts_ms} ms"))?;
    let mut out = BTreeMap::new();
    let mut none = Vec::new();
    for e in found.elements() {
        match e.offset() {
            rdkafka::Offset::Offset(o) => {
                out.insert(e.partition(), o);
            }
            _ => none.push(e.partition()),
        }
    }
    out.extend(high_watermarks(cfg, topic, &none).await?);
    Ok((out, none))
}

/// Commits `offsets` for `group_id` (a group with no members yet), so its first member starts there.
pub async fn commit_offsets(
    brokers: &str,
    k: &Kafka,
    group_id: &str,
    offsets: &BTreeMap<i32, i64>,
) -> anyhow::Result<()> {
    let consumer: BaseConsumer<AuthContext> = short_lived(&consumer_config(brokers, k, group_id)?)?;
    let mut tpl = rdkafka::TopicPartitionList::new();
    for (p, o) in offsets {
        tpl.add_partition_offset(&k.topic, *p, rdkafka::Offset::Offset(*o))?;
    }
    let group = group_id.to_string();
    tokio::task::spawn_blocking(move || {
        let res = consumer.commit(&tpl, rdkafka::consumer::CommitMode::Sync);
        drop(tpl);
        drop(consumer);
        res
    })
    .await?
    .with_context(|| format!("committing the start offsets of group {group}"))
}

/// An S3 client for the scenario: the embedded server (static dummy credentials, path style), an
/// S3-compatible endpoint, or AWS itself, with credentials and region from the AWS config chain.
pub async fn s3_client(s3: &S3, embedded_endpoint: Option<&str>) -> Client {
    let retry = RetryConfig::standard().with_max_attempts(s3.max_attempts.max(1));
    let timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(120))
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry)
        .timeout_config(timeouts);
    if let Some(p) = &s3.profile {
        loader = loader.profile_name(p);
    }
    if let Some(r) = &s3.region {
        loader = loader.region(Region::new(r.clone()));
    }
    if embedded_endpoint.is_some() {
        // The embedded server has its own key pair; the user's real keys are never sent to it.
        loader = loader
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                crate::io::embedded::S3_ACCESS_KEY,
                crate::io::embedded::S3_SECRET_KEY,
                None,
                None,
                "tickbench-embedded",
            ))
            .region(Region::new("us-east-1"));
    }
    let shared = loader.load().await;
    let mut b = aws_sdk_s3::config::Builder::from(&shared);
    if shared.region().is_none() {
        b = b.region(Region::new("us-east-1"));
    }
    let endpoint = embedded_endpoint
        .map(str::to_string)
        .or_else(|| s3.endpoint.clone());
    if let Some(e) = &endpoint {
        b = b.endpoint_url(e);
    }
    b = b.force_path_style(s3.force_path_style.unwrap_or(endpoint.is_some()));
    Client::from_conf(b.build())
}

/// What CreateBucket must say outside us-east-1: the bucket's region, as its LocationConstraint
/// (AWS refuses a request without it anywhere else; us-east-1 refuses one that names itself).
pub fn bucket_configuration(
    region: Option<&str>,
) -> Option<aws_sdk_s3::types::CreateBucketConfiguration> {
    let region = region.filter(|r| *r != "us-east-1")?;
    Some(
        aws_sdk_s3::types::CreateBucketConfiguration::builder()
            .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(region))
            .build(),
    )
}

/// Whether the sink's writes go with `If-None-Match: *` (`s3.conditional_writes`). `auto` asks the
/// bucket: a probe object written twice under the prefix, the second time with the condition,
/// must be refused with 412; then it is deleted. A server that ignores the header (an older
/// S3-compatible one) answers 200 and the sink falls back to the group's generation alone.
pub async fn conditional_writes(
    client: &Client,
    s3: &crate::config::S3,
    bucket: &str,
) -> anyhow::Result<bool> {
    use crate::config::ConditionalWrites;
    match s3.conditional_writes {
        ConditionalWrites::On => return Ok(true),
        ConditionalWrites::Off => return Ok(false),
        ConditionalWrites::Auto => {}
    }
    let key = format!(
        "{}/_tickbench/probe-{}-{}",
        s3.prefix.trim_end_matches('/'),
        std::process::id(),
        crate::metrics::now_ns()
    );
    let put = |condition: Option<&str>| {
        client
            .put_object()
            .bucket(bucket)
            .key(&key)
            .set_if_none_match(condition.map(str::to_string))
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"probe"))
            .send()
    };
    // A probe that cannot be written (the bucket failing right now, a policy that denies the
    // probe's key) decides nothing: write conditionally, which a server that does not know the
    // header ignores. What fails then is the sink's to report.
    let probed = async {
        put(None).await?;
        let second = put(Some("*")).await;
        let _ = client.delete_object().bucket(bucket).key(&key).send().await;
        match second {
            Ok(_) => Ok(false),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) => Ok(true),
            Err(e) => Err(e),
        }
    };
    Ok(match probed.await {
        Ok(supported) => supported,
        Err(e) => {
            tracing::warn!(
                "the conditional-write probe s3://{bucket}/{key} failed ({}); writing with If-None-Match anyway",
                aws_sdk_s3::error::DisplayErrorContext(e)
            );
            true
        }
    })
}

/// Checks the bucket answers (creating it when asked) within the connect timeout.
pub async fn prepare_bucket(
    client: &Client,
    bucket: &str,
    create: bool,
    where_: &str,
) -> anyhow::Result<()> {
    let check = async {
        // One attempt: the check says at once why S3 does not answer (connection refused, no
        // such host) instead of retrying past the timeout.
        let once = aws_sdk_s3::config::Builder::default()
            .retry_config(RetryConfig::standard().with_max_attempts(1));
        match client
            .head_bucket()
            .bucket(bucket)
            .customize()
            .config_override(once)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if create && e.as_service_error().is_some_and(|s| s.is_not_found()) => {
                let region = client.config().region().map(|r| r.as_ref().to_string());
                match client
                    .create_bucket()
                    .bucket(bucket)
                    .set_create_bucket_configuration(bucket_configuration(region.as_deref()))
                    .send()
                    .await
                {
                    Ok(_) => Ok(()),
                    // Another process (a second sink, a producer) created it first. Whether it
                    // is ours to use is what HeadBucket says: on AWS, BucketAlreadyExists is
                    // also the answer for another account's bucket.
                    Err(e)
                        if e.as_service_error().is_some_and(|s| {
                            s.is_bucket_already_exists() || s.is_bucket_already_owned_by_you()
                        }) && client.head_bucket().bucket(bucket).send().await.is_ok() =>
                    {
                        Ok(())
                    }
                    Err(e) => Err(anyhow!(
                        "creating bucket {bucket} at {where_}: {}",
                        DisplayErrorContext(e)
                    )),
                }
            }
            Err(e) => Err(anyhow!(
                "bucket {bucket} at {where_}: {}",
                DisplayErrorContext(e)
            )),
        }
    };
    tokio::time::timeout(CONNECT_TIMEOUT, check)
        .await
        .map_err(|_| {
            anyhow!(
                "bucket {bucket} at {where_}: S3 did not answer within {}s",
                CONNECT_TIMEOUT.as_secs()
            )
        })?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_outside_us_east_1_is_created_with_its_region() {
        assert_eq!(bucket_configuration(None), None);
        assert_eq!(bucket_configuration(Some("us-east-1")), None);
        let c = bucket_configuration(Some("eu-west-1")).unwrap();
        assert_eq!(
            c.location_constraint().map(|l| l.as_str()),
            Some("eu-west-1")
        );
    }
}
