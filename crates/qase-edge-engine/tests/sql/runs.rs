//! Scenario 8: the `runs` table: the row upsert, one run, `RunsQuery` and
//! the retention's deletes.

use engine::runs::api::{self, RunsQuery};
use engine::runs::report;
use engine::runs::sql::{self, RunRow};
use engine::runs::state::{self, RunState, RunStatus};
use engine::store::layout::{DeliveryState, DeliveryStatus};

use super::support::Db;
use super::writes::write_state;

const STATUSES: [RunStatus; 4] = [
    RunStatus::Unknown,
    RunStatus::Started,
    RunStatus::Completed,
    RunStatus::Aborted,
];

fn run(project: &str, run: u64, status: RunStatus, last_event_at: u64, version: u64) -> RunState {
    RunState {
        status,
        last_event_at,
        first_event_at: last_event_at,
        version,
        ..state::empty(project, run)
    }
}

fn write(db: &Db, state: &RunState, now: u64) -> usize {
    db.changes(&built!(sql::upsert(state, now)), None)
}

fn one(db: &Db, project: &str, id: u64) -> Option<RunState> {
    let rows: Vec<RunRow> = db.rows(&built!(sql::select_run(project, id)));
    assert!(rows.len() <= 1);
    rows.first()
        .map(|row| row.state().expect("a state this version reads"))
}

fn page(db: &Db, pairs: &[(&str, &str)]) -> (Vec<(u64, RunStatus)>, Option<String>) {
    let query = RunsQuery::parse(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
    .expect("the API takes these parameters");
    let rows: Vec<RunRow> = db.rows(&built!(api::RunsQuery::statement(&query)));
    let states = rows
        .iter()
        .map(|row| row.state().expect("a state"))
        .collect();
    let (states, cursor) = query.page(states);
    (states.iter().map(|s| (s.run, s.status)).collect(), cursor)
}

#[test]
fn a_run_row_keeps_the_newest_version_of_every_status() {
    let db = Db::new();
    for (n, status) in STATUSES.into_iter().enumerate() {
        let state = run("WEB", n as u64 + 1, status, 100 + n as u64, 2);
        assert_eq!(write(&db, &state, 1_000), 1, "{status:?}");
        assert_eq!(one(&db, "WEB", n as u64 + 1), Some(state));
    }
    let newer = run("WEB", 1, RunStatus::Completed, 200, 3);
    assert_eq!(write(&db, &newer, 2_000), 1);
    let older = run("WEB", 1, RunStatus::Started, 150, 1);
    assert_eq!(
        write(&db, &older, 3_000),
        0,
        "a lower version changes nothing"
    );
    assert_eq!(one(&db, "WEB", 1), Some(newer));
    assert_eq!(one(&db, "MOB", 1), None);
}

#[test]
fn runs_are_listed_by_status_and_by_pages() {
    let db = Db::new();
    // Runs 1 to 8, two of each status; runs 7 and 8 at the same time.
    for n in 1..=8u64 {
        let at = 100 + n.min(7);
        assert_eq!(
            write(&db, &run("WEB", n, STATUSES[(n % 4) as usize], at, 1), 1),
            1
        );
    }
    assert_eq!(
        write(&db, &run("MOB", 9, RunStatus::Completed, 999, 1), 1),
        1
    );
    for status in STATUSES {
        let text = serde_json::to_value(status).unwrap();
        let (runs, cursor) = page(
            &db,
            &[("project", "WEB"), ("status", text.as_str().unwrap())],
        );
        assert_eq!(runs.len(), 2, "{status:?}");
        assert!(runs.iter().all(|(_, s)| *s == status) && cursor.is_none());
    }
    let (mut seen, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let mut pairs = vec![("project", "WEB"), ("limit", "3")];
        if let Some(cursor) = &cursor {
            pairs.push(("cursor", cursor));
        }
        let (runs, next) = page(&db, &pairs);
        seen.extend(runs.iter().map(|(run, _)| *run));
        cursor = next;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(
        seen,
        [8, 7, 6, 5, 4, 3, 2, 1],
        "newest event first, then the larger id"
    );
    let (runs, _) = page(
        &db,
        &[("project", "WEB"), ("status", "completed"), ("limit", "1")],
    );
    assert_eq!(runs, [(6, RunStatus::Completed)]);
}

#[test]
fn the_retention_deletes_old_runs_and_their_report_deliveries_only() {
    let db = Db::new();
    assert_eq!(
        write(&db, &run("WEB", 1, RunStatus::Completed, 1, 1), 100),
        1
    );
    assert_eq!(
        write(&db, &run("WEB", 2, RunStatus::Completed, 1, 1), 900),
        1
    );
    let old = DeliveryState::new(DeliveryStatus::Delivered, 1, Some(200), None, 100);
    let report_id = report::report_id("WEB", 1);
    assert_eq!(write_state(&db, &report_id, "chat", &old, None), 1);
    assert_eq!(
        write_state(
            &db,
            "evt_0123456789abcdef0123456789abcdef",
            "chat",
            &old,
            None
        ),
        1
    );
    let new = DeliveryState::new(DeliveryStatus::Delivered, 1, Some(200), None, 900);
    assert_eq!(
        write_state(&db, &report::report_id("WEB", 2), "chat", &new, None),
        1
    );
    let [deliveries, runs] = built!(sql::delete_expired(500));
    assert_eq!(
        db.changes(&deliveries, None),
        1,
        "the old report's row only"
    );
    assert_eq!(db.changes(&runs, None), 1);
    assert_eq!(one(&db, "WEB", 1), None);
    assert!(one(&db, "WEB", 2).is_some());
    let left = db.look("SELECT event_id FROM deliveries ORDER BY event_id");
    assert_eq!(left.len(), 2);
    assert!(left.iter().all(|row| row["event_id"] != report_id.as_str()));
}

/// The scenarios, for [`super::coverage`].
pub const SCENARIOS: &[fn()] = &[
    a_run_row_keeps_the_newest_version_of_every_status,
    runs_are_listed_by_status_and_by_pages,
    the_retention_deletes_old_runs_and_their_report_deliveries_only,
];
