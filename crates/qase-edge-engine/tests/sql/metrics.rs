//! Scenario 13: `GET /metrics`' aggregates: events by project, name and
//! outcome with their copies; deliveries by destination and status with
//! their attempts and retries; runs by project and status; each project's
//! latest completed run.

use engine::metrics::aggregate::{self, DeliveryCount, EventCount, LastRun, RunCount};
use engine::runs::sql;
use engine::runs::state::{self, RunState, RunStatus};
use engine::store::d1::{self, NewEvent};
use engine::store::layout::{DeliveryState, DeliveryStatus};
use engine::store::types::{EventStatus, Forward};
use qase_webhooks::run_report::{RunCounts, RunOutcome};
use qase_webhooks::Subjects;

use super::support::Db;
use super::writes::write_state;

const AT: u64 = 1_700_000_000_000;

/// A row's columns, to compare in one `assert_eq!`.
type Counted<'a, S> = (&'a str, S, u64, Option<u64>, Option<u64>);

fn record(db: &Db, id: &str, name: &str, project: &str, outcome: EventStatus) {
    let event = NewEvent {
        id: id.into(),
        event_name: name.into(),
        project_code: project.into(),
        team_member_id: 1,
        received_at: AT,
        outcome,
        reason: None,
        subjects: Subjects::default(),
        forward: Forward::None,
        size: 2,
        body_in_kv: false,
    };
    db.run(&built!(d1::record_event(&event)), Some(b"{}"));
}

#[test]
fn events_count_by_project_name_and_outcome_with_their_copies() {
    let db = Db::new();
    record(&db, "evt_1", "case.created", "WEB", EventStatus::Accepted);
    record(&db, "evt_1", "case.created", "WEB", EventStatus::Accepted);
    record(&db, "evt_1", "case.created", "WEB", EventStatus::Accepted);
    record(&db, "evt_2", "case.created", "WEB", EventStatus::Accepted);
    record(&db, "evt_3", "odd.event", "WEB", EventStatus::Quarantined);
    record(&db, "evt_4", "case.created", "API", EventStatus::Accepted);
    let mut rows: Vec<EventCount> = db.rows(&built!(aggregate::event_counts()));
    rows.sort_by(|a, b| (&a.project_code, &a.event_name).cmp(&(&b.project_code, &b.event_name)));
    let rows: Vec<(&str, &str, EventStatus, u64, Option<u64>)> = rows
        .iter()
        .map(|r| {
            (
                r.project_code.as_str(),
                r.event_name.as_str(),
                r.outcome,
                r.events,
                r.duplicates,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("API", "case.created", EventStatus::Accepted, 1, Some(0)),
            ("WEB", "case.created", EventStatus::Accepted, 2, Some(2)),
            ("WEB", "odd.event", EventStatus::Quarantined, 1, Some(0)),
        ]
    );
}

#[test]
fn deliveries_count_by_destination_and_status_with_attempts_and_retries() {
    let db = Db::new();
    let rows = [
        ("e1", "ci", DeliveryStatus::Delivered, 1),
        ("e2", "ci", DeliveryStatus::Delivered, 3),
        ("e3", "ci", DeliveryStatus::Dead, 1),
        ("e4", "chat", DeliveryStatus::Retrying, 2),
        // A held row may not have been attempted yet.
        ("e5", "chat", DeliveryStatus::Retrying, 0),
    ];
    for (id, destination, status, attempts) in rows {
        let state = DeliveryState::new(status, attempts, Some(200), None, AT);
        assert_eq!(write_state(&db, id, destination, &state, None), 1);
    }
    let mut counts: Vec<DeliveryCount> = db.rows(&built!(aggregate::delivery_counts()));
    counts.sort_by(|a, b| {
        (&a.destination, a.status.as_str()).cmp(&(&b.destination, b.status.as_str()))
    });
    let counts: Vec<Counted<DeliveryStatus>> = counts
        .iter()
        .map(|c| {
            (
                c.destination.as_str(),
                c.status,
                c.deliveries,
                c.attempts,
                c.retries,
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("chat", DeliveryStatus::Retrying, 2, Some(2), Some(1)),
            ("ci", DeliveryStatus::Dead, 1, Some(1), Some(0)),
            ("ci", DeliveryStatus::Delivered, 2, Some(4), Some(2)),
        ]
    );
}

fn run(project: &str, id: u64, status: RunStatus, at: u64, passed: u64) -> RunState {
    let end = status.is_final().then(|| state::RunEnd {
        outcome: match status {
            RunStatus::Aborted => RunOutcome::Aborted,
            _ => RunOutcome::Completed,
        },
        counts: RunCounts {
            cases: 4,
            passed,
            failed: 4 - passed,
            blocked: 0,
            skipped: None,
            untested: None,
            duration: 1,
        },
        at,
        event_id: format!("evt_{id}"),
        source: state::EndSource::Webhook,
    });
    RunState {
        status,
        end,
        last_event_at: at,
        first_event_at: at,
        version: 1,
        ..state::empty(project, id)
    }
}

#[test]
fn runs_count_by_status_and_the_latest_completed_run_gives_the_pass_ratio() {
    let db = Db::new();
    for state in [
        run("WEB", 1, RunStatus::Completed, 10, 1),
        run("WEB", 2, RunStatus::Completed, 30, 3),
        run("WEB", 3, RunStatus::Aborted, 40, 0),
        run("WEB", 4, RunStatus::Started, 50, 0),
        run("API", 5, RunStatus::Unknown, 20, 0),
    ] {
        assert_eq!(db.changes(&built!(sql::upsert(&state, AT)), None), 1);
    }
    let mut counts: Vec<RunCount> = db.rows(&built!(aggregate::run_counts()));
    counts.sort_by(|a, b| {
        (&a.project_code, a.status.as_str()).cmp(&(&b.project_code, b.status.as_str()))
    });
    let counts: Vec<(&str, RunStatus, u64)> = counts
        .iter()
        .map(|c| (c.project_code.as_str(), c.status, c.runs))
        .collect();
    assert_eq!(
        counts,
        [
            ("API", RunStatus::Unknown, 1),
            ("WEB", RunStatus::Aborted, 1),
            ("WEB", RunStatus::Completed, 2),
            ("WEB", RunStatus::Started, 1),
        ]
    );
    let last: Vec<LastRun> = db.rows(&built!(aggregate::last_completed_runs()));
    assert_eq!(last.len(), 1, "API has no completed run");
    assert_eq!(last[0].project_code, "WEB");
    assert_eq!(
        last[0].pass_ratio(),
        Some(0.75),
        "run 2, not the aborted run 3"
    );
}

/// The scenarios, for [`super::coverage`].
pub const SCENARIOS: &[fn()] = &[
    events_count_by_project_name_and_outcome_with_their_copies,
    deliveries_count_by_destination_and_status_with_attempts_and_retries,
    runs_count_by_status_and_the_latest_completed_run_gives_the_pass_ratio,
];
