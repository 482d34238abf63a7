//! Scenario 7: `GET /api/destinations`' day counts and last errors from
//! the `deliveries` rows.

use engine::api::destinations::{self, DayCounts, LastError, DAY_MS};
use engine::delivery::records::{AttemptEntry, AttemptResultKind};
use engine::store::layout::{DeliveryState, DeliveryStatus};

use super::support::Db;
use super::writes::write_state;

const NOW: u64 = 1_700_000_000_000;

fn entry(result: AttemptResultKind) -> AttemptEntry {
    AttemptEntry {
        n: 1,
        at: NOW,
        result,
        status: None,
        latency_ms: None,
        error: None,
        next_at: None,
    }
}

/// The rows of the day before `NOW`, and two older.
fn day(db: &Db) {
    let since = NOW - DAY_MS;
    let state =
        |status, at, error: Option<&str>| DeliveryState::new(status, 1, Some(500), error, at);
    // `(event, destination, status, updated_at, last entry, error)`.
    let rows = [
        (
            "e1",
            "ci",
            DeliveryStatus::Delivered,
            NOW - 10,
            Some(AttemptResultKind::Delivered),
            None,
        ),
        ("e2", "ci", DeliveryStatus::Delivered, NOW - 5, None, None),
        (
            "e3",
            "ci",
            DeliveryStatus::Retrying,
            NOW - 4,
            Some(AttemptResultKind::FailedWillRetry),
            Some("HTTP 502"),
        ),
        (
            "e4",
            "ci",
            DeliveryStatus::Retrying,
            NOW - 3,
            Some(AttemptResultKind::HeldWhilePaused),
            None,
        ),
        (
            "e5",
            "ci",
            DeliveryStatus::Retrying,
            NOW - 2,
            Some(AttemptResultKind::Probe),
            Some("HTTP 503"),
        ),
        ("e6", "ci", DeliveryStatus::Retrying, NOW - 1, None, None),
        (
            "e7",
            "ci",
            DeliveryStatus::Dead,
            NOW - 6,
            Some(AttemptResultKind::FailedFinal),
            Some("HTTP 400"),
        ),
        // Older than the day: not counted, but still the last error of chat.
        (
            "e8",
            "chat",
            DeliveryStatus::Delivered,
            since - 1,
            None,
            None,
        ),
        (
            "e9",
            "chat",
            DeliveryStatus::Dead,
            since - 2,
            None,
            Some("HTTP 410"),
        ),
    ];
    for (id, destination, status, at, result, error) in rows {
        let entry = result.map(entry);
        assert_eq!(
            write_state(
                db,
                id,
                destination,
                &state(status, at, error),
                entry.as_ref()
            ),
            1
        );
    }
}

#[test]
fn a_day_counts_deliveries_by_status_and_a_held_retry_is_no_failure() {
    let db = Db::new();
    let since = NOW - DAY_MS;
    day(&db);
    let counts: Vec<DayCounts> = db.rows(&built!(destinations::day_counts(since)));
    assert_eq!(counts.len(), 1, "chat had nothing within the day");
    let ci = &counts[0];
    assert_eq!(ci.destination, "ci");
    assert_eq!(
        (ci.delivered, ci.failed, ci.dead),
        (Some(2), Some(2), Some(1)),
        "e3 and e6 failed"
    );
    assert_eq!(ci.last_success_at, Some(NOW - 5));

    let mut errors: Vec<LastError> = db.rows(&built!(destinations::last_errors()));
    errors.sort_by(|a, b| a.destination.cmp(&b.destination));
    let errors: Vec<(&str, Option<&str>, Option<u64>)> = errors
        .iter()
        .map(|e| (e.destination.as_str(), e.last_error.as_deref(), e.at))
        .collect();
    assert_eq!(
        errors,
        [
            ("chat", Some("HTTP 410"), Some(since - 2)),
            ("ci", Some("HTTP 503"), Some(NOW - 2))
        ]
    );
}

/// The scenarios, for [`super::coverage`].
pub const SCENARIOS: &[fn()] = &[a_day_counts_deliveries_by_status_and_a_held_retry_is_no_failure];
