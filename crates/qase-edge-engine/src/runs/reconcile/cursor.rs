//! A reconciled project's cursor between cron passes, and its
//! `reconcile_state` row (migrations/0005_reconcile.sql): what a pass
//! already checked, where a pass cut short goes on, and how long Qase
//! asked it to wait.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::store::d1::Statement;

/// A pass over a project's runs that has not reached its last page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassUnderWay {
    /// Its listing's `from_start_time` (Unix seconds).
    pub from: u64,
    /// The offset of its first run not yet checked.
    pub offset: u64,
    /// When it listed its first page (Unix seconds): what a completed pass
    /// has checked up to.
    pub started_at: u64,
}

/// A project's cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The project code.
    pub project: String,
    /// Runs that ended before this (Unix seconds, less
    /// [`super::CLOCK_SLACK_SECONDS`]) were checked by a completed pass;
    /// `None` before the first.
    pub checked_until: Option<u64>,
    /// A pass cut short (by the budget or a failure), to go on with.
    pub pass: Option<PassUnderWay>,
    /// No listing before this (Unix seconds): Qase's `Retry-After`.
    pub not_before: Option<u64>,
}

impl Cursor {
    /// A project's cursor before its first pass.
    pub fn new(project: &str) -> Cursor {
        Cursor {
            project: project.to_owned(),
            checked_until: None,
            pass: None,
            not_before: None,
        }
    }
}

/// A `reconcile_state` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CursorRow {
    /// The project code.
    pub project_code: String,
    /// See [`Cursor::checked_until`].
    pub checked_until: Option<u64>,
    /// See [`PassUnderWay::from`].
    pub pass_from: Option<u64>,
    /// See [`PassUnderWay::offset`].
    pub pass_offset: u64,
    /// See [`PassUnderWay::started_at`].
    pub pass_started_at: Option<u64>,
    /// See [`Cursor::not_before`].
    pub not_before: Option<u64>,
}

impl CursorRow {
    /// The cursor the row holds.
    pub fn cursor(&self) -> Cursor {
        let pass = match (self.pass_from, self.pass_started_at) {
            (Some(from), Some(started_at)) => Some(PassUnderWay {
                from,
                offset: self.pass_offset,
                started_at,
            }),
            _ => None,
        };
        Cursor {
            project: self.project_code.clone(),
            checked_until: self.checked_until,
            pass,
            not_before: self.not_before,
        }
    }
}

/// Every project's row (a handful: the reconciled projects).
pub fn rows() -> Statement {
    Statement {
        sql: Cow::Borrowed(
            "SELECT project_code, checked_until, pass_from, pass_offset, pass_started_at, not_before \
             FROM reconcile_state",
        ),
        params: Vec::new(),
    }
}

/// Stores a project's cursor at `now` (Unix ms).
pub fn upsert(cursor: &Cursor, now: u64) -> Statement {
    let pass = cursor.pass.as_ref();
    Statement {
        sql: Cow::Borrowed(
            "INSERT INTO reconcile_state (project_code, checked_until, pass_from, pass_offset, \
             pass_started_at, not_before, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
             ON CONFLICT (project_code) DO UPDATE SET checked_until = excluded.checked_until, \
             pass_from = excluded.pass_from, pass_offset = excluded.pass_offset, \
             pass_started_at = excluded.pass_started_at, not_before = excluded.not_before, \
             updated_at = excluded.updated_at",
        ),
        params: vec![
            cursor.project.as_str().into(),
            cursor.checked_until.into(),
            pass.map(|p| p.from).into(),
            pass.map_or(0, |p| p.offset).into(),
            pass.map(|p| p.started_at).into(),
            cursor.not_before.into(),
            now.into(),
        ],
    }
}
