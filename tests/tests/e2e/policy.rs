//! Payloads that do not fit their event's model, and unknown events.
//! 1. `quarantine` (default): 202 `quarantined`, stored apart with the reason.
//! 2. `reject`: 422 `invalid_payload` naming the payload field, or
//!    `unknown_event`; nothing stored.

use qase_edge_e2e::{envelope, post, Worker, WorkerOptions, SECRET};
use serde_json::json;

use crate::default_worker;

#[tokio::test]
async fn misfits_and_unknown_events_are_quarantined_by_default() {
    let worker = default_worker();
    let misfit = envelope("run.completed", "Q", json!({"id": 1, "cases": "four"}));
    let unknown = envelope("result.archived", "Q", json!({"run_id": 3}));
    for (body, reason) in [
        (misfit, "cases"),
        (unknown, "unknown event `result.archived`"),
    ] {
        let (status, response) = post(worker, body.clone(), &[("X-Qase-Secret", SECRET)]).await;
        assert_eq!(status, 202, "{response}");
        assert_eq!(response["status"], "quarantined");
        let id = response["id"].as_str().unwrap();
        let rows = worker
            .d1(
                "SELECT body, outcome, reason, forward FROM events WHERE id = ?1",
                &[json!(id)],
            )
            .await;
        assert_eq!(rows[0]["body"].as_str().unwrap().as_bytes(), body);
        assert_eq!(rows[0]["outcome"], "quarantined");
        assert_eq!(rows[0]["forward"], "none", "never forwarded");
        assert!(
            rows[0]["reason"].as_str().unwrap().contains(reason),
            "{}",
            rows[0]
        );
    }
}

#[tokio::test]
async fn the_reject_policy_answers_422_and_stores_nothing() {
    let worker = Worker::start(WorkerOptions::with_secret().var("QASE_PAYLOAD_POLICY", "reject"));
    let misfit = envelope("run.completed", "R", json!({"id": 1, "cases": "four"}));
    let (status, response) = post(&worker, misfit.clone(), &[("X-Qase-Secret", SECRET)]).await;
    assert_eq!(status, 422, "{response}");
    assert_eq!(response["error"], "invalid_payload");
    assert_eq!(response["field"], "payload.cases");
    assert!(response["message"]
        .as_str()
        .unwrap()
        .contains("run.completed"));

    let unknown = envelope("result.archived", "R", json!({}));
    let (status, response) = post(&worker, unknown, &[("X-Qase-Secret", SECRET)]).await;
    assert_eq!(
        (status, response["error"].as_str()),
        (422, Some("unknown_event"))
    );
    assert_eq!(response["field"], "event_name");

    assert!(worker.kv_list("").await.is_empty(), "nothing stored");
    let rows = worker.d1("SELECT id FROM events", &[]).await;
    assert!(rows.is_empty(), "nothing stored: {rows:?}");
}
