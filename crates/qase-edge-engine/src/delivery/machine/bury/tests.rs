//! Unit tests of the dead-letter machine, one per kind of message and
//! per answer of the stores.

use serde_json::json;

use super::*;
use crate::delivery::attempt::ALL_DESTINATIONS;
use crate::delivery::messages::{sample_alert, QueuedDelivery};
use crate::delivery::records::BodyRow;

const NOW: u64 = 5_000;
const BODY: &[u8] = br#"{"event_name":"case.created","timestamp":1,"payload":{"id":3},"team_member_id":9,"project_code":"WEB"}"#;

fn delivery(recorded: bool, inline: bool) -> QueuedDelivery {
    let mut message = QueuedDelivery::new(
        "evt_1".into(),
        "case.created".into(),
        "WEB".into(),
        1_000,
        BODY,
        true,
    );
    message.recorded = recorded;
    if !inline {
        message.body = None;
    }
    message
}

fn ours(recorded: bool) -> DeadLetterQueueMessage {
    let mut message = delivery(recorded, false);
    message.destination = Some("ci".into());
    DeadLetterQueueMessage::DeadLetter(DeadLetter {
        delivery: message,
        destination: "ci".into(),
        reason: "rejected by the destination".into(),
        dead_at: 4_000,
    })
}

fn moved(message: QueuedDelivery) -> DeadLetterQueueMessage {
    DeadLetterQueueMessage::Moved(QueueMessage::Delivery(message))
}

fn start(message: DeadLetterQueueMessage) -> (Bury, Next) {
    Bury::start(Ok(message), "msg-1", NOW)
}

fn ops(next: Next) -> Vec<Op> {
    match next {
        Next::Run(ops) => ops,
        Next::End(end) => panic!("ended {end:?}"),
    }
}

fn one(next: Next) -> Op {
    let mut ops = ops(next);
    assert_eq!(ops.len(), 1, "{ops:?}");
    ops.remove(0)
}

fn ended(next: Next) -> Disposition {
    match next {
        Next::End(end) => end,
        Next::Run(ops) => panic!("still running {ops:?}"),
    }
}

