//! The ingest decision for `POST /webhooks/qase`, in the order the checks
//! run: cheapest and least revealing first.
//!
//! 1. [`check_headers`]: configuration, declared size, secret, content
//!    type, before a byte of the body is read.
//! 2. [`check_body_size`] while the shell reads the body, then [`admit`]:
//!    JSON, envelope, per-project secrets, the event id.
//! 3. [`plan`]: the outcome and the writes: the D1 row, the KV copy, the
//!    queue message, and what covers each of them when it fails.
//! 4. [`Ingest`]: the plan carried out in rounds, fed with what the stores
//!    answered, down to the answer: `2xx` once a durable store holds the
//!    delivery, else a refusal that says whether a retry can help.
//!
//! Every function is pure; the ingest module (`qase-edge-ingest`, and
//! `qase_edge::ingest` for bodies without a length) carries them out.

mod admission;
mod answer;
pub mod log;
mod plan;
mod rounds;
pub mod settings;
#[cfg(test)]
mod tests;

pub use admission::{admit, check_body_size, check_headers, Admission, RequestFacts};
pub use answer::{answer_body, Outcome, Refusal};
pub use plan::{plan, KvMetadata, KvWrite, Plan, Quarantine};
pub use rounds::{Ingest, Next, Op, OpResult};
