use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::faults::{serve, FaultState, S3Faults};

/// The embedded server's key pair: not a secret, it guards nothing but a loopback port.
pub const ACCESS_KEY: &str = "tickbench";
pub const SECRET_KEY: &str = "tickbench-embedded";

/// A key pair of the embedded server, and the S3 operations (`GetObject`, `PutObject`, ...) its
/// policy denies.
#[derive(Debug, Clone)]
pub struct S3User {
    pub access_key: String,
    pub secret_key: String,
    pub denied: Vec<&'static str>,
}

/// Each user's denied operations.
struct Policies(std::collections::HashMap<String, Vec<&'static str>>);

#[async_trait::async_trait]
impl s3s::access::S3Access for Policies {
    async fn check(&self, cx: &mut s3s::access::S3AccessContext<'_>) -> s3s::S3Result<()> {
        let Some(creds) = cx.credentials() else {
            return Err(s3s::s3_error!(AccessDenied, "Signature is required"));
        };
        let op = cx.s3_op().name();
        if self
            .0
            .get(&creds.access_key)
            .is_some_and(|d| d.contains(&op))
        {
            return Err(s3s::s3_error!(
                AccessDenied,
                "User: {} is not authorized to perform: s3:{op}",
                creds.access_key
            ));
        }
        Ok(())
    }
}

/// An S3-compatible server (s3s with its file-system backend) on 127.0.0.1. Objects are plain files
/// under `<root>/<bucket>/<key>`. Dropping this value stops it.
pub struct EmbeddedS3 {
    addr: SocketAddr,
    root: PathBuf,
    faults: Arc<FaultState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl EmbeddedS3 {
    /// Starts serving `root` on a free loopback port. Needs a tokio runtime.
    pub async fn start(root: &Path) -> anyhow::Result<EmbeddedS3> {
        Self::start_on(root, 0).await
    }

    /// Starts serving `root` on 127.0.0.1:`port` (0: a free port).
    pub async fn start_on(root: &Path, port: u16) -> anyhow::Result<EmbeddedS3> {
        Self::start_with_keys(root, port, ACCESS_KEY, SECRET_KEY).await
    }

    /// Starts serving `root`, accepting only requests signed with this key pair (tests: a
    /// secret the client must really have read to be let in).
    pub async fn start_with_keys(
        root: &Path,
        port: u16,
        access_key: &str,
        secret_key: &str,
    ) -> anyhow::Result<EmbeddedS3> {
        Self::start_with_users(
            root,
            port,
            &[S3User {
                access_key: access_key.into(),
                secret_key: secret_key.into(),
                denied: Vec::new(),
            }],
        )
        .await
    }

    /// Starts serving `root` for these key pairs, each refused the operations it is denied
    /// (AccessDenied, as an IAM policy without them answers): how a test gets a user whose
    /// policy lacks s3:GetObject.
    pub async fn start_with_users(
        root: &Path,
        port: u16,
        users: &[S3User],
    ) -> anyhow::Result<EmbeddedS3> {
        std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
        let fs = s3s_fs::FileSystem::new(root).map_err(|e| {
            anyhow::anyhow!(
                "opening {} for the embedded S3 server: {e:?}",
                root.display()
            )
        })?;
        // Requests are SigV4-signed and checked, as real S3 does, with the key pair.
        let mut builder = S3ServiceBuilder::new(fs);
        let mut auth = SimpleAuth::new();
        for u in users {
            auth.register(u.access_key.clone(), u.secret_key.clone().into());
        }
        builder.set_auth(auth);
        builder.set_access(Policies(
            users
                .iter()
                .map(|u| (u.access_key.clone(), u.denied.clone()))
                .collect(),
        ));
        let service = builder.build();
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("binding the embedded S3 server to 127.0.0.1:{port}"))?;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = oneshot::channel();
        let faults = Arc::new(FaultState::default());
        let s3 = move |req: http::Request<hyper::body::Incoming>| {
            let svc = service.clone();
            async move { hyper::service::Service::call(&svc, req).await }
        };
        let task = tokio::spawn(serve(listener, stop_rx, faults.clone(), s3));
        Ok(EmbeddedS3 {
            addr,
            root: root.to_owned(),
            faults,
            stop: Some(stop_tx),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Injects these faults from now on (tests).
    pub fn set_faults(&self, f: S3Faults) {
        self.faults.set(f);
    }

    /// Faults injected so far: error answers, resets and refused connections.
    pub fn faults_injected(&self) -> u64 {
        self.faults.injected()
    }

    /// Stops accepting connections and waits for the accept loop to end.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for EmbeddedS3 {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::S3;

    #[tokio::test]
    async fn serves_buckets_objects_and_multipart_over_http() {
        let dir = tempfile::tempdir().unwrap();
        let server = EmbeddedS3::start(dir.path()).await.unwrap();
        let client = crate::io::connect::s3_client(&S3::default(), Some(&server.endpoint())).await;
        crate::io::connect::prepare_bucket(&client, "bucket-one", true, "test")
            .await
            .unwrap();
        client
            .put_object()
            .bucket("bucket-one")
            .key("a/b/c.txt")
            .body(b"hello".to_vec().into())
            .send()
            .await
            .unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("bucket-one/a/b/c.txt")).unwrap(),
            b"hello"
        );
        let listed = client
            .list_objects_v2()
            .bucket("bucket-one")
            .prefix("a/")
            .send()
            .await
            .unwrap();
        assert_eq!(listed.contents().len(), 1);
        server.stop().await;
    }
}
