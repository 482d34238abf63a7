//! Run reports and the runs API, as rules: when a report is due, who gets
//! it, what it says, which of Qase's documented REST endpoints the consumer
//! calls to list the failed and blocked cases (and how it reads their
//! answers), the `runs` table's statements and the API's views and
//! parameters. The state itself is [`crate::runs::state`]; the shell carries these
//! out in `shell::run_reports` (the consumer), `shell::run_watch` (the
//! Durable Object) and `shell::runs_api`.
//!
//! A report is sent once per run, after `QASE_RUN_SETTLE_SECONDS`: the
//! consumer that applies a run's end sends a delayed [`RunReportDue`]
//! message; the consumer of that message fetches the failures (when
//! `QASE_API_TOKEN` is set, never while Qase waits for an answer), takes
//! the report from the run's object (only one message may:
//! [`crate::runs::state::take_report`]) and queues one delivery per subscribed
//! destination, which then goes through the ordinary delivery path:
//! retries, backoff, pacing and dead letters, `webhook-id` the report id.

use std::borrow::Cow;

use qase_webhooks::run_report::{
    case_url, run_url, Failure, FailureSource, FailureStatus, Failures, RunCounts, RunOutcome,
    RunReport, RUN_REPORT_EVENT, RUN_REPORT_VERSION,
};
use qase_webhooks::{EventId, EVENT_ID_PREFIX};
use serde::{Deserialize, Serialize};

use crate::api::params::ParamError;
use crate::config::bindings;
use crate::config::{Config, ConfigError, Destination, Format, MAX_RETRY_SECONDS};
use crate::delivery::messages::QueuedDelivery;
use crate::runs::state::{ReportState, ResultCounts, RunFact, RunFactKind, RunState, RunStatus};
use crate::store::d1::{Param, Statement};

/// Qase's REST API, v1, as documented (api.qase.io; the EU region and
/// self-hosted installations have their own host).
pub const DEFAULT_API_URL: &str = "https://api.qase.io/v1";

/// Seconds between a run's end and its report by default: Qase sends the
/// run's last result events around `run.completed`, in any order.
pub const DEFAULT_SETTLE_SECONDS: u64 = 60;

/// Cases listed in a report (and fetched from Qase for their titles: one
/// request each, within Workers' 50 subrequests per invocation together
/// with the two result listings).
pub const MAX_LISTED_FAILURES: usize = 20;

/// Results per listing request (Qase's `limit` allows up to 100).
pub const RESULTS_PAGE: u32 = 100;

/// Run reports and Qase's REST API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSettings {
    /// Qase's REST API, when a token is set.
    pub api: Option<QaseApi>,
    /// Seconds between a run's end and its report.
    pub settle_seconds: u64,
}

impl Default for RunSettings {
    fn default() -> RunSettings {
        RunSettings {
            api: None,
            settle_seconds: DEFAULT_SETTLE_SECONDS,
        }
    }
}

/// Where and how to call Qase's REST API.
#[derive(Clone, PartialEq, Eq)]
pub struct QaseApi {
    /// The base URL, without a trailing slash (`https://api.qase.io/v1`).
    pub base_url: String,
    /// The API token (`Token` header).
    pub token: String,
}

impl std::fmt::Debug for QaseApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QaseApi")
            .field("base_url", &self.base_url)
            .field("token", &"[redacted]")
            .finish()
    }
}

