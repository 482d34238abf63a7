//! The reconcile pass (issue #29), against the local Qase API, with the
//! cron fired through the scheduled endpoint:
//! 1. A lost `run.completed`: a run whose `run.started` arrived and whose
//!    end never did, and a finished run qase-edge never heard of, are
//!    completed by the pass with their counts from the API; each report
//!    reaches a `"reports": true` destination exactly once (the cron fired
//!    again after it); `GET /api/runs/WEB/{id}` shows `source: reconciled`.
//!    A run Qase still shows in progress stays started.
//!    A CI gate's wait started before the pass returns when it ends the
//!    run, and `qase-hook wait --max-failed 0` started before it exits 1
//!    by Qase's counts. The run's details (every status count, its tags)
//!    come from the API and reach the report and the run view.
//!    `/health` says reconciliation is on, for `WEB`.
//! 2. A webhook `run.completed` racing the pass: the run still ends with
//!    one report, and its end is the webhook's.
//! 3. A misbehaving API: a `429` with `Retry-After`, then a `500`, delay
//!    reconciliation and change nothing else (the run stays started, no
//!    report); the pass after the API is back completes the run.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::process::{Command, Stdio};

use qase_edge_e2e::qase_api::{QaseApi, TestRun};
use qase_edge_e2e::sink::{Received, Sink};
use qase_edge_e2e::{qase_hook_binary, Worker, WorkerOptions, ADMIN_TOKEN};
use serde_json::{json, Value};

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn delivery(event_name: &str, at: u64, payload: Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "event_name": event_name, "timestamp": at, "payload": payload,
        "team_member_id": 11, "project_code": "WEB",
    }))
    .unwrap()
}

/// A run of `WEB` with 2 passed and 1 failed, started 10 minutes ago.
fn qase_run(id: u64, status: &str, end_time: Option<u64>) -> TestRun {
    TestRun {
        project: "WEB".into(),
        id,
        title: format!("Nightly {id}"),
        status: status.into(),
        start_time: now_s() - 600,
        end_time,
        statuses: [
            ("passed", 2),
            ("failed", 1),
            ("blocked", 0),
            ("untested", 0),
        ]
        .into_iter()
        .map(|(s, n)| (s.to_owned(), n))
        .collect(),
        tags: Vec::new(),
    }
}

/// The reports received at `path`, by run id.
fn reports(sink: &Sink, path: &str) -> Vec<(u64, Value)> {
    sink.received(path)
        .iter()
        .filter(|r: &&Received| {
            r.headers.get("x-qase-event").map(String::as_str) == Some("run.report")
        })
        .map(|r| {
            let report: Value = serde_json::from_slice(&r.body).unwrap();
            (report["run"].as_u64().unwrap(), report)
        })
        .collect()
}

