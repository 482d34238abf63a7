//! Unit tests of the [`MakeReport`] machine, against a run object that
//! takes reports as [`take_report`] says:
//!
//! 1. The run's object: a run not ended reports nothing; an object that
//!    fails retries the message.
//! 2. Without `QASE_API_TOKEN`: taken and queued at once, the counts only.
//! 3. With it: both listings at once, then the listed cases' titles at
//!    once (at most [`MAX_LISTED_FAILURES`]), each a `GET` with the token
//!    and the API's timeout; a title that fails leaves its case untitled;
//!    failures the run already keeps are not fetched again.
//! 4. A listing that fails (a timeout, `429`, `5xx`, an answer not as
//!    documented): the report is sent with the counts only.
//! 5. The take: once per run; another message's take queues nothing, the
//!    taker's retry queues again; a take or a queue that fails retries.
//! 6. The deliveries: one per report destination, none when there is none.

use std::time::Duration;

use qase_webhooks::run_report::{Failure, FailureSource, RunReport, RUN_REPORT_EVENT};

use super::*;
use crate::delivery::machine::script::{self, names, Run};
use crate::delivery::messages::QueuedDelivery;
use crate::http::outbound::{Answer, Method, Request};
use crate::runs::report::tests::{config as config_of, ended_state};
use crate::runs::report::{report_id, MAX_LISTED_FAILURES};
use crate::runs::state::{take_report, ReportState, RunStatus};

const NOW: u64 = 5_000_000;
const MESSAGE: &str = "msg-1";

/// `a` and `s` want the reports of every project, `c` of `API` only, `b` none.
const DESTINATIONS: &str = r#"[
    {"name":"a","url":"https://a.example","reports":true},
    {"name":"b","url":"https://b.example"},
    {"name":"c","url":"https://c.example","reports":true,"projects":["API"]},
    {"name":"s","url":"https://s.example","format":"slack","reports":true}
]"#;

fn without_token() -> Config {
    config_of(DESTINATIONS, &[])
}

fn with_token(destinations: &str) -> Config {
    config_of(
        destinations,
        &[
            ("QASE_API_TOKEN", "tok"),
            ("QASE_API_URL", "https://api.qase.eu/v1"),
            ("QASE_API_TIMEOUT_SECONDS", "3"),
        ],
    )
}

/// The report of run `WEB/42` (the one [`ended_state`] ended).
fn due() -> RunReportDue {
    RunReportDue {
        run_report: RunKey {
            project: "WEB".into(),
            run: 42,
        },
    }
}

fn ok(body: &str) -> OpResult {
    OpResult::Fetched(Answer::Status {
        status: 200,
        retry_after: None,
        body: body.as_bytes().to_vec(),
        truncated: false,
    })
}

fn listing(cases: &[u64]) -> OpResult {
    let entities: Vec<_> = cases
        .iter()
        .map(|case| serde_json::json!({"case_id": case, "status": "failed"}))
        .collect();
    let page = serde_json::json!({"status": true, "result": {"total": cases.len(),
        "filtered": cases.len(), "count": cases.len(), "entities": entities}});
    ok(&page.to_string())
}

/// Qase's API: cases 9 and 2 failed, 2 and 4 blocked; 2 is "Login", 4
/// "Logout", and case 9 cannot be read.
fn qase(request: &Request) -> OpResult {
    let url = request.url.as_str();
    if url.contains("status=failed") {
        return listing(&[9, 2]);
    }
    if url.contains("status=blocked") {
        return listing(&[2, 4]);
    }
    if url.ends_with("/run/WEB/42") {
        let run = serde_json::json!({"status": true, "result": {"id": 42, "status_text": "failed",
            "end_time": "2026-11-28T10:00:30+00:00", "elapsed_time": 7000,
            "stats": {"total": 5, "statuses": {"passed": 2, "failed": 2, "blocked": 1}},
            "tags": [{"title": "sha:0123456789abcdef0123456789abcdef01234567"}]}});
        return ok(&run.to_string());
    }
    let title = |title: &str| {
        ok(&serde_json::json!({"status": true, "result": {"title": title}}).to_string())
    };
    match url.rsplit('/').next() {
        Some("2") => title("Login"),
        Some("4") => title("Logout"),
        _ => OpResult::Fetched(Answer::Status {
            status: 500,
            retry_after: None,
            body: Vec::new(),
            truncated: false,
        }),
    }
}

