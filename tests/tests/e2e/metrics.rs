//! `GET /metrics` (issue #32), parsed by a maintained parser: Python's
//! `prometheus_client` (`text_string_to_metric_families`, installed by
//! `scripts/toolchain.sh`'s `ensure_test_tools`).
//! 1. After a known sequence (accepted, a duplicate, a quarantined event,
//!    a delivery delivered, one retried then delivered, one dead-lettered
//!    by a destination answering 400, one held by a destination an operator
//!    paused, a completed run, a watched project gone quiet) every counter
//!    and gauge reads exactly what was sent.
//! 2. A project code with `"` and `\` (ingest refuses control characters
//!    in one), and a watched project with `"`, `\` and a new line
//!    (`QASE_WATCH` takes any), are escaped and parsed back exactly.
//! 3. Auth: `401` without a token or with a wrong one; `200` with the
//!    metrics token and with the admin token; the metrics token is refused
//!    on `/api/events` (it reads metrics only). Without any token
//!    configured `/metrics` is `404`.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use qase_edge_e2e::sink::{Reply, Sink};
use qase_edge_e2e::{envelope, post, Worker, WorkerOptions, ADMIN_TOKEN, SECRET};
use serde_json::{json, Value};

const METRICS_TOKEN: &str = "e2e-metrics-token-0123456789";

/// A project code the exposition must escape.
const ODD_PROJECT: &str = "we\"ird\\code";

/// A watched project whose name also has a new line.
const ODD_WATCHED: &str = "qu\"i\\et\nproject";

/// A sample as the parser reads it: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// Parses the exposition with `prometheus_client`: each sample, and each
/// family's type.
fn parse(text: &str) -> (Vec<Sample>, BTreeMap<String, String>) {
    let script = "import sys, json\n\
        from prometheus_client.parser import text_string_to_metric_families\n\
        out = {'samples': [], 'types': {}}\n\
        for f in text_string_to_metric_families(sys.stdin.read()):\n\
        \x20   out['types'][f.name] = f.type\n\
        \x20   out['samples'] += [[s.name, s.labels, s.value] for s in f.samples]\n\
        print(json.dumps(out))\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (scripts/toolchain.sh installs prometheus_client)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "prometheus_client refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&output.stderr)
    );
    let parsed: Value = serde_json::from_slice(&output.stdout).unwrap();
    let samples = parsed["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let labels = serde_json::from_value(s[1].clone()).unwrap();
            (
                s[0].as_str().unwrap().to_owned(),
                labels,
                s[2].as_f64().unwrap(),
            )
        })
        .collect();
    let types = serde_json::from_value(parsed["types"].clone()).unwrap();
    (samples, types)
}

/// `GET /metrics` with `token`: status, content type and body.
async fn scrape(worker: &Worker, token: Option<&str>) -> (u16, String, String) {
    let mut request = reqwest::Client::new().get(worker.url("/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the Worker answers");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

/// The figures of one scrape.
struct Scrape(Vec<Sample>);

impl Scrape {
    async fn of(worker: &Worker) -> Scrape {
        let (status, _, text) = scrape(worker, Some(METRICS_TOKEN)).await;
        assert_eq!(status, 200, "{text}");
        Scrape(parse(&text).0)
    }

    /// The value of `name` with exactly `labels`.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let labels: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.0
            .iter()
            .find(|(n, l, _)| n == name && *l == labels)
            .map(|(_, _, v)| *v)
    }

    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels)
            .unwrap_or_else(|| panic!("no {name} {labels:?} in {:?}", self.0))
    }
}

fn options(sink: &Sink) -> WorkerOptions {
    let web = |name: &str| json!({"name": name, "url": sink.url(&format!("/{name}")), "projects": ["WEB"]});
    let destinations = json!([
        {"name": "ok", "url": sink.url("/ok"), "projects": ["WEB", "RUNS"]},
        web("flaky"),
        web("refuse"),
        web("held"),
    ]);
    WorkerOptions::with_api()
        .var("QASE_METRICS_TOKEN", METRICS_TOKEN)
        .var("QASE_DESTINATIONS", &destinations.to_string())
        .var("QASE_RETRY_BASE_SECONDS", "1")
        .var("QASE_RETRY_CAP_SECONDS", "2")
        .var(
            "QASE_WATCH",
            &json!({"SILENT": "1s", "WEB": "1h", ODD_WATCHED: "1s"}).to_string(),
        )
}

