//! Unit tests of the delivery machine, one per branch:
//!
//! 1. The body: carried by the message; not needed; read from the row;
//!    from KV; in no store (retried, nothing changed).
//! 2. A run's event: applied before the claim; its object failing retries.
//! 3. The claim: lost (acked, nothing attempted); D1 down with a rescue
//!    copy (left to the sweep) and without one (forwarded anyway).
//! 4. The breaker: held (the body only then, its state recorded, no
//!    attempt); unreachable (attempted, reported); resumed between ask and hold.
//! 5. Pacing: a wait, a requeue keeping the slot, a requeue failing.
//! 6. Attempts: delivered, retry (requeued, reported, alert raised),
//!    refused and gone (dead letters), a released event failing (still held).
//! 7. Follow-ups failing: a requeue (dead letter, or the message retried),
//!    the dead-letter queue (recorded in D1), D1 too (unsettled).
//! 8. The log lines each of these calls for, in the consumer's words.

use std::time::Duration;

use qase_webhooks::chat::Alert;

use super::script::{self, names, status};
use super::*;
use crate::config::bindings;
use crate::delivery::breaker::Outcome;
use crate::delivery::records::BodyRow;
use crate::store::layout::DeliveryStatus;
use crate::store::settings::Sink;

const NOW: u64 = 1_000_000;
const ID: &str = "evt_0123456789abcdef0123456789abcdef";
const RUN_COMPLETED: &[u8] =
    include_bytes!("../../../../qase-webhooks/tests/fixtures/run.completed.json");

fn config(destinations: &str, breaker_failures: &str) -> Config {
    let vars = [
        (bindings::DESTINATIONS, destinations),
        (bindings::RETRY_MAX_ATTEMPTS, "3"),
        (bindings::RETRY_BASE_SECONDS, "10"),
        (bindings::BREAKER_FAILURES, breaker_failures),
    ];
    let lookup = |key: &str| {
        vars.iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.to_string())
    };
    let config = Config::from_lookup(lookup, &Sink::ALL).unwrap();
    assert!(config.problems.is_empty(), "{:?}", config.problems);
    config
}

const ONE: &str = r#"[{"name":"ci","url":"https://ci.example/hook","events":["run.*","case.*"]}]"#;
const PACED: &str = r#"[{"name":"ci","url":"https://ci.example/hook","pace_ms":1000}]"#;

fn message(event_name: &str, body: Option<&[u8]>) -> QueuedDelivery {
    let mut message = QueuedDelivery::new(
        ID.into(),
        event_name.into(),
        "DEMO".into(),
        1_000,
        body.unwrap_or(b"{}"),
        false,
    );
    if body.is_none() {
        message.body = None;
    }
    message
}

/// A message for `ci` alone (a retry).
fn retry_of(mut message: QueuedDelivery) -> QueuedDelivery {
    message.destination = Some("ci".into());
    message.attempts = 1;
    message
}

/// Runs the machine to its end, answering each operation with `answer`
/// (`None`: `Done`): every operation, and the end.
fn drive(
    config: &Config,
    message: QueuedDelivery,
    answer: impl FnMut(&Op) -> Option<OpResult>,
) -> (Vec<Op>, Disposition) {
    let (mut machine, next) = Delivery::start(config, message, NOW);
    let run = script::run(&mut machine, next, NOW, answer);
    (run.ops, run.end)
}

/// An answer for the common operations: the claim won, the breaker says
/// attempt (successes not wanted), the destination answers 200.
fn healthy(op: &Op) -> Option<OpResult> {
    match op {
        Op::Claim { .. } => Some(OpResult::Changed(1)),
        Op::AskBreaker { .. } => Some(OpResult::Breaker(BreakerAnswer::Attempt {
            report_success: false,
        })),
        Op::Attempt { .. } => Some(status(200)),
        _ => None,
    }
}

#[test]
fn a_body_in_the_message_is_not_read_and_a_delivered_event_is_recorded() {
    let config = config(ONE, "10");
    let (ops, end) = drive(&config, message("case.created", Some(b"{}")), healthy);
    assert_eq!(names(&ops), ["claim", "ask", "attempt", "record"]);
    assert_eq!(end, Disposition::Ack);
    let Op::Record { log, row, point } = &ops[3] else {
        unreachable!()
    };
    assert_eq!(log.as_ref().unwrap().attempt, 1);
    let point = point.as_ref().expect("an attempt is a data point");
    assert_eq!(point.blobs[..2], ["ci".to_owned(), "delivered".to_owned()]);
    assert_eq!((point.doubles[0], point.doubles[2]), (200.0, 1.0));
    assert_eq!(
        row.as_ref().unwrap().state.status,
        DeliveryStatus::Delivered
    );
    let Op::Attempt { request, .. } = &ops[2] else {
        unreachable!()
    };
    let request = request.as_ref().unwrap();
    assert_eq!(request.body, b"{}");
    assert!(request.headers.contains(&("webhook-id".into(), ID.into())));
}

