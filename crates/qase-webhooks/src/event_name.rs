//! Every `event_name` Qase documents, plus the Results events it lists
//! without documenting, and a fallback for names Qase adds later.
//!
//! One table (the `event_names!` invocation below) is the single source of
//! the name, its enum variant and the label Qase shows in its UI, so the
//! three can never drift apart.

use std::fmt;
use std::str::FromStr;

macro_rules! event_names {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal, $ui:literal; )*) => {
        /// The `event_name` of a Qase webhook delivery.
        ///
        /// `Display` and `FromStr` round-trip the exact wire name. A name
        /// Qase has not documented yet parses to [`EventName::Unknown`]; it
        /// is a value, not an error, because Qase adds events over time.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum EventName {
            $( #[doc = concat!("`", $name, "`")] $(#[$doc])* $variant, )*
            /// A name this version does not know, kept verbatim.
            Unknown(String),
        }

        impl EventName {
            /// Every known event, in the order of Qase's event picker.
            pub const ALL: &'static [EventName] = &[ $( EventName::$variant, )* ];

            /// The wire name, e.g. `run.completed`.
            pub fn as_str(&self) -> &str {
                match self {
                    $( EventName::$variant => $name, )*
                    EventName::Unknown(name) => name,
                }
            }

            /// The label of this event in Qase's webhook form (e.g. "Test run
            /// start"), or `None` for an event that has no such label.
            pub fn ui_name(&self) -> Option<&'static str> {
                match self {
                    $( EventName::$variant => if $ui.is_empty() { None } else { Some($ui) }, )*
                    EventName::Unknown(_) => None,
                }
            }

            fn known(name: &str) -> Option<EventName> {
                match name {
                    $( $name => Some(EventName::$variant), )*
                    _ => None,
                }
            }
        }
    };
}

event_names! {
    CaseCreated => "case.created", "Create test case";
    CaseUpdated => "case.updated", "Update test case";
    CaseDeleted => "case.deleted", "Delete test case";
    CaseCloned => "case.cloned", "Clone test case";
    SuiteCreated => "suite.created", "Create test suite";
    SuiteUpdated => "suite.updated", "Update test suite";
    SuiteDeleted => "suite.deleted", "Delete test suite";
    SuiteCloned => "suite.cloned", "Clone test suite";
    PlanCreated => "plan.created", "Create test plan";
    PlanUpdated => "plan.updated", "Update test plan";
    PlanDeleted => "plan.deleted", "Delete test plan";
    SharedStepCreated => "shared_step.created", "Create shared step";
    SharedStepUpdated => "shared_step.updated", "Update shared step";
    SharedStepDeleted => "shared_step.deleted", "Delete shared step";
    MilestoneCreated => "milestone.created", "Create milestone";
    MilestoneUpdated => "milestone.updated", "Update milestone";
    MilestoneDeleted => "milestone.deleted", "Delete milestone";
    CustomFieldCreated => "custom_field.created", "Create custom field";
    CustomFieldUpdated => "custom_field.updated", "Update custom field";
    CustomFieldDeleted => "custom_field.deleted", "Delete custom field";
    RunStarted => "run.started", "Test run start";
    RunAborted => "run.aborted", "Test run aborted";
    /// Qase's UI calls it "Test cases added to run"; its docs say "when a test
    /// plan is updated and new test cases were added".
    RunUpdated => "run.updated", "Test cases added to run";
    RunDeleted => "run.deleted", "Delete test run";
    RunCompleted => "run.completed", "Complete test run";
    /// Fires when a run's public report link is turned on (and perhaps off:
    /// the payload carries `visible`).
    RunReportChanged => "run.report_changed", "Public link turned on";
    DefectCreated => "defect.created", "Create defect";
    /// Documented, but no Qase UI list shows an item for it.
    DefectUpdated => "defect.updated", "";
    DefectResolved => "defect.resolved", "Resolve defect";
    DefectDeleted => "defect.deleted", "Delete defect";
    ReviewCreated => "review.created", "Create test review";
    ReviewUpdated => "review.updated", "Update test review";
    ReviewApprovalStatusChanged => "review.approval_status_changed", "Approval status change";
    ReviewReviewerAdded => "review.reviewer_added", "Reviewer added";
    ReviewReviewerRemoved => "review.reviewer_removed", "Reviewer removed";
    ReviewMerged => "review.merged", "Merge test review";
    ReviewReopened => "review.reopened", "Reopen test review";
    ReviewCommented => "review.commented", "Comment test review";
    ReviewDeclined => "review.declined", "Decline test review";
    ReviewDeleted => "review.deleted", "Delete test review";
    /// Listed in Qase's UI, undocumented; the name was seen in the wild.
    ResultCreated => "result.created", "Create test run results";
    /// Listed in Qase's UI, undocumented; the name follows `result.created`.
    ResultUpdated => "result.updated", "Update test run results";
    /// Listed in Qase's UI, undocumented; the name follows `result.created`.
    ResultDeleted => "result.deleted", "Delete test run results";
}

