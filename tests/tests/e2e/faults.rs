//! Failures answer 503 with `Retry-After`, never 2xx.
//! 1. A broken configuration: 503 `misconfigured`, the key in `GET /health`
//!    and in the log, no crash.
//! 2. The D1 and KV bindings missing: 503, and the secret in no log line;
//!    KV alone missing changes nothing (it is optional).
//! 3. A broken optional setting (a 14-character operator token, broken
//!    destinations) turns only its feature off: deliveries are still
//!    accepted and stored, and `GET /health` says what is off and why.
//! 4. A panic inside the engine (a test-only input) fails that request
//!    only: the next deliveries are accepted by a fresh Wasm instance.
//! 5. A sink write that fails (a message too large for the queue, with no
//!    D1 or KV to hold the body): a 5xx `storage_*` error, never 2xx, and the
//!    Worker keeps serving.
//! 6. Each store down, alone and together (queue, KV, D1, D1 and the queue,
//!    D1 and KV, all three): `202` while any store took the delivery, `503`
//!    with `Retry-After` only when none did; once the stores are back and
//!    the cron sweep has run, every acknowledged delivery is forwarded
//!    exactly once and in D1 byte for byte (but for D1 and KV down
//!    together, when the consumer forwards it without a row).

use std::time::Duration;

use qase_edge_e2e::sink::Sink;
use qase_edge_e2e::{envelope, post, Worker, WorkerOptions, SECRET};
use qase_edge_engine::store::layout;
use serde_json::json;

/// Posts `body` with the test secret; the whole response, for its headers.
async fn deliver(worker: &Worker, body: Vec<u8>) -> reqwest::Response {
    reqwest::Client::new()
        .post(worker.url("/webhooks/qase"))
        .header("X-Qase-Secret", SECRET)
        .body(body)
        .send()
        .await
        .expect("the Worker answers")
}

#[tokio::test]
async fn a_broken_configuration_is_503_and_named_in_health() {
    let worker =
        Worker::start(WorkerOptions::with_secret().var("QASE_ROUTES", "[{\"to\": [\"s3\"]}]"));
    let body = envelope("run.deleted", "P", json!({"id": 1}));
    let response = deliver(&worker, body).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error["error"], "misconfigured");
    assert!(error["message"].as_str().unwrap().contains("QASE_ROUTES"));

    let health = worker.health().await;
    assert_eq!(health["status"], "misconfigured");
    assert_eq!(health["config_error"]["key"], "QASE_ROUTES");
    assert!(worker
        .logs_containing("config_error")
        .contains("QASE_ROUTES"));
}

#[tokio::test]
async fn a_broken_optional_setting_turns_its_feature_off_and_ingestion_goes_on() {
    // Regression: a 14-character QASE_ADMIN_TOKEN answered every Qase delivery 503.
    let worker = Worker::start(
        WorkerOptions::with_secret()
            .var("QASE_ADMIN_TOKEN", "14-characters!")
            .var(
                "QASE_DESTINATIONS",
                "[{\"name\": \"ci\", \"url\": \"ftp://x\"}]",
            ),
    );
    let body = envelope("run.deleted", "P", json!({"id": 1}));
    let response = deliver(&worker, body.clone()).await;
    assert_eq!(response.status(), 202);
    let id = qase_webhooks::EventId::of(&body).to_string();
    let stored = worker
        .d1("SELECT id FROM events WHERE id = ?1", &[json!(id)])
        .await;
    assert_eq!(stored.len(), 1, "stored");

    let health = worker.health().await;
    assert_eq!(health["status"], "degraded");
    let problems = health["config_problems"].as_array().unwrap();
    let effect_of = |key: &str| {
        problems
            .iter()
            .find(|p| p["key"] == key)
            .map(|p| p["effect"].as_str().unwrap().to_owned())
    };
    assert_eq!(
        effect_of("QASE_ADMIN_TOKEN").as_deref(),
        Some("operator_api_off")
    );
    assert_eq!(
        effect_of("QASE_DESTINATIONS").as_deref(),
        Some("delivery_paused")
    );
    assert!(!health.to_string().contains("14-characters!"), "{health}");

    let api = reqwest::Client::new()
        .get(worker.url("/api/events"))
        .bearer_auth("14-characters!")
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 404, "the operator API is off");
    assert!(worker
        .logs_containing("config_problem")
        .contains("QASE_ADMIN_TOKEN"));
}

#[tokio::test]
async fn a_panic_fails_one_request_and_the_next_deliveries_are_accepted() {
    let worker = Worker::start(WorkerOptions::with_secret().var("QASE_TEST_PANIC", "1"));
    for round in 0..2 {
        let panicked = deliver(&worker, b"panic".to_vec()).await;
        assert!(
            panicked.status().is_server_error(),
            "round {round}: {}",
            panicked.status()
        );
        for n in 0..3 {
            let body = envelope("run.deleted", "P", json!({"id": round * 10 + n}));
            let response = deliver(&worker, body).await;
            assert_eq!(
                response.status(),
                202,
                "round {round}, delivery {n} after the panic"
            );
        }
    }
    assert!(worker
        .logs_containing("test-only panic")
        .contains("test-only panic"));
}

