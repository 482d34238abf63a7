//! Cloudflare Access in front of `/api` and `/console` (#31), with a local
//! team (`qase_edge_e2e::access`) whose keys the Worker fetches and whose
//! assertions the tests sign:
//! 1. With Access on, a request without `Cf-Access-Jwt-Assertion` is 401
//!    on the API and the console; with a valid one (a user's or a service
//!    token's) both serve, the API still after its bearer token.
//! 2. Expired, wrong `aud`, wrong `iss`, unknown `kid`, `alg: none`, HS256
//!    keyed with the public key, a forged signature and garbage are each
//!    401 `access_denied`.
//! 3. A flood of unknown `kid`s fetches the team's certs at most once more.
//! 4. Ingest and `/health` are never subject to Access.
//! 5. Half the settings lock `/api` and `/console` (503), ingest still works.
//! 6. Roles: an Access viewer reads and gets `403 forbidden` (naming
//!    `operator`) on replay; an Access operator's replay is delivered; a
//!    service token gets its role by common name; `GET /api/me` says who;
//!    both replays are in the audit log (`GET /api/audit`, operators only).
//! 7. Named tokens (`QASE_API_TOKENS`, hashes only): a viewer token reads
//!    and may not replay, an operator token replays, a wrong one is 401, a
//!    project-scoped one is refused where a route reaches across projects;
//!    `QASE_ADMIN_TOKEN` is still an operator of every project.
//! 8. Project scope, over the whole route table: a `projects: ["WEB"]`
//!    token never sees MOB's events, bodies, runs, stats, exports or dead
//!    letters (each of which the admin token sees), and may not reach across
//!    projects.
//! 9. `qase-hook` behind Access: with a service token
//!    (`--access-client-id`/`--access-client-secret`, or their environment
//!    variables) it passes a local Access edge, which hands the Worker the
//!    token's assertion, and reads and replays with the role its common name
//!    has; without it, or with a wrong secret, it says that Access refused.

use std::time::Duration;

use std::process::{Command, Output};

