//! The operator API's answers as serde types: the Worker writes them,
//! `qase-hook` reads them, and a test holds them to `openapi.json`, so that
//! the three cannot drift apart.
//!
//! Each type serialises to the bytes the API has always answered (field
//! order included) and reads back strictly: a field the answer always
//! carries is required, `null` or not ([`present`](crate::wire::present)), so a renamed field is a
//! decode error rather than a `0` or a `-`. Answers already typed where
//! they are computed are these types too: [`Stats`], [`DryRun`],
//! [`Migrated`], [`DeadLetterRow`], [`DestinationView`], [`RunView`],
//! [`WatchView`] and [`WebhookView`].

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::api::events::{DeliveryRow, EventRow};
use crate::delivery::breaker::Phase;
use crate::store::layout::DeliveryStatus;
use crate::store::types::{EventStatus, Forward};
use qase_webhooks::chat::{Message, Tone};

pub use crate::alerts::disabled::WebhookView;
pub use crate::alerts::watch::WatchView;
pub use crate::api::destinations::DestinationView;
pub use crate::api::events::{DeadLetterRow, Stats};
pub use crate::api::replay::DryRun;
pub use crate::runs::api::RunView;
pub use crate::store::migrate_kv::Migrated;

/// The deepest body embedded as JSON in an answer ([`embed_body`]): with
/// the answer's own levels, well within what common JSON parsers read
/// (serde_json stops at 128, Python's `json` near 1,000).
pub const MAX_EMBEDDED_DEPTH: usize = 100;

/// How deeply `json` nests (`{}` is 1, `{"a":[1]}` is 2); strings, and
/// escapes in them, are skipped. For bytes that passed the JSON check.
pub fn nesting_depth(json: &[u8]) -> usize {
    let (mut depth, mut deepest) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &byte in json {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// A stored body as an answer embeds it: as JSON, or, nested deeper than
/// [`MAX_EMBEDDED_DEPTH`], as a JSON string of its text, so that the
/// answer stays readable by common parsers (`/body` has the exact bytes).
/// Every stored body is a JSON object, so a string says which it is.
/// `None`: the bytes are not JSON (never for a body that was stored).
pub fn embed_body(body: &[u8]) -> Option<Box<RawValue>> {
    let text = String::from_utf8_lossy(body).into_owned();
    if nesting_depth(body) <= MAX_EMBEDDED_DEPTH {
        return RawValue::from_string(text).ok();
    }
    RawValue::from_string(serde_json::to_string(&text).ok()?).ok()
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
    #[serde(deserialize_with = "crate::wire::present")]
    pub team_member_id: Option<u64>,
    /// When the Worker received it, in Unix milliseconds.
    pub received_at: u64,
    /// Accepted or quarantined.
    pub outcome: EventStatus,
    /// Why it was quarantined.
    #[serde(deserialize_with = "crate::wire::present")]
    pub reason: Option<String>,
    /// Copies received after the first.
    pub duplicates: u64,
    /// When the last copy arrived, in Unix milliseconds.
    #[serde(deserialize_with = "crate::wire::present")]
    pub last_duplicate_at: Option<u64>,
    /// The run the payload names.
    #[serde(deserialize_with = "crate::wire::present")]
    pub run_id: Option<u64>,
    /// The case the payload names.
    #[serde(deserialize_with = "crate::wire::present")]
    pub case_id: Option<u64>,
    /// The defect the payload names.
    #[serde(deserialize_with = "crate::wire::present")]
    pub defect_id: Option<u64>,
    /// The plan the payload names.
    #[serde(deserialize_with = "crate::wire::present")]
    pub plan_id: Option<u64>,
    /// The milestone the payload names.
    #[serde(deserialize_with = "crate::wire::present")]
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
    #[serde(deserialize_with = "crate::wire::present")]
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
    #[serde(deserialize_with = "crate::wire::present")]
    pub title: Option<String>,
    /// `Run #7`, `DEMO-12`.
    pub label: String,
    /// The object's page in Qase.
    pub url: String,
    /// One line of numbers.
    #[serde(deserialize_with = "crate::wire::present")]
    pub status: Option<String>,
    /// Labelled values.
    pub facts: Vec<DescriptionFact>,
    /// A description or comment from Qase.
    #[serde(deserialize_with = "crate::wire::present")]
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
    #[serde(deserialize_with = "crate::wire::present")]
    pub last_status: Option<u16>,
    /// The last failure, in words.
    #[serde(deserialize_with = "crate::wire::present")]
    pub last_error: Option<String>,
    /// Why it was given up (dead only).
    #[serde(deserialize_with = "crate::wire::present")]
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
    #[serde(deserialize_with = "crate::wire::present")]
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
    #[serde(deserialize_with = "crate::wire::present")]
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
    #[serde(deserialize_with = "crate::wire::present")]
    pub cursor: Option<String>,
}

/// `GET /api/runs`' answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunPage {
    /// Newest first.
    pub runs: Vec<RunView>,
    /// Pass as `cursor` for the next page; `None` at the end.
    #[serde(deserialize_with = "crate::wire::present")]
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
    #[serde(deserialize_with = "crate::wire::present")]
    pub next_probe_at: Option<u64>,
    /// Paused by an operator.
    pub paused_by_operator: bool,
    /// Why it is paused.
    #[serde(deserialize_with = "crate::wire::present")]
    pub reason: Option<String>,
    /// Since when, Unix ms (`None`: never changed).
    #[serde(deserialize_with = "crate::wire::present")]
    pub since: Option<u64>,
    /// `active`, `paused`, `probing` or `draining`.
    pub state: Phase,
}

/// The part of `GET /health` that `qase-hook api watch` reads: the watched
/// projects and the checked webhooks (each left out of the answer when
/// there are none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthWatch {
    /// The projects of `QASE_WATCH`.
    #[serde(default)]
    pub watch: Vec<WatchView>,
    /// The webhooks of the reconciled projects: clear or suspected disabled.
    #[serde(default)]
    pub webhooks: Vec<WebhookView>,
}

