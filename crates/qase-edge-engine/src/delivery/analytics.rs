//! One Workers Analytics Engine data point per delivery attempt (issue
//! #32), when the `QASE_ANALYTICS` binding is set: which destination, what
//! became of the attempt, its HTTP status and how long it took. Nothing is
//! written without the binding, and a held event (not attempted) writes
//! none. The README gives SQL API queries over these columns.
//!
//! Columns: `index1` and `blob1` the destination (the index, so the
//! platform samples per destination), `blob2` the result
//! ([`AttemptResultKind`]: `delivered`, `failed_will_retry`,
//! `failed_final`, `probe`), `blob3` the event name; `double1` the HTTP
//! status (`0`: none came back), `double2` the latency in milliseconds,
//! `double3` the attempt's number.

use crate::delivery::records::{AttemptEntry, AttemptResultKind};

/// One attempt, as Analytics Engine stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptPoint {
    /// The index: the destination.
    pub index: String,
    /// Destination, result, event name.
    pub blobs: [String; 3],
    /// Status, latency in ms, attempt number.
    pub doubles: [f64; 3],
}

/// The data point of the attempt `entry` records, to `destination`, of an
/// event named `event_name`; `None` for a hold, which is no attempt.
pub fn attempt_point(
    destination: &str,
    entry: &AttemptEntry,
    event_name: &str,
) -> Option<AttemptPoint> {
    if entry.n == 0 || entry.result == AttemptResultKind::HeldWhilePaused {
        return None;
    }
    let result = serde_json::to_value(entry.result)
        .ok()?
        .as_str()?
        .to_owned();
    Some(AttemptPoint {
        index: destination.to_owned(),
        blobs: [destination.to_owned(), result, event_name.to_owned()],
        doubles: [
            f64::from(entry.status.unwrap_or(0)),
            entry.latency_ms.unwrap_or(0) as f64,
            f64::from(entry.n),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(n: u32, result: AttemptResultKind, status: Option<u16>) -> Option<AttemptPoint> {
        let entry = AttemptEntry {
            n,
            at: 5,
            result,
            status,
            latency_ms: Some(120),
            error: None,
            next_at: None,
        };
        attempt_point("ci", &entry, "run.completed")
    }

    #[test]
    fn an_attempt_is_one_point_and_a_hold_none() {
        let retry = point(2, AttemptResultKind::FailedWillRetry, Some(503)).unwrap();
        assert_eq!(retry.index, "ci");
        assert_eq!(
            retry.blobs,
            [
                "ci".to_owned(),
                "failed_will_retry".into(),
                "run.completed".into()
            ]
        );
        assert_eq!(retry.doubles, [503.0, 120.0, 2.0]);
        let timeout = point(1, AttemptResultKind::FailedFinal, None).unwrap();
        assert_eq!(timeout.doubles[0], 0.0, "no status came back");
        assert!(point(0, AttemptResultKind::HeldWhilePaused, None).is_none());
        assert!(point(3, AttemptResultKind::HeldWhilePaused, None).is_none());
    }
}