/// The run's object holding `state`: read, and taken as the real one takes.
fn object(state: &mut RunState, op: &Op) -> Option<OpResult> {
    match op {
        Op::ReadRun(_) => Some(OpResult::Run(Box::new(state.clone()))),
        Op::TakeReport {
            message_id,
            fetched,
            ..
        } => {
            let taken = take_report(state, message_id, fetched.clone());
            if let Some(taken) = &taken {
                *state = taken.clone();
            }
            Some(OpResult::Taken(taken.map(Box::new)))
        }
        Op::Fetch(request) => Some(qase(request)),
        _ => None,
    }
}

/// Makes the report of [`due`] for message `message_id`, with the run's
/// object holding `state` and Qase's API answering as [`qase`], except
/// where `answer` says otherwise.
fn make(
    config: &Config,
    message_id: &str,
    state: &mut RunState,
    mut answer: impl FnMut(&Op) -> Option<OpResult>,
) -> Run {
    let (mut machine, next) = MakeReport::start(config, message_id, due());
    script::run(&mut machine, next, NOW, |op| {
        answer(op).or_else(|| object(state, op))
    })
}

fn take_of(run: &Run) -> Option<&Failures> {
    let takes: Vec<_> = run
        .ops
        .iter()
        .filter_map(|op| match op {
            Op::TakeReport {
                key,
                message_id,
                fetched,
            } => Some((key, message_id, &fetched.failures)),
            _ => None,
        })
        .collect();
    let [(key, message_id, failures)] = takes[..] else {
        panic!("not one take: {:?}", run.ops);
    };
    assert_eq!(*key, due().run_report);
    assert_eq!(message_id, MESSAGE);
    failures.as_ref()
}

/// The deliveries queued, and the report each carries.
fn queued(run: &Run) -> Vec<(&QueuedDelivery, RunReport)> {
    let Some(Op::QueueDeliveries(messages)) = run.ops.last() else {
        panic!("nothing queued: {:?}", run.ops);
    };
    messages
        .iter()
        .map(|message| {
            let body = message.body.as_deref().expect("a report travels inline");
            (message, serde_json::from_str(body).unwrap())
        })
        .collect()
}

fn fetched(run: &Run) -> Vec<&Request> {
    run.ops
        .iter()
        .filter_map(|op| match op {
            Op::Fetch(request) => Some(request),
            _ => None,
        })
        .collect()
}

#[test]
fn a_run_not_ended_has_nothing_to_report() {
    let config = with_token(DESTINATIONS);
    for status in [RunStatus::Unknown, RunStatus::Started] {
        let mut state = RunState {
            status,
            ..ended_state()
        };
        let run = make(&config, MESSAGE, &mut state, |_| None);
        assert_eq!(names(&run.ops), ["read_run"]);
        assert!(matches!(&run.ops[0], Op::ReadRun(key) if *key == due().run_report));
        assert_eq!(run.end, Disposition::Ack);
        assert_eq!(state.report, ReportState::NotSent, "not taken");
    }
}

#[test]
fn a_run_object_that_fails_retries_the_message() {
    let config = with_token(DESTINATIONS);
    let mut state = ended_state();
    let run = make(&config, MESSAGE, &mut state, |op| match op {
        Op::ReadRun(_) => Some(OpResult::Failed("object down".into())),
        _ => None,
    });
    assert_eq!(names(&run.ops), ["read_run"]);
    assert_eq!(run.end, Disposition::Retry);
    assert_eq!(run.notes.len(), 1);
    assert_eq!(run.notes[0].level, Level::Error);
    assert!(run.notes[0].line.contains("WEB/42") && run.notes[0].line.contains("object down"));
}

