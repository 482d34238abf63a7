//! Runs' shell: the `RunWatch` Durable Object (a run's state, applied by
//! the delivery consumer's operations, read and taken by the report's) and
//! the runs routes of the operator API.

pub mod api;
pub mod run_watch;
