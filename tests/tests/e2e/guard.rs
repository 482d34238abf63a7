//! Guard (issue #19): breakers, alerts and the watchdog, through the served
//! Worker with small thresholds and intervals.
//! 1. A destination that fails 50 events in a row is paused after the
//!    threshold; the alert destination gets one pause message; while paused
//!    the held events are neither attempted (only the probe, always the
//!    oldest held event) nor dead-lettered; once it answers again every one
//!    of the 50 arrives exactly once, in order of arrival, with one resume
//!    message. `GET /api/destinations` and `GET /health` show the state.
//! 2. An operator pauses a destination (`POST /api/destinations/{name}/pause`):
//!    new events are held, not attempted; resuming delivers them in order.
//!    An unknown name is `404 destination_not_found`.
//! 3. A watched project silent past its window raises one alert per
//!    window (cron fired through the local scheduled endpoint); a delivery
//!    clears it with one "back" alert; `GET /health` shows the project.
//! 4. A healthy destination's retries and dead letters are as before: a
//!    destination refusing (400) more events than the threshold is never
//!    paused, and each refusal is a dead letter.

use std::time::{Duration, Instant};

use qase_edge_e2e::sink::{Reply, Sink};
use qase_edge_e2e::{envelope, Worker, WorkerOptions};
use serde_json::{json, Value};

fn options(destinations: &Value) -> WorkerOptions {
    WorkerOptions::with_api()
        .var("QASE_DESTINATIONS", &destinations.to_string())
        .var("QASE_DEDUPE_SECONDS", "0")
        .var("QASE_RETRY_BASE_SECONDS", "1")
        .var("QASE_RETRY_CAP_SECONDS", "2")
        .var("QASE_RETRY_MAX_ATTEMPTS", "8")
        .var("QASE_BREAKER_FAILURES", "10")
        .var("QASE_BREAKER_PROBE_SECONDS", "3")
        .var("QASE_ALERT_INTERVAL_SECONDS", "0")
}

/// An alert destination (Slack) that receives no events itself.
fn alert_destination(sink: &Sink) -> Value {
    json!({"name": "alerts", "url": sink.url("/alerts"), "format": "slack", "alerts": true,
           "pace_ms": 0, "projects": ["NO-EVENTS"]})
}

fn event(n: u64, project: &str) -> Vec<u8> {
    envelope("milestone.deleted", project, json!({"id": n}))
}

async fn destination(worker: &Worker, name: &str) -> Value {
    let (status, body) = worker.api(reqwest::Method::GET, "/api/destinations").await;
    assert_eq!(status, 200, "{body}");
    body["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no {name} in {body}"))
}

