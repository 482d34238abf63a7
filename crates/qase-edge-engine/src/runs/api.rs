//! The runs API (`GET /api/runs`, `/api/runs/{project}/{id}` and its
//! wait route), as rules: parameters, the page query and its cursor (the
//! same opaque form as every cursor of the API: [`crate::api::params`]),
//! and the views. Carried out by `qase_edge::runs::api`.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;
use qase_webhooks::run_report::{run_url, Failures, RunCounts, RunOutcome};
use serde::{Deserialize, Serialize};

use crate::api::params::{decode_cursor, encode_cursor, ParamError, MAX_ID};
use crate::config::Config;
use crate::runs::details::RunDetails;
use crate::runs::report::{self, RunKey};
use crate::runs::state::{EndSource, ReportState, ResultCounts, RunState, RunStatus};
use crate::store::d1::{Param, Statement};
use crate::text::must_be;

/// `GET /api/runs`: a project's runs, the most recent event first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunsQuery {
    /// The project code.
    pub project: String,
    /// Only runs with this status.
    pub status: Option<RunStatus>,
    /// Runs per page (1 to 200, default 50).
    pub limit: u32,
    /// Continue after this run.
    pub cursor: Option<RunCursor>,
}

/// Where a page of runs ends: the last run's sort key. Handed out in the
/// one opaque form of every cursor of the API ([`encode_cursor`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunCursor {
    /// The last run's latest event, in Unix milliseconds.
    #[serde(rename = "t")]
    pub at: u64,
    /// The last run's id.
    #[serde(rename = "r")]
    pub run: u64,
}

impl RunCursor {
    /// The cursor as the API hands it out.
    pub fn encode(&self) -> String {
        encode_cursor(self)
    }

    /// A cursor this API handed out, or `None`; its numbers are bound into
    /// the query, so they are held to JavaScript's safe integers.
    pub fn decode(text: &str) -> Option<RunCursor> {
        let cursor: RunCursor = decode_cursor(text)?;
        let fits = cursor.at <= MAX_ID && cursor.run <= MAX_ID;
        fits.then_some(cursor)
    }
}

fn bad(param: &str, problem: &str) -> ParamError {
    ParamError {
        param: param.to_owned(),
        problem: problem.to_owned(),
    }
}

impl RunsQuery {
    /// Parses the query string's pairs.
    pub fn parse(pairs: Vec<(String, String)>) -> Result<RunsQuery, ParamError> {
        let mut query = RunsQuery {
            project: String::new(),
            status: None,
            limit: 50,
            cursor: None,
        };
        for (key, value) in pairs {
            match key.as_str() {
                "project" => query.project = parse_project(&value)?,
                "status" => {
                    query.status = Some(
                        RunStatus::parse(&value)
                            .ok_or_else(|| bad("status", &must_be(&RunStatus::NAMES)))?,
                    )
                }
                "limit" => {
                    query.limit = value
                        .parse()
                        .ok()
                        .filter(|limit| (1..=200).contains(limit))
                        .ok_or_else(|| bad("limit", "must be a whole number from 1 to 200"))?
                }
                "cursor" => {
                    query.cursor = Some(
                        RunCursor::decode(&value)
                            .ok_or_else(|| bad("cursor", "is not a cursor this API returned"))?,
                    )
                }
                other => return Err(bad(other, "is not a parameter of this route")),
            }
        }
        if query.project.is_empty() {
            return Err(bad("project", "is required: the project code, e.g. `WEB`"));
        }
        Ok(query)
    }

    /// The page's statement: one more row than the limit, to know whether
    /// another page follows.
    pub fn statement(&self) -> Statement {
        let mut sql = String::from("SELECT state FROM runs WHERE project_code = ?1");
        let mut params = vec![Param::Text(self.project.clone())];
        if let Some(status) = self.status {
            params.push(Param::Text(status.as_str().to_owned()));
            sql.push_str(&format!(" AND status = ?{}", params.len()));
        }
        if let Some(RunCursor { at, run }) = self.cursor {
            params.push(Param::Int(at as i64));
            let at_param = params.len();
            params.push(Param::Int(run as i64));
            sql.push_str(&format!(
                " AND (last_event_at < ?{at_param} OR (last_event_at = ?{at_param} AND run_id < ?{}))",
                params.len()
            ));
        }
        params.push(Param::Int(i64::from(self.limit) + 1));
        sql.push_str(&format!(
            " ORDER BY last_event_at DESC, run_id DESC LIMIT ?{}",
            params.len()
        ));
        Statement {
            sql: Cow::Owned(sql),
            params,
        }
    }

    /// The page from the rows read (at most `limit + 1`) and the next cursor.
    pub fn page(&self, mut states: Vec<RunState>) -> (Vec<RunState>, Option<String>) {
        let more = states.len() > self.limit as usize;
        states.truncate(self.limit as usize);
        let cursor = more
            .then(|| {
                states.last().map(|s| {
                    RunCursor {
                        at: s.last_event_at,
                        run: s.run,
                    }
                    .encode()
                })
            })
            .flatten();
        (states, cursor)
    }
}

