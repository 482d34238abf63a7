//! A local server speaking the documented shapes of Qase's REST API v1
//! (<https://developers.qase.io/reference>, base `https://api.qase.io/v1`,
//! token in the `Token` header), for the run reports' failed cases and the
//! reconcile pass. It serves the endpoints qase-edge calls:
//! - "Get all test run results", `GET /v1/result/{code}?run=&status=&limit=&offset=`:
//!   `{"status": true, "result": {"total", "filtered", "count", "entities": [...]}}`,
//!   each entity a result (`hash`, `run_id`, `case_id`, `status`, ...),
//!   filtered by run and by the single `status` asked for;
//! - "Get a specific test case", `GET /v1/case/{code}/{id}`:
//!   `{"status": true, "result": {"id", "title", ...}}`, or `404`
//!   `{"status": false, "errorMessage": "Test case not found"}`;
//! - "Get all runs", `GET /v1/run/{code}?status=&from_start_time=&to_start_time=&limit=&offset=`:
//!   the runs of [`QaseApi::run`], filtered by `status` (a comma list of
//!   `in_progress`, `passed`, `failed`, `aborted`; any status without it)
//!   and start time (Unix seconds, both bounds included), paged;
//! - "Get a specific run", `GET /v1/run/{code}/{id}`: one of them, or `404`.
//!
//! Runs are Qase's `Run` schema (`id`, `title`, `status`, `status_text`,
//! `start_time` and `end_time` as date-times, `stats.total`,
//! `stats.statuses`, `elapsed_time`, `tags`, ...).
//!
//! A request without the expected token is answered `401` as Qase does.
//! The run listings can be made to fail ([`QaseApi::fail_run_listings`]):
//! `429` with `Retry-After`, or any status.
//! Every request is recorded, so a test can check what was asked. A
//! project can be made to hang ([`QaseApi::hang`]): its requests are read
//! and never answered, their connections held open, as an API that is up
//! but stuck would.

use crate::http::read_request;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

/// One result of a run, as the local API lists it.
#[derive(Debug, Clone)]
pub struct TestResult {
    /// The project code.
    pub project: String,
    /// The run id.
    pub run: u64,
    /// The case id.
    pub case_id: u64,
    /// `passed`, `failed`, `blocked`, ...
    pub status: String,
}

/// A run, as the local API lists it.
#[derive(Debug, Clone)]
pub struct TestRun {
    /// The project code.
    pub project: String,
    /// The run id.
    pub id: u64,
    /// Its title.
    pub title: String,
    /// `in_progress`, `passed`, `failed` or `aborted`.
    pub status: String,
    /// When it started and ended, Unix seconds.
    pub start_time: u64,
    /// See `start_time`; `None` while in progress.
    pub end_time: Option<u64>,
    /// Counts per status (`passed`, `failed`, ...).
    pub statuses: BTreeMap<String, u64>,
    /// Its tags (`sha:...`, `pr:...`), listed as Qase's `Tag` values.
    pub tags: Vec<String>,
}

impl TestRun {
    fn json(&self) -> Value {
        let total: u64 = self.statuses.values().sum();
        let status = match self.status.as_str() {
            "in_progress" => 0,
            "aborted" => 2,
            _ => 1,
        };
        json!({
            "id": self.id, "run_id": self.id, "title": self.title, "description": null,
            "status": status, "status_text": self.status,
            "start_time": date_time(self.start_time), "end_time": self.end_time.map(date_time),
            "public": false,
            "stats": {"total": total, "statuses": self.statuses},
            "time_spent": 42_000, "elapsed_time": 60_000,
            "environment": null, "milestone": null, "custom_fields": [],
            "tags": self.tags.iter().enumerate()
                .map(|(i, title)| json!({"title": title, "internal_id": i + 1}))
                .collect::<Vec<_>>(),
            "cases": [], "plan_id": null, "configurations": [], "external_issue": null
        })
    }
}

/// Unix seconds as Qase writes a date-time (`2021-12-30T19:23:59+00:00`).
fn date_time(at: u64) -> String {
    let (days, rest) = ((at / 86_400) as i64, at % 86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}+00:00")
}

