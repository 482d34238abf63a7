//! The operator API.
//! 1. Without `QASE_ADMIN_TOKEN`, every `/api` path is 404; with it, a
//!    missing or wrong token is 401 and the right one works.
//! 2. Listing: a few hundred events across projects and names, newest first,
//!    paginated without loss or repeats; filters combine; bad parameters
//!    are 400 naming the parameter.
//! 3. An event's detail and its byte-identical body; TTLs on every write.
//! 4. Replay reaches the destination again; dead letters are listed and,
//!    once the destination recovers, replayed and removed.
//! 5. Delete removes the event; the served OpenAPI document is the committed one.

use std::collections::BTreeSet;
use std::time::Duration;

use qase_edge::engine::layout;
use qase_edge_e2e::sink::{Reply, Sink};
use qase_edge_e2e::{envelope, post, repo_root, Worker, WorkerOptions, SECRET};
use serde_json::{json, Value};

const TOKEN: &str = "e2e-admin-token-0123456789";

fn api_worker(extra: &[(&str, &str)]) -> Worker {
    let mut options = WorkerOptions::with_secret().var("QASE_ADMIN_TOKEN", TOKEN);
    for (key, value) in extra {
        options = options.var(key, value);
    }
    Worker::start(options)
}

async fn api(
    worker: &Worker,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, worker.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn get(worker: &Worker, path: &str) -> Value {
    let (status, body) = api(worker, reqwest::Method::GET, path, Some(TOKEN)).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

async fn accept(worker: &Worker, body: Vec<u8>) -> String {
    let (status, response) = post(worker, body, &[("X-Qase-Secret", SECRET)]).await;
    assert!(status == 202, "{response}");
    response["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn without_a_token_the_api_does_not_exist_and_with_one_it_is_enforced() {
    let closed = Worker::start(WorkerOptions::with_secret());
    for path in ["/api/events", "/api/openapi.json", "/api/dead-letters"] {
        let (status, body) = api(&closed, reqwest::Method::GET, path, Some(TOKEN)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
    }
    let open = api_worker(&[]);
    let (status, body) = api(&open, reqwest::Method::GET, "/api/events", None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, _) = api(
        &open,
        reqwest::Method::GET,
        "/api/events",
        Some("e2e-admin-token-012345678"),
    )
    .await;
    assert_eq!(status, 401);
    let response = reqwest::get(open.url("/api/events")).await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    get(&open, "/api/events").await;
}

#[tokio::test]
async fn listing_filters_and_paginates_newest_first() {
    let worker = api_worker(&[]);
    let events = [
        "run.completed",
        "run.deleted",
        "case.deleted",
        "defect.resolved",
        "note.added",
    ];
    let mut sent = Vec::new();
    for n in 0..300u64 {
        let project = ["ALPHA", "BETA", "GAMMA"][(n % 3) as usize];
        let name = events[(n % 5) as usize];
        let payload = match name {
            "run.completed" => {
                json!({"id": n, "cases": 1, "passed": 1, "failed": 0, "blocked": 0, "duration": 1})
            }
            _ => json!({"id": n}),
        };
        sent.push((
            accept(&worker, envelope(name, project, payload)).await,
            project,
            name,
        ));
    }

    // Every event once, newest first, across pages.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/events?limit=70&cursor={c}"),
            None => "/api/events?limit=70".to_owned(),
        };
        let page = get(&worker, &path).await;
        for event in page["events"].as_array().unwrap() {
            seen.push((
                event["id"].as_str().unwrap().to_owned(),
                event["received_at"].as_u64().unwrap(),
            ));
        }
        match page["cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 300);
    assert_eq!(
        seen.iter().map(|(id, _)| id).collect::<BTreeSet<_>>().len(),
        300,
        "repeats"
    );
    assert!(
        seen.windows(2).all(|w| w[0].1 >= w[1].1),
        "not newest first"
    );

    let count = |page: &Value| page["events"].as_array().unwrap().len();
    let beta = get(&worker, "/api/events?project=BETA&limit=1000").await;
    assert_eq!(count(&beta), 100);
    assert!(beta["events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["project_code"] == "BETA"));
    let runs = get(&worker, "/api/events?event=run.*&limit=1000").await;
    assert_eq!(count(&runs), 120);
    let beta_runs = get(&worker, "/api/events?event=run.*&project=BETA&limit=1000").await;
    let expected = sent
        .iter()
        .filter(|(_, p, n)| *p == "BETA" && n.starts_with("run."))
        .count();
    assert_eq!(count(&beta_runs), expected);
    let quarantined = get(&worker, "/api/events?status=quarantined&limit=1000").await;
    assert_eq!(
        count(&quarantined),
        60,
        "note.added is unknown, so quarantined"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(
        count(
            &get(
                &worker,
                &format!("/api/events?since={}&limit=1000", now + 60)
            )
            .await
        ),
        0
    );
    assert_eq!(
        count(
            &get(
                &worker,
                &format!("/api/events?until={}&limit=1000", now - 3600)
            )
            .await
        ),
        0
    );
    assert_eq!(
        count(
            &get(
                &worker,
                &format!("/api/events?since={}&limit=1000", now - 3600)
            )
            .await
        ),
        300
    );

    for (path, param) in [
        ("/api/events?limit=0", "limit"),
        ("/api/events?status=lost", "status"),
        ("/api/events?since=soon", "since"),
        ("/api/events?cursor=nope", "cursor"),
        ("/api/events?colour=red", "colour"),
        ("/api/dead-letters?limit=x", "limit"),
    ] {
        let (status, body) = api(&worker, reqwest::Method::GET, path, Some(TOKEN)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (400, Some("invalid_parameter")),
            "{path}"
        );
        assert_eq!(body["field"], param, "{path}");
    }
}

#[tokio::test]
async fn an_event_shows_its_metadata_and_exact_body_and_every_write_has_a_ttl() {
    let worker = api_worker(&[]);
    // Odd spacing survives byte for byte.
    let body = br#"{ "event_name":"run.deleted",  "timestamp":1764000000,"payload":{"id":77},"team_member_id":3,"project_code":"SHOW" }"#.to_vec();
    let id = accept(&worker, body.clone()).await;
    let detail = get(&worker, &format!("/api/events/{id}")).await;
    assert_eq!(detail["id"], id);
    assert_eq!(detail["event_name"], "run.deleted");
    assert_eq!(detail["project_code"], "SHOW");
    assert_eq!(detail["status"], "accepted");
    assert_eq!(detail["body"]["payload"]["id"], 77);
    let raw = reqwest::Client::new()
        .get(worker.url(&format!("/api/events/{id}/body")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(raw.to_vec(), body);
    for prefix in [
        layout::EVENT.to_owned(),
        layout::INDEX.to_owned(),
        layout::project_index_prefix("SHOW"),
    ] {
        let keys = worker.kv_list(&prefix).await;
        assert!(!keys.is_empty(), "{prefix}");
        assert!(
            keys.iter().all(|k| k["expiration"].as_u64().is_some()),
            "{prefix}: {keys:?}"
        );
    }
    let (status, body) = api(
        &worker,
        reqwest::Method::GET,
        "/api/events/evt_00000000000000000000000000000000",
        Some(TOKEN),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (404, Some("event_not_found"))
    );

    let (status, _) = api(
        &worker,
        reqwest::Method::DELETE,
        &format!("/api/events/{id}"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = api(
        &worker,
        reqwest::Method::GET,
        &format!("/api/events/{id}"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 404);
    assert!(worker.kv_list(layout::INDEX).await.is_empty());
}

#[tokio::test]
async fn replay_and_dead_letter_replay_reach_the_destination_again() {
    let sink = Sink::start();
    let destinations = json!([{"name": "hook", "url": sink.url("/hook")}]).to_string();
    let worker = api_worker(&[
        ("QASE_DESTINATIONS", &destinations),
        ("QASE_RETRY_MAX_ATTEMPTS", "1"),
        ("QASE_RETRY_BASE_SECONDS", "1"),
    ]);
    let id = accept(&worker, envelope("run.deleted", "RE", json!({"id": 1}))).await;
    assert_eq!(
        sink.wait_for("/hook", 1, Duration::from_secs(20))
            .await
            .len(),
        1
    );
    let client = reqwest::Client::new();
    let replay = client
        .post(worker.url(&format!("/api/events/{id}/replay")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 202);
    let received = sink.wait_for("/hook", 2, Duration::from_secs(20)).await;
    assert_eq!(received.len(), 2, "{}", worker.logs());
    assert_eq!(received[1].headers["webhook-id"], id);
    let unknown = client
        .post(worker.url(&format!("/api/events/{id}/replay")))
        .bearer_auth(TOKEN)
        .body(r#"{"destinations":["nope"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);

    // The destination goes down: one attempt allowed, so a dead letter at once.
    sink.always("/hook", Reply::status(500));
    let dead_id = accept(&worker, envelope("run.deleted", "RE", json!({"id": 2}))).await;
    let mut listed = Value::Null;
    for _ in 0..100 {
        listed = get(&worker, "/api/dead-letters").await;
        if !listed["dead_letters"].as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let letters = listed["dead_letters"].as_array().unwrap();
    assert_eq!(letters.len(), 1, "{listed}");
    assert_eq!(letters[0]["id"], dead_id);
    assert_eq!(letters[0]["destination"], "hook");
    assert_eq!(letters[0]["last_status"], 500);
    let detail = get(&worker, &format!("/api/events/{dead_id}")).await;
    assert_eq!(detail["dead_letters"], json!(["hook"]));

    // It recovers; the dead letter is replayed and removed.
    sink.always("/hook", Reply::status(200));
    let before = sink.received("/hook").len();
    let replay = client
        .post(worker.url(&format!("/api/dead-letters/{dead_id}/replay")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 202);
    let received = sink
        .wait_for("/hook", before + 1, Duration::from_secs(20))
        .await;
    assert_eq!(received.last().unwrap().headers["webhook-id"], dead_id);
    assert!(get(&worker, "/api/dead-letters").await["dead_letters"]
        .as_array()
        .unwrap()
        .is_empty());
    let mut state = Value::Null;
    for _ in 0..50 {
        state = get(&worker, &format!("/api/events/{dead_id}")).await["deliveries"][0].clone();
        if state["status"] == "delivered" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(state["status"], "delivered", "{state}");
    let (status, _) = api(
        &worker,
        reqwest::Method::POST,
        &format!("/api/dead-letters/{dead_id}/replay"),
        Some(TOKEN),
    )
    .await;
    assert_eq!(status, 404, "nothing left to replay");
}

#[tokio::test]
async fn the_served_openapi_document_is_the_committed_one() {
    let worker = api_worker(&[]);
    let served = reqwest::get(worker.url("/api/openapi.json"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let committed =
        std::fs::read_to_string(repo_root().join("crates/qase-edge/openapi.json")).unwrap();
    assert_eq!(served, committed);
    let document: Value = serde_json::from_str(&served).unwrap();
    // Every documented route is routed: never 404 `not_found` or 405.
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let path = path.replace("{id}", "evt_00000000000000000000000000000000");
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let (status, body) = api(&worker, method.clone(), &path, Some(TOKEN)).await;
            assert!(
                status != 405 && body["error"] != "not_found",
                "{method} {path}: {status} {body}"
            );
        }
    }
}