use qase_edge_e2e::access::{self, Edge, Signer, Team, AUD, KID};
use qase_edge_e2e::sink::Sink;
use qase_edge_e2e::{
    answer, envelope, post, qase_hook_binary, Worker, WorkerOptions, ADMIN_TOKEN, SECRET,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const ASSERTION: &str = "Cf-Access-Jwt-Assertion";

fn access_worker(team: &Team) -> Worker {
    Worker::start(team.configure(WorkerOptions::with_api()))
}

/// `GET path` with `assertion` (if any) and the admin token.
async fn get(worker: &Worker, path: &str, assertion: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .get(worker.url(path))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(assertion) = assertion {
        request = request.header(ASSERTION, assertion);
    }
    answer(request).await
}

async fn status_of(worker: &Worker, path: &str, assertion: Option<&str>) -> u16 {
    get(worker, path, assertion).await.0
}

#[tokio::test]
async fn access_guards_the_api_and_the_console() {
    let team = Team::start();
    let worker = access_worker(&team);
    for path in ["/api/events", "/api/openapi.json", "/console/", "/console"] {
        let (status, body) = get(&worker, path, None).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert_eq!(body["error"], "access_denied", "{path}");
        assert!(
            body["message"].as_str().unwrap().contains(ASSERTION),
            "{body}"
        );
    }
    let user = team.user_assertion("ana@example.com");
    assert_eq!(status_of(&worker, "/api/events", Some(&user)).await, 200);
    assert_eq!(status_of(&worker, "/console/", Some(&user)).await, 200);
    let service = access::sign(
        &access::rs256(KID),
        &team.service_claims("ci.access"),
        Signer::Team,
    );
    assert_eq!(status_of(&worker, "/api/events", Some(&service)).await, 200);
    // Without a bearer token the identity needs a rule of QASE_ACCESS_ROLES.
    let no_bearer = reqwest::Client::new()
        .get(worker.url("/api/events"))
        .header(ASSERTION, &user);
    let (status, body) = answer(no_bearer).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
}

#[tokio::test]
async fn every_bad_assertion_is_refused() {
    let team = Team::start();
    let worker = access_worker(&team);
    let good = team.user_claims("ana@example.com");
    let with = |key: &str, value: Value| {
        let mut claims = good.clone();
        claims[key] = value;
        claims
    };
    let team_signed = |claims: &Value| access::sign(&access::rs256(KID), claims, Signer::Team);
    let now = access::now();
    let cases = [
        ("expired", team_signed(&with("exp", json!(now - 3600)))),
        (
            "not yet valid",
            team_signed(&with("nbf", json!(now + 3600))),
        ),
        (
            "wrong aud",
            team_signed(&with("aud", json!(["another-app"]))),
        ),
        (
            "wrong iss",
            team_signed(&with("iss", json!("https://evil.cloudflareaccess.com"))),
        ),
        (
            "no identity",
            team_signed(&json!({"aud": AUD, "iss": team.origin(), "exp": now + 600})),
        ),
        (
            "unknown kid",
            access::sign(&access::rs256("rotated-away"), &good, Signer::Team),
        ),
        (
            "forged signature",
            access::sign(&access::rs256(KID), &good, Signer::Other),
        ),
        ("alg none", access::unsigned(&good)),
        (
            "hs256 with the public key",
            access::hs256_with_public_key(&good),
        ),
        ("garbage", "not.a.jwt".to_owned()),
    ];
    for (case, assertion) in &cases {
        for path in ["/api/events", "/console/"] {
            let (status, body) = get(&worker, path, Some(assertion)).await;
            assert_eq!(status, 401, "{case} on {path}: {body}");
            assert_eq!(body["error"], "access_denied", "{case}");
        }
    }
    // The good one still works: nothing above poisoned the key cache.
    let good = team_signed(&good);
    assert_eq!(status_of(&worker, "/api/events", Some(&good)).await, 200);
}

#[tokio::test]
async fn unknown_kids_cannot_hammer_the_certs_endpoint() {
    let team = Team::start();
    let worker = access_worker(&team);
    let user = team.user_assertion("ana@example.com");
    assert_eq!(status_of(&worker, "/api/events", Some(&user)).await, 200);
    assert_eq!(team.certs_fetches(), 1);
    let claims = team.user_claims("ana@example.com");
    for n in 0..20 {
        let made_up = access::sign(&access::rs256(&format!("kid-{n}")), &claims, Signer::Team);
        assert_eq!(status_of(&worker, "/api/events", Some(&made_up)).await, 401);
    }
    // The first fetch's floor holds for every made-up kid.
    assert_eq!(team.certs_fetches(), 1);
}

#[tokio::test]
async fn ingest_and_health_are_never_behind_access() {
    let team = Team::start();
    let worker = access_worker(&team);
    let body = envelope("run.started", "DEMO", json!({"id": 7}));
    let (status, answer) = post(&worker, body, &[("X-Qase-Secret", SECRET)]).await;
    assert_eq!(status, 202, "{answer}");
    let health = reqwest::get(worker.url("/health")).await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(team.certs_fetches(), 0);
}

#[tokio::test]
async fn half_the_settings_lock_the_api_and_the_console() {
    let team = Team::start();
    let options = WorkerOptions::with_api().var("QASE_ACCESS_TEAM_DOMAIN", &team.origin());
    let worker = Worker::start(options);
    let user = team.user_assertion("ana@example.com");
    for path in ["/api/events", "/console/"] {
        let (status, body) = get(&worker, path, Some(&user)).await;
        assert_eq!(status, 503, "{path}: {body}");
        assert_eq!(body["error"], "misconfigured");
    }
    let body = envelope("run.started", "DEMO", json!({"id": 8}));
    let (status, answer) = post(&worker, body, &[("X-Qase-Secret", SECRET)]).await;
    assert_eq!(status, 202, "{answer}");
}

/// How a test call authenticates.
enum As<'a> {
    /// Through Access only (the assertion, no bearer token).
    Access(&'a str),
    /// With a bearer token only.
    Bearer(&'a str),
}

async fn call(worker: &Worker, method: reqwest::Method, path: &str, who: &As<'_>) -> (u16, Value) {
    let request = reqwest::Client::new().request(method, worker.url(path));
    let request = match who {
        As::Access(assertion) => request.header(ASSERTION, *assertion),
        As::Bearer(token) => request.bearer_auth(token),
    };
    answer(request.body("{}")).await
}

fn sha256_hex(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A Worker forwarding to `sink`'s `/hook`, with `extra` settings, and one
/// delivered event; its id.
async fn worker_with_event(sink: &Sink, options: WorkerOptions) -> (Worker, String) {
    let destinations = json!([{"name": "hook", "url": sink.url("/hook")}]).to_string();
    let worker = Worker::start(options.var("QASE_DESTINATIONS", &destinations));
    let id = worker
        .accept(envelope("run.deleted", "WEB", json!({"id": 31})))
        .await;
    sink.wait_for(&worker, "/hook", 1, Duration::from_secs(30))
        .await;
    (worker, id)
}

#[tokio::test]
async fn access_viewers_read_and_operators_replay() {
    let team = Team::start();
    let sink = Sink::start();
    let roles = json!([
        {"email": "olga@example.com", "role": "operator"},
        {"service": "ci.access", "role": "operator"},
        {"email": "*@example.com", "role": "viewer"}
    ]);
    let options = team
        .configure(WorkerOptions::with_secret())
        .var("QASE_ACCESS_ROLES", &roles.to_string());
    let (worker, id) = worker_with_event(&sink, options).await;
    let replay = format!("/api/events/{id}/replay");
    let get = reqwest::Method::GET;
    let post = reqwest::Method::POST;

    let viewer = team.user_assertion("vic@example.com");
    let viewer = As::Access(&viewer);
    let (status, me) = call(&worker, get.clone(), "/api/me", &viewer).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        me,
        json!({"name": "vic@example.com", "credential": "access_user", "role": "viewer", "projects": null})
    );
    let (status, page) = call(&worker, get.clone(), "/api/events", &viewer).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["events"][0]["id"], id.as_str());
    let (status, refused) = call(&worker, post.clone(), &replay, &viewer).await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(
        (refused["error"].as_str(), refused["role"].as_str()),
        (Some("forbidden"), Some("operator"))
    );
    assert!(
        refused["message"].as_str().unwrap().contains("operator"),
        "{refused}"
    );

    let operator = team.user_assertion("olga@example.com");
    let (status, replayed) = call(&worker, post.clone(), &replay, &As::Access(&operator)).await;
    assert_eq!(status, 202, "{replayed}");
    sink.wait_for(&worker, "/hook", 2, Duration::from_secs(30))
        .await;

    // Both calls are in the audit log, newest first; only operators read it.
    let (status, log) = call(&worker, get.clone(), "/api/audit", &As::Access(&operator)).await;
    assert_eq!(status, 200, "{log}");
    let entries: Vec<(&str, &str, &str, &str, u64)> = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap(),
                e["credential"].as_str().unwrap(),
                e["role"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
                e["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            (
                "olga@example.com",
                "access_user",
                "operator",
                "replay_event",
                202
            ),
            (
                "vic@example.com",
                "access_user",
                "viewer",
                "replay_event",
                403
            ),
        ],
        "{log}"
    );
    assert!(
        log["entries"][0]["target"]
            .as_str()
            .unwrap()
            .starts_with(&id),
        "{log}"
    );
    let (status, _) = call(&worker, get.clone(), "/api/audit", &viewer).await;
    assert_eq!(status, 403);

    let service = access::sign(
        &access::rs256(KID),
        &team.service_claims("ci.access"),
        Signer::Team,
    );
    let (status, me) = call(&worker, get.clone(), "/api/me", &As::Access(&service)).await;
    assert_eq!(
        (status, me["credential"].as_str(), me["role"].as_str()),
        (200, Some("access_service"), Some("operator"))
    );

    let stranger = team.user_assertion("eve@elsewhere.org");
    let (status, body) = call(&worker, get, "/api/events", &As::Access(&stranger)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
}

#[tokio::test]
async fn named_tokens_carry_their_role_and_scope() {
    let sink = Sink::start();
    let tokens = json!([
        {"name": "dashboards", "sha256": sha256_hex("viewer-token-0123456789"), "role": "viewer"},
        {"name": "ci", "sha256": sha256_hex("operator-token-0123456789"), "role": "operator"},
        {"name": "web-team", "sha256": sha256_hex("scoped-token-0123456789"), "role": "operator", "projects": ["WEB"]}
    ]);
    let options = WorkerOptions::with_api().var("QASE_API_TOKENS", &tokens.to_string());
    let (worker, id) = worker_with_event(&sink, options).await;
    let replay = format!("/api/events/{id}/replay");
    let get = reqwest::Method::GET;
    let post = reqwest::Method::POST;

    let viewer = As::Bearer("viewer-token-0123456789");
    assert_eq!(
        call(&worker, get.clone(), "/api/events", &viewer).await.0,
        200
    );
    let (status, refused) = call(&worker, post.clone(), &replay, &viewer).await;
    assert_eq!(
        (status, refused["role"].as_str()),
        (403, Some("operator")),
        "{refused}"
    );

    let operator = As::Bearer("operator-token-0123456789");
    let (status, me) = call(&worker, get.clone(), "/api/me", &operator).await;
    assert_eq!(
        me,
        json!({"name": "ci", "credential": "api_token", "role": "operator", "projects": null}),
        "{status}"
    );
    assert_eq!(call(&worker, post.clone(), &replay, &operator).await.0, 202);
    sink.wait_for(&worker, "/hook", 2, Duration::from_secs(30))
        .await;

    // The hash is no token, nor is a near miss.
    for wrong in [
        sha256_hex("viewer-token-0123456789"),
        "viewer-token-012345678".to_owned(),
    ] {
        let (status, body) = call(&worker, get.clone(), "/api/events", &As::Bearer(&wrong)).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("unauthorized"))
        );
    }

    let scoped = As::Bearer("scoped-token-0123456789");
    let (status, me) = call(&worker, get.clone(), "/api/me", &scoped).await;
    assert_eq!(
        (status, me["projects"].clone()),
        (200, json!(["WEB"])),
        "{me}"
    );
    let (status, body) = call(
        &worker,
        post.clone(),
        "/api/destinations/hook/pause",
        &scoped,
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );

    let admin = As::Bearer(ADMIN_TOKEN);
    let (_, me) = call(&worker, get, "/api/me", &admin).await;
    assert_eq!(
        me,
        json!({"name": "admin", "credential": "admin_token", "role": "operator", "projects": null})
    );
    assert_eq!(call(&worker, post, &replay, &admin).await.0, 202);
}

