//! Scenarios 2 to 4: what ingest, the delivery consumer and the dead-letter
//! consumer write, and what the store answers them.

use engine::api::events;
use engine::config::{bindings, Config};
use engine::delivery::messages::{DeadLetter, QueuedDelivery};
use engine::delivery::records::{
    self, AttemptEntry, AttemptResultKind, BodyAt, BodyRow, Claim, DeliveryRow, Stage,
};
use engine::ingest::{self, Ingest, Next, Op, OpResult, Outcome, RequestFacts};
use engine::store::d1;
use engine::store::layout::{DeliveryState, DeliveryStatus};
use engine::store::settings::Sink;
use engine::store::types::EventStatus;
use engine::store::types::Forward;
use serde::Deserialize;

use super::support::{self, body, id_of, Db};

const AT: u64 = 1_700_000_000_000;

/// A run event whose payload fits its model.
fn run_completed(run: u64) -> Vec<u8> {
    body(
        "run.completed",
        "WEB",
        &format!(r#"{{"id":{run},"cases":1,"passed":1,"failed":0,"blocked":0,"duration":1}}"#),
    )
}

fn config() -> Config {
    let vars = [
        (bindings::WEBHOOK_SECRET, "s3cret"),
        (
            bindings::DESTINATIONS,
            r#"[{"name":"ci","url":"https://ci.example"}]"#,
        ),
    ];
    Config::from_lookup(
        |key| {
            vars.iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        },
        &Sink::ALL,
    )
    .expect("the configuration is valid")
}

/// The ingest upsert's one row, as `qase_edge::store::sinks` reads it.
#[derive(Deserialize)]
struct Recorded {
    duplicates: u64,
}

/// Steps 1 to 4 of ingest for `body`, with D1 this database and every
/// other store answering `Done`: the answer and the plan's outcome.
fn ingest(db: &Db, body: &[u8], received_at: u64) -> (Outcome, Result<Outcome, ingest::Refusal>) {
    let config = Ok(config());
    let facts = RequestFacts {
        content_length: None,
        secret: Some("s3cret"),
        content_type: Some("application/json"),
    };
    let admission = ingest::check_headers(&config, facts).expect("headers pass");
    let delivery = ingest::admit(&admission, body).expect("the body passes");
    let plan = ingest::plan(config.as_ref().unwrap(), &delivery, received_at).expect("a plan");
    let planned = plan.outcome;
    let upsert = built!(d1::record_event(plan.record.as_ref().expect("a D1 row")));
    let (mut machine, mut next) = Ingest::start(plan);
    loop {
        match next {
            Next::Answer(answer) => return (planned, answer),
            Next::Run(ops) => {
                let results: Vec<OpResult> = ops
                    .iter()
                    .map(|op| match op {
                        Op::Record(statement) => {
                            assert_eq!(statement, &upsert, "ingest runs d1::record_event");
                            OpResult::Done(record(db, statement, body))
                        }
                        _ => OpResult::Done(0),
                    })
                    .collect();
                next = machine.feed(&results);
            }
        }
    }
}

fn db_first<T>(rows: Vec<T>) -> Option<T> {
    assert!(rows.len() <= 1, "one row at most");
    rows.into_iter().next()
}

/// Runs the ingest upsert as `qase_edge::store::sinks::record` does: the
/// body bound, the first row's `duplicates`.
fn record(db: &Db, statement: &d1::Statement, body: &[u8]) -> u64 {
    let answer = db.run(statement, Some(body));
    assert_eq!(answer.rows.len(), 1, "RETURNING duplicates: one row");
    let row: Recorded = serde_json::from_value(answer.rows[0].clone().into()).unwrap();
    row.duplicates
}

fn stored(db: &Db, id: &str) -> events::EventRow {
    let rows: Vec<events::EventRow> = db.rows(&built!(events::event(id)));
    db_first(rows).unwrap_or_else(|| panic!("{id} is stored"))
}

/// The scenarios, for [`super::coverage`].
pub const SCENARIOS: &[fn()] = &[
    ingest_stores_a_delivery_once_and_counts_its_copies,
    the_ingest_machine_answers_a_copy_as_a_duplicate,
    a_body_kept_in_kv_leaves_the_column_empty,
    of_two_messages_for_an_event_only_the_first_claim_forwards,
    the_consumer_reads_a_body_from_its_row,
    a_delivery_state_is_the_latest_with_its_last_twenty_attempts,
    a_dead_letter_is_a_dead_row_and_brings_its_event_row_when_needed,
];

#[test]
fn ingest_stores_a_delivery_once_and_counts_its_copies() {
    let db = Db::new();
    let body = run_completed(42);
    let id = id_of(&body);
    let plan_record = |at| support::new_event(&body, at, EventStatus::Accepted, Forward::Pending);
    assert_eq!(
        record(&db, &built!(d1::record_event(&plan_record(AT))), &body),
        0
    );
    assert!(d1::is_first(0));
    let row = stored(&db, &id);
    assert_eq!(
        row.body.as_deref(),
        Some(std::str::from_utf8(&body).unwrap()),
        "the exact bytes"
    );
    assert_eq!(
        (row.outcome, row.forward),
        (EventStatus::Accepted, Forward::Pending)
    );
    assert_eq!(
        (row.entity.as_str(), row.action.as_str()),
        ("run", "completed")
    );
    assert_eq!(
        (row.run_id, row.team_member_id, row.size),
        (Some(42), Some(7), body.len() as u64)
    );
    assert_eq!((row.duplicates, row.last_duplicate_at), (0, None));

    assert_eq!(
        record(&db, &d1::record_event(&plan_record(AT + 5)), &body),
        1
    );
    assert_eq!(
        record(&db, &d1::record_event(&plan_record(AT + 9)), &body),
        2
    );
    let row = stored(&db, &id);
    assert_eq!((row.duplicates, row.last_duplicate_at), (2, Some(AT + 9)));
    assert_eq!(row.received_at, AT, "a copy changes nothing else");
    assert_eq!(db.scalar("SELECT COUNT(*) FROM events"), 1);
}

#[test]
fn the_ingest_machine_answers_a_copy_as_a_duplicate() {
    let db = Db::new();
    let body = run_completed(43);
    assert_eq!(
        ingest(&db, &body, AT),
        (Outcome::Accepted, Ok(Outcome::Accepted))
    );
    assert_eq!(
        ingest(&db, &body, AT + 1),
        (Outcome::Accepted, Ok(Outcome::Duplicate))
    );
    assert_eq!(stored(&db, &id_of(&body)).duplicates, 1);

    let quarantined = support::body("run.completed", "WEB", r#"{"id":"not a number"}"#);
    let (planned, answer) = ingest(&db, &quarantined, AT + 2);
    assert_eq!(
        (planned, answer),
        (Outcome::Quarantined, Ok(Outcome::Quarantined))
    );
    let row = stored(&db, &id_of(&quarantined));
    assert_eq!(
        (row.outcome, row.forward),
        (EventStatus::Quarantined, Forward::None)
    );
    assert!(row.reason.is_some_and(|r| !r.is_empty()));
}

#[test]
fn a_body_kept_in_kv_leaves_the_column_empty() {
    let db = Db::new();
    let body = run_completed(44);
    let event = d1::NewEvent {
        body_in_kv: true,
        ..support::new_event(&body, AT, EventStatus::Accepted, Forward::Pending)
    };
    assert_eq!(record(&db, &built!(d1::record_event(&event)), &body), 0);
    let row = stored(&db, &event.id);
    assert_eq!((row.body.as_deref(), row.body_in_kv()), (None, true));
    let rows: Vec<BodyRow> = db.rows(&built!(records::body_of(&event.id)));
    assert_eq!(records::body_at(Ok(rows)), BodyAt::Kv);
}

/// Carries the consumer's claim out for `message` against this database.
fn settle(db: &Db, message: &QueuedDelivery, body: &[u8]) -> Claim {
    let mut step = records::claim(message, body);
    loop {
        let Claim::Run { stage, statement } = step else {
            return step;
        };
        match stage {
            Stage::Claim => assert_eq!(statement, built!(d1::claim_forward(&message.id))),
            Stage::Record => assert_eq!(
                statement,
                built!(d1::record_from_queue(&records::new_event(message, body)))
            ),
        }
        let changes = db.changes(&statement, Some(body));
        step = records::after(stage, &message.id, Ok(changes));
    }
}

fn message(body: &[u8], recorded: bool) -> QueuedDelivery {
    let envelope = qase_webhooks::Envelope::parse(body).unwrap();
    QueuedDelivery {
        recorded,
        ..QueuedDelivery::new(
            id_of(body),
            envelope.event_name.to_string(),
            envelope.project_code.clone(),
            AT,
            body,
            true,
        )
    }
}

#[test]
fn of_two_messages_for_an_event_only_the_first_claim_forwards() {
    let db = Db::new();
    let body = run_completed(50);
    let event = support::new_event(&body, AT, EventStatus::Accepted, Forward::Pending);
    assert_eq!(record(&db, &d1::record_event(&event), &body), 0);
    assert_eq!(settle(&db, &message(&body, true), &body), Claim::Forward);
    assert_eq!(stored(&db, &event.id).forward, Forward::Queued);
    assert_eq!(
        settle(&db, &message(&body, true), &body),
        Claim::Skip,
        "the second loses"
    );

    // Not recorded at ingest: the consumer inserts the row, claimed.
    let unrecorded = run_completed(51);
    assert_eq!(
        settle(&db, &message(&unrecorded, false), &unrecorded),
        Claim::Forward
    );
    let row = stored(&db, &id_of(&unrecorded));
    assert_eq!(
        (row.forward, row.run_id, row.team_member_id),
        (Forward::Queued, Some(51), Some(7))
    );
    assert_eq!(
        row.body.as_deref(),
        Some(std::str::from_utf8(&unrecorded).unwrap())
    );
    assert_eq!(
        settle(&db, &message(&unrecorded, false), &unrecorded),
        Claim::Skip
    );
    assert_eq!(
        settle(&db, &message(&unrecorded, true), &unrecorded),
        Claim::Skip
    );

    // The sweep's rescue insert came first (`pending`): the consumer's
    // insert changes nothing, its claim wins, the sweep's message loses.
    let rescued = run_completed(52);
    let event = support::new_event(&rescued, AT, EventStatus::Accepted, Forward::Pending);
    assert_eq!(
        db.changes(&built!(d1::rescue_insert(&event)), Some(&rescued)),
        1
    );
    assert_eq!(
        db.changes(&d1::rescue_insert(&event), Some(&rescued)),
        0,
        "once"
    );
    assert_eq!(
        settle(&db, &message(&rescued, false), &rescued),
        Claim::Forward
    );
    assert_eq!(settle(&db, &message(&rescued, true), &rescued), Claim::Skip);
}

#[test]
fn the_consumer_reads_a_body_from_its_row() {
    let db = Db::new();
    let body = run_completed(53);
    support::insert(
        &db,
        &support::new_event(&body, AT, EventStatus::Accepted, Forward::Pending),
        &body,
    );
    let rows: Vec<BodyRow> = db.rows(&built!(records::body_of(&id_of(&body))));
    assert_eq!(
        records::body_at(Ok(rows)),
        BodyAt::Row(String::from_utf8(body.clone()).unwrap())
    );
    let none: Vec<BodyRow> = db.rows(&records::body_of("evt_none"));
    assert_eq!(records::body_at(Ok(none)), BodyAt::Kv, "no row: in KV");
}

fn entry(n: u32, at: u64, result: AttemptResultKind) -> AttemptEntry {
    AttemptEntry {
        n,
        at,
        result,
        status: Some(503),
        latency_ms: Some(12),
        error: Some("HTTP 503".into()),
        next_at: Some(at + 1000),
    }
}

/// Writes a state of `id` to `destination` with `entry`; rows changed.
pub fn write_state(
    db: &Db,
    id: &str,
    destination: &str,
    state: &DeliveryState,
    entry: Option<&AttemptEntry>,
) -> usize {
    let statement = built!(records::upsert(&DeliveryRow {
        event_id: id,
        destination,
        state,
        reason: Some("gave up"),
        entry,
    }));
    db.changes(&statement, None)
}

fn deliveries(db: &Db, id: &str) -> Vec<events::DeliveryRow> {
    db.rows(&built!(events::deliveries(id)))
}

fn log(row: &events::DeliveryRow) -> Vec<AttemptEntry> {
    serde_json::from_str(row.attempts_log.as_deref().expect("a log")).expect("entries")
}

#[test]
fn a_delivery_state_is_the_latest_with_its_last_twenty_attempts() {
    let db = Db::new();
    let body = run_completed(60);
    let id = id_of(&body);
    for (at, status) in [
        (100, DeliveryStatus::Retrying),
        (200, DeliveryStatus::Delivered),
        (300, DeliveryStatus::Dead),
    ] {
        let state = DeliveryState::new(status, 1, Some(503), Some("HTTP 503"), at);
        let first = entry(1, at, AttemptResultKind::FailedWillRetry);
        assert_eq!(write_state(&db, &id, "ci", &state, Some(&first)), 1);
        let rows = deliveries(&db, &id);
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].status, rows[0].updated_at), (status, at));
        // The reason is kept for a dead row only.
        let reason = (status == DeliveryStatus::Dead).then(|| "gave up".to_owned());
        assert_eq!(rows[0].reason, reason);
    }
    assert_eq!(log(&deliveries(&db, &id)[0]).len(), 3);

    for n in 4..=25 {
        let state = DeliveryState::new(
            DeliveryStatus::Retrying,
            n,
            Some(503),
            None,
            300 + u64::from(n),
        );
        let e = entry(n, 300 + u64::from(n), AttemptResultKind::FailedWillRetry);
        assert_eq!(write_state(&db, &id, "ci", &state, Some(&e)), 1);
    }
    let kept = log(&deliveries(&db, &id)[0]);
    assert_eq!(kept.len(), records::ATTEMPTS_LOG_LENGTH);
    assert_eq!((kept[0].n, kept[19].n), (6, 25), "the latest, oldest first");
    assert_eq!(kept[19], entry(25, 325, AttemptResultKind::FailedWillRetry));

    // No entry: the log stays; an older state changes nothing.
    let later = DeliveryState::new(DeliveryStatus::Delivered, 26, Some(200), None, 400);
    assert_eq!(write_state(&db, &id, "ci", &later, None), 1);
    let older = DeliveryState::new(DeliveryStatus::Retrying, 2, Some(500), None, 399);
    assert_eq!(
        write_state(
            &db,
            &id,
            "ci",
            &older,
            Some(&entry(2, 399, AttemptResultKind::Probe))
        ),
        0
    );
    let row = &deliveries(&db, &id)[0];
    assert_eq!(
        (row.status, row.attempts, row.updated_at),
        (DeliveryStatus::Delivered, 26, 400)
    );
    assert_eq!(log(row), kept);
}

