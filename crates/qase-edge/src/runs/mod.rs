//! Runs' shell: the queue consumer's part in runs (events to the run's
//! object, the delayed report, Qase's REST API), the `RunWatch` Durable
//! Object, and the runs routes of the operator API.

pub mod api;
pub mod reports;
pub mod run_watch;