/// The sequence of scenario 1 (and the odd project of scenario 2).
async fn send_the_sequence(worker: &Worker) {
    let (status, body) = worker
        .api(reqwest::Method::POST, "/api/destinations/held/pause")
        .await;
    assert_eq!(status, 200, "{body}");
    let first = envelope("case.created", "WEB", json!({"id": 1}));
    worker.accept(first.clone()).await;
    let (status, body) = post(worker, first, &[("X-Qase-Secret", SECRET)]).await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("duplicate")),
        "{body}"
    );
    let off_model = envelope("run.completed", "QUAR", json!({"id": "forty-two"}));
    let (status, body) = post(worker, off_model, &[("X-Qase-Secret", SECRET)]).await;
    assert_eq!(
        (status, &body["status"]),
        (202, &json!("quarantined")),
        "{body}"
    );
    worker
        .accept(envelope("case.created", ODD_PROJECT, json!({"id": 2})))
        .await;
    worker
        .accept(envelope(
            "run.started",
            "RUNS",
            json!({"id": 7, "title": "Nightly", "cases_count": 4}),
        ))
        .await;
    worker
        .accept(envelope(
            "run.completed",
            "RUNS",
            json!({"id": 7, "cases": 4, "passed": 3, "failed": 1, "blocked": 0, "duration": 10}),
        ))
        .await;
}

