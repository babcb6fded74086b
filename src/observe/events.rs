//! Durable times from S3 itself: S3 Event Notifications (`s3:ObjectCreated:*`) sent to an SQS
//! queue carry each object's `eventTime`, when S3 made it durable, to the millisecond on S3's
//! clock. Messages are long-polled, their records parsed (keys arrive URL-encoded, `+` for a
//! space), and deleted once read; events for other buckets or prefixes, S3's `s3:TestEvent`,
//! and bodies that are not S3 events are skipped and counted.

use anyhow::Context;
use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;
use aws_sdk_sqs::Client;
use serde::Deserialize;

/// One object S3 says it created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub bucket: String,
    pub key: String,
    pub size: i64,
    /// `eventTime`, nanoseconds since the Unix epoch.
    pub event_ns: u64,
}

/// The queue the bucket's notifications go to.
pub struct Queue {
    client: Client,
    url: String,
    bucket: String,
    prefix: String,
    /// ReceiveMessage and DeleteMessageBatch requests made.
    pub requests: u64,
    /// Messages that held no event for this bucket and prefix.
    pub skipped: u64,
}

impl Queue {
    /// A client from the AWS config chain (`AWS_ENDPOINT_URL_SQS` for an SQS-compatible server).
    pub async fn connect(
        url: &str,
        region: Option<&str>,
        profile: Option<&str>,
        bucket: &str,
        prefix: &str,
    ) -> Queue {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(p) = profile {
            loader = loader.profile_name(p);
        }
        if let Some(r) = region {
            loader = loader.region(aws_config::Region::new(r.to_string()));
        }
        let shared = loader.load().await;
        let mut b = aws_sdk_sqs::config::Builder::from(&shared);
        if shared.region().is_none() {
            b = b.region(aws_config::Region::new("us-east-1"));
        }
        Queue {
            client: Client::from_conf(b.build()),
            url: url.to_string(),
            bucket: bucket.to_string(),
            prefix: prefix.to_string(),
            requests: 0,
            skipped: 0,
        }
    }

    /// The objects created since the last call: waits up to `wait_s` for the first message, then
    /// takes what else is queued without waiting.
    pub async fn receive(&mut self, wait_s: i32) -> anyhow::Result<Vec<Created>> {
        let mut out = Vec::new();
        let mut wait = wait_s;
        loop {
            let got = self
                .client
                .receive_message()
                .queue_url(&self.url)
                .max_number_of_messages(10)
                .wait_time_seconds(wait)
                .send()
                .await
                .with_context(|| format!("receiving from SQS queue {}", self.url))?;
            self.requests += 1;
            let messages = got.messages();
            let mut done = Vec::new();
            for (i, m) in messages.iter().enumerate() {
                let created = m.body().map(parse).unwrap_or_default();
                let ours: Vec<Created> = created
                    .into_iter()
                    .filter(|c| c.bucket == self.bucket && c.key.starts_with(&self.prefix))
                    .collect();
                if ours.is_empty() {
                    self.skipped += 1;
                }
                out.extend(ours);
                if let Some(h) = m.receipt_handle() {
                    done.push(
                        DeleteMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .receipt_handle(h)
                            .build()
                            .context("an SQS delete entry")?,
                    );
                }
            }
            if !done.is_empty() {
                self.client
                    .delete_message_batch()
                    .queue_url(&self.url)
                    .set_entries(Some(done))
                    .send()
                    .await
                    .with_context(|| format!("deleting read messages from {}", self.url))?;
                self.requests += 1;
            }
            if messages.len() < 10 {
                break;
            }
            wait = 0;
        }
        Ok(out)
    }
}

#[derive(Deserialize)]
struct Notification {
    #[serde(rename = "Records", default)]
    records: Vec<Record>,
}

#[derive(Deserialize)]
struct Record {
    #[serde(rename = "eventName", default)]
    event_name: String,
    #[serde(rename = "eventTime", default)]
    event_time: String,
    s3: S3Entity,
}

#[derive(Deserialize)]
struct S3Entity {
    #[serde(default)]
    bucket: S3Bucket,
    object: S3Object,
}

#[derive(Deserialize, Default)]
struct S3Bucket {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct S3Object {
    key: String,
    #[serde(default)]
    size: i64,
}

/// The created objects in one message body (an S3 notification, or one wrapped by SNS as
/// `{"Message": "..."}`); nothing for anything else.
pub fn parse(body: &str) -> Vec<Created> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return Vec::new();
    };
    // SNS fan-out wraps the notification as a string in `Message`.
    if let Some(inner) = v.get("Message").and_then(|m| m.as_str()) {
        return parse(inner);
    }
    let Ok(n) = serde_json::from_value::<Notification>(v) else {
        return Vec::new();
    };
    n.records
        .into_iter()
        .filter(|r| r.event_name.starts_with("ObjectCreated:"))
        .filter_map(|r| {
            let t = chrono::DateTime::parse_from_rfc3339(&r.event_time).ok()?;
            let key = r.s3.object.key.replace('+', " ");
            let key = percent_encoding::percent_decode_str(&key)
                .decode_utf8()
                .ok()?
                .into_owned();
            Some(Created {
                bucket: r.s3.bucket.name,
                key,
                size: r.s3.object.size,
                event_ns: t.timestamp_nanos_opt()?.max(0) as u64,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_notifications_parsed_as_s3_writes_them() {
        // As S3 (and moto) send it: the key URL-encoded with `+` for a space.
        let body = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1","eventTime":"2026-12-01T19:36:23.563Z","eventName":"ObjectCreated:CompleteMultipartUpload","s3":{"s3SchemaVersion":"1.0","bucket":{"name":"bkt"},"object":{"key":"p%2Fdt%3D2026-12-01/x+y.json","size":2}}},{"eventTime":"2026-12-01T19:36:24Z","eventName":"ObjectRemoved:Delete","s3":{"object":{"key":"p/z"}}}]}"#;
        let got = parse(body);
        assert_eq!(
            got,
            vec![Created {
                bucket: "bkt".into(),
                key: "p/dt=2026-12-01/x y.json".into(),
                size: 2,
                event_ns: 1_796_153_783_563_000_000,
            }]
        );
        // Through SNS, the same.
        let sns = serde_json::json!({"Type": "Notification", "Message": body}).to_string();
        assert_eq!(parse(&sns), got);
        // S3's test event and other bodies: nothing.
        assert!(
            parse(r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"bkt"}"#).is_empty()
        );
        assert!(parse("not json").is_empty());
    }
}
