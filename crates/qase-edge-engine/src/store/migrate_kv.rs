//! `POST /api/migrate-kv`: copies a history kept in KV by versions before
//! D1 (`event/{id}` and `quarantine/{id}` with their metadata and bytes,
//! `delivery/{id}/{destination}` states, `dead/{id}/{destination}` dead
//! letters) into the D1 event store, one KV list page per call, so that a
//! deployment upgraded to D1 keeps its history queryable. Pure: which keys
//! a call reads, the rows they become, and where the next call resumes.
//!
//! Idempotent: every insert is `ON CONFLICT DO NOTHING` (or keeps the
//! latest delivery state), so running it again, or over keys the kv sink
//! writes today (`event/{id}` with the same metadata), changes nothing.
//! Old events are recorded with `forward = 'none'`: they were forwarded
//! when they arrived, and the sweep must not send them again.

use std::borrow::Cow;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use qase_webhooks::{Envelope, EventId, Subjects};
use serde::{Deserialize, Serialize};

use crate::api::params::ParamError;
use crate::store::d1::{self, NewEvent, Param, Statement, D1_BODY_LIMIT};
use crate::store::layout::{self, DeadLetterMetadata, DeliveryState, EventMetadata};
use crate::store::types::Forward;

/// What a phase copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `event/` or `quarantine/` keys: an event row, from its metadata and bytes.
    Event,
    /// `delivery/` keys: a delivery state, from the metadata.
    Delivery,
    /// `dead/` keys: a dead delivery state, from the metadata.
    Dead,
}

/// The phases, in order: events first, so that delivery states find their
/// event's row.
pub const PHASES: [(&str, Kind); 4] = [
    (layout::EVENT, Kind::Event),
    (layout::QUARANTINE, Kind::Event),
    (layout::DELIVERY, Kind::Delivery),
    (layout::DEAD, Kind::Dead),
];

/// Keys one call lists: an event key costs a KV read for its bytes (within
/// Workers' 50 subrequests with the list and the D1 calls); the others
/// are metadata only, one D1 statement each.
pub fn page_size(kind: Kind) -> u64 {
    match kind {
        Kind::Event => 30,
        Kind::Delivery | Kind::Dead => 100,
    }
}

/// Where a migration resumes: a phase and the KV cursor within it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationCursor {
    /// Index into [`PHASES`].
    #[serde(rename = "p")]
    pub phase: usize,
    /// The KV list cursor within the phase (`None`: its start).
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub kv: Option<String>,
}

impl MigrationCursor {
    /// The cursor as the API hands it out.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("cursors serialise"))
    }

    fn decode(text: &str) -> Option<MigrationCursor> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        let cursor: MigrationCursor = serde_json::from_slice(&bytes).ok()?;
        (cursor.phase < PHASES.len() && cursor.kv.as_ref().is_none_or(|c| c.len() <= 1024))
            .then_some(cursor)
    }

    /// The phase's prefix and kind.
    pub fn phase(&self) -> (&'static str, Kind) {
        PHASES[self.phase]
    }

    /// Where the call after a page with `next` (KV's cursor, `None` when
    /// the page was the last of its prefix) resumes; `None` when done.
    pub fn after(&self, next: Option<String>) -> Option<MigrationCursor> {
        match next {
            Some(kv) => Some(MigrationCursor {
                phase: self.phase,
                kv: Some(kv),
            }),
            None => (self.phase + 1 < PHASES.len()).then(|| MigrationCursor {
                phase: self.phase + 1,
                kv: None,
            }),
        }
    }
}

/// The request body: empty, `{}` or `{"cursor": "..."}`.
pub fn parse_request(text: &str) -> Result<MigrationCursor, ParamError> {
    let bad = |param: &str, problem: &str| ParamError {
        param: param.into(),
        problem: problem.into(),
    };
    if text.trim().is_empty() {
        return Ok(MigrationCursor::default());
    }
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|_| bad("body", "must be empty or a JSON object"))?;
    let serde_json::Value::Object(object) = value else {
        return Err(bad("body", "must be empty or a JSON object"));
    };
    let mut cursor = MigrationCursor::default();
    for (name, value) in object {
        match (name.as_str(), value.as_str()) {
            ("cursor", Some(text)) => {
                cursor = MigrationCursor::decode(text)
                    .ok_or_else(|| bad("cursor", "is not a cursor this API handed out"))?
            }
            ("cursor", None) => return Err(bad("cursor", "must be a string")),
            _ => return Err(bad(&name, "unknown field (known: cursor)")),
        }
    }
    Ok(cursor)
}

