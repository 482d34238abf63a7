//! End-to-end tests through the served Worker. One binary, a module per concern:
//! - `health`: the health route.
//! - `ingest`: `POST /webhooks/qase`, from the status paths to what lands in KV.

mod health;
mod ingest;

use std::sync::LazyLock;

use qase_edge_e2e::{Worker, WorkerOptions};

/// The Worker with the default test configuration, shared by the tests that
/// need nothing else (each started Worker costs a second or two).
pub fn default_worker() -> &'static Worker {
    static WORKER: LazyLock<Worker> = LazyLock::new(|| Worker::start(WorkerOptions::with_secret()));
    &WORKER
}
