//! The market and the data: pure code, no I/O. Ticks and their encoding, the simulator, the
//! load's schedule, the S3 key layout, the object formats and the Iceberg table's shape.

pub mod format;
pub mod layout;
pub mod load;
pub mod sim;
pub mod table;
pub mod tick;
