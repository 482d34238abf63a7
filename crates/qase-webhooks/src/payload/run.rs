//! Test run events: `run.started`, `run.aborted`, `run.updated`, `run.deleted`,
//! `run.completed`, `run.report_changed`.
//!
//! **`duration` units are unclear.** Qase's user docs say milliseconds (since
//! 2024-10), its developer docs say seconds (D3), and every example is `0`.
//! The value is passed through unchanged; do not convert it without checking
//! against your own runs.

use serde::{Deserialize, Serialize};

/// `run.started`: a new run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RunStarted {
    /// The run id.
    pub id: u64,
    /// The run title.
    pub title: String,
    /// The run description.
    #[serde(default)]
    pub description: Option<String>,
    /// The plan the run was created from: an object today, `null` for a run
    /// without a plan (an older draft's example, D4).
    #[serde(default)]
    pub plan: Option<RunPlan>,
    /// How many cases the run has.
    #[serde(default)]
    pub cases_count: Option<u64>,
    /// The environment's slug, if any.
    #[serde(default)]
    pub environment: Option<String>,
}

/// The plan a run was started from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RunPlan {
    /// The plan id.
    pub id: u64,
    /// The plan title.
    #[serde(default)]
    pub title: Option<String>,
}

/// `run.completed`: counts of a successfully completed run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RunCompleted {
    /// The run id.
    pub id: u64,
    /// How many cases the run has.
    pub cases: u64,
    /// How many passed.
    pub passed: u64,
    /// How many failed.
    pub failed: u64,
    /// How many are blocked.
    pub blocked: u64,
    /// Not documented for `run.completed`; accepted if Qase sends it.
    #[serde(default, alias = "skiped", skip_serializing_if = "Option::is_none")]
    pub skipped: Option<u64>,
    /// Not documented for `run.completed`; accepted if Qase sends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub untested: Option<u64>,
    /// The run's duration; the unit is unclear (see the module docs).
    pub duration: u64,
}

/// `run.aborted`: counts of an aborted run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RunAborted {
    /// The run id.
    pub id: u64,
    /// How many cases the run has.
    pub cases: u64,
    /// How many passed.
    pub passed: u64,
    /// How many were skipped: the table says `skiped`, the example
    /// `skipped` (D5); both keys are accepted.
    #[serde(default, alias = "skiped")]
    pub skipped: Option<u64>,
    /// How many failed.
    pub failed: u64,
    /// How many were not tested.
    #[serde(default)]
    pub untested: Option<u64>,
    /// How many are blocked.
    pub blocked: u64,
    /// The run's duration; the unit is unclear (see the module docs).
    pub duration: u64,
}

/// `run.updated`: cases were added to a run.
///
/// The example sends `cases_added`, the table `cases_count` (D7); both are
/// accepted, see [`RunUpdated::added`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RunUpdated {
    /// The run id.
    pub id: u64,
    /// How many cases were added (the key in Qase's example).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cases_added: Option<u64>,
    /// How many cases the run has (the key in Qase's field table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cases_count: Option<u64>,
}

impl RunUpdated {
    /// The case count Qase sent, under whichever key it used.
    pub fn added(&self) -> Option<u64> {
        self.cases_added.or(self.cases_count)
    }
}

/// `run.deleted`: only the run id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RunRef {
    /// The run id.
    pub id: u64,
}

/// `run.report_changed`: the run's public report was turned on or off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RunReportChanged {
    /// The run id.
    pub id: u64,
    /// Whether the public report is available.
    pub visible: bool,
}
