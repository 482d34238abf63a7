//! A flaky destination is never stalled by its breaker (issue #27), through
//! the served Worker with retries at 1 to 2 s, 6 attempts and the default
//! breaker:
//! 1. A destination that fails each event twice (503 with `Retry-After: 1`,
//!    then 500) and accepts it the third time receives 20 of 20 events
//!    within 60 s, and none is dead-lettered.

use std::time::{Duration, Instant};

use qase_edge_e2e::sink::{Reply, Sink};
use qase_edge_e2e::{envelope, post, Worker, WorkerOptions, SECRET};
use serde_json::json;

/// The `webhook-id`s `/hook` answered 200, sorted.
fn delivered(sink: &Sink) -> Vec<String> {
    let mut ids: Vec<String> = sink
        .received("/hook")
        .into_iter()
        .filter(|r| r.status == 200)
        .filter_map(|r| r.headers.get("webhook-id").cloned())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn a_destination_failing_each_event_twice_receives_all_twenty_within_a_minute() {
    // Each event: 503 `Retry-After: 1`, then 500, then 200.
    let sink = Sink::start();
    let mut unavailable = Reply::status(503);
    unavailable.retry_after = Some(1);
    sink.script_each_event("/hook", vec![unavailable, Reply::status(500)]);
    let destinations = json!([{"name": "flaky", "url": sink.url("/hook")}]);
    let worker = Worker::start(
        WorkerOptions::with_secret()
            .var("QASE_DESTINATIONS", &destinations.to_string())
            .var("QASE_DEDUPE_SECONDS", "0")
            .var("QASE_RETRY_BASE_SECONDS", "1")
            .var("QASE_RETRY_CAP_SECONDS", "2")
            .var("QASE_RETRY_MAX_ATTEMPTS", "6"),
    );
    let started = Instant::now();
    let mut ids = Vec::new();
    for n in 0..20 {
        let body = envelope("milestone.deleted", "DEMO", json!({"id": n}));
        let (status, answer) = post(&worker, body, &[("X-Qase-Secret", SECRET)]).await;
        assert_eq!(status, 202, "{answer}");
        ids.push(answer["id"].as_str().unwrap().to_owned());
    }
    let deadline = started + Duration::from_secs(60);
    while delivered(&sink).len() < 20 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let delivered = delivered(&sink);
    ids.sort();
    assert_eq!(
        delivered,
        ids,
        "20 of 20 within 60 s ({} received after {:?})",
        delivered.len(),
        started.elapsed()
    );
    let dead = worker
        .d1(
            "SELECT COUNT(*) AS n FROM deliveries WHERE status = 'dead'",
            &[],
        )
        .await;
    assert_eq!(dead[0]["n"], 0, "none dead-lettered");
}
