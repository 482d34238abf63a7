//! "Webhook suspected disabled" (issue #29), against the local Qase API,
//! with the cron fired through the scheduled endpoint:
//! 1. A silent project (`SILENT`) whose API shows a run started after its
//!    last delivery, while no delivery arrives for longer than the grace,
//!    gets one "suspected disabled" alert saying what to do in Qase, and
//!    not the watchdog's "quiet"; the cron fired again: still one.
//!    `/health` says `suspected_disabled`, and the API was asked once, for
//!    any run in the window, with `limit=1`.
//! 2. A quiet project (`QUIET`) with no run in the API gets the
//!    watchdog's "quiet" alert, not the "suspected disabled" one.
//! 3. A delivery from `SILENT` clears it: `/health` says `clear` at once,
//!    and the next pass says "delivers again" once, without the
//!    watchdog's "back" besides.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use qase_edge_e2e::qase_api::{QaseApi, TestRun};
use qase_edge_e2e::sink::{Reply, Sink};
use qase_edge_e2e::{envelope, Worker, WorkerOptions};
use serde_json::{json, Value};

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn worker(qase: &QaseApi, sink: &Sink) -> Worker {
    // An alert destination (Slack) that receives no events itself.
    let destinations = json!([{"name": "alerts", "url": sink.url("/alerts"), "format": "slack",
        "alerts": true, "pace_ms": 0, "projects": ["NO-EVENTS"]}]);
    Worker::start(
        WorkerOptions::with_api()
            .var("QASE_DESTINATIONS", &destinations.to_string())
            .var("QASE_API_URL", &qase.base_url())
            .var("QASE_API_TOKEN", qase.token())
            .var("QASE_WATCH", r#"{"SILENT": "6s", "QUIET": "6s"}"#)
            .var("QASE_DISABLED_GRACE", "2s")
            .var("QASE_ALERT_INTERVAL_SECONDS", "0")
            .var("QASE_DEDUPE_SECONDS", "0"),
    )
}

/// The alerts received whose text names `project`.
fn alerts_about(sink: &Sink, project: &str) -> Vec<String> {
    sink.received("/alerts")
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .filter(|text| text.contains(project))
        .collect()
}

fn webhook(health: &Value, project: &str) -> Value {
    health["webhooks"]
        .as_array()
        .and_then(|all| all.iter().find(|w| w["project"] == project))
        .cloned()
        .unwrap_or_else(|| panic!("no webhook of {project} in {health}"))
}

#[tokio::test]
async fn a_silent_project_whose_api_shows_runs_is_suspected_disabled_once_and_a_delivery_clears_it()
{
    let qase = QaseApi::start("qase-api-token");
    let sink = Sink::start();
    sink.always("/alerts", Reply::status(200));
    let worker = worker(&qase, &sink);
    for (n, project) in [(1, "SILENT"), (2, "QUIET")] {
        worker
            .accept(envelope("milestone.deleted", project, json!({"id": n})))
            .await;
    }
    let delivered = now_s();
    // SILENT: a run started after its last delivery, and no delivery of it.
    // QUIET: only a run from before its last delivery.
    for (project, id, start_time) in [("SILENT", 7, delivered + 1), ("QUIET", 8, delivered - 600)] {
        qase.run(TestRun {
            project: project.into(),
            id,
            title: format!("Nightly {id}"),
            status: "in_progress".into(),
            start_time,
            end_time: None,
            statuses: BTreeMap::new(),
            tags: Vec::new(),
        });
    }
    // The scenario: the grace after the run's start, and the watch window,
    // pass in silence.
    tokio::time::sleep(Duration::from_secs(7)).await;
    worker.scheduled().await;
    sink.wait_for(&worker, "/alerts", 2, Duration::from_secs(15))
        .await;
    worker.scheduled().await;
    sink.assert_quiet_for("/alerts", Duration::from_secs(1))
        .await;

    let silent = alerts_about(&sink, "SILENT");
    assert_eq!(silent.len(), 1, "one alert per window: {silent:?}");
    for words in [
        "Webhook of project SILENT suspected disabled",
        "Settings → Webhooks",
        "re-enable the webhook",
        "endpoint URL",
        "secret",
        "/project/SILENT/settings/webhooks",
        "run 7",
    ] {
        assert!(silent[0].contains(words), "{words}: {silent:?}");
    }
    let quiet = alerts_about(&sink, "QUIET");
    assert!(!quiet.is_empty(), "{quiet:?}");
    assert!(
        quiet.iter().all(|t| t.contains("QUIET is quiet")),
        "the watchdog's alert, not the disabled one: {quiet:?}"
    );

    let health = worker.health().await;
    let suspected = webhook(&health, "SILENT");
    assert_eq!(suspected["state"], "suspected_disabled", "{health}");
    assert_eq!(suspected["run"], 7, "{health}");
    assert_eq!(suspected["grace_seconds"], 2, "{health}");
    assert_eq!(webhook(&health, "QUIET")["state"], "clear", "{health}");
    let asked: Vec<String> = qase
        .requests()
        .into_iter()
        .map(|(target, _)| target)
        .filter(|target| target.starts_with("/v1/run/SILENT?from_start_time="))
        .collect();
    assert_eq!(asked.len(), 1, "asked once, not again: {asked:?}");
    assert!(
        asked[0].contains("&to_start_time=") && asked[0].ends_with("&limit=1&offset=0"),
        "{asked:?}"
    );

    // A delivery from SILENT: clear at once, then one "delivers again".
    worker
        .accept(envelope("milestone.deleted", "SILENT", json!({"id": 3})))
        .await;
    worker
        .wait_until("SILENT clear", Duration::from_secs(10), async || {
            let health = worker.health().await;
            (webhook(&health, "SILENT")["state"] == "clear").then_some(())
        })
        .await;
    worker.scheduled().await;
    worker
        .wait_until(
            "SILENT delivers again",
            Duration::from_secs(15),
            async || (alerts_about(&sink, "SILENT").len() >= 2).then_some(()),
        )
        .await;
    worker.scheduled().await;
    sink.assert_quiet_for_matching("/alerts", Duration::from_secs(1), |r| {
        String::from_utf8_lossy(&r.body).contains("SILENT")
    })
    .await;
    let silent = alerts_about(&sink, "SILENT");
    assert_eq!(silent.len(), 2, "{silent:?}");
    assert!(
        silent[1].contains("Webhook of project SILENT delivers again"),
        "{silent:?}"
    );
    assert!(
        silent.iter().all(|t| !t.contains("Project SILENT")),
        "no watchdog alert about SILENT besides: {silent:?}"
    );
}
