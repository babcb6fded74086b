//! `tickbench up`: the embedded services as a foreground process, so other tools (kcat, the AWS
//! CLI, DuckDB, a second tickbench) can use them. Ctrl-C (or SIGTERM) stops them cleanly.

use std::fmt::Write as _;
use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

use crate::io::embedded::{EmbeddedKafka, EmbeddedS3, S3_ACCESS_KEY, S3_SECRET_KEY};

#[derive(Debug, Clone)]
pub struct UpOptions {
    /// Folder the S3 server keeps its objects in (`<dir>/<bucket>/<key>`).
    pub dir: PathBuf,
    /// Topic created on the mock cluster.
    pub topic: String,
    pub partitions: u32,
    /// Bucket created on the S3 server.
    pub bucket: String,
    /// S3 port on 127.0.0.1; 0 picks a free one.
    pub s3_port: u16,
}

/// Starts both services, gives `ready` how to reach them, and serves until `stop` is cancelled.
pub async fn up(
    opts: &UpOptions,
    ready: impl FnOnce(&str),
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    let kafka = EmbeddedKafka::start(1, &opts.topic, opts.partitions as i32)?;
    let s3 = EmbeddedS3::start_on(&opts.dir, opts.s3_port).await?;
    let client = crate::io::connect::s3_client(&Default::default(), Some(&s3.endpoint())).await;
    crate::io::connect::prepare_bucket(&client, &opts.bucket, true, &s3.endpoint()).await?;
    let brokers = kafka.bootstrap_servers().to_string();
    let endpoint = s3.endpoint();
    let dir = std::fs::canonicalize(&opts.dir).unwrap_or_else(|_| opts.dir.clone());
    let mut out = String::new();
    writeln!(
        out,
        "kafka  bootstrap.servers={brokers}  topic={} ({} partitions; librdkafka mock cluster)",
        opts.topic, opts.partitions
    )?;
    writeln!(
        out,
        "s3     endpoint={endpoint}  bucket={}  path-style; objects are files under {}",
        opts.bucket,
        dir.display()
    )?;
    writeln!(out, "use them from another shell:")?;
    writeln!(
        out,
        "  export AWS_ACCESS_KEY_ID={S3_ACCESS_KEY} AWS_SECRET_ACCESS_KEY={S3_SECRET_KEY} AWS_REGION=us-east-1"
    )?;
    writeln!(
        out,
        "  tickbench run scenarios/smoke.toml --brokers {brokers} --topic {} --s3-endpoint {endpoint} --bucket {}",
        opts.topic, opts.bucket
    )?;
    writeln!(out, "  kcat -b {brokers} -L")?;
    writeln!(
        out,
        "  aws --endpoint-url {endpoint} s3 ls s3://{}/ --recursive",
        opts.bucket
    )?;
    writeln!(out, "Ctrl-C stops them.")?;
    ready(&out);
    stop.cancelled().await;
    s3.stop().await;
    drop(kafka);
    Ok(())
}
