//! `[kafka]` and `[observe]`: the cluster, its authentication, and an external sink reading it.

use std::time::Duration;

use super::{check, is_safe_name, is_safe_prefix, Violation};
use crate::config::{Kafka, KafkaAuth, Scenario};

/// `[kafka]`.
pub(super) fn check_kafka(s: &Scenario) -> Result<(), Violation> {
    let k = &s.kafka;
    check(
        is_safe_name(&k.topic) && k.topic.len() <= 249,
        "kafka.topic",
        format!("{:?}", k.topic),
        "a Kafka topic name: A-Z a-z 0-9 . _ -, not starting with '.'",
    )?;
    check(
        (1..=10_000).contains(&k.partitions),
        "kafka.partitions",
        k.partitions,
        "a whole number from 1 to 10000",
    )?;
    if let Some(r) = k.replication_factor {
        check(
            r >= 1,
            "kafka.replication_factor",
            r,
            "a whole number from 1 (at most the cluster's broker count), or left out for the cluster's default",
        )?;
    }
    // Room for "-<run id>" (UTC stamp, 4 hex digits, the name) within Kafka's 249 characters.
    check(
        !k.topic_per_run() || k.topic.len() + s.name.len() + 23 <= 249,
        "kafka.topic",
        format!("{:?}", k.topic),
        "a shorter name: with kafka.topic_per_run the run's topic is <topic>-<run id>, at most 249 characters",
    )?;
    // The sink commits an offset only after what holds its record is durable: librdkafka must
    // not commit or store offsets on its own.
    for key in ["enable.auto.commit", "enable.auto.offset.store"] {
        if let Some(v) = k.consumer.get(key).filter(|v| v.as_str() != "false") {
            return Err(Violation {
                field: format!("kafka.consumer.\"{key}\"").into(),
                value: format!("{v:?}"),
                allowed: "\"false\" or left out: the sink commits an offset only after the S3 object holding its record is durable".into(),
            });
        }
    }
    if let Some(b) = &k.brokers {
        check(
            !b.trim().is_empty(),
            "kafka.brokers",
            "\"\"",
            "host:port[,host:port...], or leave it out for the in-process mock cluster",
        )?;
    }
    check_kafka_auth(k)
}

/// `kafka.auth` and the properties it sets itself.
fn check_kafka_auth(k: &Kafka) -> Result<(), Violation> {
    let Some(KafkaAuth::MskIam) = k.auth else {
        for (field, v) in [("kafka.region", &k.region), ("kafka.profile", &k.profile)] {
            if let Some(v) = v {
                return Err(Violation {
                    field: field.into(),
                    value: format!("{v:?}"),
                    allowed: "left out: it names the AWS credentials of kafka.auth = \"msk-iam\", which is not set".into(),
                });
            }
        }
        return Ok(());
    };
    check(
        k.brokers.is_some(),
        "kafka.auth",
        "\"msk-iam\"",
        "left out for the in-process mock cluster (it has no authentication); name the MSK cluster's IAM bootstrap brokers (port 9098) in kafka.brokers",
    )?;
    for (section, map) in [
        ("client", &k.client),
        ("producer", &k.producer),
        ("consumer", &k.consumer),
    ] {
        for (key, v) in map {
            let allowed = match key.as_str() {
                "sasl.mechanism" | "sasl.mechanisms" if v == "OAUTHBEARER" => continue,
                "security.protocol" if v == "SASL_SSL" || v == "SASL_PLAINTEXT" => continue,
                "sasl.mechanism" | "sasl.mechanisms" => "\"OAUTHBEARER\" or left out: kafka.auth = \"msk-iam\" sets it",
                "security.protocol" => "\"SASL_SSL\" (MSK's IAM listener) or left out: kafka.auth = \"msk-iam\" sets it",
                "sasl.username" | "sasl.password" => "left out: kafka.auth = \"msk-iam\" authenticates with the AWS chain's credentials, not a user name and password",
                _ if key.starts_with("sasl.oauthbearer.") => "left out: kafka.auth = \"msk-iam\" makes the OAUTHBEARER tokens itself",
                _ => continue,
            };
            let value = if super::is_secret_key(key) {
                "[redacted]".to_string()
            } else {
                format!("{v:?}")
            };
            return Err(Violation {
                field: format!("kafka.{section}.\"{key}\"").into(),
                value,
                allowed: allowed.into(),
            });
        }
    }
    Ok(())
}