#[tokio::test]
async fn a_failed_sink_write_is_503_and_never_2xx() {
    let worker = Worker::start(
        WorkerOptions::with_secret()
            .omit("QASE_DB")
            .omit("QASE_EVENTS")
            .var("QASE_PAYLOAD_POLICY", "reject")
            .var("QASE_DEDUPE_SECONDS", "0"),
    );
    let steps: Vec<_> = (0..2000)
        .map(|n| json!({"position": n, "action": "x".repeat(100), "expected_result": "ok"}))
        .collect();
    let big = envelope(
        "case.created",
        "BIG",
        json!({"id": 1, "title": "big", "steps": steps}),
    );
    assert!(big.len() > 128 * 1024);
    let response = deliver(&worker, big).await;
    assert!(response.status().is_server_error(), "{}", response.status());
    let error: serde_json::Value = response.json().await.unwrap();
    let code = error["error"].as_str().unwrap();
    assert!(code.starts_with("storage_"), "{error}");

    let small = envelope("run.deleted", "BIG", json!({"id": 2}));
    let (status, _) = post(&worker, small, &[("X-Qase-Secret", SECRET)]).await;
    assert_eq!(status, 202, "the Worker keeps serving");
    let logs = worker.logs_containing("store write failed");
    assert!(logs.contains("store write failed"), "{logs}");
    assert!(!logs.contains(SECRET), "the secret is in the logs:\n{logs}");
}

#[tokio::test]
async fn missing_store_bindings_are_503_and_the_secret_stays_out_of_the_logs() {
    // Without D1 and KV nothing can hold a quarantined payload: the default
    // policy cannot work, and nothing is acknowledged.
    let worker = Worker::start(
        WorkerOptions::with_secret()
            .omit("QASE_EVENTS")
            .omit("QASE_DB"),
    );
    let body = envelope("run.deleted", "NOKV", json!({"id": 1}));
    let response = deliver(&worker, body).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let logs = worker.logs_containing("config_error");
    assert!(logs.contains("QASE_PAYLOAD_POLICY"), "{logs}");
    assert!(!logs.contains(SECRET), "the secret is in the logs:\n{logs}");

    let without_kv = Worker::start(WorkerOptions::with_secret().omit("QASE_EVENTS"));
    let body = envelope("run.deleted", "NOKV", json!({"id": 2}));
    assert_eq!(
        deliver(&without_kv, body).await.status(),
        202,
        "KV is optional"
    );
}

/// A Worker forwarding to `sink`'s `/ci`, whose sweep sends again at once.
fn forwarding_to(sink: &Sink) -> WorkerOptions {
    let destinations = json!([{"name": "ci", "url": sink.url("/ci")}]);
    WorkerOptions::with_secret()
        .var("QASE_DESTINATIONS", &destinations.to_string())
        .var("QASE_REDRIVE_AFTER_SECONDS", "0")
}

#[tokio::test]
async fn a_store_down_loses_nothing_that_was_acknowledged() {
    let cases: [&[&str]; 6] = [
        &["QASE_DELIVERIES"],
        &["QASE_EVENTS"],
        &["QASE_DB"],
        &["QASE_DB", "QASE_DELIVERIES"],
        &["QASE_DB", "QASE_EVENTS"],
        &["QASE_DB", "QASE_EVENTS", "QASE_DELIVERIES"],
    ];
    for down in cases {
        let sink = Sink::start();
        // The kv sink too, so that KV being down is felt on the ingest path.
        let options = forwarding_to(&sink).var("QASE_SINKS", "d1,kv,queue");
        let faulty = down.iter().fold(options.clone(), |o, name| o.fault(name));
        let worker = Worker::start(faulty);
        let body = envelope("run.deleted", "FAULT", json!({"id": down.len()}));
        let response = deliver(&worker, body.clone()).await;
        let status = response.status().as_u16();
        let all_down = down.len() == 3;
        if all_down {
            assert_eq!(status, 503, "{down:?}");
            assert!(response.headers().contains_key("retry-after"), "{down:?}");
            continue;
        }
        assert_eq!(status, 202, "{down:?}: a store took it");

        // The queue consumer takes the message first, if the queue took it
        // (Miniflare keeps queued messages in memory: a restart drops them).
        // Its last word on this event is the `claim` line that leaves it to
        // the sweep or, when it forwards it (claimed, or unclaimed with D1
        // down), the `attempt` line: the claim line of an unclaimed
        // forward comes before its attempt.
        if !down.contains(&"QASE_DELIVERIES") {
            let id = qase_webhooks::EventId::of(&body).to_string();
            let named = format!(r#""id":"{id}""#);
            worker.logs_when("the queue consumer's last word on it", |logs| {
                logs.lines().any(|line| {
                    line.contains(&named)
                        && (line.contains(r#""outcome":"d1_unavailable_left_to_the_sweep""#)
                            || line.contains(r#""event":"attempt""#))
                })
            });
        }
        // The stores come back; the cron sweep runs.
        let worker = worker.restart(options);
        worker.scheduled().await;
        let id = qase_webhooks::EventId::of(&body).to_string();
        let rows = worker
            .d1("SELECT body FROM events WHERE id = ?1", &[json!(id)])
            .await;
        // D1 and KV down together: only the queue held it, and the consumer
        // forwarded it without a row (README, Storage: the one gap).
        let only_the_queue = down == ["QASE_DB", "QASE_EVENTS"];
        if !only_the_queue {
            assert_eq!(rows.len(), 1, "{down:?}: in D1 once the sweep ran");
            assert_eq!(
                rows[0]["body"].as_str().unwrap().as_bytes(),
                body,
                "{down:?}"
            );
        }
        let forwarded = sink
            .wait_for(&worker, "/ci", 1, Duration::from_secs(20))
            .await;
        assert_eq!(forwarded[0].body, body, "{down:?}");
        // A second sweep and the queue's batch window: nothing sent twice.
        worker.scheduled().await;
        let received = sink.assert_quiet_for("/ci", Duration::from_secs(3)).await;
        assert_eq!(received.len(), 1, "{down:?}: forwarded once");
        assert!(
            worker.kv_list(layout::RESCUE).await.is_empty(),
            "{down:?}: the rescue copy is gone"
        );
    }
}
