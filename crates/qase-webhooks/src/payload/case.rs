//! Test case events: `case.created`, `case.updated`, `case.deleted`, `case.cloned`.

use serde::{Deserialize, Serialize};

use super::common::{Attachment, SystemField};
use super::custom_field::CustomFieldType;

/// A test case as the four `case.*` events carry it.
///
/// `case.created` carries the whole case. Qase's docs say `case.updated` and
/// `case.deleted` carry only `id`, and `case.cloned` only `id` and `from_id`;
/// its newer Notion page says all four carry the full case (D2). Every field
/// but `id` is therefore optional, and an id-only payload is valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TestCase {
    /// The case id (project-scoped). For `case.cloned`, the clone's id.
    pub id: u64,
    /// For `case.cloned`: the id of the original case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_id: Option<u64>,
    /// The case title.
    #[serde(default)]
    pub title: Option<String>,
    /// Description, in Markdown.
    #[serde(default)]
    pub description: Option<String>,
    /// Preconditions, in Markdown.
    #[serde(default)]
    pub preconditions: Option<String>,
    /// Postconditions, in Markdown.
    #[serde(default)]
    pub postconditions: Option<String>,
    /// Severity, e.g. `{id: 4, title: "Normal"}`.
    #[serde(default)]
    pub severity: Option<SystemField>,
    /// Priority, e.g. `{id: 2, title: "Medium"}`.
    #[serde(default)]
    pub priority: Option<SystemField>,
    /// Case type, e.g. `{id: 8, title: "Functional"}`.
    #[serde(default, rename = "type")]
    pub case_type: Option<SystemField>,
    /// Case status, e.g. `{id: 0, title: "Actual"}`.
    #[serde(default)]
    pub status: Option<SystemField>,
    /// Automation status, e.g. `{id: 1, title: "To be automated"}`.
    #[serde(default)]
    pub automation: Option<SystemField>,
    /// Behavior, e.g. `{id: 2, title: "Positive"}`.
    #[serde(default)]
    pub behavior: Option<SystemField>,
    /// The suite the case is in; `null` when it is in none.
    #[serde(default)]
    pub suite_id: Option<u64>,
    /// The milestone of the case, if any.
    #[serde(default)]
    pub milestone_id: Option<u64>,
    /// The steps, in order.
    #[serde(default)]
    pub steps: Vec<CaseStep>,
    /// Attachments: ids or objects (D9).
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// Custom field values.
    #[serde(default)]
    pub custom_fields: Vec<CaseCustomField>,
}

/// One step of a test case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CaseStep {
    /// 1-based position of the step.
    #[serde(default)]
    pub position: Option<u64>,
    /// What to do; empty only for a step that references a shared step.
    #[serde(default)]
    pub action: Option<String>,
    /// What should happen.
    #[serde(default)]
    pub expected_result: Option<String>,
    /// Input data (in Qase's example, missing from its field table, D12).
    #[serde(default)]
    pub data: Option<String>,
    /// Whether the step is a shared step.
    #[serde(default)]
    pub shared: Option<bool>,
    /// Attachments of the step.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// A custom field's value on a test case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct CaseCustomField {
    /// The custom field id.
    pub id: u64,
    /// The custom field title.
    #[serde(default)]
    pub title: Option<String>,
    /// The field type.
    #[serde(default, rename = "type")]
    pub field_type: Option<CustomFieldType>,
    /// The value, as a string even for numbers (Qase's example: `"1"`).
    #[serde(default)]
    pub value: Option<serde_json::Value>,
}
