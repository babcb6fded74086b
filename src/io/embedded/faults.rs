//! S3 faults injected in front of a real S3 implementation, to test the sink's retries: the
//! embedded server's own layer, and [`S3FaultProxy`], the same layer in front of any S3 server
//! over HTTP (the separate moto and s3s-fs processes), so that the fault tests are not tied to one
//! server's behaviour.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

/// Faults injected in front of the real S3 implementation. Write requests (PUT, POST: PutObject,
/// UploadPart, Create/CompleteMultipartUpload) are counted.
#[derive(Debug, Default, Clone)]
pub struct S3Faults {
    /// Every n-th write request is answered with this status instead: 500 (InternalError) or
    /// 503 (SlowDown), with S3's XML error body.
    pub error_every: Option<(u64, u16)>,
    /// Every n-th write request has its connection dropped without an answer (a reset).
    pub reset_every: Option<u64>,
    /// Until then, every connection is closed as soon as it is accepted: the server is down.
    pub down_until: Option<Instant>,
    /// Every n-th write request is passed to the server and applied there, then its connection
    /// is dropped before the answer: the client sees an error for a write that happened (an
    /// answer lost on the network, a client timeout just too short).
    pub lose_answer_every: Option<u64>,
    /// Every n-th read request (GET, HEAD: GetObject, HeadObject, ListObjectsV2, ListParts) or
    /// DELETE (DeleteObject, AbortMultipartUpload) is answered with this status instead.
    pub read_error_every: Option<(u64, u16)>,
    /// Every request from now on is refused as this: permissions taken away or the bucket
    /// deleted in the middle of a run. Not retriable.
    pub refuse: Option<Refuse>,
    /// Requests of this kind are held at the layer, neither forwarded nor answered, until
    /// `release_held`: sent just before their client was paused, or cut off by a partition.
    pub hold: Option<Hold>,
}

/// Which requests a hold catches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// CompleteMultipartUpload (POST with an `uploadId`).
    CompleteMultipartUpload,
    /// UploadPart of this part number (PUT with an `uploadId` and `partNumber`).
    UploadPart(u32),
}

impl Hold {
    fn catches(self, method: &http::Method, uri: &http::Uri) -> bool {
        let query = uri.query().unwrap_or_default();
        let has = |name: &str| {
            query
                .split('&')
                .any(|kv| kv.split('=').next() == Some(name))
        };
        match self {
            Hold::CompleteMultipartUpload => *method == http::Method::POST && has("uploadId"),
            Hold::UploadPart(n) => {
                *method == http::Method::PUT
                    && has("uploadId")
                    && query.split('&').any(|kv| kv == format!("partNumber={n}"))
            }
        }
    }
}

/// A refusal no retry gets past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refuse {
    /// 403 AccessDenied: the credentials lost the permission.
    AccessDenied,
    /// 404 NoSuchBucket: the bucket was deleted.
    NoSuchBucket,
}

pub(crate) struct FaultState {
    plan: Mutex<S3Faults>,
    writes: AtomicU64,
    reads: AtomicU64,
    injected: AtomicU64,
    /// Requests held so far, and the gate they wait at (true: open).
    held: AtomicU64,
    gate: watch::Sender<bool>,
}

impl Default for FaultState {
    fn default() -> Self {
        FaultState {
            plan: Mutex::default(),
            writes: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            injected: AtomicU64::new(0),
            held: AtomicU64::new(0),
            gate: watch::Sender::new(true),
        }
    }
}

enum Decision {
    Pass,
    Status(u16),
    Refused(Refuse),
    Reset,
    /// Applied, then the connection dropped before the answer.
    LoseAnswer,
    /// Forwarded once the held requests are released.
    Hold,
}

