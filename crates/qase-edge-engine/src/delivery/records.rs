//! The delivery consumers' side of the event store (D1, see
//! [`crate::store::d1`]): the claim that makes forwarding exactly-once,
//! where a message's body is, and the `deliveries` rows (delivery states
//! and dead letters). Pure: statements are values and every rule is a
//! function of what D1 answered, tested on the host;
//! `qase_edge::delivery::consumer` and `qase_edge::delivery::dead_letters` run them.
//!
//! The claim ([`claim`], then [`after`] with each statement's result):
//!
//! | Message | Statement | Changed 1 | Changed 0 | D1 failed |
//! |---|---|---|---|---|
//! | `destination: Some(_)` (retry, replay) | none | | | forward |
//! | new event, `recorded: true` | [`d1::claim_forward`] | forward | skip | forward anyway |
//! | new event, `recorded: false` | [`d1::record_from_queue`] | forward | claim as above | forward anyway |
//!
//! "Forward anyway" when D1 fails: the event is in the queue and nowhere
//! else we can reach, so losing it would be worse than forwarding it a
//! second time (delivery is at least once and carries `webhook-id`); a
//! duplicate needs the same message twice *and* D1 down at both claims.
//! Except for a message D1 did not record at ingest whose rescue copy is in
//! KV ([`unclaimed`]): the sweep forwards that one, once D1 is back.

use std::borrow::Cow;

use qase_webhooks::{Envelope, Subjects};
use serde::{Deserialize, Serialize};

use crate::delivery::attempt::AttemptOutcome;
use crate::delivery::messages::{DeadLetter, QueuedDelivery};
use crate::store::d1::{self, NewEvent, Param, Statement, D1_BODY_LIMIT};
use crate::store::layout::{DeliveryState, DeliveryStatus};
use crate::store::types::{EventStatus, Forward};

/// Which statement of the claim ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// [`d1::record_from_queue`]: the consumer inserts the row, claimed.
    Record,
    /// [`d1::claim_forward`]: `pending` to `queued`.
    Claim,
}

/// Where a message stands with the claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Run `statement` (binding the body where it asks), then ask [`after`].
    Run {
        /// Which statement it is.
        stage: Stage,
        /// The statement.
        statement: Statement,
    },
    /// Forward to every target: this message holds the claim, or needs none.
    Forward,
    /// Another message (a duplicate, or the sweep's re-send) has the claim:
    /// ack without forwarding.
    Skip,
    /// D1 failed during the claim: forward anyway (see the module docs).
    ForwardUnclaimed,
    /// D1 failed during the claim of a message it did not record at
    /// ingest, and KV holds the event's rescue copy: ack without forwarding;
    /// the sweep records it and sends it once D1 is back ([`unclaimed`]).
    LeftToTheSweep,
}

/// The first step of the claim for `message`, whose body is `body`.
pub fn claim(message: &QueuedDelivery, body: &[u8]) -> Claim {
    if message.destination.is_some() {
        return Claim::Forward;
    }
    match message.recorded {
        true => Claim::Run {
            stage: Stage::Claim,
            statement: d1::claim_forward(&message.id),
        },
        false => Claim::Run {
            stage: Stage::Record,
            statement: d1::record_from_queue(&new_event(message, body)),
        },
    }
}

/// The next step after `stage` ran for the event `id`: `Ok(changes)`, or
/// `Err(())` when D1 failed.
pub fn after(stage: Stage, id: &str, result: Result<usize, ()>) -> Claim {
    match (stage, result) {
        (_, Err(())) => Claim::ForwardUnclaimed,
        (_, Ok(1)) => Claim::Forward,
        // The sweep (from KV `rescue/`) or another copy inserted it first:
        // whoever moves it from `pending` forwards it.
        (Stage::Record, Ok(_)) => Claim::Run {
            stage: Stage::Claim,
            statement: d1::claim_forward(id),
        },
        (Stage::Claim, Ok(_)) => Claim::Skip,
    }
}

/// What to do when D1 failed during the claim ([`Claim::ForwardUnclaimed`]),
/// given whether KV holds the event's rescue copy. A message that D1 did
/// not record at ingest (`recorded: false`) has a rescue copy when KV was
/// up: the sweep records it and sends it once D1 is back, and that message
/// claims it, so forwarding now would forward it twice. Without one, the
/// queue holds the only copy: forward it.
pub fn unclaimed(message: &QueuedDelivery, rescue_copy: bool) -> Claim {
    match !message.recorded && rescue_copy {
        true => Claim::LeftToTheSweep,
        false => Claim::ForwardUnclaimed,
    }
}