fn worker(qase: &QaseApi, sink: &Sink) -> Worker {
    let destinations =
        json!([{"name": "ci", "url": sink.url("/ci"), "reports": true, "events": ["case.*"]}]);
    Worker::start(
        WorkerOptions::with_api()
            .var("QASE_DESTINATIONS", &destinations.to_string())
            .var("QASE_API_URL", &qase.base_url())
            .var("QASE_API_TOKEN", qase.token())
            .var("QASE_RECONCILE", r#"["WEB"]"#)
            .var("QASE_RUN_SETTLE_SECONDS", "1"),
    )
}

async fn run_view(worker: &Worker, run: u64) -> Value {
    let (status, view) = worker
        .api(reqwest::Method::GET, &format!("/api/runs/WEB/{run}"))
        .await;
    assert_eq!(status, 200, "{view}");
    view
}

/// Waits until the run's state says `status`.
async fn wait_status(worker: &Worker, run: u64, status: &str) -> Value {
    worker
        .wait_until(
            &format!("run WEB/{run} {status}"),
            Duration::from_secs(30),
            async || {
                let (code, view) = worker
                    .api(reqwest::Method::GET, &format!("/api/runs/WEB/{run}"))
                    .await;
                (code == 200 && view["status"] == status).then_some(view)
            },
        )
        .await
}

#[tokio::test]
async fn reconcile_a_lost_run_completed_is_completed_by_the_pass_with_one_report() {
    let qase = QaseApi::start("qase-api-token");
    let sink = Sink::start();
    let worker = worker(&qase, &sink);
    let start = now_s() - 600;
    for id in [77, 79] {
        let started = json!({"id": id, "title": format!("Nightly {id}"), "cases_count": 3});
        worker.accept(delivery("run.started", start, started)).await;
    }
    wait_status(&worker, 77, "started").await;
    wait_status(&worker, 79, "started").await;
    const SHA: &str = "sha:0123456789abcdef0123456789abcdef01234567";
    let mut lost = qase_run(77, "failed", Some(now_s() - 60));
    lost.statuses.insert("retest".into(), 1);
    lost.tags = vec![SHA.into(), "pr:12".into()];
    qase.run(lost);
    qase.run(qase_run(78, "passed", Some(now_s() - 30))); // never heard of
    qase.run(qase_run(79, "in_progress", None));

    // A CI gate waiting on run 77 before the pass returns once it ran,
    // and qase-hook wait's verdict by Qase's counts (1 failed).
    let cli = Command::new(qase_hook_binary())
        .args([
            "wait",
            "--project",
            "WEB",
            "--run",
            "77",
            "--max-failed",
            "0",
        ])
        .args(["--timeout", "90s"])
        .env("QASE_HOOK_API_URL", worker.url(""))
        .env("QASE_ADMIN_TOKEN", ADMIN_TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("qase-hook starts");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let gate = worker.api(reqwest::Method::GET, "/api/runs/WEB/77/wait?timeout=60");
    let pass = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        worker.scheduled().await;
    };
    let asked = std::time::Instant::now();
    let ((status, waited), ()) = tokio::join!(gate, pass);
    assert_eq!(status, 200, "{waited}");
    assert_eq!(
        (waited["done"].as_bool(), waited["source"].as_str()),
        (Some(true), Some("reconciled")),
        "{waited}"
    );
    assert!(
        asked.elapsed() < Duration::from_secs(30),
        "woken, not timed out"
    );
    worker
        .wait_until("both reports", Duration::from_secs(40), async || {
            (reports(&sink, "/ci").len() >= 2).then_some(())
        })
        .await;
    // Another pass, and time for anything that would send a second report.
    worker.scheduled().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut got = reports(&sink, "/ci");
    got.sort_by_key(|(run, _)| *run);
    let runs: Vec<u64> = got.iter().map(|(run, _)| *run).collect();
    assert_eq!(runs, [77, 78], "one report each\n{}", worker.logs());
    let (_, report) = &got[0];
    assert_eq!(report["outcome"], "completed");
    assert_eq!(report["title"], "Nightly 77", "run.started's title");
    assert_eq!(
        (
            report["counts"]["cases"].as_u64(),
            report["counts"]["passed"].as_u64(),
            report["counts"]["failed"].as_u64()
        ),
        (Some(4), Some(2), Some(1)),
        "Qase's total counts the retest too: {report}"
    );
    assert_eq!(report["tags"], json!([SHA, "pr:12"]), "{report}");

    let output = tokio::task::spawn_blocking(move || cli.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.starts_with("FAILED WEB run 77")
            && stdout.contains("2 of 4 passed")
            && stdout.contains("1 failed"),
        "{stdout}"
    );

    let view = run_view(&worker, 77).await;
    assert_eq!(
        (
            view["status"].as_str(),
            view["source"].as_str(),
            view["reconciled"].as_bool()
        ),
        (Some("completed"), Some("reconciled"), Some(true)),
        "{view}"
    );
    assert_eq!(view["run_events"], 1, "only run.started was received");
    assert_eq!(view["report_sent"], true);
    let details = &view["details"];
    assert_eq!(
        (
            &details["stats"]["total"],
            &details["stats"]["retest"],
            &details["tags"]
        ),
        (&json!(4), &json!(1), &json!([SHA, "pr:12"])),
        "{view}"
    );
    assert_eq!(
        (&details["finished"], &view["details_pending"]),
        (&json!(true), &json!(false))
    );
    let never = run_view(&worker, 78).await;
    assert_eq!(
        (
            never["status"].as_str(),
            never["title"].as_str(),
            never["source"].as_str()
        ),
        (Some("completed"), Some("Nightly 78"), Some("reconciled"))
    );
    let open = run_view(&worker, 79).await;
    assert_eq!(
        (open["status"].as_str(), open["source"].as_str()),
        (Some("started"), None)
    );

    let health = worker.health().await;
    assert_eq!(
        health["reconcile"],
        json!({"on": true, "projects": ["WEB"], "off_because": null})
    );

    // The pass asked for the finished runs of the window, with the token.
    let asked = qase.requests();
    let listings: Vec<&(String, Option<String>)> = asked
        .iter()
        .filter(|(target, _)| {
            target.starts_with("/v1/run/WEB?status=passed,failed,aborted&from_start_time=")
        })
        .collect();
    assert_eq!(listings.len(), 2, "one listing a pass: {asked:?}");
    assert!(listings
        .iter()
        .all(|(_, token)| token.as_deref() == Some("qase-api-token")));
    // Nothing reconciled was written into the events history.
    let (status, events) = worker
        .api(reqwest::Method::GET, "/api/events?project=WEB")
        .await;
    assert_eq!(status, 200, "{events}");
    let names: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["event_name"].as_str())
        .collect();
    assert_eq!(names, ["run.started", "run.started"], "{events}");
}

