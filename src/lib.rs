//! tickbench: a load generator and benchmark harness for pipelines that land market data from
//! Kafka in S3. See DESIGN.md (shared) and the README for the vocabulary and the measurements.

pub mod audit;
pub mod catalog;
pub mod cli;
pub mod clock;
pub mod compact;
pub mod connect;
pub mod doctor;
pub mod embedded;
pub mod format;
pub mod layout;
pub mod load;
pub mod maxrate;
pub mod merge;
pub mod metrics;
pub mod produce;
pub mod progress;
pub mod query;
pub mod report;
pub mod resources;
pub mod results;
pub mod run;
pub mod scenario;
pub mod sim;
pub mod sink;
pub mod sweep;
pub mod thresholds;
pub mod tick;
pub mod up;
pub mod verify;
