//! The operator API, reading and writing the D1 event store.
//! 1. Without `QASE_ADMIN_TOKEN`, every `/api` path is 404; with it, a
//!    missing or wrong token is 401 and the right one works.
//! 2. Queries by run id, outcome (and its old name `status`), destination
//!    state, time range, project and event glob return exactly the right
//!    events, newest first, across pages of two, also while new events
//!    arrive between pages.
//! 3. Bad parameters of every route are 400 naming the parameter.
//! 4. An event's row, delivery states and exact body, also a body too
//!    large for a row (read from KV); delete removes the row, its delivery
//!    states and its bytes in KV.
//! 5. Stats: counts per event, outcome, UTC hour and entity.
//! 6. Bulk replay: the dry run's count, then every selected event reaches
//!    the destination once, a call at a time; a single replay too.
//! 7. Dead letters: listed by destination across pages, replayed to the
//!    destination, then gone from the list.
//! 8. Export: NDJSON with each body, continued through `X-Next-Cursor`.
//! 9. Events that came in through the ingest route are found by their run.
//! 10. The served OpenAPI document is the committed one, and every route in
//!     it is routed.
//! 11. A history kept in KV before D1 is copied into D1 by
//!     `POST /api/migrate-kv`, once.
//! 12. A delivery that fails for good is a dead letter (listed, and found by
//!     `state=dead`) until replayed, then delivered.
//!
//! Rows are written through the harness's D1 access where a test needs
//! exact times, outcomes or delivery states.

use std::collections::BTreeSet;
use std::time::Duration;

use qase_edge_e2e::sink::Sink;
use qase_edge_e2e::{
    answer, envelope, post, repo_root, Worker, WorkerOptions, ADMIN_TOKEN, SECRET,
};
use serde_json::{json, Value};

/// 2025-11-24T16:00:00Z, an hour boundary, in milliseconds.
const BASE: u64 = 1_764_000_000_000;
const MINUTE: u64 = 60_000;
const HOUR: u64 = 3_600_000;

fn api_worker(extra: &[(&str, &str)]) -> Worker {
    let mut options = WorkerOptions::with_api();
    for (key, value) in extra {
        options = options.var(key, value);
    }
    Worker::start(options)
}

/// `GET path` with the token; asserts `200` and returns the answer.
async fn get(worker: &Worker, path: &str) -> Value {
    let (status, body) = worker.api(reqwest::Method::GET, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// `POST path` with the token and `body` as JSON.
async fn post_json(worker: &Worker, path: &str, body: Value) -> (u16, Value) {
    worker
        .api_with(reqwest::Method::POST, path, &body.to_string())
        .await
}

/// `GET /api/events/{id}/body`: the exact bytes.
async fn event_body(worker: &Worker, id: &str) -> Vec<u8> {
    let path = format!("/api/events/{id}/body");
    let response = worker.api_request(reqwest::Method::GET, &path).send();
    response.await.unwrap().bytes().await.unwrap().to_vec()
}

/// An event as a test stores it.
#[derive(Debug, Clone)]
struct Event {
    id: String,
    name: &'static str,
    project: &'static str,
    at: u64,
    outcome: &'static str,
    run: Option<u64>,
    body: Vec<u8>,
}

impl Event {
    fn new(n: u64, name: &'static str, project: &'static str, at: u64) -> Event {
        let body = envelope(
            name,
            project,
            json!({ "id": n, "title": format!("event {n}") }),
        );
        Event {
            id: qase_webhooks::EventId::of(&body).to_string(),
            name,
            project,
            at,
            outcome: "accepted",
            run: None,
            body,
        }
    }

    fn run(mut self, run: u64) -> Event {
        self.run = Some(run);
        self
    }

    fn quarantined(mut self) -> Event {
        self.outcome = "quarantined";
        self
    }
}

/// Writes the event's row as ingestion would.
async fn store(worker: &Worker, event: &Event) {
    let (entity, action) = event.name.split_once('.').unwrap();
    let reason = (event.outcome == "quarantined").then_some("payload does not fit");
    worker
        .d1(
            "INSERT INTO events (id, event_name, entity, action, project_code, team_member_id, \
             received_at, outcome, reason, run_id, forward, size, body, body_in_kv) \
             VALUES (?1, ?2, ?3, ?4, ?5, 7, ?6, ?7, ?8, ?9, 'queued', ?10, ?11, 0)",
            &[
                json!(event.id),
                json!(event.name),
                json!(entity),
                json!(action),
                json!(event.project),
                json!(event.at),
                json!(event.outcome),
                json!(reason),
                json!(event.run),
                json!(event.body.len()),
                json!(String::from_utf8(event.body.clone()).unwrap()),
            ],
        )
        .await;
}

/// Writes a delivery state of the event.
async fn deliver(worker: &Worker, event: &Event, destination: &str, status: &str, at: u64) {
    let (attempts, last_status, reason) = match status {
        "delivered" => (1, 200, None),
        "retrying" => (2, 503, None),
        _ => (8, 500, Some("attempts exhausted")),
    };
    worker
        .d1(
            "INSERT INTO deliveries (event_id, destination, status, attempts, last_status, \
             last_error, reason, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            &[
                json!(event.id),
                json!(destination),
                json!(status),
                json!(attempts),
                json!(last_status),
                json!(format!("HTTP {last_status}")),
                json!(reason),
                json!(at),
            ],
        )
        .await;
}

/// The ids of `events` that `keep` selects, newest first as the API orders.
fn expected(events: &[Event], keep: impl Fn(&Event) -> bool) -> Vec<String> {
    let mut kept: Vec<&Event> = events.iter().filter(|e| keep(e)).collect();
    kept.sort_by(|a, b| (b.at, &b.id).cmp(&(a.at, &a.id)));
    kept.into_iter().map(|e| e.id.clone()).collect()
}

/// Every page of `path` (a query string included) with `limit`, following
/// cursors; `between` runs after each page.
async fn pages<F, Fut>(worker: &Worker, path: &str, limit: usize, mut between: F) -> Vec<String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..200 {
        let mut url = format!("{path}&limit={limit}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let page = get(worker, &url).await;
        let events = page["events"].as_array().unwrap();
        assert!(events.len() <= limit, "{url}: {page}");
        ids.extend(events.iter().map(|e| e["id"].as_str().unwrap().to_owned()));
        between().await;
        match page["cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return ids,
        }
    }
    panic!("{path}: no end after 200 pages");
}

async fn all_pages(worker: &Worker, path: &str, limit: usize) -> Vec<String> {
    pages(worker, path, limit, || async {}).await
}

#[tokio::test]
async fn without_a_token_the_api_does_not_exist_and_with_one_it_is_enforced() {
    let closed = Worker::start(WorkerOptions::with_secret());
    for path in [
        "/api/events",
        "/api/openapi.json",
        "/api/dead-letters",
        "/api/stats",
        "/api/export",
    ] {
        let (status, body) = closed.api(reqwest::Method::GET, path).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
    }
    let open = api_worker(&[]);
    let (status, body) = answer(reqwest::Client::new().get(open.url("/api/events"))).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );
    for path in ["/api/events", "/api/stats?since=0&until=1", "/api/export"] {
        // The token but its last character: a prefix is not the token.
        let prefix = &ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1];
        let (status, _) = answer(
            reqwest::Client::new()
                .get(open.url(path))
                .bearer_auth(prefix),
        )
        .await;
        assert_eq!(status, 401, "{path}");
    }
    let response = reqwest::get(open.url("/api/events")).await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    get(&open, "/api/events").await;
}

