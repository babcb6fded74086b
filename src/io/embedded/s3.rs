use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

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

/// Faults the server injects in front of the real S3 implementation, to test the sink's retries.
/// Write requests (PUT, POST: PutObject, UploadPart, Create/CompleteMultipartUpload) are counted.
#[derive(Debug, Default, Clone)]
pub struct S3Faults {
    /// Every n-th write request is answered with this status instead: 500 (InternalError) or
    /// 503 (SlowDown), with S3's XML error body.
    pub error_every: Option<(u64, u16)>,
    /// Every n-th write request has its connection dropped without an answer (a reset).
    pub reset_every: Option<u64>,
    /// Until then, every connection is closed as soon as it is accepted: the server is down.
    pub down_until: Option<Instant>,
}

#[derive(Default)]
struct FaultState {
    plan: Mutex<S3Faults>,
    writes: AtomicU64,
    injected: AtomicU64,
}

enum Decision {
    Pass,
    Status(u16),
    Reset,
}

impl FaultState {
    fn decide(&self, method: &http::Method) -> Decision {
        // Down: requests on connections opened before the outage are dropped too.
        if self.down() {
            return Decision::Reset;
        }
        if !matches!(*method, http::Method::PUT | http::Method::POST) {
            return Decision::Pass;
        }
        let n = self.writes.fetch_add(1, Ordering::Relaxed) + 1;
        let plan = self.plan.lock().expect("fault plan").clone();
        let d = match (plan.error_every, plan.reset_every) {
            (Some((every, status)), _) if n.is_multiple_of(every) => Decision::Status(status),
            (_, Some(every)) if n.is_multiple_of(every) => Decision::Reset,
            _ => Decision::Pass,
        };
        if !matches!(d, Decision::Pass) {
            self.injected.fetch_add(1, Ordering::Relaxed);
        }
        d
    }

    fn down(&self) -> bool {
        let down = self
            .plan
            .lock()
            .expect("fault plan")
            .down_until
            .is_some_and(|t| Instant::now() < t);
        if down {
            self.injected.fetch_add(1, Ordering::Relaxed);
        }
        down
    }
}

fn error_response(status: u16) -> http::Response<s3s::Body> {
    let (code, message) = if status == 503 {
        ("SlowDown", "Please reduce your request rate.")
    } else {
        (
            "InternalError",
            "We encountered an internal error. Please try again.",
        )
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>tickbench-fault</RequestId></Error>"
    );
    http::Response::builder()
        .status(status)
        .header("content-type", "application/xml")
        .body(s3s::Body::from(body))
        .expect("a valid response")
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
        let (stop_tx, mut stop_rx) = oneshot::channel();
        let faults = Arc::new(FaultState::default());
        let state = faults.clone();
        let task = tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            loop {
                let socket = tokio::select! {
                    res = listener.accept() => match res {
                        Ok((socket, _)) => socket,
                        Err(_) => continue,
                    },
                    _ = &mut stop_rx => break,
                };
                if state.down() {
                    drop(socket);
                    continue;
                }
                let (svc, st) = (service.clone(), state.clone());
                let faulty =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let (svc, st) = (svc.clone(), st.clone());
                        async move {
                            match st.decide(req.method()) {
                                Decision::Pass => hyper::service::Service::call(&svc, req).await,
                                Decision::Status(code) => Ok(error_response(code)),
                                // An error makes hyper drop the connection without an answer.
                                Decision::Reset => {
                                    Err(s3s::HttpError::new("injected reset".into()))
                                }
                            }
                        }
                    });
                let conn = http
                    .serve_connection(TokioIo::new(socket), faulty)
                    .into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        });
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
        *self.faults.plan.lock().expect("fault plan") = f;
    }

    /// Faults injected so far: error answers, resets and refused connections.
    pub fn faults_injected(&self) -> u64 {
        self.faults.injected.load(Ordering::Relaxed)
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
