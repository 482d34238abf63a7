//! What lands in the event store (D1), and what each event costs.
//! 1. Every fixture (each documented event and each variant) is accepted and
//!    stored in its row byte for byte, with what people filter on.
//! 2. A re-sent delivery is answered 200 `duplicate`, stored once, counted.
//! 3. 20 identical deliveries at the same moment: exactly one `accepted`,
//!    19 `duplicate`, one row, one forwarded delivery per destination.
//! 4. The writes per event match the README's table: one D1 row and one
//!    queue message by default, nothing in KV; one KV key more with the kv sink.

use std::time::Duration;

use qase_edge_e2e::sink::Sink;
use qase_edge_e2e::{envelope, fixtures, post, Worker, WorkerOptions, SECRET};
use qase_edge_engine::store::layout;
use serde_json::{json, Value};

use crate::default_worker;

/// The stored row of event `id`.
async fn row(worker: &Worker, id: &str) -> Option<Value> {
    worker
        .d1("SELECT * FROM events WHERE id = ?1", &[json!(id)])
        .await
        .into_iter()
        .next()
}

#[tokio::test]
async fn every_event_is_stored_byte_for_byte() {
    let worker = default_worker();
    let fixtures = fixtures();
    assert!(fixtures.len() >= 50, "{}", fixtures.len());
    for (name, body) in fixtures {
        let (status, response) = post(worker, body.clone(), &[("X-Qase-Secret", SECRET)]).await;
        assert_eq!(status, 202, "{name}: {response}");
        assert_eq!(response["status"], "accepted", "{name}");
        let id = response["id"].as_str().unwrap();
        let row = row(worker, id)
            .await
            .unwrap_or_else(|| panic!("{name} not in D1"));
        assert!(
            row["body"].as_str().unwrap().as_bytes() == body,
            "{name}: stored bytes differ"
        );
        let sent: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(row["event_name"], sent["event_name"], "{name}");
        assert_eq!(row["project_code"], sent["project_code"], "{name}");
        assert_eq!(row["team_member_id"], sent["team_member_id"], "{name}");
        assert_eq!(row["outcome"], "accepted", "{name}");
        assert_eq!(row["size"], body.len(), "{name}");
        assert!(row["received_at"].as_u64().unwrap() > 1_700_000_000_000);
        let event_name = sent["event_name"].as_str().unwrap();
        let (entity, action) = event_name.split_once('.').unwrap();
        assert_eq!(
            (row["entity"].as_str(), row["action"].as_str()),
            (Some(entity), Some(action))
        );
        if entity == "run" {
            assert_eq!(row["run_id"], sent["payload"]["id"], "{name}: the run's id");
        }
    }
}

#[tokio::test]
async fn a_resent_delivery_is_a_duplicate_and_not_stored_again() {
    let worker = default_worker();
    let body = envelope("defect.resolved", "DUP", json!({"id": 991}));
    let (status, first) = post(worker, body.clone(), &[("X-Qase-Secret", SECRET)]).await;
    assert_eq!((status, first["duplicate"].as_bool()), (202, Some(false)));
    let id = first["id"].as_str().unwrap();
    let stored = row(worker, id).await.unwrap();
    assert_eq!(
        (stored["duplicates"].as_u64(), stored["defect_id"].as_u64()),
        (Some(0), Some(991))
    );

    let (status, second) = post(worker, body, &[("X-Qase-Secret", SECRET)]).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["duplicate"], true);
    assert_eq!(second["status"], "duplicate");
    assert_eq!(second["id"], first["id"]);
    let again = row(worker, id).await.unwrap();
    assert_eq!(again["received_at"], stored["received_at"], "rewritten");
    assert_eq!(again["duplicates"], 1);
    assert!(again["last_duplicate_at"].as_u64() >= stored["received_at"].as_u64());
}

