//! A hostile-request corpus against one served Worker: at least 150 cases,
//! each with its documented status and (but for `HEAD`) a JSON error body
//! with a stable code; never a 5xx. Afterwards the Worker still serves, and
//! only the deliveries the corpus expects to be accepted were stored.
//!
//! Families: methods; bodies under, at and over the limit, with a length and
//! chunked; deep nesting; invalid UTF-8; malformed JSON; duplicate keys;
//! numbers out of range, floats, exponents and negatives; wrong types at
//! every envelope field; empty and whitespace bodies; near-miss secrets;
//! long and repeated headers; content types; unknown and hostile paths.
//! And the operator API's own (issue #33): globs past D1's pattern limit,
//! run ids past 2^53, empty cursors, limits past their maximum, and
//! `Authorization` whitespace that is not HTTP's.

use qase_edge_e2e::{chunked_post, raw_request, Worker, WorkerOptions, ADMIN_TOKEN, SECRET};
use serde_json::Value;

/// The default body-size limit (1 MiB).
const LIMIT: usize = 1024 * 1024;

/// A `POST /webhooks/qase` with a `Content-Length`, written by hand: the
/// Worker may answer 413 and close before the body is sent, which an HTTP
/// client reports as an error rather than the answer.
fn with_length(body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST /webhooks/qase HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Qase-Secret: {SECRET}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

enum Send {
    /// Method, path, headers, body through reqwest.
    Http(&'static str, String, Vec<(String, String)>, Vec<u8>),
    /// Bytes written to the socket as they are.
    Raw(Vec<u8>),
}

struct Case {
    name: String,
    send: Send,
    status: u16,
    /// The error code, or `None` for a success.
    code: Option<&'static str>,
}

fn post(name: impl Into<String>, body: Vec<u8>, status: u16, code: Option<&'static str>) -> Case {
    Case {
        name: name.into(),
        send: Send::Http(
            "POST",
            "/webhooks/qase".into(),
            vec![("X-Qase-Secret".into(), SECRET.into())],
            body,
        ),
        status,
        code,
    }
}

fn with_headers(
    name: impl Into<String>,
    headers: Vec<(&str, String)>,
    body: Vec<u8>,
    status: u16,
    code: Option<&'static str>,
) -> Case {
    Case {
        name: name.into(),
        send: Send::Http(
            "POST",
            "/webhooks/qase".into(),
            headers
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            body,
        ),
        status,
        code,
    }
}

fn envelope_with(field: &str, raw: &str) -> Vec<u8> {
    let mut fields = [
        ("event_name", r#""run.deleted""#.to_owned()),
        ("timestamp", "1764000000".to_owned()),
        ("payload", r#"{"id":1}"#.to_owned()),
        ("team_member_id", "1".to_owned()),
        ("project_code", r#""HOSTILE""#.to_owned()),
    ];
    for (name, value) in fields.iter_mut() {
        if *name == field {
            *value = raw.to_owned();
        }
    }
    let inner: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    format!("{{{}}}", inner.join(",")).into_bytes()
}

/// A valid envelope of exactly `size` bytes (padded with an unknown field).
fn sized(size: usize, n: u64) -> Vec<u8> {
    let base = format!(
        r#"{{"event_name":"run.deleted","timestamp":1764000000,"payload":{{"id":{n}}},"team_member_id":1,"project_code":"SIZE","pad":""}}"#
    );
    let pad = size - base.len();
    base.replace(r#""pad":"""#, &format!(r#""pad":"{}""#, "x".repeat(pad)))
        .into_bytes()
}

fn corpus() -> Vec<Case> {
    let mut cases = Vec::new();

    // Methods.
    for method in ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"] {
        cases.push(Case {
            name: format!("method {method}"),
            send: Send::Http(
                method,
                "/webhooks/qase".into(),
                vec![("X-Qase-Secret".into(), SECRET.into())],
                vec![],
            ),
            status: 405,
            code: (method != "HEAD").then_some("method_not_allowed"),
        });
    }

    // Sizes, with a length and chunked.
    for (label, size, status, code) in [
        ("just under", LIMIT - 1, 202, None),
        ("at", LIMIT, 202, None),
        ("just over", LIMIT + 1, 413, Some("payload_too_large")),
        ("far over", LIMIT * 4, 413, Some("payload_too_large")),
    ] {
        cases.push(Case {
            name: format!("{label} the limit, with length"),
            send: Send::Raw(with_length(&sized(size, size as u64))),
            status,
            code,
        });
        cases.push(Case {
            name: format!("{label} the limit, chunked"),
            send: Send::Raw(chunked_post(
                SECRET,
                &sized(size, size as u64 + 1_000_000),
                8 * 1024,
            )),
            status,
            code,
        });
    }

    // Deep nesting, 100,000 levels.
    let deep = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    cases.push(post(
        "deep array as the body",
        deep(100_000).into_bytes(),
        422,
        Some("invalid_envelope"),
    ));
    cases.push(post(
        "deep object as the body",
        format!("{}1{}", r#"{"a":"#.repeat(100_000), "}".repeat(100_000)).into_bytes(),
        422,
        Some("invalid_envelope"),
    ));
    cases.push(post(
        "deep array as the payload",
        envelope_with("payload", &deep(100_000)),
        422,
        Some("invalid_envelope"),
    ));
    cases.push(post(
        "deep array as event_name",
        envelope_with("event_name", &deep(100_000)),
        422,
        Some("invalid_envelope"),
    ));
    cases.push(post(
        "deep array inside the payload (kept raw, accepted)",
        envelope_with("payload", &format!(r#"{{"id":99,"x":{}}}"#, deep(100_000))),
        202,
        None,
    ));
    cases.push(post(
        "deep unclosed",
        "[".repeat(100_000).into_bytes(),
        400,
        Some("invalid_json"),
    ));

    // Invalid UTF-8.
    for (label, bytes) in [
        (
            "lone continuation byte",
            b"{\"event_name\":\"\x80\"}".to_vec(),
        ),
        (
            "overlong encoding",
            b"{\"event_name\":\"\xc0\xaf\"}".to_vec(),
        ),
        (
            "truncated sequence",
            b"{\"event_name\":\"\xe2\x82\"}".to_vec(),
        ),
        ("invalid byte 0xff", b"\xff{}".to_vec()),
        (
            "UTF-16 surrogate bytes",
            b"{\"a\":\"\xed\xa0\x80\"}".to_vec(),
        ),
        ("Latin-1 body", b"{\"project_code\":\"Caf\xe9\"}".to_vec()),
    ] {
        cases.push(post(
            format!("invalid UTF-8: {label}"),
            bytes,
            400,
            Some("invalid_json"),
        ));
    }

    // Malformed JSON.
    for (label, body) in [
        ("trailing comma", r#"{"event_name":"run.deleted",}"#),
        ("single quotes", r#"{'event_name':'run.deleted'}"#),
        ("NaN", r#"{"timestamp":NaN}"#),
        ("Infinity", r#"{"timestamp":Infinity}"#),
        ("comment", r#"{/* c */"event_name":"x"}"#),
        ("unterminated string", r#"{"event_name":"run"#),
        ("unquoted key", r#"{event_name:"x"}"#),
        (
            "raw control character in a string",
            "{\"event_name\":\"a\u{1}b\"}",
        ),
        ("bad escape", r#"{"event_name":"\q"}"#),
        ("byte order mark", "\u{feff}{}"),
        ("two documents", r#"{}{}"#),
        ("trailing garbage", r#"{"a":1} x"#),
        ("leading zero", r#"{"timestamp":01}"#),
        ("plus sign", r#"{"timestamp":+1}"#),
        ("hex number", r#"{"timestamp":0x10}"#),
        ("missing colon", r#"{"event_name" "x"}"#),
        ("missing value", r#"{"event_name":}"#),
        ("only an opening brace", "{"),
        ("only a closing brace", "}"),
        ("true as a word prefix", "tru"),
        ("form feed whitespace", "\u{c}{}"),
    ] {
        cases.push(post(
            format!("malformed JSON: {label}"),
            body.as_bytes().to_vec(),
            400,
            Some("invalid_json"),
        ));
    }

    // Not an object at the top.
    for body in [
        "[]", "[1,2]", "1", "-1", "\"x\"", "null", "true", "false", "1e400",
    ] {
        let (status, code) = if body == "1e400" {
            (400, "invalid_json")
        } else {
            (422, "invalid_envelope")
        };
        cases.push(post(
            format!("top level {body}"),
            body.as_bytes().to_vec(),
            status,
            Some(code),
        ));
    }

    // Duplicate keys.
    cases.push(post("duplicate event_name", br#"{"event_name":"run.deleted","event_name":"case.deleted","timestamp":1,"payload":{"id":1},"team_member_id":1,"project_code":"D"}"#.to_vec(), 422, Some("invalid_envelope")));
    cases.push(post("duplicate project_code", br#"{"event_name":"run.deleted","timestamp":1,"payload":{"id":1},"team_member_id":1,"project_code":"A","project_code":"B"}"#.to_vec(), 422, Some("invalid_envelope")));
    cases.push(post("duplicate payload", br#"{"event_name":"run.deleted","timestamp":1,"payload":{"id":1},"payload":{"id":2},"team_member_id":1,"project_code":"D"}"#.to_vec(), 422, Some("invalid_envelope")));
    cases.push(post("duplicate key inside the payload (quarantined)", br#"{"event_name":"run.deleted","timestamp":2,"payload":{"id":1,"id":2},"team_member_id":1,"project_code":"D"}"#.to_vec(), 202, None));

    // Numbers where integers belong.
    for field in ["timestamp", "team_member_id"] {
        for value in [
            "-1",
            "-0.0",
            "1.5",
            "1e9",
            "1E9",
            "1.0",
            "18446744073709551616",
            "9007199254740992",
            "99999999999999999999999",
            "\"123\"",
            "true",
            "null",
            "[]",
            "{}",
        ] {
            cases.push(post(
                format!("{field} = {value}"),
                envelope_with(field, value),
                422,
                Some("invalid_envelope"),
            ));
        }
    }

    // Wrong types and empty values at the string fields and the payload.
    for field in ["event_name", "project_code"] {
        for value in [
            "1",
            "true",
            "null",
            "[]",
            "{}",
            "\"\"",
            "\"   \"",
            "\"a\\u0000b\"",
            &format!("\"{}\"", "A".repeat(200)),
        ] {
            cases.push(post(
                format!("{field} = {value:.20}"),
                envelope_with(field, value),
                422,
                Some("invalid_envelope"),
            ));
        }
    }
    // Valid JSON syntax, but no Rust (or Unicode) string: 422, not a crash.
    cases.push(post(
        "event_name with a lone surrogate escape",
        envelope_with("event_name", r#""\ud800""#),
        422,
        Some("invalid_envelope"),
    ));
    for value in ["1", "\"x\"", "true", "null", "[]", "[{}]"] {
        cases.push(post(
            format!("payload = {value}"),
            envelope_with("payload", value),
            422,
            Some("invalid_envelope"),
        ));
    }
    for field in [
        "event_name",
        "timestamp",
        "payload",
        "team_member_id",
        "project_code",
    ] {
        let body: Value = serde_json::from_slice(&envelope_with("", "")).unwrap();
        let mut body = body.as_object().unwrap().clone();
        body.remove(field);
        cases.push(post(
            format!("missing {field}"),
            serde_json::to_vec(&body).unwrap(),
            422,
            Some("invalid_envelope"),
        ));
    }

    // Empty and whitespace bodies.
    for body in ["", " ", "\n", "\t\r\n ", "        "] {
        cases.push(post(
            format!("body {body:?}"),
            body.as_bytes().to_vec(),
            400,
            Some("invalid_json"),
        ));
    }

    // Near-miss secrets (HTTP itself trims a value's outer whitespace).
    let upper = SECRET.to_uppercase();
    let inner_space = SECRET.replacen('-', " -", 1);
    let inner_tab = SECRET.replacen('-', "\t-", 1);
    for (label, value) in [
        ("upper case", upper.as_str()),
        ("prefix", &SECRET[..SECRET.len() - 1]),
        ("suffix", &SECRET[1..]),
        ("extra character", &format!("{SECRET}x")),
        ("inner space", inner_space.as_str()),
        ("inner tab", inner_tab.as_str()),
        ("doubled", &format!("{SECRET}{SECRET}")),
        ("quoted", &format!("\"{SECRET}\"")),
        ("bearer form", &format!("Bearer {SECRET}")),
        ("empty", ""),
        ("very long (16 KiB)", &"s".repeat(16 * 1024)),
    ] {
        let headers = vec![("X-Qase-Secret", value.to_owned())];
        cases.push(with_headers(
            format!("secret: {label}"),
            headers,
            envelope_with("", ""),
            401,
            Some("unauthorized"),
        ));
    }
    cases.push(with_headers(
        "no secret header",
        vec![],
        envelope_with("", ""),
        401,
        Some("unauthorized"),
    ));
    cases.push(with_headers(
        "secret in another header",
        vec![("X-Qase-Token", SECRET.to_owned())],
        envelope_with("", ""),
        401,
        Some("unauthorized"),
    ));
    for (label, first, second) in [
        ("right twice", SECRET, SECRET),
        ("wrong then right", "nope", SECRET),
        ("right then wrong", SECRET, "nope"),
    ] {
        let request = format!(
            "POST /webhooks/qase HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Qase-Secret: {first}\r\nX-Qase-Secret: {second}\r\nContent-Length: 2\r\n\r\n{{}}"
        );
        cases.push(Case {
            name: format!("two secret headers: {label}"),
            send: Send::Raw(request.into_bytes()),
            status: 401,
            code: Some("unauthorized"),
        });
    }
    for size in [1024, 8 * 1024] {
        let headers = vec![
            ("X-Qase-Secret", SECRET.to_owned()),
            ("X-Padding", "p".repeat(size)),
        ];
        cases.push(with_headers(
            format!("long unrelated header ({size} bytes)"),
            headers,
            b"{".to_vec(),
            400,
            Some("invalid_json"),
        ));
    }

    // Content types.
    for (content_type, status, code) in [
        ("text/plain", 415, Some("unsupported_media_type")),
        ("text/html", 415, Some("unsupported_media_type")),
        ("application/xml", 415, Some("unsupported_media_type")),
        (
            "application/x-www-form-urlencoded",
            415,
            Some("unsupported_media_type"),
        ),
        (
            "multipart/form-data; boundary=x",
            415,
            Some("unsupported_media_type"),
        ),
        (
            "application/octet-stream",
            415,
            Some("unsupported_media_type"),
        ),
        ("application/jsonp", 415, Some("unsupported_media_type")),
        ("APPLICATION/JSON", 400, Some("invalid_json")),
        ("application/problem+json", 400, Some("invalid_json")),
    ] {
        let headers = vec![
            ("X-Qase-Secret", SECRET.to_owned()),
            ("Content-Type", content_type.to_owned()),
        ];
        cases.push(with_headers(
            format!("content type {content_type}"),
            headers,
            b"{".to_vec(),
            status,
            code,
        ));
    }

    // Unknown and hostile paths.
    for path in [
        "/",
        "/webhooks",
        "/webhooks/",
        "/webhooks/qase/",
        "/webhooks/qase/x",
        "/webhooks/QASE",
        "/WEBHOOKS/qase",
        "//webhooks/qase",
        "/.env",
        "/wp-admin/install.php",
        "/api",
        "/api/events",
        "/api/openapi.json",
        "/health/",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/webhooks/qase%00",
        "/favicon.ico",
        "/admin",
        "/index.php?x=1",
        &format!("/{}", "a".repeat(4000)),
    ] {
        cases.push(Case {
            name: format!("path {path:.40}"),
            send: Send::Http(
                "POST",
                path.to_owned(),
                vec![("X-Qase-Secret".into(), SECRET.into())],
                b"{}".to_vec(),
            ),
            status: 404,
            code: Some("not_found"),
        });
    }
    cases
}

#[tokio::test]
async fn the_hostile_corpus_gets_documented_answers_and_nothing_rejected_is_stored() {
    let worker =
        Worker::start(WorkerOptions::with_secret().var("QASE_MAX_BODY_BYTES", &LIMIT.to_string()));
    let cases = corpus();
    assert!(cases.len() >= 150, "only {} cases", cases.len());
    let accepted = run_all(&worker, &cases).await;

    // Still serving, and only what was accepted is stored.
    let health = worker.health().await;
    assert_eq!(health["status"], "ok");
    let rows = worker.d1("SELECT count(*) AS n FROM events", &[]).await;
    let stored = rows[0]["n"].as_u64().unwrap() as usize;
    assert_eq!(stored, accepted, "stored {stored}, accepted {accepted}");
}

/// Sends each case and asserts that each got its documented answer; how
/// many were accepted.
async fn run_all(worker: &Worker, cases: &[Case]) -> usize {
    let (failures, accepted) = run(worker, cases).await;
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    accepted
}

/// Sends each case; the failures, in words, and how many were accepted.
async fn run(worker: &Worker, cases: &[Case]) -> (Vec<String>, usize) {
    let mut failures = Vec::new();
    let mut accepted = 0;
    for case in cases {
        // Every case is written to the socket by hand: the Worker answers
        // 401 or 413 without reading the body and closes, which an HTTP
        // client reports as an error rather than the answer.
        let bytes = match &case.send {
            Send::Http(method, path, headers, body) => {
                let mut request =
                    format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
                for (name, value) in headers {
                    request.push_str(&format!("{name}: {value}\r\n"));
                }
                request.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
                let mut bytes = request.into_bytes();
                bytes.extend_from_slice(body);
                bytes
            }
            Send::Raw(bytes) => bytes.clone(),
        };
        let (status, body) = raw_request(worker, &bytes).await;
        let json: Option<Value> = serde_json::from_str(&body).ok();
        let code = json
            .as_ref()
            .and_then(|j| j["error"].as_str().map(str::to_owned));
        let ok = status == case.status
            && status < 500
            && match case.code {
                Some(expected) => {
                    code.as_deref() == Some(expected)
                        && json.as_ref().is_some_and(|j| j["message"].is_string())
                }
                None => code.is_none() && (case.name.starts_with("method HEAD") || json.is_some()),
            };
        if !ok {
            failures.push(format!(
                "{}: expected {} {:?}, got {status} {body:.200}",
                case.name, case.status, case.code
            ));
        }
        if status == 202 {
            accepted += 1;
        }
    }
    (failures, accepted)
}

/// The operator API's hostile cases (issue #33), each with its documented
/// answer: a glob past D1's pattern limit (refused, never 503), run ids
/// past 2^53, empty cursors and limits past their maximum, and
/// `Authorization` whitespace that is not HTTP's.
fn api_corpus() -> Vec<Case> {
    let long_glob = format!("{}*", "a".repeat(60));
    let get = |name: &str, path: String, status: u16, code: Option<&'static str>| Case {
        name: name.to_owned(),
        send: Send::Http(
            "GET",
            path,
            vec![bearer(&format!("Bearer {ADMIN_TOKEN}"))],
            Vec::new(),
        ),
        status,
        code,
    };
    let bad = Some("invalid_parameter");
    let mut cases = vec![
        get(
            "a glob past D1's limit",
            format!("/api/events?event={long_glob}"),
            400,
            bad,
        ),
        get(
            "a glob past D1's limit, export",
            format!("/api/export?event={long_glob}"),
            400,
            bad,
        ),
        get(
            "51 stars are one",
            format!("/api/events?event={}", "*".repeat(51)),
            200,
            None,
        ),
        get(
            "a run id past 2^53",
            "/api/runs/WEB/9007199254740992".into(),
            400,
            bad,
        ),
        get(
            "a run id past 2^53, wait",
            "/api/runs/WEB/9007199254740992/wait".into(),
            400,
            bad,
        ),
        get(
            "the largest safe run id",
            "/api/runs/WEB/9007199254740991".into(),
            404,
            Some("run_not_found"),
        ),
        get("an empty cursor", "/api/events?cursor=".into(), 400, bad),
        get(
            "a limit past its maximum",
            "/api/events?limit=1001".into(),
            400,
            bad,
        ),
        get(
            "since past its maximum",
            "/api/stats?since=9007199254741".into(),
            400,
            bad,
        ),
    ];
    let replay = format!(r#"{{"event": "{long_glob}", "dry_run": true}}"#);
    cases.push(Case {
        name: "a glob past D1's limit, bulk replay".into(),
        send: Send::Http(
            "POST",
            "/api/replay".into(),
            vec![bearer(&format!("Bearer {ADMIN_TOKEN}"))],
            replay.into_bytes(),
        ),
        status: 400,
        code: bad,
    });
    for (name, value, status, code) in [
        (
            "spaces and a tab around the token",
            format!("Bearer  {ADMIN_TOKEN}\t "),
            200,
            None,
        ),
        (
            "a no-break space after the token",
            format!("Bearer {ADMIN_TOKEN}\u{a0}"),
            401,
            Some("unauthorized"),
        ),
        (
            "an ideographic space before the scheme",
            format!("\u{3000}Bearer {ADMIN_TOKEN}"),
            401,
            Some("unauthorized"),
        ),
    ] {
        cases.push(Case {
            name: name.into(),
            send: Send::Http(
                "GET",
                "/api/events".into(),
                vec![bearer(&value)],
                Vec::new(),
            ),
            status,
            code,
        });
    }
    cases
}

fn bearer(value: &str) -> (String, String) {
    ("Authorization".into(), value.to_owned())
}

#[tokio::test]
async fn the_operator_apis_hostile_cases_get_their_documented_answers() {
    let worker = Worker::start(WorkerOptions::with_api());
    let cases = api_corpus();
    run_all(&worker, &cases).await;
}