/// `[observe]`: where the external sink writes, and how it is watched.
pub(super) fn check_observe(s: &Scenario) -> Result<(), Violation> {
    let Some(o) = &s.observe else {
        return Ok(());
    };
    check(
        !o.prefix.trim_matches('/').is_empty() && is_safe_prefix(o.prefix.trim_matches('/')),
        "observe.prefix",
        format!("{:?}", o.prefix),
        "the key prefix the external sink writes the topic under, such as \"topics/ticks\" (segments of A-Z a-z 0-9 . _ - =)",
    )?;
    check(
        o.poll_interval >= Duration::from_millis(10),
        "observe.poll_interval",
        humantime::format_duration(o.poll_interval),
        "at least 10ms (each poll is a LIST request)",
    )?;
    check(
        o.poll_interval_max >= o.poll_interval,
        "observe.poll_interval_max",
        humantime::format_duration(o.poll_interval_max),
        &format!(
            "at least observe.poll_interval ({})",
            humantime::format_duration(o.poll_interval)
        ),
    )?;
    check(
        !o.settle.is_zero(),
        "observe.settle",
        "0s",
        "a duration greater than zero: how long to wait after the load for the last ticks",
    )?;
    check(
        s.kafka.brokers.is_some(),
        "kafka.brokers",
        "none (the in-process mock cluster)",
        "the brokers the external sink reads from: with [observe] the sink is another process",
    )?;
    check(
        !s.s3.is_embedded(),
        "s3",
        "no endpoint or bucket",
        "s3.bucket (and s3.endpoint for an S3-compatible server): where the external sink writes",
    )?;
    check(
        s.kafka.topic_per_run != Some(true),
        "kafka.topic_per_run",
        "true",
        "false or left out: the external sink reads kafka.topic itself",
    )?;
    if let Some(p) = &o.key_pattern {
        let err = regex::Regex::new(p).err();
        check(
            err.is_none(),
            "observe.key_pattern",
            format!("{p:?}"),
            &format!(
                "a regular expression (Rust regex syntax){}",
                err.map(|e| format!(": {e}")).unwrap_or_default()
            ),
        )?;
    }
    if let Some(q) = &o.sqs_queue_url {
        check(
            q.starts_with("https://") || q.starts_with("http://"),
            "observe.sqs_queue_url",
            format!("{q:?}"),
            "the queue's URL, such as \"https://sqs.eu-west-1.amazonaws.com/123456789012/tickbench-events\"",
        )?;
    }
    if let Some(g) = &o.group_id {
        check(
            !g.trim().is_empty(),
            "observe.group_id",
            format!("{g:?}"),
            "the external sink's consumer group, such as \"connect-s3-sink\", or left out",
        )?;
    }
    let path_ok = |p: &str| p.split('.').all(|seg| !seg.trim().is_empty());
    check(
        o.record.is_empty() || path_ok(&o.record),
        "observe.record",
        format!("{:?}", o.record),
        "a dot-separated path to the tick in each record, such as \"payload\" or \"data.tick\"",
    )?;
    for (f, name) in &o.fields {
        check(
            !name.trim().is_empty(),
            "observe.fields",
            format!("{} = \"\"", f.name()),
            "the name the external sink writes this tick field under",
        )?;
    }
    check(
        s.max.is_none(),
        "max",
        "a [max] section",
        "left out with [observe] (a max-rate search of an external sink is not supported yet)",
    )
}