#[test]
fn without_a_token_the_report_is_taken_and_queued_with_the_counts_only() {
    let config = without_token();
    let mut state = ended_state();
    let run = make(&config, MESSAGE, &mut state, |_| None);
    assert_eq!(names(&run.ops), ["read_run", "take", "queue_deliveries"]);
    assert_eq!(run.end, Disposition::Ack);
    assert_eq!(take_of(&run), None);
    assert_eq!(state.report, ReportState::Taken { by: MESSAGE.into() });

    let queued = queued(&run);
    let to: Vec<_> = queued
        .iter()
        .map(|(message, _)| message.destination.as_deref().unwrap())
        .collect();
    assert_eq!(to, ["a", "s"], "the report destinations of WEB only");
    for (message, report) in &queued {
        assert_eq!(message.id, report_id("WEB", 42));
        assert_eq!(message.event_name, RUN_REPORT_EVENT);
        assert_eq!(message.received_at, NOW);
        assert_eq!((report.counts.cases, report.counts.failed), (3, 1));
        assert_eq!(report.failures.source, FailureSource::None);
        assert!(report.failures.items.is_empty());
    }
    let line: serde_json::Value = serde_json::from_str(&run.notes[0].line).unwrap();
    assert_eq!(run.notes[0].level, Level::Log);
    assert_eq!(
        line,
        serde_json::json!({"event": "run_report", "project": "WEB", "run": 42,
            "id": report_id("WEB", 42), "destinations": 2, "failures_listed": 0})
    );
}

/// The operations of `next`, which must be a round (not the end).
fn round(next: Next) -> Vec<Op> {
    match next {
        Next::Run(ops) => ops,
        Next::End(end) => panic!("ended: {end:?}"),
    }
}

/// Checks that `ops` are `GET`s of `urls` on Qase's API, with its token and timeout.
fn assert_gets(ops: &[Op], urls: &[String]) {
    assert_eq!(ops.len(), urls.len(), "{ops:?}");
    for (op, url) in ops.iter().zip(urls) {
        let Op::Fetch(request) = op else {
            panic!("not a fetch: {op:?}")
        };
        assert_eq!(&request.url, url);
        assert_eq!(request.method, Method::Get);
        assert_eq!(request.timeout, Duration::from_secs(3));
        assert!(request.headers.contains(&("Token".into(), "tok".into())));
    }
}

/// The failures of run `WEB/42` as [`qase`] lists them.
fn qase_failures() -> Failures {
    let failure = |case_id, title: Option<&str>, status| Failure {
        case_id,
        title: title.map(str::to_owned),
        status,
        url: format!("https://app.qase.io/case/WEB-{case_id}"),
    };
    Failures {
        source: FailureSource::QaseApi,
        items: vec![
            failure(2, Some("Login"), FailureStatus::Failed),
            // Its title could not be fetched: listed without one.
            failure(9, None, FailureStatus::Failed),
            failure(4, Some("Logout"), FailureStatus::Blocked),
        ],
        more: 0,
    }
}

/// What Qase's API counts (as [`qase`] answers), not what the end event carried.
fn assert_counts_are_qases(report: &RunReport, details: &crate::runs::details::RunDetails) {
    assert_eq!(report.tags, details.tags);
    let counts = &report.counts;
    assert_eq!(
        (counts.cases, counts.passed, counts.failed, counts.blocked),
        (5, 2, 2, 1)
    );
    assert_eq!(
        (counts.skipped, counts.untested, counts.duration),
        (Some(0), Some(0), 7_000)
    );
}

#[test]
fn with_a_token_the_listings_then_the_titles_are_fetched_each_at_once() {
    let config = with_token(DESTINATIONS);
    let mut state = ended_state();
    let (mut machine, next) = MakeReport::start(&config, MESSAGE, due());
    let mut feed = |ops: &[Op], machine: &mut MakeReport<'_>| {
        let results = ops
            .iter()
            .map(|op| object(&mut state, op).unwrap_or(OpResult::Done));
        machine.feed(results.collect(), NOW)
    };
    let read = round(next);
    let listings = round(feed(&read, &mut machine));
    let titles = round(feed(&listings, &mut machine));
    let take = round(feed(&titles, &mut machine));
    let base = "https://api.qase.eu/v1";
    let mut first_round = ["failed", "blocked"]
        .map(|status| format!("{base}/result/WEB?run=42&status={status}&limit=100&offset=0"))
        .to_vec();
    first_round.push(format!("{base}/run/WEB/42"));
    assert_gets(&listings, &first_round);
    // Failed first, by case id; a case both failed and blocked counts as failed.
    assert_gets(
        &titles,
        &[2, 9, 4].map(|case| format!("{base}/case/WEB/{case}")),
    );

    let [Op::TakeReport { fetched, .. }] = &take[..] else {
        panic!("{take:?}")
    };
    let expected = qase_failures();
    assert_eq!(fetched.failures.as_ref(), Some(&expected));
    let details = fetched
        .details
        .as_ref()
        .expect("the run's details, fetched with the listings");
    assert_eq!(
        details.tags,
        ["sha:0123456789abcdef0123456789abcdef01234567"]
    );
    let queue = round(feed(&take, &mut machine));
    let [Op::QueueDeliveries(messages)] = &queue[..] else {
        panic!("{queue:?}")
    };
    assert_eq!(messages.len(), 2);
    let report: RunReport = serde_json::from_str(messages[0].body.as_deref().unwrap()).unwrap();
    assert_eq!(report.failures, expected);
    assert_counts_are_qases(&report, details);
    assert!(matches!(
        feed(&queue, &mut machine),
        Next::End(Disposition::Ack)
    ));
}