/// The row a consumer records for a message D1 did not take at ingest:
/// what the message says, and what the envelope says (the team member and
/// the payload's ids). Only accepted events are queued as new events. The
/// body goes in the row unless it is larger than a row holds, when it is
/// in KV `event/{id}` (ingest put it there: it did not travel inline).
pub fn new_event(message: &QueuedDelivery, body: &[u8]) -> NewEvent {
    let (team_member_id, subjects) = match Envelope::parse(body) {
        Ok(envelope) => (
            envelope.team_member_id,
            Subjects::of(envelope.event_name.as_str(), envelope.payload),
        ),
        // Cannot happen for a body that was accepted; the row still counts.
        Err(_) => (0, Subjects::default()),
    };
    NewEvent {
        id: message.id.clone(),
        event_name: message.event_name.clone(),
        project_code: message.project_code.clone(),
        team_member_id,
        received_at: message.received_at,
        outcome: EventStatus::Accepted,
        reason: None,
        subjects,
        // Not bound by `record_from_queue`, which inserts it claimed.
        forward: Forward::Pending,
        size: body.len(),
        body_in_kv: body.len() > D1_BODY_LIMIT,
    }
}

/// The body of an event as its row holds it: `SELECT body, body_in_kv`.
pub fn body_of(id: &str) -> Statement {
    Statement {
        sql: Cow::Borrowed("SELECT body, body_in_kv FROM events WHERE id = ?1"),
        params: vec![id.into()],
    }
}

/// A row as [`body_of`] selects it.
#[derive(Debug, Clone, Deserialize)]
pub struct BodyRow {
    /// The exact bytes, unless they are in KV.
    pub body: Option<String>,
    /// The bytes are in KV `event/{id}`.
    pub body_in_kv: u8,
}

/// Where to find a body a message does not carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyAt {
    /// In the row: here it is.
    Row(String),
    /// In KV (`event/{id}`, or `quarantine/{id}` for events stored before
    /// D1): the row says so, there is no row (an event D1 did not take at
    /// ingest), or D1 could not be read.
    Kv,
}

/// Where the body is, given what [`body_of`] returned (`Err` when D1 failed).
pub fn body_at(rows: Result<Vec<BodyRow>, ()>) -> BodyAt {
    match rows.ok().and_then(|rows| rows.into_iter().next()) {
        Some(BodyRow {
            body: Some(body),
            body_in_kv: 0,
        }) => BodyAt::Row(body),
        _ => BodyAt::Kv,
    }
}

/// A `deliveries` row: where an event's delivery to one destination stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow<'a> {
    /// The event id.
    pub event_id: &'a str,
    /// The destination's name (or [`crate::delivery::attempt::ALL_DESTINATIONS`]).
    pub destination: &'a str,
    /// The state.
    pub state: &'a DeliveryState,
    /// Why it is dead (dead rows only).
    pub reason: Option<&'a str>,
    /// The attempt to add to the row's `attempts_log`, if any.
    pub entry: Option<&'a AttemptEntry>,
}

/// How many attempts a row's `attempts_log` keeps (the latest).
pub const ATTEMPTS_LOG_LENGTH: usize = 20;

/// What became of one attempt, in a row's `attempts_log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptResultKind {
    /// Delivered.
    Delivered,
    /// Failed; another attempt follows at `next_at`.
    FailedWillRetry,
    /// Failed for good: a dead letter.
    FailedFinal,
    /// Not attempted: its destination is paused, the breaker holds it.
    HeldWhilePaused,
    /// A held event tried as the breaker's probe (or drain), which failed:
    /// still held.
    Probe,
}

/// One entry of a row's `attempts_log` (JSON; times in Unix ms).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptEntry {
    /// The attempt's number, from 1 (`0`: not attempted).
    pub n: u32,
    /// When.
    pub at: u64,
    /// What became of it.
    pub result: AttemptResultKind,
    /// The HTTP status, if one came back.
    pub status: Option<u16>,
    /// How long the destination took.
    pub latency_ms: Option<u64>,
    /// The failure, in words.
    pub error: Option<String>,
    /// When the next attempt is due.
    pub next_at: Option<u64>,
}

