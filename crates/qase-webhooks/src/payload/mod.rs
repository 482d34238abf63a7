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

use crate::error::strip_position;
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

/// Declares the typed events from one table, the single place where an
/// event's variant meets its payload type: [`Event`], [`Event::name`], the
/// typed parse and (with the `schema` feature) the payload's JSON Schema
/// are all generated from it, so none of them can miss an event.
macro_rules! typed_events {
    ($( $(#[$doc:meta])* $variant:ident($payload:ty); )*) => {
        /// A Qase event with its typed payload.
        ///
        /// Produced by [`crate::Envelope::event`]. Variants are named like
        /// [`EventName`]; several events that carry the same payload share a type.
        #[derive(Debug, Clone)]
        #[non_exhaustive]
        pub enum Event {
            $(
                #[doc = concat!("`", stringify!($variant), "`: see [`EventName::", stringify!($variant), "`].")]
                $(#[$doc])*
                $variant($payload),
            )*
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

        impl Event {
            /// The event's name.
            pub fn name(&self) -> EventName {
                match self {
                    $( Event::$variant(_) => EventName::$variant, )*
                    Event::ResultCreated(_) => EventName::ResultCreated,
                    Event::ResultUpdated(_) => EventName::ResultUpdated,
                    Event::ResultDeleted(_) => EventName::ResultDeleted,
                    Event::Unknown { name, .. } => EventName::Unknown(name.clone()),
                }
            }

            fn parse_model(name: &EventName, payload: &RawValue) -> Result<Event, PayloadError> {
                let raw = || payload.to_owned();
                Ok(match name {
                    $( EventName::$variant => Event::$variant(typed(name, payload)?), )*
                    EventName::ResultCreated => Event::ResultCreated(raw()),
                    EventName::ResultUpdated => Event::ResultUpdated(raw()),
                    EventName::ResultDeleted => Event::ResultDeleted(raw()),
                    EventName::Unknown(unknown) => Event::Unknown {
                        name: unknown.clone(),
                        payload: raw(),
                    },
                })
            }
        }

        /// The JSON Schema of `name`'s payload type, `None` for the Results
        /// events and unknown events (no documented payload).
        #[cfg(feature = "schema")]
        pub(crate) fn payload_schema(name: &EventName) -> Option<schemars::schema::RootSchema> {
            match name {
                $( EventName::$variant => Some(schemars::schema_for!($payload)), )*
                _ => None,
            }
        }
    };
}

typed_events! {
    CaseCreated(TestCase);
    /// Qase's docs send only `id`; its newer Notion page says the full case (D2).
    CaseUpdated(TestCase);
    /// Qase's docs send only `id`; its newer Notion page says the full case (D2).
    CaseDeleted(TestCase);
    /// `id` is the clone, `from_id` the original (D2 applies here too).
    CaseCloned(TestCase);
    SuiteCreated(SuiteCreated);
    SuiteUpdated(SuiteRef);
    SuiteDeleted(SuiteRef);
    SuiteCloned(SuiteCloned);
    PlanCreated(PlanCreated);
    PlanUpdated(PlanUpdated);
    PlanDeleted(PlanRef);
    SharedStepCreated(SharedStepCreated);
    SharedStepUpdated(SharedStepRef);
    SharedStepDeleted(SharedStepRef);
    MilestoneCreated(MilestoneCreated);
    MilestoneUpdated(MilestoneRef);
    MilestoneDeleted(MilestoneRef);
    CustomFieldCreated(CustomField);
    CustomFieldUpdated(CustomField);
    CustomFieldDeleted(CustomField);
    RunStarted(RunStarted);
    RunAborted(RunAborted);
    RunUpdated(RunUpdated);
    RunDeleted(RunRef);
    RunCompleted(RunCompleted);
    RunReportChanged(RunReportChanged);
    DefectCreated(DefectCreated);
    DefectUpdated(DefectRef);
    DefectResolved(DefectRef);
    DefectDeleted(DefectRef);
    ReviewCreated(ReviewCreated);
    ReviewUpdated(ReviewChanged);
    ReviewApprovalStatusChanged(ReviewApprovalStatusChanged);
    ReviewReviewerAdded(ReviewReviewer);
    ReviewReviewerRemoved(ReviewReviewer);
    ReviewMerged(ReviewMerged);
    ReviewReopened(ReviewChanged);
    ReviewCommented(ReviewCommented);
    ReviewDeclined(ReviewDeclined);
    ReviewDeleted(ReviewDeleted);
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

/// With the `small` feature: one path-tracking parse, the only code per
/// payload type (a Worker's bundle is compiled at every cold start).
#[cfg(feature = "small")]
fn typed<T: DeserializeOwned>(name: &EventName, payload: &RawValue) -> Result<T, PayloadError> {
    parse_tracked(name, payload)
}

/// Without it: the plain parse is the hot path; only a failure pays for
/// the second, path-tracking parse that names the field at fault.
#[cfg(not(feature = "small"))]
fn typed<T: DeserializeOwned>(name: &EventName, payload: &RawValue) -> Result<T, PayloadError> {
    serde_json::from_str(payload.get()).map_err(|_| locate_error::<T>(name, payload))
}

#[cfg(not(feature = "small"))]
#[cold]
fn locate_error<T: DeserializeOwned>(name: &EventName, payload: &RawValue) -> PayloadError {
    match parse_tracked::<T>(name, payload) {
        Err(error) => error,
        Ok(_) => unreachable!("the same bytes failed to parse a moment ago"),
    }
}

/// The parse that tracks where it is, to name the field at fault.
fn parse_tracked<T: DeserializeOwned>(
    name: &EventName,
    payload: &RawValue,
) -> Result<T, PayloadError> {
    let mut deserializer = serde_json::Deserializer::from_str(payload.get());
    serde_path_to_error::deserialize::<_, T>(&mut deserializer).map_err(|err| {
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
    })
}

impl Event {
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

    #[test]
    fn the_tracked_parse_the_small_feature_uses_agrees_with_the_plain_one() {
        // (payload of `case.created`, fits): a full case, a wrong type deep
        // inside, a missing field, trailing junk inside a value.
        let case = r#"{"id":1,"title":"t","steps":[{"position":1,"action":"a"}]}"#;
        let cases = [
            (case.to_owned(), true),
            (
                case.replace(r#""position":1"#, r#""position":"one""#),
                false,
            ),
            (r#"{"title":"t"}"#.to_owned(), false),
            (r#"{"id":[1,2]}"#.to_owned(), false),
        ];
        for (payload, fits) in cases {
            let raw = RawValue::from_string(payload.clone()).unwrap();
            let plain = serde_json::from_str::<TestCase>(raw.get()).is_ok();
            let tracked = parse_tracked::<TestCase>(&EventName::CaseCreated, &raw).is_ok();
            assert_eq!((plain, tracked), (fits, fits), "{payload}");
        }
    }
}
