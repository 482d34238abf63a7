//! The operator API's answers as serde types: the Worker writes them,
//! `qase-hook` reads them, and a test holds them to `openapi.json`, so that
//! the three cannot drift apart.
//!
//! Each type serialises to the bytes the API has always answered (field
//! order included) and reads back strictly: a field the answer always
//! carries is required, `null` or not ([`present`]), so a renamed field is a
//! decode error rather than a `0` or a `-`. Answers already typed where
//! they are computed are these types too: [`Stats`], [`DryRun`],
//! [`Migrated`], [`DeadLetterRow`], [`DestinationView`], [`RunView`] and
//! [`WatchView`].

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::value::RawValue;

use crate::api::events::{DeliveryRow, EventRow};
use crate::delivery::breaker::Phase;
use crate::store::d1::Forward;
use crate::store::layout::{DeliveryStatus, EventStatus};
use qase_webhooks::chat::{Message, Tone};

pub use crate::alerts::watch::WatchView;
pub use crate::api::destinations::DestinationView;
pub use crate::api::events::{DeadLetterRow, Stats};
pub use crate::api::replay::DryRun;
pub use crate::runs::report::RunView;
pub use crate::store::migrate_kv::Migrated;

/// Reads an `Option` field that the answer always carries (as `null` when
/// empty): without it serde would read a missing field as `None`.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer)
}

/// An event as the API lists it: every column of its row but the body, and
/// `status`, the name `outcome` had before D1 (kept for existing clients).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSummary {
    /// `evt_...`.
    pub id: String,
    /// The event name as sent.
    pub event_name: String,
    /// The name before its first dot.
    pub entity: String,
    /// The name after it.
    pub action: String,
    /// The project code.
    pub project_code: String,
    /// Who triggered it.
    #[serde(deserialize_with = "present")]
    pub team_member_id: Option<u64>,
    /// When the Worker received it, in Unix milliseconds.
    pub received_at: u64,
    /// Accepted or quarantined.
    pub outcome: EventStatus,
    /// Why it was quarantined.
    #[serde(deserialize_with = "present")]
    pub reason: Option<String>,
    /// Copies received after the first.
    pub duplicates: u64,
    /// When the last copy arrived, in Unix milliseconds.
    #[serde(deserialize_with = "present")]
    pub last_duplicate_at: Option<u64>,
    /// The run the payload names.
    #[serde(deserialize_with = "present")]
    pub run_id: Option<u64>,
    /// The case the payload names.
    #[serde(deserialize_with = "present")]
    pub case_id: Option<u64>,
    /// The defect the payload names.
    #[serde(deserialize_with = "present")]
    pub defect_id: Option<u64>,
    /// The plan the payload names.
    #[serde(deserialize_with = "present")]
    pub plan_id: Option<u64>,
    /// The milestone the payload names.
    #[serde(deserialize_with = "present")]
    pub milestone_id: Option<u64>,
    /// Where it stands with the delivery queue.
    pub forward: Forward,
    /// The body's size in bytes.
    pub size: u64,
    /// Same as `outcome`.
    pub status: EventStatus,
}

impl From<&EventRow> for EventSummary {
    fn from(row: &EventRow) -> EventSummary {
        EventSummary {
            id: row.id.clone(),
            event_name: row.event_name.clone(),
            entity: row.entity.clone(),
            action: row.action.clone(),
            project_code: row.project_code.clone(),
            team_member_id: row.team_member_id,
            received_at: row.received_at,
            outcome: row.outcome,
            reason: row.reason.clone(),
            duplicates: row.duplicates,
            last_duplicate_at: row.last_duplicate_at,
            run_id: row.run_id,
            case_id: row.case_id,
            defect_id: row.defect_id,
            plan_id: row.plan_id,
            milestone_id: row.milestone_id,
            forward: row.forward,
            size: row.size,
            status: row.outcome,
        }
    }
}

/// `GET /api/events`' answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventPage {
    /// Newest first.
    pub events: Vec<EventSummary>,
    /// Pass as `cursor` for the next page; `None` at the end.
    #[serde(deserialize_with = "present")]
    pub cursor: Option<String>,
}

/// A label and a value of a [`Description`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescriptionFact {
    /// E.g. `Passed`.
    pub label: String,
    /// Raw text from Qase.
    pub value: String,
}

/// What happened, in words: a [`Message`] with its text owned, so that a
/// client can read it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Description {
    /// How it went.
    pub tone: Tone,
    /// `Test run completed`.
    pub headline: String,
    /// The object's title from Qase, when known.
    #[serde(deserialize_with = "present")]
    pub title: Option<String>,
    /// `Run #7`, `DEMO-12`.
    pub label: String,
    /// The object's page in Qase.
    pub url: String,
    /// One line of numbers.
    #[serde(deserialize_with = "present")]
    pub status: Option<String>,
    /// Labelled values.
    pub facts: Vec<DescriptionFact>,
    /// A description or comment from Qase.
    #[serde(deserialize_with = "present")]
    pub summary: Option<String>,
    /// The envelope's project code.
    pub project: String,
    /// The event's name.
    pub event: String,
    /// When it happened, Unix seconds.
    pub timestamp: u64,
}

