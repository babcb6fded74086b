//! A journal of the multipart uploads a sink has started and not finished, so that a sink killed
//! mid-upload aborts them when it starts again: an orphaned upload's parts are billed until
//! someone aborts it, and S3-compatible servers (s3s-fs among them) may not list them.
//!
//! One JSON line per event, appended with a plain `write`: a killed process loses nothing that
//! `write` returned. A machine that loses power can lose the last lines; a bucket lifecycle rule
//! (AbortIncompleteMultipartUpload) covers that case on AWS, and the README says so.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use aws_sdk_s3::Client;
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Entry {
    Started {
        bucket: String,
        key: String,
        upload_id: String,
    },
    Ended {
        upload_id: String,
    },
}

/// A multipart upload started by an earlier sink and never completed or aborted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
}

/// The journal file, locked for this process.
pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("upload journal {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("upload journal {path} is in use by another sink: give each sink on a machine its own --instance")]
    Locked { path: PathBuf },
}

impl Journal {
    /// Opens (creating) the journal and returns the uploads earlier sinks left open. A torn last
    /// line (the process died mid-write) is ignored: its upload had not been journaled.
    pub fn open(path: &Path) -> Result<(Journal, Vec<Orphan>), JournalError> {
        let io = |source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        file.try_lock().map_err(|e| match e {
            std::fs::TryLockError::WouldBlock => JournalError::Locked {
                path: path.to_path_buf(),
            },
            std::fs::TryLockError::Error(e) => io(e),
        })?;
        let mut open: BTreeMap<String, Orphan> = BTreeMap::new();
        let mut text = Vec::new();
        (&file).read_to_end(&mut text).map_err(io)?;
        for line in text.split(|b| *b == b'\n') {
            let Ok(line) = std::str::from_utf8(line) else {
                continue;
            };
            match serde_json::from_str::<Entry>(line) {
                Ok(Entry::Started {
                    bucket,
                    key,
                    upload_id,
                }) => {
                    open.insert(
                        upload_id.clone(),
                        Orphan {
                            bucket,
                            key,
                            upload_id,
                        },
                    );
                }
                Ok(Entry::Ended { upload_id }) => {
                    open.remove(&upload_id);
                }
                Err(_) => {}
            }
        }
        let mut file = file;
        if open.is_empty() {
            // Nothing to remember: start the file afresh so it does not grow forever.
            file.set_len(0).map_err(io)?;
        } else if text.last().is_some_and(|b| *b != b'\n') {
            // A torn line: the next entry must not be glued to it.
            file.write_all(b"\n").map_err(io)?;
        }
        let journal = Journal {
            path: path.to_path_buf(),
            file: Mutex::new(file),
        };
        Ok((journal, open.into_values().collect()))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn append(&self, e: &Entry) {
        let mut line = serde_json::to_vec(e).expect("a journal entry serializes");
        line.push(b'\n');
        let mut f = self.file.lock().expect("journal");
        // A journal that cannot be written only loses the clean-up of a later crash; say so and
        // go on rather than stopping the sink.
        if let Err(err) = f.write_all(&line) {
            tracing::warn!("writing the upload journal {}: {err}", self.path.display());
        }
    }

    pub fn started(&self, bucket: &str, key: &str, upload_id: &str) {
        self.append(&Entry::Started {
            bucket: bucket.into(),
            key: key.into(),
            upload_id: upload_id.into(),
        });
    }

    pub fn ended(&self, upload_id: &str) {
        self.append(&Entry::Ended {
            upload_id: upload_id.into(),
        });
    }

    /// Aborts the orphans; those S3 no longer knows (already completed or aborted) count as done.
    /// Returns how many were aborted. Each one dealt with is journaled as ended, so a failure half
    /// way leaves the rest for the next start. One that S3 refuses to abort (for example a
    /// missing s3:AbortMultipartUpload permission) is named in a warning and forgotten rather
    /// than stopping every later start; an S3 that cannot be reached is an error.
    pub async fn abort(&self, client: &Client, orphans: &[Orphan]) -> anyhow::Result<u64> {
        let mut aborted = 0;
        for o in orphans {
            let res = abort_one(client, o).await;
            match res {
                Ok(_) => {
                    aborted += 1;
                    again_while_parts_are_listed(client, o).await;
                }
                Err(e) if is_no_such_upload(&e) => {}
                Err(aws_sdk_s3::error::SdkError::ServiceError(e)) => tracing::warn!(
                    "S3 refused to abort the multipart upload {} of s3://{}/{} that an earlier sink left open ({}): abort it by hand (aws s3api abort-multipart-upload) or let a lifecycle rule (AbortIncompleteMultipartUpload) do it",
                    o.upload_id,
                    o.bucket,
                    o.key,
                    e.err().meta().code().unwrap_or("no error code"),
                ),
                Err(e) => {
                    return Err(anyhow::anyhow!(
                        "aborting the orphaned multipart upload {} of s3://{}/{}: {}",
                        o.upload_id,
                        o.bucket,
                        o.key,
                        aws_sdk_s3::error::DisplayErrorContext(e)
                    ))
                }
            }
            self.ended(&o.upload_id);
        }
        Ok(aborted)
    }
}

async fn abort_one(
    client: &Client,
    o: &Orphan,
) -> Result<
    aws_sdk_s3::operation::abort_multipart_upload::AbortMultipartUploadOutput,
    aws_sdk_s3::error::SdkError<
        aws_sdk_s3::operation::abort_multipart_upload::AbortMultipartUploadError,
        aws_sdk_s3::config::http::HttpResponse,
    >,
> {
    client
        .abort_multipart_upload()
        .bucket(&o.bucket)
        .key(&o.key)
        .upload_id(&o.upload_id)
        .send()
        .await
}

/// A part whose upload was under way when the abort came may land after it; AWS's advice is to
/// abort again until ListParts shows none. A few tries, a second apart; an answer that is not a
/// list of parts (NoSuchUpload once the upload is gone) ends them.
async fn again_while_parts_are_listed(client: &Client, o: &Orphan) {
    for again in 0..=3 {
        let listed = client
            .list_parts()
            .bucket(&o.bucket)
            .key(&o.key)
            .upload_id(&o.upload_id)
            .send()
            .await;
        if !listed.is_ok_and(|l| !l.parts().is_empty()) {
            return;
        }
        if again == 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        if let Err(e) = abort_one(client, o).await {
            tracing::debug!("aborting {} again: {e}", o.upload_id);
        }
    }
    tracing::warn!(
        "parts of the multipart upload {} of s3://{}/{} are still listed after four aborts: abort it by hand (aws s3api abort-multipart-upload) or let a lifecycle rule (AbortIncompleteMultipartUpload) do it",
        o.upload_id,
        o.bucket,
        o.key
    );
}

fn is_no_such_upload<E: aws_sdk_s3::error::ProvideErrorMetadata>(
    e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> bool {
    match e {
        aws_sdk_s3::error::SdkError::ServiceError(s) => {
            s.err().code() == Some("NoSuchUpload") || s.raw().status().as_u16() == 404
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_left_open_are_found_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sink/uploads.jsonl");
        {
            let (j, orphans) = Journal::open(&path).unwrap();
            assert!(orphans.is_empty());
            j.started("b", "k1", "u1");
            j.started("b", "k2", "u2");
            j.ended("u1");
            assert!(
                matches!(Journal::open(&path), Err(JournalError::Locked { .. })),
                "a second sink on the same journal is refused"
            );
        }
        // A torn last line, as from a kill mid-write.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"event\":\"started\",\"buck").unwrap();
        drop(f);
        {
            let (j, orphans) = Journal::open(&path).unwrap();
            assert_eq!(orphans.len(), 1);
            j.ended("u3");
        }
        let (_, orphans) = Journal::open(&path).unwrap();
        assert_eq!(
            orphans,
            vec![Orphan {
                bucket: "b".into(),
                key: "k2".into(),
                upload_id: "u2".into()
            }]
        );
    }
}