#[tokio::test]
async fn reconcile_a_webhook_run_completed_racing_the_pass_still_gives_one_report() {
    let qase = QaseApi::start("qase-api-token");
    let sink = Sink::start();
    let worker = worker(&qase, &sink);
    let start = now_s() - 600;
    let started = json!({"id": 90, "title": "Race", "cases_count": 3});
    worker.accept(delivery("run.started", start, started)).await;
    wait_status(&worker, 90, "started").await;
    let end = now_s() - 5;
    qase.run(qase_run(90, "passed", Some(end)));
    let completed =
        json!({"id": 90, "cases": 3, "passed": 3, "failed": 0, "blocked": 0, "duration": 1000});
    let (_, _) = tokio::join!(
        worker.accept(delivery("run.completed", end, completed)),
        worker.scheduled(),
    );
    worker
        .wait_until("the report", Duration::from_secs(40), async || {
            (!reports(&sink, "/ci").is_empty()).then_some(())
        })
        .await;
    worker.scheduled().await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let got = reports(&sink, "/ci");
    assert_eq!(got.len(), 1, "one report\n{}", worker.logs());
    // The webhook's end ranks above a reconciled one, whichever came first.
    let view = worker
        .wait_until("the webhook's end", Duration::from_secs(20), async || {
            let view = run_view(&worker, 90).await;
            (view["source"] == "webhook").then_some(view)
        })
        .await;
    assert_eq!(view["status"], "completed", "{view}");
    assert_eq!(view["report_sent"], true);
}

/// Waits until Qase's API was asked for run `run` ("Get a specific run").
async fn fetched_run(worker: &Worker, qase: &QaseApi, run: u64) {
    let path = format!("/v1/run/WEB/{run}");
    worker
        .wait_until(
            &format!("GET {path}"),
            Duration::from_secs(20),
            async || {
                qase.requests()
                    .iter()
                    .any(|(target, _)| *target == path)
                    .then_some(())
            },
        )
        .await;
}

