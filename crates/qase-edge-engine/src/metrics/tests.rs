//! The aggregation rules: labels and their bounds, folding into `other`,
//! zeros for configured destinations, breaker and watch gauges, run figures.

use qase_webhooks::run_report::{RunCounts, RunOutcome};

use super::aggregate::{DeliveryCount, EventCount, LastRun, RunCount};
use super::exposition::Family;
use super::families::{event_label, families, Figures, Projects, MAX_PROJECTS, OTHER};
use super::scrape;
use crate::alerts::watch::WatchView;
use crate::api::destinations::BreakerFacts;
use crate::config::{bindings, for_tests, Config};
use crate::delivery::breaker::Phase;
use crate::runs::state::{self, RunEnd, RunStatus};
use crate::store::layout::DeliveryStatus;
use crate::store::types::EventStatus;

fn config() -> Config {
    for_tests(&[
        (
            bindings::DESTINATIONS,
            r#"[{"name":"ci","url":"https://ci.example"},{"name":"chat","url":"https://chat.example"}]"#,
        ),
        (bindings::WATCH, r#"{"TINY": "1h"}"#),
    ])
    .unwrap()
}

fn events(project: &str, name: &str, outcome: EventStatus, n: u64, dups: u64) -> EventCount {
    EventCount {
        project_code: project.into(),
        event_name: name.into(),
        outcome,
        events: n,
        duplicates: Some(dups),
    }
}

/// `(labels, value)` of a family's samples, labels as `k=v` joined by `,`.
fn series(all: &[Family], name: &str) -> Vec<(String, f64)> {
    let family = all.iter().find(|f| f.name == name).expect(name);
    let mut out: Vec<(String, f64)> = family
        .samples
        .iter()
        .map(|s| {
            let labels: Vec<String> = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            (labels.join(","), s.value)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn event_names_outside_the_known_set_read_as_other() {
    assert_eq!(event_label("case.created"), "case.created");
    assert_eq!(event_label("run.completed"), "run.completed");
    assert_eq!(event_label("spaceship.launched"), OTHER);
    assert_eq!(event_label(""), OTHER);
}

#[test]
fn projects_are_the_watched_ones_and_the_busiest_then_other() {
    let config = config();
    let mut figures = Figures::default();
    // MAX_PROJECTS + 2 projects, P00 the busiest; TINY is watched.
    for i in 0..MAX_PROJECTS + 2 {
        let n = (MAX_PROJECTS + 2 - i) as u64 * 10;
        figures.events.push(events(
            &format!("P{i:02}"),
            "case.created",
            EventStatus::Accepted,
            n,
            1,
        ));
    }
    figures
        .events
        .push(events("TINY", "case.created", EventStatus::Accepted, 1, 0));
    figures.events.push(events(
        "P00",
        "mystery.event",
        EventStatus::Quarantined,
        2,
        0,
    ));
    let projects = Projects::choose(&config, &figures);
    assert!(projects.has("TINY"), "watched, however quiet");
    assert_eq!(
        projects.label(&format!("P{:02}", MAX_PROJECTS - 1)),
        format!("P{:02}", MAX_PROJECTS - 1)
    );
    assert_eq!(projects.label(&format!("P{MAX_PROJECTS:02}")), OTHER);
    let all = families(&config, &figures);
    let total = series(&all, "qase_edge_events_total");
    assert_eq!(
        total.len(),
        MAX_PROJECTS + 1 + 1 + 1,
        "the named, TINY, other, P00's quarantined"
    );
    // The two least busy (20 and 10 events) fold into one `other` series.
    assert!(total.contains(&(
        "project=other,event=case.created,outcome=accepted".into(),
        30.0
    )));
    assert!(total.contains(&("project=P00,event=other,outcome=quarantined".into(), 2.0)));
    assert_eq!(
        series(&all, "qase_edge_duplicates_total"),
        [(String::new(), (MAX_PROJECTS + 2) as f64)]
    );
    scrape(&config, &figures).expect("no repeated series");
}

#[test]
fn a_project_named_other_adds_up_with_the_folded_ones() {
    let config = config();
    let mut figures = Figures::default();
    for i in 0..MAX_PROJECTS {
        figures.events.push(events(
            &format!("B{i:02}"),
            "case.created",
            EventStatus::Accepted,
            100,
            0,
        ));
    }
    figures
        .events
        .push(events("other", "case.created", EventStatus::Accepted, 3, 0));
    figures
        .events
        .push(events("ZZZ", "case.created", EventStatus::Accepted, 4, 0));
    let all = families(&config, &figures);
    let total = series(&all, "qase_edge_events_total");
    assert!(total.contains(&(
        "project=other,event=case.created,outcome=accepted".into(),
        7.0
    )));
    scrape(&config, &figures).expect("one `other` series");
}

#[test]
fn deliveries_attempts_retries_and_dead_letters_by_configured_destination() {
    let config = config();
    let row = |destination: &str, status, n, attempts, retries| DeliveryCount {
        destination: destination.into(),
        status,
        deliveries: n,
        attempts: Some(attempts),
        retries: Some(retries),
    };
    let figures = Figures {
        deliveries: vec![
            row("ci", DeliveryStatus::Delivered, 2, 3, 1),
            row("ci", DeliveryStatus::Dead, 1, 1, 0),
            row("gone", DeliveryStatus::Dead, 4, 8, 4),
        ],
        ..Figures::default()
    };
    let all = families(&config, &figures);
    let states = series(&all, "qase_edge_deliveries");
    assert_eq!(
        states.len(),
        2 * 3 + 1,
        "ci and chat in every state, and other once"
    );
    assert!(states.contains(&("destination=chat,state=retrying".into(), 0.0)));
    assert!(states.contains(&("destination=ci,state=delivered".into(), 2.0)));
    assert!(states.contains(&("destination=other,state=dead".into(), 4.0)));
    assert_eq!(
        series(&all, "qase_edge_delivery_attempts_total"),
        [
            ("destination=chat".into(), 0.0),
            ("destination=ci".into(), 4.0),
            ("destination=other".into(), 8.0)
        ]
    );
    assert_eq!(
        series(&all, "qase_edge_delivery_retries_total"),
        [
            ("destination=chat".into(), 0.0),
            ("destination=ci".into(), 1.0),
            ("destination=other".into(), 4.0)
        ]
    );
    assert_eq!(
        series(&all, "qase_edge_dead_letters_total"),
        [
            ("destination=chat".into(), 0.0),
            ("destination=ci".into(), 1.0),
            ("destination=other".into(), 4.0)
        ]
    );
}

#[test]
fn a_breaker_has_one_series_per_state_and_an_unreachable_one_none() {
    let config = config();
    let figures = Figures {
        breakers: vec![
            Some(BreakerFacts {
                state: Some(Phase::Paused),
                held: 5,
                ..BreakerFacts::default()
            }),
            None,
        ],
        watch: vec![WatchView {
            project: "TINY".into(),
            last_delivery_at: None,
            window_seconds: 3600,
            quiet: true,
            alerted_at: None,
        }],
        ..Figures::default()
    };
    let all = families(&config, &figures);
    assert_eq!(
        series(&all, "qase_edge_breaker_state"),
        [
            ("destination=ci,state=active".into(), 0.0),
            ("destination=ci,state=draining".into(), 0.0),
            ("destination=ci,state=paused".into(), 1.0),
            ("destination=ci,state=probing".into(), 0.0),
        ]
    );
    assert_eq!(
        series(&all, "qase_edge_held_events"),
        [("destination=ci".into(), 5.0)]
    );
    assert_eq!(
        series(&all, "qase_edge_project_quiet"),
        [("project=TINY".into(), 1.0)]
    );
}

fn completed(project: &str, passed: u64, cases: u64) -> LastRun {
    let mut run = state::empty(project, 7);
    run.status = RunStatus::Completed;
    run.end = Some(RunEnd {
        outcome: RunOutcome::Completed,
        counts: RunCounts {
            cases,
            passed,
            failed: cases - passed,
            blocked: 0,
            skipped: None,
            untested: None,
            duration: 0,
        },
        at: 1,
        event_id: "evt_1".into(),
        source: state::EndSource::Webhook,
    });
    LastRun {
        project_code: project.into(),
        state: serde_json::to_string(&run).unwrap(),
    }
}

#[test]
fn runs_in_progress_finished_and_the_last_pass_ratio_by_project() {
    let config = config();
    let runs = |project: &str, status, runs| RunCount {
        project_code: project.into(),
        status,
        runs,
    };
    let figures = Figures {
        events: vec![events("WEB", "run.started", EventStatus::Accepted, 3, 0)],
        runs: vec![
            runs("WEB", RunStatus::Started, 1),
            runs("WEB", RunStatus::Unknown, 1),
            runs("WEB", RunStatus::Completed, 4),
            runs("WEB", RunStatus::Aborted, 1),
        ],
        last_runs: vec![completed("WEB", 3, 4), completed("NOCASES", 0, 0)],
        ..Figures::default()
    };
    let all = families(&config, &figures);
    assert_eq!(
        series(&all, "qase_edge_runs_in_progress"),
        [("project=WEB".into(), 2.0)]
    );
    assert_eq!(
        series(&all, "qase_edge_runs_finished_total"),
        [
            ("project=WEB,status=aborted".into(), 1.0),
            ("project=WEB,status=completed".into(), 4.0)
        ]
    );
    assert_eq!(
        series(&all, "qase_edge_run_pass_ratio"),
        [("project=WEB".into(), 0.75)]
    );
}

#[test]
fn every_family_is_described_even_without_figures() {
    let text = scrape(&config(), &Figures::default()).unwrap();
    for name in [
        "qase_edge_events_total",
        "qase_edge_duplicates_total",
        "qase_edge_deliveries",
        "qase_edge_delivery_attempts_total",
        "qase_edge_delivery_retries_total",
        "qase_edge_dead_letters_total",
        "qase_edge_breaker_state",
        "qase_edge_held_events",
        "qase_edge_project_quiet",
        "qase_edge_runs_in_progress",
        "qase_edge_runs_finished_total",
        "qase_edge_run_pass_ratio",
    ] {
        assert!(text.contains(&format!("# TYPE {name} ")), "{name}");
        assert!(text.contains(&format!("# HELP {name} ")), "{name}");
    }
}
