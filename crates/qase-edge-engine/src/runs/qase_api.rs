//! Qase's REST API, as the runs use it: which documented endpoints the
//! consumer calls to list a run's failed and blocked cases and their
//! titles, and the reconcile pass to list a project's runs (outbound
//! [`Request`]s), how it reads their answers, and the report's
//! [`Failures`] made from them. The shell (`qase_edge::runs::reports`,
//! `qase_edge::store::sweep`) sends the requests.

use qase_webhooks::chat::path_segment;
use qase_webhooks::run_report::{
    case_url, Failure, FailureSource, FailureStatus, Failures, RunCounts, RunOutcome,
};
use serde::Deserialize;

use crate::http::outbound::{Request, USER_AGENT};
use crate::runs::details::{self, RunDetails};
use crate::runs::report::MAX_LISTED_FAILURES;
use crate::runs::settings::QaseApi;

/// Results per listing request (Qase's `limit` allows up to 100).
pub const RESULTS_PAGE: u32 = 100;

/// The most of one answer that is read: a page of 100 results with their
/// comments and stack traces, or one case.
pub const READ_LIMIT: usize = 4 << 20;

/// A `GET` of `url` on Qase's REST API, with the token, within the API's timeout.
pub(crate) fn get(api: &QaseApi, url: String) -> Request {
    let headers = vec![
        ("Token".to_owned(), api.token.clone()),
        ("Accept".to_owned(), "application/json".to_owned()),
        ("User-Agent".to_owned(), USER_AGENT.to_owned()),
    ];
    Request::get(&url, headers, api.timeout, READ_LIMIT)
}

/// The documented endpoint "Get all test run results"
/// (`GET /result/{code}?run=&status=&limit=&offset=`): one status at a
/// time (the parameter takes "a single test run result status"), the page
/// of [`RESULTS_PAGE`] from `offset`.
pub fn results_request(
    api: &QaseApi,
    project: &str,
    run: u64,
    status: FailureStatus,
    offset: u64,
) -> Request {
    let status = match status {
        FailureStatus::Failed => "failed",
        FailureStatus::Blocked => "blocked",
    };
    let url = format!(
        "{}/result/{}?run={run}&status={status}&limit={RESULTS_PAGE}&offset={offset}",
        api.base_url,
        path_segment(project)
    );
    get(api, url)
}

/// The documented endpoint "Get a specific test case" (`GET /case/{code}/{id}`).
pub fn case_request(api: &QaseApi, project: &str, case: u64) -> Request {
    let url = format!("{}/case/{}/{case}", api.base_url, path_segment(project));
    get(api, url)
}

/// The documented endpoint "Get a specific run" (`GET /run/{code}/{id}`).
pub fn run_request(api: &QaseApi, project: &str, run: u64) -> Request {
    let url = format!("{}/run/{}/{run}", api.base_url, path_segment(project));
    get(api, url)
}

/// The details in "Get a specific run"'s answer (`{"status": true,
/// "result": Run}`); `None` when the answer is not that shape.
pub fn parse_run(body: &[u8]) -> Option<RunDetails> {
    #[derive(Deserialize)]
    struct One {
        result: details::RunEntity,
    }
    serde_json::from_slice::<One>(body)
        .ok()
        .map(|one| one.result.details())
}

/// Runs per page of "Get all runs" (Qase's `limit` allows up to 100).
pub const RUNS_PAGE: u64 = 100;

/// The highest `offset` Qase's listings take.
pub const MAX_OFFSET: u64 = 100_000;

/// The documented endpoint "Get all runs"
/// (`GET /run/{code}?status=&from_start_time=&limit=&offset=`): the runs
/// started since `from_start_time` (Unix seconds) that Qase shows finished
/// (`status` is a comma list of `in_progress`, `passed`, `failed` and
/// `aborted`), a page of [`RUNS_PAGE`] from `offset`.
pub fn runs_request(api: &QaseApi, project: &str, from_start_time: u64, offset: u64) -> Request {
    let url = format!(
        "{}/run/{}?status=passed,failed,aborted&from_start_time={from_start_time}&limit={RUNS_PAGE}&offset={offset}",
        api.base_url,
        path_segment(project)
    );
    get(api, url)
}

/// A run as "Get all runs" lists it, as far as a reconcile pass reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedRun {
    /// Its place in its page (from 0): where a pass cut short goes on.
    pub position: u64,
    /// The run id.
    pub id: u64,
    /// Its title.
    pub title: Option<String>,
    /// How it finished; `None` while Qase shows it in progress.
    pub outcome: Option<RunOutcome>,
    /// When it ended (Unix seconds), when Qase says.
    pub end_time: Option<u64>,
    /// Its counts, from `stats` and `elapsed_time`.
    pub counts: RunCounts,
    /// Its full facts (tags included), from the same entity.
    pub details: Box<RunDetails>,
}