/// Forty events over an hour and a half: three projects, four names, runs
/// 42 and 43, some quarantined, several sharing a millisecond; delivery
/// states to `ci` and `chat`.
async fn history(worker: &Worker) -> Vec<Event> {
    let names = [
        "run.completed",
        "run.started",
        "case.created",
        "defect.resolved",
    ];
    let mut events = Vec::new();
    for n in 0..40u64 {
        // Every third event shares its millisecond with the one before.
        let at = BASE + (n - n / 3) * 2 * MINUTE;
        let mut event = Event::new(
            n,
            names[(n % 4) as usize],
            ["WEB", "API", "APP"][(n % 3) as usize],
            at,
        );
        if n % 5 == 0 || n % 7 == 0 {
            event = event.run(if n % 2 == 0 { 42 } else { 43 });
        }
        if n % 6 == 1 {
            event = event.quarantined();
        }
        store(worker, &event).await;
        match n % 4 {
            0 => deliver(worker, &event, "ci", "dead", at + MINUTE).await,
            1 => deliver(worker, &event, "ci", "delivered", at + MINUTE).await,
            2 => deliver(worker, &event, "chat", "dead", at + MINUTE).await,
            _ => {}
        }
        if n % 8 == 0 {
            deliver(worker, &event, "chat", "retrying", at + MINUTE).await;
        }
        events.push(event);
    }
    events
}

