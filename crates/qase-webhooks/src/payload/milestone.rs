//! Milestone events: `milestone.created`, `milestone.updated`, `milestone.deleted`.

use serde::{Deserialize, Serialize};

/// `milestone.created`: a new milestone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MilestoneCreated {
    /// The milestone id.
    pub id: u64,
    /// The milestone title.
    pub title: String,
    /// The milestone description.
    #[serde(default)]
    pub description: Option<String>,
}

/// `milestone.updated` and `milestone.deleted`: only the milestone id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct MilestoneRef {
    /// The milestone id.
    pub id: u64,
}
