//! Secrets.
//! 1. Rotation: both `QASE_WEBHOOK_SECRET` and `QASE_WEBHOOK_SECRET_NEXT` work.
//! 2. A project with its own secret accepts only that one, and its secret
//!    opens no other project.
//! 3. `QASE_AUTH=disabled` accepts without a secret and warns on every request.
//! 4. No secret, configured or presented, appears in a response or a log line.

use qase_edge_e2e::{envelope, post, Worker, WorkerOptions, SECRET};
use serde_json::json;

#[tokio::test]
async fn rotation_and_project_secrets() {
    let worker = Worker::start(
        WorkerOptions::with_secret()
            .var("QASE_WEBHOOK_SECRET_NEXT", "next-secret-value")
            .var("QASE_PROJECT_SECRETS", r#"{"PRIV":"private-secret-value"}"#)
            // Every delivery's line, accepted ones too (the default logs refused ones).
            .var("QASE_LOG_DELIVERIES", "all"),
    );
    let mut responses = String::new();
    let mut sent = 0;
    let mut check = async |project: &str, secret: &str, expected: u16| {
        sent += 1;
        let body = envelope("run.deleted", project, json!({"id": sent}));
        let (status, response) = post(&worker, body, &[("X-Qase-Secret", secret)]).await;
        assert_eq!(status, expected, "{project} with {secret}: {response}");
        responses.push_str(&response.to_string());
    };
    check("OPEN", SECRET, 202).await;
    check("OPEN", "next-secret-value", 202).await;
    check("PRIV", "private-secret-value", 202).await;
    check("PRIV", SECRET, 401).await;
    check("OPEN", "private-secret-value", 401).await;
    check("OPEN", "presented-wrong-secret", 401).await;

    let logs = worker.logs_when("six deliveries logged", |logs| {
        logs.matches(r#""event":"delivery""#).count() >= 6
    });
    for secret in [
        SECRET,
        "next-secret-value",
        "private-secret-value",
        "presented-wrong-secret",
    ] {
        assert!(!responses.contains(secret), "{secret} in a response");
        assert!(!logs.contains(secret), "{secret} in the logs:\n{logs}");
    }
    assert!(logs.contains(r#""outcome":"accepted""#), "{logs}");
}

#[tokio::test]
async fn disabled_auth_accepts_without_a_secret_and_says_so_every_time() {
    let worker = Worker::start(
        WorkerOptions::default()
            .var("QASE_AUTH", "disabled")
            .var("QASE_LOG_DELIVERIES", "all"),
    );
    for id in 0..2 {
        let body = envelope("run.deleted", "LOCAL", json!({"id": id}));
        let (status, response) = post(&worker, body, &[]).await;
        assert_eq!(status, 202, "{response}");
    }
    let logs = worker.logs_when("two unauthenticated deliveries logged", |logs| {
        logs.matches(r#""unauthenticated":true"#).count() >= 2
    });
    assert_eq!(
        logs.matches("without checking its secret").count(),
        2,
        "{logs}"
    );
    assert_eq!(
        logs.matches(r#""unauthenticated":true"#).count(),
        2,
        "{logs}"
    );
}