/// The event id of an `event/{id}` or `quarantine/{id}` key.
pub fn event_key_id<'k>(prefix: &str, key: &'k str) -> Option<&'k str> {
    key.strip_prefix(prefix)
        .filter(|id| id.parse::<EventId>().is_ok())
}

/// Which of `ids` D1 already has (to skip reading their bytes).
pub fn existing(ids: &[&str]) -> Statement {
    let placeholders: Vec<String> = (1..=ids.len()).map(|n| format!("?{n}")).collect();
    Statement {
        sql: Cow::Owned(format!(
            "SELECT id FROM events WHERE id IN ({})",
            placeholders.join(", ")
        )),
        params: ids.iter().map(|id| Param::from(*id)).collect(),
    }
}

/// The row of an old event, from its key's metadata and bytes; `None` when
/// the bytes are not an envelope (nothing the Worker stored). Bind
/// [`Param::Body`] to the bytes.
pub fn event_insert(id: &str, metadata: &EventMetadata, body: &[u8]) -> Option<Statement> {
    let envelope = Envelope::parse(body).ok()?;
    let event = NewEvent {
        id: id.to_owned(),
        // The body has the name whole (old metadata could cut nothing here,
        // but the envelope is the source of truth).
        event_name: envelope.event_name.to_string(),
        project_code: envelope.project_code.clone(),
        team_member_id: envelope.team_member_id,
        received_at: metadata.received_at,
        outcome: metadata.status,
        reason: metadata.reason.clone(),
        subjects: Subjects::of(envelope.event_name.as_str(), envelope.payload),
        forward: Forward::None,
        size: body.len(),
        // Too large for a row: the bytes stay where they are in KV.
        body_in_kv: body.len() > D1_BODY_LIMIT,
    };
    Some(d1::rescue_insert(&event))
}

/// The upsert of a delivery state: only for an event D1 has, and only over
/// an older state.
fn delivery_upsert(params: Vec<Param>) -> Statement {
    Statement {
        sql: Cow::Borrowed(
            "INSERT INTO deliveries (event_id, destination, status, attempts, last_status, \
             last_error, reason, updated_at) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 WHERE EXISTS (SELECT 1 FROM events WHERE id = ?1) \
             ON CONFLICT (event_id, destination) DO UPDATE SET status = excluded.status, \
             attempts = excluded.attempts, last_status = excluded.last_status, \
             last_error = excluded.last_error, reason = excluded.reason, \
             updated_at = excluded.updated_at WHERE excluded.updated_at > deliveries.updated_at",
        ),
        params,
    }
}

/// The row of an old `delivery/{id}/{destination}` state.
pub fn delivery_insert(id: &str, destination: &str, state: &DeliveryState) -> Statement {
    delivery_upsert(vec![
        id.into(),
        destination.into(),
        state.status.as_str().into(),
        u64::from(state.attempts).into(),
        state.last_status.map(u64::from).into(),
        state.last_error.as_deref().into(),
        Param::Null,
        state.at.into(),
    ])
}

/// The row of an old `dead/{id}/{destination}` dead letter.
pub fn dead_letter_insert(id: &str, destination: &str, dead: &DeadLetterMetadata) -> Statement {
    delivery_upsert(vec![
        id.into(),
        destination.into(),
        "dead".into(),
        u64::from(dead.attempts).into(),
        dead.last_status.map(u64::from).into(),
        dead.last_error.as_deref().into(),
        dead.reason.as_str().into(),
        dead.dead_at.into(),
    ])
}

