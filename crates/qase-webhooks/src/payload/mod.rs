//! Typed payloads for every documented Qase event: the second step of the
//! dispatch, after [`crate::Envelope`].
//!
//! One file per entity family. Each model follows what Qase really sends,
//! not one page of its docs: where Qase's pages disagree (see the `D*` notes
//! on the fields), both shapes are accepted. Unknown fields are ignored, as
//! Qase adds fields over time, and open value sets have an `Other` variant.
//!
//! A known event whose payload does not fit is a [`PayloadError`] naming the
//! event and the field; it is never passed off as an unknown event.

mod case;
mod common;
mod custom_field;
mod defect;
mod milestone;
mod plan;
mod portable;
mod review;
mod run;
mod shared_step;
mod suite;

pub use case::{CaseCustomField, CaseStep, TestCase};
pub use common::{Attachment, LooseId, SystemField, User};
pub use custom_field::{CustomField, CustomFieldEntity, CustomFieldType};
pub use defect::{DefectCreated, DefectRef};
pub use milestone::{MilestoneCreated, MilestoneRef};
pub use plan::{PlanCreated, PlanRef, PlanUpdated};
pub use portable::NotPortable;
pub use review::{
    ApprovalStatus, ReviewApprovalStatusChanged, ReviewCaseSnapshot, ReviewChanged,
    ReviewCommented, ReviewCreated, ReviewDeclined, ReviewDeleted, ReviewMerged, ReviewReviewer,
};
pub use run::{
    RunAborted, RunCompleted, RunPlan, RunRef, RunReportChanged, RunStarted, RunUpdated,
};
pub use shared_step::{SharedStepCreated, SharedStepRef, SharedStepStep};
pub use suite::{SuiteCloned, SuiteCreated, SuiteRef};

use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use thiserror::Error;

use crate::envelope::strip_position;
use crate::event_name::EventName;

/// Declares an `Other(String)`-terminated string enum for an open value set.
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $( $(#[$vmeta:meta])* $variant:ident => $wire:literal ),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )*
            /// A value this version does not know, kept verbatim.
            Other(String),
        }

        impl $name {
            /// The value as Qase sends it.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )*
                    $name::Other(value) => value,
                }
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                match value {
                    $( $wire => $name::$variant, )*
                    other => $name::Other(other.to_owned()),
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let value = std::borrow::Cow::<'de, str>::deserialize(d)?;
                Ok($name::from(value.as_ref()))
            }
        }

        #[cfg(feature = "schema")]
        impl schemars::JsonSchema for $name {
            fn schema_name() -> String {
                stringify!($name).to_owned()
            }

            fn json_schema(_: &mut schemars::gen::SchemaGenerator) -> schemars::schema::Schema {
                schemars::schema::SchemaObject {
                    instance_type: Some(schemars::schema::InstanceType::String.into()),
                    metadata: Some(Box::new(schemars::schema::Metadata {
                        description: Some(format!(
                            "Open set: known values are {}; others are accepted.",
                            [$( concat!("`", $wire, "`") ),*].join(", ")
                        )),
                        examples: vec![$( serde_json::json!($wire) ),*],
                        ..Default::default()
                    })),
                    ..Default::default()
                }
                .into()
            }
        }
    };
}
pub(crate) use open_enum;

