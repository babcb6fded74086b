//! The S3 a results folder's objects are in, for the commands that read them again (verify,
//! merge, query, compact).

use std::path::Path;

use anyhow::Context;

use crate::config;
use crate::io::connect;
use crate::io::embedded::EmbeddedS3;
use crate::results::{files, RunDir};

/// The S3 a run folder's objects are in: the run's endpoint (or `endpoint`), or, for a run on
/// the embedded default, its `s3/` folder served again.
pub struct RunStore {
    pub client: aws_sdk_s3::Client,
    /// The server for the folder, when the run was on the embedded default; stop it when done.
    pub server: Option<EmbeddedS3>,
}

impl RunStore {
    pub async fn open(dir: &Path, endpoint: Option<&str>) -> anyhow::Result<RunStore> {
        let run = RunDir::open(dir);
        let manifest = run.manifest()?;
        // Only its S3 settings are needed; a scenario that no longer loads (a moved symbol file)
        // leaves the defaults and the AWS chain.
        let mut s3 = config::load(&run.file(files::SCENARIO))
            .map(|s| s.s3)
            .unwrap_or_default();
        // A named endpoint is a real server: the AWS chain's credentials, never the embedded keys.
        let named = |s3: &mut crate::config::S3, e: &str| {
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
                let server = EmbeddedS3::start(&run.embedded_s3())
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