impl RunSettings {
    /// Reads `QASE_API_TOKEN`, `QASE_API_URL` and `QASE_RUN_SETTLE_SECONDS`.
    pub fn read(get: &impl Fn(&str) -> Option<String>) -> Result<RunSettings, ConfigError> {
        let invalid = |key: &'static str, problem: &str| ConfigError {
            key,
            problem: problem.to_owned(),
        };
        let base_url = match get(bindings::API_URL) {
            None => DEFAULT_API_URL.to_owned(),
            Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
                url.trim().trim_end_matches('/').to_owned()
            }
            Some(_) => {
                return Err(invalid(
                    bindings::API_URL,
                    "must be an http:// or https:// URL",
                ))
            }
        };
        let settle_seconds = match get(bindings::RUN_SETTLE_SECONDS) {
            None => DEFAULT_SETTLE_SECONDS,
            Some(text) => text
                .trim()
                .parse()
                .ok()
                .filter(|seconds| *seconds <= MAX_RETRY_SECONDS)
                .ok_or_else(|| {
                    invalid(
                        bindings::RUN_SETTLE_SECONDS,
                        "must be a whole number from 0 to 43200 (the queue's longest delay)",
                    )
                })?,
        };
        let api = get(bindings::API_TOKEN).map(|token| QaseApi {
            base_url,
            token: token.trim().to_owned(),
        });
        Ok(RunSettings {
            api,
            settle_seconds,
        })
    }
}

/// The queue message that makes a run's report, delayed by the settle time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReportDue {
    /// The run.
    pub run_report: RunKey,
}

/// A run's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunKey {
    /// The project code.
    pub project: String,
    /// The run id.
    pub run: u64,
}

/// Whether anything needs a run's report: a destination asks for reports
/// in its project, or the failures are to be fetched for the API.
pub fn reports_wanted(config: &Config, project: &str) -> bool {
    config.runs.api.is_some() || !report_destinations(config, project).is_empty()
}

/// Whether the consumer that applied `fact` sends the run's report message:
/// the fact is an end, the run has ended and its report has not been taken.
/// Said again for an end applied before (a retried message), so that a
/// message lost after the object stored the end is sent by the retry; the
/// take makes extra messages harmless.
pub fn report_due(fact: &RunFact, state: &RunState, wanted: bool) -> bool {
    wanted
        && matches!(fact.kind, RunFactKind::Ended { .. })
        && state.status.is_final()
        && state.report == ReportState::NotSent
}

/// The enabled destinations with `"reports": true` whose projects include `project`.
pub fn report_destinations<'c>(config: &'c Config, project: &str) -> Vec<&'c Destination> {
    config
        .destinations
        .iter()
        .filter(|d| d.enabled && d.reports && d.filter.matches_project(project))
        .collect()
}

/// A run's report id, stable for the run: `rpt_` and 32 hex digits.
pub fn report_id(project: &str, run: u64) -> String {
    let id = EventId::of(format!("run-report:{project}/{run}").as_bytes()).to_string();
    format!("rpt_{}", &id[EVENT_ID_PREFIX.len()..])
}

/// The report of an ended run (`None` while it has not ended).
pub fn report(state: &RunState, app_url: &str) -> Option<RunReport> {
    let end = state.end.as_ref()?;
    Some(RunReport {
        kind: RUN_REPORT_EVENT.to_owned(),
        version: RUN_REPORT_VERSION,
        id: report_id(&state.project, state.run),
        project: state.project.clone(),
        run: state.run,
        outcome: end.outcome,
        title: state.title.clone(),
        plan_id: state.plan_id,
        started_by: state.started_by,
        counts: end.counts,
        pass_rate: end.counts.pass_rate(),
        duration_ms: end.counts.duration,
        first_event_at: state.first_event_at,
        last_event_at: state.last_event_at,
        results_received: state.results.total(),
        failures: state.failures.clone().unwrap_or(Failures {
            source: FailureSource::None,
            items: Vec::new(),
            more: 0,
        }),
        url: run_url(app_url, &state.project, state.run),
    })
}

/// One delivery message per report destination, each for that destination
/// only, so that each is retried on its own like any delivery.
pub fn report_messages(
    report: &RunReport,
    destinations: &[&Destination],
    now: u64,
) -> Vec<QueuedDelivery> {
    let body = serde_json::to_string(report).expect("a report serialises");
    destinations
        .iter()
        .map(|destination| QueuedDelivery {
            destination: Some(destination.name.clone()),
            ..QueuedDelivery::new(
                report.id.clone(),
                RUN_REPORT_EVENT.to_owned(),
                report.project.clone(),
                now,
                body.as_bytes(),
                false,
            )
        })
        .collect()
}

