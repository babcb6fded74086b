//! How the sink ends early: why, and with what it had done by then.

use std::collections::BTreeMap;
use std::time::Duration;

use super::upload::UploadError;
use super::SinkReport;

/// Why the sink stopped early.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Upload(#[from] UploadError),
    #[error("offset commit failed: {0}")]
    Commit(String),
    #[error("Iceberg table commit failed: {0}")]
    Table(String),
    #[error("it stopped before the load ended")]
    Stopped,
    #[error("the sink did not land everything within sink.drain_timeout ({timeout:?}): positions {positions:?}, targets {targets:?}")]
    DrainTimeout {
        timeout: Duration,
        positions: BTreeMap<i32, i64>,
        targets: BTreeMap<i32, i64>,
    },
}

/// A sink that stopped early, with what it had landed and committed by then (the evidence).
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct SinkFailure {
    pub error: SinkError,
    pub report: Box<SinkReport>,
}
