//! The integration tests: one binary (as cargo's own test suite is laid out), so the crates they
//! link (DataFusion, the AWS SDK, librdkafka) are linked once. A module per area; shared helpers in
//! `common`. Run one area with `cargo test --test it <module>::`.

mod broker_restart;
mod cli;
mod clock_step;
mod common;
mod compact;
mod deploy;
mod docs;
mod doctor_up;
mod external;
mod faults;
mod formats;
mod fuzz;
mod iceberg;
mod maxrate;
mod memory;
mod metrics;
mod msk_iam;
mod multipart;
mod observe;
mod observe_events;
mod pipeline;
mod query;
mod readers;
mod rebalance;
mod report;
mod s3_faults;
mod scale_out;
mod schema;
mod sink_kill;
mod sweep;
mod verify;
mod zombie;
