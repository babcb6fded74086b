//! One module a command: each assembles the layers below into what `tickbench <command>` does.

pub mod catalog;
pub mod compact;
pub mod doctor;
pub mod live_metrics;
pub mod max;
pub mod merge;
pub mod observe;
pub mod produce;
pub mod query;
pub mod results_to;
pub mod run;
pub mod sink;
pub mod store;
pub mod sweep;
pub mod up;
pub mod verify;