#[derive(Default)]
struct State {
    results: Vec<TestResult>,
    runs: Vec<TestRun>,
    /// (project, case id) → title.
    cases: BTreeMap<(String, u64), String>,
    /// Request lines (`GET /v1/...`) with the token they carried.
    requests: Vec<(String, Option<String>)>,
    /// The projects whose requests are never answered.
    hanging: Vec<String>,
    /// While set, "Get all runs" is answered with this status (and
    /// `Retry-After` seconds), as an API over its rate limit or down.
    runs_failing: Option<(u16, Option<u64>)>,
}

/// The running local API.
pub struct QaseApi {
    port: u16,
    token: String,
    state: Arc<Mutex<State>>,
}

impl QaseApi {
    /// Starts the API on a free loopback port, accepting `token`.
    pub fn start(token: &str) -> QaseApi {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let expected = token.to_owned();
        let port = crate::serve_on_loopback(move |stream| {
            serve(stream, Arc::clone(&shared), expected.clone())
        });
        QaseApi {
            port,
            token: token.to_owned(),
            state,
        }
    }

    /// The base URL to configure as `QASE_API_URL`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// The token it accepts.
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Adds a case with its title.
    pub fn case(&self, project: &str, id: u64, title: &str) {
        self.state
            .lock()
            .unwrap()
            .cases
            .insert((project.to_owned(), id), title.to_owned());
    }

    /// Adds a result of a run.
    pub fn result(&self, project: &str, run: u64, case_id: u64, status: &str) {
        self.state.lock().unwrap().results.push(TestResult {
            project: project.to_owned(),
            run,
            case_id,
            status: status.to_owned(),
        });
    }

    /// Adds a run (or replaces the one with its project and id).
    pub fn run(&self, run: TestRun) {
        let mut state = self.state.lock().unwrap();
        state
            .runs
            .retain(|r| (r.project.as_str(), r.id) != (run.project.as_str(), run.id));
        state.runs.push(run);
    }

    /// Answers "Get all runs" with `status` (and `Retry-After`) until
    /// called again with `None`.
    pub fn fail_run_listings(&self, failing: Option<(u16, Option<u64>)>) {
        self.state.lock().unwrap().runs_failing = failing;
    }

    /// Never answers the requests about `project` from now on.
    pub fn hang(&self, project: &str) {
        self.state.lock().unwrap().hanging.push(project.to_owned());
    }

    /// The requests received: request target and the `Token` header.
    pub fn requests(&self) -> Vec<(String, Option<String>)> {
        self.state.lock().unwrap().requests.clone()
    }
}

fn answer(state: &State, target: &str) -> (u16, Value) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let params: BTreeMap<&str, &str> = query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .collect();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["v1", "result", code] => {
            let runs: Vec<u64> = params
                .get("run")
                .map(|runs| runs.split(',').filter_map(|r| r.parse().ok()).collect())
                .unwrap_or_default();
            let status = params.get("status").copied();
            let limit: usize = params
                .get("limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(10);
            let offset: usize = params
                .get("offset")
                .and_then(|o| o.parse().ok())
                .unwrap_or(0);
            let total = state.results.iter().filter(|r| r.project == *code).count();
            let matching: Vec<&TestResult> = state
                .results
                .iter()
                .filter(|r| r.project == *code)
                .filter(|r| runs.is_empty() || runs.contains(&r.run))
                .filter(|r| status.is_none_or(|s| r.status == s))
                .collect();
            let entities: Vec<Value> = matching
                .iter()
                .skip(offset)
                .take(limit)
                .enumerate()
                .map(|(i, r)| {
                    json!({
                        "hash": format!("{:040x}", r.case_id * 1000 + i as u64),
                        "result_hash": null,
                        "comment": null,
                        "stacktrace": null,
                        "run_id": r.run,
                        "case_id": r.case_id,
                        "steps": null,
                        "status": r.status,
                        "is_api_result": true,
                        "time_spent_ms": 1200,
                        "end_time": "2026-11-28 10:00:00",
                        "attachments": []
                    })
                })
                .collect();
            (
                200,
                json!({"status": true, "result": {
                    "total": total, "filtered": matching.len(), "count": entities.len(), "entities": entities
                }}),
            )
        }
        ["v1", "run", code] => list_runs(state, code, &params),
        ["v1", "run", code, id] => {
            let id: u64 = id.parse().unwrap_or(0);
            match state.runs.iter().find(|r| r.project == *code && r.id == id) {
                Some(run) => (200, json!({"status": true, "result": run.json()})),
                None => (
                    404,
                    json!({"status": false, "errorMessage": "Test run not found"}),
                ),
            }
        }
        ["v1", "case", code, id] => {
            let id: u64 = id.parse().unwrap_or(0);
            match state.cases.get(&(code.to_string(), id)) {
                Some(title) => (
                    200,
                    json!({"status": true, "result": {
                        "id": id, "position": 1, "title": title, "description": null,
                        "preconditions": null, "postconditions": null, "severity": 0,
                        "priority": 0, "type": 1, "layer": 0, "is_flaky": 0, "behavior": 0,
                        "automation": 0, "status": 0, "milestone_id": null, "suite_id": 1,
                        "custom_fields": [], "attachments": [], "steps": [], "params": [],
                        "tags": [], "created_at": "2026-11-28T10:00:00+00:00",
                        "updated_at": "2026-11-28T10:00:00+00:00"
                    }}),
                ),
                None => (
                    404,
                    json!({"status": false, "errorMessage": "Test case not found"}),
                ),
            }
        }
        _ => (404, json!({"status": false, "errorMessage": "Not found"})),
    }
}

