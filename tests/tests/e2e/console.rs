//! The operator console (`/console/`), in a real browser: headless Chromium
//! driven by `tests/browser/console.mjs` (puppeteer-core), against the
//! served Worker with its static assets.
//! 1. An operator signs in (a wrong token first), sees the events
//!    `qase-hook` sent, filters them by name and by run, opens the
//!    `run.completed`, reads what happened in words and its delivery to CI,
//!    replays it and sees the new attempt (and CI receives it again), sees
//!    a case titled `<img src=x onerror=alert(1)>` as text with no script
//!    run, sees the dead letter and replays all that match (filtered by its
//!    destination) through the bulk replay after its dry run, then the
//!    destinations and health. Every page works under the Worker's
//!    Content-Security-Policy, and on a phone-sized screen in dark mode.
//!    Screenshots of each page go to `target/console-screenshots/`.
//! 2. Without an operator token, the console says the API is off.
//! 3. The console's files come with the security headers and `/console`
//!    redirects to `/console/`; the API routes stay the Worker's.
//! 4. Behind Cloudflare Access (a local team signs the assertions the
//!    browser sends): a viewer sees who they are and their role, no
//!    sign-in form, and no replay, pause or resume button; the Events
//!    page's refresh never overlaps a slow one and stops when the page is
//!    left. An operator runs "Replay all" as the server's bulk replay (a
//!    dry run, then cursor calls until done, in the audit log as theirs,
//!    every dead letter sent again); leaving the page mid-way lets the call
//!    in flight finish and starts no other.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use qase_edge_e2e::access::Team;
use qase_edge_e2e::sink::{Reply, Sink};
use qase_edge_e2e::{
    answer, envelope, post, qase_hook_binary, repo_root, Worker, WorkerOptions, ADMIN_TOKEN, SECRET,
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

/// Dead letters the Access scenario replays (one per `case.created`).
const ACCESS_DEAD: usize = 3;

#[tokio::test(flavor = "multi_thread")]
async fn behind_access_a_viewer_reads_and_an_operator_replays_all_in_bulk() {
    let team = Team::start();
    let sink = Sink::start();
    sink.always("/archive", Reply::status(400));
    let destinations = json!([{"name": "archive", "url": sink.url("/archive")}]);
    let roles = json!([
        {"email": "olga@example.com", "role": "operator"},
        {"email": "*@example.com", "role": "viewer"}
    ]);
    let worker = Worker::start(
        team.configure(WorkerOptions::with_secret())
            .var("QASE_DESTINATIONS", &destinations.to_string())
            .var("QASE_ACCESS_ROLES", &roles.to_string()),
    );
    for n in 0..ACCESS_DEAD {
        worker
            .accept(envelope(
                "case.created",
                "WEB",
                json!({"id": 100 + n, "title": format!("Case {n}")}),
            ))
            .await;
    }
    sink.wait_for(&worker, "/archive", ACCESS_DEAD, Duration::from_secs(30))
        .await;
    worker
        .wait_until("the dead letters", Duration::from_secs(10), async || {
            let sql = "SELECT 1 FROM deliveries WHERE status = 'dead'";
            (worker.d1(sql, &[]).await.len() == ACCESS_DEAD).then_some(())
        })
        .await;

    let operator = team.user_assertion("olga@example.com");
    let input = json!({
        "scenario": "access",
        "url": worker.url(""),
        "screenshots": screenshots(),
        "viewer": team.user_assertion("vic@example.com"),
        "operator": operator,
        "dead": ACCESS_DEAD,
        "dead_destination": "archive",
    });
    tokio::task::spawn_blocking(move || browse(input))
        .await
        .unwrap();

    // The server saw the bulk replays as olga's: the dry run, then each
    // cursor call (two of them, the browser test asks for two events a
    // call), then the second Replay all's dry run and the one call let
    // finish when the page was left.
    let (status, log) = answer(
        reqwest::Client::new()
            .get(worker.url("/api/audit"))
            .header("Cf-Access-Jwt-Assertion", &operator),
    )
    .await;
    assert_eq!(status, 200, "{log}");
    let mut bulk: Vec<(String, String, bool, u64)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "bulk_replay")
        .map(|e| {
            let target = e["target"].as_str().unwrap();
            (
                e["actor"].as_str().unwrap().to_owned(),
                e["credential"].as_str().unwrap().to_owned(),
                target.contains(r#""dry_run":true"#),
                e["status"].as_u64().unwrap(),
            )
        })
        .collect();
    bulk.reverse();
    let olga = |dry_run, status| {
        (
            "olga@example.com".to_owned(),
            "access_user".to_owned(),
            dry_run,
            status,
        )
    };
    assert_eq!(
        bulk,
        [
            olga(true, 200),
            olga(false, 202),
            olga(false, 202),
            olga(true, 200),
            olga(false, 202)
        ],
        "{log}"
    );
    // Each dead letter was sent once, then again by the first Replay all,
    // and one more by the call let finish; nothing after that.
    sink.wait_for(
        &worker,
        "/archive",
        2 * ACCESS_DEAD + 1,
        Duration::from_secs(30),
    )
    .await;
    let received = sink
        .assert_quiet_for("/archive", Duration::from_secs(3))
        .await;
    assert_eq!(
        received.len(),
        2 * ACCESS_DEAD + 1,
        "what the archive received"
    );
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
