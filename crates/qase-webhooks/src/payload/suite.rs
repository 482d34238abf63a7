//! Test suite events: `suite.created`, `suite.updated`, `suite.deleted`, `suite.cloned`.

use serde::{Deserialize, Serialize};

/// `suite.created`: a new suite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SuiteCreated {
    /// The suite id.
    pub id: u64,
    /// The suite title.
    pub title: String,
    /// Description; `null` in Qase's example.
    #[serde(default)]
    pub description: Option<String>,
    /// Preconditions; `null` in Qase's example.
    #[serde(default)]
    pub preconditions: Option<String>,
    /// The parent suite, `null` for a top-level suite.
    #[serde(default)]
    pub parent_id: Option<u64>,
}

/// `suite.updated` and `suite.deleted`: only the suite's id ("fetch the rest
/// from the API", as Qase puts it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SuiteRef {
    /// The suite id.
    pub id: u64,
}

/// `suite.cloned`: the clone and its original.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SuiteCloned {
    /// The clone's id.
    pub id: u64,
    /// The original's id.
    pub from_id: u64,
}