#[tokio::test]
async fn twenty_identical_deliveries_at_once_are_accepted_and_forwarded_once() {
    let sink = Sink::start();
    let destinations = json!([{"name": "ci", "url": sink.url("/ci")}]);
    let worker = Worker::start(
        WorkerOptions::with_secret().var("QASE_DESTINATIONS", &destinations.to_string()),
    );
    let body = envelope("run.deleted", "SAME", json!({"id": 20}));
    let answers = futures_util::future::join_all(
        (0..20).map(|_| post(&worker, body.clone(), &[("X-Qase-Secret", SECRET)])),
    )
    .await;
    let statuses: Vec<&str> = answers
        .iter()
        .map(|(_, answer)| answer["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == "accepted").count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == "duplicate").count(),
        19,
        "{statuses:?}"
    );
    let id = answers[0].1["id"].as_str().unwrap();
    assert_eq!(row(&worker, id).await.unwrap()["duplicates"], 19);
    let forwarded = sink
        .wait_for(&worker, "/ci", 1, Duration::from_secs(20))
        .await;
    // Anything forwarded twice would arrive within the same batch window.
    let received = sink.assert_quiet_for("/ci", Duration::from_secs(3)).await;
    assert_eq!(received.len(), 1, "forwarded once");
    assert_eq!(forwarded[0].body, body);
}

/// Counts what the local stores hold after `n` distinct events were
/// accepted: D1 rows, KV keys, and events the queue consumer took.
async fn writes_for(worker: &Worker, n: usize) -> (usize, usize, usize) {
    for i in 0..n {
        let body = envelope("run.deleted", "COST", json!({"id": i}));
        let (status, answer) = post(worker, body, &[("X-Qase-Secret", SECRET)]).await;
        assert_eq!(status, 202, "{answer}");
    }
    let count = |rows: Vec<Value>| rows[0]["n"].as_u64().unwrap() as usize;
    // The consumer marks each event it took from the queue.
    let what = format!("{n} events taken from the queue");
    let taken = worker
        .wait_until(&what, Duration::from_secs(20), async || {
            let sql = "SELECT count(*) AS n FROM events WHERE forward = 'queued'";
            let taken = count(worker.d1(sql, &[]).await);
            (taken >= n).then_some(taken)
        })
        .await;
    let rows = count(worker.d1("SELECT count(*) AS n FROM events", &[]).await);
    let kv_keys = worker.kv_list("").await.len();
    (rows, kv_keys, taken)
}

#[tokio::test]
async fn each_event_costs_the_writes_the_readme_says() {
    // Default: one D1 row and one queue message per event, nothing in KV.
    let worker = Worker::start(WorkerOptions::with_secret());
    assert_eq!(writes_for(&worker, 10).await, (10, 0, 10));
    // The kv sink: one key more per event, the event's bytes.
    let worker = Worker::start(WorkerOptions::with_secret().var("QASE_SINKS", "d1,kv,queue"));
    assert_eq!(writes_for(&worker, 10).await, (10, 10, 10));
    let keys = worker.kv_list(layout::EVENT).await;
    assert_eq!(keys.len(), 10, "one key per event, under event/: {keys:?}");
}

#[tokio::test]
async fn the_sweep_deletes_what_outlived_the_retention_and_keeps_the_rest() {
    let worker = Worker::start(WorkerOptions::with_secret());
    let body = envelope("run.deleted", "KEEP", json!({"id": 1}));
    let (status, kept) = post(&worker, body, &[("X-Qase-Secret", SECRET)]).await;
    assert_eq!(status, 202, "{kept}");
    // An event received 31 days ago (the default retention is 30), with a
    // delivery state.
    let old_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        - 31 * 86_400_000;
    let old = "evt_00000000000000000000000000000001";
    worker
        .d1(
            "INSERT INTO events (id, event_name, entity, action, project_code, received_at, \
             outcome, forward, size, body) VALUES (?1, 'run.deleted', 'run', 'deleted', 'OLD', ?2, \
             'accepted', 'queued', 2, '{}')",
            &[json!(old), json!(old_at)],
        )
        .await;
    worker
        .d1(
            "INSERT INTO deliveries (event_id, destination, status, attempts, updated_at) \
             VALUES (?1, 'ci', 'delivered', 1, ?2)",
            &[json!(old), json!(old_at)],
        )
        .await;

    worker.scheduled().await;
    let ids: Vec<Value> = worker
        .d1("SELECT id FROM events ORDER BY id", &[])
        .await
        .into_iter()
        .map(|row| row["id"].clone())
        .collect();
    assert_eq!(ids, [kept["id"].clone()], "only the recent event is kept");
    let states = worker.d1("SELECT * FROM deliveries", &[]).await;
    assert!(states.is_empty(), "{states:?}");
    let logs = worker.logs_containing("\"event\":\"sweep\"");
    assert!(logs.contains("\"expired\":1"), "{logs}");
}