impl FaultState {
    fn decide(&self, method: &http::Method, uri: &http::Uri) -> Decision {
        // Down: requests on connections opened before the outage are dropped too.
        if self.down() {
            return Decision::Reset;
        }
        let plan = self.plan.lock().expect("fault plan").clone();
        let d = if plan.hold.is_some_and(|h| h.catches(method, uri)) {
            self.held.fetch_add(1, Ordering::Relaxed);
            Decision::Hold
        } else if let Some(r) = plan.refuse {
            Decision::Refused(r)
        } else if !matches!(*method, http::Method::PUT | http::Method::POST) {
            let n = self.reads.fetch_add(1, Ordering::Relaxed) + 1;
            match plan.read_error_every {
                Some((every, status)) if n.is_multiple_of(every) => Decision::Status(status),
                _ => Decision::Pass,
            }
        } else {
            let n = self.writes.fetch_add(1, Ordering::Relaxed) + 1;
            match (plan.error_every, plan.reset_every, plan.lose_answer_every) {
                (Some((every, status)), _, _) if n.is_multiple_of(every) => {
                    Decision::Status(status)
                }
                (_, Some(every), _) if n.is_multiple_of(every) => Decision::Reset,
                (_, _, Some(every)) if n.is_multiple_of(every) => Decision::LoseAnswer,
                _ => Decision::Pass,
            }
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

    pub(crate) fn set(&self, f: S3Faults) {
        self.gate.send_replace(f.hold.is_none());
        *self.plan.lock().expect("fault plan") = f;
    }

    pub(crate) fn held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }

    /// Forwards the held requests and holds no more.
    pub(crate) fn release_held(&self) {
        self.plan.lock().expect("fault plan").hold = None;
        self.gate.send_replace(true);
    }

    pub(crate) fn injected(&self) -> u64 {
        self.injected.load(Ordering::Relaxed)
    }
}

fn error_response(status: u16) -> http::Response<s3s::Body> {
    let (code, message) = match status {
        503 => ("SlowDown", "Please reduce your request rate."),
        403 => ("AccessDenied", "Access Denied"),
        404 => ("NoSuchBucket", "The specified bucket does not exist"),
        _ => (
            "InternalError",
            "We encountered an internal error. Please try again.",
        ),
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

/// Accepts connections on `listener` until `stop` fires, each request through the fault layer
/// first: a request it passes is answered by `inner`.
pub(crate) async fn serve<F, Fut>(
    listener: TcpListener,
    mut stop: oneshot::Receiver<()>,
    state: Arc<FaultState>,
    inner: F,
) where
    F: Fn(http::Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<http::Response<s3s::Body>, s3s::HttpError>> + Send + 'static,
{
    let http = ConnBuilder::new(TokioExecutor::new());
    loop {
        let socket = tokio::select! {
            res = listener.accept() => match res {
                Ok((socket, _)) => socket,
                Err(_) => continue,
            },
            _ = &mut stop => break,
        };
        if state.down() {
            drop(socket);
            continue;
        }
        let (inner, st) = (inner.clone(), state.clone());
        let faulty = hyper::service::service_fn(move |req: http::Request<Incoming>| {
            let decision = st.decide(req.method(), req.uri());
            if let Decision::Hold = decision {
                let (inner, mut gate) = (inner.clone(), st.gate.subscribe());
                return futures::future::Either::Left(async move {
                    let _ = gate.wait_for(|open| *open).await;
                    tokio::spawn(inner(req))
                        .await
                        .map_err(|e| s3s::HttpError::new(Box::new(e)))?
                });
            }
            // As in S3, a request that has arrived runs to its end though its client hangs up:
            // hyper drops a connection's futures when the client goes, and s3s-fs's
            // CompleteMultipartUpload cut off half way (its upload record deleted, the parts not
            // yet moved) left parts that no request could reach or abort.
            let passed = matches!(decision, Decision::Pass | Decision::LoseAnswer)
                .then(|| tokio::spawn(inner(req)));
            futures::future::Either::Right(async move {
                match (decision, passed) {
                    (Decision::LoseAnswer, Some(task)) => {
                        // The write is done on the server; its answer never leaves.
                        let _ = task.await;
                        Err(s3s::HttpError::new("injected: answer lost".into()))
                    }
                    (_, Some(task)) => task.await.map_err(|e| s3s::HttpError::new(Box::new(e)))?,
                    (Decision::Status(code), _) => Ok(error_response(code)),
                    (Decision::Refused(Refuse::AccessDenied), _) => Ok(error_response(403)),
                    (Decision::Refused(Refuse::NoSuchBucket), _) => Ok(error_response(404)),
                    // An error makes hyper drop the connection without an answer.
                    _ => Err(s3s::HttpError::new("injected reset".into())),
                }
            })
        });
        let conn = http
            .serve_connection(TokioIo::new(socket), faulty)
            .into_owned();
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}

/// The fault layer on 127.0.0.1 in front of another S3 server (`http://host:port`): requests it
/// passes are forwarded as they came, Host header and SigV4 signature untouched, so the server
/// behind checks them as if the client had called it.
pub struct S3FaultProxy {
    addr: SocketAddr,
    faults: Arc<FaultState>,
    stop: Option<oneshot::Sender<()>>,
}

impl S3FaultProxy {
    /// Starts forwarding to `upstream` from a free loopback port. Needs a tokio runtime.
    pub async fn start(upstream: &str) -> anyhow::Result<S3FaultProxy> {
        let up: http::Uri = upstream
            .parse()
            .with_context(|| format!("the upstream S3 endpoint {upstream:?}"))?;
        anyhow::ensure!(
            up.scheme_str() == Some("http") && up.authority().is_some(),
            "the fault proxy forwards plain http://host:port, not {upstream:?}"
        );
        let authority = up.authority().expect("checked").clone();
        let client: hyper_util::client::legacy::Client<HttpConnector, Incoming> =
            hyper_util::client::legacy::Client::builder(TokioExecutor::new())
                .build(HttpConnector::new());
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("binding the S3 fault proxy")?;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = oneshot::channel();
        let faults = Arc::new(FaultState::default());
        let forward = move |mut req: http::Request<Incoming>| {
            let (client, authority) = (client.clone(), authority.clone());
            async move {
                let path = req
                    .uri()
                    .path_and_query()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_else(|| "/".into());
                *req.uri_mut() = http::Uri::builder()
                    .scheme("http")
                    .authority(authority)
                    .path_and_query(path)
                    .build()
                    .map_err(|e| s3s::HttpError::new(Box::new(e)))?;
                let res = client
                    .request(req)
                    .await
                    .map_err(|e| s3s::HttpError::new(Box::new(e)))?;
                Ok(res.map(s3s::Body::from))
            }
        };
        tokio::spawn(serve(listener, stop_rx, faults.clone(), forward));
        Ok(S3FaultProxy {
            addr,
            faults,
            stop: Some(stop_tx),
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Injects these faults from now on.
    pub fn set_faults(&self, f: S3Faults) {
        self.faults.set(f);
    }

    /// Faults injected so far: error answers, resets and refused connections.
    pub fn faults_injected(&self) -> u64 {
        self.faults.injected()
    }

    /// Requests held so far (`S3Faults::hold`).
    pub fn held(&self) -> u64 {
        self.faults.held()
    }

    /// Forwards the held requests and holds no more.
    pub fn release_held(&self) {
        self.faults.release_held()
    }
}

impl Drop for S3FaultProxy {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}
