//! Test runs (issue #20): a run's state from its events, one report per run
//! and destination, and the CI gate `qase-hook wait`.
//! 1. A run's events, sent shuffled and each twice (one batch concurrently),
//!    make the right state (`GET /api/runs/WEB/42`, `GET /api/runs?project=WEB`);
//!    each `"reports": true` destination gets exactly one report, listing
//!    the failed and blocked cases with their titles from the local Qase
//!    API (asked with the token); a destination without reports gets none.
//! 2. `qase-hook wait`, started before the run ends, is still waiting when
//!    `run.completed` is posted and then exits on its own, long before its
//!    timeout: 0 for a run that meets `--max-failed 0`, 1 for one that does
//!    not; a run that never ends exits 2 at the timeout. Each prints a
//!    one-line verdict. (The time from the post to the exit is printed,
//!    not asserted: speed targets belong in BENCHMARKS.md.)
//! 3. A Qase API that never answers for one project (issue #27): with
//!    `QASE_API_TIMEOUT_SECONDS=2`, that run's report still goes out, with
//!    its counts and no listed failures, and it holds up neither another
//!    run's report (with its titles) nor the deliveries of other events.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use qase_edge_e2e::qase_api::QaseApi;
use qase_edge_e2e::sink::{Received, Sink};
use qase_edge_e2e::{qase_hook_binary, Worker, WorkerOptions, ADMIN_TOKEN};
use serde_json::{json, Value};

const APP_URL: &str = "https://qase.example.eu";

fn delivery(event_name: &str, at: u64, payload: Value) -> Vec<u8> {
    delivery_in("WEB", event_name, at, payload)
}

fn delivery_in(project: &str, event_name: &str, at: u64, payload: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "event_name": event_name, "timestamp": at, "payload": payload,
        "team_member_id": 11, "project_code": project,
    }))
    .unwrap()
}

fn reports(received: &[Received]) -> Vec<Received> {
    received
        .iter()
        .filter(|r| r.headers.get("x-qase-event").map(String::as_str) == Some("run.report"))
        .cloned()
        .collect()
}

fn chat_reports(received: &[Received]) -> Vec<Received> {
    received
        .iter()
        .filter(|r| String::from_utf8_lossy(&r.body).contains("Test run report"))
        .cloned()
        .collect()
}

/// Waits until `pick` finds at least `count` requests at `path`; panics
/// after 40 s with the Worker's last log lines.
async fn wait_for(
    worker: &Worker,
    sink: &Sink,
    path: &str,
    count: usize,
    pick: fn(&[Received]) -> Vec<Received>,
) -> Vec<Received> {
    let what = format!("{count} report(s) at {path}");
    worker
        .wait_until(&what, Duration::from_secs(40), async || {
            let found = pick(&sink.received(path));
            (found.len() >= count).then_some(found)
        })
        .await
}

/// Whether `request` is one that `pick` picks.
fn picked(pick: fn(&[Received]) -> Vec<Received>, request: &Received) -> bool {
    !pick(std::slice::from_ref(request)).is_empty()
}

/// A fixed shuffle, so that a failure can be replayed.
fn shuffled<T>(mut items: Vec<T>, mut seed: u64) -> Vec<T> {
    for i in (1..items.len()).rev() {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        items.swap(i, (seed >> 33) as usize % (i + 1));
    }
    items
}