#[tokio::test]
async fn queries_return_exactly_the_right_events_across_pages() {
    let worker = api_worker(&[]);
    let events = history(&worker).await;
    let (since, until) = (BASE + 20 * MINUTE, BASE + 50 * MINUTE);
    let n = |e: &Event| -> u64 { events.iter().position(|x| x.id == e.id).unwrap() as u64 };
    let cases: Vec<(String, Vec<String>)> = vec![
        ("/api/events?".into(), expected(&events, |_| true)),
        (
            "/api/events?run=42".into(),
            expected(&events, |e| e.run == Some(42)),
        ),
        (
            "/api/events?outcome=quarantined".into(),
            expected(&events, |e| e.outcome == "quarantined"),
        ),
        (
            "/api/events?status=accepted".into(),
            expected(&events, |e| e.outcome == "accepted"),
        ),
        (
            "/api/events?destination=ci&state=dead".into(),
            expected(&events, |e| n(e) % 4 == 0),
        ),
        (
            "/api/events?state=dead".into(),
            expected(&events, |e| n(e) % 4 == 0 || n(e) % 4 == 2),
        ),
        (
            "/api/events?destination=chat".into(),
            expected(&events, |e| n(e) % 4 == 2 || n(e) % 8 == 0),
        ),
        (
            format!("/api/events?since={}&until={}", since / 1000, until / 1000),
            expected(&events, |e| e.at >= since && e.at < until),
        ),
        (
            "/api/events?project=API&event=run.*".into(),
            expected(&events, |e| {
                e.project == "API" && e.name.starts_with("run.")
            }),
        ),
        (
            "/api/events?event=*.completed&run=42&state=dead".into(),
            expected(&events, |e| {
                e.name == "run.completed" && e.run == Some(42) && n(e) % 4 == 0
            }),
        ),
    ];
    for (path, want) in &cases {
        assert!(
            !want.is_empty() || path.contains("completed"),
            "{path} selects nothing"
        );
        assert_eq!(&all_pages(&worker, path, 2).await, want, "{path}");
        assert_eq!(&all_pages(&worker, path, 1000).await, want, "{path}");
    }
    // Sanity: the cases are not trivially the same set.
    let distinct: BTreeSet<&Vec<String>> = cases.iter().map(|(_, want)| want).collect();
    assert!(distinct.len() >= 9);

    // Items carry the row's columns but the body.
    let first = &get(&worker, "/api/events?run=42&limit=1").await["events"][0];
    let stored = events.iter().find(|e| e.id == first["id"]).unwrap();
    assert_eq!(first["run_id"], 42);
    assert_eq!(first["project_code"], stored.project);
    assert_eq!(first["received_at"], stored.at);
    assert_eq!(first["outcome"], first["status"]);
    assert_eq!(first["size"], stored.body.len());
    assert!(first.get("body").is_none());
}

#[tokio::test]
async fn a_cursor_survives_events_arriving_between_pages() {
    let worker = api_worker(&[]);
    let events = history(&worker).await;
    let want = expected(&events, |e| e.run == Some(42));
    let arrivals = std::cell::Cell::new(0u64);
    let seen = pages(&worker, "/api/events?run=42", 2, || {
        // A newer event of run 42 after every page, one at the newest
        // millisecond so far (ties are broken by id).
        let k = arrivals.get();
        arrivals.set(k + 1);
        let event = Event::new(1000 + k, "run.completed", "WEB", BASE + 10 * HOUR + k).run(42);
        let worker = &worker;
        async move { store(worker, &event).await }
    })
    .await;
    assert!(arrivals.get() >= 3, "several pages");
    assert_eq!(seen, want, "no repeat, no gap");
    let now = all_pages(&worker, "/api/events?run=42", 1000).await;
    assert_eq!(now.len(), want.len() + arrivals.get() as usize);
}

