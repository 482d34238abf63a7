//! The D1 event store (binding `QASE_DB`), in one place: the tables of
//! `migrations/`, the statements the Worker runs, and the rules that make
//! forwarding exactly-once. Pure: statements are values (SQL text and
//! parameters) that the shell binds and runs, so every rule is tested on
//! the host.
//!
//! | Table | Row |
//! |---|---|
//! | `events` | one per distinct delivery (id = SHA-256 of the bytes): what people filter on, the payload's ids, the exact bytes (or `body_in_kv`), `duplicates`, `forward` |
//! | `deliveries` | one per event and destination: status (`delivered`, `retrying`, `dead`), attempts, last status and error; a dead letter is a `dead` row |
//!
//! Exactly-once, without a read-then-write:
//! - **Stored once.** The ingest insert is an upsert on the primary key
//!   ([`record_event`]): a copy that arrives at the same moment in another
//!   isolate only increments `duplicates`, and `RETURNING duplicates` says
//!   which of the two was first.
//! - **Forwarded once.** A new event is inserted with `forward = 'pending'`
//!   and sent to the queue. The consumer forwards a message only if it
//!   moves that row from `pending` to `queued` ([`claim_forward`]: one
//!   conditional update, `changes = 1`). The cron sweep re-sends `pending`
//!   rows older than `QASE_REDRIVE_AFTER_SECONDS` (a queue send that failed), and
//!   whichever message claims first is the one forwarded.
//! - **Never lost when D1 fails.** The queue message then says `recorded:
//!   false`; the consumer inserts the row itself ([`record_from_queue`]) and
//!   forwards only if the insert or the claim succeeds. A body that neither
//!   D1 nor the queue took waits in KV (`rescue/{id}`) for the sweep
//!   ([`rescue_insert`]).

use std::borrow::Cow;

use qase_webhooks::Subjects;
use serde::{Deserialize, Serialize};

use crate::store::types::{EventStatus, Forward};

/// Bodies up to this many bytes are stored in the row; larger ones in KV
/// (`event/{id}`, or `quarantine/{id}` for a quarantined event). D1 allows 2,000,000 bytes per row; the other columns are
/// bounded far below the rest.
pub const D1_BODY_LIMIT: usize = 1_900_000;

/// Rows the sweep handles per run, within Workers' subrequest limits (one
/// queue send each, 50 subrequests per invocation on the Free plan).
pub const SWEEP_BATCH: usize = 40;

/// A statement parameter. [`Param::Body`] stands for the delivery's exact
/// bytes, bound as text by the shell (which has them at hand), so that a
/// large body is not copied into the statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Param {
    /// SQL `NULL`.
    Null,
    /// An integer (every stored integer is within JavaScript's safe range).
    Int(i64),
    /// Text.
    Text(String),
    /// The delivery's body.
    #[serde(serialize_with = "body_marker")]
    Body,
}

fn body_marker<S: serde::Serializer>(serializer: S) -> Result<S::Ok, S::Error> {
    // Never bound as is: the shell replaces it (see `Statement::body_index`).
    serializer.serialize_none()
}

impl From<Option<u64>> for Param {
    fn from(value: Option<u64>) -> Param {
        value.map_or(Param::Null, |v| Param::Int(v as i64))
    }
}

impl From<u64> for Param {
    fn from(value: u64) -> Param {
        Param::Int(value as i64)
    }
}

impl From<&str> for Param {
    fn from(value: &str) -> Param {
        Param::Text(value.to_owned())
    }
}

impl From<Option<&str>> for Param {
    fn from(value: Option<&str>) -> Param {
        value.map_or(Param::Null, Param::from)
    }
}

/// One SQL statement and its parameters (`?1`, `?2`, ... in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The SQL text, with numbered parameters (built at run time for the
    /// operator API's filters).
    pub sql: Cow<'static, str>,
    /// The parameters.
    pub params: Vec<Param>,
}

impl Statement {
    /// The parameters as a JSON array, [`Param::Body`] as `null`.
    pub fn params_json(&self) -> String {
        serde_json::to_string(&self.params).expect("parameters serialise")
    }

    /// Where [`Param::Body`] is, if the statement binds the body.
    pub fn body_index(&self) -> Option<usize> {
        self.params.iter().position(|p| *p == Param::Body)
    }
}