#[tokio::test]
async fn a_runs_shuffled_duplicated_events_make_its_state_and_one_report_per_destination() {
    let qase = QaseApi::start("qase-api-token");
    for (case, title) in [
        (1, "Login works"),
        (2, "Checkout total is wrong"),
        (3, "Payment page"),
        (4, "Search <b>@everyone</b>"),
    ] {
        qase.case("WEB", case, title);
    }
    qase.result("WEB", 42, 1, "passed");
    qase.result("WEB", 42, 2, "failed");
    qase.result("WEB", 42, 3, "blocked");
    qase.result("WEB", 42, 4, "failed");
    qase.result("WEB", 41, 9, "failed"); // another run's: not listed

    let sink = Sink::start();
    let destinations = json!([
        {"name": "ci", "url": sink.url("/ci"), "reports": true, "events": ["run.started"]},
        {"name": "chat", "url": sink.url("/chat"), "format": "slack", "pace_ms": 0, "reports": true, "events": ["case.*"]},
        {"name": "raw", "url": sink.url("/raw"), "events": ["run.*"]},
    ]);
    let worker = Worker::start(
        WorkerOptions::with_api()
            .var("QASE_DESTINATIONS", &destinations.to_string())
            .var("QASE_APP_URL", APP_URL)
            .var("QASE_API_URL", &qase.base_url())
            .var("QASE_API_TOKEN", qase.token())
            .var("QASE_RUN_SETTLE_SECONDS", "2"),
    );

    let events = vec![
        delivery(
            "run.started",
            1_000,
            json!({"id": 42, "title": "Nightly", "plan": {"id": 3, "title": "Regression"}, "cases_count": 4, "environment": "staging"}),
        ),
        delivery(
            "result.created",
            1_010,
            json!({"run_id": 42, "case_id": 1, "status": "passed"}),
        ),
        delivery(
            "result.created",
            1_020,
            json!({"run_id": 42, "case_id": 2, "status": "failed"}),
        ),
        delivery(
            "result.created",
            1_030,
            json!({"run_id": 42, "case_id": 3, "status": "blocked"}),
        ),
        delivery(
            "result.created",
            1_040,
            json!({"run": 42, "case": 4, "status": "failed"}),
        ),
        delivery("result.updated", 1_045, json!({"unexpected": ["shape"]})),
        delivery(
            "run.completed",
            1_050,
            json!({"id": 42, "cases": 4, "passed": 1, "failed": 2, "blocked": 1, "duration": 50000}),
        ),
    ];
    let mut all = events.clone();
    all.extend(events.iter().cloned());
    let order = shuffled(all, 20);
    // The first half one by one, the second half all at once.
    let (first, second) = order.split_at(order.len() / 2);
    for body in first {
        worker.accept_or_duplicate(body.clone()).await;
    }
    futures_util::future::join_all(
        second
            .iter()
            .map(|body| worker.accept_or_duplicate(body.clone())),
    )
    .await;

    let ci = wait_for(&worker, &sink, "/ci", 1, reports).await;
    let chat = wait_for(&worker, &sink, "/chat", 1, chat_reports).await;
    // Anything that would send a second report has had time to.
    let quiet = Duration::from_secs(4);
    tokio::join!(
        sink.assert_quiet_for_matching("/ci", quiet, |r| picked(reports, r)),
        sink.assert_quiet_for_matching("/chat", quiet, |r| picked(chat_reports, r)),
    );
    let ci = reports(&sink.received("/ci")).len().max(ci.len());
    let chat_count = chat_reports(&sink.received("/chat")).len().max(chat.len());
    assert_eq!(ci, 1, "one report to ci, got {ci}\n{}", worker.logs());
    assert_eq!(chat_count, 1, "one report to chat, got {chat_count}");
    sink.wait_for(&worker, "/raw", 2, Duration::from_secs(20))
        .await;
    assert!(
        reports(&sink.received("/raw")).is_empty(),
        "raw asked for no reports"
    );
    assert_eq!(
        sink.received("/raw").len(),
        2,
        "raw still gets run.started and run.completed"
    );

    let request = &reports(&sink.received("/ci"))[0];
    let report: Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(report["type"], "run.report", "{report}");
    assert_eq!(
        request.headers["webhook-id"],
        report["id"].as_str().unwrap()
    );
    assert_eq!(
        (report["project"].as_str(), report["run"].as_u64()),
        (Some("WEB"), Some(42))
    );
    assert_eq!(report["outcome"], "completed");
    assert_eq!(report["title"], "Nightly");
    assert_eq!(report["counts"]["failed"], 2);
    assert_eq!(report["pass_rate"], 25.0);
    assert_eq!(
        report["results_received"], 4,
        "the result.updated naming no run is not counted"
    );
    assert_eq!(report["failures"]["source"], "qase_api");
    let listed: Vec<(u64, String, String)> = report["failures"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["case_id"].as_u64().unwrap(),
                f["status"].as_str().unwrap().to_owned(),
                f["title"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            (2, "failed".to_owned(), "Checkout total is wrong".to_owned()),
            (4, "failed".to_owned(), "Search <b>@everyone</b>".to_owned()),
            (3, "blocked".to_owned(), "Payment page".to_owned()),
        ]
    );
    assert_eq!(report["url"], format!("{APP_URL}/run/WEB/dashboard/42"));

    let slack: Value =
        serde_json::from_slice(&chat_reports(&sink.received("/chat"))[0].body).unwrap();
    let section = slack["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(
        section.contains("WEB-2 Checkout total is wrong (failed)"),
        "{section}"
    );
    assert!(
        !section.contains("@everyone"),
        "a title pings nobody: {section}"
    );

    // Qase's API was asked with the token, for this run's failed and blocked results.
    let asked = qase.requests();
    assert!(
        asked
            .iter()
            .all(|(_, token)| token.as_deref() == Some("qase-api-token")),
        "{asked:?}"
    );
    assert!(
        asked
            .iter()
            .any(|(target, _)| target == "/v1/result/WEB?run=42&status=failed&limit=100&offset=0"),
        "{asked:?}"
    );
    assert!(
        asked.iter().any(|(target, _)| target == "/v1/case/WEB/2"),
        "{asked:?}"
    );

    let (status, run) = worker.api(reqwest::Method::GET, "/api/runs/WEB/42").await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(
        (run["status"].as_str(), run["done"].as_bool()),
        (Some("completed"), Some(true))
    );
    assert_eq!(
        (
            run["title"].as_str(),
            run["plan_id"].as_u64(),
            run["started_by"].as_u64()
        ),
        (Some("Nightly"), Some(3), Some(11))
    );
    assert_eq!(
        (
            run["first_event_at"].as_u64(),
            run["last_event_at"].as_u64()
        ),
        (Some(1_000), Some(1_050))
    );
    assert_eq!(
        run["results"],
        json!({"created": 4, "updated": 0, "deleted": 0})
    );
    assert_eq!(run["run_events"], 2);
    assert_eq!(run["report_sent"], true);
    assert_eq!(run["failures"]["items"].as_array().map(Vec::len), Some(3));
    let (status, page) = worker
        .api(reqwest::Method::GET, "/api/runs?project=WEB")
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["runs"].as_array().map(Vec::len), Some(1), "{page}");
    assert_eq!(page["runs"][0]["run"], 42);
    let (status, missing) = worker.api(reqwest::Method::GET, "/api/runs/WEB/43").await;
    assert_eq!(
        (status, missing["error"].as_str()),
        (404, Some("run_not_found"))
    );
    let (status, bad) = worker.api(reqwest::Method::GET, "/api/runs").await;
    assert_eq!(
        (status, bad["field"].as_str()),
        (400, Some("project")),
        "{bad}"
    );
}