fn lines(bury: &mut Bury) -> String {
    let notes = bury.take_notes();
    notes
        .iter()
        .map(|n| n.line.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn our_dead_letter_of_a_recorded_event_writes_its_dead_row_alone() {
    let (mut bury, next) = start(ours(true));
    let Op::RecordDead { dead, writes, body } = one(next) else {
        panic!("not a record");
    };
    assert_eq!(
        (dead.destination.as_str(), writes.len(), body),
        ("ci", 1, None)
    );
    assert_eq!(
        ended(bury.feed(vec![OpResult::Done], NOW)),
        Disposition::Ack
    );
    assert!(lines(&mut bury).contains(r#""event":"dead_letter""#));
}

#[test]
fn a_dead_letter_not_recorded_in_d1_is_retried() {
    let (mut bury, next) = start(ours(true));
    one(next);
    let next = bury.feed(vec![OpResult::Failed("d1 down".into())], NOW);
    assert_eq!(ended(next), Disposition::Retry);
    assert!(lines(&mut bury).contains("dead letter evt_1 not recorded: d1 down"));
}

#[test]
fn an_unrecorded_event_is_looked_for_so_that_its_row_goes_in_with_the_dead_one() {
    let (mut bury, next) = start(ours(false));
    assert!(matches!(one(next), Op::ReadBodyRow(_)));
    // No row (D1 did not take it), so KV: `event/` has it.
    let next = bury.feed(vec![OpResult::Rows(Vec::<BodyRow>::new())], NOW);
    let Op::ReadKv(key) = one(next) else {
        panic!("not KV");
    };
    assert_eq!(key, "event/evt_1");
    let next = bury.feed(vec![OpResult::Value(Some(BODY.to_vec()))], NOW);
    let Op::RecordDead { writes, body, .. } = one(next) else {
        panic!("not a record");
    };
    assert_eq!(writes.len(), 2, "the event's row, then the dead row");
    assert_eq!(body.as_deref(), Some(BODY));
}

#[test]
fn a_body_in_no_store_still_gets_its_dead_row() {
    let (mut bury, mut next) = start(ours(false));
    one(next);
    next = bury.feed(vec![OpResult::Failed("d1 down".into())], NOW);
    for _ in 0..3 {
        assert!(matches!(one(next), Op::ReadKv(_)));
        next = bury.feed(vec![OpResult::Value(None)], NOW);
    }
    let Op::RecordDead { writes, body, .. } = one(next) else {
        panic!("not a record");
    };
    assert_eq!((writes.len(), body), (1, None));
    assert!(lines(&mut bury).contains("the dead row alone is written"));
}

#[test]
fn a_moved_new_event_takes_its_claim_first_and_is_dead_for_every_destination() {
    let (mut bury, next) = start(moved(delivery(true, true)));
    assert!(matches!(one(next), Op::Claim { .. }));
    let Op::RecordDead { dead, .. } = one(bury.feed(vec![OpResult::Changed(1)], NOW)) else {
        panic!("not a record");
    };
    assert_eq!(dead.destination, ALL_DESTINATIONS);
    assert_eq!(dead.dead_at, NOW);
    assert_eq!(dead.reason, "the delivery consumer failed on it repeatedly");
}

#[test]
fn a_moved_new_event_whose_claim_is_held_elsewhere_was_forwarded_and_is_not_dead() {
    let (mut bury, next) = start(moved(delivery(true, true)));
    one(next);
    let next = bury.feed(vec![OpResult::Changed(0)], NOW);
    assert_eq!(ended(next), Disposition::Ack);
    assert!(lines(&mut bury).contains("dead-letter message for evt_1 dropped"));
}

#[test]
fn a_moved_new_event_with_d1_down_is_retried_as_its_dead_row_could_not_be_written() {
    let (mut bury, next) = start(moved(delivery(true, true)));
    one(next);
    let next = bury.feed(vec![OpResult::Failed("d1 down".into())], NOW);
    assert_eq!(ended(next), Disposition::Retry);
}

#[test]
fn an_unrecorded_moved_event_with_d1_down_and_a_rescue_copy_is_left_to_the_sweep() {
    let (mut bury, next) = start(moved(delivery(false, true)));
    // The inline body: no read; the claim inserts the event's row.
    assert!(matches!(one(next), Op::Claim { .. }));
    let next = bury.feed(vec![OpResult::Failed("d1 down".into())], NOW);
    let Op::ReadKv(key) = one(next) else {
        panic!("not the rescue copy");
    };
    assert_eq!(key, "rescue/evt_1");
    let next = bury.feed(vec![OpResult::Value(Some(BODY.to_vec()))], NOW);
    assert_eq!(ended(next), Disposition::Ack);
}

#[test]
fn a_moved_retry_for_one_destination_is_its_dead_letter_without_a_claim() {
    let mut message = delivery(true, true);
    message.destination = Some("ci".into());
    message.attempts = 3;
    let (_, next) = start(moved(message));
    let Op::RecordDead { dead, .. } = one(next) else {
        panic!("not a record");
    };
    assert_eq!(
        (dead.destination.as_str(), dead.delivery.attempts),
        ("ci", 3)
    );
}

#[test]
fn a_moved_report_or_alert_is_logged_and_dropped() {
    let due = serde_json::from_value(json!({"run_report": {"project": "WEB", "run": 7}})).unwrap();
    let (mut bury, next) = start(DeadLetterQueueMessage::Moved(QueueMessage::RunReport(due)));
    assert_eq!(ended(next), Disposition::Ack);
    assert!(lines(&mut bury).contains(r#""event":"run_report_given_up""#));
    let alert = sample_alert(2);
    let (mut bury, next) = start(DeadLetterQueueMessage::Moved(QueueMessage::Alert(alert)));
    assert_eq!(ended(next), Disposition::Ack);
    assert!(lines(&mut bury).contains(r#""event":"alert_dropped""#));
}

#[test]
fn an_unreadable_message_is_retried_and_says_why() {
    let (mut bury, next) = Bury::start(Err("missing field `id`".into()), "msg-9", NOW);
    assert_eq!(ended(next), Disposition::Retry);
    assert!(lines(&mut bury).contains("dead-letter message msg-9 unreadable: missing field `id`"));
}
