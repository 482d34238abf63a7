//! The served answers against `openapi.json` (issue #33): each answer of a
//! tour of the HTTP surface (ingest, health, every operator API route that
//! answers JSON, their refusals, and the hardening cases: a glob past D1's
//! limit, a run id past 2^53, a body 5,000 levels deep) validates against
//! the schema the document declares for its route, method and status. An
//! answer whose status the document does not declare fails too.

use qase_edge_e2e::sink::Sink;
use qase_edge_e2e::{envelope, post, Worker, WorkerOptions, SECRET};
use reqwest::Method;
use serde_json::{json, Value};

fn document() -> Value {
    let text = include_str!("../../../crates/qase-edge/openapi.json");
    serde_json::from_str(text).expect("openapi.json is JSON")
}

/// The JSON pointer of `route`'s answer schema for `status`.
fn pointer(route: &str, method: &Method, status: u16) -> String {
    let route = route.replace('~', "~0").replace('/', "~1");
    let method = method.as_str().to_lowercase();
    format!("/paths/{route}/{method}/responses/{status}/content/application~1json/schema")
}

/// The problems of `answer` against `route`'s schema for `status`.
fn problems(
    document: &Value,
    route: &str,
    method: &Method,
    status: u16,
    answer: &Value,
) -> Vec<String> {
    let at = pointer(route, method, status);
    if document.pointer(&at).is_none() {
        return vec![format!(
            "{method} {route} answered {status}, which it does not declare"
        )];
    }
    let mut root = document.clone();
    root["$ref"] = json!(format!("#{}", at.replace('{', "%7B").replace('}', "%7D")));
    let validator = jsonschema::validator_for(&root).expect("the schema compiles");
    validator
        .iter_errors(answer)
        .map(|e| {
            // A value in the message can be the whole body: its start is enough.
            let what: String = e.to_string().chars().take(300).collect();
            format!("{method} {route} {status}: {what} at {}", e.instance_path())
        })
        .collect()
}

/// A delivery whose payload nests `depth` levels: too deep for the
/// payload's model, so it is quarantined, and too deep for serde_json to
/// build (it stops at 128), so it is written as text.
fn nested(depth: usize) -> Vec<u8> {
    let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    format!(
        r#"{{"event_name":"case.updated","timestamp":1,"payload":{{"id":1,"deep":{deep}}},"team_member_id":1,"project_code":"WEB"}}"#
    )
    .into_bytes()
}

#[tokio::test]
async fn every_served_answer_validates_against_openapi_json() {
    let sink = Sink::start();
    let destinations = json!([{"name": "ci", "url": sink.url("/ci"), "events": ["run.*"]}]);
    let worker = Worker::start(
        WorkerOptions::with_api().var("QASE_DESTINATIONS", &destinations.to_string()),
    );
    let document = document();
    let mut found = Vec::new();

    // Ingest: accepted, duplicate, quarantined, refused.
    let started = envelope(
        "run.started",
        "WEB",
        json!({"id": 42, "title": "Nightly", "cases_count": 2}),
    );
    let completed = envelope(
        "run.completed",
        "WEB",
        json!({"id": 42, "cases": 2, "passed": 1, "failed": 1, "blocked": 0, "duration": 10}),
    );
    let off_model = envelope("run.completed", "WEB", json!({"id": "forty-two"}));
    let deep = nested(5_000);
    let mut ids = Vec::new();
    let ingest = [
        (started.clone(), SECRET),
        (completed, SECRET),
        (off_model, SECRET),
        (deep, SECRET),
        (started, SECRET),
        (b"{}".to_vec(), "wrong"),
        (b"[1]".to_vec(), SECRET),
    ];
    for (body, secret) in ingest {
        let (status, answer) = post(&worker, body, &[("X-Qase-Secret", secret)]).await;
        found.extend(problems(
            &document,
            "/webhooks/qase",
            &Method::POST,
            status,
            &answer,
        ));
        if let Some(id) = answer["id"].as_str() {
            ids.push(id.to_owned());
        }
    }
    sink.wait_for(&worker, "/ci", 2, std::time::Duration::from_secs(20))
        .await;

    let health = worker.health().await;
    found.extend(problems(&document, "/health", &Method::GET, 200, &health));

    let long_glob = format!("{}*", "a".repeat(60));
    let mut tour = vec![
        ("/api/events", "/api/events".to_owned()),
        ("/api/events", "/api/events?project=WEB&limit=2".to_owned()),
        ("/api/events", format!("/api/events?event={long_glob}")),
        ("/api/events", "/api/events?limit=0".to_owned()),
        ("/api/stats", "/api/stats".to_owned()),
        ("/api/dead-letters", "/api/dead-letters".to_owned()),
        ("/api/runs", "/api/runs?project=WEB".to_owned()),
        ("/api/runs", "/api/runs".to_owned()),
        ("/api/runs/{project}/{id}", "/api/runs/WEB/42".to_owned()),
        (
            "/api/runs/{project}/{id}",
            "/api/runs/WEB/9007199254740992".to_owned(),
        ),
        ("/api/runs/{project}/{id}", "/api/runs/WEB/43".to_owned()),
        (
            "/api/runs/{project}/{id}/wait",
            "/api/runs/WEB/42/wait?timeout=1".to_owned(),
        ),
        ("/api/destinations", "/api/destinations".to_owned()),
        (
            "/api/events/{id}",
            "/api/events/evt_00000000000000000000000000000000".to_owned(),
        ),
    ];
    for id in &ids {
        tour.push(("/api/events/{id}", format!("/api/events/{id}")));
    }
    assert_eq!(ids.len(), 5, "four events and a duplicate: {ids:?}");
    for (route, path) in &tour {
        let (status, answer) = worker.api(Method::GET, path).await;
        found.extend(problems(&document, route, &Method::GET, status, &answer));
    }
    let posts = [
        (
            "/api/replay",
            "/api/replay",
            r#"{"project": "WEB", "dry_run": true}"#.to_owned(),
        ),
        (
            "/api/replay",
            "/api/replay",
            format!(r#"{{"event": "{long_glob}", "dry_run": true}}"#),
        ),
        ("/api/replay", "/api/replay", r#"{"unknown": 1}"#.to_owned()),
        (
            "/api/destinations/{name}/pause",
            "/api/destinations/ci/pause",
            String::new(),
        ),
        (
            "/api/destinations/{name}/resume",
            "/api/destinations/ci/resume",
            String::new(),
        ),
        (
            "/api/destinations/{name}/pause",
            "/api/destinations/nope/pause",
            String::new(),
        ),
    ];
    for (route, path, body) in &posts {
        let (status, answer) = worker.api_with(Method::POST, path, body).await;
        found.extend(problems(&document, route, &Method::POST, status, &answer));
    }
    let (status, _) = worker
        .api(Method::GET, &format!("/api/events?event={long_glob}"))
        .await;
    assert_eq!(
        status, 400,
        "a glob past D1's limit is refused, not retried forever"
    );
    assert!(
        found.is_empty(),
        "{} answers differ from openapi.json:\n{}",
        found.len(),
        found.join("\n")
    );
}