#[test]
fn at_most_the_listed_failures_have_their_titles_fetched_and_none_for_no_failure() {
    let config = with_token(DESTINATIONS);
    let many: Vec<u64> = (1..=30).collect();
    let mut state = ended_state();
    let run = make(&config, MESSAGE, &mut state, |op| match op {
        Op::Fetch(request) if request.url.contains("status=failed") => Some(listing(&many)),
        Op::Fetch(request) if request.url.contains("status=blocked") => Some(listing(&[])),
        _ => None,
    });
    // Both listings and the run's details, then the titles.
    assert_eq!(fetched(&run).len(), 3 + MAX_LISTED_FAILURES);
    let failures = take_of(&run).unwrap();
    assert_eq!(failures.items.len(), MAX_LISTED_FAILURES);
    assert_eq!(failures.more, 30 - MAX_LISTED_FAILURES as u64);

    // Nothing failed: the two listings (and the details) only, and an
    // empty list from the API.
    let mut state = ended_state();
    let run = make(&config, MESSAGE, &mut state, |op| match op {
        Op::Fetch(request) if request.url.contains("/result/") => Some(listing(&[])),
        _ => None,
    });
    assert_eq!(
        names(&run.ops),
        [
            "read_run",
            "fetch",
            "fetch",
            "fetch",
            "take",
            "queue_deliveries"
        ]
    );
    let failures = take_of(&run).unwrap();
    assert_eq!(
        (failures.source, failures.items.len(), failures.more),
        (FailureSource::QaseApi, 0, 0)
    );
}

#[test]
fn a_listing_that_fails_leaves_the_report_with_the_counts_only() {
    let config = with_token(DESTINATIONS);
    let status = |status, retry_after| {
        OpResult::Fetched(Answer::Status {
            status,
            retry_after,
            body: b"{}".to_vec(),
            truncated: false,
        })
    };
    let cut = OpResult::Fetched(Answer::Status {
        status: 200,
        retry_after: None,
        body: br#"{"status":true,"result":{"entities":[{"case_id":1}]}}"#.to_vec(),
        truncated: true,
    });
    let failing = [
        OpResult::Fetched(Answer::Timeout(Duration::from_secs(3))),
        OpResult::Fetched(Answer::NetworkError("refused".into())),
        status(429, Some(60)),
        status(503, None),
        status(401, None),
        ok("<html>"),
        cut,
        OpResult::Failed("the request could not be made".into()),
    ];
    for (bad, which) in failing
        .iter()
        .flat_map(|bad| [(bad, "failed"), (bad, "blocked")])
    {
        let mut state = ended_state();
        let run = make(&config, MESSAGE, &mut state, |op| match op {
            Op::Fetch(request) if request.url.contains(&format!("status={which}")) => {
                Some(bad.clone())
            }
            _ => None,
        });
        assert_eq!(
            names(&run.ops),
            [
                "read_run",
                "fetch",
                "fetch",
                "fetch",
                "take",
                "queue_deliveries"
            ],
            "{which}: {bad:?}"
        );
        assert_eq!(run.end, Disposition::Ack);
        assert_eq!(take_of(&run), None, "{which}: {bad:?}");
        for (_, report) in queued(&run) {
            assert_eq!(report.failures.source, FailureSource::None);
            // The run's details still came: the counts are Qase's.
            assert_eq!(report.counts.failed, 2, "the counts are the run's");
        }
        assert_eq!(run.notes[0].level, Level::Warn);
        assert!(run.notes[0].line.contains("WEB/42"), "{:?}", run.notes);
    }
}

