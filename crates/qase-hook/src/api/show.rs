//! The operator API's answers as text: tables, an event's detail, the
//! stats. Every cell is the field's JSON text (`-` for `null`), as it was
//! when these read untyped JSON.

use engine::alerts::disabled::WebhookState;
use engine::api::answers::{
    DeadLetterRow, DestinationView, EventDetail, EventSummary, RunView, Stats, WatchView,
    WebhookView,
};
use serde::Serialize;
use serde_json::{json, Value};

/// A JSON value as table text.
fn s(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// A field as table text: its JSON, as [`s`] shows it.
pub fn cell(value: &impl Serialize) -> String {
    s(&serde_json::to_value(value).unwrap_or(Value::Null))
}

pub fn table(headers: &[&str], rows: impl Iterator<Item = Vec<String>>) {
    let rows: Vec<Vec<String>> = rows.collect();
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([h.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(headers.iter().map(|h| h.to_string()).collect());
    if rows.is_empty() {
        println!("(none)");
    }
    for row in rows {
        line(row);
    }
}

pub const AUDIT_COLUMNS: &[&str] = &[
    "AT",
    "WHO",
    "CREDENTIAL",
    "ROLE",
    "ACTION",
    "STATUS",
    "TARGET",
];

pub fn audit_row(e: &engine::api::audit::AuditRow) -> Vec<String> {
    vec![
        cell(&e.at),
        e.actor.clone(),
        cell(&e.credential),
        e.role.as_str().to_owned(),
        cell(&e.action),
        e.status.to_string(),
        e.target.clone(),
    ]
}

pub fn cursor_line(cursor: Option<&str>) {
    if let Some(cursor) = cursor {
        println!("\nmore: --cursor {cursor}");
    }
}

/// The columns of `api runs`, one row a run (`run_row`).
pub const RUN_COLUMNS: &[&str] = &[
    "RUN",
    "STATUS",
    "TITLE",
    "PASSED",
    "FAILED",
    "BLOCKED",
    "PASS RATE",
];

/// A run as a table row.
pub fn run_row(run: &RunView) -> Vec<String> {
    vec![
        cell(&run.run),
        cell(&run.status),
        cell(&run.title),
        cell(&run.counts.map(|c| c.passed)),
        cell(&run.counts.map(|c| c.failed)),
        cell(&run.counts.map(|c| c.blocked)),
        cell(&run.pass_rate),
    ]
}

/// One run: its row, its failed and blocked cases, its page in Qase.
pub fn run(project: &str, view: RunView) {
    table(RUN_COLUMNS, [run_row(&view)].into_iter());
    for failure in view.failures.iter().flat_map(|f| &f.items) {
        println!(
            "  {} {}-{} {}",
            cell(&failure.status),
            project,
            failure.case_id,
            cell(&failure.title)
        );
    }
    println!("{}", view.url);
}

pub const DESTINATION_COLUMNS: &[&str] = &[
    "NAME",
    "FORMAT",
    "STATE",
    "HELD",
    "FAILURES",
    "SUCCESS 24H",
    "LAST ERROR",
    "REASON",
];

/// A destination as a table row.
pub fn destination_row(d: &DestinationView) -> Vec<String> {
    let rate = match d.last_24h.success_rate {
        Some(rate) => format!("{:.1} %", rate * 100.0),
        None => "-".to_owned(),
    };
    let state = match (&d.breaker.state, d.breaker.paused_by_operator) {
        (None, _) => "unknown".to_owned(),
        (state, true) => format!("{} (operator)", cell(state)),
        (state, false) => cell(state),
    };
    vec![
        d.name.clone(),
        d.format.clone(),
        state,
        cell(&d.breaker.held),
        cell(&d.breaker.consecutive_failures),
        rate,
        cell(&d.last_error),
        cell(&d.breaker.reason),
    ]
}

/// The watched projects.
pub fn watch(watch: &[WatchView]) {
    table(
        &[
            "PROJECT",
            "LAST DELIVERY (ms)",
            "WINDOW (s)",
            "STATE",
            "ALERTED (ms)",
        ],
        watch.iter().map(|p| {
            vec![
                p.project.clone(),
                cell(&p.last_delivery_at),
                cell(&p.window_seconds),
                if p.quiet { "quiet" } else { "receiving" }.to_owned(),
                cell(&p.alerted_at),
            ]
        }),
    );
}

/// The reconciled projects' webhooks (issue #29).
pub fn webhooks(webhooks: &[WebhookView]) {
    table(
        &[
            "PROJECT",
            "WEBHOOK",
            "LAST DELIVERY (ms)",
            "RUNS UNTOLD",
            "RUN",
            "SUSPECTED (ms)",
            "ALERTED (ms)",
        ],
        webhooks.iter().map(|w| {
            let state = match w.state {
                WebhookState::Clear => "clear",
                WebhookState::SuspectedDisabled => "suspected disabled",
            };
            vec![
                w.project.clone(),
                state.to_owned(),
                cell(&w.last_delivery_at),
                cell(&w.runs_untold),
                cell(&w.run),
                cell(&w.suspected_at),
                cell(&w.alerted_at),
            ]
        }),
    );
}

pub const EVENT_COLUMNS: &[&str] = &[
    "ID",
    "EVENT",
    "PROJECT",
    "RECEIVED (ms)",
    "OUTCOME",
    "RUN",
    "DUPLICATES",
];

/// A listed event as a table row.
pub fn event_row(e: &EventSummary) -> Vec<String> {
    vec![
        e.id.clone(),
        e.event_name.clone(),
        e.project_code.clone(),
        cell(&e.received_at),
        cell(&e.status),
        cell(&e.run_id),
        cell(&e.duplicates),
    ]
}

pub const DEAD_LETTER_COLUMNS: &[&str] = &[
    "ID",
    "DESTINATION",
    "EVENT",
    "ATTEMPTS",
    "LAST STATUS",
    "REASON",
];

/// A dead letter as a table row.
pub fn dead_letter_row(d: &DeadLetterRow) -> Vec<String> {
    vec![
        d.id.clone(),
        d.destination.clone(),
        d.event_name.clone(),
        cell(&d.attempts),
        cell(&d.last_status),
        cell(&d.reason),
    ]
}

/// An event's columns that are set, one a line.
fn event_fields(e: &EventSummary) {
    let fields = [
        ("id", json!(e.id)),
        ("event_name", json!(e.event_name)),
        ("project_code", json!(e.project_code)),
        ("received_at", json!(e.received_at)),
        ("outcome", json!(e.outcome)),
        ("reason", json!(e.reason)),
        ("duplicates", json!(e.duplicates)),
        ("run_id", json!(e.run_id)),
        ("case_id", json!(e.case_id)),
        ("defect_id", json!(e.defect_id)),
        ("plan_id", json!(e.plan_id)),
        ("milestone_id", json!(e.milestone_id)),
        ("forward", json!(e.forward)),
        ("size", json!(e.size)),
    ];
    for (field, value) in fields {
        if !value.is_null() {
            println!("{field:<14} {}", s(&value));
        }
    }
}

/// An event: its columns, its deliveries, its body.
pub fn event(detail: EventDetail) {
    event_fields(&detail.event);
    println!();
    table(
        &[
            "DESTINATION",
            "STATUS",
            "ATTEMPTS",
            "LAST STATUS",
            "LAST ERROR",
        ],
        detail.deliveries.iter().map(|d| {
            vec![
                d.destination.clone(),
                cell(&d.status),
                cell(&d.attempts),
                cell(&d.last_status),
                cell(&d.last_error),
            ]
        }),
    );
    let body: Value = serde_json::from_str(detail.body.get()).unwrap_or_default();
    println!(
        "\n{}",
        serde_json::to_string_pretty(&body).unwrap_or_default()
    );
}

/// The stats: totals, per event name, per hour and entity.
pub fn stats(stats: Stats) {
    let totals = &stats.totals;
    println!(
        "{} events: {} accepted, {} quarantined; {} duplicates\n",
        totals.events, totals.accepted, totals.quarantined, totals.duplicates
    );
    table(
        &["EVENT", "EVENTS", "ACCEPTED", "QUARANTINED"],
        stats.by_event.iter().map(|e| {
            vec![
                e.event_name.clone(),
                cell(&e.totals.events),
                cell(&e.totals.accepted),
                cell(&e.totals.quarantined),
            ]
        }),
    );
    println!();
    let mut headers = vec!["HOUR (UTC, Unix s)".to_owned(), "EVENTS".to_owned()];
    headers.extend(stats.by_entity_hour.keys().map(|name| name.to_uppercase()));
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    table(
        &headers,
        stats.hours.iter().enumerate().map(|(i, hour)| {
            let mut row = vec![cell(hour), cell(&stats.by_hour.get(i))];
            row.extend(
                stats
                    .by_entity_hour
                    .values()
                    .map(|counts| cell(&counts.get(i))),
            );
            row
        }),
    );
}