#[test]
fn a_recorded_event_with_nowhere_to_go_needs_no_body_only_its_claim() {
    let config = config(ONE, "10");
    let mut message = message("defect.created", None);
    message.recorded = true;
    let (ops, end) = drive(&config, message, healthy);
    assert_eq!(names(&ops), ["claim"]);
    assert_eq!(end, Disposition::Ack);
}

#[test]
fn a_body_is_read_from_its_row_then_kv_and_retried_when_in_no_store() {
    let config = config(ONE, "10");
    let row = |op: &Op| match op {
        Op::ReadBodyRow(_) => Some(OpResult::Rows(vec![BodyRow {
            body: Some("{\"a\":1}".into()),
            body_in_kv: 0,
        }])),
        op => healthy(op),
    };
    let (ops, _) = drive(&config, message("case.created", None), row);
    assert_eq!(names(&ops), ["row", "claim", "ask", "attempt", "record"]);
    let Op::Claim { body, .. } = &ops[1] else {
        unreachable!()
    };
    assert_eq!(body, b"{\"a\":1}");

    let quarantined = |op: &Op| match op {
        Op::ReadBodyRow(_) => Some(OpResult::Failed("d1 down".into())),
        Op::ReadKv(key) if key.starts_with("quarantine/") => {
            Some(OpResult::Value(Some(b"{}".to_vec())))
        }
        Op::ReadKv(_) => Some(OpResult::Value(None)),
        op => healthy(op),
    };
    let (ops, end) = drive(&config, message("case.created", None), quarantined);
    assert_eq!(&names(&ops)[..4], ["row", "kv", "kv", "claim"]);
    assert_eq!(end, Disposition::Ack);

    let nowhere = |op: &Op| match op {
        Op::ReadKv(_) => Some(OpResult::Value(None)),
        op => healthy(op),
    };
    let (ops, end) = drive(&config, message("case.created", None), nowhere);
    assert_eq!(names(&ops), ["row", "kv", "kv", "kv"]);
    assert_eq!(end, Disposition::Retry);

    let unreadable = |op: &Op| match op {
        Op::ReadKv(_) => Some(OpResult::Failed("kv down".into())),
        op => healthy(op),
    };
    let (ops, end) = drive(&config, message("case.created", None), unreadable);
    assert_eq!(names(&ops), ["row", "kv"]);
    assert_eq!(end, Disposition::Retry);
}

#[test]
fn a_run_event_is_applied_before_the_claim_and_retried_when_its_object_fails() {
    let config = config(ONE, "10");
    let message = || message("run.completed", Some(RUN_COMPLETED));
    let (ops, end) = drive(&config, message(), |op| match op {
        Op::ApplyRun(_) => Some(OpResult::RunsOff),
        op => healthy(op),
    });
    assert_eq!(names(&ops), ["run", "claim", "ask", "attempt", "record"]);
    assert_eq!(end, Disposition::Ack);
    let (ops, end) = drive(&config, message(), |op| match op {
        Op::ApplyRun(_) => Some(OpResult::Failed("object down".into())),
        op => healthy(op),
    });
    assert_eq!(names(&ops), ["run"]);
    assert_eq!(end, Disposition::Retry);
}

#[test]
fn a_lost_claim_acks_without_an_attempt() {
    let config = config(ONE, "10");
    let mut message = message("case.created", Some(b"{}"));
    message.recorded = true;
    let (ops, end) = drive(&config, message, |op| match op {
        Op::Claim { .. } => Some(OpResult::Changed(0)),
        op => healthy(op),
    });
    assert_eq!(names(&ops), ["claim"]);
    assert_eq!(end, Disposition::Ack);
}

