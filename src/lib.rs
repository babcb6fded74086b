//! tickbench: a load generator and benchmark harness for pipelines that land market data from
//! Kafka in S3. See DESIGN.md (shared) and the README for the vocabulary and the measurements.
//!
//! Layers, top to bottom (dependencies point down only):
//! `cli` → `commands` → `produce`, `sink`, `audit`, `outcome`, `report`, `progress` → `results`
//! → `config`, `metrics`, `model`, `units`, `clock`, `resources`; `io` (Kafka, S3, the embedded
//! services) is used by the layers that talk to the outside.

pub mod audit;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod io;
pub mod metrics;
pub mod model;
pub mod observe;
pub mod outcome;
pub mod produce;
pub mod progress;
pub mod report;
pub mod resources;
pub mod results;
pub mod sink;
pub mod units;
