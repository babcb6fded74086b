//! The outside world: Kafka and S3 clients from the scenario, and the embedded services that
//! stand in for them on the zero-setup default (librdkafka's mock cluster, an s3s server).

pub mod connect;
pub mod embedded;
pub mod iceberg;
pub mod lag;
pub mod metrics_server;
pub mod msk_iam;