#[test]
fn d1_down_at_the_claim_leaves_a_rescued_event_to_the_sweep_and_forwards_the_others() {
    let config = config(ONE, "10");
    let down = |rescued: bool| {
        move |op: &Op| match op {
            Op::Claim { .. } => Some(OpResult::Failed("d1 down".into())),
            Op::ReadKv(_) => Some(OpResult::Value(rescued.then(|| b"{}".to_vec()))),
            op => healthy(op),
        }
    };
    // Not recorded at ingest: KV may hold its rescue copy.
    let unrecorded = || QueuedDelivery {
        recorded: false,
        ..message("case.created", Some(b"{}"))
    };
    let (ops, end) = drive(&config, unrecorded(), down(true));
    assert_eq!(names(&ops), ["claim", "kv"]);
    assert_eq!(end, Disposition::Ack);
    let (ops, _) = drive(&config, unrecorded(), down(false));
    assert_eq!(names(&ops), ["claim", "kv", "ask", "attempt", "record"]);
    let recorded = QueuedDelivery {
        recorded: true,
        ..unrecorded()
    };
    let (ops, _) = drive(&config, recorded, down(true));
    assert_eq!(names(&ops), ["claim", "ask", "attempt", "record"]);
}

#[test]
fn a_held_event_is_handed_over_with_its_body_recorded_and_not_attempted() {
    let config = config(ONE, "10");
    let (ops, end) = drive(
        &config,
        message("case.created", Some(b"{}")),
        |op| match op {
            Op::AskBreaker { .. } | Op::Hold { .. } => Some(OpResult::Breaker(BreakerAnswer::Hold)),
            op => healthy(op),
        },
    );
    assert_eq!(names(&ops), ["claim", "ask", "hold", "record"]);
    assert_eq!(end, Disposition::Ack);
    let Op::AskBreaker {
        id, received_at, ..
    } = &ops[1]
    else {
        unreachable!()
    };
    assert_eq!((id.as_str(), *received_at), (ID, 1_000));
    let Op::Hold { delivery, .. } = &ops[2] else {
        unreachable!()
    };
    assert_eq!(delivery.destination.as_deref(), Some("ci"));
    assert_eq!(delivery.body.as_deref(), Some("{}"));
    let Op::Record {
        row: Some(row),
        log: None,
        point: None,
    } = &ops[3]
    else {
        unreachable!()
    };
    assert_eq!(row.state.status, DeliveryStatus::Retrying);
    assert_eq!(
        row.state.last_error.as_deref(),
        Some("held: the destination is paused")
    );
}

#[test]
fn a_breaker_that_resumed_before_the_hold_or_cannot_be_reached_holds_nothing_back() {
    let config = config(ONE, "10");
    let (ops, _) = drive(
        &config,
        message("case.created", Some(b"{}")),
        |op| match op {
            Op::AskBreaker { .. } => Some(OpResult::Breaker(BreakerAnswer::Hold)),
            Op::Hold { .. } => Some(OpResult::Breaker(BreakerAnswer::Attempt {
                report_success: true,
            })),
            op => healthy(op),
        },
    );
    assert_eq!(
        names(&ops),
        ["claim", "ask", "hold", "attempt", "record", "tell"]
    );
    let (ops, _) = drive(
        &config,
        message("case.created", Some(b"{}")),
        |op| match op {
            Op::AskBreaker { .. } => Some(OpResult::Failed("object down".into())),
            op => healthy(op),
        },
    );
    // Unreachable: a success is reported, so a breaker counting failures hears of it.
    assert_eq!(names(&ops), ["claim", "ask", "attempt", "record", "tell"]);
    let off = config_off();
    let (ops, _) = drive(&off, message("case.created", Some(b"{}")), healthy);
    assert_eq!(names(&ops), ["claim", "attempt", "record"]);
}

fn config_off() -> Config {
    config(ONE, "0")
}

#[test]
fn a_paced_destination_waits_for_a_close_slot_and_requeues_for_a_far_one() {
    let config = config(PACED, "0");
    let slot = |at: u64| {
        move |op: &Op| match op {
            Op::ReservePace { .. } => Some(OpResult::Slot(at)),
            op => healthy(op),
        }
    };
    let (ops, _) = drive(
        &config,
        message("case.created", Some(b"{}")),
        slot(NOW + 500),
    );
    assert_eq!(
        names(&ops),
        ["claim", "reserve", "wait", "attempt", "record"]
    );
    assert!(matches!(ops[2], Op::Wait(wait) if wait == Duration::from_millis(500)));
    let (ops, end) = drive(
        &config,
        message("case.created", Some(b"{}")),
        slot(NOW + 120_000),
    );
    assert_eq!(names(&ops), ["claim", "reserve", "requeue"]);
    assert_eq!(end, Disposition::Ack);
    let Op::Requeue { message, .. } = &ops[2] else {
        unreachable!()
    };
    assert_eq!(message.not_before, Some(NOW + 120_000));
    let (ops, _) = drive(&config, message.clone(), healthy);
    // Still far off: kept, not reserved again.
    assert_eq!(names(&ops), ["requeue"]);
    let (ops, _) = drive(&config, retry_of(self::message("x", None)), |op| match op {
        Op::ReservePace { .. } => Some(OpResult::Slot(NOW + 120_000)),
        Op::Requeue { .. } => Some(OpResult::Failed("queue down".into())),
        Op::ReadBodyRow(_) => Some(OpResult::Rows(vec![BodyRow {
            body: Some("{}".into()),
            body_in_kv: 0,
        }])),
        op => healthy(op),
    });
    assert_eq!(
        names(&ops),
        ["row", "reserve", "requeue", "attempt", "record"]
    );
    let (ops, _) = drive(
        &config,
        self::message("case.created", Some(b"{}")),
        |op| match op {
            Op::ReservePace { .. } => Some(OpResult::Failed("object down".into())),
            op => healthy(op),
        },
    );
    assert_eq!(names(&ops), ["claim", "reserve", "attempt", "record"]);
}