/// A project code from a path or a parameter (1 to 64 characters).
pub fn parse_project(text: &str) -> Result<String, ParamError> {
    let project = text.trim();
    if project.is_empty() || project.chars().count() > 64 {
        return Err(bad(
            "project",
            "must be a project code of 1 to 64 characters",
        ));
    }
    Ok(project.to_owned())
}

/// What a run id must be: one JavaScript reads exactly, as every run id
/// the API lists is (see [`crate::runs::state::fact_of`]).
const RUN_ID_PROBLEM: &str = "must be a run id: a whole number from 0 to 9007199254740991";

/// The `{project}/{id}` of a run route (`WEB/42`, still percent-encoded).
pub fn parse_run_path(path: &str) -> Result<RunKey, ParamError> {
    let (project, run) = path
        .rsplit_once('/')
        .ok_or_else(|| bad("id", "must be /api/runs/{project}/{id}"))?;
    let project = percent_decode(project).ok_or_else(|| bad("project", "is not valid UTF-8"))?;
    Ok(RunKey {
        project: parse_project(&project)?,
        run: run
            .parse()
            .ok()
            .filter(|run| *run <= qase_webhooks::MAX_SAFE_INTEGER)
            .ok_or_else(|| bad("id", RUN_ID_PROBLEM))?,
    })
}

/// `text` percent-decoded; `None` when a `%` not at the end is not
/// followed by two hex digits, or the bytes are not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let malformed = (0..bytes.len().saturating_sub(2)).any(|i| {
        bytes[i] == b'%' && !(bytes[i + 1].is_ascii_hexdigit() && bytes[i + 2].is_ascii_hexdigit())
    });
    if malformed {
        return None;
    }
    percent_decode_str(text)
        .decode_utf8()
        .ok()
        .map(Cow::into_owned)
}

/// The longest a single wait request is held open, in seconds; a gate
/// waiting longer (`qase-hook wait --timeout 30m`) asks again.
pub const MAX_WAIT_SECONDS: u64 = 300;

/// `timeout` of the wait route: whole seconds, 0 to 300 (default 60).
pub fn parse_wait(pairs: Vec<(String, String)>) -> Result<u64, ParamError> {
    let mut timeout = 60;
    for (key, value) in pairs {
        match key.as_str() {
            "timeout" => {
                timeout = value
                    .parse()
                    .ok()
                    .filter(|seconds| *seconds <= MAX_WAIT_SECONDS)
                    .ok_or_else(|| bad("timeout", "must be whole seconds from 0 to 300"))?
            }
            other => return Err(bad(other, "is not a parameter of this route")),
        }
    }
    Ok(timeout)
}

/// A run as the API shows it (and `qase-hook` reads it back).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunView {
    /// The project code.
    pub project: String,
    /// The run id.
    pub run: u64,
    /// `unknown`, `started`, `completed` or `aborted`.
    pub status: RunStatus,
    /// Whether the run has ended (completed or aborted).
    pub done: bool,
    /// The title, from `run.started`.
    pub title: Option<String>,
    /// The plan, from `run.started`.
    pub plan_id: Option<u64>,
    /// The environment, from `run.started`.
    pub environment: Option<String>,
    /// Who started it.
    pub started_by: Option<u64>,
    /// The counts of its end: Qase's API's once read there (`details`),
    /// else its end event's.
    pub counts: Option<RunCounts>,
    /// Passed in percent of all cases, one decimal.
    pub pass_rate: Option<f64>,
    /// `counts.duration` read as milliseconds (Qase's user docs).
    pub duration_ms: Option<u64>,
    /// Qase's timestamp of its first and last event (Unix seconds); `null` before any.
    pub first_event_at: Option<u64>,
    /// See `first_event_at`.
    pub last_event_at: Option<u64>,
    /// Distinct `run.*` events received.
    pub run_events: u64,
    /// Distinct `result.*` events received, by action.
    pub results: ResultCounts,
    /// Whether `run.deleted` arrived.
    pub deleted: bool,
    /// The failed and blocked cases, once fetched from Qase's API.
    pub failures: Option<Failures>,
    /// Whether the report has been sent to the report destinations.
    pub report_sent: bool,
    /// Who told its end: `webhook`, or `reconciled` (a reconcile pass read
    /// it from Qase's REST API); `null` before its end.
    pub source: Option<EndSource>,
    /// Whether a reconcile pass applied its end (even if a webhook's end
    /// arrived after it).
    pub reconciled: bool,
    /// Its full facts from Qase's REST API (every status count, the tags,
    /// the milestone), once read.
    pub details: Option<RunDetails>,
    /// Whether the run has ended and its details from Qase's API are still
    /// to come (only with `QASE_API_TOKEN`): a CI gate waits a little for
    /// them, so that it counts what Qase counts. (Absent from the answers
    /// of versions before it: read as `false`.)
    #[serde(default)]
    pub details_pending: bool,
    /// The run's page in Qase.
    pub url: String,
}

