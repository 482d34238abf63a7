//! Regressions found by adversarial testing from outside (issue 13), each
//! through the served Worker and its store.
//! 1. A quarantinable delivery whose reason grows when JSON-escaped is
//!    stored (`202 quarantined`), not answered `503` forever; the log names
//!    the field and the kind of mismatch, never the value.
//! 2. Project listings: a project code with `/` does not leak into another
//!    project's listing, and a project code shaped like an event id does
//!    not make the listing name the wrong event.
//! 3. Ids and parameters past their documented form are `404` / `400`, not `500`.
//! 4. Simultaneous copies of one delivery are listed once, and `DELETE`
//!    removes its row, its delivery states and its KV copy.
//! 5. Replay refuses a body that is not an object.
//! 6. Decisions: `bearer` in any case; whitespace around `X-Qase-Secret`;
//!    envelope keys that differ only in case; numbers and strings strict
//!    parsers refuse are quarantined.

use qase_edge_e2e::{envelope, post, raw_request, Worker, WorkerOptions, ADMIN_TOKEN, SECRET};
use qase_edge_engine::store::layout;
use serde_json::{json, Value};

fn api_worker() -> Worker {
    Worker::start(WorkerOptions::with_api())
}

fn listed(page: &Value) -> Vec<(String, String)> {
    page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_owned(),
                e["project_code"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_reason_that_grows_when_escaped_is_stored_and_logged_without_the_value() {
    // The kv sink too: KV's metadata limit is where the reason once broke.
    let worker = Worker::start(WorkerOptions::with_secret().var("QASE_SINKS", "d1,kv,queue"));
    let quotes = "\"".repeat(300);
    let body = envelope("run.deleted", "DEMO", json!({ "id": quotes }));
    for _ in 0..2 {
        let (status, response) = post(&worker, body.clone(), &[("X-Qase-Secret", SECRET)]).await;
        assert!(
            status == 202 || status == 200,
            "{status}: {response} (was 503 storage_unavailable forever)"
        );
    }
    let id = envelope_id(&body);
    let (stored, metadata) = worker
        .kv_get(&layout::quarantine_key(&id))
        .await
        .expect("stored apart");
    assert_eq!(stored, body);
    assert_eq!(metadata["status"], "quarantined");
    assert!(metadata["reason"]
        .as_str()
        .unwrap()
        .starts_with("payload of `run.deleted`"));
    assert!(serde_json::to_vec(&metadata).unwrap().len() <= 1024);
    let rows = worker
        .d1(
            "SELECT outcome, reason, body FROM events WHERE id = ?1",
            &[json!(id)],
        )
        .await;
    assert_eq!(rows[0]["outcome"], "quarantined");
    assert_eq!(rows[0]["body"].as_str().unwrap().as_bytes(), body);
    assert!(rows[0]["reason"]
        .as_str()
        .unwrap()
        .starts_with("payload of `run.deleted`"));

    let logs = worker.logs_containing("\"event\":\"quarantine\"");
    let line = logs
        .lines()
        .find(|line| line.contains("\"event\":\"quarantine\""))
        .expect("a quarantine line");
    assert!(
        line.contains("\"field\":\"id\"") && line.contains("\"kind\":\"invalid type\""),
        "{line}"
    );
    assert!(
        !logs.contains("\\\"\\\"\\\""),
        "the log quotes the payload: {logs}"
    );
}

/// The id the Worker derives from a body (the core's, as the Worker uses it).
fn envelope_id(body: &[u8]) -> String {
    qase_webhooks::EventId::of(body).to_string()
}

#[tokio::test]
async fn listings_never_show_another_projects_events_nor_the_wrong_id() {
    let worker = api_worker();
    let victim = worker
        .accept(envelope("run.deleted", "PFX", json!({"id": 1})))
        .await;
    let nested = worker
        .accept(envelope("run.deleted", "PFX/B", json!({"id": 2})))
        .await;
    // A project code that looks like another event's id.
    let lookalike = worker
        .accept(envelope("run.deleted", &victim, json!({"id": 3})))
        .await;

    let (status, page) = worker
        .api(reqwest::Method::GET, "/api/events?project=PFX")
        .await;
    assert_eq!(status, 200);
    assert_eq!(listed(&page), vec![(victim.clone(), "PFX".to_owned())]);
    let (_, page) = worker
        .api(reqwest::Method::GET, "/api/events?project=PFX%2FB")
        .await;
    assert_eq!(listed(&page), vec![(nested, "PFX/B".to_owned())]);

    let (_, all) = worker.api(reqwest::Method::GET, "/api/events").await;
    let all = listed(&all);
    assert_eq!(all.len(), 3);
    let lookalike_id = lookalike.as_str();
    assert!(
        all.contains(&(lookalike_id.to_owned(), victim.clone())),
        "the look-alike project's event is listed under its own id: {all:?}"
    );
    let (_, project_page) = worker
        .api(
            reqwest::Method::GET,
            &format!("/api/events?project={victim}"),
        )
        .await;
    assert_eq!(
        listed(&project_page),
        vec![(lookalike_id.to_owned(), victim)]
    );
}

#[tokio::test]
async fn ids_and_parameters_past_their_form_are_404_and_400_not_500() {
    let worker = api_worker();
    let long = "evt_".to_owned() + &"a".repeat(600);
    for (method, path, code) in [
        (
            reqwest::Method::GET,
            format!("/api/events/{long}"),
            "event_not_found",
        ),
        (
            reqwest::Method::GET,
            format!("/api/events/{long}/body"),
            "event_not_found",
        ),
        (
            reqwest::Method::DELETE,
            format!("/api/events/{long}"),
            "event_not_found",
        ),
        (
            reqwest::Method::POST,
            format!("/api/events/{long}/replay"),
            "event_not_found",
        ),
        (
            reqwest::Method::POST,
            format!("/api/dead-letters/{long}/replay"),
            "dead_letter_not_found",
        ),
        (
            reqwest::Method::GET,
            "/api/events/evt_XYZ".to_owned(),
            "event_not_found",
        ),
    ] {
        let (status, body) = worker.api(method.clone(), &path).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (404, Some(code)),
            "{method} {path}"
        );
    }
    for (path, param) in [
        (
            format!("/api/events?project={}", "P".repeat(1000)),
            "project",
        ),
        (format!("/api/events?event={}", "e".repeat(1000)), "event"),
        (
            format!(
                "/api/dead-letters/evt_0123456789abcdef0123456789abcdef/replay?destination={}",
                "d".repeat(1000)
            ),
            "destination",
        ),
        (format!("/api/events?run={}", "9".repeat(1000)), "run"),
        (format!("/api/events?cursor={}", "A".repeat(5000)), "cursor"),
        (
            format!("/api/dead-letters?destination={}", "d".repeat(1000)),
            "destination",
        ),
        (
            format!("/api/stats?since=0&until=1&project={}", "P".repeat(1000)),
            "project",
        ),
        (format!("/api/export?event={}", "e".repeat(1000)), "event"),
    ] {
        let method = if path.contains("replay") {
            reqwest::Method::POST
        } else {
            reqwest::Method::GET
        };
        let (status, body) = worker.api(method, &path).await;
        assert_eq!(
            (status, body["error"].as_str(), body["field"].as_str()),
            (400, Some("invalid_parameter"), Some(param)),
            "{path}"
        );
    }
}

#[tokio::test]
async fn simultaneous_copies_are_listed_once_and_delete_removes_every_trace() {
    // Copies of one delivery sent at the same moment: one row however
    // the ingest path counts them, listed once at every page size, and
    // DELETE leaves nothing of it in D1 or KV.
    let worker = std::sync::Arc::new(api_worker());
    let body = envelope("run.deleted", "COPY", json!({"id": 42}));
    let sends = (0..20).map(|_| {
        let worker = worker.clone();
        let body = body.clone();
        tokio::spawn(async move { post(&worker, body, &[("X-Qase-Secret", SECRET)]).await })
    });
    for send in sends {
        let (status, response) = send.await.unwrap();
        assert!(status == 202 || status == 200, "{status}: {response}");
    }
    let id = envelope_id(&body);
    for limit in ["1", "50"] {
        let mut ids = Vec::new();
        let mut cursor = String::new();
        loop {
            let path = format!("/api/events?limit={limit}{cursor}");
            let (_, page) = worker.api(reqwest::Method::GET, &path).await;
            ids.extend(listed(&page).into_iter().map(|(id, _)| id));
            match page["cursor"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => break,
            }
        }
        assert_eq!(ids, vec![id.clone()], "limit {limit}");
    }
    worker
        .d1(
            "INSERT INTO deliveries (event_id, destination, status, attempts, updated_at) \
             VALUES (?1, 'ci', 'dead', 8, 1)",
            &[json!(id)],
        )
        .await;

    let (status, _) = worker
        .api(reqwest::Method::DELETE, &format!("/api/events/{id}"))
        .await;
    assert_eq!(status, 204);
    let left = worker
        .d1(
            "SELECT (SELECT COUNT(*) FROM events WHERE id = ?1) + \
             (SELECT COUNT(*) FROM deliveries WHERE event_id = ?1) AS n",
            &[json!(id)],
        )
        .await;
    assert_eq!(left[0]["n"], 0, "rows left after DELETE");
    assert!(
        worker.kv_get(&layout::event_key(&id)).await.is_none(),
        "the KV copy is left after DELETE"
    );
    let (status, _) = worker
        .api(reqwest::Method::GET, &format!("/api/events/{id}"))
        .await;
    assert_eq!(status, 404);
    let (_, page) = worker.api(reqwest::Method::GET, "/api/events").await;
    assert!(listed(&page).is_empty());
    let (_, dead) = worker.api(reqwest::Method::GET, "/api/dead-letters").await;
    assert_eq!(dead["dead_letters"], json!([]));
}

#[tokio::test]
async fn replay_refuses_a_body_that_is_not_an_object() {
    let worker = api_worker();
    let event = worker
        .accept(envelope("run.deleted", "DEMO", json!({"id": 1})))
        .await;
    let path = format!("/api/events/{event}/replay");
    for body in ["[]", "null", "\"ci\"", "[[\"ci\"]]"] {
        let (status, response) = worker.api_with(reqwest::Method::POST, &path, body).await;
        assert_eq!(
            (
                status,
                response["error"].as_str(),
                response["field"].as_str()
            ),
            (400, Some("invalid_parameter"), Some("body")),
            "{body}"
        );
    }
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let worker = api_worker();
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let status = reqwest::Client::new()
            .get(worker.url("/api/events"))
            .header("Authorization", format!("{scheme} {ADMIN_TOKEN}"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        assert_eq!(status, 200, "{scheme}");
    }
}

#[tokio::test]
async fn whitespace_around_the_secret_is_not_part_of_it() {
    let worker = crate::default_worker();
    let body = envelope("run.deleted", "WS", json!({"id": 7}));
    for value in [" e2e-secret", "e2e-secret\t", "\t e2e-secret  "] {
        assert_eq!(value.trim(), SECRET);
        let request = [
            format!(
                "POST /webhooks/qase HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Qase-Secret:{value}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .into_bytes(),
            body.clone(),
        ]
        .concat();
        let (status, response) = raw_request(worker, &request).await;
        assert!(
            status == 202 || status == 200,
            "{value:?}: {status} {response}"
        );
    }
}

#[tokio::test]
async fn an_envelope_key_that_differs_only_in_case_is_refused() {
    let worker = crate::default_worker();
    let mut body: Value =
        serde_json::from_slice(&envelope("run.deleted", "A", json!({"id": 1}))).unwrap();
    body["PROJECT_CODE"] = json!("B");
    let (status, response) = post(
        worker,
        serde_json::to_vec(&body).unwrap(),
        &[("X-Qase-Secret", SECRET)],
    )
    .await;
    assert_eq!(
        (
            status,
            response["error"].as_str(),
            response["field"].as_str()
        ),
        (422, Some("invalid_envelope"), Some("project_code")),
        "{response}"
    );
}

#[tokio::test]
async fn values_strict_parsers_refuse_are_quarantined_not_forwarded() {
    let worker = crate::default_worker();
    let cases = [
        r#"{"id":1,"extra":1e400}"#,
        r#"{"id":1,"note":"\ud800"}"#,
        r#"{"id":1,"nested":{"list":["\udc00"]}}"#,
    ];
    for payload in cases {
        let body = format!(
            r#"{{"event_name":"run.deleted","timestamp":1764000000,"payload":{payload},"team_member_id":1,"project_code":"STRICT"}}"#
        );
        let (status, response) =
            post(worker, body.into_bytes(), &[("X-Qase-Secret", SECRET)]).await;
        assert_eq!(
            (status, response["status"].as_str()),
            (202, Some("quarantined")),
            "{payload}: {response}"
        );
    }
    // Result events are undocumented, but forwarded as they are: checked too.
    let body = r#"{"event_name":"result.created","timestamp":1764000000,"payload":{"n":1e400},"team_member_id":1,"project_code":"STRICT"}"#;
    let (status, response) = post(
        worker,
        body.as_bytes().to_vec(),
        &[("X-Qase-Secret", SECRET)],
    )
    .await;
    assert_eq!(
        (status, response["status"].as_str()),
        (202, Some("quarantined")),
        "{response}"
    );
}