/// One call of the scope test: how to make it, with the other project's ids.
struct Probe {
    method: reqwest::Method,
    path: String,
    body: &'static str,
    /// Whether the admin's answer names the other project (so that the
    /// scoped answer not naming it means something).
    admin_sees_it: bool,
}

fn probe(
    method: reqwest::Method,
    path: String,
    body: &'static str,
    admin_sees_it: bool,
) -> Option<Probe> {
    Some(Probe {
        method,
        path,
        body,
        admin_sees_it,
    })
}

/// The call of `route` that would show project MOB (event `mob`, run 2).
/// Exhaustive over the route table: a new route does not compile here
/// until it is probed.
fn probe_of(route: qase_edge_engine::http::routes::Route, mob: &str) -> Option<Probe> {
    use qase_edge_engine::http::routes::Route;
    use reqwest::Method;
    let now = access::now();
    match route {
        Route::Ingest | Route::Health | Route::OpenApi => None,
        Route::Metrics => probe(Method::GET, "/metrics".into(), "", true),
        Route::Me => probe(Method::GET, "/api/me".into(), "", false),
        Route::ListEvents => probe(Method::GET, "/api/events".into(), "", true),
        Route::GetEvent => probe(Method::GET, format!("/api/events/{mob}"), "", true),
        Route::GetEventBody => probe(Method::GET, format!("/api/events/{mob}/body"), "", true),
        Route::DeleteEvent => probe(Method::DELETE, format!("/api/events/{mob}"), "", false),
        // The admin's replay would make the dead letter below live again.
        Route::ReplayEvent => probe(
            Method::POST,
            format!("/api/events/{mob}/replay"),
            "{}",
            false,
        ),
        Route::ListDeadLetters => probe(Method::GET, "/api/dead-letters".into(), "", true),
        Route::ReplayDeadLetter => probe(
            Method::POST,
            format!("/api/dead-letters/{mob}/replay?destination=hook"),
            "",
            true,
        ),
        // Counts name no project: compared below.
        Route::Stats => probe(
            Method::GET,
            format!("/api/stats?since={}&until={}", now - 3600, now + 3600),
            "",
            false,
        ),
        Route::BulkReplay => probe(
            Method::POST,
            "/api/replay".into(),
            r#"{"project": "MOB"}"#,
            false,
        ),
        Route::Export => probe(Method::GET, "/api/export".into(), "", true),
        Route::ListRuns => probe(Method::GET, "/api/runs?project=MOB".into(), "", true),
        Route::GetRun => probe(Method::GET, "/api/runs/MOB/2".into(), "", true),
        Route::WaitRun => probe(
            Method::GET,
            "/api/runs/MOB/2/wait?timeout=0".into(),
            "",
            true,
        ),
        Route::ListDestinations => probe(Method::GET, "/api/destinations".into(), "", false),
        Route::PauseDestination => probe(
            Method::POST,
            "/api/destinations/hook/pause".into(),
            "",
            false,
        ),
        Route::ResumeDestination => probe(
            Method::POST,
            "/api/destinations/hook/resume".into(),
            "",
            false,
        ),
        Route::MigrateKv => probe(Method::POST, "/api/migrate-kv".into(), "", false),
        Route::ListAudit => probe(Method::GET, "/api/audit".into(), "", false),
    }
}

