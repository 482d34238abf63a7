//! Test plan events: `plan.created`, `plan.updated`, `plan.deleted`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `plan.created`: a new plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PlanCreated {
    /// The plan id.
    pub id: u64,
    /// The plan title.
    pub title: String,
    /// The plan description.
    #[serde(default)]
    pub description: Option<String>,
    /// The plan's cases: keys are case ids as strings (`{"1033": 0}`); Qase
    /// does not document what the value means, so it is kept as sent.
    #[serde(default)]
    pub cases: BTreeMap<String, serde_json::Value>,
}

/// `plan.updated`: the plan id and its cases.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PlanUpdated {
    /// The plan id.
    pub id: u64,
    /// The plan's cases, keyed by case id (see [`PlanCreated::cases`]).
    #[serde(default)]
    pub cases: BTreeMap<String, serde_json::Value>,
}

/// `plan.deleted`: only the plan id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct PlanRef {
    /// The plan id.
    pub id: u64,
}