/// A page of "Get all runs": the runs, and how many matched in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunsPage {
    /// The runs of the page, in Qase's order.
    pub runs: Vec<ListedRun>,
    /// The entities the page listed, odd ones included: the next page's
    /// offset is this page's plus these.
    pub entities: u64,
    /// The runs matched in all (`filtered`, else `total`).
    pub matched: u64,
}

#[derive(Debug, Clone, Deserialize)]
struct RunList {
    result: RunListPage,
}

#[derive(Debug, Clone, Deserialize)]
struct RunListPage {
    #[serde(default)]
    filtered: Option<u64>,
    #[serde(default)]
    total: Option<u64>,
    #[serde(default)]
    entities: Vec<serde_json::Value>,
}

/// Qase's `Run` schema, the fields a listing reads (its details by
/// [`details::RunEntity`]); each optional, so that one odd run never hides
/// the others of its page.
#[derive(Debug, Clone, Default, Deserialize)]
struct RunEntity {
    #[serde(default)]
    id: Option<u64>,
    #[serde(default)]
    title: Option<String>,
    #[serde(flatten)]
    details: details::RunEntity,
}

/// How a run finished, from its `status_text`: `None` while in progress.
/// The listing asked for finished runs only, so any other text (Qase has
/// also written `complete` and `abort`) is a finish; only `abort...` is
/// an abort.
fn outcome_of(status_text: Option<&str>) -> Option<RunOutcome> {
    let text = status_text.unwrap_or_default().trim().to_ascii_lowercase();
    match text.as_str() {
        "in_progress" | "in progress" | "active" => None,
        aborted if aborted.starts_with("abort") => Some(RunOutcome::Aborted),
        _ => Some(RunOutcome::Completed),
    }
}

fn listed_run(position: u64, entity: RunEntity) -> Option<ListedRun> {
    let id = entity
        .id
        .filter(|id| *id <= qase_webhooks::MAX_SAFE_INTEGER)?;
    let stats = entity.details.stats.clone().unwrap_or_default();
    let count = |status: &str| stats.count(status);
    let counts = RunCounts {
        cases: stats.total.unwrap_or(0),
        passed: count("passed").unwrap_or(0),
        failed: count("failed").unwrap_or(0),
        blocked: count("blocked").unwrap_or(0),
        skipped: count("skipped"),
        untested: count("untested"),
        duration: entity.details.elapsed_time.unwrap_or(0),
    };
    Some(ListedRun {
        position,
        id,
        title: entity.title,
        outcome: outcome_of(entity.details.status_text.as_deref()),
        end_time: entity.details.end_time.as_deref().and_then(unix_seconds),
        counts,
        details: Box::new(entity.details.details()),
    })
}

/// A page of "Get all runs" (`{"status": true, "result": {"total",
/// "filtered", "count", "entities": [Run]}}`); `None` when the answer is
/// not that shape. A run without an id it can use is left out.
pub fn parse_runs(body: &[u8]) -> Option<RunsPage> {
    let list: RunList = serde_json::from_slice(body).ok()?;
    let listed = list.result.entities.len() as u64;
    let runs = list
        .result
        .entities
        .into_iter()
        .zip(0..)
        .filter_map(|(value, position)| {
            let entity = serde_json::from_value::<RunEntity>(value).ok()?;
            listed_run(position, entity)
        })
        .collect();
    let matched = list
        .result
        .filtered
        .or(list.result.total)
        .unwrap_or(listed)
        .max(listed);
    Some(RunsPage {
        runs,
        entities: listed,
        matched,
    })
}

