//! Shared step events: `shared_step.created`, `shared_step.updated`, `shared_step.deleted`.
//!
//! Shared steps are identified by a `hash` string, not an integer id.

use serde::{Deserialize, Serialize};

use super::common::Attachment;

/// `shared_step.created`: a new shared step.
///
/// Qase's table lists `hash, steps, data`; its example sends `hash, title,
/// steps` (D8). All are accepted; only `hash` is required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SharedStepCreated {
    /// The shared step's hash.
    pub hash: String,
    /// The shared step's title (in the example, not in the table).
    #[serde(default)]
    pub title: Option<String>,
    /// The steps it is made of.
    #[serde(default)]
    pub steps: Vec<SharedStepStep>,
    /// "Shared step data" (in the table, not in the example).
    #[serde(default)]
    pub data: Option<String>,
}

/// One step inside a shared step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SharedStepStep {
    /// The step's hash.
    #[serde(default)]
    pub hash: Option<String>,
    /// What to do.
    #[serde(default)]
    pub action: Option<String>,
    /// What should happen.
    #[serde(default)]
    pub expected_result: Option<String>,
    /// Input data.
    #[serde(default)]
    pub data: Option<String>,
    /// Attachments of the step.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// `shared_step.updated` and `shared_step.deleted`: the shared step's hash.
///
/// The `updated` table calls the key `id` (a string), its example `hash`
/// (D8): both keys are accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SharedStepRef {
    /// The shared step's hash (sent as `hash` or as `id`).
    #[serde(alias = "id")]
    pub hash: String,
}