#[tokio::test]
async fn reconcile_a_runs_details_come_from_the_api_at_its_end_and_failures_are_paged() {
    let qase = QaseApi::start("qase-api-token");
    let sink = Sink::start();
    let worker = worker(&qase, &sink);
    let (start, end) = (now_s() - 600, now_s() - 5);
    let mut run = qase_run(60, "failed", Some(end));
    run.tags = vec![
        "sha:89abcdef0123456789abcdef0123456789abcdef".into(),
        "pr:3".into(),
    ];
    run.statuses = [("passed", 40), ("failed", 150), ("invalid", 2)]
        .into_iter()
        .map(|(s, n)| (s.to_owned(), n))
        .collect();
    qase.run(run);
    for case in 1..=150 {
        qase.result("WEB", 60, case, "failed");
    }
    qase.case("WEB", 1, "Login");
    let started = json!({"id": 60, "title": "Big", "cases_count": 192});
    worker.accept(delivery("run.started", start, started)).await;
    // The end event's counts are stale (Qase's later ones differ): the
    // API's are what the view, the gate and the report count.
    let completed = json!({"id": 60, "cases": 192, "passed": 41, "failed": 149, "blocked": 0, "duration": 1000});
    worker
        .accept(delivery("run.completed", end, completed))
        .await;
    let view = worker
        .wait_until("the run's details", Duration::from_secs(30), async || {
            let view = run_view(&worker, 60).await;
            (view["details"]["finished"] == true).then_some(view)
        })
        .await;
    assert_eq!(view["details"]["tags"][1], "pr:3", "{view}");
    assert_eq!(
        (
            &view["counts"]["passed"],
            &view["counts"]["failed"],
            &view["counts"]["cases"]
        ),
        (&json!(40), &json!(150), &json!(192)),
        "Qase's counts: {view}"
    );
    worker
        .wait_until("the report", Duration::from_secs(40), async || {
            (!reports(&sink, "/ci").is_empty()).then_some(())
        })
        .await;
    let (_, report) = &reports(&sink, "/ci")[0];
    assert_eq!(
        report["tags"][0],
        "sha:89abcdef0123456789abcdef0123456789abcdef"
    );
    assert_eq!(report["counts"]["failed"], 150, "{report}");
    let failures = &report["failures"];
    assert_eq!(
        failures["items"].as_array().unwrap().len(),
        20,
        "{failures}"
    );
    assert_eq!(failures["items"][0]["title"], "Login");
    assert_eq!(
        failures["more"], 130,
        "every failure counted, past the first page"
    );
    let asked = qase.requests();
    let pages: Vec<&str> = asked
        .iter()
        .map(|(target, _)| target.as_str())
        .filter(|target| target.starts_with("/v1/result/WEB?run=60&status=failed"))
        .collect();
    assert_eq!(pages.len(), 2, "{pages:?}");
    assert!(pages[1].ends_with("offset=100"), "{pages:?}");
    let runs = asked
        .iter()
        .filter(|(target, _)| target == "/v1/run/WEB/60")
        .count();
    assert!(runs >= 2, "at its start, and at its end: {asked:?}");
}

#[tokio::test]
async fn reconcile_a_misbehaving_api_delays_the_pass_and_changes_nothing_else() {
    let qase = QaseApi::start("qase-api-token");
    let sink = Sink::start();
    let worker = worker(&qase, &sink);
    let started = json!({"id": 95, "title": "Flaky API", "cases_count": 3});
    worker
        .accept(delivery("run.started", now_s() - 600, started))
        .await;
    wait_status(&worker, 95, "started").await;
    // The run's details, asked once it started (Qase's API has no such run
    // yet: a 404, dropped), before the listings are counted.
    fetched_run(&worker, &qase, 95).await;
    qase.run(qase_run(95, "passed", Some(now_s() - 60)));

    qase.fail_run_listings(Some((429, Some(2))));
    worker.scheduled().await;
    let limited = qase.requests().len();
    // Within its Retry-After, a pass does not even ask.
    worker.scheduled().await;
    assert_eq!(qase.requests().len(), limited, "{:?}", qase.requests());
    tokio::time::sleep(Duration::from_secs(3)).await;
    qase.fail_run_listings(Some((500, None)));
    worker.scheduled().await;
    assert_eq!(qase.requests().len(), limited + 1, "asked again after it");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let view = run_view(&worker, 95).await;
    assert_eq!(
        (view["status"].as_str(), view["reconciled"].as_bool()),
        (Some("started"), Some(false)),
        "{view}"
    );
    assert!(reports(&sink, "/ci").is_empty(), "no report yet");

    qase.fail_run_listings(None);
    worker.scheduled().await;
    wait_status(&worker, 95, "completed").await;
    worker
        .wait_until("the report", Duration::from_secs(40), async || {
            (reports(&sink, "/ci").len() == 1).then_some(())
        })
        .await;
    let view = run_view(&worker, 95).await;
    assert_eq!(view["source"], "reconciled", "{view}");
}
