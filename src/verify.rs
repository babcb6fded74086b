//! `tickbench verify RUN_DIR`: the audit again, later, from a run's results folder: reads back
//! every object (and dead letter) from S3 and checks it against what the run expected
//! (`expected.json`). On the embedded default, the objects are the run folder's `s3/`.

use std::path::Path;

use anyhow::Context;

use crate::audit::{self, Audit, Expectations};
use crate::embedded::EmbeddedS3;
use crate::results::Manifest;
use crate::{connect, scenario};

/// What verify found, and the text to print.
pub struct Verified {
    pub audit: Audit,
    pub acknowledged: u64,
}

impl Verified {
    pub fn to_text(&self) -> String {
        let a = &self.audit;
        let mut s = format!(
            "{} acknowledged, {} landed, {} lost, {} duplicated; {} objects read back ({} records), {} records in {} dead-letter objects\n",
            self.acknowledged,
            a.landed,
            a.lost,
            a.duplicated,
            a.objects,
            a.records_read,
            a.dead_lettered,
            a.dead_letter_objects
        );
        if a.passed() {
            s.push_str("verify: PASS (every acknowledged tick is in S3 exactly once)\n");
        } else {
            s.push_str("verify: FAIL\n");
            for p in &a.problems {
                s.push_str(&format!("  - {p}\n"));
            }
        }
        s
    }
}

pub fn read_json<T: serde::de::DeserializeOwned>(dir: &Path, name: &str) -> anyhow::Result<T> {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "{}: cannot read {name}: is this a tickbench run folder?",
            dir.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("{}: not valid", path.display()))
}

/// The S3 a run folder's objects are in: the run's endpoint (or `endpoint`), or, for a run on
/// the embedded default, its `s3/` folder served again.
pub struct RunStore {
    pub client: aws_sdk_s3::Client,
    /// The server for the folder, when the run was on the embedded default; stop it when done.
    pub server: Option<EmbeddedS3>,
}

impl RunStore {
    pub async fn open(dir: &Path, endpoint: Option<&str>) -> anyhow::Result<RunStore> {
        let manifest: Manifest = read_json(dir, "manifest.json")?;
        // Only its S3 settings are needed; a scenario that no longer loads (a moved symbol file)
        // leaves the defaults and the AWS chain.
        let mut s3 = scenario::load(&dir.join("scenario.toml"))
            .map(|s| s.s3)
            .unwrap_or_default();
        // A named endpoint is a real server: the AWS chain's credentials, never the embedded keys.
        let named = |s3: &mut crate::scenario::S3, e: &str| {
            s3.endpoint = Some(e.to_string());
        };
        Ok(match endpoint {
            Some(e) => {
                named(&mut s3, e);
                RunStore {
                    client: connect::s3_client(&s3, None).await,
                    server: None,
                }
            }
            None if manifest.s3_embedded => {
                let server = EmbeddedS3::start(&dir.join("s3"))
                    .await
                    .context("serving the run folder's s3/ over the S3 API")?;
                RunStore {
                    client: connect::s3_client(&Default::default(), Some(&server.endpoint())).await,
                    server: Some(server),
                }
            }
            None => {
                if let Some(e) = &manifest.s3_endpoint {
                    named(&mut s3, e);
                }
                RunStore {
                    client: connect::s3_client(&s3, None).await,
                    server: None,
                }
            }
        })
    }

    pub async fn close(self) {
        if let Some(server) = self.server {
            server.stop().await;
        }
    }
}

/// Audits a run folder's objects again. `endpoint` overrides the S3 endpoint the run used.
pub async fn verify(dir: &Path, endpoint: Option<&str>) -> anyhow::Result<Verified> {
    let exp: Expectations = read_json(dir, "expected.json")?;
    let store = RunStore::open(dir, endpoint).await?;
    let client = &store.client;
    let audit = audit::run(
        &audit::Location {
            client,
            bucket: &exp.bucket,
            prefix: &exp.prefix,
            topic: &exp.topic,
            progress: true,
        },
        &exp.expected(),
    )
    .await?;
    store.close().await;
    let produced: u64 = exp.per_symbol.iter().sum();
    Ok(Verified {
        audit,
        acknowledged: produced - exp.failed.len() as u64,
    })
}
