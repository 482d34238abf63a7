//! The `runs` table's statements (migrations/0003_runs.sql): the write of
//! a run's state, its read, and the expiry with the sweep's retention. The
//! runs API's page query is [`crate::runs::api::RunsQuery`].

use std::borrow::Cow;

use serde::Deserialize;

use crate::runs::state::RunState;
use crate::store::d1::{Param, Statement};

/// Writes a run's state into D1, unless D1 already holds a newer version
/// (two writes of one run landing out of order keep the newest).
pub fn upsert(state: &RunState, now: u64) -> Statement {
    Statement {
        sql: Cow::Borrowed(
            "INSERT INTO runs (project_code, run_id, status, last_event_at, version, state, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT (project_code, run_id) DO UPDATE SET status = excluded.status, \
             last_event_at = excluded.last_event_at, version = excluded.version, \
             state = excluded.state, updated_at = excluded.updated_at \
             WHERE excluded.version > runs.version",
        ),
        params: vec![
            Param::Text(state.project.clone()),
            Param::Int(state.run as i64),
            Param::Text(state.status.as_str().to_owned()),
            Param::Int(state.last_event_at as i64),
            Param::Int(state.version as i64),
            Param::Text(serde_json::to_string(state).expect("a run state serialises")),
            Param::Int(now as i64),
        ],
    }
}

/// Deletes the runs not changed since `cutoff` (Unix ms), with the delivery
/// states of their reports: run with the sweep's retention.
pub fn delete_expired(cutoff: u64) -> [Statement; 2] {
    [
        Statement {
            sql: Cow::Borrowed(
                // A range of the primary key: the report ids (`rpt_...`, and `` ` `` follows `_`).
                "DELETE FROM deliveries WHERE event_id >= 'rpt_' AND event_id < 'rpt`' AND updated_at < ?1",
            ),
            params: vec![Param::Int(cutoff as i64)],
        },
        Statement {
            sql: Cow::Borrowed("DELETE FROM runs WHERE updated_at < ?1"),
            params: vec![Param::Int(cutoff as i64)],
        },
    ]
}

/// A `runs` row as read back: the state's JSON.
#[derive(Debug, Clone, Deserialize)]
pub struct RunRow {
    /// The [`RunState`] as JSON.
    pub state: String,
}

impl RunRow {
    /// The state (`None` for a row this version cannot read).
    pub fn state(&self) -> Option<RunState> {
        serde_json::from_str(&self.state).ok()
    }
}

/// One run's row.
pub fn select_run(project: &str, run: u64) -> Statement {
    Statement {
        sql: Cow::Borrowed("SELECT state FROM runs WHERE project_code = ?1 AND run_id = ?2"),
        params: vec![Param::Text(project.to_owned()), Param::Int(run as i64)],
    }
}