/// The body a destination is sent for a queued delivery: a report's
/// document (`standard`) or its chat message; any other event's as
/// [`crate::delivery::attempt::request_body`] says.
pub fn delivery_body(
    destination: &Destination,
    message: &QueuedDelivery,
    body: &[u8],
    app_url: &str,
) -> Option<Vec<u8>> {
    if message.event_name != RUN_REPORT_EVENT {
        return crate::delivery::attempt::request_body(destination, body, app_url);
    }
    match destination.format {
        Format::Standard => Some(body.to_vec()),
        Format::Chat(format) => {
            let report: RunReport = serde_json::from_slice(body).ok()?;
            serde_json::to_vec(&qase_webhooks::chat::render_report(format, &report)).ok()
        }
    }
}

/// A request to Qase's REST API: `GET` this URL with the `Token` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRequest {
    /// The full URL.
    pub url: String,
}

/// The documented endpoint "Get all test run results"
/// (`GET /result/{code}?run=&status=&limit=&offset=`): one status at a
/// time (the parameter takes "a single test run result status").
pub fn results_request(
    api: &QaseApi,
    project: &str,
    run: u64,
    status: FailureStatus,
) -> ApiRequest {
    let status = match status {
        FailureStatus::Failed => "failed",
        FailureStatus::Blocked => "blocked",
    };
    ApiRequest {
        url: format!(
            "{}/result/{}?run={run}&status={status}&limit={RESULTS_PAGE}&offset=0",
            api.base_url,
            path_segment(project)
        ),
    }
}

/// The documented endpoint "Get a specific test case" (`GET /case/{code}/{id}`).
pub fn case_request(api: &QaseApi, project: &str, case: u64) -> ApiRequest {
    ApiRequest {
        url: format!("{}/case/{}/{case}", api.base_url, path_segment(project)),
    }
}

fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A page of "Get all test run results": `{"status": true, "result":
/// {"total", "filtered", "count", "entities": [{"case_id", "status", ...}]}}`.
#[derive(Debug, Clone, Deserialize)]
struct ResultList {
    result: ResultPage,
}

#[derive(Debug, Clone, Deserialize)]
struct ResultPage {
    #[serde(default)]
    filtered: Option<u64>,
    #[serde(default)]
    total: Option<u64>,
    #[serde(default)]
    entities: Vec<ResultEntity>,
}

#[derive(Debug, Clone, Deserialize)]
struct ResultEntity {
    #[serde(default)]
    case_id: Option<u64>,
}

/// The cases of one result listing and how many results matched in all;
/// `None` when the answer is not the documented shape.
pub fn parse_results(body: &[u8]) -> Option<(Vec<u64>, u64)> {
    let list: ResultList = serde_json::from_slice(body).ok()?;
    let cases: Vec<u64> = list
        .result
        .entities
        .iter()
        .filter_map(|entity| entity.case_id)
        .collect();
    let matched = list
        .result
        .filtered
        .or(list.result.total)
        .unwrap_or(cases.len() as u64)
        .max(cases.len() as u64);
    Some((cases, matched))
}

/// The title in "Get a specific test case"'s answer
/// (`{"status": true, "result": {"id", "title", ...}}`).
pub fn parse_case_title(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Case {
        result: CaseResult,
    }
    #[derive(Deserialize)]
    struct CaseResult {
        title: String,
    }
    serde_json::from_slice::<Case>(body)
        .ok()
        .map(|case| case.result.title)
}

/// The distinct failed and blocked cases of a run from its two listings
/// (failed first; a case both failed and blocked counts as failed), and how
/// many results matched beyond the distinct cases listed.
pub fn failed_cases(
    failed: &(Vec<u64>, u64),
    blocked: &(Vec<u64>, u64),
) -> (Vec<(u64, FailureStatus)>, u64) {
    let mut cases: Vec<(u64, FailureStatus)> = Vec::new();
    for (list, status) in [
        (failed, FailureStatus::Failed),
        (blocked, FailureStatus::Blocked),
    ] {
        let mut ids = list.0.clone();
        ids.sort_unstable();
        for id in ids {
            if !cases.iter().any(|(case, _)| *case == id) {
                cases.push((id, status));
            }
        }
    }
    // Results beyond the first page are known only by their count.
    let unseen = failed.1.saturating_sub(failed.0.len() as u64)
        + blocked.1.saturating_sub(blocked.0.len() as u64);
    let listed = cases.len().min(MAX_LISTED_FAILURES);
    let beyond = (cases.len() - listed) as u64 + unseen;
    cases.truncate(listed);
    (cases, beyond)
}

