//! `POST /webhooks/qase`.
//! 1. The right secret and a valid envelope: 202, and the exact bytes in KV.
//! 2. A missing or wrong secret: 401, the same for both, and nothing stored.
//! 3. Other methods: 405 with `Allow`; unknown paths: 404 JSON.
//! 4. No secret configured: 503 `no_secret_configured`.

use qase_edge_e2e::{envelope, post, Worker, WorkerOptions, SECRET};
use serde_json::json;

use crate::default_worker;

#[tokio::test]
async fn a_valid_delivery_is_accepted_and_stored_byte_for_byte() {
    let worker = default_worker();
    let body = envelope(
        "run.completed",
        "E2E",
        json!({"id": 31, "cases": 4, "passed": 3, "failed": 1, "blocked": 0, "duration": 90}),
    );
    let (status, response) = post(worker, body.clone(), &[("X-Qase-Secret", SECRET)]).await;
    assert_eq!(status, 202, "{response}");
    assert_eq!(response["status"], "accepted");
    assert_eq!(response["event_name"], "run.completed");
    assert_eq!(response["project_code"], "E2E");
    let id = response["id"].as_str().unwrap();
    assert_eq!(id, qase_webhooks::EventId::of(&body).to_string());

    let (stored, metadata) = worker
        .kv_get(&format!("event/{id}"))
        .await
        .expect("the delivery is in KV");
    assert_eq!(stored, body);
    assert_eq!(metadata["event_name"], "run.completed");
    assert_eq!(metadata["project_code"], "E2E");
}

#[tokio::test]
async fn missing_and_wrong_secrets_get_the_same_401_and_nothing_is_stored() {
    let worker = default_worker();
    let body = envelope("run.deleted", "E2E-401", json!({"id": 401}));
    let id = qase_webhooks::EventId::of(&body).to_string();
    let (missing_status, missing) = post(worker, body.clone(), &[]).await;
    let (wrong_status, wrong) = post(worker, body, &[("X-Qase-Secret", "nope")]).await;
    assert_eq!((missing_status, wrong_status), (401, 401));
    assert_eq!(missing, wrong);
    assert_eq!(missing["error"], "unauthorized");
    assert!(worker.kv_get(&format!("event/{id}")).await.is_none());
}

#[tokio::test]
async fn other_methods_and_paths_get_json_errors() {
    let worker = default_worker();
    let response = reqwest::get(worker.url("/webhooks/qase")).await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "method_not_allowed");

    let response = reqwest::get(worker.url("/nope")).await.unwrap();
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
}

#[tokio::test]
async fn without_a_configured_secret_everything_is_refused_with_503() {
    let worker = Worker::start(WorkerOptions::default());
    let body = envelope("run.deleted", "E2E", json!({"id": 1}));
    let (status, response) = post(&worker, body, &[("X-Qase-Secret", "anything")]).await;
    assert_eq!(status, 503, "{response}");
    assert_eq!(response["error"], "no_secret_configured");
}