async fn wait_state(worker: &Worker, name: &str, state: &str, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let view = destination(worker, name).await;
        if view["state"] == state {
            return view;
        }
        assert!(Instant::now() < deadline, "{name} never {state}: {view}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn alert_texts(sink: &Sink) -> Vec<String> {
    sink.received("/alerts")
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect()
}

fn delivered_ids(sink: &Sink, path: &str) -> Vec<String> {
    sink.received(path)
        .iter()
        .filter(|r| r.status == 200)
        .map(|r| r.headers["webhook-id"].clone())
        .collect()
}

async fn dead_count(worker: &Worker) -> u64 {
    let rows = worker
        .d1(
            "SELECT COUNT(*) AS n FROM deliveries WHERE status = 'dead'",
            &[],
        )
        .await;
    rows[0]["n"].as_u64().unwrap()
}

#[tokio::test]
async fn a_failing_destination_is_paused_holds_its_events_and_delivers_each_once_in_order() {
    let sink = Sink::start();
    sink.always("/down", Reply::status(503));
    sink.always("/alerts", Reply::status(200));
    let destinations = json!([
        {"name": "down", "url": sink.url("/down"), "timeout_ms": 5000},
        alert_destination(&sink),
    ]);
    let worker = Worker::start(options(&destinations));

    let mut ids = Vec::new();
    for n in 0..50 {
        ids.push(worker.accept(event(n, "DEMO")).await);
    }
    let paused = wait_state(&worker, "down", "paused", Duration::from_secs(30)).await;
    assert_eq!(paused["paused_by_operator"], false, "{paused}");
    assert!(
        paused["reason"]
            .as_str()
            .unwrap()
            .starts_with("10 failures in a row"),
        "{paused}"
    );
    let alerts = sink
        .wait_for(&worker, "/alerts", 1, Duration::from_secs(10))
        .await;
    assert_eq!(alerts.len(), 1, "{:?}", alert_texts(&sink));
    assert!(
        alert_texts(&sink)[0].contains("paused"),
        "{:?}",
        alert_texts(&sink)
    );

    // Attempts under way when it paused settle: each comes back failed and
    // is held, so once all 50 are held, none is under way; from then on,
    // only probes.
    worker
        .wait_until("all 50 events held", Duration::from_secs(30), async || {
            (destination(&worker, "down").await["held"] == 50).then_some(())
        })
        .await;
    let before = sink.received("/down").len();
    // The scenario, not a wait: 8 s of being paused (probes every 3 s), in
    // which held events must not be attempted.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let during: Vec<String> = sink.received("/down")[before..]
        .iter()
        .map(|r| r.headers["webhook-id"].clone())
        .collect();
    assert!(
        during.len() <= 3,
        "held events were attempted while paused: {} requests",
        during.len()
    );
    assert!(
        during.iter().all(|id| id == &ids[0]),
        "a probe is the oldest held event: {during:?}"
    );
    assert_eq!(
        dead_count(&worker).await,
        0,
        "nothing dead-lettered while paused"
    );
    let view = destination(&worker, "down").await;
    assert_eq!(view["held"], 50, "{view}");
    assert!(view["next_probe_at"].is_u64(), "{view}");
    // Retries are at most 2 s apart here: every failed event came back and
    // is held by now, which is not a failure waiting for a retry.
    assert_eq!(view["last_24h"]["failed"], 0, "{view}");
    let health = worker.health().await;
    let listed = health["destinations"].as_array().unwrap();
    assert!(
        listed
            .iter()
            .any(|d| d["name"] == "down" && d["state"] == "paused"),
        "{health}"
    );
    assert_eq!(alert_texts(&sink).len(), 1, "one pause message");

    // It answers again: the next probe resumes it, and the drain follows.
    sink.always("/down", Reply::status(200));
    worker
        .wait_until(
            "50 deliveries to down",
            Duration::from_secs(60),
            async || (delivered_ids(&sink, "/down").len() >= 50).then_some(()),
        )
        .await;
    sink.assert_quiet_for("/down", Duration::from_secs(2)).await;
    let delivered = delivered_ids(&sink, "/down");
    assert_eq!(delivered, ids, "every event once, in order of arrival");
    wait_state(&worker, "down", "active", Duration::from_secs(10)).await;
    let texts = alert_texts(&sink);
    assert_eq!(
        texts.len(),
        2,
        "one pause and one resume message: {texts:?}"
    );
    assert!(texts[1].contains("resumed"), "{texts:?}");
    assert_eq!(dead_count(&worker).await, 0);
    let view = destination(&worker, "down").await;
    assert_eq!(view["held"], 0, "{view}");
    assert_eq!(view["last_24h"]["delivered"], 50, "{view}");

    // The event page shows the timeline: failures, held, then delivered.
    let (_, event) = worker
        .api(reqwest::Method::GET, &format!("/api/events/{}", ids[0]))
        .await;
    let log = event["deliveries"][0]["attempts_log"]
        .as_array()
        .unwrap()
        .clone();
    let results: Vec<&str> = log.iter().map(|a| a["result"].as_str().unwrap()).collect();
    assert_eq!(results.first(), Some(&"failed_will_retry"), "{event}");
    assert_eq!(results.last(), Some(&"delivered"), "{event}");
    assert!(results.contains(&"held_while_paused"), "{event}");
}

#[tokio::test]
async fn an_operator_pauses_and_resumes_a_destination() {
    let sink = Sink::start();
    sink.always("/ci", Reply::status(200));
    sink.always("/alerts", Reply::status(200));
    let destinations = json!([
        {"name": "ci", "url": sink.url("/ci")},
        alert_destination(&sink),
    ]);
    let worker = Worker::start(options(&destinations));

    let (status, body) = worker
        .api(reqwest::Method::POST, "/api/destinations/nope/pause")
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"], "destination_not_found");
    let (status, _) = reqwest::Client::new()
        .post(worker.url("/api/destinations/ci/pause"))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 401, "the operator token is required");

    let (status, body) = worker
        .api(reqwest::Method::POST, "/api/destinations/ci/pause")
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "paused");
    assert_eq!(body["paused_by_operator"], true);
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(worker.accept(event(n, "DEMO")).await);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while destination(&worker, "ci").await["held"] != 5 {
        assert!(
            Instant::now() < deadline,
            "the events were not held: {}\n{}",
            destination(&worker, "ci").await,
            worker.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        sink.received("/ci").is_empty(),
        "nothing attempted while paused"
    );

    let (status, body) = worker
        .api(reqwest::Method::POST, "/api/destinations/ci/resume")
        .await;
    assert_eq!(status, 200, "{body}");
    let received = sink
        .wait_for(&worker, "/ci", 5, Duration::from_secs(20))
        .await;
    let order: Vec<String> = received
        .iter()
        .map(|r| r.headers["webhook-id"].clone())
        .collect();
    assert_eq!(order, ids);
    wait_state(&worker, "ci", "active", Duration::from_secs(10)).await;
    sink.wait_for(&worker, "/alerts", 2, Duration::from_secs(10))
        .await;
    let texts = alert_texts(&sink);
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts[0].contains("paused by an operator"), "{texts:?}");
    assert!(texts[1].contains("resumed by an operator"), "{texts:?}");
}

