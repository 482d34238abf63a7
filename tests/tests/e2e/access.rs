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

use qase_edge_e2e::access::{self, Signer, Team, AUD, KID};
use qase_edge_e2e::{answer, envelope, post, Worker, WorkerOptions, ADMIN_TOKEN, SECRET};
use serde_json::{json, Value};

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
    // Access is in front of the API's own token, not instead of it.
    let no_bearer = reqwest::Client::new()
        .get(worker.url("/api/events"))
        .header(ASSERTION, &user);
    let (status, body) = answer(no_bearer).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
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
