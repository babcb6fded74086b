use std::net::SocketAddr;
use std::path::{Path, PathBuf};

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

/// An S3-compatible server (s3s with its file-system backend) on 127.0.0.1. Objects are plain files
/// under `<root>/<bucket>/<key>`. Dropping this value stops it.
pub struct EmbeddedS3 {
    addr: SocketAddr,
    root: PathBuf,
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
        std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
        let fs = s3s_fs::FileSystem::new(root).map_err(|e| {
            anyhow::anyhow!(
                "opening {} for the embedded S3 server: {e:?}",
                root.display()
            )
        })?;
        // Requests are SigV4-signed and checked, as real S3 does, with the embedded key pair.
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = TcpListener::bind(("127.0.0.1", port))
            .await
            .with_context(|| format!("binding the embedded S3 server to 127.0.0.1:{port}"))?;
        let addr = listener.local_addr()?;
        let (stop_tx, mut stop_rx) = oneshot::channel();
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
                let conn = http
                    .serve_connection(TokioIo::new(socket), service.clone())
                    .into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        });
        Ok(EmbeddedS3 {
            addr,
            root: root.to_owned(),
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
    use crate::scenario::S3;

    #[tokio::test]
    async fn serves_buckets_objects_and_multipart_over_http() {
        let dir = tempfile::tempdir().unwrap();
        let server = EmbeddedS3::start(dir.path()).await.unwrap();
        let client = crate::connect::s3_client(&S3::default(), Some(&server.endpoint())).await;
        crate::connect::prepare_bucket(&client, "bucket-one", true, "test")
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
