//! The audit log (`migrations/0007_audit.sql`): which calls are recorded
//! ([`action`]: every state-changing route, one typed list), the row each
//! writes, `GET /api/audit`'s pages, and the sweep's delete past the
//! retention. No statement here deletes a row any younger: the log is
//! append-only for every route.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::api::auth::{Credential, Principal, Role};
use crate::api::params::ParamError;
use crate::http::routes::Route;
use crate::store::d1::Statement;

/// The most of a call's target (id, query and body) kept, in bytes.
pub const MAX_TARGET_BYTES: usize = 1024;

/// Rows a page holds by default, and at most.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;

/// A state-changing call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// `POST /api/events/{id}/replay`
    ReplayEvent,
    /// `DELETE /api/events/{id}`
    DeleteEvent,
    /// `POST /api/dead-letters/{id}/replay`
    ReplayDeadLetter,
    /// `POST /api/replay` (a dry run included: it is part of a replay)
    BulkReplay,
    /// `POST /api/migrate-kv`
    MigrateKv,
    /// `POST /api/destinations/{name}/pause`
    PauseDestination,
    /// `POST /api/destinations/{name}/resume`
    ResumeDestination,
}

impl Action {
    fn as_str(self) -> &'static str {
        match self {
            Action::ReplayEvent => "replay_event",
            Action::DeleteEvent => "delete_event",
            Action::ReplayDeadLetter => "replay_dead_letter",
            Action::BulkReplay => "bulk_replay",
            Action::MigrateKv => "migrate_kv",
            Action::PauseDestination => "pause_destination",
            Action::ResumeDestination => "resume_destination",
        }
    }

    /// Whether the target includes the request's body (the filter of a
    /// bulk replay, the destinations of a replay).
    pub fn reads_body(self) -> bool {
        matches!(
            self,
            Action::BulkReplay | Action::ReplayEvent | Action::MigrateKv
        )
    }
}

/// The action a route records; `None` for the reads.
pub const fn action(route: Route) -> Option<Action> {
    match route {
        Route::ReplayEvent => Some(Action::ReplayEvent),
        Route::DeleteEvent => Some(Action::DeleteEvent),
        Route::ReplayDeadLetter => Some(Action::ReplayDeadLetter),
        Route::BulkReplay => Some(Action::BulkReplay),
        Route::MigrateKv => Some(Action::MigrateKv),
        Route::PauseDestination => Some(Action::PauseDestination),
        Route::ResumeDestination => Some(Action::ResumeDestination),
        Route::Ingest
        | Route::Health
        | Route::OpenApi
        | Route::Me
        | Route::ListEvents
        | Route::GetEvent
        | Route::GetEventBody
        | Route::ListDeadLetters
        | Route::Stats
        | Route::Export
        | Route::ListRuns
        | Route::GetRun
        | Route::WaitRun
        | Route::ListDestinations
        | Route::ListAudit
        | Route::Metrics => None,
    }
}

/// What a call was about: the route's id or name, then its query and its
/// body when it has them, cut to [`MAX_TARGET_BYTES`] (on a character).
pub fn target(id: Option<&str>, query: Option<&str>, body: Option<&str>) -> String {
    let mut parts = Vec::new();
    parts.extend(id.filter(|s| !s.is_empty()));
    parts.extend(
        query
            .filter(|s| !s.is_empty())
            .map(|q| q.trim_start_matches('?')),
    );
    parts.extend(body.map(str::trim).filter(|s| !s.is_empty()));
    let mut text = parts.join(" ");
    if text.len() > MAX_TARGET_BYTES {
        let mut end = MAX_TARGET_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

fn credential(credential: Credential) -> &'static str {
    match credential {
        Credential::AdminToken => "admin_token",
        Credential::ApiToken => "api_token",
        Credential::AccessUser => "access_user",
        Credential::AccessService => "access_service",
    }
}

/// The row of one call, answered with `status` at `at` (Unix ms).
pub fn insert(
    principal: &Principal,
    action: Action,
    target: &str,
    status: u16,
    at: u64,
) -> Statement {
    Statement {
        sql: Cow::Borrowed(
            "INSERT INTO audit (at, actor, credential, role, action, target, status) \
              VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        ),
        params: vec![
            at.into(),
            principal.name.as_str().into(),
            credential(principal.credential).into(),
            principal.role.as_str().into(),
            action.as_str().into(),
            target.into(),
            u64::from(status).into(),
        ],
    }
}

/// A row as `GET /api/audit` answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRow {
    /// Its place in the log.
    pub id: u64,
    /// When, Unix ms.
    pub at: u64,
    /// Who.
    pub actor: String,
    /// Through what.
    pub credential: Credential,
    /// With which role.
    pub role: Role,
    /// What.
    pub action: Action,
    /// On what.
    pub target: String,
    /// The status answered.
    pub status: u16,
}

/// `GET /api/audit`: newest first, a page at a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    /// The rows.
    pub entries: Vec<AuditRow>,
    /// Pass it as `cursor` for the next page; `None`: the last page.
    pub cursor: Option<String>,
}