#[tokio::test]
async fn a_watched_project_is_alerted_once_per_window_and_a_delivery_clears_it() {
    let sink = Sink::start();
    sink.always("/alerts", Reply::status(200));
    let destinations = json!([alert_destination(&sink)]);
    let worker = Worker::start(options(&destinations).var("QASE_WATCH", r#"{"WEB": "3s"}"#));

    worker.scheduled().await;
    // The scenario: the 3 s window passes in silence.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    worker.scheduled().await;
    sink.wait_for(&worker, "/alerts", 1, Duration::from_secs(10))
        .await;
    worker.scheduled().await;
    sink.assert_quiet_for("/alerts", Duration::from_secs(1))
        .await;
    let texts = alert_texts(&sink);
    assert_eq!(texts.len(), 1, "one alert per window: {texts:?}");
    assert!(texts[0].contains("WEB is quiet"), "{texts:?}");
    assert!(
        texts[0].contains("/project/WEB/settings/webhooks"),
        "{texts:?}"
    );
    let health = worker.health().await;
    assert_eq!(health["watch"][0]["project"], "WEB", "{health}");
    assert_eq!(health["watch"][0]["quiet"], true, "{health}");
    assert_eq!(health["watch"][0]["window_seconds"], 3, "{health}");

    // The scenario: the next 3 s window passes in silence.
    tokio::time::sleep(Duration::from_millis(3200)).await;
    worker.scheduled().await;
    sink.wait_for(&worker, "/alerts", 2, Duration::from_secs(10))
        .await;
    assert_eq!(
        alert_texts(&sink).len(),
        2,
        "the next window, the next alert"
    );

    worker.accept(event(1, "WEB")).await;
    worker.scheduled().await;
    sink.wait_for(&worker, "/alerts", 3, Duration::from_secs(10))
        .await;
    worker.scheduled().await;
    sink.assert_quiet_for("/alerts", Duration::from_secs(1))
        .await;
    let texts = alert_texts(&sink);
    assert_eq!(texts.len(), 3, "one back alert: {texts:?}");
    assert!(texts[2].contains("WEB delivers again"), "{texts:?}");
    let health = worker.health().await;
    assert_eq!(health["watch"][0]["quiet"], false, "{health}");
    assert!(health["watch"][0]["last_delivery_at"].is_u64(), "{health}");
}

#[tokio::test]
async fn refusals_are_dead_letters_and_never_pause_a_destination() {
    let sink = Sink::start();
    sink.always("/refuse", Reply::status(400));
    sink.always("/alerts", Reply::status(200));
    let destinations = json!([
        {"name": "refuse", "url": sink.url("/refuse")},
        alert_destination(&sink),
    ]);
    let worker = Worker::start(options(&destinations));
    for n in 0..12 {
        worker.accept(event(n, "DEMO")).await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while dead_count(&worker).await < 12 {
        assert!(
            Instant::now() < deadline,
            "not every refusal is a dead letter"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(sink.received("/refuse").len(), 12, "one attempt each");
    let view = destination(&worker, "refuse").await;
    assert_eq!(view["state"], "active", "{view}");
    assert_eq!(view["last_error"], "HTTP 400", "{view}");
    assert!(alert_texts(&sink).is_empty());
}