impl AttemptEntry {
    /// The entry for an attempt and what the engine made of it
    /// (`released`: a held event the breaker let out).
    pub fn of(
        step: &crate::delivery::attempt::AttemptStep,
        released: bool,
        latency_ms: u64,
        now: u64,
    ) -> AttemptEntry {
        use crate::delivery::attempt::Action;
        let (result, next_at) = match &step.action {
            Action::Delivered => (AttemptResultKind::Delivered, None),
            Action::DeadLetter { .. } if step.log.outcome == AttemptOutcome::Rejected => {
                (AttemptResultKind::FailedFinal, None)
            }
            _ if released => (AttemptResultKind::Probe, None),
            Action::Requeue { delay_seconds } => (
                AttemptResultKind::FailedWillRetry,
                Some(now + u64::from(*delay_seconds) * 1000),
            ),
            Action::DeadLetter { .. } => (AttemptResultKind::FailedFinal, None),
        };
        AttemptEntry {
            n: step.next.attempts,
            at: now,
            result,
            status: step.next.last_status,
            latency_ms: Some(latency_ms),
            error: (result != AttemptResultKind::Delivered)
                .then(|| step.next.last_error.clone())
                .flatten(),
            next_at,
        }
    }

    /// The entry of a message held while its destination is paused.
    pub fn held(attempts: u32, now: u64) -> AttemptEntry {
        AttemptEntry {
            n: attempts,
            at: now,
            result: AttemptResultKind::HeldWhilePaused,
            status: None,
            latency_ms: None,
            error: None,
            next_at: None,
        }
    }

    /// The entry of a dead letter's last attempt.
    pub fn dead(dead: &DeadLetter) -> AttemptEntry {
        AttemptEntry {
            n: dead.delivery.attempts,
            at: dead.dead_at,
            result: AttemptResultKind::FailedFinal,
            status: dead.delivery.last_status,
            latency_ms: None,
            error: Some(dead.reason.clone()),
            next_at: None,
        }
    }
}

/// Writes a delivery state, replacing the one it follows. A state older
/// than the stored one (a message delayed past its successor's) changes
/// nothing, so the row always shows the latest.
pub fn upsert(row: &DeliveryRow<'_>) -> Statement {
    let state = row.state;
    Statement {
        sql: Cow::Borrowed(
            "INSERT INTO deliveries (event_id, destination, status, attempts, last_status, \
              last_error, reason, updated_at, attempts_log) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, \
              CASE WHEN ?9 IS NULL THEN NULL ELSE json_array(json(?9)) END) \
              ON CONFLICT (event_id, destination) DO UPDATE SET status = excluded.status, \
              attempts = excluded.attempts, last_status = excluded.last_status, \
              last_error = excluded.last_error, reason = excluded.reason, \
              updated_at = excluded.updated_at, attempts_log = CASE \
                WHEN ?9 IS NULL THEN deliveries.attempts_log \
                WHEN json_array_length(COALESCE(deliveries.attempts_log, '[]')) >= 20 \
                  THEN json_insert(json_remove(deliveries.attempts_log, '$[0]'), '$[#]', json(?9)) \
                ELSE json_insert(COALESCE(deliveries.attempts_log, '[]'), '$[#]', json(?9)) END \
              WHERE excluded.updated_at >= deliveries.updated_at",
        ),
        params: vec![
            row.event_id.into(),
            row.destination.into(),
            state.status.as_str().into(),
            u64::from(state.attempts).into(),
            state.last_status.map(u64::from).into(),
            state.last_error.as_deref().into(),
            match state.status {
                DeliveryStatus::Dead => row.reason.into(),
                _ => Param::Null,
            },
            state.at.into(),
            row.entry
                .and_then(|entry| serde_json::to_string(entry).ok())
                .as_deref()
                .into(),
        ],
    }
}

/// The state a dead letter records: dead, with the last failure.
pub fn dead_state(dead: &DeadLetter) -> DeliveryState {
    let delivery = &dead.delivery;
    DeliveryState::new(
        DeliveryStatus::Dead,
        delivery.attempts,
        delivery.last_status,
        delivery.last_error.as_deref(),
        dead.dead_at,
    )
}