/// A run of `project` with one failed case: its start and its end.
fn one_failed_run(project: &str, run: u64) -> [Vec<u8>; 2] {
    [
        delivery_in(
            project,
            "run.started",
            2_000,
            json!({"id": run, "title": format!("{project} nightly"), "cases_count": 2}),
        ),
        delivery_in(
            project,
            "run.completed",
            2_050,
            json!({"id": run, "cases": 2, "passed": 1, "failed": 1, "blocked": 0, "duration": 1000}),
        ),
    ]
}

#[tokio::test]
async fn a_qase_api_that_never_answers_holds_up_neither_deliveries_nor_other_reports() {
    let qase = QaseApi::start("qase-api-token");
    qase.case("WEB", 2, "Checkout total is wrong");
    qase.result("WEB", 42, 2, "failed");
    qase.result("SLOW", 7, 5, "failed");
    qase.hang("SLOW");

    let sink = Sink::start();
    let destinations = json!([
        {"name": "ci", "url": sink.url("/ci"), "reports": true, "events": ["case.*"]},
    ]);
    let worker = Worker::start(
        WorkerOptions::with_api()
            .var("QASE_DESTINATIONS", &destinations.to_string())
            .var("QASE_API_URL", &qase.base_url())
            .var("QASE_API_TOKEN", qase.token())
            .var("QASE_API_TIMEOUT_SECONDS", "2")
            .var("QASE_RUN_SETTLE_SECONDS", "1"),
    );
    // The stuck project's run first, so that its report is due first.
    for body in one_failed_run("SLOW", 7) {
        worker.accept(body).await;
    }
    for body in one_failed_run("WEB", 42) {
        worker.accept(body).await;
    }
    for case in 1..=5 {
        let body = delivery("case.deleted", 3_000 + case, json!({"id": case}));
        worker.accept(body).await;
    }

    let found = worker
        .wait_until(
            "both reports and 5 events at /ci",
            Duration::from_secs(40),
            async || {
                let received = sink.received("/ci");
                let reports = reports(&received);
                (reports.len() >= 2 && received.len() >= reports.len() + 5).then_some(reports)
            },
        )
        .await;
    let report_of = |project: &str| -> Value {
        found
            .iter()
            .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
            .find(|report| report["project"] == project)
            .unwrap_or_else(|| panic!("no report of {project}"))
    };
    let web = report_of("WEB");
    assert_eq!(web["failures"]["source"], "qase_api", "{web}");
    assert_eq!(
        web["failures"]["items"][0]["title"],
        "Checkout total is wrong"
    );
    let slow = report_of("SLOW");
    assert_eq!(slow["counts"]["failed"], 1, "{slow}");
    assert_eq!(slow["failures"]["source"], "none", "{slow}");
    assert_eq!(slow["failures"]["items"], json!([]), "{slow}");
    assert!(
        qase.requests()
            .iter()
            .any(|(target, _)| target.starts_with("/v1/result/SLOW?")),
        "the stuck project's results were asked for"
    );
    assert!(
        worker
            .logs()
            .contains("did not list the results of run SLOW/7"),
        "the report says why it lists no failures\n{}",
        worker.logs()
    );
}

