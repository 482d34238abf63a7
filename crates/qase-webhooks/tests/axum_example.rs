//! The example receiver (examples/axum.rs), served on 127.0.0.1 on an
//! ephemeral port and driven over real HTTP.
//! 1. Every event qase-hook generates (its samples module, compiled in here)
//!    is answered `202` with the Worker's body: the id derived from the exact
//!    bytes, the event name, the project code, `accepted`.
//! 2. Every fixture of this crate, variants included, is accepted the same way.
//! 3. The secret: missing, empty, wrong, a prefix, the secret plus one byte,
//!    another case, and the right secret for the wrong project are all `401
//!    unauthorized` with the same body, which never contains the secret;
//!    surrounding whitespace is trimmed and the rotation secret is accepted.
//! 4. Content types: JSON ones (with parameters, `+json`) and none are
//!    accepted, anything else is `415`.
//! 5. Bodies: not JSON and empty are `400 invalid_json`; a wrong envelope is
//!    `422 invalid_envelope` naming the field; a known event with a payload
//!    that does not fit is `422 invalid_payload` naming `payload.<field>`; an
//!    unknown event is `422 unknown_event` on `event_name`.
//! 6. Size: a declared length over the limit is `413` before anything else,
//!    and a chunked body that passes the limit is `413` too.

#[allow(dead_code)] // `main` and the run-time configuration are not used here
#[path = "../examples/axum.rs"]
mod example;

// qase-hook's generator of realistic events (a binary crate, so it cannot be a
// dependency): the same source file, compiled against this crate.
#[allow(dead_code)]
#[path = "../../qase-hook/src/samples.rs"]
mod samples;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;

use qase_webhooks::{EventId, EventName, Secret, SecretPolicy};
use serde_json::{json, Value};

mod common;
use common::json_files;

const SECRET: &str = "local-demo-secret";
const NEXT_SECRET: &str = "the-rotated-secret";
const SHOP_SECRET: &str = "shop-only-secret";

/// Serves the example on an ephemeral port with the secrets above; the server
/// lives as long as the test's runtime.
async fn serve() -> SocketAddr {
    let policy = SecretPolicy::new([
        Secret::new(SECRET).unwrap(),
        Secret::new(NEXT_SECRET).unwrap(),
    ])
    .with_project_secret("SHOPONLY", Secret::new(SHOP_SECRET).unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, example::app(policy)).await.unwrap() });
    addr
}