#[tokio::test]
async fn bad_parameters_are_400_naming_the_parameter() {
    let worker = api_worker(&[]);
    for (path, param) in [
        ("/api/events?limit=0", "limit"),
        ("/api/events?status=lost", "status"),
        ("/api/events?outcome=lost", "outcome"),
        ("/api/events?since=soon", "since"),
        ("/api/events?since=20&until=10", "since"),
        ("/api/events?cursor=nope", "cursor"),
        ("/api/events?colour=red", "colour"),
        ("/api/events?run=x", "run"),
        ("/api/events?case=-1", "case"),
        ("/api/events?defect=9007199254740992", "defect"),
        ("/api/events?plan=1.5", "plan"),
        ("/api/events?milestone=", "milestone"),
        ("/api/events?destination=a%2Fb", "destination"),
        ("/api/events?state=lost", "state"),
        ("/api/dead-letters?limit=x", "limit"),
        ("/api/dead-letters?state=dead", "state"),
        ("/api/dead-letters?destination=a%20b", "destination"),
        ("/api/stats", "since"),
        ("/api/stats?since=10", "until"),
        ("/api/stats?since=0&until=9999999", "until"),
        ("/api/stats?since=0&until=10&run=1", "run"),
        ("/api/export?limit=1001", "limit"),
        ("/api/export?state=x", "state"),
    ] {
        let (status, body) = worker.api(reqwest::Method::GET, path).await;
        assert_eq!(
            (status, body["error"].as_str(), body["field"].as_str()),
            (400, Some("invalid_parameter"), Some(param)),
            "{path}: {body}"
        );
    }
    for (body, param) in [
        ("", "body"),
        ("[]", "body"),
        (r#"{"run": "x"}"#, "run"),
        (r#"{"dry_run": 1}"#, "dry_run"),
        (r#"{"destinations": "ci"}"#, "destinations"),
        (r#"{"limit": 0}"#, "limit"),
        (r#"{"colour": "red"}"#, "colour"),
    ] {
        let response = worker
            .api_request(reqwest::Method::POST, "/api/replay")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap();
        assert_eq!(
            (status, answer["error"].as_str(), answer["field"].as_str()),
            (400, Some("invalid_parameter"), Some(param)),
            "{body}: {answer}"
        );
    }
}

#[tokio::test]
async fn an_event_shows_its_row_deliveries_and_exact_body_and_delete_removes_it() {
    let worker = api_worker(&[]);
    // Odd spacing survives byte for byte.
    let body = br#"{ "event_name":"run.deleted",  "timestamp":1764000000,"payload":{"id":77},"team_member_id":3,"project_code":"SHOW" }"#.to_vec();
    let event = Event {
        id: qase_webhooks::EventId::of(&body).to_string(),
        body: body.clone(),
        ..Event::new(0, "run.deleted", "SHOW", BASE).run(77)
    };
    store(&worker, &event).await;
    deliver(&worker, &event, "ci", "delivered", BASE + 1).await;
    deliver(&worker, &event, "chat", "dead", BASE + 2).await;
    let other = Event::new(1, "run.deleted", "SHOW", BASE + 5);
    store(&worker, &other).await;
    deliver(&worker, &other, "ci", "delivered", BASE + 6).await;

    let id = &event.id;
    let detail = get(&worker, &format!("/api/events/{id}")).await;
    assert_eq!(detail["id"], *id);
    assert_eq!(detail["event_name"], "run.deleted");
    assert_eq!(detail["entity"], "run");
    assert_eq!(detail["project_code"], "SHOW");
    assert_eq!(detail["status"], "accepted");
    assert_eq!(detail["outcome"], "accepted");
    assert_eq!(detail["run_id"], 77);
    assert_eq!(detail["body"]["payload"]["id"], 77);
    assert_eq!(detail["dead_letters"], json!(["chat"]));
    let deliveries = detail["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 2);
    assert_eq!(deliveries[0]["destination"], "chat");
    assert_eq!(deliveries[0]["status"], "dead");
    assert_eq!(deliveries[0]["reason"], "attempts exhausted");
    assert_eq!(deliveries[1]["destination"], "ci");
    assert_eq!(deliveries[1]["status"], "delivered");
    assert_eq!(deliveries[1]["last_status"], 200);
    let raw = event_body(&worker, id).await;
    assert_eq!(raw.to_vec(), body);
    for path in [
        "/api/events/evt_00000000000000000000000000000000",
        "/api/events/evt_00000000000000000000000000000000/body",
    ] {
        let (status, answer) = worker.api(reqwest::Method::GET, path).await;
        assert_eq!(
            (status, answer["error"].as_str()),
            (404, Some("event_not_found")),
            "{path}"
        );
    }

    let (status, _) = worker
        .api(reqwest::Method::DELETE, &format!("/api/events/{id}"))
        .await;
    assert_eq!(status, 204);
    let (status, _) = worker
        .api(reqwest::Method::GET, &format!("/api/events/{id}"))
        .await;
    assert_eq!(status, 404);
    let (status, answer) = worker
        .api(reqwest::Method::DELETE, &format!("/api/events/{id}"))
        .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (404, Some("event_not_found"))
    );
    let left = worker
        .d1(
            "SELECT (SELECT COUNT(*) FROM events WHERE id = ?1) AS events, \
             (SELECT COUNT(*) FROM deliveries WHERE event_id = ?1) AS deliveries, \
             (SELECT COUNT(*) FROM deliveries) AS all_deliveries",
            &[json!(id)],
        )
        .await;
    assert_eq!(
        left[0],
        json!({"events": 0, "deliveries": 0, "all_deliveries": 1})
    );
    assert_eq!(
        all_pages(&worker, "/api/events?project=SHOW", 10).await,
        vec![other.id.clone()]
    );
}

#[tokio::test]
async fn a_body_too_large_for_a_row_is_read_from_kv_and_deleted_with_its_event() {
    let worker = api_worker(&[("QASE_MAX_BODY_BYTES", "4000000")]);
    let pad = "x".repeat(2_000_000);
    let mut ids = Vec::new();
    // An accepted event (under `event/`) and a quarantined one (unknown
    // event: under `quarantine/`).
    for name in ["run.deleted", "note.added"] {
        let body = envelope(name, "BIG", json!({"id": 1, "pad": pad}));
        let (status, answer) = post(&worker, body.clone(), &[("X-Qase-Secret", SECRET)]).await;
        assert_eq!(status, 202, "{answer}");
        let id = answer["id"].as_str().unwrap().to_owned();
        let row = worker
            .d1(
                "SELECT body_in_kv, body IS NULL AS no_body, size FROM events WHERE id = ?1",
                &[json!(id)],
            )
            .await;
        assert_eq!(
            row[0],
            json!({"body_in_kv": 1, "no_body": 1, "size": body.len()}),
            "{name}"
        );
        let raw = event_body(&worker, &id).await;
        assert!(raw.to_vec() == body, "{name}: not the exact bytes");
        let detail = get(&worker, &format!("/api/events/{id}")).await;
        assert_eq!(
            detail["body"]["payload"]["pad"].as_str().map(str::len),
            Some(2_000_000)
        );
        ids.push((id, body));
    }
    let export = worker
        .api_request(reqwest::Method::GET, "/api/export?project=BIG")
        .send()
        .await
        .unwrap();
    let first_part_has_more = export.headers().get("x-next-cursor").is_some();
    let lines: Vec<Value> = export
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // 8 MiB of bodies a call: both fit.
    assert_eq!(lines.len(), 2);
    assert!(!first_part_has_more);
    assert!(lines.iter().all(|l| l["body"]["payload"]["pad"] == pad));

    for (id, _) in &ids {
        let (status, _) = worker
            .api(reqwest::Method::DELETE, &format!("/api/events/{id}"))
            .await;
        assert_eq!(status, 204);
        for prefix in ["event/", "quarantine/"] {
            assert!(
                worker.kv_get(&format!("{prefix}{id}")).await.is_none(),
                "{prefix}{id} left after DELETE"
            );
        }
    }
}

#[tokio::test]
async fn stats_count_per_event_outcome_hour_and_entity() {
    let worker = api_worker(&[]);
    let events = [
        Event::new(0, "run.completed", "WEB", BASE + 30 * MINUTE),
        Event::new(1, "run.completed", "WEB", BASE + 40 * MINUTE),
        Event::new(2, "case.created", "WEB", BASE + 59 * MINUTE).quarantined(),
        Event::new(3, "run.started", "WEB", BASE + 2 * HOUR + MINUTE),
        Event::new(4, "case.created", "API", BASE + 2 * HOUR + 2 * MINUTE),
        // Outside the range on either side.
        Event::new(5, "run.completed", "WEB", BASE - 1),
        Event::new(6, "run.completed", "WEB", BASE + 4 * HOUR),
    ];
    for event in &events {
        store(&worker, event).await;
    }
    worker
        .d1(
            "UPDATE events SET duplicates = 3 WHERE id = ?1",
            &[json!(events[0].id)],
        )
        .await;
    let range = format!("since={}&until={}", BASE / 1000, (BASE + 4 * HOUR) / 1000);
    let stats = get(&worker, &format!("/api/stats?{range}")).await;
    assert_eq!(
        stats["totals"],
        json!({"events": 5, "accepted": 4, "quarantined": 1, "duplicates": 3})
    );
    let hours: Vec<u64> = (0..4).map(|h| (BASE + h * HOUR) / 1000).collect();
    assert_eq!(stats["hours"], json!(hours));
    assert_eq!(stats["by_hour"], json!([3, 0, 2, 0]));
    assert_eq!(
        stats["by_entity_hour"],
        json!({"run": [2, 0, 1, 0], "case": [1, 0, 1, 0]})
    );
    let by_event = stats["by_event"].as_array().unwrap();
    assert_eq!(by_event.len(), 3);
    let case_created = by_event
        .iter()
        .find(|e| e["event_name"] == "case.created")
        .unwrap();
    assert_eq!(
        (
            &case_created["events"],
            &case_created["accepted"],
            &case_created["quarantined"]
        ),
        (&json!(2), &json!(1), &json!(1))
    );
    let run_completed = by_event
        .iter()
        .find(|e| e["event_name"] == "run.completed")
        .unwrap();
    assert_eq!(run_completed["events"], 2);
    assert_eq!(run_completed["duplicates"], 3);

    let web = get(&worker, &format!("/api/stats?{range}&project=WEB")).await;
    assert_eq!(web["totals"]["events"], 4);
    assert_eq!(web["by_hour"], json!([3, 0, 1, 0]));
    assert_eq!(web["project"], "WEB");
}

#[tokio::test]
async fn bulk_replay_counts_then_replays_every_selected_event_once() {
    let sink = Sink::start();
    let destinations = json!([
        {"name": "hook", "url": sink.url("/hook"), "events": ["run.*"]},
        {"name": "cases", "url": sink.url("/cases"), "events": ["case.*"]}
    ])
    .to_string();
    let worker = api_worker(&[("QASE_DESTINATIONS", &destinations)]);
    let mut events = Vec::new();
    for n in 0..9u64 {
        let name = if n < 7 {
            "run.completed"
        } else {
            "case.created"
        };
        let event = Event::new(n, name, "REPLAY", BASE + n * MINUTE).run(if n < 5 { 7 } else { 8 });
        store(&worker, &event).await;
        events.push(event);
    }
    let mut unmatched = Event::new(99, "defect.created", "REPLAY", BASE).run(7);
    unmatched.outcome = "accepted";
    store(&worker, &unmatched).await;

    let (status, dry) = post_json(&worker, "/api/replay", json!({"run": 7, "dry_run": true})).await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(
        dry,
        json!({"dry_run": true, "events": 5, "messages": 5, "skipped": 1})
    );
    let (_, dry) = post_json(
        &worker,
        "/api/replay",
        json!({"project": "REPLAY", "dry_run": true}),
    )
    .await;
    assert_eq!(
        (dry["events"].as_u64(), dry["skipped"].as_u64()),
        (Some(9), Some(1))
    );
    let (status, answer) = post_json(
        &worker,
        "/api/replay",
        json!({"run": 7, "destinations": ["nope"]}),
    )
    .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("unknown_destination"))
    );
    // The filter's destination is where a bulk replay goes by default.
    deliver(&worker, &events[7], "hook", "dead", BASE).await;
    let (_, dry) = post_json(
        &worker,
        "/api/replay",
        json!({"destination": "hook", "state": "dead", "dry_run": true}),
    )
    .await;
    assert_eq!(
        dry,
        json!({"dry_run": true, "events": 1, "messages": 1, "skipped": 0})
    );
    assert!(sink.received("/hook").is_empty(), "nothing sent so far");

    // Two events a call: the cursor carries on until every one is sent.
    let mut request = json!({"run": 7, "limit": 2});
    let (mut events_sent, mut calls) = (0, 0);
    loop {
        let (status, answer) = post_json(&worker, "/api/replay", request.clone()).await;
        assert_eq!(status, 202, "{answer}");
        calls += 1;
        events_sent += answer["events"].as_u64().unwrap();
        match answer["cursor"].as_str() {
            Some(cursor) => request["cursor"] = json!(cursor),
            None => break,
        }
        assert!(calls < 10);
    }
    assert_eq!(events_sent, 5);
    assert_eq!(calls, 3);
    let received = sink
        .wait_for(&worker, "/hook", 5, Duration::from_secs(30))
        .await;
    let ids: BTreeSet<String> = received
        .iter()
        .map(|r| r.headers["webhook-id"].clone())
        .collect();
    let want: BTreeSet<String> = events[..5].iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids, want, "{}", worker.logs());
    let received = sink.assert_quiet_for("/hook", Duration::from_secs(1)).await;
    assert_eq!(received.len(), 5, "each once");
    assert!(sink.received("/cases").is_empty());

    // A single event, to the destination named.
    let id = &events[7].id;
    let (status, answer) = post_json(&worker, &format!("/api/events/{id}/replay"), json!({})).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["destinations"], json!(["cases"]));
    let received = sink
        .wait_for(&worker, "/cases", 1, Duration::from_secs(20))
        .await;
    assert_eq!(received[0].headers["webhook-id"], *id);
    assert_eq!(received[0].body, events[7].body);
    let (status, answer) = post_json(
        &worker,
        &format!("/api/events/{}/replay", unmatched.id),
        json!({}),
    )
    .await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (409, Some("no_destinations"))
    );
}

