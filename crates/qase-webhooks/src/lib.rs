//! Typed models, the secret check and event ids for [Qase.io] webhooks.
//!
//! Qase posts a JSON envelope (`event_name`, `timestamp`, `payload`,
//! `team_member_id`, `project_code`) and authenticates it only with a shared
//! secret in `X-Qase-Secret`. This crate turns those raw bytes into a
//! [`VerifiedDelivery`] and its typed [`Event`], with an error that says
//! exactly what is wrong for anything else. It has no I/O, no clock and no
//! `worker` dependency: it runs in a Cloudflare Worker, on a server, or in a test.
//!
//! The steps, in the order a receiver needs them:
//! 1. [`SecretPolicy::authenticate`] checks the header in constant time,
//!    before the body is read.
//! 2. [`Credential::admit`] parses the [`Envelope`] strictly, checks
//!    per-project secrets and derives the [`EventId`] from the bytes.
//! 3. [`Envelope::event`] types the payload by its event name. Unknown
//!    events are values ([`Event::Unknown`]), not errors.
//!
//! ```
//! use qase_webhooks::{Event, Secret, SecretPolicy};
//!
//! let policy = SecretPolicy::new([Secret::new("s3cret").unwrap()]);
//! let body = br#"{"event_name":"run.completed","timestamp":1700000000,
//!     "payload":{"id":7,"cases":3,"passed":3,"failed":0,"blocked":0,"duration":42},
//!     "team_member_id":12,"project_code":"DEMO"}"#;
//!
//! let credential = policy.authenticate(Some(b"s3cret")).expect("secret matches");
//! let delivery = credential.admit(body).expect("valid envelope");
//! assert_eq!(delivery.envelope().project_code, "DEMO");
//! assert!(delivery.id().to_string().starts_with("evt_"));
//!
//! match delivery.envelope().event().expect("payload fits") {
//!     Event::RunCompleted(run) => assert_eq!(run.passed, 3),
//!     other => panic!("unexpected {other:?}"),
//! }
//!
//! assert!(policy.authenticate(Some(b"wrong")).is_err());
//! ```
//!
//! # Features
//!
//! - `schema` (default): the [`schema`] module, JSON Schemas of the envelope
//!   and of each event's payload, generated from the types with `schemars`.
//!   Leave it out (`default-features = false`) where code size matters, as
//!   in a Worker that only parses.
//!
//! # Beyond the three steps
//!
//! [`routing`] decides which targets a delivery goes to, [`retry`] what to
//! do after a delivery attempt downstream, [`signing`] signs and verifies
//! forwarded deliveries (Standard Webhooks), and [`chat`] renders an event
//! as a Slack, Microsoft Teams, Discord or Google Chat message.
//! `examples/axum.rs` in the repository is a complete receiver on axum.
//!
//! [Qase.io]: https://qase.io

#![deny(missing_docs)]

pub mod chat;
mod envelope;
mod error;
mod event_id;
mod event_name;
pub mod payload;
pub mod retry;
pub mod routing;
pub mod run_report;
#[cfg(feature = "schema")]
pub mod schema;
mod secret;
pub mod signing;
mod subjects;

pub use chat::{render, ChatFormat};
pub use envelope::{Envelope, MAX_EVENT_NAME_LEN, MAX_PROJECT_CODE_LEN, MAX_SAFE_INTEGER};
pub use error::{EnvelopeError, JsonKind};
pub use event_id::{EventId, ParseEventIdError, EVENT_ID_PREFIX};
pub use event_name::EventName;
pub use payload::{Event, NotPortable, PayloadError};
pub use secret::{
    trim_header_value, AdmitError, Credential, Secret, SecretError, SecretPolicy, Unauthorized,
    VerifiedDelivery,
};
pub use subjects::Subjects;

// The README's examples run as doc tests too, so the crate page cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