async fn text_of(worker: &Worker, probe: &Probe, token: &str) -> (u16, String) {
    let response = reqwest::Client::new()
        .request(probe.method.clone(), worker.url(&probe.path))
        .bearer_auth(token)
        .body(probe.body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn a_scoped_token_never_sees_another_projects_data_on_any_route() {
    let sink = Sink::start();
    let scoped_token = "web-only-token-0123456789";
    let tokens = json!([{"name": "web", "sha256": sha256_hex(scoped_token), "role": "operator", "projects": ["WEB"]}]);
    let destinations = json!([{"name": "hook", "url": sink.url("/hook")}]).to_string();
    let options = WorkerOptions::with_api()
        .var("QASE_API_TOKENS", &tokens.to_string())
        .var("QASE_DESTINATIONS", &destinations);
    let worker = Worker::start(options);
    let web = worker
        .accept(envelope("run.deleted", "WEB", json!({"id": 1})))
        .await;
    let mob = worker
        .accept(envelope("run.deleted", "MOB", json!({"id": 2})))
        .await;
    sink.wait_for(&worker, "/hook", 2, Duration::from_secs(30))
        .await;
    let at = json!(access::now() * 1000);
    worker
        .d1(
            "UPDATE deliveries SET status = 'dead', reason = 'attempts exhausted', updated_at = ?2 WHERE event_id = ?1",
            &[json!(mob), at],
        )
        .await;

    for (_, template, route) in qase_edge_engine::http::routes::ROUTES {
        let Some(probe) = probe_of(*route, &mob) else {
            continue;
        };
        let (status, text) = text_of(&worker, &probe, scoped_token).await;
        let what = format!(
            "{} {} ({template}) answered {status}",
            probe.method, probe.path
        );
        assert!(
            !text.contains("MOB") && !text.contains(&mob),
            "{what}: {text}"
        );
        assert!(status != 500 && status != 503, "{what}: {text}");
        if probe.admin_sees_it {
            let (admin_status, admin_text) = text_of(&worker, &probe, ADMIN_TOKEN).await;
            assert!(
                admin_text.contains("MOB") || admin_text.contains(&mob),
                "the admin's {} {} ({admin_status}) should name MOB, or this check proves nothing: {admin_text}",
                probe.method,
                probe.path
            );
        }
    }
    // The scoped token still sees and replays its own project.
    let (status, page) = call(
        &worker,
        reqwest::Method::GET,
        "/api/events",
        &As::Bearer(scoped_token),
    )
    .await;
    assert_eq!(
        (status, page["events"].as_array().map(Vec::len)),
        (200, Some(1)),
        "{page}"
    );
    assert_eq!(page["events"][0]["id"], web.as_str());
    let stats = probe_of(qase_edge_engine::http::routes::Route::Stats, &mob).unwrap();
    let dry_run = Probe {
        method: reqwest::Method::POST,
        path: "/api/replay".into(),
        body: r#"{"dry_run": true}"#,
        admin_sees_it: false,
    };
    for (probe, pointer) in [(&stats, "/totals/events"), (&dry_run, "/events")] {
        let count = |text: String| {
            serde_json::from_str::<Value>(&text)
                .unwrap()
                .pointer(pointer)
                .cloned()
        };
        let scoped = count(text_of(&worker, probe, scoped_token).await.1);
        let admin = count(text_of(&worker, probe, ADMIN_TOKEN).await.1);
        assert_eq!(
            (scoped, admin),
            (Some(json!(1)), Some(json!(2))),
            "{}",
            probe.path
        );
    }
    // Another project's event still exists: the refused delete did nothing.
    let (status, _) = worker
        .api(reqwest::Method::GET, &format!("/api/events/{mob}"))
        .await;
    assert_eq!(status, 200);
}

/// `qase-hook` with `args` and `env`, and no credential from this
/// process's environment.
fn qase_hook(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(qase_hook_binary());
    command
        .args(args)
        .env_remove("QASE_ADMIN_TOKEN")
        .env_remove("QASE_ACCESS_CLIENT_ID")
        .env_remove("QASE_ACCESS_CLIENT_SECRET")
        .env_remove("QASE_HOOK_API_URL");
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[tokio::test]
async fn qase_hook_passes_access_with_a_service_token() {
    const CLIENT_ID: &str = "8a1f0c-ci.access";
    const CLIENT_SECRET: &str = "e2e-service-token-secret";
    let team = Team::start();
    let sink = Sink::start();
    let roles = json!([{"service": CLIENT_ID, "role": "operator"}]);
    let options = team
        .configure(WorkerOptions::with_secret())
        .var("QASE_ACCESS_ROLES", &roles.to_string());
    let (worker, id) = worker_with_event(&sink, options).await;
    let edge = Edge::start(&team, &worker.url(""), CLIENT_ID, CLIENT_SECRET);
    let url = edge.origin();
    let service = [
        "--url",
        url.as_str(),
        "--access-client-id",
        CLIENT_ID,
        "--access-client-secret",
        CLIENT_SECRET,
    ];

    let me = qase_hook(&[&["api", "me"][..], &service].concat(), &[]);
    assert!(me.status.success(), "{}", text(&me));
    let said = String::from_utf8_lossy(&me.stdout);
    assert!(
        said.contains(CLIENT_ID) && said.contains("operator"),
        "{}",
        text(&me)
    );

    // The same from the environment, as a CI job sets it.
    let env = [
        ("QASE_HOOK_API_URL", url.as_str()),
        ("QASE_ACCESS_CLIENT_ID", CLIENT_ID),
        ("QASE_ACCESS_CLIENT_SECRET", CLIENT_SECRET),
    ];
    let listed = qase_hook(&["api", "list", "--json"], &env);
    assert!(listed.status.success(), "{}", text(&listed));
    let page: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(page["events"][0]["id"], id.as_str(), "{page}");
    let replayed = qase_hook(&["api", "replay", &id], &env);
    assert!(replayed.status.success(), "{}", text(&replayed));
    sink.wait_for(&worker, "/hook", 2, Duration::from_secs(30))
        .await;
    let audit = qase_hook(&["api", "audit", "--json"], &env);
    assert!(audit.status.success(), "{}", text(&audit));
    let log: Value = serde_json::from_slice(&audit.stdout).unwrap();
    assert_eq!(
        (
            log["entries"][0]["actor"].as_str(),
            log["entries"][0]["credential"].as_str(),
            log["entries"][0]["action"].as_str()
        ),
        (
            Some(CLIENT_ID),
            Some("access_service"),
            Some("replay_event")
        ),
        "{log}"
    );

    // Access refuses, and qase-hook says so instead of a parse error.
    let bearer_only = qase_hook(&["api", "me", "--url", &url, "--token", ADMIN_TOKEN], &[]);
    assert_eq!(bearer_only.status.code(), Some(1), "{}", text(&bearer_only));
    assert!(
        String::from_utf8_lossy(&bearer_only.stderr)
            .contains("Cloudflare Access guards this Worker"),
        "{}",
        text(&bearer_only)
    );
    let mut wrong = service;
    wrong[5] = "not-the-secret";
    let refused = qase_hook(&[&["api", "me"][..], &wrong].concat(), &[]);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("refused the service token"),
        "{}",
        text(&refused)
    );
    let gate = qase_hook(
        &[
            "wait",
            "--project",
            "WEB",
            "--run",
            "1",
            "--timeout",
            "1s",
            "--url",
            &url,
            "--token",
            ADMIN_TOKEN,
        ],
        &[],
    );
    assert_eq!(gate.status.code(), Some(2), "{}", text(&gate));
    assert!(
        String::from_utf8_lossy(&gate.stderr).contains("Cloudflare Access guards this Worker"),
        "{}",
        text(&gate)
    );
    let half = qase_hook(
        &["api", "me", "--url", &url, "--access-client-id", CLIENT_ID],
        &[],
    );
    assert_eq!(half.status.code(), Some(2), "{}", text(&half));
}
