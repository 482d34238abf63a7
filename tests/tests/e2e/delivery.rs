//! Delivery to downstream services, against a local sink that fails on cue.
//! 1. Every fixture reaches the destination byte for byte, with Standard
//!    Webhooks headers whose signature an independent implementation
//!    (HMAC-SHA256 here, not the crate's) verifies, and no Qase secret.
//! 2. Fan-out to two destinations where one fails: only that one is
//!    retried, with backoff; the other is called exactly once.
//! 3. `429` with `Retry-After` is honoured.
//! 4. `400` is final at once, and `500` forever ends after the last attempt;
//!    both leave a dead letter in KV with the last status and reason.
//! 5. A destination slower than its timeout is retried, then dead-lettered.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use qase_edge::engine::layout;
use qase_edge_e2e::sink::{Reply, Sink};
use qase_edge_e2e::{envelope, fixtures, post, Worker, WorkerOptions, SECRET};
use serde_json::json;
use sha2::Sha256;

/// A `whsec_` secret (24 bytes of key), set as the secret `SIGNING`.
const SIGNING_SECRET: &str = "whsec_c2lnbmluZy1rZXktZm9yLWUyZS10ZXN0cyE=";

/// A Worker delivering to `destinations` (JSON), with short test delays.
fn worker_with(destinations: serde_json::Value) -> Worker {
    Worker::start(
        WorkerOptions::with_secret()
            .var("QASE_DESTINATIONS", &destinations.to_string())
            .var("SIGNING", SIGNING_SECRET)
            .var("QASE_RETRY_BASE_SECONDS", "1")
            .var("QASE_RETRY_CAP_SECONDS", "2")
            .var("QASE_RETRY_MAX_ATTEMPTS", "3"),
    )
}

