//! Small shapes several entity families share.

use serde::{Deserialize, Serialize};

/// A Qase user as it appears in review events (`created_by`, `reviewer`, ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct User {
    /// The user's email.
    #[serde(default)]
    pub email: Option<String>,
    /// The user's display name.
    #[serde(default)]
    pub name: Option<String>,
}

/// An id Qase sends sometimes as an integer and sometimes as a string
/// (e.g. review `data.id`: `"25"` in one example, `25` in another, D11).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum LooseId {
    /// Sent as a JSON integer.
    Integer(u64),
    /// Sent as a JSON string.
    String(String),
}

impl LooseId {
    /// The id as an integer, when it is one or a string of digits.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            LooseId::Integer(id) => Some(*id),
            LooseId::String(id) => id.parse().ok(),
        }
    }
}

/// An attachment reference: Qase's docs say "an array of attachment ids",
/// its Notion page "list of attachment objects" (D9). Both are accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum Attachment {
    /// A numeric attachment id.
    Id(u64),
    /// An attachment hash or other string id.
    Hash(String),
    /// An attachment object, kept as sent.
    Object(serde_json::Map<String, serde_json::Value>),
}

/// A test case's system field (severity, priority, type, status, automation,
/// behavior): `{id, title}`, with `icon` and `color` for severity and priority.
///
/// Qase documents the values only for priority (0 Not set, 1 High, 2 Medium,
/// 3 Low); workspaces can define their own, so `id` and `title` are open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SystemField {
    /// The value's id.
    pub id: i64,
    /// The value's label, e.g. "Medium".
    #[serde(default)]
    pub title: Option<String>,
    /// Icon name (severity and priority only).
    #[serde(default)]
    pub icon: Option<String>,
    /// Colour name (severity and priority only).
    #[serde(default)]
    pub color: Option<String>,
}