/// A call's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migrated {
    /// Keys read this call.
    pub keys: usize,
    /// Event rows inserted.
    pub events: usize,
    /// Delivery rows inserted or updated.
    pub deliveries: usize,
    /// Keys that were not records of the old layout (or not stored envelopes).
    pub skipped: usize,
    /// Pass as `cursor` to continue; `None` when every prefix is done.
    #[serde(deserialize_with = "crate::wire::present")]
    pub cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::d1::placeholders_match;
    use crate::store::layout::DeliveryStatus;
    use crate::store::types::EventStatus;

    const ID: &str = "evt_0123456789abcdef0123456789abcdef";

    #[test]
    fn phases_run_in_order_then_stop() {
        let start = parse_request("").unwrap();
        assert_eq!(start, MigrationCursor::default());
        assert_eq!(start.phase(), (layout::EVENT, Kind::Event));
        let same = start.after(Some("k".into())).unwrap();
        assert_eq!((same.phase, same.kv.as_deref()), (0, Some("k")));
        let mut cursor = start;
        let mut prefixes = vec![cursor.phase().0];
        while let Some(next) = cursor.after(None) {
            assert_eq!(next.kv, None);
            cursor = next;
            prefixes.push(cursor.phase().0);
        }
        assert_eq!(prefixes, ["event/", "quarantine/", "delivery/", "dead/"]);
        let text = same.encode();
        assert_eq!(
            parse_request(&format!(r#"{{"cursor":"{text}"}}"#)).unwrap(),
            same
        );
        for (body, param) in [
            ("[]", "body"),
            (r#"{"cursor": 1}"#, "cursor"),
            (r#"{"cursor": "x"}"#, "cursor"),
            (r#"{"limit": 1}"#, "limit"),
        ] {
            assert_eq!(parse_request(body).unwrap_err().param, param, "{body}");
        }
        let beyond = URL_SAFE_NO_PAD.encode(r#"{"p":4}"#);
        assert!(parse_request(&format!(r#"{{"cursor":"{beyond}"}}"#)).is_err());
    }

    #[test]
    fn an_old_event_becomes_a_row_that_is_never_forwarded_again() {
        let body = br#"{"event_name":"run.completed","timestamp":1,"payload":{"id":42,"cases":1},"team_member_id":3,"project_code":"WEB"}"#;
        let metadata = EventMetadata::new("run.completed", "WEB", 1_700_000_000_000, None);
        let statement = event_insert(ID, &metadata, body).unwrap();
        placeholders_match(&statement);
        assert!(statement.sql.contains("ON CONFLICT (id) DO NOTHING"));
        let p = &statement.params;
        assert_eq!(p[0], Param::Text(ID.into()));
        assert_eq!(p[5], Param::Int(3), "team member");
        assert_eq!(p[6], Param::Int(1_700_000_000_000));
        assert_eq!(p[7], Param::Text("accepted".into()));
        assert_eq!(p[9], Param::Int(42), "run id from the payload");
        assert_eq!(p[14], Param::Text("none".into()));
        assert_eq!(p[15], Param::Int(body.len() as i64));
        assert_eq!(statement.body_index(), Some(16));

        let quarantined = EventMetadata::new("x.y", "WEB", 5, Some("unknown event"));
        let q = event_insert(ID, &quarantined, body).unwrap();
        assert_eq!(q.params[7], Param::Text("quarantined".into()));
        assert_eq!(q.params[8], Param::Text("unknown event".into()));
        assert_eq!(quarantined.status, EventStatus::Quarantined);
        assert!(event_insert(ID, &metadata, b"not json").is_none());
    }

    #[test]
    fn delivery_states_keep_the_latest_and_need_their_event() {
        let state = DeliveryState::new(DeliveryStatus::Retrying, 2, Some(503), Some("busy"), 9);
        let statement = delivery_insert(ID, "ci", &state);
        placeholders_match(&statement);
        assert!(statement
            .sql
            .contains("WHERE EXISTS (SELECT 1 FROM events WHERE id = ?1)"));
        assert!(statement
            .sql
            .ends_with("WHERE excluded.updated_at > deliveries.updated_at"));
        assert_eq!(statement.params[2], Param::Text("retrying".into()));
        assert_eq!(statement.params[4], Param::Int(503));
        let dead = DeadLetterMetadata {
            event_name: "run.completed".into(),
            project_code: "WEB".into(),
            received_at: 1,
            destination: "ci".into(),
            attempts: 8,
            last_status: None,
            last_error: Some("timeout".into()),
            reason: "attempts exhausted".into(),
            dead_at: 10,
        };
        let statement = dead_letter_insert(ID, "ci", &dead);
        placeholders_match(&statement);
        assert_eq!(statement.params[2], Param::Text("dead".into()));
        assert_eq!(statement.params[4], Param::Null);
        assert_eq!(
            statement.params[6],
            Param::Text("attempts exhausted".into())
        );
        assert_eq!(statement.params[7], Param::Int(10));
    }

    #[test]
    fn keys_are_read_by_position_and_ids_checked() {
        assert_eq!(
            event_key_id(layout::EVENT, &layout::event_key(ID)),
            Some(ID)
        );
        assert_eq!(event_key_id(layout::EVENT, "event/evt_1"), None);
        assert_eq!(
            event_key_id(layout::EVENT, &layout::quarantine_key(ID)),
            None
        );
        let statement = existing(&[ID, ID]);
        placeholders_match(&statement);
        assert_eq!(statement.sql, "SELECT id FROM events WHERE id IN (?1, ?2)");
        assert!(page_size(Kind::Event) < 50 && page_size(Kind::Dead) <= 100);
    }
}