/// A Qase event with its typed payload.
///
/// Produced by [`crate::Envelope::event`]. Variants are named like
/// [`EventName`]; several events that carry the same payload share a type.
#[derive(Debug, Clone)]
#[non_exhaustive]
#[allow(missing_docs)] // each variant is documented by its EventName twin
pub enum Event {
    CaseCreated(TestCase),
    /// Qase's docs send only `id`; its newer Notion page says the full case (D2).
    CaseUpdated(TestCase),
    /// Qase's docs send only `id`; its newer Notion page says the full case (D2).
    CaseDeleted(TestCase),
    /// `id` is the clone, `from_id` the original (D2 applies here too).
    CaseCloned(TestCase),
    SuiteCreated(SuiteCreated),
    SuiteUpdated(SuiteRef),
    SuiteDeleted(SuiteRef),
    SuiteCloned(SuiteCloned),
    PlanCreated(PlanCreated),
    PlanUpdated(PlanUpdated),
    PlanDeleted(PlanRef),
    SharedStepCreated(SharedStepCreated),
    SharedStepUpdated(SharedStepRef),
    SharedStepDeleted(SharedStepRef),
    MilestoneCreated(MilestoneCreated),
    MilestoneUpdated(MilestoneRef),
    MilestoneDeleted(MilestoneRef),
    CustomFieldCreated(CustomField),
    CustomFieldUpdated(CustomField),
    CustomFieldDeleted(CustomField),
    RunStarted(RunStarted),
    RunAborted(RunAborted),
    RunUpdated(RunUpdated),
    RunDeleted(RunRef),
    RunCompleted(RunCompleted),
    RunReportChanged(RunReportChanged),
    DefectCreated(DefectCreated),
    DefectUpdated(DefectRef),
    DefectResolved(DefectRef),
    DefectDeleted(DefectRef),
    ReviewCreated(ReviewCreated),
    ReviewUpdated(ReviewChanged),
    ReviewApprovalStatusChanged(ReviewApprovalStatusChanged),
    ReviewReviewerAdded(ReviewReviewer),
    ReviewReviewerRemoved(ReviewReviewer),
    ReviewMerged(ReviewMerged),
    ReviewReopened(ReviewChanged),
    ReviewCommented(ReviewCommented),
    ReviewDeclined(ReviewDeclined),
    ReviewDeleted(ReviewDeleted),
    /// Undocumented by Qase: the payload is kept as raw JSON.
    ResultCreated(Box<RawValue>),
    /// Undocumented by Qase: the payload is kept as raw JSON.
    ResultUpdated(Box<RawValue>),
    /// Undocumented by Qase: the payload is kept as raw JSON.
    ResultDeleted(Box<RawValue>),
    /// An event this version does not know; a value, not an error.
    Unknown {
        /// The `event_name` as sent.
        name: String,
        /// The payload as sent.
        payload: Box<RawValue>,
    },
}

/// A known event's payload that does not fit its model.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("payload of `{event}` does not fit at `{field}`: {reason}")]
pub struct PayloadError {
    /// The event whose payload was refused.
    pub event: EventName,
    /// Path of the field at fault inside the payload, e.g. `steps[0].position`
    /// (`.` for the payload itself).
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl PayloadError {
    /// What kind of mismatch this is (`invalid type`, `missing field`, a
    /// [`NotPortable`] reason...), without any value from the payload: safe
    /// for logs, where [`PayloadError::reason`] may quote what was sent.
    pub fn kind(&self) -> &str {
        let end = self
            .reason
            .find([':', '`', '"', '\''])
            .unwrap_or(self.reason.len());
        self.reason[..end].trim_end()
    }
}

fn typed<T: DeserializeOwned>(name: &EventName, payload: &RawValue) -> Result<T, PayloadError> {
    // The plain parse is the hot path; only a failure pays for the second,
    // path-tracking parse that names the field at fault.
    serde_json::from_str(payload.get()).map_err(|_| locate_error::<T>(name, payload))
}

#[cold]
fn locate_error<T: DeserializeOwned>(name: &EventName, payload: &RawValue) -> PayloadError {
    let mut deserializer = serde_json::Deserializer::from_str(payload.get());
    let Err(err) = serde_path_to_error::deserialize::<_, T>(&mut deserializer) else {
        unreachable!("the same bytes failed to parse a moment ago")
    };
    let path = err.path().to_string();
    let reason = strip_position(&err.inner().to_string());
    // serde reports a missing field at its parent: name the field itself.
    let field = match reason.strip_prefix("missing field `") {
        Some(rest) => {
            let missing = rest.trim_end_matches('`');
            if path == "." {
                missing.to_owned()
            } else {
                format!("{path}.{missing}")
            }
        }
        None => path,
    };
    PayloadError {
        event: name.clone(),
        field,
        reason,
    }
}

impl Event {
    /// The event's name.
    pub fn name(&self) -> EventName {
        use EventName as N;
        match self {
            Event::CaseCreated(_) => N::CaseCreated,
            Event::CaseUpdated(_) => N::CaseUpdated,
            Event::CaseDeleted(_) => N::CaseDeleted,
            Event::CaseCloned(_) => N::CaseCloned,
            Event::SuiteCreated(_) => N::SuiteCreated,
            Event::SuiteUpdated(_) => N::SuiteUpdated,
            Event::SuiteDeleted(_) => N::SuiteDeleted,
            Event::SuiteCloned(_) => N::SuiteCloned,
            Event::PlanCreated(_) => N::PlanCreated,
            Event::PlanUpdated(_) => N::PlanUpdated,
            Event::PlanDeleted(_) => N::PlanDeleted,
            Event::SharedStepCreated(_) => N::SharedStepCreated,
            Event::SharedStepUpdated(_) => N::SharedStepUpdated,
            Event::SharedStepDeleted(_) => N::SharedStepDeleted,
            Event::MilestoneCreated(_) => N::MilestoneCreated,
            Event::MilestoneUpdated(_) => N::MilestoneUpdated,
            Event::MilestoneDeleted(_) => N::MilestoneDeleted,
            Event::CustomFieldCreated(_) => N::CustomFieldCreated,
            Event::CustomFieldUpdated(_) => N::CustomFieldUpdated,
            Event::CustomFieldDeleted(_) => N::CustomFieldDeleted,
            Event::RunStarted(_) => N::RunStarted,
            Event::RunAborted(_) => N::RunAborted,
            Event::RunUpdated(_) => N::RunUpdated,
            Event::RunDeleted(_) => N::RunDeleted,
            Event::RunCompleted(_) => N::RunCompleted,
            Event::RunReportChanged(_) => N::RunReportChanged,
            Event::DefectCreated(_) => N::DefectCreated,
            Event::DefectUpdated(_) => N::DefectUpdated,
            Event::DefectResolved(_) => N::DefectResolved,
            Event::DefectDeleted(_) => N::DefectDeleted,
            Event::ReviewCreated(_) => N::ReviewCreated,
            Event::ReviewUpdated(_) => N::ReviewUpdated,
            Event::ReviewApprovalStatusChanged(_) => N::ReviewApprovalStatusChanged,
            Event::ReviewReviewerAdded(_) => N::ReviewReviewerAdded,
            Event::ReviewReviewerRemoved(_) => N::ReviewReviewerRemoved,
            Event::ReviewMerged(_) => N::ReviewMerged,
            Event::ReviewReopened(_) => N::ReviewReopened,
            Event::ReviewCommented(_) => N::ReviewCommented,
            Event::ReviewDeclined(_) => N::ReviewDeclined,
            Event::ReviewDeleted(_) => N::ReviewDeleted,
            Event::ResultCreated(_) => N::ResultCreated,
            Event::ResultUpdated(_) => N::ResultUpdated,
            Event::ResultDeleted(_) => N::ResultDeleted,
            Event::Unknown { name, .. } => N::Unknown(name.clone()),
        }
    }