/// The failures of a report: the listed cases with the titles fetched
/// (`None` where a title could not be).
pub fn failures(
    cases: &[(u64, FailureStatus)],
    titles: &[Option<String>],
    more: u64,
    project: &str,
    app_url: &str,
) -> Failures {
    Failures {
        source: FailureSource::QaseApi,
        items: cases
            .iter()
            .zip(titles.iter().chain(std::iter::repeat(&None)))
            .map(|((case_id, status), title)| Failure {
                case_id: *case_id,
                title: title.clone(),
                status: *status,
                url: case_url(app_url, project, *case_id),
            })
            .collect(),
        more,
    }
}

// ---- The runs table (migrations/0003_runs.sql) ----

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
            Param::Text(status_name(state.status).to_owned()),
            Param::Int(state.last_event_at as i64),
            Param::Int(state.version as i64),
            Param::Text(serde_json::to_string(state).expect("a run state serialises")),
            Param::Int(now as i64),
        ],
    }
}

fn status_name(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Unknown => "unknown",
        RunStatus::Started => "started",
        RunStatus::Completed => "completed",
        RunStatus::Aborted => "aborted",
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

/// When a run's object forgets the run (its storage deleted by an alarm):
/// `QASE_RETENTION_SECONDS` after its first event or its end, whichever is
/// later; `None` when runs are kept until deleted.
pub fn forget_at(config: &Config, now: u64) -> Option<u64> {
    Some(now.saturating_add(config.retention_seconds?.saturating_mul(1000)))
}

/// How long a run's object waits before it writes its state into D1 again
/// after D1 refused it (D1 down must not hold up delivery, nor leave the
/// `runs` row stale once D1 is back).
pub const MIRROR_RETRY_MS: u64 = 60_000;

/// What a run's object does when its alarm rings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmStep {
    /// Write the state into D1 again (a write failed); on success, set the
    /// alarm to the forgetting time, if any; on failure, retry later.
    RetryMirror,
    /// The retention has passed: delete the run's storage.
    Forget,
    /// Not yet: set the alarm again for this time (Unix ms).
    Rearm(u64),
    /// Nothing to do.
    Nothing,
}

/// The alarm's step: a pending D1 write first, then the retention.
pub fn alarm_step(mirror_pending: bool, forget_at: Option<u64>, now: u64) -> AlarmStep {
    match (mirror_pending, forget_at) {
        (true, _) => AlarmStep::RetryMirror,
        (false, Some(at)) if at > now => AlarmStep::Rearm(at),
        (false, Some(_)) => AlarmStep::Forget,
        (false, None) => AlarmStep::Nothing,
    }
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

/// `GET /api/runs`: a project's runs, the most recent event first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunsQuery {
    /// The project code.
    pub project: String,
    /// Only runs with this status.
    pub status: Option<RunStatus>,
    /// Runs per page (1 to 200, default 50).
    pub limit: u32,
    /// Continue after this run: (last event time, run id).
    pub cursor: Option<(u64, u64)>,
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
                    query.status = Some(match value.as_str() {
                        "unknown" => RunStatus::Unknown,
                        "started" => RunStatus::Started,
                        "completed" => RunStatus::Completed,
                        "aborted" => RunStatus::Aborted,
                        _ => {
                            return Err(bad(
                                "status",
                                "must be `unknown`, `started`, `completed` or `aborted`",
                            ))
                        }
                    })
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
                        value
                            .split_once('.')
                            .and_then(|(at, run)| Some((at.parse().ok()?, run.parse().ok()?)))
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
            params.push(Param::Text(status_name(status).to_owned()));
            sql.push_str(&format!(" AND status = ?{}", params.len()));
        }
        if let Some((at, run)) = self.cursor {
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
                states
                    .last()
                    .map(|s| format!("{}.{}", s.last_event_at, s.run))
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
            .ok_or_else(|| bad("id", "must be a run id (a whole number)"))?,
    })
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
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
    /// The counts of its end.
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
    /// The run's page in Qase.
    pub url: String,
}

