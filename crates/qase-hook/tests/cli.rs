//! The `qase-hook` binary, run as a process.
//! 1. `events` lists every known event; `schema` prints schemas, or refuses.
//! 2. `send --print` makes, for every known event, a body the core accepts
//!    as that event; an unknown event is a usage error naming the fix.
//! 3. `send` reports a refused secret (exit 1) and an unreachable URL (exit 2).
//! 4. `send --count` runs a load and prints its summary.
//! 5. `verify` accepts a correctly signed request and refuses a tampered one.
//! 6. `--version` names the version and the commit it was built from.
//! 7. `preview` prints each format's chat body for a generated event or a
//!    given file, with links to `--app-url`; an unknown format is a usage
//!    error, a body that is not a delivery is refused.
//! 8. `schema run-report` prints the run report's schema; `wait` exits 0 or
//!    1 by its thresholds on an ended run with a one-line verdict, and 2
//!    without a token, when qase-edge is unreachable or refuses.
//! 9. `api destinations`, `api pause`, `api resume` and `api watch` show
//!    the breakers and the watched projects (issue #19); an unknown
//!    destination is refused (exit 1).
//! 10. The `api` commands read the answers into the Worker's own types: an
//!     answer with a field missing or renamed is refused (exit 1) with a
//!     message naming the field, never shown as `0` or `-`.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};

use qase_webhooks::signing::SigningSecret;
use qase_webhooks::{Envelope, EventName};

fn qase_hook(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qase-hook"))
        .args(args)
        .env_remove("QASE_HOOK_URL")
        .env_remove("QASE_HOOK_SECRET")
        .output()
        .expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A one-shot-per-connection HTTP server answering every request with `status` and `body`.
fn stub_server(status: u16, body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/webhooks/qase", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut buffer = [0u8; 65536];
            let mut request = Vec::new();
            // Read the head and the declared body.
            loop {
                let n = stream.read(&mut buffer).unwrap_or(0);
                if n == 0 {
                    break;
                }
                request.extend_from_slice(&buffer[..n]);
                let text = String::from_utf8_lossy(&request);
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let length = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if request.len() >= head_end + 4 + length {
                        break;
                    }
                }
            }
            let response = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    url
}

#[test]
fn events_lists_every_known_event() {
    let output = qase_hook(&["events"]);
    assert!(output.status.success());
    let text = stdout(&output);
    for event in EventName::ALL {
        assert!(text.contains(event.as_str()), "{event}");
    }
    assert!(text.contains("Test run start"));
}

#[test]
fn schema_prints_a_payload_schema_or_explains_why_not() {
    let output = qase_hook(&["schema", "run.completed"]);
    assert!(output.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(schema["title"], "RunCompleted");
    assert!(qase_hook(&["schema", "envelope"]).status.success());
    let output = qase_hook(&["schema", "result.created"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("no documented payload"));
}

#[test]
fn the_run_report_has_a_schema() {
    let output = qase_hook(&["schema", "run-report"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let schema: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(schema["title"], "RunReport");
    assert!(schema["required"]
        .as_array()
        .unwrap()
        .contains(&"failures".into()));
}

fn wait(base: &str, extra: &[&str], token: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_qase-hook"));
    command
        .args([
            "wait",
            "--project",
            "WEB",
            "--run",
            "42",
            "--url",
            base,
            "--timeout",
            "5s",
        ])
        .args(extra)
        .env_remove("QASE_HOOK_API_URL")
        .env_remove("QASE_ADMIN_TOKEN");
    if let Some(token) = token {
        command.env("QASE_ADMIN_TOKEN", token);
    }
    command.output().expect("the binary runs")
}

#[test]
fn wait_exits_by_the_thresholds_with_a_one_line_verdict() {
    const ENDED: &str = r#"{"project":"WEB","run":42,"status":"completed","done":true,"title":"Nightly","plan_id":null,"environment":null,"started_by":null,
        "counts":{"cases":4,"passed":3,"failed":1,"blocked":0,"skipped":null,"untested":null,"duration":0},"pass_rate":75.0,"duration_ms":0,
        "first_event_at":1,"last_event_at":2,"run_events":2,"results":{"created":4,"updated":0,"deleted":0},"deleted":false,"failures":null,
        "report_sent":false,"source":"webhook","reconciled":false,"url":"https://app.qase.io/run/WEB/dashboard/42"}"#;
    let base = stub_server(200, ENDED);
    let base = base.trim_end_matches("/webhooks/qase");
    let output = wait(base, &["--max-failed", "1"], Some("token"));
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "PASSED WEB run 42 \"Nightly\": 3 of 4 passed (75%), 1 failed, 0 blocked https://app.qase.io/run/WEB/dashboard/42\n"
    );
    let output = wait(base, &["--max-failed", "0"], Some("token"));
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).starts_with("FAILED WEB run 42"),
        "{}",
        stdout(&output)
    );
    let output = wait(base, &["--min-pass-rate", "80"], Some("token"));
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("pass rate 75% (at least 80% required)"));
}