/// Scrapes until every delivery has settled where the sequence puts it.
async fn settled(worker: &Worker) -> Scrape {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let figures = Scrape::of(worker).await;
        let settled = figures.get(
            "qase_edge_deliveries",
            &[("destination", "ok"), ("state", "delivered")],
        ) == Some(3.0)
            && figures.get(
                "qase_edge_deliveries",
                &[("destination", "flaky"), ("state", "delivered")],
            ) == Some(1.0)
            && figures.get("qase_edge_dead_letters_total", &[("destination", "refuse")])
                == Some(1.0)
            && figures.get("qase_edge_held_events", &[("destination", "held")]) == Some(1.0)
            && figures
                .get("qase_edge_run_pass_ratio", &[("project", "RUNS")])
                .is_some();
        if settled {
            return figures;
        }
        if Instant::now() > deadline {
            worker.timed_out("the deliveries to settle", Duration::from_secs(60));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn assert_events(figures: &Scrape) {
    let events = |project: &str, event: &str, outcome: &str| {
        figures.value(
            "qase_edge_events_total",
            &[("project", project), ("event", event), ("outcome", outcome)],
        )
    };
    assert_eq!(events("WEB", "case.created", "accepted"), 1.0);
    assert_eq!(events("QUAR", "run.completed", "quarantined"), 1.0);
    assert_eq!(
        events(ODD_PROJECT, "case.created", "accepted"),
        1.0,
        "escaped and read back"
    );
    assert_eq!(events("RUNS", "run.started", "accepted"), 1.0);
    assert_eq!(events("RUNS", "run.completed", "accepted"), 1.0);
    let series = figures
        .0
        .iter()
        .filter(|(n, _, _)| n == "qase_edge_events_total")
        .count();
    assert_eq!(series, 5, "{:?}", figures.0);
    assert_eq!(figures.value("qase_edge_duplicates_total", &[]), 1.0);
}

fn assert_deliveries(figures: &Scrape) {
    let state = |d: &str, s: &str| {
        figures.value("qase_edge_deliveries", &[("destination", d), ("state", s)])
    };
    let by = |name: &str, d: &str| figures.value(name, &[("destination", d)]);
    assert_eq!(
        (
            state("ok", "delivered"),
            state("ok", "retrying"),
            state("ok", "dead")
        ),
        (3.0, 0.0, 0.0)
    );
    assert_eq!(
        (state("flaky", "delivered"), state("flaky", "dead")),
        (1.0, 0.0)
    );
    assert_eq!(
        (state("refuse", "dead"), state("refuse", "delivered")),
        (1.0, 0.0)
    );
    assert_eq!(state("held", "delivered"), 0.0, "held, not attempted");
    assert_eq!(
        ["ok", "flaky", "refuse"].map(|d| by("qase_edge_delivery_attempts_total", d)),
        [3.0, 2.0, 1.0]
    );
    assert_eq!(
        ["ok", "flaky", "refuse"].map(|d| by("qase_edge_delivery_retries_total", d)),
        [0.0, 1.0, 0.0]
    );
    assert_eq!(
        ["ok", "flaky", "refuse", "held"].map(|d| by("qase_edge_dead_letters_total", d)),
        [0.0, 0.0, 1.0, 0.0]
    );
}

fn assert_gauges(figures: &Scrape) {
    let breaker = |d: &str, s: &str| {
        figures.value(
            "qase_edge_breaker_state",
            &[("destination", d), ("state", s)],
        )
    };
    assert_eq!(
        ["active", "paused", "probing", "draining"].map(|s| breaker("held", s)),
        [0.0, 1.0, 0.0, 0.0]
    );
    assert_eq!(breaker("ok", "active"), 1.0);
    assert_eq!(breaker("ok", "paused"), 0.0);
    assert_eq!(
        figures.value("qase_edge_held_events", &[("destination", "held")]),
        1.0
    );
    assert_eq!(
        figures.value("qase_edge_held_events", &[("destination", "ok")]),
        0.0
    );
    assert_eq!(
        figures.value("qase_edge_project_quiet", &[("project", "SILENT")]),
        1.0
    );
    assert_eq!(
        figures.value("qase_edge_project_quiet", &[("project", "WEB")]),
        0.0
    );
    assert_eq!(
        figures.value("qase_edge_project_quiet", &[("project", ODD_WATCHED)]),
        1.0,
        "escaped and read back"
    );
    assert_eq!(
        figures.value(
            "qase_edge_runs_finished_total",
            &[("project", "RUNS"), ("status", "completed")]
        ),
        1.0
    );
    assert_eq!(
        figures.get("qase_edge_runs_in_progress", &[("project", "RUNS")]),
        None
    );
    assert_eq!(
        figures.value("qase_edge_run_pass_ratio", &[("project", "RUNS")]),
        0.75
    );
}

#[tokio::test]
async fn a_known_sequence_reads_exactly_and_parses_with_prometheus_client() {
    let sink = Sink::start();
    sink.always("/ok", Reply::status(200));
    sink.script("/flaky", vec![Reply::status(500)]);
    sink.always("/refuse", Reply::status(400));
    sink.always("/held", Reply::status(200));
    let worker = Worker::start(options(&sink));
    send_the_sequence(&worker).await;
    settled(&worker).await;
    // The watchdog's first run starts the watch on SILENT; a second later
    // it has been silent past its one-second window.
    worker.scheduled().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let (status, content_type, text) = scrape(&worker, Some(METRICS_TOKEN)).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert!(text.contains(r#"project="we\"ird\\code""#), "{text}");
    assert!(text.contains(r#"project="qu\"i\\et\nproject""#), "{text}");
    let (samples, types) = parse(&text);
    assert_eq!(types["qase_edge_events"], "counter", "{types:?}");
    assert_eq!(types["qase_edge_breaker_state"], "gauge", "{types:?}");
    let figures = Scrape(samples);
    assert_events(&figures);
    assert_deliveries(&figures);
    assert_gauges(&figures);
    assert!(
        sink.received("/held").is_empty(),
        "paused: nothing attempted"
    );
    assert_eq!(sink.received("/flaky").len(), 2);
}

#[tokio::test]
async fn metrics_need_a_token_and_the_metrics_token_reads_nothing_else() {
    let sink = Sink::start();
    let worker = Worker::start(options(&sink));
    let (status, content_type, body) = scrape(&worker, None).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["error"], "unauthorized");
    let (status, _, _) = scrape(&worker, Some("e2e-metrics-token-012345678")).await;
    assert_eq!(status, 401, "a prefix of the token");
    let (status, _, text) = scrape(&worker, Some(METRICS_TOKEN)).await;
    assert_eq!(status, 200);
    assert!(
        text.contains("# TYPE qase_edge_events_total counter"),
        "{text}"
    );
    let (status, _, _) = scrape(&worker, Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200, "the admin token reads metrics too");
    let response = reqwest::Client::new()
        .get(worker.url("/api/events"))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401, "metrics only");
    drop(worker);

    let off = Worker::start(WorkerOptions::with_secret());
    let (status, _, body) = scrape(&off, Some(METRICS_TOKEN)).await;
    assert_eq!(status, 404, "{body}");
}
