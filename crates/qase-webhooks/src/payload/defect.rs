//! Defect events: `defect.created`, `defect.updated`, `defect.resolved`, `defect.deleted`.

use serde::{Deserialize, Serialize};

use super::common::Attachment;

/// `defect.created`: a new defect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DefectCreated {
    /// The defect id.
    pub id: u64,
    /// The defect title.
    pub title: String,
    /// Severity as a plain string (e.g. `"normal"`), unlike a case's
    /// severity object.
    #[serde(default)]
    pub severity: Option<String>,
    /// Description of the defect.
    #[serde(default)]
    pub actual_result: Option<String>,
    /// Attachments: ids or objects.
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// `defect.updated`, `defect.resolved` and `defect.deleted`: only the defect id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct DefectRef {
    /// The defect id.
    pub id: u64,
}