/// `GET /api/audit`'s parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditQuery {
    /// Rows a page.
    pub limit: usize,
    /// Rows before this id.
    pub before: Option<u64>,
}

impl AuditQuery {
    /// Reads `limit` (1 to 500, 50) and `cursor`; anything else is refused.
    pub fn parse(pairs: Vec<(String, String)>) -> Result<AuditQuery, ParamError> {
        let bad = |param: &str, problem: &str| ParamError {
            param: param.to_owned(),
            problem: problem.to_owned(),
        };
        let mut query = AuditQuery {
            limit: DEFAULT_LIMIT,
            before: None,
        };
        for (key, value) in pairs {
            match key.as_str() {
                "limit" => {
                    query.limit = value
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| bad("limit", "must be a whole number from 1 to 500"))?;
                }
                "cursor" => {
                    query.before = Some(
                        value
                            .parse()
                            .map_err(|_| bad("cursor", "must be a cursor this route returned"))?,
                    );
                }
                _ => {
                    return Err(bad(
                        &key,
                        "is not a parameter of this route (limit, cursor)",
                    ))
                }
            }
        }
        Ok(query)
    }

    /// The page's rows and one more (to tell whether another page follows).
    pub fn statement(&self) -> Statement {
        Statement {
            sql: Cow::Borrowed(
                "SELECT id, at, actor, credential, role, action, target, status FROM audit \
                  WHERE ?1 IS NULL OR id < ?1 ORDER BY id DESC LIMIT ?2",
            ),
            params: vec![self.before.into(), ((self.limit + 1) as u64).into()],
        }
    }

    /// The page of `rows` (as [`AuditQuery::statement`] returned them).
    pub fn page(&self, mut rows: Vec<AuditRow>) -> AuditPage {
        let more = rows.len() > self.limit;
        rows.truncate(self.limit);
        let cursor = more
            .then(|| rows.last().map(|r| r.id.to_string()))
            .flatten();
        AuditPage {
            entries: rows,
            cursor,
        }
    }
}

/// Rows older than the retention's cutoff (Unix ms, the events' own): the
/// sweep's only delete of the log.
pub fn delete_expired(before: u64) -> Statement {
    Statement {
        sql: Cow::Borrowed("DELETE FROM audit WHERE at < ?1"),
        params: vec![before.into()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::routes::ROUTES;

    #[test]
    fn every_state_changing_route_is_recorded_and_no_read() {
        for (method, path, route) in ROUTES {
            let writes = *method != "GET" && path.starts_with("/api/");
            assert_eq!(action(*route).is_some(), writes, "{method} {path}");
        }
    }

    #[test]
    fn the_target_joins_id_query_and_body_and_is_cut_on_a_character() {
        assert_eq!(target(Some("evt_1"), None, None), "evt_1");
        assert_eq!(
            target(Some("evt_1"), Some("?destination=ci"), Some(" {} ")),
            "evt_1 destination=ci {}"
        );
        assert_eq!(target(None, Some(""), Some("")), "");
        let long = "é".repeat(MAX_TARGET_BYTES);
        let cut = target(None, None, Some(&long));
        assert!(cut.len() <= MAX_TARGET_BYTES && cut.len() > MAX_TARGET_BYTES - 2);
        assert!(cut.chars().all(|c| c == 'é'));
    }

    #[test]
    fn the_query_takes_a_limit_and_a_cursor_only() {
        let parse = |pairs: &[(&str, &str)]| {
            AuditQuery::parse(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        };
        assert_eq!(
            parse(&[]),
            Ok(AuditQuery {
                limit: 50,
                before: None
            })
        );
        assert_eq!(
            parse(&[("limit", "2"), ("cursor", "9")]),
            Ok(AuditQuery {
                limit: 2,
                before: Some(9)
            })
        );
        for (key, value) in [
            ("limit", "0"),
            ("limit", "501"),
            ("cursor", "x"),
            ("project", "WEB"),
        ] {
            assert_eq!(parse(&[(key, value)]).unwrap_err().param, key);
        }
    }
}