/// The API's view of a run.
pub fn view(state: &RunState, config: &Config) -> RunView {
    let counts = report::counts_of(state);
    let finished_details = state.details.as_ref().is_some_and(|d| d.finished);
    let details_pending = config.runs.api.is_some()
        && state.status.is_final()
        && !finished_details
        && state.report == ReportState::NotSent;
    let seen = state.last_event_at > 0 || state.first_event_at != u64::MAX;
    RunView {
        project: state.project.clone(),
        run: state.run,
        status: state.status,
        done: state.status.is_final(),
        title: state.title.clone(),
        plan_id: state.plan_id,
        environment: state.environment.clone(),
        started_by: state.started_by,
        counts,
        pass_rate: counts.and_then(|c| c.pass_rate()),
        duration_ms: counts.map(|c| c.duration),
        first_event_at: seen.then_some(state.first_event_at),
        last_event_at: seen.then_some(state.last_event_at),
        run_events: state.run_events,
        results: state.results,
        deleted: state.deleted,
        failures: state.failures.clone(),
        report_sent: matches!(state.report, ReportState::Taken { .. }),
        source: state.end.as_ref().map(|end| end.source),
        reconciled: state.reconciled,
        details: state.details.clone(),
        details_pending,
        url: run_url(&config.delivery.app_url, &state.project, state.run),
    }
}

/// The outcome a finished run's view reports, for the CI gate.
pub fn outcome(state: &RunState) -> Option<RunOutcome> {
    state.end.as_ref().map(|end| end.outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::report::tests::ended_state;

    #[test]
    fn the_runs_listing_pages_by_last_event_then_run() {
        let query = RunsQuery::parse(vec![
            ("project".into(), "WEB".into()),
            ("status".into(), "completed".into()),
            ("limit".into(), "2".into()),
            ("cursor".into(), RunCursor { at: 200, run: 42 }.encode()),
        ])
        .unwrap();
        let statement = query.statement();
        assert!(statement.sql.contains("status = ?2"));
        assert!(statement
            .sql
            .contains("last_event_at < ?3 OR (last_event_at = ?3 AND run_id < ?4)"));
        assert!(statement.sql.ends_with("LIMIT ?5"));
        assert_eq!(statement.params.last(), Some(&Param::Int(3)));
        let mut a = ended_state();
        a.run = 1;
        let (page, cursor) = query.page(vec![a.clone(), a.clone(), a]);
        let next = cursor.as_deref().and_then(RunCursor::decode);
        assert_eq!((page.len(), next), (2, Some(RunCursor { at: 200, run: 1 })));
        for bad in [
            vec![],
            vec![
                ("project".into(), "WEB".into()),
                ("limit".into(), "0".into()),
            ],
            vec![
                ("project".into(), "WEB".into()),
                ("cursor".into(), "x".into()),
            ],
            vec![
                ("project".into(), "WEB".into()),
                ("status".into(), "done".into()),
            ],
            vec![
                ("project".into(), "WEB".into()),
                ("other".into(), "1".into()),
            ],
        ] {
            assert!(RunsQuery::parse(bad).is_err());
        }
    }

    #[test]
    fn run_paths_decode_percent_escapes_and_refuse_broken_ones() {
        assert_eq!(percent_decode("W%45B").as_deref(), Some("WEB"));
        assert_eq!(percent_decode("%C3%A9").as_deref(), Some("é"));
        assert_eq!(
            percent_decode("WEB%").as_deref(),
            Some("WEB%"),
            "too short: as is"
        );
        assert_eq!(percent_decode("%zzA"), None);
        assert_eq!(percent_decode("%FF"), None, "not UTF-8");
    }

    #[test]
    fn run_paths_and_wait_timeouts_are_checked() {
        assert_eq!(
            parse_run_path("WEB/42").unwrap(),
            RunKey {
                project: "WEB".into(),
                run: 42
            }
        );
        assert_eq!(parse_run_path("A%20B/1").unwrap().project, "A B");
        assert_eq!(parse_run_path("WEB/x").unwrap_err().param, "id");
        assert_eq!(
            parse_run_path("WEB/9007199254740992").unwrap_err().param,
            "id"
        );
        assert_eq!(parse_wait(vec![]).unwrap(), 60);
        assert_eq!(parse_wait(vec![("timeout".into(), "0".into())]).unwrap(), 0);
        assert!(parse_wait(vec![("timeout".into(), "301".into())]).is_err());
    }

    #[test]
    fn the_view_shows_the_run_and_nothing_before_its_events() {
        let config = crate::runs::report::tests::config("[]", &[]);
        let view = view(&ended_state(), &config);
        assert!(view.done);
        assert_eq!(
            (view.first_event_at, view.last_event_at),
            (Some(100), Some(200))
        );
        assert_eq!(view.pass_rate, Some(66.7));
        assert_eq!(
            (view.source, view.reconciled),
            (Some(EndSource::Webhook), false)
        );
        assert!(
            !view.details_pending,
            "no API token: no details to wait for"
        );
        let empty = super::view(&crate::runs::state::empty("WEB", 1), &config);
        assert_eq!(
            (empty.status, empty.done, empty.first_event_at),
            (RunStatus::Unknown, false, None)
        );
    }
}
