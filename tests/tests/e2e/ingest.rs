//! `POST /webhooks/qase`, each status path in the order the Worker checks.
//! 1. The right secret and a valid envelope: 202 with id, name, project, status.
//! 2. Other methods: 405 with `Allow`; unknown paths: 404 JSON.
//! 3. Too large: 413 from `Content-Length`, and from counting a chunked body.
//! 4. Missing or wrong secret: the same 401, nothing stored.
//! 5. Content type: JSON types and none accepted, others 415.
//! 6. Not JSON: 400 with line and column; not an envelope: 422 naming the field.

use qase_edge_e2e::{chunked_post, envelope, post, raw_request, SECRET};
use serde_json::json;

use crate::default_worker;

fn run_completed(id: u64) -> Vec<u8> {
    envelope(
        "run.completed",
        "E2E",
        json!({"id": id, "cases": 4, "passed": 3, "failed": 1, "blocked": 0, "duration": 90}),
    )
}

#[tokio::test]
async fn a_valid_delivery_is_accepted() {
    let worker = default_worker();
    let body = run_completed(31);
    let (status, response) = post(worker, body.clone(), &[("X-Qase-Secret", SECRET)]).await;
    assert_eq!(status, 202, "{response}");
    assert_eq!(
        response,
        json!({
            "id": qase_webhooks::EventId::of(&body).to_string(),
            "event_name": "run.completed",
            "project_code": "E2E",
            "status": "accepted",
            "duplicate": false,
        })
    );
}

#[tokio::test]
async fn other_methods_and_paths_get_json_errors() {
    let worker = default_worker();
    let client = reqwest::Client::new();
    for method in [
        reqwest::Method::GET,
        reqwest::Method::PUT,
        reqwest::Method::DELETE,
    ] {
        let response = client
            .request(method.clone(), worker.url("/webhooks/qase"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 405, "{method}");
        assert_eq!(response.headers()["allow"], "POST");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "method_not_allowed");
    }
    let response = reqwest::get(worker.url("/nope")).await.unwrap();
    assert_eq!(response.status(), 404);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
}

#[tokio::test]
async fn bodies_over_the_limit_get_413_with_or_without_a_length() {
    let worker = default_worker();
    let limit = 1024 * 1024;
    // Declared too large: refused before the body is read.
    let (status, response) =
        post(worker, vec![b' '; limit + 1], &[("X-Qase-Secret", SECRET)]).await;
    assert_eq!(
        (status, response["error"].as_str()),
        (413, Some("payload_too_large"))
    );
    // Chunked, no length: refused while counting.
    let mut big = run_completed(32);
    big.splice(
        1..1,
        format!("\"pad\":\"{}\",", "x".repeat(limit)).into_bytes(),
    );
    let (status, body) = raw_request(worker, &chunked_post(SECRET, &big, 64 * 1024)).await;
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("payload_too_large"), "{body}");
    // Chunked and small: fine.
    let (status, body) = raw_request(worker, &chunked_post(SECRET, &run_completed(33), 10)).await;
    assert_eq!(status, 202, "{body}");
}

#[tokio::test]
async fn missing_and_wrong_secrets_get_the_same_401_and_nothing_is_stored() {
    let worker = default_worker();
    let body = envelope("run.deleted", "E2E-401", json!({"id": 401}));
    let id = qase_webhooks::EventId::of(&body).to_string();
    let (missing_status, missing) = post(worker, body.clone(), &[]).await;
    let (wrong_status, wrong) = post(worker, body.clone(), &[("X-Qase-Secret", "nope")]).await;
    let (prefix_status, _) = post(worker, body, &[("X-Qase-Secret", &SECRET[..4])]).await;
    assert_eq!(
        (missing_status, wrong_status, prefix_status),
        (401, 401, 401)
    );
    assert_eq!(missing, wrong);
    assert_eq!(missing["error"], "unauthorized");
    let rows = worker
        .d1("SELECT id FROM events WHERE id = ?1", &[json!(id)])
        .await;
    assert!(rows.is_empty(), "stored: {rows:?}");
}

#[tokio::test]
async fn only_json_content_types_are_accepted() {
    let worker = default_worker();
    for (n, content_type) in [
        "application/json",
        "application/json; charset=utf-8",
        "application/vnd.qase+json",
    ]
    .into_iter()
    .enumerate()
    {
        let headers = [("X-Qase-Secret", SECRET), ("Content-Type", content_type)];
        let (status, response) = post(worker, run_completed(40 + n as u64), &headers).await;
        assert_eq!(status, 202, "{content_type}: {response}");
    }
    // reqwest sends no Content-Type for a plain byte body.
    let (status, _) = post(worker, run_completed(45), &[("X-Qase-Secret", SECRET)]).await;
    assert_eq!(status, 202);
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ] {
        let headers = [("X-Qase-Secret", SECRET), ("Content-Type", content_type)];
        let (status, response) = post(worker, run_completed(46), &headers).await;
        assert_eq!(status, 415, "{content_type}");
        assert_eq!(response["error"], "unsupported_media_type");
    }
}

#[tokio::test]
async fn malformed_json_gets_400_with_its_position() {
    let worker = default_worker();
    let (status, response) = post(
        worker,
        b"{\n  \"event_name\": \"run.completed\",\n  oops\n}".to_vec(),
        &[("X-Qase-Secret", SECRET)],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(response["error"], "invalid_json");
    assert!(
        response["message"]
            .as_str()
            .unwrap()
            .contains("line 3, column 3"),
        "{response}"
    );
    for body in [&b""[..], b"   ", b"\xff\xfe", b"{\"a\":"] {
        let (status, response) = post(worker, body.to_vec(), &[("X-Qase-Secret", SECRET)]).await;
        assert_eq!(
            (status, response["error"].as_str()),
            (400, Some("invalid_json"))
        );
    }
}

#[tokio::test]
async fn invalid_envelopes_get_422_naming_the_field() {
    let worker = default_worker();
    let cases = [
        (
            json!({"timestamp": 1, "payload": {}, "team_member_id": 1, "project_code": "P"}),
            "event_name",
        ),
        (
            json!({"event_name": "run.deleted", "timestamp": "1", "payload": {}, "team_member_id": 1, "project_code": "P"}),
            "timestamp",
        ),
        (
            json!({"event_name": "run.deleted", "timestamp": 1, "payload": [], "team_member_id": 1, "project_code": "P"}),
            "payload",
        ),
        (
            json!({"event_name": "run.deleted", "timestamp": 1, "payload": {}, "team_member_id": -1, "project_code": "P"}),
            "team_member_id",
        ),
        (
            json!({"event_name": "run.deleted", "timestamp": 1, "payload": {}, "team_member_id": 1, "project_code": ""}),
            "project_code",
        ),
    ];
    for (body, field) in cases {
        let (status, response) = post(
            worker,
            serde_json::to_vec(&body).unwrap(),
            &[("X-Qase-Secret", SECRET)],
        )
        .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(response["error"], "invalid_envelope");
        assert_eq!(response["field"], field, "{response}");
    }
    let (status, response) = post(worker, b"[1,2]".to_vec(), &[("X-Qase-Secret", SECRET)]).await;
    assert_eq!(
        (status, response["error"].as_str()),
        (422, Some("invalid_envelope"))
    );
}
