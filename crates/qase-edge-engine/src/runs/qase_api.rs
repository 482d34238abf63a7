//! Qase's REST API, as the runs use it: which documented endpoints the
//! consumer calls to list a run's failed and blocked cases and their
//! titles (outbound [`Request`]s), how it reads their answers, and the report's
//! [`Failures`] made from them. The shell (`qase_edge::runs::reports`)
//! sends the requests.

use qase_webhooks::chat::path_segment;
use qase_webhooks::run_report::{case_url, Failure, FailureSource, FailureStatus, Failures};
use serde::Deserialize;

use crate::http::outbound::{Request, USER_AGENT};
use crate::runs::report::MAX_LISTED_FAILURES;
use crate::runs::settings::QaseApi;

/// Results per listing request (Qase's `limit` allows up to 100).
pub const RESULTS_PAGE: u32 = 100;

/// The most of one answer that is read: a page of 100 results with their
/// comments and stack traces, or one case.
pub const READ_LIMIT: usize = 4 << 20;

/// A `GET` of `url` on Qase's REST API, with the token, within the API's timeout.
fn get(api: &QaseApi, url: String) -> Request {
    let headers = vec![
        ("Token".to_owned(), api.token.clone()),
        ("Accept".to_owned(), "application/json".to_owned()),
        ("User-Agent".to_owned(), USER_AGENT.to_owned()),
    ];
    Request::get(&url, headers, api.timeout, READ_LIMIT)
}

/// The documented endpoint "Get all test run results"
/// (`GET /result/{code}?run=&status=&limit=&offset=`): one status at a
/// time (the parameter takes "a single test run result status").
pub fn results_request(api: &QaseApi, project: &str, run: u64, status: FailureStatus) -> Request {
    let status = match status {
        FailureStatus::Failed => "failed",
        FailureStatus::Blocked => "blocked",
    };
    let url = format!(
        "{}/result/{}?run={run}&status={status}&limit={RESULTS_PAGE}&offset=0",
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
        let request = results_request(&api, "WEB", 42, FailureStatus::Failed);
        assert_eq!(
            request.timeout.as_secs(),
            4,
            "every call has the API's timeout"
        );
        assert_eq!(request.read_limit, READ_LIMIT);
        assert!(request.headers.contains(&("Token".into(), "t".into())));
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
}