fn dead_letter(body: &[u8], recorded: bool) -> DeadLetter {
    let mut delivery = message(body, recorded);
    delivery.attempts = 3;
    delivery.last_status = Some(500);
    delivery.last_error = Some("HTTP 500".into());
    DeadLetter {
        delivery,
        destination: "ci".into(),
        reason: "gave up after 3 attempts".into(),
        dead_at: AT + 60_000,
    }
}

#[test]
fn a_dead_letter_is_a_dead_row_and_brings_its_event_row_when_needed() {
    let db = Db::new();
    let body = run_completed(70);
    support::insert(
        &db,
        &support::new_event(&body, AT, EventStatus::Accepted, Forward::Queued),
        &body,
    );
    let dead = dead_letter(&body, true);
    let state = records::dead_state(&dead);
    let writes = built!(records::dead_letter_writes(&dead, &state, Some(&body)));
    assert_eq!(writes.len(), 1);
    assert_eq!(db.changes(&writes[0], Some(&body)), 1);

    let unrecorded = run_completed(71);
    let dead = dead_letter(&unrecorded, false);
    let writes = records::dead_letter_writes(&dead, &state, Some(&unrecorded));
    let changes: Vec<usize> = writes
        .iter()
        .map(|w| db.changes(w, Some(&unrecorded)))
        .collect();
    assert_eq!(changes, [1, 1]);
    let row = stored(&db, &id_of(&unrecorded));
    assert_eq!(
        row.forward,
        Forward::Queued,
        "inserted claimed: its delivery ended"
    );

    let letters: Vec<events::DeadLetterRow> = db.rows(&events::dead_letters(
        &engine::api::params::DeadLetterQuery {
            limit: 10,
            ..Default::default()
        },
    ));
    assert_eq!(letters.len(), 2);
    for letter in &letters {
        assert_eq!(
            (letter.attempts, letter.last_status, letter.dead_at),
            (3, Some(500), AT + 60_000)
        );
        assert_eq!(letter.reason.as_deref(), Some("gave up after 3 attempts"));
        let rows = deliveries(&db, &letter.id);
        assert_eq!(rows[0].status, DeliveryStatus::Dead);
        assert_eq!(log(&rows[0])[0].result, AttemptResultKind::FailedFinal);
    }
}
