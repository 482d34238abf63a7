//! The stores' shell: statements run on D1, the writes and reads of KV and
//! the delivery queue as the engine planned them, and the cron sweep.

pub mod db;
pub mod queue;
pub mod sinks;
pub mod sweep;
