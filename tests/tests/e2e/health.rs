//! `GET /health`.
//! 1. Answers 200 with the version, the commit it was built from (the one
//!    `qase-hook --version` names), auth mode and sinks.
//! 2. Never shows a secret.
//! 3. Reports a missing secret as `no_secret_configured`.

use qase_edge_e2e::{Worker, WorkerOptions, SECRET};

use crate::default_worker;

#[tokio::test]
async fn health_reports_version_auth_and_sinks_without_secrets() {
    let worker = default_worker();
    let response = reqwest::get(worker.url("/health")).await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(!text.contains(SECRET), "{text}");
    let health: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    let commit = health["commit"].as_str().unwrap();
    assert!(commit.starts_with(&head_commit()), "{commit}");
    // qase-hook's own test checks its `--version` against the same HEAD.
    assert_eq!(health["auth"], "required");
    assert_eq!(health["secrets_configured"], 1);
    // D1 and the queue by default; KV is bound but written only when asked.
    assert_eq!(health["sinks"], serde_json::json!(["d1", "queue"]));
    assert_eq!(
        health["bound_sinks"],
        serde_json::json!(["d1", "kv", "queue"])
    );
}

#[tokio::test]
async fn health_says_when_no_secret_is_configured() {
    let worker = Worker::start(WorkerOptions::default());
    let health = worker.health().await;
    assert_eq!(health["status"], "no_secret_configured");
}

/// The commit checked out, as the build scripts name it.
fn head_commit() -> String {
    let output = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .expect("git runs");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}
