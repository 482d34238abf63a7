//! JSON Schemas for the envelope and each event's payload, generated from the
//! Rust types so that they cannot describe anything the parser does not do.
//!
//! The generated schemas are committed under `crates/qase-webhooks/schema/`;
//! a test fails when they drift from the types (regenerate with
//! `QASE_UPDATE_SCHEMAS=1 cargo test -p qase-webhooks schema`).

use schemars::schema::RootSchema;
use schemars::{schema_for, JsonSchema};

use crate::event_name::EventName;

/// The envelope as a schema-only type; parsing is done by [`crate::Envelope`].
#[derive(JsonSchema)]
#[allow(dead_code)] // only read by schemars
struct QaseEnvelope {
    /// The event, e.g. `run.completed`.
    #[schemars(length(min = 1, max = 128))]
    event_name: String,
    /// When the event happened, in Unix seconds.
    #[schemars(range(min = 0, max = 9_007_199_254_740_991u64))]
    timestamp: u64,
    /// The event's payload; its shape depends on `event_name`.
    payload: serde_json::Map<String, serde_json::Value>,
    /// Who triggered the event; 0 for a non-member such as an automation token.
    #[schemars(range(min = 0, max = 9_007_199_254_740_991u64))]
    team_member_id: u64,
    /// The project code, e.g. `DEMO`.
    #[schemars(length(min = 1, max = 64))]
    project_code: String,
}

/// The schema of the envelope every delivery shares.
pub fn envelope_schema() -> RootSchema {
    schema_for!(QaseEnvelope)
}

/// The schema of the run report qase-edge sends to `"reports": true`
/// destinations in the `standard` format ([`crate::run_report::RunReport`]).
pub fn run_report_schema() -> RootSchema {
    schema_for!(crate::run_report::RunReport)
}

/// The schema of `name`'s payload, or `None` for events without a documented
/// payload (the Results events and unknown events).
///
/// ```
/// use qase_webhooks::schema::{envelope_schema, payload_schema};
/// use qase_webhooks::EventName;
///
/// let envelope = serde_json::to_value(envelope_schema()).unwrap();
/// assert!(envelope["required"].as_array().unwrap().contains(&"project_code".into()));
/// assert!(payload_schema(&EventName::RunCompleted).is_some());
/// assert!(payload_schema(&EventName::ResultCreated).is_none());
/// ```
pub fn payload_schema(name: &EventName) -> Option<RootSchema> {
    // One table maps events to payload types: see `payload::typed_events!`.
    crate::payload::payload_schema(name)
}