fn client() -> reqwest::Client {
    // Straight to 127.0.0.1, whatever proxy the environment names.
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn url(addr: SocketAddr) -> String {
    format!("http://{addr}{}", example::INGEST_PATH)
}

/// Posts `body` as JSON with `secret` (none when `None`), returning the
/// status and the JSON answer.
async fn post(addr: SocketAddr, secret: Option<&str>, body: &[u8]) -> (u16, Value) {
    post_with(addr, secret, Some("application/json"), body.to_vec()).await
}

async fn post_with(
    addr: SocketAddr,
    secret: Option<&str>,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (u16, Value) {
    let mut request = client().post(url(addr)).body(body);
    if let Some(secret) = secret {
        request = request.header(example::SECRET_HEADER, secret);
    }
    if let Some(content_type) = content_type {
        request = request.header("Content-Type", content_type);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("answer is not JSON ({err}): {text}"));
    (status, value)
}

/// Asserts a `202` that names exactly this delivery.
fn assert_accepted(what: &str, body: &[u8], status: u16, answer: &Value) {
    let sent: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(status, 202, "{what}: {answer}");
    assert_eq!(
        answer,
        &json!({
            "id": EventId::of(body).to_string(),
            "event_name": sent["event_name"],
            "project_code": sent["project_code"],
            "status": "accepted",
            "duplicate": false,
        }),
        "{what}"
    );
}

/// A refusal as the Worker answers it: status, `error` code, `field`.
type Want<'a> = (u16, &'a str, Option<&'a str>);

/// Asserts the Worker's error body: this status, this code, this field (or
/// none), and a non-empty message.
fn assert_refused(what: &str, status: u16, answer: &Value, want: Want<'_>) {
    let (want_status, code, field) = want;
    assert_eq!(status, want_status, "{what}: {answer}");
    assert_eq!(answer["error"], code, "{what}: {answer}");
    assert!(
        answer["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: {answer}"
    );
    match field {
        Some(field) => assert_eq!(answer["field"], field, "{what}: {answer}"),
        None => assert!(answer.get("field").is_none(), "{what}: {answer}"),
    }
    let keys = answer.as_object().unwrap().len();
    assert_eq!(keys, 2 + usize::from(field.is_some()), "{what}: {answer}");
}

fn run_completed() -> Vec<u8> {
    serde_json::to_vec(&samples::envelope(
        &EventName::RunCompleted,
        "DEMO",
        1_764_230_400,
        0,
    ))
    .unwrap()
}

#[tokio::test]
async fn every_generated_event_is_accepted() {
    let addr = serve().await;
    assert!(
        EventName::ALL.len() > 40,
        "the generator covers every event"
    );
    for (n, event) in EventName::ALL.iter().enumerate() {
        let envelope = samples::envelope(event, "DEMO", 1_764_230_400, n as u64);
        let body = serde_json::to_vec(&envelope).unwrap();
        let (status, answer) = post(addr, Some(SECRET), &body).await;
        assert_accepted(event.as_str(), &body, status, &answer);
    }
}

#[tokio::test]
async fn every_fixture_is_accepted() {
    let addr = serve().await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files = json_files(&root);
    files.extend(json_files(&root.join("variants")));
    assert!(files.len() > 45, "fixtures found: {}", files.len());
    for path in files {
        let body = std::fs::read(&path).unwrap();
        let (status, answer) = post(addr, Some(SECRET), &body).await;
        assert_accepted(&path.display().to_string(), &body, status, &answer);
    }
}

#[tokio::test]
async fn only_a_configured_secret_is_let_in() {
    let addr = serve().await;
    let body = run_completed();
    let refused = [
        ("missing", None),
        ("empty", Some("")),
        ("blank", Some("   ")),
        ("wrong", Some("not-the-secret")),
        ("a prefix", Some(&SECRET[..SECRET.len() - 1])),
        ("one byte more", Some("local-demo-secretx")),
        ("other case", Some("LOCAL-DEMO-SECRET")),
        ("the other project's", Some(SHOP_SECRET)),
    ];
    let mut answers = Vec::new();
    for (what, secret) in refused {
        let (status, answer) = post(addr, secret, &body).await;
        assert_refused(what, status, &answer, (401, "unauthorized", None));
        assert!(!answer.to_string().contains(SECRET), "{what}: {answer}");
        answers.push(answer);
    }
    assert!(
        answers.windows(2).all(|pair| pair[0] == pair[1]),
        "every refusal looks the same"
    );

    for (what, secret) in [
        ("exact", SECRET),
        ("surrounded by whitespace", " \tlocal-demo-secret \t"),
        ("the rotation secret", NEXT_SECRET),
    ] {
        let (status, answer) = post(addr, Some(secret), &body).await;
        assert_accepted(what, &body, status, &answer);
    }
}

#[tokio::test]
async fn a_project_secret_covers_only_its_project() {
    let addr = serve().await;
    let mut envelope = samples::envelope(&EventName::RunCompleted, "SHOPONLY", 1_764_230_400, 0);
    let body = serde_json::to_vec(&envelope).unwrap();
    let (status, answer) = post(addr, Some(SHOP_SECRET), &body).await;
    assert_accepted("own secret", &body, status, &answer);
    // The global secret no longer covers a project with its own.
    let (status, answer) = post(addr, Some(SECRET), &body).await;
    assert_refused(
        "global secret",
        status,
        &answer,
        (401, "unauthorized", None),
    );

    envelope["project_code"] = json!("DEMO");
    let body = serde_json::to_vec(&envelope).unwrap();
    let (status, answer) = post(addr, Some(SHOP_SECRET), &body).await;
    assert_refused(
        "other project",
        status,
        &answer,
        (401, "unauthorized", None),
    );
}

#[tokio::test]
async fn only_json_content_types_are_accepted() {
    let addr = serve().await;
    let body = run_completed();
    for content_type in [
        None,
        Some("application/json"),
        Some("Application/JSON; charset=utf-8"),
        Some("application/vnd.qase+json"),
    ] {
        let (status, answer) = post_with(addr, Some(SECRET), content_type, body.clone()).await;
        assert_accepted(&format!("{content_type:?}"), &body, status, &answer);
    }
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "json"] {
        let (status, answer) =
            post_with(addr, Some(SECRET), Some(content_type), body.clone()).await;
        assert_refused(
            content_type,
            status,
            &answer,
            (415, "unsupported_media_type", None),
        );
    }
    // The secret is checked first: a wrong one is 401 whatever the type.
    let (status, answer) = post_with(addr, Some("wrong"), Some("text/plain"), body).await;
    assert_refused(
        "wrong secret, wrong type",
        status,
        &answer,
        (401, "unauthorized", None),
    );
}

#[tokio::test]
async fn bad_bodies_are_named() {
    let addr = serve().await;
    let mut wrong_payload = samples::envelope(&EventName::RunCompleted, "DEMO", 1, 0);
    wrong_payload["payload"]["passed"] = json!("three");
    let mut unknown = samples::envelope(&EventName::RunCompleted, "DEMO", 1, 0);
    unknown["event_name"] = json!("run.exploded");
    let mut no_project = samples::envelope(&EventName::RunCompleted, "DEMO", 1, 0);
    no_project.as_object_mut().unwrap().remove("project_code");
    let mut bad_timestamp = samples::envelope(&EventName::RunCompleted, "DEMO", 1, 0);
    bad_timestamp["timestamp"] = json!("yesterday");

    let cases: [(&str, Vec<u8>, Want<'static>); 7] = [
        (
            "not JSON",
            b"event_name=run.completed".to_vec(),
            (400, "invalid_json", None),
        ),
        ("empty", Vec::new(), (400, "invalid_json", None)),
        (
            "cut short",
            run_completed()[..20].to_vec(),
            (400, "invalid_json", None),
        ),
        (
            "no project_code",
            serde_json::to_vec(&no_project).unwrap(),
            (422, "invalid_envelope", Some("project_code")),
        ),
        (
            "timestamp a string",
            serde_json::to_vec(&bad_timestamp).unwrap(),
            (422, "invalid_envelope", Some("timestamp")),
        ),
        (
            "payload does not fit",
            serde_json::to_vec(&wrong_payload).unwrap(),
            (422, "invalid_payload", Some("payload.passed")),
        ),
        (
            "unknown event",
            serde_json::to_vec(&unknown).unwrap(),
            (422, "unknown_event", Some("event_name")),
        ),
    ];
    for (what, body, want) in cases {
        let (status, answer) = post(addr, Some(SECRET), &body).await;
        assert_refused(what, status, &answer, want);
    }
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused() {
    let addr = serve().await;
    let too_large = vec![b' '; example::MAX_BODY_BYTES + 1];
    let (status, answer) = post(addr, Some(SECRET), &too_large).await;
    assert_refused(
        "declared",
        status,
        &answer,
        (413, "payload_too_large", None),
    );
    // Declared size comes first: even without a secret.
    let (status, answer) = post(addr, None, &too_large).await;
    assert_refused(
        "declared, no secret",
        status,
        &answer,
        (413, "payload_too_large", None),
    );

    // A chunked body declares no length: it is counted as it arrives.
    let (status, answer) = tokio::task::spawn_blocking(move || chunked(addr, &too_large))
        .await
        .unwrap();
    assert_refused("chunked", status, &answer, (413, "payload_too_large", None));
    // ...and a chunked body within the limit is fine.
    let body = run_completed();
    let (status, answer) = tokio::task::spawn_blocking({
        let body = body.clone();
        move || chunked(addr, &body)
    })
    .await
    .unwrap();
    assert_accepted("chunked, small", &body, status, &answer);
}

/// Posts `body` in two chunks over a plain socket (the HTTP client would
/// send a `Content-Length`), returning the status and the JSON answer.
fn chunked(addr: SocketAddr, body: &[u8]) -> (u16, Value) {
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {addr}\r\n{}: {SECRET}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        example::INGEST_PATH,
        example::SECRET_HEADER,
    );
    stream.write_all(head.as_bytes()).unwrap();
    let (first, second) = body.split_at(body.len() / 2);
    for chunk in [first, second] {
        // The server may answer and close once it has seen too much.
        let sent = stream
            .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
            .and_then(|()| stream.write_all(chunk))
            .and_then(|()| stream.write_all(b"\r\n"));
        if sent.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n");
    let mut response = Vec::new();
    // A reset after the answer has been read is not a failure here.
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8(response).unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {response:?}"));
    let (_, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no body: {response:?}"));
    // Connection: close, so the answer's body is either its Content-Length's
    // worth of bytes or one chunk; JSON answers here are sent in one piece.
    let json = body
        .find('{')
        .and_then(|start| body.rfind('}').map(|end| &body[start..=end]))
        .unwrap_or_else(|| panic!("no JSON body: {response:?}"));
    (status, serde_json::from_str(json).unwrap())
}
