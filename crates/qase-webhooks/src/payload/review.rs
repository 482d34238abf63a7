//! Test review events: `review.created`, `review.updated`, `review.reopened`,
//! `review.approval_status_changed`, `review.reviewer_added`,
//! `review.reviewer_removed`, `review.merged`, `review.commented`,
//! `review.declined`, `review.deleted`.

use serde::{Deserialize, Serialize};

use super::common::{LooseId, User};
use super::open_enum;

/// `review.created`: a new test case review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReviewCreated {
    /// The review id.
    pub id: u64,
    /// The reviewed case's title.
    #[serde(default)]
    pub title: Option<String>,
    /// The reviewed case's id.
    #[serde(default)]
    pub case_id: Option<u64>,
    /// The project code.
    #[serde(default)]
    pub project: Option<String>,
    /// Who created the review.
    #[serde(default)]
    pub created_by: Option<User>,
    /// When, as `"YYYY-MM-DD hh:mm:ss"` with no time zone given.
    #[serde(default)]
    pub created: Option<String>,
}

/// `review.updated` and `review.reopened`: the review with a snapshot of the case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReviewChanged {
    /// The review id.
    pub id: u64,
    /// The reviewed case's title.
    #[serde(default)]
    pub title: Option<String>,
    /// The reviewed case's id.
    #[serde(default)]
    pub case_id: Option<u64>,
    /// The project code.
    #[serde(default)]
    pub project: Option<String>,
    /// The reviewed case as proposed (undocumented beyond "review object").
    #[serde(default)]
    pub data: Option<ReviewCaseSnapshot>,
    /// Who changed the review.
    #[serde(default)]
    pub updated_by: Option<User>,
    /// Approvals; Qase does not specify their shape, so they are kept as sent.
    #[serde(default)]
    pub approves: Vec<serde_json::Value>,
    /// When, as `"YYYY-MM-DD hh:mm:ss"` with no time zone given.
    #[serde(default)]
    pub updated: Option<String>,
}

/// The case snapshot inside `review.updated` and `review.reopened`.
///
/// Qase does not document it; only the keys that identify the case are
/// typed, and all others are kept in `other`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReviewCaseSnapshot {
    /// The case id: a string in one example, an integer in another (D11).
    #[serde(default)]
    pub id: Option<LooseId>,
    /// The case title.
    #[serde(default)]
    pub title: Option<String>,
    /// Every other key, as sent.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

open_enum! {
    /// A review's approval status.
    ApprovalStatus {
        /// `unapproved`
        Unapproved => "unapproved",
        /// `approved`
        Approved => "approved",
        /// `request changes` (with a space, as Qase documents it)
        RequestChanges => "request changes",
    }
}

/// `review.approval_status_changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReviewApprovalStatusChanged {
    /// The review id.
    pub id: u64,
    /// The new status.
    pub status: ApprovalStatus,
    /// Who changed it.
    #[serde(default)]
    pub updated_by: Option<User>,
}

/// `review.reviewer_added` and `review.reviewer_removed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReviewReviewer {
    /// The review id.
    pub id: u64,
    /// The reviewer added or removed.
    pub reviewer: User,
}

/// `review.merged`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReviewMerged {
    /// The review id.
    pub id: u64,
    /// Who merged it.
    #[serde(default)]
    pub merged_by: Option<User>,
}

/// `review.commented`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReviewCommented {
    /// The review id.
    pub id: u64,
    /// The comment's text.
    pub comment: String,
    /// Who commented.
    #[serde(default)]
    pub commented_by: Option<User>,
}

/// `review.declined`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReviewDeclined {
    /// The review id.
    pub id: u64,
    /// Who declined it.
    #[serde(default)]
    pub declined_by: Option<User>,
}

/// `review.deleted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ReviewDeleted {
    /// The review id.
    pub id: u64,
    /// Who deleted it.
    #[serde(default)]
    pub deleted_by: Option<User>,
}