/// An event as the ingest path (or the consumer, or the sweep) records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// `evt_...`.
    pub id: String,
    /// The event name as sent.
    pub event_name: String,
    /// The project code.
    pub project_code: String,
    /// Who triggered it.
    pub team_member_id: u64,
    /// When the Worker received it, in Unix milliseconds.
    pub received_at: u64,
    /// Accepted or quarantined.
    pub outcome: EventStatus,
    /// Why it was quarantined.
    pub reason: Option<String>,
    /// The ids the payload names.
    pub subjects: Subjects,
    /// Whether it goes to the queue (`Pending`), or not (`None`).
    pub forward: Forward,
    /// The body's size in bytes.
    pub size: usize,
    /// The body is in KV, not in the row: `event/{id}`, or `quarantine/{id}`
    /// for a quarantined event.
    pub body_in_kv: bool,
}

impl NewEvent {
    /// `entity` and `action`: the name split at its first dot.
    pub fn entity_action(&self) -> (&str, &str) {
        self.event_name
            .split_once('.')
            .unwrap_or((self.event_name.as_str(), ""))
    }

    fn params(&self) -> Vec<Param> {
        let (entity, action) = self.entity_action();
        let s = &self.subjects;
        vec![
            self.id.as_str().into(),
            self.event_name.as_str().into(),
            entity.into(),
            action.into(),
            self.project_code.as_str().into(),
            self.team_member_id.into(),
            self.received_at.into(),
            self.outcome.as_str().into(),
            self.reason.as_deref().into(),
            s.run.into(),
            s.case.into(),
            s.defect.into(),
            s.plan.into(),
            s.milestone.into(),
            self.forward.as_str().into(),
            (self.size as u64).into(),
            match self.body_in_kv {
                true => Param::Null,
                false => Param::Body,
            },
            u64::from(self.body_in_kv).into(),
        ]
    }
}

/// The ingest path's one write: the row, or, for a copy of a stored event,
/// one more in its `duplicates`. Its single result row's `duplicates` is
/// `0` exactly when this delivery was the first ([`is_first`]).
pub fn record_event(event: &NewEvent) -> Statement {
    Statement {
        sql: Cow::Borrowed("INSERT INTO events (id, event_name, entity, action, project_code, team_member_id, \
              received_at, outcome, reason, run_id, case_id, defect_id, plan_id, milestone_id, \
              forward, size, body, body_in_kv) \
              VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18) \
              ON CONFLICT (id) DO UPDATE SET duplicates = duplicates + 1, \
              last_duplicate_at = excluded.received_at \
              RETURNING duplicates"),
        params: event.params(),
    }
}

/// Whether [`record_event`]'s result (`duplicates`) says this delivery was
/// the first of its bytes.
pub fn is_first(duplicates: u64) -> bool {
    duplicates == 0
}

/// The consumer's claim on a new event: moves the row from `pending` to
/// `queued`. Forward the message only when it changed one row.
pub fn claim_forward(id: &str) -> Statement {
    Statement {
        sql: Cow::Borrowed(
            "UPDATE events SET forward = 'queued' WHERE id = ?1 AND forward = 'pending'",
        ),
        params: vec![id.into()],
    }
}

/// The consumer's insert of an event that D1 did not take at ingest
/// (`recorded: false`), already claimed. Forward when it changed one row;
/// otherwise try [`claim_forward`] (the sweep may have inserted it first).
pub fn record_from_queue(event: &NewEvent) -> Statement {
    Statement {
        sql: Cow::Borrowed("INSERT INTO events (id, event_name, entity, action, project_code, team_member_id, \
              received_at, outcome, reason, run_id, case_id, defect_id, plan_id, milestone_id, \
              forward, size, body, body_in_kv) \
              VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, 'queued', ?16, ?17, ?18) \
              ON CONFLICT (id) DO NOTHING"),
        params: event.params(),
    }
}

/// The sweep's insert of an event found in KV `rescue/{id}`, with its
/// routing as recorded there; `changes = 0` means D1 already has it.
pub fn rescue_insert(event: &NewEvent) -> Statement {
    Statement {
        sql: Cow::Borrowed("INSERT INTO events (id, event_name, entity, action, project_code, team_member_id, \
              received_at, outcome, reason, run_id, case_id, defect_id, plan_id, milestone_id, \
              forward, size, body, body_in_kv) \
              VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18) \
              ON CONFLICT (id) DO NOTHING"),
        params: event.params(),
    }
}

/// `pending` rows received before `before` (Unix ms): the sweep's re-sends.
pub fn unforwarded(before: u64) -> Statement {
    Statement {
        sql: Cow::Borrowed(
            "SELECT id, event_name, project_code, received_at, body, body_in_kv FROM events \
              WHERE forward = 'pending' AND received_at < ?1 ORDER BY received_at LIMIT ?2",
        ),
        params: vec![before.into(), (SWEEP_BATCH as u64).into()],
    }
}

