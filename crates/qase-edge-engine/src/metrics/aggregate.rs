//! The D1 aggregates one scrape of `GET /metrics` reads, and their rows.
//! Each is one `GROUP BY` over a table, so a scrape costs one pass over
//! the retained `events`, `deliveries` and `runs` rows (see the README's
//! "Metrics"); the watched projects' figures come from the watchdog's own
//! statements ([`crate::alerts::watch::rows`] and
//! [`crate::alerts::watch::last_deliveries`]).

use std::borrow::Cow;

use serde::Deserialize;

use crate::runs::state::{RunState, RunStatus};
use crate::store::d1::Statement;
use crate::store::layout::DeliveryStatus;
use crate::store::types::EventStatus;

/// Stored events by project, event name and outcome, and the copies
/// received after each first one.
pub fn event_counts() -> Statement {
    Statement {
        sql: Cow::Borrowed(
            "SELECT project_code, event_name, outcome, COUNT(*) AS events, \
             SUM(duplicates) AS duplicates FROM events GROUP BY project_code, event_name, outcome",
        ),
        params: Vec::new(),
    }
}

/// A row of [`event_counts`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EventCount {
    /// The project code.
    pub project_code: String,
    /// The event name, as Qase sent it.
    pub event_name: String,
    /// Accepted or quarantined.
    pub outcome: EventStatus,
    /// Stored events.
    pub events: u64,
    /// Copies received after the first.
    pub duplicates: Option<u64>,
}

/// Delivery rows by destination and status, with their attempts and the
/// attempts after each first one (the retries).
pub fn delivery_counts() -> Statement {
    Statement {
        sql: Cow::Borrowed(
            "SELECT destination, status, COUNT(*) AS deliveries, SUM(attempts) AS attempts, \
             SUM(MAX(attempts - 1, 0)) AS retries FROM deliveries GROUP BY destination, status",
        ),
        params: Vec::new(),
    }
}

/// A row of [`delivery_counts`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct DeliveryCount {
    /// The destination.
    pub destination: String,
    /// Delivered, retrying or dead.
    pub status: DeliveryStatus,
    /// Rows.
    pub deliveries: u64,
    /// Their attempts.
    pub attempts: Option<u64>,
    /// Their attempts after the first.
    pub retries: Option<u64>,
}

/// Runs by project and status.
pub fn run_counts() -> Statement {
    Statement {
        sql: Cow::Borrowed(
            "SELECT project_code, status, COUNT(*) AS runs FROM runs GROUP BY project_code, status",
        ),
        params: Vec::new(),
    }
}

/// A row of [`run_counts`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RunCount {
    /// The project code.
    pub project_code: String,
    /// Where its runs stand.
    pub status: RunStatus,
    /// How many.
    pub runs: u64,
}

/// Per project, the state of its completed run with the latest event
/// (SQLite gives the bare columns of the row that holds the `MAX`).
pub fn last_completed_runs() -> Statement {
    Statement {
        sql: Cow::Borrowed(
            "SELECT project_code, state, MAX(last_event_at) AS at FROM runs \
             WHERE status = 'completed' GROUP BY project_code",
        ),
        params: Vec::new(),
    }
}

/// A row of [`last_completed_runs`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct LastRun {
    /// The project code.
    pub project_code: String,
    /// The run's [`RunState`] as JSON.
    pub state: String,
}

impl LastRun {
    /// Its pass rate as a ratio (0 to 1); `None` for a run without cases
    /// or a state this version cannot read.
    pub fn pass_ratio(&self) -> Option<f64> {
        let state: RunState = serde_json::from_str(&self.state).ok()?;
        let rate = state.end?.counts.pass_rate()?;
        Some(rate / 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::d1::{literals, placeholders_match};

    #[test]
    fn the_literals_are_the_enums_text_and_no_statement_has_parameters() {
        assert_eq!(
            literals(&last_completed_runs()),
            [RunStatus::Completed.as_str()]
        );
        for statement in [
            event_counts(),
            delivery_counts(),
            run_counts(),
            last_completed_runs(),
        ] {
            placeholders_match(&statement);
            if statement.sql != last_completed_runs().sql {
                assert!(literals(&statement).is_empty(), "{}", statement.sql);
            }
        }
    }

    #[test]
    fn an_unreadable_state_has_no_pass_ratio() {
        let row = LastRun {
            project_code: "WEB".into(),
            state: "{".into(),
        };
        assert_eq!(row.pass_ratio(), None);
    }
}