#[test]
fn wait_exits_2_without_a_token_unreachable_or_refused() {
    let output = wait("http://127.0.0.1:1", &[], Some("token"));
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let output = wait("http://127.0.0.1:1", &[], None);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("no credential"));
    let refused = stub_server(401, r#"{"error":"unauthorized","message":"wrong token"}"#);
    let output = wait(
        refused.trim_end_matches("/webhooks/qase"),
        &[],
        Some("token"),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("401"), "{}", stderr(&output));
}

#[test]
fn every_generated_event_is_valid_for_the_core() {
    for event in EventName::ALL {
        let output = qase_hook(&["send", event.as_str(), "--print", "--project", "CLI"]);
        assert!(output.status.success(), "{event}: {}", stderr(&output));
        let body = output.stdout.trim_ascii_end();
        let envelope = Envelope::parse(body).unwrap_or_else(|e| panic!("{event}: {e}"));
        assert_eq!(&envelope.event_name, event);
        assert_eq!(envelope.project_code, "CLI");
        let typed = envelope.event().unwrap_or_else(|e| panic!("{event}: {e}"));
        assert_eq!(&typed.name(), event);
    }
}

#[test]
fn an_unknown_event_is_a_usage_error_that_says_what_to_do() {
    let output = qase_hook(&["send", "run.exploded", "--print"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("unknown event `run.exploded`"));
    assert!(stderr(&output).contains("qase-hook events"));
}

#[test]
fn a_refused_secret_exits_1_with_the_receivers_answer() {
    let url = stub_server(
        401,
        r#"{"error":"unauthorized","message":"missing or wrong X-Qase-Secret"}"#,
    );
    let output = qase_hook(&["send", "run.completed", "--url", &url, "--secret", "wrong"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stdout(&output).contains("401"));
    assert!(stdout(&output).contains("unauthorized"));
}

#[test]
fn an_unreachable_url_exits_2() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/webhooks/qase");
    let output = qase_hook(&["send", "run.completed", "--url", &url]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("cannot reach"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_load_run_prints_its_summary() {
    let url = stub_server(202, r#"{"status":"accepted"}"#);
    let output = qase_hook(&[
        "send",
        "run.completed",
        "case.created",
        "--url",
        &url,
        "--count",
        "40",
        "--concurrency",
        "4",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("sent 40"), "{text}");
    assert!(text.contains("accepted 40"), "{text}");
    assert!(text.contains("p99"), "{text}");
}

#[test]
fn verify_accepts_a_signed_request_and_refuses_a_tampered_one() {
    let secret_text = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let secret = SigningSecret::parse(secret_text).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let body = br#"{"event_name":"run.deleted"}"#;
    let signature = secret.sign("evt_1", now, body);
    let dir = std::env::temp_dir().join(format!("qase-hook-verify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let request = |body: &[u8]| {
        let mut text = format!(
            "webhook-id: evt_1\nwebhook-timestamp: {now}\nwebhook-signature: {signature}\n\n"
        )
        .into_bytes();
        text.extend_from_slice(body);
        text
    };
    let good = dir.join("good.txt");
    std::fs::write(&good, request(body)).unwrap();
    let output = qase_hook(&[
        "verify",
        "--secret",
        secret_text,
        "--request",
        good.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("signature valid"));

    let bad = dir.join("bad.txt");
    std::fs::write(&bad, request(br#"{"event_name":"run.completed"}"#)).unwrap();
    let output = qase_hook(&[
        "verify",
        "--secret",
        secret_text,
        "--request",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("no signature matches"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn api_commands_print_tables_or_json_and_report_refusals() {
    let page = r#"{"events":[{"id":"evt_1","event_name":"run.completed","entity":"run","action":"completed","project_code":"WEB","team_member_id":null,"received_at":1,"outcome":"accepted","reason":null,"duplicates":0,"last_duplicate_at":null,"run_id":42,"case_id":null,"defect_id":null,"plan_id":null,"milestone_id":null,"forward":"queued","size":2,"status":"accepted"}],"cursor":"abc"}"#;
    let url = stub_server(200, page).replace("/webhooks/qase", "");
    let output = qase_hook(&["api", "list", "--url", &url, "--token", "t0123456789abcdef"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("EVENT") && text.contains("run.completed") && text.contains("--cursor abc"),
        "{text}"
    );
    let output = qase_hook(&[
        "api",
        "list",
        "--json",
        "--url",
        &url,
        "--token",
        "t0123456789abcdef",
    ]);
    assert_eq!(stdout(&output).trim(), page);

    let refused = stub_server(
        401,
        r#"{"error":"unauthorized","message":"missing or wrong token"}"#,
    )
    .replace("/webhooks/qase", "");
    let output = qase_hook(&[
        "api",
        "dead-letters",
        "--url",
        &refused,
        "--token",
        "wrong-token-000000",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("401: missing or wrong token"),
        "{}",
        stderr(&output)
    );

    let output = Command::new(env!("CARGO_BIN_EXE_qase-hook"))
        .args(["api", "list", "--url", &url])
        .env_remove("QASE_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("no credential"));
}

/// A whole run view (`GET /api/runs/WEB/42`) with these `failures`.
macro_rules! run_view {
    ($failures:expr) => {
        concat!(
            r#"{"project":"WEB","run":42,"status":"completed","done":true,"title":"Nightly","plan_id":null,"environment":null,"started_by":0,"#,
            r#""counts":{"cases":4,"passed":3,"failed":1,"blocked":0,"skipped":null,"untested":null,"duration":0},"pass_rate":75.0,"duration_ms":0,"#,
            r#""first_event_at":1,"last_event_at":2,"run_events":2,"results":{"created":4,"updated":0,"deleted":0},"deleted":false,"#,
            $failures,
            r#","report_sent":true,"source":"reconciled","reconciled":true,"url":"https://app.qase.io/run/WEB/dashboard/42"}"#
        )
    };
}

#[test]
fn api_runs_prints_a_projects_runs_or_one_run_with_its_failures() {
    let token = "t0123456789abcdef";
    let page = concat!(
        r#"{"runs":["#,
        run_view!(r#""failures":null"#),
        r#"],"cursor":"200.42"}"#
    );
    let url = stub_server(200, page).replace("/webhooks/qase", "");
    let output = qase_hook(&[
        "api",
        "runs",
        "--project",
        "WEB",
        "--url",
        &url,
        "--token",
        token,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("PASS RATE") && text.contains("Nightly") && text.contains("--cursor 200.42"),
        "{text}"
    );
    let run = run_view!(
        r#""failures":{"source":"qase_api","items":[{"case_id":2,"title":"Checkout","status":"failed","url":"u"}],"more":0}"#
    );
    let url = stub_server(200, run).replace("/webhooks/qase", "");
    let output = qase_hook(&[
        "api",
        "runs",
        "--project",
        "WEB",
        "--run",
        "42",
        "--url",
        &url,
        "--token",
        token,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("failed WEB-2 Checkout") && text.contains("/run/WEB/dashboard/42"),
        "{text}"
    );
}

#[test]
fn api_stats_and_bulk_replay_print_their_summaries() {
    let token = "t0123456789abcdef";
    let stats = r#"{"since":0,"until":7200,"project":null,"totals":{"events":3,"accepted":2,"quarantined":1,"duplicates":4},"by_event":[{"event_name":"run.completed","events":3,"accepted":2,"quarantined":1,"duplicates":4}],"hours":[0,3600],"by_hour":[1,2],"by_entity_hour":{"run":[1,2]}}"#;
    let url = stub_server(200, stats).replace("/webhooks/qase", "");
    let output = qase_hook(&[
        "api", "stats", "--since", "0", "--until", "7200", "--url", &url, "--token", token,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("3 events: 2 accepted, 1 quarantined; 4 duplicates")
            && text.contains("run.completed")
            && text.contains("RUN")
            && text.contains("3600"),
        "{text}"
    );

    let replayed = r#"{"events":2,"messages":3,"skipped":1,"cursor":null}"#;
    let url = stub_server(202, replayed).replace("/webhooks/qase", "");
    let output = qase_hook(&[
        "api",
        "replay-all",
        "--run",
        "42",
        "--to",
        "ci",
        "--state",
        "dead",
        "--url",
        &url,
        "--token",
        token,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("replayed 2 events (3 messages); 1 match no enabled destination"),
        "{}",
        stdout(&output)
    );
    let output = qase_hook(&["api", "stats", "--url", &url, "--token", token]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "--since and --until are required"
    );
}

#[test]
fn the_version_names_the_commit_it_was_built_from() {
    let output = qase_hook(&["--version"]);
    assert!(output.status.success());
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .expect("git runs");
    let head = String::from_utf8_lossy(&head.stdout).trim().to_owned();
    let expected = format!("qase-hook {} ({head}", env!("CARGO_PKG_VERSION"));
    assert!(
        stdout(&output).starts_with(&expected),
        "{}",
        stdout(&output)
    );
}

#[test]
fn preview_prints_the_chat_body_of_an_event_or_a_file() {
    for (format, essential) in [
        ("slack", "/blocks"),
        ("teams", "/attachments/0/content/body"),
        ("discord", "/embeds/0/fields"),
        ("google_chat", "/cardsV2/0/card/sections"),
    ] {
        let output = qase_hook(&["preview", "--format", format, "run.completed"]);
        assert!(output.status.success(), "{format}: {}", stderr(&output));
        let body: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
        assert!(
            body.pointer(essential).is_some_and(|v| v.is_array()),
            "{format}: {body:#}"
        );
        assert!(stdout(&output).contains("https://app.qase.io/run/DEMO/dashboard/1"));
    }

    let dir = std::env::temp_dir().join(format!("qase-hook-preview-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("delivery.json");
    std::fs::write(
        &file,
        r#"{"event_name":"case.created","timestamp":1764547200,"payload":{"id":13,"title":"<!channel> @everyone"},"team_member_id":1,"project_code":"WEB"}"#,
    )
    .unwrap();
    let output = qase_hook(&[
        "preview",
        "--format",
        "slack",
        "--file",
        file.to_str().unwrap(),
        "--app-url",
        "https://qase.eu.example/",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("<https://qase.eu.example/case/WEB-13|&lt;!channel&gt; @\u{200B}everyone>"),
        "{text}"
    );
    assert!(!text.contains("<!channel>"), "{text}");

    let output = qase_hook(&["preview", "--format", "msteams", "run.completed"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("google_chat"),
        "{}",
        stderr(&output)
    );

    std::fs::write(&file, "{}").unwrap();
    let output = qase_hook(&[
        "preview",
        "--format",
        "teams",
        "--file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("not a Qase delivery"),
        "{}",
        stderr(&output)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn api_destinations_pause_resume_and_watch_show_the_guard() {
    let token = "t0123456789abcdef";
    let page = r#"{"destinations":[{"name":"ci","format":"standard","enabled":true,"alerts":false,"reports":false,"state":"paused","since":1,"reason":"10 failures in a row (last: HTTP 503)","paused_by_operator":false,"consecutive_failures":10,"held":7,"next_probe_at":2,"last_24h":{"delivered":3,"failed":1,"dead":0,"success_rate":0.75},"last_error":"HTTP 503","last_error_at":3,"last_success_at":null},
        {"name":"chat","format":"slack","enabled":true,"alerts":true,"reports":false,"state":null,"since":null,"reason":null,"paused_by_operator":false,"consecutive_failures":0,"held":0,"next_probe_at":null,"last_24h":{"delivered":0,"failed":0,"dead":0,"success_rate":null},"last_error":null,"last_error_at":null,"last_success_at":null}]}"#;
    let url = stub_server(200, page).replace("/webhooks/qase", "");
    let output = qase_hook(&["api", "destinations", "--url", &url, "--token", token]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("STATE") && text.contains("paused") && text.contains("75.0 %"),
        "{text}"
    );
    assert!(text.contains("unknown"), "an unreachable breaker: {text}");

    let paused = r#"{"consecutive_failures":0,"held":0,"name":"ci","next_probe_at":null,"paused_by_operator":true,"reason":"paused by an operator","since":1,"state":"paused"}"#;
    let url = stub_server(200, paused).replace("/webhooks/qase", "");
    let output = qase_hook(&["api", "pause", "ci", "--url", &url, "--token", token]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output).trim(),
        "ci: paused (by an operator), 0 held"
    );

    let missing = stub_server(
        404,
        r#"{"error":"destination_not_found","message":"no destination of this name is configured"}"#,
    )
    .replace("/webhooks/qase", "");
    let output = qase_hook(&["api", "resume", "nope", "--url", &missing, "--token", token]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(
        stderr(&output).contains("no destination of this name"),
        "{}",
        stderr(&output)
    );

    let health = r#"{"status":"ok","watch":[{"project":"WEB","last_delivery_at":1700000000000,"window_seconds":86400,"quiet":true,"alerted_at":1700000001000}],"webhooks":[{"project":"MOB","state":"suspected_disabled","last_delivery_at":1700000000000,"grace_seconds":1800,"suspected_at":1700003600000,"runs_untold":3,"run":42,"alerted_at":1700003600000,"checked_at":1700003600000}]}"#;
    let url = stub_server(200, health).replace("/webhooks/qase", "");
    let output = qase_hook(&["api", "watch", "--url", &url, "--token", token]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("WEB") && text.contains("quiet") && text.contains("86400"),
        "{text}"
    );
    assert!(
        text.contains("MOB") && text.contains("suspected disabled") && text.contains("42"),
        "{text}"
    );
    let output = qase_hook(&["api", "watch", "--json", "--url", &url, "--token", token]);
    let json: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(json["watch"][0]["project"], "WEB");
    assert_eq!(json["webhooks"][0]["state"], "suspected_disabled");
}

#[test]
fn an_answer_with_a_field_missing_or_renamed_is_refused_naming_it() {
    let token = "t0123456789abcdef";
    // `run_id` renamed `run`: it must not read as "no run".
    let page = r#"{"events":[{"id":"evt_1","event_name":"run.completed","entity":"run","action":"completed","project_code":"WEB","team_member_id":null,"received_at":1,"outcome":"accepted","reason":null,"duplicates":0,"last_duplicate_at":null,"run":42,"case_id":null,"defect_id":null,"plan_id":null,"milestone_id":null,"forward":"queued","size":2,"status":"accepted"}],"cursor":null}"#;
    let url = stub_server(200, page).replace("/webhooks/qase", "");
    let output = qase_hook(&["api", "list", "--url", &url, "--token", token]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));
    assert!(
        stderr(&output).contains("run_id") && stderr(&output).contains("events[0]"),
        "{}",
        stderr(&output)
    );

    // `events` missing from a bulk replay: it must not add up as 0.
    let replayed = r#"{"messages":3,"skipped":1,"cursor":null}"#;
    let url = stub_server(202, replayed).replace("/webhooks/qase", "");
    let output = qase_hook(&["api", "replay-all", "--url", &url, "--token", token]);
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(
        stderr(&output).contains("missing field `events`"),
        "{}",
        stderr(&output)
    );
}
