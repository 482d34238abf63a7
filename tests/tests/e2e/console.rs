//! The operator console (`/console/`), in a real browser: headless Chromium
//! driven by `tests/browser/console.mjs` (puppeteer-core), against the
//! served Worker with its static assets.
//! 1. An operator signs in (a wrong token first), sees the events
//!    `qase-hook` sent, filters them by name and by run, opens the
//!    `run.completed`, reads what happened in words and its delivery to CI,
//!    replays it and sees the new attempt (and CI receives it again), sees
//!    a case titled `<img src=x onerror=alert(1)>` as text with no script
//!    run, sees the dead letter and replays all that match after their
//!    count, then the destinations and health. Every page works under the
//!    Worker's Content-Security-Policy, and on a phone-sized screen in
//!    dark mode. Screenshots of each page go to `target/console-screenshots/`.
//! 2. Without an operator token, the console says the API is off.
//! 3. The console's files come with the security headers and `/console`
//!    redirects to `/console/`; the API routes stay the Worker's.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use qase_edge_e2e::sink::{Reply, Sink};
use qase_edge_e2e::{
    envelope, post, qase_hook_binary, repo_root, Worker, WorkerOptions, ADMIN_TOKEN, SECRET,
};
use serde_json::{json, Value};

const HOSTILE_TITLE: &str = "<img src=x onerror=alert(1)>";

fn screenshots() -> PathBuf {
    repo_root().join("target/console-screenshots")
}

/// Runs the browser script with `input`; panics with its output on failure.
fn browse(input: Value) {
    let output = Command::new("node")
        .arg(repo_root().join("tests/browser/console.mjs"))
        .arg(input.to_string())
        .current_dir(repo_root())
        .output()
        .expect("node runs the browser script");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the console's browser test failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_answers_did_the_run_reach_ci() {
    let sink = Sink::start();
    sink.always("/archive", Reply::status(400));
    let destinations = json!([
        {"name": "ci", "url": sink.url("/ci")},
        {"name": "archive", "url": sink.url("/archive"), "events": ["case.*"]},
    ]);
    let worker = Worker::start(
        WorkerOptions::with_api()
            .var("QASE_DESTINATIONS", &destinations.to_string())
            .var("QASE_RETRY_BASE_SECONDS", "1")
            .var("QASE_RETRY_MAX_ATTEMPTS", "2"),
    );

    // A run completes, as qase-hook sends it.
    let sent = Command::new(qase_hook_binary())
        .args(["send", "run.completed", "--project", "WEB", "--url"])
        .arg(worker.url("/webhooks/qase"))
        .args(["--secret", SECRET])
        .output()
        .unwrap();
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    // A case whose title is markup, which the archive refuses (400: dead at once).
    let case = envelope(
        "case.created",
        "WEB",
        json!({"id": 77, "title": HOSTILE_TITLE, "description": "<script>alert(2)</script>"}),
    );
    let (status, answer) = post(&worker, case, &[("X-Qase-Secret", SECRET)]).await;
    assert_eq!(status, 202, "{answer}");

    sink.wait_for(&worker, "/ci", 2, Duration::from_secs(30))
        .await;
    sink.wait_for(&worker, "/archive", 1, Duration::from_secs(30))
        .await;
    let run = worker
        .d1(
            "SELECT run_id FROM events WHERE event_name = 'run.completed'",
            &[],
        )
        .await;
    let run_id = run[0]["run_id"].clone();
    worker
        .wait_until("a dead letter", Duration::from_secs(10), async || {
            let sql = "SELECT 1 FROM deliveries WHERE status = 'dead'";
            (!worker.d1(sql, &[]).await.is_empty()).then_some(())
        })
        .await;

    let input = json!({
        "scenario": "operator",
        "url": worker.url(""),
        "token": ADMIN_TOKEN,
        "screenshots": screenshots(),
        "run_id": run_id,
        "hostile_title": HOSTILE_TITLE,
        "dead_destination": "archive",
        "delivered_destination": "ci",
    });
    tokio::task::spawn_blocking(move || browse(input))
        .await
        .unwrap();

    // The replay clicked in the browser reached CI: the run.completed twice.
    let ci = sink
        .wait_for(&worker, "/ci", 3, Duration::from_secs(20))
        .await;
    let runs = ci
        .iter()
        .filter(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["event_name"] == "run.completed"
        })
        .count();
    assert_eq!(runs, 2, "CI received the run.completed {runs} times");
    // The dead letter replayed from the browser was attempted again.
    sink.wait_for(&worker, "/archive", 2, Duration::from_secs(20))
        .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_token_the_console_says_the_api_is_off() {
    let worker = Worker::start(WorkerOptions::with_secret());
    let input = json!({
        "scenario": "api_off",
        "url": worker.url(""),
        "screenshots": screenshots(),
    });
    tokio::task::spawn_blocking(move || browse(input))
        .await
        .unwrap();
}

#[tokio::test]
async fn console_files_carry_the_security_headers_and_the_api_stays_the_workers() {
    let worker = crate::default_worker();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    let redirect = client.get(worker.url("/console")).send().await.unwrap();
    assert_eq!(redirect.status(), 308);
    assert_eq!(redirect.headers()["location"], "/console/");

    for path in ["/console/", "/console/app.js", "/console/app.css"] {
        let response = client.get(worker.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let csp = response.headers()["content-security-policy"]
            .to_str()
            .unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe"),
            "{csp}"
        );
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert_eq!(response.headers()["cache-control"], "no-cache");
    }
    let page = client.get(worker.url("/console/")).send().await.unwrap();
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"<script type="module" src="app.js">"#),
        "{html}"
    );
    assert!(!html.contains("<script>"), "no inline script: {html}");

    let post = client.post(worker.url("/console/")).send().await.unwrap();
    assert_eq!(post.status(), 405);
    let body: Value = post.json().await.unwrap();
    assert_eq!(body["error"], "method_not_allowed");
    // The Worker's own routes are not the assets'.
    let health = client.get(worker.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let health: Value = health.json().await.unwrap();
    assert!(health["version"].is_string());
}