#[test]
fn a_retry_is_requeued_reported_and_the_alert_raised() {
    let config = config(ONE, "10");
    let (ops, end) = drive(
        &config,
        message("case.created", Some(b"{}")),
        |op| match op {
            Op::Attempt { .. } => Some(status(503)),
            Op::ReportToBreaker { .. } => {
                Some(OpResult::Reported(Some(Alert::DestinationResumed {
                    destination: "ci".into(),
                    held: 0,
                    by_operator: false,
                })))
            }
            op => healthy(op),
        },
    );
    assert_eq!(
        names(&ops),
        ["claim", "ask", "attempt", "record", "requeue", "tell", "alert"]
    );
    assert_eq!(end, Disposition::Ack);
    let Op::Requeue {
        message,
        delay_seconds,
    } = &ops[4]
    else {
        unreachable!()
    };
    assert_eq!(
        (message.attempts, message.destination.as_deref()),
        (1, Some("ci"))
    );
    assert!(*delay_seconds > 0);
    let Op::ReportToBreaker {
        outcome,
        error,
        released,
        ..
    } = &ops[5]
    else {
        unreachable!()
    };
    assert_eq!(
        (*outcome, error.as_deref(), released),
        (Outcome::Failed, Some("HTTP 503"), &None)
    );
}

#[test]
fn a_refusal_and_a_gone_destination_are_dead_letters() {
    let config = config(ONE, "10");
    let (ops, _) = drive(
        &config,
        message("case.created", Some(b"{}")),
        |op| match op {
            Op::Attempt { .. } => Some(status(400)),
            op => healthy(op),
        },
    );
    assert_eq!(
        names(&ops),
        ["claim", "ask", "attempt", "record", "dlq", "tell"]
    );
    let Op::SendDeadLetter(dead) = &ops[4] else {
        unreachable!()
    };
    assert_eq!(dead.reason, "rejected by the destination");

    let mut gone = retry_of(message("case.created", None));
    gone.destination = Some("removed".into());
    let (ops, end) = drive(&config, gone.clone(), healthy);
    assert_eq!(names(&ops), ["dlq"]);
    assert_eq!(end, Disposition::Ack);
    gone.released = Some("held:1".into());
    let (ops, _) = drive(&config, gone, |op| match op {
        Op::SendDeadLetter(_) => Some(OpResult::Failed("queue down".into())),
        Op::RecordDead { .. } => Some(OpResult::Failed("d1 down".into())),
        _ => None,
    });
    assert_eq!(names(&ops), ["dlq", "dead", "tell"]);
}

#[test]
fn a_released_event_that_fails_stays_held_and_its_breaker_is_told() {
    let config = config(ONE, "10");
    let mut released = retry_of(message("case.created", Some(b"{}")));
    released.released = Some("held:1".into());
    let (ops, end) = drive(&config, released, |op| match op {
        Op::Attempt { .. } => Some(status(503)),
        op => healthy(op),
    });
    assert_eq!(names(&ops), ["attempt", "record", "tell"]);
    assert_eq!(end, Disposition::Ack);
    let Op::Record { row: Some(row), .. } = &ops[1] else {
        unreachable!()
    };
    assert_eq!(
        (row.state.status, row.state.attempts),
        (DeliveryStatus::Retrying, 1)
    );
    let Op::ReportToBreaker { released, .. } = &ops[2] else {
        unreachable!()
    };
    assert_eq!(released.as_deref(), Some("held:1"));
}

