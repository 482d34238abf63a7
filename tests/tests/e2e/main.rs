//! End-to-end tests through the served Worker. One binary, a module per concern:
//! - `health`: the health route.
//! - `ingest`: `POST /webhooks/qase` status paths, in the order they are checked.
//! - `storage`: what lands in KV: every event byte for byte, duplicates.
//! - `policy`: payloads that do not fit, under `quarantine` and `reject`.
//! - `routing`: routing rules and `ignored` deliveries.
//! - `secrets`: rotation, per-project secrets, disabled auth, no leaks.
//! - `hostile`: a corpus of 150+ hostile requests, each with its documented answer.
//! - `load`: 5,000 deliveries without loss; a destination down or flapping.
//! - `faults`: broken configuration and failing sinks answer 503, never 2xx.
//! - `delivery`: forwarding to downstream services: signatures, retries,
//!   backoff, dead letters.
//! - `access`: Cloudflare Access in front of `/api` and `/console` (#31).
//! - `api`: the operator API: auth, listing, inspection, replay, deletion.
//! - `chat`: Slack, Teams, Discord and Google Chat destinations, paced.
//! - `console`: the operator console at `/console/`, in headless Chromium.
//! - `guard`: breakers (pause, hold, probe, drain), alerts, the watchdog (#19).
//! - `flaky`: a destination failing each event twice is never stalled (#27).
//! - `hardening`: regressions found by adversarial testing from outside.
//! - `metrics`: `GET /metrics` parsed by `prometheus_client`: exact figures, escaping, auth (#32).
//! - `openapi`: every served answer of a tour validates against `openapi.json`.
//! - `runs`: test runs: their state, one report per run, the CI gate `qase-hook wait`.
//! - `reconcile`: the cron's reconcile pass ends the runs whose end Qase's webhooks lost (#29).
//! - `disabled`: a webhook suspected disabled, told apart from a quiet project (#29).
//! - `github`: runs as GitHub commit statuses and one pull-request comment (#30).

mod access;
mod api;
mod chat;
mod console;
mod delivery;
mod disabled;
mod faults;
mod flaky;
mod github;
mod guard;
mod hardening;
mod health;
mod hostile;
mod ingest;
mod load;
mod metrics;
mod openapi;
mod policy;
mod reconcile;
mod routing;
mod runs;
mod secrets;
mod storage;

use std::sync::LazyLock;

use qase_edge_e2e::{Worker, WorkerOptions};

/// The Worker with the default test configuration, shared by the tests that
/// need nothing else (each started Worker costs a second or two).
pub fn default_worker() -> &'static Worker {
    static WORKER: LazyLock<Worker> = LazyLock::new(|| Worker::start(WorkerOptions::with_secret()));
    &WORKER
}
