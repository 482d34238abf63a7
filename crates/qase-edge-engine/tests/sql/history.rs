//! Scenarios 5 and 6: the operator API's history (`GET /api/events`, its
//! bodies, counts, one event, its deletion, the stats) and dead letters.

use engine::api::events::{self, DeadLetterRow, DeadLetterToReplay, EventRow, RouteCount};
use engine::api::params::{Cursor, DeadLetterQuery, ListQuery, StatsQuery};
use engine::delivery::attempt::ALL_DESTINATIONS;
use engine::store::d1;
use engine::store::layout::{DeliveryState, DeliveryStatus};
use engine::store::types::EventStatus;
use engine::store::types::Forward;

use super::support::{self, Db};
use super::writes::write_state;

/// Unix seconds of the first event; event `n` is received `n` seconds later.
const T: u64 = 1_700_000_000;

/// One stored event of the history.
struct Stored {
    id: String,
    body: Vec<u8>,
}

/// `(name, project, payload, seconds after T, outcome, body in KV)`.
const EVENTS: [(&str, &str, &str, u64, EventStatus, bool); 11] = [
    (
        "run.completed",
        "WEB",
        r#"{"id":1}"#,
        1,
        EventStatus::Accepted,
        false,
    ),
    (
        "case.created",
        "WEB",
        r#"{"id":5}"#,
        2,
        EventStatus::Accepted,
        false,
    ),
    (
        "run.started",
        "MOB",
        r#"{"id":2}"#,
        3,
        EventStatus::Accepted,
        false,
    ),
    (
        "defect.created",
        "WEB",
        r#"{"id":9}"#,
        4,
        EventStatus::Quarantined,
        false,
    ),
    (
        "run.completed",
        "WEB",
        r#"{"id":3}"#,
        5,
        EventStatus::Accepted,
        true,
    ),
    ("a?b", "WEB", r#"{}"#, 6, EventStatus::Quarantined, false),
    ("axb", "WEB", r#"{}"#, 7, EventStatus::Quarantined, false),
    ("b[1]c", "WEB", r#"{}"#, 8, EventStatus::Quarantined, false),
    // The same time as the one before: the id breaks the tie.
    ("b1c", "WEB", r#"{}"#, 8, EventStatus::Quarantined, false),
    (
        "plan.deleted",
        "WEB",
        r#"{"id":4}"#,
        9,
        EventStatus::Accepted,
        false,
    ),
    (
        "milestone.updated",
        "WEB",
        r#"{"id":6}"#,
        10,
        EventStatus::Accepted,
        false,
    ),
];

/// The history: [`EVENTS`], with deliveries of the first three.
fn history(db: &Db) -> Vec<Stored> {
    let mut stored = Vec::new();
    for (name, project, payload, after, outcome, in_kv) in EVENTS {
        let body = support::body(name, project, payload);
        let event = d1::NewEvent {
            body_in_kv: in_kv,
            ..support::new_event(&body, (T + after) * 1000, outcome, Forward::Queued)
        };
        support::insert(db, &event, &body);
        stored.push(Stored { id: event.id, body });
    }
    let state = |status, at| DeliveryState::new(status, 2, Some(500), Some("HTTP 500"), at);
    for (event, destination, status) in [
        (0, "ci", DeliveryStatus::Delivered),
        (0, "chat", DeliveryStatus::Dead),
        (1, "ci", DeliveryStatus::Retrying),
        (2, "ci", DeliveryStatus::Dead),
    ] {
        let at = (T + 100 + event as u64) * 1000;
        assert_eq!(
            write_state(db, &stored[event].id, destination, &state(status, at), None),
            1
        );
    }
    stored
}

/// A query string's pairs.
type Filter<'a> = Vec<(&'a str, &'a str)>;

fn query(pairs: &[(&str, &str)]) -> ListQuery {
    ListQuery::parse(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .expect("the API takes these parameters")
}

fn list(db: &Db, query: &ListQuery, cursor: Option<&Cursor>) -> Vec<EventRow> {
    db.rows(&built!(events::list_events(
        &query.filter,
        cursor,
        query.limit
    )))
}

/// The indexes into [`EVENTS`] that `pairs` lists, newest first.
fn listed(db: &Db, stored: &[Stored], pairs: &[(&str, &str)]) -> Vec<usize> {
    list(db, &query(pairs), None)
        .iter()
        .map(|row| {
            stored
                .iter()
                .position(|s| s.id == row.id)
                .expect("a stored id")
        })
        .collect()
}

#[test]
fn every_filter_of_the_history_selects_what_it_says() {
    let db = Db::new();
    let stored = history(&db);
    let since = (T + 3).to_string();
    let until = (T + 5).to_string();
    // Events 7 and 8 came at the same millisecond: the larger id first.
    let tie = match stored[7].id > stored[8].id {
        true => [7, 8],
        false => [8, 7],
    };
    let cases: Vec<(Filter, Vec<usize>)> = vec![
        (vec![("project", "MOB")], vec![2]),
        (vec![("event", "run.*")], vec![4, 2, 0]),
        (vec![("event", "run.completed")], vec![4, 0]),
        (vec![("event", "*.created"), ("project", "WEB")], vec![3, 1]),
        // `?` and `[` are literal in a routing glob.
        (vec![("event", "a?*")], vec![5]),
        (vec![("event", "b[1]*")], vec![7]),
        (
            vec![("outcome", "accepted"), ("event", "run.*")],
            vec![4, 2, 0],
        ),
        (
            vec![("status", "quarantined"), ("since", "1700000006")],
            [&tie[..], &[6, 5]].concat(),
        ),
        (vec![("since", &since), ("until", &until)], vec![3, 2]),
        (vec![("run", "1")], vec![0]),
        (vec![("case", "5")], vec![1]),
        (vec![("defect", "9")], vec![3]),
        (vec![("plan", "4")], vec![9]),
        (vec![("milestone", "6")], vec![10]),
        (vec![("destination", "ci")], vec![2, 1, 0]),
        (vec![("state", "dead")], vec![2, 0]),
        (vec![("destination", "ci"), ("state", "dead")], vec![2]),
        (vec![("destination", "chat"), ("state", "dead")], vec![0]),
        (vec![("state", "retrying")], vec![1]),
        (
            vec![("state", "delivered"), ("destination", "chat")],
            vec![],
        ),
    ];
    for (pairs, expected) in cases {
        assert_eq!(listed(&db, &stored, &pairs), expected, "{pairs:?}");
    }
    // The outcome filter binds the enum's text: each outcome is listed.
    for outcome in [EventStatus::Accepted, EventStatus::Quarantined] {
        let mut q = query(&[]);
        q.filter.outcome = Some(outcome);
        let rows = list(&db, &q, None);
        assert!(!rows.is_empty() && rows.iter().all(|r| r.outcome == outcome));
    }
    // So does the state filter.
    for state in [
        DeliveryStatus::Delivered,
        DeliveryStatus::Retrying,
        DeliveryStatus::Dead,
    ] {
        let mut q = query(&[]);
        q.filter.state = Some(state);
        assert_eq!(
            list(&db, &q, None).len(),
            if state == DeliveryStatus::Dead { 2 } else { 1 }
        );
    }
}

#[test]
fn pages_follow_each_other_without_repeat_or_gap() {
    let db = Db::new();
    let stored = history(&db);
    let all: Vec<String> = list(&db, &query(&[]), None)
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(all.len(), stored.len());
    let page = query(&[("limit", "2")]);
    let (mut seen, mut cursor) = (Vec::new(), None);
    loop {
        let mut rows = list(&db, &page, cursor.as_ref());
        assert!(rows.len() <= 3, "limit + 1 rows");
        let more = rows.len() > 2;
        rows.truncate(2);
        cursor = rows.last().map(EventRow::cursor);
        seen.extend(rows.into_iter().map(|r| r.id));
        if !more {
            break;
        }
    }
    assert_eq!(seen, all);

    // The bodies of a page: after its cursor, through its last row, those
    // in the row only.
    let rows = list(&db, &query(&[]), None);
    let bodies: Vec<events::BodyRow> = db.rows(&built!(events::event_bodies(
        &query(&[]).filter,
        Some(&rows[4].cursor()),
        &rows[8].cursor()
    )));
    let expected: Vec<&str> = rows[5..=8]
        .iter()
        .filter(|r| !r.body_in_kv())
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(
        bodies.iter().map(|b| b.id.as_str()).collect::<Vec<_>>(),
        expected
    );
    assert_eq!(rows[6].id, stored[4].id, "the body in KV is on this page");
    assert_eq!(expected.len(), 3);
    for body in &bodies {
        let original = &stored.iter().find(|s| s.id == body.id).unwrap().body;
        assert_eq!(
            body.body.as_deref().map(str::as_bytes),
            Some(original.as_slice())
        );
    }
}

#[test]
fn an_event_its_deliveries_its_counts_and_its_deletion() {
    let mut db = Db::new();
    let stored = history(&db);
    let counts: Vec<RouteCount> = db.rows(&built!(events::count_by_route(
        &query(&[("event", "run.*")]).filter,
        None
    )));
    let counts: Vec<(&str, &str, u64)> = counts
        .iter()
        .map(|c| (c.event_name.as_str(), c.project_code.as_str(), c.count))
        .collect();
    assert_eq!(
        counts,
        [("run.completed", "WEB", 2), ("run.started", "MOB", 1)]
    );
    let after_first = list(&db, &query(&[]), None)[0].cursor();
    let later: Vec<RouteCount> = db.rows(&events::count_by_route(
        &query(&[("event", "run.*")]).filter,
        Some(&after_first),
    ));
    assert_eq!(
        later.iter().map(|c| c.count).sum::<u64>(),
        3,
        "the newest is no run event"
    );

    let rows: Vec<EventRow> = db.rows(&events::event(&stored[4].id));
    assert_eq!(
        (rows[0].body.as_deref(), rows[0].body_in_kv()),
        (None, true)
    );

    let [deliveries, event] = built!(events::delete_event(&stored[0].id));
    assert_eq!(db.batch(&[deliveries, event]), [2, 1]);
    assert!(db
        .rows::<EventRow>(&events::event(&stored[0].id))
        .is_empty());
    assert!(db
        .rows::<events::DeliveryRow>(&events::deliveries(&stored[0].id))
        .is_empty());
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM deliveries"),
        2,
        "the others stay"
    );
}

#[test]
fn stats_count_by_name_outcome_and_hour() {
    let db = Db::new();
    let body = support::body("run.completed", "WEB", r#"{"id":1}"#);
    let copy = d1::NewEvent {
        received_at: T * 1000 + 5,
        ..support::new_event(&body, T * 1000, EventStatus::Accepted, Forward::None)
    };
    history(&db);
    // One copy of the first event: `duplicates` is summed.
    let answer = db.run(&d1::record_event(&copy), Some(&body));
    assert_eq!(answer.rows.len(), 1);
    let query = StatsQuery {
        since: T * 1000,
        until: (T + 7) * 1000,
        project: Some("WEB".into()),
        scope: None,
    };
    let names: Vec<events::NameCount> = db.rows(&built!(events::stats_by_name(&query)));
    let hours: Vec<events::HourCount> = db.rows(&built!(events::stats_by_hour(&query)));
    let stats = events::stats(&query, &names, &hours);
    assert_eq!(stats.totals.events, 5, "WEB's events 0, 1, 3, 4 and 5");
    assert_eq!((stats.totals.accepted, stats.totals.quarantined), (3, 2));
    assert_eq!(stats.totals.duplicates, 1);
    assert_eq!(stats.by_hour.iter().sum::<u64>(), 5);
    assert!(names.iter().any(|n| n.outcome == EventStatus::Quarantined));

    // A caller scoped to WEB counts WEB's events only, asked for every
    // project; scoped to another, none.
    for (scope, expected) in [("WEB", 5), ("NOPE", 0)] {
        let scoped = StatsQuery {
            project: None,
            scope: Some(vec![scope.into()]),
            ..query.clone()
        };
        let names: Vec<events::NameCount> = db.rows(&built!(events::stats_by_name(&scoped)));
        let hours: Vec<events::HourCount> = db.rows(&built!(events::stats_by_hour(&scoped)));
        let counted = events::stats(&scoped, &names, &hours).totals.events;
        assert_eq!(counted, expected, "scoped to {scope}");
    }
    let everything = StatsQuery {
        project: None,
        ..query
    };
    let names: Vec<events::NameCount> = db.rows(&events::stats_by_name(&everything));
    let hours: Vec<events::HourCount> = db.rows(&events::stats_by_hour(&everything));
    assert!(
        events::stats(&everything, &names, &hours).totals.events > 5,
        "other projects exist"
    );
}

fn dead_letters(db: &Db, query: &DeadLetterQuery) -> Vec<DeadLetterRow> {
    db.rows(&built!(events::dead_letters(query)))
}

#[test]
fn dead_letters_filter_and_page() {
    let db = Db::new();
    let stored = history(&db);
    let all = dead_letters(
        &db,
        &DeadLetterQuery {
            limit: 50,
            ..Default::default()
        },
    );
    let ids: Vec<(&str, &str)> = all
        .iter()
        .map(|d| (d.id.as_str(), d.destination.as_str()))
        .collect();
    assert_eq!(
        ids,
        [
            (stored[2].id.as_str(), "ci"),
            (stored[0].id.as_str(), "chat")
        ]
    );
    assert_eq!(all[0].reason.as_deref(), Some("gave up"));
    for (query, expected) in [
        (
            DeadLetterQuery {
                destination: Some("chat".into()),
                ..Default::default()
            },
            1,
        ),
        (
            DeadLetterQuery {
                project: Some("MOB".into()),
                ..Default::default()
            },
            1,
        ),
        (
            DeadLetterQuery {
                since: Some((T + 102) * 1000),
                ..Default::default()
            },
            1,
        ),
        (
            DeadLetterQuery {
                until: Some((T + 102) * 1000),
                ..Default::default()
            },
            1,
        ),
        (
            DeadLetterQuery {
                project: Some("NONE".into()),
                ..Default::default()
            },
            0,
        ),
    ] {
        let query = DeadLetterQuery { limit: 50, ..query };
        assert_eq!(dead_letters(&db, &query).len(), expected, "{query:?}");
    }
    let first = dead_letters(
        &db,
        &DeadLetterQuery {
            limit: 1,
            ..Default::default()
        },
    );
    assert_eq!(first.len(), 2, "limit + 1");
    let next = dead_letters(
        &db,
        &DeadLetterQuery {
            limit: 1,
            cursor: Some(first[0].cursor()),
            ..Default::default()
        },
    );
    assert_eq!(next, all[1..]);
}

#[test]
fn a_dead_letter_replay_claims_it_once_and_a_failed_one_restores_it() {
    let db = Db::new();
    let stored = history(&db);
    let of: Vec<DeadLetterToReplay> = db.rows(&built!(events::dead_letters_of(
        &stored[0].id,
        Some("chat")
    )));
    assert_eq!(
        (of.len(), of[0].body.as_deref()),
        (1, std::str::from_utf8(&stored[0].body).ok())
    );
    let every: Vec<DeadLetterToReplay> = db.rows(&events::dead_letters_of(&stored[0].id, None));
    assert_eq!(every.len(), 1, "only the dead one of its two deliveries");

    // A replay takes it off the list once; a failed queue send puts it back.
    let claim = built!(events::requeue_dead_letter(&stored[0].id, "chat", 7));
    assert_eq!(db.changes(&claim, None), 1);
    assert_eq!(db.changes(&claim, None), 0, "a second replay loses");
    let row = db.rows::<events::DeliveryRow>(&events::deliveries(&stored[0].id));
    let chat = row.iter().find(|r| r.destination == "chat").unwrap();
    assert_eq!(
        (chat.status, chat.attempts, chat.reason.as_deref()),
        (DeliveryStatus::Retrying, 0, None)
    );
    let restore = built!(events::restore_dead_letter(&stored[0].id, "chat", 8));
    assert_eq!(db.changes(&restore, None), 1);
    assert_eq!(db.changes(&restore, None), 0);
    let letters = dead_letters(
        &db,
        &DeadLetterQuery {
            limit: 50,
            ..Default::default()
        },
    );
    let back = letters.iter().find(|d| d.destination == "chat").unwrap();
    assert_eq!(
        (back.reason.as_deref(), back.dead_at),
        (Some("replay not queued"), 8)
    );

    // The platform's `_all` row goes instead.
    let dead = DeliveryState::new(DeliveryStatus::Dead, 1, None, Some("no destination"), 9);
    assert_eq!(
        write_state(&db, &stored[1].id, ALL_DESTINATIONS, &dead, None),
        1
    );
    let claim = events::requeue_dead_letter(&stored[1].id, ALL_DESTINATIONS, 10);
    assert_eq!(db.changes(&claim, None), 1);
    assert_eq!(db.changes(&claim, None), 0);
    let rows = db.rows::<events::DeliveryRow>(&events::deliveries(&stored[1].id));
    assert!(rows.iter().all(|r| r.destination != ALL_DESTINATIONS));
}

/// The scenarios, for [`super::coverage`].
pub const SCENARIOS: &[fn()] = &[
    every_filter_of_the_history_selects_what_it_says,
    pages_follow_each_other_without_repeat_or_gap,
    an_event_its_deliveries_its_counts_and_its_deletion,
    stats_count_by_name_outcome_and_hour,
    dead_letters_filter_and_page,
    a_dead_letter_replay_claims_it_once_and_a_failed_one_restores_it,
];
