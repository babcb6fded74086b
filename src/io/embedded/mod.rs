//! The zero-setup default: librdkafka's mock cluster and an S3-compatible server, both in-process,
//! both spoken to over their real protocols by the same clients that talk to real services.

mod faults;
mod kafka;
mod s3;

pub use faults::{Hold, Refuse, S3FaultProxy, S3Faults};

pub use kafka::{EmbeddedKafka, Fault};
pub use s3::{EmbeddedS3, S3User, ACCESS_KEY as S3_ACCESS_KEY, SECRET_KEY as S3_SECRET_KEY};