#[tokio::test]
async fn dead_letters_are_listed_by_destination_and_replayed_once() {
    let sink = Sink::start();
    let destinations = json!([
        {"name": "hook", "url": sink.url("/hook")},
        {"name": "other", "url": sink.url("/other")}
    ])
    .to_string();
    let worker = api_worker(&[("QASE_DESTINATIONS", &destinations)]);
    let mut events = Vec::new();
    for n in 0..5u64 {
        let event = Event::new(
            n,
            "run.deleted",
            if n < 4 { "DL" } else { "ELSE" },
            BASE + n,
        );
        store(&worker, &event).await;
        deliver(&worker, &event, "hook", "dead", BASE + HOUR + n * MINUTE).await;
        deliver(
            &worker,
            &event,
            "other",
            if n == 0 { "dead" } else { "delivered" },
            BASE + HOUR + n * MINUTE,
        )
        .await;
        events.push(event);
    }
    let mut listed = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = get(
            &worker,
            &format!("/api/dead-letters?destination=hook&limit=2{cursor}"),
        )
        .await;
        let letters = page["dead_letters"].as_array().unwrap();
        assert!(letters.len() <= 2);
        for letter in letters {
            assert_eq!(letter["destination"], "hook");
            assert_eq!(letter["attempts"], 8);
            assert_eq!(letter["last_status"], 500);
            assert_eq!(letter["reason"], "attempts exhausted");
            listed.push(letter["id"].as_str().unwrap().to_owned());
        }
        match page["cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    let newest_first: Vec<String> = events.iter().rev().map(|e| e.id.clone()).collect();
    assert_eq!(listed, newest_first);
    let all = get(&worker, "/api/dead-letters").await;
    assert_eq!(all["dead_letters"].as_array().unwrap().len(), 6);
    let project = get(&worker, "/api/dead-letters?project=ELSE").await;
    assert_eq!(project["dead_letters"].as_array().unwrap().len(), 1);
    let since = get(
        &worker,
        &format!(
            "/api/dead-letters?destination=hook&since={}",
            (BASE + HOUR + 2 * MINUTE) / 1000
        ),
    )
    .await;
    assert_eq!(since["dead_letters"].as_array().unwrap().len(), 3);

    // Replay one destination's dead letter of the first event.
    let id = &events[0].id;
    let (status, answer) = post_json(
        &worker,
        &format!("/api/dead-letters/{id}/replay?destination=hook"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["destinations"], json!(["hook"]));
    let received = sink
        .wait_for(&worker, "/hook", 1, Duration::from_secs(20))
        .await;
    assert_eq!(received[0].headers["webhook-id"], *id);
    assert_eq!(received[0].body, events[0].body);
    let remaining = get(&worker, "/api/dead-letters?destination=hook").await;
    assert_eq!(remaining["dead_letters"].as_array().unwrap().len(), 4);
    let (status, _) = post_json(
        &worker,
        &format!("/api/dead-letters/{id}/replay?destination=hook"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 404, "nothing left to replay for hook");
    // The rest of its dead letters (`other`), without naming it.
    let (status, answer) = post_json(
        &worker,
        &format!("/api/dead-letters/{id}/replay"),
        Value::Null,
    )
    .await;
    assert_eq!(
        (status, answer["destinations"].clone()),
        (202, json!(["other"]))
    );
    sink.wait_for(&worker, "/other", 1, Duration::from_secs(20))
        .await;
    let (hook, other) = tokio::join!(
        sink.assert_quiet_for("/hook", Duration::from_secs(1)),
        sink.assert_quiet_for("/other", Duration::from_secs(1)),
    );
    assert_eq!(hook.len(), 1, "replayed once");
    assert_eq!(other.len(), 1, "replayed once");
    let (status, _) = post_json(
        &worker,
        &format!("/api/dead-letters/{id}/replay"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn export_is_ndjson_with_each_body_continued_by_a_cursor_header() {
    let worker = api_worker(&[]);
    let mut events = Vec::new();
    for n in 0..5u64 {
        let event = Event::new(n, "case.created", "EXP", BASE + n * MINUTE).run(5);
        store(&worker, &event).await;
        events.push(event);
    }
    store(&worker, &Event::new(9, "case.created", "OTHER", BASE)).await;
    let mut lines = Vec::new();
    let mut cursor: Option<String> = None;
    let mut calls = 0;
    loop {
        let mut path = "/api/export?project=EXP&limit=2".to_owned();
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let response = worker
            .api_request(reqwest::Method::GET, &path)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/x-ndjson");
        let next = response
            .headers()
            .get("x-next-cursor")
            .map(|v| v.to_str().unwrap().to_owned());
        let text = response.text().await.unwrap();
        assert!(text.is_empty() || text.ends_with('\n'));
        let part: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert!(part.len() <= 2);
        lines.extend(part);
        calls += 1;
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(calls, 3);
    let want = expected(&events, |_| true);
    let got: Vec<String> = lines
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, want);
    for line in &lines {
        let event = events.iter().find(|e| e.id == line["id"]).unwrap();
        let body: Value = serde_json::from_slice(&event.body).unwrap();
        assert_eq!(line["body"], body);
        assert_eq!(line["run_id"], 5);
        assert_eq!(line["event_name"], "case.created");
    }
}

#[tokio::test]
async fn ingested_events_are_found_by_their_run() {
    let worker = api_worker(&[]);
    let mut ids = Vec::new();
    for n in 0..3u64 {
        let body = envelope(
            "run.completed",
            "LIVE",
            json!({"id": 314, "cases": n + 1, "passed": n + 1, "failed": 0, "blocked": 0, "duration": 1}),
        );
        let (status, answer) = post(&worker, body, &[("X-Qase-Secret", SECRET)]).await;
        assert_eq!(status, 202, "{answer}");
        ids.push(answer["id"].as_str().unwrap().to_owned());
    }
    let (status, answer) = post(
        &worker,
        envelope("case.created", "LIVE", json!({"id": 1})),
        &[("X-Qase-Secret", SECRET)],
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    ids.reverse();
    assert_eq!(all_pages(&worker, "/api/events?run=314", 2).await, ids);
    let detail = get(&worker, &format!("/api/events/{}", ids[0])).await;
    assert_eq!(detail["body"]["payload"]["id"], 314);
    assert_eq!(detail["run_id"], 314);
}

#[tokio::test]
async fn a_history_kept_in_kv_is_copied_into_d1_once() {
    // Only the kv sink: events are kept as before D1, `event/{id}` and
    // `quarantine/{id}` with their metadata, and D1 holds nothing.
    let kv_only = WorkerOptions::with_api().var("QASE_SINKS", "kv");
    let worker = Worker::start(kv_only);
    let mut sent = Vec::new();
    for (n, name) in ["run.completed", "case.created", "note.added"]
        .iter()
        .enumerate()
    {
        let body = envelope(
            name,
            "OLD",
            json!({"id": 600 + n, "cases": 1, "passed": 1, "failed": 0, "blocked": 0, "duration": 1}),
        );
        let (status, answer) = post(&worker, body.clone(), &[("X-Qase-Secret", SECRET)]).await;
        assert_eq!(status, 202, "{answer}");
        sent.push((answer["id"].as_str().unwrap().to_owned(), body));
    }
    let rows = worker.d1("SELECT COUNT(*) AS n FROM events", &[]).await;
    assert_eq!(rows[0]["n"], 0);
    assert_eq!(
        worker.kv_list("event/").await.len() + worker.kv_list("quarantine/").await.len(),
        3
    );

    // The upgrade: D1 in use, the same storage.
    let worker = worker.restart(WorkerOptions::with_api());
    let migrate = |cursor: Option<String>| {
        let body = cursor.map_or(json!({}), |c| json!({ "cursor": c }));
        let worker = &worker;
        async move { post_json(worker, "/api/migrate-kv", body).await }
    };
    let mut totals = (0, 0);
    let mut cursor = None;
    for _ in 0..10 {
        let (status, answer) = migrate(cursor.take()).await;
        assert_eq!(status, 200, "{answer}");
        totals.0 += answer["keys"].as_u64().unwrap();
        totals.1 += answer["events"].as_u64().unwrap();
        match answer["cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(totals, (3, 3), "every old event copied");
    let listed = all_pages(&worker, "/api/events?project=OLD", 2).await;
    assert_eq!(listed.len(), 3);
    let by_run = all_pages(&worker, "/api/events?run=600", 2).await;
    assert_eq!(
        by_run,
        vec![sent[0].0.clone()],
        "the payload's ids are read"
    );
    let quarantined = all_pages(&worker, "/api/events?project=OLD&outcome=quarantined", 2).await;
    assert_eq!(quarantined, vec![sent[2].0.clone()]);
    for (id, body) in &sent {
        let raw = event_body(&worker, id).await;
        assert_eq!(raw.to_vec(), *body);
    }
    let forward = worker.d1("SELECT DISTINCT forward FROM events", &[]).await;
    assert_eq!(
        forward,
        vec![json!({"forward": "none"})],
        "never forwarded again"
    );

    // Again: nothing changes.
    let (_, answer) = migrate(None).await;
    assert_eq!(answer["events"], 0);
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
            let (status, body) = worker.api(method.clone(), &path).await;
            assert!(
                status != 405 && body["error"] != "not_found" && status < 500,
                "{method} {path}: {status} {body}"
            );
        }
    }
}

#[tokio::test]
async fn a_failed_delivery_is_a_dead_letter_until_replayed_then_delivered() {
    let sink = Sink::start();
    sink.always("/hook", qase_edge_e2e::sink::Reply::status(500));
    let destinations = json!([{"name": "hook", "url": sink.url("/hook")}]).to_string();
    let worker = api_worker(&[
        ("QASE_DESTINATIONS", &destinations),
        ("QASE_RETRY_MAX_ATTEMPTS", "1"),
    ]);
    let (status, answer) = post(
        &worker,
        envelope("run.deleted", "FLOW", json!({"id": 5})),
        &[("X-Qase-Secret", SECRET)],
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    let id = answer["id"].as_str().unwrap().to_owned();
    let letters = worker
        .wait_until(
            "a dead letter for hook",
            Duration::from_secs(20),
            async || {
                let letters = get(&worker, "/api/dead-letters?destination=hook").await;
                let listed = !letters["dead_letters"].as_array().unwrap().is_empty();
                listed.then_some(letters)
            },
        )
        .await;
    assert_eq!(letters["dead_letters"][0]["id"], id, "{letters}");
    assert_eq!(letters["dead_letters"][0]["last_status"], 500);
    assert_eq!(
        all_pages(&worker, "/api/events?destination=hook&state=dead", 2).await,
        vec![id.clone()]
    );

    sink.always("/hook", qase_edge_e2e::sink::Reply::status(200));
    let (status, answer) = post_json(
        &worker,
        &format!("/api/dead-letters/{id}/replay"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    let received = sink
        .wait_for(&worker, "/hook", 2, Duration::from_secs(20))
        .await;
    assert_eq!(received.last().unwrap().headers["webhook-id"], id);
    let delivered = worker
        .wait_until(
            "a delivered event for hook",
            Duration::from_secs(20),
            async || {
                let delivered =
                    all_pages(&worker, "/api/events?destination=hook&state=delivered", 2).await;
                (!delivered.is_empty()).then_some(delivered)
            },
        )
        .await;
    assert_eq!(delivered, vec![id.clone()], "{}", worker.logs());
    assert_eq!(
        get(&worker, "/api/dead-letters").await["dead_letters"],
        json!([])
    );
    let detail = get(&worker, &format!("/api/events/{id}")).await;
    assert_eq!(detail["deliveries"][0]["status"], "delivered");
    assert_eq!(detail["dead_letters"], json!([]));
}