fn gate(worker: &Worker, run: u64, timeout: &str) -> Child {
    Command::new(qase_hook_binary())
        .args([
            "wait",
            "--project",
            "WEB",
            "--run",
            &run.to_string(),
            "--max-failed",
            "0",
            "--timeout",
            timeout,
        ])
        .env("QASE_HOOK_API_URL", worker.url(""))
        .env("QASE_ADMIN_TOKEN", ADMIN_TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qase-hook starts")
}

/// Waits for a gate's exit (at most `limit`): its code, stdout and when it exited.
async fn finish(mut child: Child, limit: Duration) -> (i32, String, Instant) {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let at = Instant::now();
            let output = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
            return (status.code().unwrap_or(-1), stdout, at);
        }
        assert!(
            Instant::now() < deadline,
            "the gate did not exit within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn qase_hook_wait_is_woken_by_run_completed_and_exits_by_the_thresholds() {
    let binary = qase_hook_binary();
    assert!(binary.exists(), "{}", binary.display());
    let worker = Worker::start(WorkerOptions::with_api());
    for run in [7, 8, 9] {
        worker
            .accept_or_duplicate(delivery(
                "run.started",
                2_000,
                json!({"id": run, "title": format!("Run {run}")}),
            ))
            .await;
    }
    let mut passing = gate(&worker, 7, "120s");
    let mut failing = gate(&worker, 8, "120s");
    let never = gate(&worker, 9, "3s");
    // Give the gates time to reach their run's object (not part of any
    // assertion). A pause, not a wait on a condition: nothing outside the
    // Worker shows a gate waiting there (its waiters are in memory,
    // run_watch.rs), and a gate that is late still sees the run end.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        passing.try_wait().unwrap().is_none(),
        "the gate of run 7 exited before its run ended"
    );
    assert!(
        failing.try_wait().unwrap().is_none(),
        "the gate of run 8 exited before its run ended"
    );

    let posted = Instant::now();
    worker
        .accept_or_duplicate(delivery(
            "run.completed",
            2_100,
            json!({"id": 7, "cases": 3, "passed": 3, "failed": 0, "blocked": 0, "duration": 1000}),
        ))
        .await;
    worker
        .accept_or_duplicate(delivery(
            "run.completed",
            2_100,
            json!({"id": 8, "cases": 3, "passed": 2, "failed": 1, "blocked": 0, "duration": 1000}),
        ))
        .await;

    // Well before their 120 s timeout: woken by the event.
    let (code, out, at) = finish(passing, Duration::from_secs(60)).await;
    eprintln!(
        "run 7's gate exited {:?} after run.completed was posted",
        at - posted
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with("PASSED WEB run 7 \"Run 7\": 3 of 3 passed"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 1, "{out}");
    let (code, out, at) = finish(failing, Duration::from_secs(60)).await;
    eprintln!(
        "run 8's gate exited {:?} after run.completed was posted",
        at - posted
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.starts_with("FAILED WEB run 8") && out.contains("1 failed (at most 0 allowed)"),
        "{out}"
    );

    let (code, out, _) = finish(never, Duration::from_secs(60)).await;
    assert_eq!(code, 2, "{out}");
    assert!(out.starts_with("TIMEOUT WEB run 9"), "{out}");
}