#[test]
fn failures_the_run_already_keeps_are_not_fetched_again() {
    let config = with_token(DESTINATIONS);
    let kept = Failures {
        source: FailureSource::QaseApi,
        items: vec![Failure {
            case_id: 7,
            title: Some("Checkout".into()),
            status: FailureStatus::Failed,
            url: "https://app.qase.io/case/WEB-7".into(),
        }],
        more: 0,
    };
    let mut state = RunState {
        failures: Some(kept.clone()),
        ..ended_state()
    };
    let run = make(&config, MESSAGE, &mut state, |_| None);
    assert_eq!(names(&run.ops), ["read_run", "take", "queue_deliveries"]);
    assert_eq!(take_of(&run), None);
    for (_, report) in queued(&run) {
        assert_eq!(report.failures, kept);
    }
}

#[test]
fn a_report_is_taken_once_and_only_its_taker_queues_it_again() {
    for config in [without_token(), with_token(DESTINATIONS)] {
        let mut state = ended_state();
        let first = make(&config, MESSAGE, &mut state, |_| None);
        assert_eq!(queued(&first).len(), 2);

        // Another message for the same run finds it taken: nothing queued.
        let other = make(&config, "msg-2", &mut state, |_| None);
        assert_eq!(
            other
                .ops
                .last()
                .map(|op| names(std::slice::from_ref(op))[0]),
            Some("take")
        );
        assert_eq!(other.end, Disposition::Ack);
        assert!(other
            .notes
            .iter()
            .all(|note| !note.line.contains("run_report")));

        // The taker's retry (its deliveries not queued before) queues them again.
        let retry = make(&config, MESSAGE, &mut state, |_| None);
        assert_eq!(queued(&retry).len(), 2);
        assert_eq!(retry.end, Disposition::Ack);
    }
}

#[test]
fn a_take_or_a_queue_that_fails_retries_the_message() {
    let config = without_token();
    let mut state = ended_state();
    let run = make(&config, MESSAGE, &mut state, |op| match op {
        Op::TakeReport { .. } => Some(OpResult::Failed("object down".into())),
        _ => None,
    });
    assert_eq!(names(&run.ops), ["read_run", "take"]);
    assert_eq!(run.end, Disposition::Retry);
    assert_eq!(run.notes[0].level, Level::Error);

    let run = make(&config, MESSAGE, &mut state, |op| match op {
        Op::QueueDeliveries(_) => Some(OpResult::Failed("queue down".into())),
        _ => None,
    });
    assert_eq!(names(&run.ops), ["read_run", "take", "queue_deliveries"]);
    assert_eq!(run.end, Disposition::Retry);
    let last = run.notes.last().unwrap();
    assert_eq!(last.level, Level::Error);
    assert!(last.line.contains("not queued") && last.line.contains("queue down"));
}

