//! Where accepted events are kept: the D1 statements and the rules that
//! make forwarding exactly-once, the KV layout, what a failed write means,
//! the cron sweep that completes what a failure left, and the copy of a
//! history kept in KV by older versions.

pub mod d1;
pub mod failure;
pub mod layout;
pub mod migrate_kv;
pub mod settings;
pub mod sweep;
pub mod types;
