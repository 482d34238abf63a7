//! Scenarios 9 to 11: what the cron runs (the watchdog, the reconcile
//! pass's cursors, the webhook check's rows, the sweep's re-drive and
//! retention) and the KV migration's inserts.

use engine::alerts::disabled::{self, DisabledRow, Facts, Plan, Probed, Rules, Subject};
use engine::alerts::watch::{self, LastDelivery, WatchRow, Watched};
use engine::api::events::{self, DeliveryRow, EventRow};
use engine::config::{bindings, Config};
use engine::runs::reconcile::cursor::{self, Cursor, CursorRow, PassUnderWay};
use engine::store::d1::{self, UnforwardedRow, SWEEP_BATCH};
use engine::store::layout::{DeadLetterMetadata, DeliveryState, DeliveryStatus, EventMetadata};
use engine::store::migrate_kv;
use engine::store::settings::Sink;
use engine::store::sweep;
use engine::store::types::{EventStatus, Forward};

use super::support::{self, id_of, Db};

const NOW: u64 = 1_700_000_000_000;

fn event(db: &Db, n: u64, project: &str, at: u64, forward: Forward, in_kv: bool) -> String {
    let body = support::body("case.created", project, &format!(r#"{{"id":{n}}}"#));
    let event = d1::NewEvent {
        body_in_kv: in_kv,
        ..support::new_event(&body, at, EventStatus::Accepted, forward)
    };
    support::insert(db, &event, &body);
    event.id
}

#[test]
fn the_watchdog_reads_last_deliveries_and_keeps_its_rows() {
    let db = Db::new();
    event(&db, 1, "WEB", NOW - 5_000, Forward::None, false);
    event(&db, 2, "WEB", NOW - 1_000, Forward::None, false);
    event(&db, 3, "MOB", NOW - 9_000, Forward::None, false);
    let last: Vec<LastDelivery> = db.rows(&built!(watch::last_deliveries(&["WEB", "MOB", "API"])));
    let mut last: Vec<(String, Option<u64>)> =
        last.into_iter().map(|l| (l.project_code, l.at)).collect();
    last.sort();
    assert_eq!(
        last,
        [
            ("MOB".into(), Some(NOW - 9_000)),
            ("WEB".into(), Some(NOW - 1_000))
        ]
    );

    let quiet = Watched {
        project: "MOB".into(),
        window_seconds: 5,
    };
    let checked = watch::check(&quiet, None, Some(NOW - 9_000), 0, NOW);
    let row = checked.row.expect("a new row");
    assert!(checked.alert.is_some() && row.quiet == 1);
    assert_eq!(db.changes(&built!(watch::upsert(&row)), None), 1);
    let rows: Vec<WatchRow> = db.rows(&built!(watch::rows()));
    assert_eq!(rows, std::slice::from_ref(&row));

    // Back: the row changes, but it is watched since the first check.
    let back = watch::check(&quiet, Some(&row), Some(NOW + 1_000), 0, NOW + 2_000)
        .row
        .expect("a change");
    let moved = WatchRow {
        watched_since: NOW + 2_000,
        ..back.clone()
    };
    assert_eq!(db.changes(&watch::upsert(&moved), None), 1);
    let rows: Vec<WatchRow> = db.rows(&watch::rows());
    assert_eq!(
        rows,
        [WatchRow {
            watched_since: row.watched_since,
            ..back
        }]
    );
    assert_eq!(rows[0].quiet, 0);
}

#[test]
fn the_reconcile_cursors_are_stored_and_read_back_one_row_a_project() {
    let db = Db::new();
    let none: Vec<CursorRow> = db.rows(&built!(cursor::rows()));
    assert!(none.is_empty());
    let cut = Cursor {
        checked_until: Some(1_700_000_000),
        pass: Some(PassUnderWay {
            from: 1_699_900_000,
            offset: 130,
            started_at: 1_700_000_500,
        }),
        not_before: Some(1_700_000_600),
        ..Cursor::new("WEB")
    };
    let fresh = Cursor::new("MOB");
    assert_eq!(db.changes(&built!(cursor::upsert(&cut, NOW)), None), 1);
    assert_eq!(db.changes(&cursor::upsert(&fresh, NOW), None), 1);
    let mut read: Vec<Cursor> = db
        .rows::<CursorRow>(&cursor::rows())
        .iter()
        .map(CursorRow::cursor)
        .collect();
    read.sort_by(|a, b| a.project.cmp(&b.project));
    assert_eq!(read, [fresh.clone(), cut.clone()]);
    // The pass completed: the same row, its pass gone.
    let completed = Cursor {
        checked_until: Some(1_700_000_500),
        pass: None,
        not_before: None,
        ..cut
    };
    assert_eq!(db.changes(&cursor::upsert(&completed, NOW + 1), None), 1);
    let rows: Vec<CursorRow> = db.rows(&cursor::rows());
    let web: Vec<Cursor> = rows
        .iter()
        .filter(|row| row.project_code == "WEB")
        .map(CursorRow::cursor)
        .collect();
    assert_eq!(web, [completed]);
    assert_eq!(rows.len(), 2);
}

fn config() -> Config {
    let vars = [
        (bindings::WEBHOOK_SECRET, "s3cret"),
        (bindings::RETENTION_SECONDS, "86400"),
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

#[test]
fn the_sweep_redrives_old_pending_rows_oldest_first_a_batch_at_a_time() {
    let db = Db::new();
    let config = config();
    let delay = config.store.redrive_after_seconds * 1000;
    // 45 pending rows old enough, newest first in insertion order.
    let mut old = Vec::new();
    for n in 0..45u64 {
        old.push((
            NOW - delay - 1 - 45 + n,
            event(
                &db,
                n,
                "WEB",
                NOW - delay - 1 - 45 + n,
                Forward::Pending,
                false,
            ),
        ));
    }
    let young = event(&db, 100, "WEB", NOW - delay + 1, Forward::Pending, false);
    let claimed = event(&db, 101, "WEB", NOW - delay - 500, Forward::Pending, false);
    assert_eq!(db.changes(&d1::claim_forward(&claimed), None), 1);
    event(&db, 102, "WEB", NOW - delay - 600, Forward::None, false);

    let rows: Vec<UnforwardedRow> = db.rows(&built!(sweep::unforwarded(&config.store, NOW)));
    assert_eq!(rows.len(), SWEEP_BATCH);
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let oldest: Vec<&str> = old
        .iter()
        .take(SWEEP_BATCH)
        .map(|(_, id)| id.as_str())
        .collect();
    assert_eq!(ids, oldest, "oldest first");
    assert!(!ids.contains(&young.as_str()) && !ids.contains(&claimed.as_str()));
    let message = sweep::redrive_message(&rows[0]);
    assert_eq!(
        (message.id.as_str(), message.received_at, message.recorded),
        (ids[0], old[0].0, true)
    );
    assert_eq!(message.event_name, "case.created");
    assert_eq!(
        db.rows::<UnforwardedRow>(&built!(d1::unforwarded(NOW)))
            .len(),
        SWEEP_BATCH,
        "the engine's own delay-free form"
    );
}

#[test]
fn the_retention_deletes_old_rows_and_lists_their_bodies_in_kv() {
    let mut db = Db::new();
    let config = config();
    let cutoff = sweep::retention_cutoff(&config.store, NOW).expect("a retention");
    let in_kv = event(&db, 1, "WEB", cutoff - 2, Forward::None, true);
    let in_row = event(&db, 2, "WEB", cutoff - 1, Forward::None, false);
    let kept = event(&db, 3, "WEB", cutoff, Forward::None, true);
    for id in [&in_kv, &in_row, &kept] {
        let state = DeliveryState::new(DeliveryStatus::Delivered, 1, Some(200), None, NOW);
        let statement =
            engine::delivery::records::upsert(&engine::delivery::records::DeliveryRow {
                event_id: id,
                destination: "ci",
                state: &state,
                reason: None,
                entry: None,
            });
        assert_eq!(db.changes(&statement, None), 1);
    }
    #[derive(serde::Deserialize)]
    struct Id {
        id: String,
    }
    let listed: Vec<Id> = db.rows(&built!(d1::expired_in_kv(cutoff)));
    assert_eq!(
        listed.into_iter().map(|r| r.id).collect::<Vec<_>>(),
        std::slice::from_ref(&in_kv)
    );
    let [deliveries, rows] = built!(d1::delete_expired(cutoff));
    assert_eq!(db.batch(&[deliveries, rows]), [2, 2]);
    let left: Vec<EventRow> = db.rows(&events::event(&kept));
    assert_eq!(left.len(), 1);
    assert_eq!(db.rows::<DeliveryRow>(&events::deliveries(&kept)).len(), 1);
    assert!(db.rows::<EventRow>(&events::event(&in_row)).is_empty());
}

#[test]
fn the_kv_migration_inserts_old_events_once() {
    let db = Db::new();
    let body = support::body("run.completed", "WEB", r#"{"id":42}"#);
    let id = id_of(&body);
    let metadata = EventMetadata::new("run.completed", "WEB", NOW, None);
    let insert = built!(migrate_kv::event_insert(&id, &metadata, &body)).expect("an envelope");
    assert_eq!(db.changes(&insert, Some(&body)), 1);
    assert_eq!(db.changes(&insert, Some(&body)), 0, "again: nothing");
    let row = &db.rows::<EventRow>(&events::event(&id))[0];
    assert_eq!(
        (row.forward, row.outcome, row.run_id),
        (Forward::None, EventStatus::Accepted, Some(42))
    );
    assert_eq!(
        row.body.as_deref().map(str::as_bytes),
        Some(body.as_slice())
    );
    let quarantined = EventMetadata::new("run.completed", "WEB", NOW, Some("payload.id"));
    let odd = support::body("run.completed", "WEB", r#"{"id":"x"}"#);
    let odd_insert = migrate_kv::event_insert(&id_of(&odd), &quarantined, &odd).unwrap();
    assert_eq!(db.changes(&odd_insert, Some(&odd)), 1);
    assert_eq!(
        db.rows::<EventRow>(&events::event(&id_of(&odd)))[0].outcome,
        EventStatus::Quarantined
    );
}

#[test]
fn the_kv_migration_writes_a_delivery_state_only_for_a_stored_event_over_an_older_one() {
    let db = Db::new();
    let body = support::body("run.completed", "WEB", r#"{"id":42}"#);
    let id = id_of(&body);
    let metadata = EventMetadata::new("run.completed", "WEB", NOW, None);
    let insert = migrate_kv::event_insert(&id, &metadata, &body).expect("an envelope");
    assert_eq!(db.changes(&insert, Some(&body)), 1);
    #[derive(serde::Deserialize)]
    struct Id {
        id: String,
    }
    let existing: Vec<Id> = db.rows(&built!(migrate_kv::existing(&[
        &id,
        "evt_00000000000000000000000000000000"
    ])));
    assert_eq!(
        existing.into_iter().map(|r| r.id).collect::<Vec<_>>(),
        std::slice::from_ref(&id)
    );

    let state = |status, at| DeliveryState::new(status, 2, Some(502), Some("HTTP 502"), at);
    let delivery = built!(migrate_kv::delivery_insert(
        &id,
        "ci",
        &state(DeliveryStatus::Retrying, 10)
    ));
    assert_eq!(db.changes(&delivery, None), 1);
    assert_eq!(db.changes(&delivery, None), 0, "not over the same state");
    let older = migrate_kv::delivery_insert(&id, "ci", &state(DeliveryStatus::Delivered, 5));
    assert_eq!(db.changes(&older, None), 0, "not over a newer state");
    let unknown = migrate_kv::delivery_insert(
        "evt_00000000000000000000000000000000",
        "ci",
        &state(DeliveryStatus::Delivered, 5),
    );
    assert_eq!(db.changes(&unknown, None), 0, "only for a stored event");
    let dead = DeadLetterMetadata {
        event_name: "run.completed".into(),
        project_code: "WEB".into(),
        received_at: NOW,
        destination: "ci".into(),
        attempts: 5,
        last_status: Some(500),
        last_error: Some("HTTP 500".into()),
        reason: "gave up after 5 attempts".into(),
        dead_at: 20,
    };
    assert_eq!(
        db.changes(
            &built!(migrate_kv::dead_letter_insert(&id, "ci", &dead)),
            None
        ),
        1
    );
    let rows = db.rows::<DeliveryRow>(&events::deliveries(&id));
    assert_eq!(
        (rows[0].status, rows[0].attempts, rows[0].updated_at),
        (DeliveryStatus::Dead, 5, 20)
    );
    assert_eq!(rows[0].reason.as_deref(), Some("gave up after 5 attempts"));
    assert_eq!(rows[0].attempts_log, None);
}

#[test]
fn the_webhook_check_stores_its_rows_and_keeps_the_first_check() {
    let db = Db::new();
    let none: Vec<DisabledRow> = db.rows(&built!(disabled::rows()));
    assert!(none.is_empty());
    let rules = Rules {
        grace_seconds: 1_800,
        interval_ms: 0,
    };
    let subject = Subject {
        project: "WEB".into(),
        window_seconds: None,
    };
    let facts = Facts {
        stored: None,
        last_delivery_at: Some(NOW - 3_600_000),
        api_held: false,
        now: NOW,
    };
    let Plan::Probe { row, .. } = disabled::plan(&subject, facts, &rules) else {
        panic!("silent past the grace");
    };
    let probed = Probed::Runs {
        count: 2,
        run: 42,
        title: Some("Nightly \"42\"".into()),
    };
    let suspected = disabled::judge(None, row, probed, &rules, NOW).row.unwrap();
    assert_eq!(
        db.changes(&built!(disabled::upsert(&suspected, NOW)), None),
        1
    );
    let rows: Vec<DisabledRow> = db.rows(&disabled::rows());
    assert_eq!(rows, std::slice::from_ref(&suspected));
    // Cleared later: the same row, its first check kept.
    let cleared = DisabledRow {
        suspected: 0,
        run: None,
        runs: None,
        run_title: None,
        first_checked_at: NOW + 9,
        last_delivery_at: Some(NOW + 5),
        ..suspected.clone()
    };
    assert_eq!(db.changes(&disabled::upsert(&cleared, NOW + 9), None), 1);
    let rows: Vec<DisabledRow> = db.rows(&disabled::rows());
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].suspected, rows[0].run, rows[0].first_checked_at),
        (0, None, suspected.first_checked_at)
    );
}

/// The scenarios, for [`super::coverage`].
pub const SCENARIOS: &[fn()] = &[
    the_watchdog_reads_last_deliveries_and_keeps_its_rows,
    the_webhook_check_stores_its_rows_and_keeps_the_first_check,
    the_reconcile_cursors_are_stored_and_read_back_one_row_a_project,
    the_sweep_redrives_old_pending_rows_oldest_first_a_batch_at_a_time,
    the_retention_deletes_old_rows_and_lists_their_bodies_in_kv,
    the_kv_migration_inserts_old_events_once,
    the_kv_migration_writes_a_delivery_state_only_for_a_stored_event_over_an_older_one,
];