/// Verifies a Standard Webhooks signature from first principles.
fn verify_signature(headers: &std::collections::BTreeMap<String, String>, body: &[u8]) {
    let key = STANDARD
        .decode(SIGNING_SECRET.strip_prefix("whsec_").unwrap())
        .unwrap();
    let signed = format!(
        "{}.{}.{}",
        headers["webhook-id"],
        headers["webhook-timestamp"],
        String::from_utf8(body.to_vec()).unwrap()
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(signed.as_bytes());
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    assert_eq!(headers["webhook-signature"], expected);
}

async fn accept(worker: &Worker, body: Vec<u8>) -> String {
    let (status, response) = post(worker, body, &[("X-Qase-Secret", SECRET)]).await;
    assert_eq!(status, 202, "{response}");
    response["id"].as_str().unwrap().to_owned()
}

async fn dead_letter(worker: &Worker, key: &str) -> (Vec<u8>, serde_json::Value) {
    for _ in 0..200 {
        if let Some(found) = worker.kv_get(key).await {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no dead letter at {key}:\n{}", worker.logs());
}

#[tokio::test]
async fn every_event_is_delivered_byte_for_byte_and_signed() {
    let sink = Sink::start();
    let worker = worker_with(json!([
        {"name": "all", "url": sink.url("/all"), "signing_secret": "SIGNING", "headers": {"X-Team": "qa"}}
    ]));
    let fixtures = fixtures();
    let mut sent = std::collections::BTreeMap::new();
    for (name, body) in &fixtures {
        let id = accept(&worker, body.clone()).await;
        sent.insert(id, (name.clone(), body.clone()));
    }
    let received = sink
        .wait_for("/all", sent.len(), Duration::from_secs(60))
        .await;
    assert_eq!(received.len(), sent.len(), "{}", worker.logs());
    for request in received {
        let (name, body) = &sent[&request.headers["webhook-id"]];
        assert!(&request.body == body, "{name}: body differs");
        verify_signature(&request.headers, &request.body);
        let sent: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(
            request.headers["x-qase-event"],
            sent["event_name"].as_str().unwrap()
        );
        assert_eq!(
            request.headers["x-qase-project"],
            sent["project_code"].as_str().unwrap()
        );
        assert_eq!(request.headers["content-type"], "application/json");
        assert_eq!(request.headers["x-team"], "qa");
        let timestamp: u64 = request.headers["webhook-timestamp"].parse().unwrap();
        assert!(timestamp > 1_700_000_000);
        assert!(
            !request.headers.values().any(|v| v.contains(SECRET)),
            "the Qase secret was forwarded"
        );
    }
}

#[tokio::test]
async fn only_the_failing_destination_is_retried_with_backoff() {
    let sink = Sink::start();
    sink.script("/flaky", vec![Reply::status(500), Reply::status(502)]);
    let worker = worker_with(json!([
        {"name": "steady", "url": sink.url("/steady")},
        {"name": "flaky", "url": sink.url("/flaky")},
    ]));
    let id = accept(
        &worker,
        envelope(
            "run.completed",
            "FAN",
            json!({"id": 5, "cases": 1, "passed": 1, "failed": 0, "blocked": 0, "duration": 3}),
        ),
    )
    .await;
    let flaky = sink.wait_for("/flaky", 3, Duration::from_secs(30)).await;
    assert_eq!(flaky.len(), 3, "{}", worker.logs());
    for pair in flaky.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(gap >= Duration::from_millis(900), "retried after {gap:?}");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let steady = sink.received("/steady");
    assert_eq!(steady.len(), 1, "the steady destination was called again");
    assert_eq!(steady[0].headers["webhook-id"], id);
    assert_eq!(sink.received("/flaky").len(), 3);
    assert!(worker.kv_list(layout::DEAD).await.is_empty());
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let sink = Sink::start();
    sink.script(
        "/busy",
        vec![Reply {
            status: 429,
            retry_after: Some(2),
            delay: Duration::ZERO,
        }],
    );
    let worker = worker_with(json!([{"name": "busy", "url": sink.url("/busy")}]));
    accept(&worker, envelope("run.deleted", "BUSY", json!({"id": 1}))).await;
    let received = sink.wait_for("/busy", 2, Duration::from_secs(30)).await;
    assert_eq!(received.len(), 2, "{}", worker.logs());
    let gap = received[1].at - received[0].at;
    assert!(gap >= Duration::from_millis(1900), "retried after {gap:?}");
}

#[tokio::test]
async fn rejections_and_exhausted_retries_become_dead_letters() {
    let sink = Sink::start();
    sink.always("/refuses", Reply::status(400));
    sink.always("/down", Reply::status(500));
    let worker = worker_with(json!([
        {"name": "refuses", "url": sink.url("/refuses")},
        {"name": "down", "url": sink.url("/down")},
    ]));
    let body = envelope("defect.created", "DLQ", json!({"id": 3, "title": "Broken"}));
    let id = accept(&worker, body.clone()).await;

    let (stored, metadata) = dead_letter(&worker, &layout::dead_key(&id, "refuses")).await;
    assert_eq!(stored, body);
    assert_eq!(metadata["last_status"], 400);
    assert_eq!(metadata["attempts"], 1);
    assert_eq!(metadata["reason"], "rejected by the destination");

    let (stored, metadata) = dead_letter(&worker, &layout::dead_key(&id, "down")).await;
    assert_eq!(stored, body);
    assert_eq!(metadata["last_status"], 500);
    assert_eq!(metadata["attempts"], 3);
    assert_eq!(metadata["reason"], "gave up after 3 attempts");
    assert_eq!(metadata["event_name"], "defect.created");
    assert_eq!(sink.received("/refuses").len(), 1);
    assert_eq!(sink.received("/down").len(), 3);
}

#[tokio::test]
async fn a_destination_slower_than_its_timeout_is_retried_then_dead_lettered() {
    let sink = Sink::start();
    sink.always(
        "/slow",
        Reply {
            status: 200,
            retry_after: None,
            delay: Duration::from_secs(3),
        },
    );
    let worker =
        worker_with(json!([{"name": "slow", "url": sink.url("/slow"), "timeout_ms": 300}]));
    let id = accept(&worker, envelope("run.deleted", "SLOW", json!({"id": 9}))).await;
    let (_, metadata) = dead_letter(&worker, &layout::dead_key(&id, "slow")).await;
    assert_eq!(metadata["last_error"], "no answer within 300 ms");
    assert_eq!(metadata["attempts"], 3);
}