#[test]
fn follow_ups_that_fail_fall_back_as_the_engine_says() {
    let config = config_off();
    let failing = |op: &Op| match op {
        Op::Attempt { .. } => Some(status(503)),
        Op::Requeue { .. } => Some(OpResult::Failed("queue down".into())),
        op => healthy(op),
    };
    // A new event's retry not queued: its dead letter instead.
    let (ops, end) = drive(&config, message("case.created", Some(b"{}")), failing);
    assert_eq!(
        names(&ops),
        ["claim", "attempt", "record", "requeue", "dlq"]
    );
    assert_eq!(end, Disposition::Ack);
    let Op::SendDeadLetter(dead) = &ops[4] else {
        unreachable!()
    };
    assert!(dead
        .reason
        .starts_with("no further attempt could be scheduled"));
    // A retry's: the message is retried whole.
    let (ops, end) = drive(
        &config,
        retry_of(message("case.created", Some(b"{}"))),
        failing,
    );
    assert_eq!(names(&ops), ["attempt", "record", "requeue"]);
    assert_eq!(end, Disposition::Retry);
    // Every store refusing a new event's dead letter: acked anyway (logged lost).
    let (ops, end) = drive(
        &config,
        message("case.created", Some(b"{}")),
        |op| match op {
            Op::Attempt { .. } => Some(status(400)),
            Op::SendDeadLetter(_) | Op::RecordDead { .. } => Some(OpResult::Failed("down".into())),
            op => healthy(op),
        },
    );
    assert_eq!(names(&ops), ["claim", "attempt", "record", "dlq", "dead"]);
    assert_eq!(end, Disposition::Ack);
}

/// The notes of a whole run, with `answer` as in [`drive`].
fn notes(
    config: &Config,
    message: QueuedDelivery,
    answer: impl FnMut(&Op) -> Option<OpResult>,
) -> Vec<(Level, String)> {
    let (mut machine, next) = Delivery::start(config, message, NOW);
    let run = script::run(&mut machine, next, NOW, answer);
    run.notes.into_iter().map(|n| (n.level, n.line)).collect()
}

#[test]
fn a_lost_claim_and_a_missing_body_log_what_the_consumer_logged() {
    let config = config(ONE, "10");
    let mut recorded = message("case.created", Some(b"{}"));
    recorded.recorded = true;
    let lost_claim = notes(&config, recorded, |op| match op {
        Op::Claim { .. } => Some(OpResult::Changed(0)),
        op => healthy(op),
    });
    let claim = format!(r#"{{"event":"claim","id":"{ID}","outcome":"already_forwarded"}}"#);
    assert_eq!(lost_claim, [(Level::Log, claim)]);

    let nowhere = notes(&config, message("case.created", None), |op| match op {
        Op::ReadKv(_) => Some(OpResult::Value(None)),
        op => healthy(op),
    });
    assert_eq!(
        nowhere,
        [
            (
                Level::Error,
                format!("the body of {ID} is in no store (yet)")
            ),
            (Level::Error, format!("delivery of {ID} will be retried")),
        ]
    );
}

#[test]
fn failed_follow_ups_and_breakers_log_what_the_consumer_logged() {
    let config = config(ONE, "10");
    let lost = notes(
        &config_off(),
        message("case.created", Some(b"{}")),
        |op| match op {
            Op::Attempt { .. } => Some(status(400)),
            Op::SendDeadLetter(_) => Some(OpResult::Failed("q".into())),
            Op::RecordDead { .. } => Some(OpResult::Failed("d".into())),
            op => healthy(op),
        },
    );
    let lines: Vec<&str> = lost.iter().map(|(_, line)| line.as_str()).collect();
    assert_eq!(
        lines,
        [
            format!("the dead-letter queue refused the dead letter for {ID}: q"),
            format!("the dead letter could not be recorded in D1 for {ID}: d"),
            // serde_json's maps sort their keys, as the consumer's did.
            format!(r#"{{"error":"d","event":"delivery_lost","id":"{ID}"}}"#),
        ]
    );

    let unreachable = notes(
        &config,
        message("case.created", Some(b"{}")),
        |op| match op {
            Op::AskBreaker { .. } | Op::ReportToBreaker { .. } => {
                Some(OpResult::Failed("x".into()))
            }
            op => healthy(op),
        },
    );
    assert_eq!(
        unreachable,
        [
            (Level::Warn, "breaker of `ci` unavailable: x".to_owned()),
            (Level::Warn, "breaker of `ci` not told: x".to_owned()),
        ]
    );
}