/// The API's view of a run.
pub fn view(state: &RunState, app_url: &str) -> RunView {
    let counts = state.end.as_ref().map(|end| end.counts);
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
        url: run_url(app_url, &state.project, state.run),
    }
}

/// The outcome a finished run's view reports, for the CI gate.
pub fn outcome(state: &RunState) -> Option<RunOutcome> {
    state.end.as_ref().map(|end| end.outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::state::{apply, fact_of, tests::run_events};

    fn config(destinations: &str, extra: &[(&str, &str)]) -> Config {
        let vars: Vec<(String, String)> = [
            ("QASE_WEBHOOK_SECRET", "a-secret"),
            ("QASE_DESTINATIONS", destinations),
        ]
        .iter()
        .chain(extra.iter())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let config = Config::from_lookup(
            |key| vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()),
            &[crate::config::Sink::D1, crate::config::Sink::Queue],
        )
        .unwrap();
        assert!(config.problems.is_empty(), "{:?}", config.problems);
        config
    }

    fn ended_state() -> RunState {
        let mut state = None;
        for (id, body) in run_events() {
            if let Some(fact) = fact_of(&id, &body).filter(|f| f.run == 42) {
                state = Some(apply(state, &fact, false).state);
            }
        }
        state.unwrap()
    }

    #[test]
    fn settings_default_and_validate() {
        let none = RunSettings::read(&|_| None).unwrap();
        assert_eq!(none, RunSettings::default());
        let set = RunSettings::read(&|key| match key {
            "QASE_API_TOKEN" => Some("tok".into()),
            "QASE_API_URL" => Some("https://api.qase.eu/v1/".into()),
            "QASE_RUN_SETTLE_SECONDS" => Some("5".into()),
            _ => None,
        })
        .unwrap();
        let api = set.api.clone().unwrap();
        assert_eq!(
            (api.base_url.as_str(), set.settle_seconds),
            ("https://api.qase.eu/v1", 5)
        );
        assert!(
            !format!("{set:?}").contains("tok\""),
            "the token is redacted"
        );
        for (key, value) in [
            ("QASE_API_URL", "ftp://x"),
            ("QASE_RUN_SETTLE_SECONDS", "43201"),
        ] {
            let error = RunSettings::read(&|k| (k == key).then(|| value.to_owned())).unwrap_err();
            assert_eq!(error.key, key);
        }
    }

    #[test]
    fn a_bad_setting_falls_back_and_is_reported() {
        let config = Config::from_lookup(
            |key| match key {
                "QASE_WEBHOOK_SECRET" => Some("a-secret".into()),
                "QASE_RUN_SETTLE_SECONDS" => Some("soon".into()),
                _ => None,
            },
            &[crate::config::Sink::D1],
        )
        .unwrap();
        assert_eq!(config.runs.settle_seconds, DEFAULT_SETTLE_SECONDS);
        assert_eq!(config.problems[0].error.key, "QASE_RUN_SETTLE_SECONDS");
    }

    #[test]
    fn reports_go_to_destinations_that_ask_in_their_projects() {
        let config = config(
            r#"[{"name":"a","url":"https://x","reports":true},
                {"name":"b","url":"https://x"},
                {"name":"c","url":"https://x","reports":true,"projects":["API"]},
                {"name":"d","url":"https://x","reports":true,"enabled":false},
                {"name":"e","url":"https://x","reports":true,"events":["case.*"],"projects":["WEB"]}]"#,
            &[],
        );
        let names = |project| -> Vec<String> {
            report_destinations(&config, project)
                .iter()
                .map(|d| d.name.clone())
                .collect()
        };
        assert_eq!(names("WEB"), ["a", "e"]);
        assert_eq!(names("API"), ["a", "c"]);
        assert!(reports_wanted(&config, "WEB"));
        let quiet = self::config(r#"[{"name":"b","url":"https://x"}]"#, &[]);
        assert!(!reports_wanted(&quiet, "WEB"));
        let token = self::config(r#"[]"#, &[("QASE_API_TOKEN", "t")]);
        assert!(reports_wanted(&token, "WEB"));
    }

    #[test]
    fn a_report_is_due_for_an_end_until_it_is_taken() {
        let state = ended_state();
        let events = run_events();
        let end = fact_of(&events[6].0, &events[6].1).unwrap();
        let start = fact_of(&events[0].0, &events[0].1).unwrap();
        assert!(report_due(&end, &state, true));
        assert!(!report_due(&end, &state, false));
        assert!(!report_due(&start, &state, true));
        let taken = crate::runs::state::take_report(&state, "m", None).unwrap();
        assert!(!report_due(&end, &taken, true));
    }

    #[test]
    fn the_report_says_what_the_run_said_and_links_to_it() {
        let mut state = ended_state();
        let report = report(&state, "https://app.qase.io").unwrap();
        assert_eq!(report.id, report_id("WEB", 42));
        assert!(report.id.starts_with("rpt_") && report.id.len() == 36);
        assert_eq!(report.outcome, RunOutcome::Completed);
        assert_eq!((report.counts.cases, report.counts.failed), (3, 1));
        assert_eq!(report.pass_rate, Some(66.7));
        assert_eq!(report.results_received, 3);
        assert_eq!(report.failures.source, FailureSource::None);
        assert_eq!(report.url, "https://app.qase.io/run/WEB/dashboard/42");
        state.end = None;
        assert_eq!(super::report(&state, "https://app.qase.io"), None);
    }

    #[test]
    fn each_report_destination_gets_its_own_message_with_the_report() {
        let config = config(
            r#"[{"name":"a","url":"https://x","reports":true},{"name":"s","url":"https://x","format":"slack","reports":true}]"#,
            &[],
        );
        let report = report(&ended_state(), "https://app.qase.io").unwrap();
        let messages = report_messages(&report, &report_destinations(&config, "WEB"), 7);
        assert_eq!(messages.len(), 2);
        for (message, name) in messages.iter().zip(["a", "s"]) {
            assert_eq!(message.destination.as_deref(), Some(name));
            assert_eq!(
                (message.id.as_str(), message.event_name.as_str()),
                (report.id.as_str(), "run.report")
            );
            let body: RunReport = serde_json::from_str(message.body.as_deref().unwrap()).unwrap();
            assert_eq!(body, report);
        }
        let raw = message_body(&config, "a", &messages[0]);
        assert_eq!(raw, messages[0].body.as_deref().unwrap().as_bytes());
        let slack: serde_json::Value =
            serde_json::from_slice(&message_body(&config, "s", &messages[1])).unwrap();
        assert!(
            slack["text"].as_str().unwrap().contains("Test run report"),
            "{slack}"
        );
    }

    fn message_body(config: &Config, name: &str, message: &QueuedDelivery) -> Vec<u8> {
        let destination = config.destination(name).unwrap();
        delivery_body(
            destination,
            message,
            message.body.as_deref().unwrap().as_bytes(),
            "https://app.qase.io",
        )
        .unwrap()
    }

    #[test]
    fn the_qase_api_requests_are_the_documented_endpoints() {
        let api = QaseApi {
            base_url: "https://api.qase.io/v1".into(),
            token: "t".into(),
        };
        assert_eq!(
            results_request(&api, "WEB", 42, FailureStatus::Failed).url,
            "https://api.qase.io/v1/result/WEB?run=42&status=failed&limit=100&offset=0"
        );
        assert_eq!(
            results_request(&api, "A B", 1, FailureStatus::Blocked).url,
            "https://api.qase.io/v1/result/A%20B?run=1&status=blocked&limit=100&offset=0"
        );
        assert_eq!(
            case_request(&api, "WEB", 7).url,
            "https://api.qase.io/v1/case/WEB/7"
        );
    }

    #[test]
    fn failures_are_distinct_cases_failed_first_capped_with_the_rest_counted() {
        let page = br#"{"status":true,"result":{"total":5,"filtered":3,"count":3,
            "entities":[{"hash":"a","case_id":9,"status":"failed"},{"hash":"b","case_id":2},{"hash":"c","case_id":9}]}}"#;
        let failed = parse_results(page).unwrap();
        assert_eq!(failed, (vec![9, 2, 9], 3));
        let blocked = parse_results(
            br#"{"status":true,"result":{"filtered":2,"entities":[{"case_id":2},{"case_id":4}]}}"#,
        )
        .unwrap();
        let (cases, more) = failed_cases(&failed, &blocked);
        assert_eq!(
            cases,
            [
                (2, FailureStatus::Failed),
                (9, FailureStatus::Failed),
                (4, FailureStatus::Blocked)
            ]
        );
        assert_eq!(more, 0);
        assert_eq!(parse_results(b"{\"status\":false}"), None);
        assert_eq!(parse_results(b"<html>"), None);

        let many: Vec<u64> = (1..=30).collect();
        let (cases, more) = failed_cases(&(many, 130), &(vec![], 0));
        assert_eq!((cases.len(), more), (MAX_LISTED_FAILURES, 10 + 100));

        let titles = [Some("Login".to_owned())];
        let list = failures(
            &[(2, FailureStatus::Failed), (4, FailureStatus::Blocked)],
            &titles,
            1,
            "WEB",
            "https://app.qase.io",
        );
        assert_eq!(list.items[0].title.as_deref(), Some("Login"));
        assert_eq!(list.items[1].title, None);
        assert_eq!(list.items[1].url, "https://app.qase.io/case/WEB-4");
        assert_eq!(
            parse_case_title(br#"{"status":true,"result":{"id":2,"title":"Login"}}"#).as_deref(),
            Some("Login")
        );
        assert_eq!(parse_case_title(br#"{"status":true}"#), None);
    }

    #[test]
    fn the_runs_listing_pages_by_last_event_then_run() {
        let query = RunsQuery::parse(vec![
            ("project".into(), "WEB".into()),
            ("status".into(), "completed".into()),
            ("limit".into(), "2".into()),
            ("cursor".into(), "200.42".into()),
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
        assert_eq!((page.len(), cursor.as_deref()), (2, Some("200.1")));
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
    fn the_alarm_retries_a_pending_d1_write_before_it_forgets() {
        assert_eq!(alarm_step(true, Some(10), 50), AlarmStep::RetryMirror);
        assert_eq!(alarm_step(true, None, 50), AlarmStep::RetryMirror);
        assert_eq!(alarm_step(false, Some(100), 50), AlarmStep::Rearm(100));
        assert_eq!(alarm_step(false, Some(50), 50), AlarmStep::Forget);
        assert_eq!(alarm_step(false, None, 50), AlarmStep::Nothing);
    }

    #[test]
    fn runs_expire_with_the_events_retention() {
        let [deliveries, runs] = delete_expired(5_000);
        assert!(
            deliveries.sql.contains("rpt"),
            "only reports' delivery states"
        );
        assert_eq!(runs.params, [Param::Int(5_000)]);
        let config = config("[]", &[("QASE_RETENTION_SECONDS", "60")]);
        assert_eq!(forget_at(&config, 1_000), Some(61_000));
        let forever = self::config("[]", &[("QASE_RETENTION_SECONDS", "0")]);
        assert_eq!(forget_at(&forever, 1_000), None);
    }

    #[test]
    fn the_view_shows_the_run_and_nothing_before_its_events() {
        let view = view(&ended_state(), "https://app.qase.io");
        assert!(view.done);
        assert_eq!(
            (view.first_event_at, view.last_event_at),
            (Some(100), Some(200))
        );
        assert_eq!(view.pass_rate, Some(66.7));
        let empty = super::view(&crate::runs::state::empty("WEB", 1), "https://app.qase.io");
        assert_eq!(
            (empty.status, empty.done, empty.first_event_at),
            (RunStatus::Unknown, false, None)
        );
    }
}
