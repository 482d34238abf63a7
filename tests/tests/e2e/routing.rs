//! Routing rules from `QASE_ROUTES`.
//! 1. A matching event goes to its rule's sinks; others are 202 `ignored`,
//!    stored nowhere, and counted in `GET /health`.
//! 2. Globs and project filters combine.

use qase_edge_e2e::{envelope, post, Worker, WorkerOptions, SECRET};
use serde_json::{json, Value};

async fn stored(worker: &Worker, id: &str) -> Vec<Value> {
    worker
        .d1(
            "SELECT body, forward FROM events WHERE id = ?1",
            &[json!(id)],
        )
        .await
}

#[tokio::test]
async fn only_routed_events_are_stored_and_the_rest_are_ignored() {
    let worker = Worker::start(
        WorkerOptions::with_secret()
            .var(
                "QASE_ROUTES",
                r#"[{"events":["run.*"],"to":["d1"]},{"events":["*.deleted"],"projects":["OPS"],"to":["d1"]}]"#,
            )
            // Ignored deliveries' lines (the default logs refused ones only).
            .var("QASE_LOG_DELIVERIES", "all"),
    );
    let routed = [
        envelope("run.deleted", "WEB", json!({"id": 1})),
        envelope("case.deleted", "OPS", json!({"id": 2})),
    ];
    for body in routed {
        let (status, response) = post(&worker, body.clone(), &[("X-Qase-Secret", SECRET)]).await;
        assert_eq!(
            (status, response["status"].as_str()),
            (202, Some("accepted"))
        );
        let id = response["id"].as_str().unwrap();
        let rows = stored(&worker, id).await;
        assert_eq!(rows[0]["body"].as_str().unwrap().as_bytes(), body);
        assert_eq!(rows[0]["forward"], "none", "routed to D1 only");
    }
    let ignored = [
        envelope("case.deleted", "WEB", json!({"id": 3})),
        envelope("milestone.created", "OPS", json!({"id": 4, "title": "M"})),
    ];
    for body in ignored {
        let (status, response) = post(&worker, body, &[("X-Qase-Secret", SECRET)]).await;
        assert_eq!(
            (status, response["status"].as_str()),
            (202, Some("ignored"))
        );
        let id = response["id"].as_str().unwrap();
        assert!(stored(&worker, id).await.is_empty());
    }
    let health = worker.health().await;
    assert_eq!(health["ignored_since_start"], 2);
    assert_eq!(health["routes"], 2);
    let logs = worker.logs_when("two ignored deliveries logged", |logs| {
        logs.matches(r#""outcome":"ignored""#).count() >= 2
    });
    assert_eq!(logs.matches(r#""outcome":"ignored""#).count(), 2, "{logs}");
}