/// Rows and delivery states older than the retention (Unix ms): the sweep's
/// deletes. Events whose bytes are in KV are listed first so their KV keys
/// can go too ([`expired_in_kv`]).
pub fn delete_expired(before: u64) -> [Statement; 2] {
    [
        Statement {
            sql: Cow::Borrowed(
                "DELETE FROM deliveries WHERE event_id IN \
                  (SELECT id FROM events WHERE received_at < ?1)",
            ),
            params: vec![before.into()],
        },
        Statement {
            sql: Cow::Borrowed("DELETE FROM events WHERE received_at < ?1"),
            params: vec![before.into()],
        },
    ]
}

/// Ids of expired events whose bytes are in KV, to delete there first.
pub fn expired_in_kv(before: u64) -> Statement {
    Statement {
        sql: Cow::Borrowed(
            "SELECT id FROM events WHERE received_at < ?1 AND body_in_kv = 1 LIMIT ?2",
        ),
        params: vec![before.into(), (SWEEP_BATCH as u64).into()],
    }
}

/// A `pending` row as [`unforwarded`] selects it.
#[derive(Debug, Clone, Deserialize)]
pub struct UnforwardedRow {
    /// The event id.
    pub id: String,
    /// The event name.
    pub event_name: String,
    /// The project code.
    pub project_code: String,
    /// When it was received, in Unix milliseconds.
    pub received_at: u64,
}

/// Test support: every `?N` in a statement has a parameter, and every
/// parameter a `?N`.
#[cfg(test)]
pub fn placeholders_match(statement: &Statement) {
    for n in 1..=statement.params.len() {
        assert!(
            statement.sql.contains(&format!("?{n}")),
            "?{n} unused in {}",
            statement.sql
        );
    }
    let next = format!("?{}", statement.params.len() + 1);
    assert!(!statement.sql.contains(&next), "{next} unbound");
}

/// Test support: the string literals of a statement (`'…'`), to check
/// that those standing for an enum's text are one of its `NAMES`.
#[cfg(test)]
pub fn literals(statement: &Statement) -> Vec<&str> {
    statement.sql.split('\'').skip(1).step_by(2).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forward_literals_are_forwards_text() {
        let (pending, queued) = (Forward::Pending.as_str(), Forward::Queued.as_str());
        assert_eq!(literals(&claim_forward("evt_1")), [queued, pending]);
        assert_eq!(literals(&record_from_queue(&event())), [queued]);
        assert_eq!(literals(&unforwarded(1)), [pending]);
        assert!(literals(&rescue_insert(&event())).is_empty());
    }

    fn event() -> NewEvent {
        NewEvent {
            id: "evt_1".into(),
            event_name: "run.completed".into(),
            project_code: "WEB".into(),
            team_member_id: 7,
            received_at: 1_700_000_000_000,
            outcome: EventStatus::Accepted,
            reason: None,
            subjects: Subjects {
                run: Some(42),
                ..Subjects::default()
            },
            forward: Forward::Pending,
            size: 10,
            body_in_kv: false,
        }
    }

    #[test]
    fn every_statement_binds_what_it_uses() {
        let e = event();
        let [a, b] = delete_expired(1);
        for statement in [
            record_event(&e),
            claim_forward("evt_1"),
            rescue_insert(&e),
            unforwarded(1),
            expired_in_kv(1),
            a,
            b,
        ] {
            placeholders_match(&statement);
        }
        // The consumer's insert sets `forward` itself: ?15 is bound, unused.
        assert!(!record_from_queue(&e).sql.contains("?15"));
    }

    #[test]
    fn the_record_binds_the_body_unless_it_is_in_kv() {
        let statement = record_event(&event());
        assert_eq!(statement.body_index(), Some(16));
        assert_eq!(statement.params[9], Param::Int(42));
        assert_eq!(statement.params[2], Param::Text("run".into()));
        assert_eq!(statement.params[3], Param::Text("completed".into()));
        let json: serde_json::Value = serde_json::from_str(&statement.params_json()).unwrap();
        assert_eq!(json[16], serde_json::Value::Null);
        assert_eq!(json[14], "pending");

        let in_kv = NewEvent {
            body_in_kv: true,
            ..event()
        };
        assert_eq!(record_event(&in_kv).body_index(), None);
    }

    #[test]
    fn only_the_first_copy_is_first() {
        assert!(is_first(0));
        assert!(!is_first(1));
    }

    #[test]
    fn a_name_without_a_dot_is_all_entity() {
        let e = NewEvent {
            event_name: "ping".into(),
            ..event()
        };
        assert_eq!(e.entity_action(), ("ping", ""));
    }
}