/// "Get all runs": filtered by `status`, `from_start_time` and
/// `to_start_time`, paged.
fn list_runs(state: &State, code: &str, params: &BTreeMap<&str, &str>) -> (u16, Value) {
    let statuses: Option<Vec<&str>> = params.get("status").map(|s| s.split(',').collect());
    let from: u64 = params
        .get("from_start_time")
        .and_then(|t| t.parse().ok())
        .unwrap_or(0);
    let to: u64 = params
        .get("to_start_time")
        .and_then(|t| t.parse().ok())
        .unwrap_or(u64::MAX);
    let limit: usize = params
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return (
            400,
            json!({"status": false, "errorMessage": "limit: 1 to 100"}),
        );
    }
    let offset: usize = params
        .get("offset")
        .and_then(|o| o.parse().ok())
        .unwrap_or(0);
    let total = state.runs.iter().filter(|r| r.project == code).count();
    let matching: Vec<&TestRun> = state
        .runs
        .iter()
        .filter(|r| r.project == code && (from..=to).contains(&r.start_time))
        .filter(|r| {
            statuses
                .as_ref()
                .is_none_or(|s| s.contains(&r.status.as_str()))
        })
        .collect();
    let entities: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(limit)
        .map(|r| r.json())
        .collect();
    let page = json!({"total": total, "filtered": matching.len(), "count": entities.len(), "entities": entities});
    (200, json!({"status": true, "result": page}))
}

async fn serve(mut stream: tokio::net::TcpStream, state: Arc<Mutex<State>>, expected: String) {
    loop {
        let Some(request) = read_request(&mut stream).await else {
            return;
        };
        let target = request.target;
        let token = request.headers.get("token").cloned();
        let hangs = {
            let mut state = state.lock().unwrap();
            state.requests.push((target.clone(), token.clone()));
            // `/v1/{result|case|run}/{code}...`: the project code.
            let project = target.split(['/', '?']).nth(3).unwrap_or_default();
            state.hanging.iter().any(|hung| hung == project)
        };
        if hangs {
            // Up but stuck: the connection stays open, unanswered.
            return std::future::pending().await;
        }
        let (status, body, retry_after) = {
            let state = state.lock().unwrap();
            let listing = target.starts_with("/v1/run/") && target.split('/').count() == 4;
            match state.runs_failing.filter(|_| listing) {
                _ if token.as_deref() != Some(expected.as_str()) => (
                    401,
                    json!({"status": false, "errorMessage": "API token is invalid"}),
                    None,
                ),
                Some((status, retry_after)) => (
                    status,
                    json!({"status": false, "errorMessage": "Too many requests"}),
                    retry_after,
                ),
                None => {
                    let (status, body) = answer(&state, &target);
                    (status, body, None)
                }
            }
        };
        let body = body.to_string();
        let retry_after = retry_after
            .map(|seconds| format!("Retry-After: {seconds}\r\n"))
            .unwrap_or_default();
        let response = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{retry_after}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}