/// Unix seconds of a date-time as Qase writes them
/// (`2021-12-30T19:23:59+00:00`, `...Z`, `2021-12-30 19:23:59`, with or
/// without fractions); `None` for anything else.
pub fn unix_seconds(text: &str) -> Option<u64> {
    let text = text.trim();
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = text.get(range)?;
        digits
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let separators = text.as_bytes();
    if separators.len() < 19
        || separators[4] != b'-'
        || separators[7] != b'-'
        || !matches!(separators[10], b'T' | b't' | b' ')
        || separators[13] != b':'
        || separators[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        rest = fraction.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset = match rest {
        "" | "Z" | "z" => 0,
        zone if zone.len() == 6
            && (zone.starts_with('+') || zone.starts_with('-'))
            && &zone[3..4] == ":" =>
        {
            let hours: i64 = zone[1..3].parse().ok()?;
            let minutes: i64 = zone[4..6].parse().ok()?;
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            sign * (hours * 3600 + minutes * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    u64::try_from(seconds).ok()
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qase_api_requests_are_the_documented_endpoints() {
        let api = QaseApi {
            base_url: "https://api.qase.io/v1".into(),
            token: "t".into(),
            timeout: std::time::Duration::from_secs(4),
        };
        let request = results_request(&api, "WEB", 42, FailureStatus::Failed, 0);
        assert_eq!(
            request.timeout.as_secs(),
            4,
            "every call has the API's timeout"
        );
        assert_eq!(request.read_limit, READ_LIMIT);
        assert!(request.headers.contains(&("Token".into(), "t".into())));
        assert_eq!(
            run_request(&api, "WEB", 42).url,
            "https://api.qase.io/v1/run/WEB/42"
        );
        assert_eq!(parse_run(b"not json"), None);
        assert_eq!(
            parse_run(br#"{"status": false, "errorMessage": "Run not found"}"#),
            None
        );
        assert_eq!(
            results_request(&api, "WEB", 42, FailureStatus::Failed, 0).url,
            "https://api.qase.io/v1/result/WEB?run=42&status=failed&limit=100&offset=0"
        );
        assert_eq!(
            results_request(&api, "A B", 1, FailureStatus::Blocked, 0).url,
            "https://api.qase.io/v1/result/A%20B?run=1&status=blocked&limit=100&offset=0"
        );
        assert_eq!(
            case_request(&api, "WEB", 7).url,
            "https://api.qase.io/v1/case/WEB/7"
        );
    }

    #[test]
    fn the_runs_listing_asks_for_finished_runs_since_a_time_a_page_at_a_time() {
        let api = QaseApi {
            base_url: "https://api.qase.io/v1".into(),
            token: "t".into(),
            timeout: std::time::Duration::from_secs(4),
        };
        let request = runs_request(&api, "A B", 1_700_000_000, 200);
        assert_eq!(
            request.url,
            "https://api.qase.io/v1/run/A%20B?status=passed,failed,aborted&from_start_time=1700000000&limit=100&offset=200"
        );
        assert_eq!(request.timeout.as_secs(), 4);
        assert!(request.headers.contains(&("Token".into(), "t".into())));
    }

    #[test]
    fn a_runs_page_reads_each_run_and_skips_the_odd_one() {
        let page = br#"{"status":true,"result":{"total":9,"filtered":3,"count":3,"entities":[
            {"id":7,"title":"Nightly","status":1,"status_text":"passed","end_time":"2026-11-28T10:00:30+00:00",
             "elapsed_time":90000,"stats":{"total":4,"statuses":{"passed":2,"failed":1,"blocked":1,"skipped":0,"untested":0}}},
            {"id":"not a number","title":"odd"},
            {"id":8,"status_text":"abort","end_time":null,"stats":{"total":3,"passed":1,"failed":0,"blocked":0,"untested":2}},
            {"id":9,"status_text":"in_progress"}]}}"#;
        let page = parse_runs(page).unwrap();
        assert_eq!(page.matched, 4, "never fewer than listed");
        let ids: Vec<(u64, u64)> = page.runs.iter().map(|run| (run.position, run.id)).collect();
        assert_eq!(ids, [(0, 7), (2, 8), (3, 9)], "the odd one keeps its place");
        assert_eq!(page.entities, 4);
        let nightly = &page.runs[0];
        assert_eq!(nightly.title.as_deref(), Some("Nightly"));
        assert_eq!(nightly.outcome, Some(RunOutcome::Completed));
        assert_eq!(nightly.end_time, unix_seconds("2026-11-28 10:00:30"));
        assert_eq!(
            (
                nightly.counts.cases,
                nightly.counts.passed,
                nightly.counts.failed,
                nightly.counts.blocked
            ),
            (4, 2, 1, 1)
        );
        assert_eq!(nightly.counts.duration, 90000);
        let aborted = &page.runs[1];
        assert_eq!(aborted.outcome, Some(RunOutcome::Aborted));
        assert_eq!((aborted.end_time, aborted.counts.untested), (None, Some(2)));
        assert_eq!(page.runs[2].outcome, None);
        assert_eq!(parse_runs(b"{\"status\":false}"), None);
        assert_eq!(parse_runs(b"<html>"), None);
    }

    #[test]
    fn qase_date_times_read_as_unix_seconds() {
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            unix_seconds("2021-12-30T19:23:59+00:00"),
            Some(1_640_892_239)
        );
        assert_eq!(unix_seconds("2021-12-30 19:23:59"), Some(1_640_892_239));
        assert_eq!(
            unix_seconds("2021-12-30T21:23:59.123+02:00"),
            Some(1_640_892_239)
        );
        assert_eq!(unix_seconds("2024-02-29T00:00:00Z"), Some(1_709_164_800));
        for bad in [
            "",
            "yesterday",
            "2021-13-01T00:00:00Z",
            "2021-12-30T19:23:59+0000",
            "2021-12-30T19:23",
        ] {
            assert_eq!(unix_seconds(bad), None, "{bad}");
        }
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
}