#[test]
fn with_no_report_destination_the_report_is_taken_and_nothing_queued() {
    let config = with_token(r#"[{"name":"b","url":"https://b.example"}]"#);
    let mut state = ended_state();
    let run = make(&config, MESSAGE, &mut state, |_| None);
    // The token alone wants the report (its failures, for the runs API).
    assert_eq!(names(&run.ops).last(), Some(&"take"));
    assert_eq!(fetched(&run).len(), 3 + 3);
    assert_eq!(run.end, Disposition::Ack);
    assert!(take_of(&run).is_some());
    let line: serde_json::Value = serde_json::from_str(&run.notes[0].line).unwrap();
    assert_eq!(
        (&line["event"], &line["destinations"]),
        (&"run_report".into(), &0.into())
    );
    assert!(matches!(state.report, ReportState::Taken { .. }));
}

/// A page of `matched` results in all, the cases `from..from+count`.
fn page(from: u64, count: u64, matched: u64) -> OpResult {
    let entities: Vec<_> = (from..from + count)
        .map(|case| serde_json::json!({"case_id": case}))
        .collect();
    let page = serde_json::json!({"status": true, "result": {"total": matched,
        "filtered": matched, "count": count, "entities": entities}});
    ok(&page.to_string())
}

fn offset_of(url: &str) -> u64 {
    url.rsplit("offset=").next().unwrap().parse().unwrap()
}

#[test]
fn failures_are_paged_past_the_first_hundred_within_the_budget() {
    let config = with_token(DESTINATIONS);
    // 250 failed results (distinct cases), 1,000 blocked: the blocked are
    // read up to the budget only.
    let mut state = ended_state();
    let run = make(&config, MESSAGE, &mut state, |op| match op {
        Op::Fetch(request) if request.url.contains("status=failed") => {
            let offset = offset_of(&request.url);
            Some(page(offset + 1, 100.min(250 - offset), 250))
        }
        Op::Fetch(request) if request.url.contains("status=blocked") => {
            let offset = offset_of(&request.url);
            Some(page(10_000 + offset, 100, 1_000))
        }
        _ => None,
    });
    let offsets = |status: &str| -> Vec<u64> {
        fetched(&run)
            .iter()
            .filter(|request| request.url.contains(&format!("status={status}")))
            .map(|request| offset_of(&request.url))
            .collect()
    };
    assert_eq!(offsets("failed"), [0, 100, 200]);
    assert_eq!(
        offsets("blocked"),
        [0, 100, 200, 300, 400],
        "at most 5 pages"
    );
    assert_eq!(listings::MAX_RESULT_PAGES, 5);
    // The budget stated in README: 1 + 2 x 5 + 20.
    assert!(fetched(&run).len() <= 1 + 2 * 5 + MAX_LISTED_FAILURES);
    let failures = take_of(&run).unwrap();
    assert_eq!(failures.items.len(), MAX_LISTED_FAILURES);
    // Every failure counted: 250 failed + 1,000 blocked, 20 listed.
    assert_eq!(failures.more, 250 + 1_000 - MAX_LISTED_FAILURES as u64);
    assert_eq!(failures.items[0].case_id, 1, "failed first, by case id");
}

#[test]
fn a_page_that_fails_past_the_first_leaves_the_report_with_the_counts_only() {
    let config = with_token(DESTINATIONS);
    let mut state = ended_state();
    let run = make(&config, MESSAGE, &mut state, |op| match op {
        Op::Fetch(request) if request.url.contains("status=failed") => {
            match offset_of(&request.url) {
                0 => Some(page(1, 100, 150)),
                _ => Some(OpResult::Fetched(Answer::Timeout(Duration::from_secs(3)))),
            }
        }
        Op::Fetch(request) if request.url.contains("status=blocked") => Some(listing(&[])),
        _ => None,
    });
    assert_eq!(take_of(&run), None);
    assert_eq!(run.end, Disposition::Ack);
}

#[test]
fn details_the_run_keeps_from_its_end_are_not_fetched_again() {
    let config = with_token(DESTINATIONS);
    let mut state = ended_state();
    let body = r#"{"result": {"status_text": "passed", "stats": {"total": 9, "statuses": {"passed": 9}}, "tags": ["kept"]}}"#;
    state.details = crate::runs::qase_api::parse_run(body.as_bytes());
    let run = make(&config, MESSAGE, &mut state, |_| None);
    assert!(fetched(&run)
        .iter()
        .all(|request| !request.url.contains("/run/")));
    let (_, report) = &queued(&run)[0];
    assert_eq!(report.tags, ["kept"]);
    assert_eq!((report.counts.cases, report.counts.passed), (9, 9));
}

#[test]
fn details_read_while_the_run_was_in_progress_are_fetched_again() {
    let config = with_token(DESTINATIONS);
    let mut state = ended_state();
    let body = r#"{"result": {"status_text": "in_progress", "stats": {"total": 5, "statuses": {"untested": 5}}, "tags": ["at-start"]}}"#;
    state.details = crate::runs::qase_api::parse_run(body.as_bytes());
    let run = make(&config, MESSAGE, &mut state, |_| None);
    assert!(fetched(&run)
        .iter()
        .any(|request| request.url.ends_with("/run/WEB/42")));
    let (_, report) = &queued(&run)[0];
    assert_eq!(
        report.tags,
        ["sha:0123456789abcdef0123456789abcdef01234567"]
    );
    assert_eq!(
        (report.counts.cases, report.counts.passed),
        (5, 2),
        "the run's result, not its start"
    );
}