#[cfg(test)]
mod tests {
    //! Each answer type against `openapi.json`:
    //! 1. a sample of it, serialised, validates against the document's
    //!    schema of that answer, and names no property the schema does not;
    //! 2. it reads back to the same JSON;
    //! 3. without any one of its fields it does not read at all.

    use std::collections::BTreeSet;

    use serde::de::DeserializeOwned;
    use serde_json::{json, Value};

    use super::*;

    #[test]
    fn bodies_deeper_than_a_parser_reads_are_embedded_as_their_text() {
        assert_eq!(nesting_depth(b"{}"), 1);
        assert_eq!(nesting_depth(br#"{"a":[1,{"b":"]}}[[{"}]}"#), 3);
        assert_eq!(nesting_depth(br#"{"a":"\"{{{"}"#), 1);
        let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let shallow = format!(r#"{{"payload":{}}}"#, nested(MAX_EMBEDDED_DEPTH - 1));
        assert_eq!(embed_body(shallow.as_bytes()).unwrap().get(), shallow);
        let deep = format!(r#"{{"payload":{}}}"#, nested(5_000));
        let embedded = embed_body(deep.as_bytes()).unwrap();
        let text: String = serde_json::from_str(embedded.get()).unwrap();
        assert_eq!(text, deep, "the exact text, as a string");
        // An answer embedding it reads back with serde_json's own limit.
        let answer = format!(r#"{{"body":{}}}"#, embedded.get());
        assert!(serde_json::from_str::<serde_json::Value>(&answer).is_ok());
        assert!(embed_body(b"{not json").is_none());
    }
    use crate::api::destinations::{BreakerFacts, Day};
    use crate::api::events::{NameTotals, Totals};
    use crate::runs::state::{ResultCounts, RunStatus};
    use qase_webhooks::run_report::{Failure, FailureSource, FailureStatus, RunCounts};

    const OPENAPI: &str = include_str!("../../../qase-edge/openapi.json");

    fn document() -> Value {
        serde_json::from_str(OPENAPI).expect("openapi.json is JSON")
    }

    /// The document's schema at `pointer` (a JSON pointer into it).
    fn schema_at<'d>(document: &'d Value, pointer: &str) -> &'d Value {
        document
            .pointer(pointer)
            .unwrap_or_else(|| panic!("openapi.json has no {pointer}"))
    }

    /// The property names an object schema declares, through `$ref`,
    /// `allOf` and `oneOf`.
    fn declared(document: &Value, schema: &Value, names: &mut BTreeSet<String>) {
        if let Some(reference) = schema["$ref"].as_str() {
            let target = schema_at(document, reference.trim_start_matches('#'));
            declared(document, target, names);
        }
        for key in ["allOf", "oneOf"] {
            for part in schema[key].as_array().into_iter().flatten() {
                declared(document, part, names);
            }
        }
        if let Some(properties) = schema["properties"].as_object() {
            names.extend(properties.keys().cloned());
        }
    }

    /// Checks `sample` against the schema at `pointer`: 1, 2 and 3 above.
    /// `optional` names the fields the answer may leave out.
    fn check<T>(pointer: &str, sample: &T, optional: &[&str])
    where
        T: Serialize + DeserializeOwned,
    {
        let document = document();
        let json = serde_json::to_value(sample).unwrap();
        // The schema at `pointer`, its `$ref`s resolved in the document.
        let mut root = document.clone();
        let fragment = pointer.replace('{', "%7B").replace('}', "%7D");
        root["$ref"] = json!(format!("#{fragment}"));
        let validator = jsonschema::validator_for(&root).expect("the schema compiles");
        let errors: Vec<String> = validator
            .iter_errors(&json)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{pointer}: {errors:?}\n{json:#}");

        let mut names = BTreeSet::new();
        declared(&document, schema_at(&document, pointer), &mut names);
        for key in json.as_object().expect("an object").keys() {
            assert!(names.contains(key), "{pointer} does not declare `{key}`");
        }

        let text = serde_json::to_string(sample).unwrap();
        let back: T = serde_json::from_str(&text).expect("it reads back");
        assert_eq!(serde_json::to_value(&back).unwrap(), json, "{pointer}");

        for key in json.as_object().unwrap().keys() {
            let mut without = json.clone();
            without.as_object_mut().unwrap().remove(key);
            let read = serde_json::from_value::<T>(without);
            assert_eq!(
                read.is_ok(),
                optional.contains(&key.as_str()),
                "{pointer} without `{key}`"
            );
        }
    }

    fn schema(name: &str) -> String {
        format!("/components/schemas/{name}")
    }

    fn summary(reason: Option<&str>, run_id: Option<u64>) -> EventSummary {
        EventSummary {
            id: "evt_0123456789abcdef0123456789abcdef".into(),
            event_name: "run.completed".into(),
            entity: "run".into(),
            action: "completed".into(),
            project_code: "WEB".into(),
            team_member_id: Some(7),
            received_at: 1_700_000_000_000,
            outcome: EventStatus::Accepted,
            reason: reason.map(str::to_owned),
            duplicates: 1,
            last_duplicate_at: Some(1_700_000_001_000),
            run_id,
            case_id: None,
            defect_id: None,
            plan_id: None,
            milestone_id: None,
            forward: Forward::Queued,
            size: 120,
            status: EventStatus::Accepted,
        }
    }

    fn body() -> Box<RawValue> {
        RawValue::from_string(r#"{"event_name":"run.completed","payload":{"id":42}}"#.into())
            .unwrap()
    }

    fn run_view(failures: Option<Failures>) -> RunView {
        let counts = RunCounts {
            cases: 4,
            passed: 3,
            failed: 1,
            blocked: 0,
            skipped: Some(0),
            untested: None,
            duration: 61_000,
        };
        RunView {
            project: "WEB".into(),
            run: 42,
            status: RunStatus::Completed,
            done: true,
            title: Some("Nightly".into()),
            plan_id: None,
            environment: Some("staging".into()),
            started_by: Some(0),
            counts: Some(counts),
            pass_rate: Some(75.0),
            duration_ms: Some(61_000),
            first_event_at: Some(1_700_000_000),
            last_event_at: Some(1_700_000_100),
            run_events: 2,
            results: ResultCounts {
                created: 4,
                updated: 1,
                deleted: 0,
            },
            deleted: false,
            details: Some(crate::runs::details::RunDetails {
                finished: true,
                stats: crate::runs::details::QaseStats {
                    total: 4,
                    passed: 3,
                    failed: 1,
                    ..Default::default()
                },
                elapsed_ms: Some(61_000),
                time_spent_ms: None,
                environment: Some("Staging".into()),
                milestone: Some(crate::runs::details::Milestone {
                    id: Some(3),
                    title: "v2.1".into(),
                }),
                plan_id: None,
                tags: vec!["sha:0123456789abcdef0123456789abcdef01234567".into()],
                public: false,
            }),
            details_pending: false,
            failures,
            report_sent: true,
            source: Some(crate::runs::state::EndSource::Reconciled),
            reconciled: true,
            url: "https://app.qase.io/run/WEB/dashboard/42".into(),
        }
    }

    use qase_webhooks::run_report::Failures;

    fn destination(state: Option<Phase>) -> DestinationView {
        DestinationView {
            name: "ci".into(),
            format: "standard".into(),
            enabled: true,
            alerts: false,
            reports: true,
            breaker: BreakerFacts {
                state,
                since: Some(1_700_000_000_000),
                reason: Some("10 failures in a row (last: HTTP 503)".into()),
                paused_by_operator: false,
                consecutive_failures: 10,
                held: 7,
                next_probe_at: None,
            },
            last_24h: Day {
                delivered: 3,
                failed: 1,
                dead: 0,
                success_rate: Some(0.75),
            },
            last_error: Some("HTTP 503".into()),
            last_error_at: Some(1_700_000_000_500),
            last_success_at: None,
        }
    }

    #[test]
    fn the_event_answers_are_the_documents() {
        let summary_ = summary(None, Some(42));
        check(&schema("EventSummary"), &summary_, &[]);
        let page = EventPage {
            events: vec![summary_.clone(), summary(Some("not an event"), None)],
            cursor: Some("1700000000000.evt_0123".into()),
        };
        check(&schema("EventPage"), &page, &[]);
        check(
            &schema("EventPage"),
            &EventPage {
                events: vec![],
                cursor: None,
            },
            &[],
        );
        let detail = EventDetail {
            event: summary_.clone(),
            description: Some(Description {
                tone: Tone::Bad,
                headline: "Test run completed".into(),
                title: Some("Nightly".into()),
                label: "Run #42".into(),
                url: "https://app.qase.io/run/WEB/dashboard/42".into(),
                status: Some("3 of 4 passed".into()),
                facts: vec![DescriptionFact {
                    label: "Failed".into(),
                    value: "1".into(),
                }],
                summary: None,
                project: "WEB".into(),
                event: "run.completed".into(),
                timestamp: 1_700_000_000,
            }),
            deliveries: vec![Delivery {
                destination: "ci".into(),
                status: DeliveryStatus::Dead,
                attempts: 8,
                last_status: Some(503),
                last_error: Some("HTTP 503".into()),
                reason: Some("8 attempts".into()),
                updated_at: 1_700_000_002_000,
                attempts_log: vec![json!({"n": 8, "at": 1_700_000_002_000u64,
                    "result": "failed_final", "status": 503, "latency_ms": 40,
                    "error": "HTTP 503", "next_at": null})],
            }],
            dead_letters: vec!["ci".into()],
            body: body(),
        };
        check(&schema("EventDetail"), &detail, &[]);
        let line = ExportLine {
            event: summary_,
            body: body(),
        };
        check(
            "/paths/~1api~1export/get/responses/200/content/application~1x-ndjson/schema",
            &line,
            &[],
        );
    }

    #[test]
    fn the_replay_and_dead_letter_answers_are_the_documents() {
        let replayed = Replayed {
            id: "evt_0123456789abcdef0123456789abcdef".into(),
            destinations: vec!["ci".into(), "chat".into()],
        };
        check(&schema("Replay"), &replayed, &[]);
        let bulk = BulkReplayed {
            events: 2,
            messages: 3,
            skipped: 1,
            cursor: Some("c".into()),
        };
        check(&schema("BulkReplay"), &bulk, &[]);
        let dry = DryRun {
            dry_run: true,
            events: 2,
            messages: 3,
            skipped: 1,
        };
        check(&schema("BulkReplayDryRun"), &dry, &[]);
        let letter = DeadLetterRow {
            id: "evt_0123456789abcdef0123456789abcdef".into(),
            destination: "ci".into(),
            event_name: "run.completed".into(),
            project_code: "WEB".into(),
            received_at: 1_700_000_000_000,
            attempts: 8,
            last_status: Some(503),
            last_error: None,
            reason: Some("8 attempts".into()),
            dead_at: 1_700_000_002_000,
        };
        // A dead letter is its row, whose optional columns read as `null`
        // when missing.
        let optional = ["last_status", "last_error", "reason"];
        check(&schema("DeadLetter"), &letter, &optional);
        let page = DeadLetterPage {
            dead_letters: vec![letter],
            cursor: None,
        };
        check(&schema("DeadLetterPage"), &page, &[]);
        let migrated = Migrated {
            keys: 10,
            events: 4,
            deliveries: 5,
            skipped: 1,
            cursor: None,
        };
        check(&schema("Migrated"), &migrated, &[]);
    }

    #[test]
    fn the_stats_are_the_documents() {
        let totals = Totals {
            events: 3,
            accepted: 2,
            quarantined: 1,
            duplicates: 4,
        };
        let stats = Stats {
            since: 0,
            until: 7200,
            project: Some("WEB".into()),
            totals: totals.clone(),
            by_event: vec![NameTotals {
                event_name: "run.completed".into(),
                totals,
            }],
            hours: vec![0, 3600],
            by_hour: vec![1, 2],
            by_entity_hour: [("run".to_owned(), vec![1, 2])].into(),
        };
        check(&schema("Stats"), &stats, &[]);
    }

    #[test]
    fn the_runs_answers_are_the_documents() {
        let failures = Failures {
            source: FailureSource::QaseApi,
            items: vec![Failure {
                case_id: 2,
                title: Some("Checkout".into()),
                status: FailureStatus::Failed,
                url: "https://app.qase.io/case/WEB-2".into(),
            }],
            more: 0,
        };
        // A run view's optional fields read as `null` when missing.
        let optional = [
            "title",
            "plan_id",
            "environment",
            "started_by",
            "counts",
            "pass_rate",
            "duration_ms",
            "first_event_at",
            "last_event_at",
            "failures",
            "source",
            "details",
            "details_pending",
        ];
        check(&schema("Run"), &run_view(Some(failures)), &optional);
        let page = RunPage {
            runs: vec![run_view(None)],
            cursor: Some("1700000000.42".into()),
        };
        check(&schema("RunPage"), &page, &[]);
    }

    #[test]
    fn the_destinations_answers_are_the_documents() {
        let page = DestinationPage {
            destinations: vec![destination(Some(Phase::Paused)), destination(None)],
        };
        check(
            "/paths/~1api~1destinations/get/responses/200/content/application~1json/schema",
            &page,
            &[],
        );
        let forced = Forced {
            consecutive_failures: 0,
            held: 3,
            name: "ci".into(),
            next_probe_at: None,
            paused_by_operator: true,
            reason: Some("paused by an operator".into()),
            since: Some(1_700_000_000_000),
            state: Phase::Paused,
        };
        for action in ["pause", "resume"] {
            check(
                &format!(
                    "/paths/~1api~1destinations~1{{name}}~1{action}/post/responses/200/content/application~1json/schema"
                ),
                &forced,
                &[],
            );
        }
        // Its fields in the order the answer has always had them.
        let text = serde_json::to_string(&forced).unwrap();
        let keys: Vec<&str> = text
            .match_indices("\":")
            .map(|(at, _)| {
                let start = text[..at].rfind('"').unwrap() + 1;
                &text[start..at]
            })
            .collect();
        let mut sorted = keys.clone();
        sorted.sort_unstable();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn the_watched_projects_are_the_documents() {
        let watched = WatchView {
            project: "WEB".into(),
            last_delivery_at: Some(1_700_000_000_000),
            window_seconds: 86_400,
            quiet: true,
            alerted_at: None,
        };
        check(&schema("Health/properties/watch/items"), &watched, &[]);
        let health: HealthWatch = serde_json::from_str(r#"{"status":"ok"}"#).unwrap();
        assert_eq!(health, HealthWatch::default(), "no watch: none left out");
    }

    #[test]
    fn the_checked_webhooks_are_the_documents() {
        let webhook = WebhookView {
            project: "WEB".into(),
            state: crate::alerts::disabled::WebhookState::SuspectedDisabled,
            last_delivery_at: Some(1_700_000_000_000),
            grace_seconds: 1_800,
            suspected_at: Some(1_700_003_600_000),
            runs_untold: Some(2),
            run: Some(42),
            alerted_at: Some(1_700_003_600_000),
            checked_at: None,
        };
        check(&schema("Health/properties/webhooks/items"), &webhook, &[]);
    }

    #[test]
    fn a_description_is_the_message_it_comes_from() {
        let body = br#"{"event_name":"run.completed","timestamp":1700000000,"payload":{"id":42,"cases":4,"passed":3,"failed":1,"blocked":0,"duration":0},"team_member_id":1,"project_code":"WEB"}"#;
        let message = crate::api::events::describe(body, qase_webhooks::chat::DEFAULT_APP_URL)
            .expect("a typed event");
        let description = Description::from(message.clone());
        assert_eq!(
            serde_json::to_value(&description).unwrap(),
            serde_json::to_value(&message).unwrap()
        );
        check(&schema("Description"), &description, &[]);
    }

    #[test]
    fn a_delivery_shows_its_attempts_log_as_the_row_did() {
        let row = |log: Option<&str>| DeliveryRow {
            destination: "ci".into(),
            status: DeliveryStatus::Retrying,
            attempts: 1,
            last_status: None,
            last_error: None,
            reason: None,
            updated_at: 5,
            attempts_log: log.map(str::to_owned),
        };
        for log in [
            None,
            Some("not json"),
            Some("{}"),
            Some(r#"[{"n":1,"at":5}]"#),
        ] {
            assert_eq!(
                serde_json::to_string(&Delivery::from(row(log))).unwrap(),
                serde_json::to_string(&row(log)).unwrap(),
                "{log:?}"
            );
        }
    }

    #[test]
    fn a_summary_is_the_row_and_its_old_status_name() {
        let summary = summary(Some("x"), Some(1));
        let json = serde_json::to_value(&summary).unwrap();
        let mut row: EventRow = serde_json::from_value(
            json!({
                "body_in_kv": 0, "body": "{}",
            })
            .as_object()
            .unwrap()
            .clone()
            .into_iter()
            .chain(json.as_object().unwrap().clone())
            .collect::<serde_json::Map<_, _>>()
            .into(),
        )
        .unwrap();
        row.body = Some("{}".into());
        assert_eq!(EventSummary::from(&row), summary);
        assert_eq!(
            serde_json::to_string(&EventSummary::from(&row)).unwrap(),
            serde_json::to_string(&summary).unwrap()
        );
    }
}