    /// Types `payload` as the payload of the event `name`.
    ///
    /// A known event's payload must fit its model and be portable (see
    /// [`NotPortable`]: every value readable by strict parsers, fields the
    /// model ignores included); an unknown event is a value whatever its payload.
    ///
    /// ```
    /// use qase_webhooks::{Event, EventName};
    /// use serde_json::value::RawValue;
    ///
    /// let payload = RawValue::from_string(r#"{"id":3}"#.to_owned()).unwrap();
    /// let event = Event::parse(&EventName::SuiteDeleted, &payload).unwrap();
    /// assert!(matches!(event, Event::SuiteDeleted(suite) if suite.id == 3));
    /// ```
    pub fn parse(name: &EventName, payload: &RawValue) -> Result<Event, PayloadError> {
        let event = Event::parse_model(name, payload)?;
        if !matches!(event, Event::Unknown { .. }) {
            portable::check(payload).map_err(|(field, kind)| PayloadError {
                event: name.clone(),
                field,
                reason: kind.reason().to_owned(),
            })?;
        }
        Ok(event)
    }

    fn parse_model(name: &EventName, payload: &RawValue) -> Result<Event, PayloadError> {
        use EventName as N;
        let raw = || payload.to_owned();
        Ok(match name {
            N::CaseCreated => Event::CaseCreated(typed(name, payload)?),
            N::CaseUpdated => Event::CaseUpdated(typed(name, payload)?),
            N::CaseDeleted => Event::CaseDeleted(typed(name, payload)?),
            N::CaseCloned => Event::CaseCloned(typed(name, payload)?),
            N::SuiteCreated => Event::SuiteCreated(typed(name, payload)?),
            N::SuiteUpdated => Event::SuiteUpdated(typed(name, payload)?),
            N::SuiteDeleted => Event::SuiteDeleted(typed(name, payload)?),
            N::SuiteCloned => Event::SuiteCloned(typed(name, payload)?),
            N::PlanCreated => Event::PlanCreated(typed(name, payload)?),
            N::PlanUpdated => Event::PlanUpdated(typed(name, payload)?),
            N::PlanDeleted => Event::PlanDeleted(typed(name, payload)?),
            N::SharedStepCreated => Event::SharedStepCreated(typed(name, payload)?),
            N::SharedStepUpdated => Event::SharedStepUpdated(typed(name, payload)?),
            N::SharedStepDeleted => Event::SharedStepDeleted(typed(name, payload)?),
            N::MilestoneCreated => Event::MilestoneCreated(typed(name, payload)?),
            N::MilestoneUpdated => Event::MilestoneUpdated(typed(name, payload)?),
            N::MilestoneDeleted => Event::MilestoneDeleted(typed(name, payload)?),
            N::CustomFieldCreated => Event::CustomFieldCreated(typed(name, payload)?),
            N::CustomFieldUpdated => Event::CustomFieldUpdated(typed(name, payload)?),
            N::CustomFieldDeleted => Event::CustomFieldDeleted(typed(name, payload)?),
            N::RunStarted => Event::RunStarted(typed(name, payload)?),
            N::RunAborted => Event::RunAborted(typed(name, payload)?),
            N::RunUpdated => Event::RunUpdated(typed(name, payload)?),
            N::RunDeleted => Event::RunDeleted(typed(name, payload)?),
            N::RunCompleted => Event::RunCompleted(typed(name, payload)?),
            N::RunReportChanged => Event::RunReportChanged(typed(name, payload)?),
            N::DefectCreated => Event::DefectCreated(typed(name, payload)?),
            N::DefectUpdated => Event::DefectUpdated(typed(name, payload)?),
            N::DefectResolved => Event::DefectResolved(typed(name, payload)?),
            N::DefectDeleted => Event::DefectDeleted(typed(name, payload)?),
            N::ReviewCreated => Event::ReviewCreated(typed(name, payload)?),
            N::ReviewUpdated => Event::ReviewUpdated(typed(name, payload)?),
            N::ReviewApprovalStatusChanged => {
                Event::ReviewApprovalStatusChanged(typed(name, payload)?)
            }
            N::ReviewReviewerAdded => Event::ReviewReviewerAdded(typed(name, payload)?),
            N::ReviewReviewerRemoved => Event::ReviewReviewerRemoved(typed(name, payload)?),
            N::ReviewMerged => Event::ReviewMerged(typed(name, payload)?),
            N::ReviewReopened => Event::ReviewReopened(typed(name, payload)?),
            N::ReviewCommented => Event::ReviewCommented(typed(name, payload)?),
            N::ReviewDeclined => Event::ReviewDeclined(typed(name, payload)?),
            N::ReviewDeleted => Event::ReviewDeleted(typed(name, payload)?),
            N::ResultCreated => Event::ResultCreated(raw()),
            N::ResultUpdated => Event::ResultUpdated(raw()),
            N::ResultDeleted => Event::ResultDeleted(raw()),
            N::Unknown(unknown) => Event::Unknown {
                name: unknown.clone(),
                payload: raw(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(name: &str, payload: &str) -> Result<Event, PayloadError> {
        let payload: Box<RawValue> = serde_json::from_str(payload).unwrap();
        Event::parse(&EventName::parse(name), &payload)
    }

    #[test]
    fn a_known_event_with_a_non_portable_value_does_not_fit() {
        let error = parse("run.deleted", r#"{"id":1,"extra":{"n":1e400}}"#).unwrap_err();
        assert_eq!(error.field, "extra.n");
        assert!(error.reason.contains("64-bit float"), "{error}");
        // Undocumented events are checked too: they are forwarded as they are.
        let error = parse("result.created", r#"{"title":"\ud800"}"#).unwrap_err();
        assert_eq!(error.field, "title");
        // An unknown event stays a value.
        assert!(matches!(
            parse("note.added", r#"{"n":1e400}"#),
            Ok(Event::Unknown { .. })
        ));
    }

    #[test]
    fn the_kind_of_a_mismatch_quotes_nothing_from_the_payload() {
        let quotes = format!(r#"{{"id":"{}"}}"#, "\\\"".repeat(300));
        let error = parse("run.deleted", &quotes).unwrap_err();
        assert!(error.reason.len() > 600, "the reason quotes the value");
        assert_eq!(error.kind(), "invalid type");
        let error = parse("run.deleted", "{}").unwrap_err();
        assert_eq!(
            (error.field.as_str(), error.kind()),
            ("id", "missing field")
        );
    }
}