/// What recording a dead letter writes to D1, in order. For a message
/// that D1 did not take at ingest (`recorded: false`) the event's row comes
/// first, so that the dead letter can be inspected and replayed: inserted
/// claimed, since this is its delivery's end; a row that exists is left
/// as it is. `state` is [`dead_state`] of `dead`; `body` the event's
/// bytes, if they could be found (needed only for that row).
pub fn dead_letter_writes(
    dead: &DeadLetter,
    state: &DeliveryState,
    body: Option<&[u8]>,
) -> Vec<Statement> {
    let mut writes = Vec::new();
    if let (false, Some(body)) = (dead.delivery.recorded, body) {
        writes.push(d1::record_from_queue(&new_event(&dead.delivery, body)));
    }
    let entry = AttemptEntry::dead(dead);
    writes.push(upsert(&DeliveryRow {
        event_id: &dead.delivery.id,
        destination: &dead.destination,
        state,
        reason: Some(&dead.reason),
        entry: Some(&entry),
    }));
    writes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::d1::placeholders_match;

    const BODY: &[u8] = br#"{"event_name":"run.completed","timestamp":1,"payload":{"id":42,"cases":1,"passed":1,"failed":0,"blocked":0,"duration":1},"team_member_id":9,"project_code":"WEB"}"#;

    fn message(recorded: bool) -> QueuedDelivery {
        QueuedDelivery {
            recorded,
            ..QueuedDelivery::new(
                "evt_0123456789abcdef0123456789abcdef".into(),
                "run.completed".into(),
                "WEB".into(),
                1_700_000_000_000,
                BODY,
                false,
            )
        }
    }

    #[test]
    fn a_recorded_new_event_is_forwarded_only_by_the_message_that_claims_it() {
        let message = message(true);
        let Claim::Run { stage, statement } = claim(&message, BODY) else {
            panic!("a new event claims");
        };
        assert_eq!(stage, Stage::Claim);
        assert_eq!(statement, d1::claim_forward(&message.id));
        assert_eq!(after(stage, &message.id, Ok(1)), Claim::Forward);
        assert_eq!(
            after(stage, &message.id, Ok(0)),
            Claim::Skip,
            "a duplicate message, or the sweep's re-send, already forwarded it"
        );
        assert_eq!(
            after(stage, &message.id, Err(())),
            Claim::ForwardUnclaimed,
            "D1 down: at least once rather than lost"
        );
    }

    #[test]
    fn an_unrecorded_new_event_is_inserted_claimed_then_claimed_if_it_was_there() {
        let message = message(false);
        let Claim::Run { stage, statement } = claim(&message, BODY) else {
            panic!("a new event claims");
        };
        assert_eq!(stage, Stage::Record);
        assert!(statement.sql.starts_with("INSERT INTO events"));
        assert!(statement.sql.contains("'queued'"));
        assert_eq!(statement.body_index(), Some(16), "the body is in the row");
        assert_eq!(after(stage, &message.id, Ok(1)), Claim::Forward);
        match after(stage, &message.id, Ok(0)) {
            Claim::Run {
                stage: Stage::Claim,
                statement,
            } => {
                assert_eq!(statement, d1::claim_forward(&message.id));
                assert_eq!(after(Stage::Claim, &message.id, Ok(1)), Claim::Forward);
                assert_eq!(after(Stage::Claim, &message.id, Ok(0)), Claim::Skip);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(after(stage, &message.id, Err(())), Claim::ForwardUnclaimed);
    }

    #[test]
    fn retries_and_replays_never_claim() {
        for recorded in [true, false] {
            let retry = QueuedDelivery {
                destination: Some("ci".into()),
                attempts: 2,
                ..message(recorded)
            };
            assert_eq!(claim(&retry, BODY), Claim::Forward);
        }
    }

    #[test]
    fn the_consumers_row_has_what_the_envelope_says() {
        let event = new_event(&message(false), BODY);
        assert_eq!(event.team_member_id, 9);
        assert_eq!(event.subjects.run, Some(42));
        assert_eq!(
            (event.outcome, event.reason.as_deref()),
            (EventStatus::Accepted, None)
        );
        assert_eq!(event.received_at, 1_700_000_000_000);
        assert_eq!((event.size, event.body_in_kv), (BODY.len(), false));
        let huge = vec![b' '; D1_BODY_LIMIT + 1];
        let event = new_event(&message(false), &huge);
        assert!(event.body_in_kv, "a body larger than a row stays in KV");
        assert_eq!(d1::record_from_queue(&event).body_index(), None);
        assert_eq!(event.team_member_id, 0);
    }

    #[test]
    fn a_body_is_read_from_the_row_or_else_from_kv() {
        placeholders_match(&body_of("evt_1"));
        let row = |body: Option<&str>, in_kv| BodyRow {
            body: body.map(str::to_owned),
            body_in_kv: in_kv,
        };
        assert_eq!(
            body_at(Ok(vec![row(Some("{}"), 0)])),
            BodyAt::Row("{}".into())
        );
        assert_eq!(body_at(Ok(vec![row(None, 1)])), BodyAt::Kv);
        assert_eq!(body_at(Ok(vec![])), BodyAt::Kv, "no row: D1 never took it");
        assert_eq!(body_at(Err(())), BodyAt::Kv, "D1 down");
        let parsed: BodyRow = serde_json::from_str(r#"{"body":null,"body_in_kv":1}"#).unwrap();
        assert_eq!(parsed.body_in_kv, 1);
    }

    #[test]
    fn the_status_column_is_the_serde_name() {
        for status in DeliveryStatus::ALL {
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                status.as_str(),
                "the operator API reads rows with serde"
            );
        }
    }

    #[test]
    fn a_state_row_is_an_upsert_that_keeps_the_latest() {
        let state =
            DeliveryState::new(DeliveryStatus::Retrying, 2, Some(503), Some("HTTP 503"), 77);
        let statement = upsert(&DeliveryRow {
            event_id: "evt_1",
            destination: "ci",
            state: &state,
            reason: Some("ignored unless dead"),
            entry: None,
        });
        placeholders_match(&statement);
        assert!(statement
            .sql
            .contains("ON CONFLICT (event_id, destination) DO UPDATE"));
        assert!(statement
            .sql
            .contains("excluded.updated_at >= deliveries.updated_at"));
        assert_eq!(
            statement.params,
            vec![
                Param::Text("evt_1".into()),
                Param::Text("ci".into()),
                Param::Text("retrying".into()),
                Param::Int(2),
                Param::Int(503),
                Param::Text("HTTP 503".into()),
                Param::Null,
                Param::Int(77),
                Param::Null,
            ]
        );
        let delivered =
            DeliveryState::new(DeliveryStatus::Delivered, 1, Some(200), Some("HTTP 200"), 5);
        let statement = upsert(&DeliveryRow {
            event_id: "evt_1",
            destination: "ci",
            state: &delivered,
            reason: None,
            entry: None,
        });
        assert_eq!(statement.params[2], Param::Text("delivered".into()));
    }

    #[test]
    fn a_dead_letter_is_a_dead_row_with_its_reason() {
        let mut delivery = message(true);
        delivery.attempts = 3;
        delivery.last_status = Some(500);
        delivery.last_error = Some("HTTP 500".into());
        let dead = DeadLetter {
            delivery,
            destination: "ci".into(),
            reason: "gave up after 3 attempts".into(),
            dead_at: 99,
        };
        let state = dead_state(&dead);
        assert_eq!(
            (state.status, state.attempts, state.at),
            (DeliveryStatus::Dead, 3, 99)
        );
        let writes = dead_letter_writes(&dead, &state, Some(BODY));
        assert_eq!(writes.len(), 1, "the event's row is there");
        assert_eq!(writes[0].params[2], Param::Text("dead".into()));
        assert_eq!(writes[0].params[4], Param::Int(500));
        assert_eq!(
            writes[0].params[6],
            Param::Text("gave up after 3 attempts".into())
        );

        let unrecorded = DeadLetter {
            delivery: QueuedDelivery {
                recorded: false,
                ..dead.delivery.clone()
            },
            ..dead
        };
        let writes = dead_letter_writes(&unrecorded, &state, Some(BODY));
        assert_eq!(writes.len(), 2);
        assert!(
            writes[0].sql.starts_with("INSERT INTO events"),
            "the row first, so the dead letter can be replayed"
        );
        assert_eq!(
            dead_letter_writes(&unrecorded, &state, None).len(),
            1,
            "no body found: the dead row alone"
        );
    }

    #[test]
    fn with_d1_down_the_rescue_copy_forwards_what_d1_did_not_record() {
        let mut message = QueuedDelivery::new(
            "evt_1".into(),
            "run.deleted".into(),
            "P".into(),
            1,
            b"{}",
            true,
        );
        message.recorded = false;
        assert_eq!(unclaimed(&message, true), Claim::LeftToTheSweep);
        assert_eq!(unclaimed(&message, false), Claim::ForwardUnclaimed);
        message.recorded = true;
        assert_eq!(unclaimed(&message, true), Claim::ForwardUnclaimed);
    }
}