impl EventName {
    /// Parses a wire name; unknown names become [`EventName::Unknown`].
    ///
    /// ```
    /// use qase_webhooks::EventName;
    ///
    /// let name = EventName::parse("run.completed");
    /// assert_eq!(name, EventName::RunCompleted);
    /// assert_eq!((name.entity(), name.action()), ("run", "completed"));
    /// assert!(!EventName::parse("run.exploded").is_known());
    /// ```
    pub fn parse(name: &str) -> EventName {
        EventName::known(name).unwrap_or_else(|| EventName::Unknown(name.to_owned()))
    }

    /// The entity, the part before the first `.` (`run` for `run.completed`).
    /// A name without a dot is all entity.
    pub fn entity(&self) -> &str {
        let name = self.as_str();
        name.split_once('.').map_or(name, |(entity, _)| entity)
    }

    /// The action, the part after the first `.` (`completed` for
    /// `run.completed`); empty for a name without a dot.
    pub fn action(&self) -> &str {
        self.as_str()
            .split_once('.')
            .map_or("", |(_, action)| action)
    }

    /// Whether this version of the crate knows the event.
    pub fn is_known(&self) -> bool {
        !matches!(self, EventName::Unknown(_))
    }

    /// Whether Qase documents a payload for this event. The Results events
    /// and unknown events have none: their payload is kept as raw JSON.
    pub fn has_documented_payload(&self) -> bool {
        !matches!(
            self,
            EventName::ResultCreated
                | EventName::ResultUpdated
                | EventName::ResultDeleted
                | EventName::Unknown(_)
        )
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventName {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(EventName::parse(s))
    }
}

impl serde::Serialize for EventName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_name_round_trips() {
        assert_eq!(EventName::ALL.len(), 43);
        for event in EventName::ALL {
            let parsed: EventName = event.to_string().parse().unwrap();
            assert_eq!(&parsed, event);
            assert!(parsed.is_known());
        }
    }

    #[test]
    fn entity_and_action_split_on_the_first_dot() {
        let name = EventName::ReviewApprovalStatusChanged;
        assert_eq!(name.entity(), "review");
        assert_eq!(name.action(), "approval_status_changed");
        assert_eq!(EventName::parse("weird").entity(), "weird");
        assert_eq!(EventName::parse("weird").action(), "");
    }

    #[test]
    fn unknown_names_are_kept_verbatim() {
        let name = EventName::parse("result.archived");
        assert_eq!(name, EventName::Unknown("result.archived".into()));
        assert_eq!(name.to_string(), "result.archived");
        assert!(!name.is_known());
        assert_eq!(name.ui_name(), None);
    }

    #[test]
    fn ui_names_match_qase_labels() {
        assert_eq!(EventName::RunStarted.ui_name(), Some("Test run start"));
        assert_eq!(EventName::DefectUpdated.ui_name(), None);
        let labelled = EventName::ALL.iter().filter(|e| e.ui_name().is_some());
        assert_eq!(labelled.count(), 42);
    }

    #[test]
    fn forty_events_have_documented_payloads() {
        let documented = EventName::ALL.iter().filter(|e| e.has_documented_payload());
        assert_eq!(documented.count(), 40);
    }
}