impl From<Message> for Description {
    fn from(message: Message) -> Description {
        Description {
            tone: message.tone,
            headline: message.headline,
            title: message.title,
            label: message.label,
            url: message.url,
            status: message.status,
            facts: message
                .facts
                .into_iter()
                .map(|fact| DescriptionFact {
                    label: fact.label.to_owned(),
                    value: fact.value,
                })
                .collect(),
            summary: message.summary,
            project: message.project,
            event: message.event,
            timestamp: message.timestamp,
        }
    }
}

/// An event's delivery to one destination, as the event's detail shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// The destination's name.
    pub destination: String,
    /// Delivered, retrying or dead.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// The last HTTP status, if any.
    #[serde(deserialize_with = "present")]
    pub last_status: Option<u16>,
    /// The last failure, in words.
    #[serde(deserialize_with = "present")]
    pub last_error: Option<String>,
    /// Why it was given up (dead only).
    #[serde(deserialize_with = "present")]
    pub reason: Option<String>,
    /// When this state was recorded, in Unix milliseconds.
    pub updated_at: u64,
    /// The latest attempts (issue #19), as the column holds them: passed
    /// on as JSON, not re-typed, so that their bytes stay the stored ones'
    /// (`[]` for rows written before the column existed).
    pub attempts_log: Vec<serde_json::Value>,
}

impl From<DeliveryRow> for Delivery {
    fn from(row: DeliveryRow) -> Delivery {
        let attempts_log = row
            .attempts_log
            .as_deref()
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default();
        Delivery {
            destination: row.destination,
            status: row.status,
            attempts: row.attempts,
            last_status: row.last_status,
            last_error: row.last_error,
            reason: row.reason,
            updated_at: row.updated_at,
            attempts_log,
        }
    }
}

/// `GET /api/events/{id}`' answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct EventDetail {
    /// The event's columns.
    #[serde(flatten)]
    pub event: EventSummary,
    /// What happened, in words (`None` for a delivery that is not a typed
    /// event).
    #[serde(deserialize_with = "present")]
    pub description: Option<Description>,
    /// Its delivery to each destination.
    pub deliveries: Vec<Delivery>,
    /// Destinations whose delivery is dead (the dead letters).
    pub dead_letters: Vec<String>,
    /// The body, embedded as received.
    pub body: Box<RawValue>,
}

/// A line of `GET /api/export`: the event and its body.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExportLine {
    /// The event's columns.
    #[serde(flatten)]
    pub event: EventSummary,
    /// The body, embedded as received.
    pub body: Box<RawValue>,
}

/// What `POST /api/events/{id}/replay` and
/// `POST /api/dead-letters/{id}/replay` queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replayed {
    /// The event.
    pub id: String,
    /// The destinations it was queued for.
    pub destinations: Vec<String>,
}

/// `GET /api/dead-letters`' answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterPage {
    /// Most recently given up first.
    pub dead_letters: Vec<DeadLetterRow>,
    /// Pass as `cursor` for the next page; `None` at the end.
    #[serde(deserialize_with = "present")]
    pub cursor: Option<String>,
}

/// `POST /api/replay`'s answer when it sent (see [`DryRun`] otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkReplayed {
    /// Events replayed.
    pub events: u64,
    /// Queue messages sent (one per event and destination).
    pub messages: u64,
    /// Events no enabled destination matches.
    pub skipped: u64,
    /// Pass as `cursor` to continue; `None` when done.
    #[serde(deserialize_with = "present")]
    pub cursor: Option<String>,
}

/// `GET /api/runs`' answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPage {
    /// Newest first.
    pub runs: Vec<RunView>,
    /// Pass as `cursor` for the next page; `None` at the end.
    #[serde(deserialize_with = "present")]
    pub cursor: Option<String>,
}

/// `GET /api/destinations`' answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DestinationPage {
    /// In configuration order.
    pub destinations: Vec<DestinationView>,
}

/// What `POST /api/destinations/{name}/pause` and `/resume` answer: the
/// breaker as it now stands, and the destination's name. The fields are in
/// alphabetical order, the order this answer has always had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forced {
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// Events held.
    pub held: u64,
    /// The destination.
    pub name: String,
    /// The next probe, Unix ms.
    #[serde(deserialize_with = "present")]
    pub next_probe_at: Option<u64>,
    /// Paused by an operator.
    pub paused_by_operator: bool,
    /// Why it is paused.
    #[serde(deserialize_with = "present")]
    pub reason: Option<String>,
    /// Since when, Unix ms (`None`: never changed).
    #[serde(deserialize_with = "present")]
    pub since: Option<u64>,
    /// `active`, `paused`, `probing` or `draining`.
    pub state: Phase,
}

/// The part of `GET /health` that `qase-hook api watch` reads: the watched
/// projects (left out of the answer when there are none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthWatch {
    /// The projects of `QASE_WATCH`.
    #[serde(default)]
    pub watch: Vec<WatchView>,
}
