//! `tickbench doctor SCENARIO`: checks, before a run, that the brokers answer, the topic exists or
//! may be created, and the bucket takes what the sink will do to it (put, multipart, list). Each
//! check says plainly what is wrong and how to fix it.

use std::fmt;

use crate::config::Scenario;

mod kafka;
mod s3;

use kafka::kafka_checks;
use s3::s3_checks;

/// What the probe object and the probe record hold.
const PROBE: &[u8] = b"tickbench doctor probe\n";

/// One check's outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Ok,
    Warn,
    /// The service answered and refused: the credentials lack a permission (the AWS or Kafka
    /// error code says which).
    Denied(String),
    /// The service did not answer (connection refused, no such host, timeout).
    Unreachable,
    Fail,
}

impl Status {
    /// A run would fail on it.
    pub fn is_failure(&self) -> bool {
        matches!(self, Status::Denied(_) | Status::Unreachable | Status::Fail)
    }
}

#[derive(Debug, Clone)]
pub struct Check {
    pub status: Status,
    pub what: String,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.status {
            Status::Ok => write!(f, "ok           {}", self.what),
            Status::Warn => write!(f, "warn         {}", self.what),
            Status::Denied(code) => write!(f, "DENIED       {} [{code}]", self.what),
            Status::Unreachable => write!(f, "UNREACHABLE  {}", self.what),
            Status::Fail => write!(f, "FAIL         {}", self.what),
        }
    }
}

fn check(status: Status, what: impl Into<String>) -> Check {
    Check {
        status,
        what: what.into(),
    }
}

fn ok(what: impl Into<String>) -> Check {
    check(Status::Ok, what)
}

fn warn(what: impl Into<String>) -> Check {
    check(Status::Warn, what)
}

fn fail(what: impl Into<String>) -> Check {
    check(Status::Fail, what)
}

/// Runs every check that applies to the scenario; `report` is called as each one finishes.
pub async fn run(s: &Scenario, mut report: impl FnMut(&Check)) -> Vec<Check> {
    let mut out = Vec::new();
    let mut push = |c: Check| {
        report(&c);
        out.push(c);
    };
    match &s.kafka.brokers {
        None => push(ok(
            "kafka: no brokers named; `tickbench run` starts librdkafka's mock cluster in-process",
        )),
        Some(brokers) => {
            for c in kafka_checks(brokers, s).await {
                push(c);
            }
        }
    }
    if s.s3.is_embedded() {
        push(ok(
            "s3: no endpoint or bucket named; `tickbench run` starts the in-process S3 server",
        ));
    } else {
        for c in s3_checks(s).await {
            push(c);
        }
    }
    out
}
