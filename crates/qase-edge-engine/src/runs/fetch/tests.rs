//! Unit tests of the [`FetchDetails`] machine: one `GET /run/{code}/{id}`
//! with the token, its details applied as a fact that is no event, a
//! transient failure retried, a refusal said and dropped.

use std::time::Duration;

use super::*;
use crate::delivery::machine::script::{self, names, Run};
use crate::runs::report::tests::config as config_of;
use crate::runs::state;

const NOW: u64 = 1_800_000_000_000;

fn with_token() -> Config {
    config_of(
        "[]",
        &[
            ("QASE_API_TOKEN", "tok"),
            ("QASE_API_URL", "https://api.qase.eu/v1"),
        ],
    )
}

fn due() -> RunDetailsDue {
    RunDetailsDue {
        run_details: RunKey {
            project: "WEB".into(),
            run: 42,
        },
    }
}

fn status(status: u16, body: &str) -> OpResult {
    OpResult::Fetched(Answer::Status {
        status,
        retry_after: (status == 429).then_some(30),
        body: body.as_bytes().to_vec(),
        truncated: false,
    })
}

const RUN: &str = r#"{"status":true,"result":{"id":42,"status_text":"in_progress",
    "stats":{"total":3,"statuses":{"untested":3}},"tags":[{"title":"sha:0123456789abcdef0123456789abcdef01234567"},{"title":"pr:7"}]}}"#;

/// Runs the machine with Qase's API answering `fetched` and the run's object applying.
fn fetch(config: &Config, fetched: OpResult, object: OpResult) -> Run {
    let (mut machine, next) = FetchDetails::start(config, "msg-9", due());
    script::run(&mut machine, next, NOW, |op| match op {
        Op::Fetch(_) => Some(fetched.clone()),
        Op::ApplyRun(_) => Some(object.clone()),
        _ => None,
    })
}

fn applied() -> OpResult {
    OpResult::RunApplied {
        state: Box::new(state::empty("WEB", 42)),
        ended_now: false,
    }
}

#[test]
fn the_run_is_fetched_with_the_token_and_its_details_applied_as_no_event() {
    let run = fetch(&with_token(), status(200, RUN), applied());
    assert_eq!(names(&run.ops), ["fetch", "run"]);
    assert_eq!(run.end, Disposition::Ack);
    let Op::Fetch(request) = &run.ops[0] else {
        unreachable!()
    };
    assert_eq!(request.url, "https://api.qase.eu/v1/run/WEB/42");
    assert!(request.headers.contains(&("Token".into(), "tok".into())));
    let Op::ApplyRun(fact) = &run.ops[1] else {
        unreachable!()
    };
    assert_eq!((fact.project.as_str(), fact.run), ("WEB", 42));
    assert_eq!(
        fact.event_id, "details:msg-9",
        "one fact per message, so a newer fetch applies"
    );
    let RunFactKind::Details { details } = &fact.kind else {
        panic!("{fact:?}")
    };
    assert_eq!(
        details.tags,
        ["sha:0123456789abcdef0123456789abcdef01234567", "pr:7"]
    );
    assert!(!details.finished);
}

#[test]
fn a_transient_failure_or_a_failed_object_retries_the_message() {
    let config = with_token();
    for bad in [
        status(429, ""),
        status(500, ""),
        status(503, "{}"),
        status(408, ""),
        OpResult::Fetched(Answer::Timeout(Duration::from_secs(10))),
        OpResult::Fetched(Answer::NetworkError("refused".into())),
        OpResult::Failed("could not be made".into()),
    ] {
        let run = fetch(&config, bad.clone(), applied());
        assert_eq!(names(&run.ops), ["fetch"], "{bad:?}");
        assert_eq!(run.end, Disposition::Retry, "{bad:?}");
        assert!(run.notes[0].line.contains("WEB/42"), "{:?}", run.notes);
    }
    let run = fetch(
        &config,
        status(200, RUN),
        OpResult::Failed("object down".into()),
    );
    assert_eq!(
        (names(&run.ops), run.end),
        (vec!["fetch", "run"], Disposition::Retry)
    );
}

#[test]
fn a_refusal_or_an_answer_not_as_documented_is_said_and_dropped() {
    let config = with_token();
    for bad in [
        status(404, ""),
        status(401, ""),
        status(403, ""),
        status(200, "<html>"),
    ] {
        let run = fetch(&config, bad.clone(), applied());
        assert_eq!(names(&run.ops), ["fetch"], "{bad:?}");
        assert_eq!(run.end, Disposition::Ack, "{bad:?}");
        assert_eq!(run.notes[0].level, Level::Warn, "{bad:?}");
    }
}

#[test]
fn without_a_token_nothing_is_fetched() {
    let run = fetch(&config_of("[]", &[]), status(200, RUN), applied());
    assert!(run.ops.is_empty());
    assert_eq!(run.end, Disposition::Ack);
}

#[test]
fn details_change_neither_the_runs_times_nor_its_status_and_the_newest_wins() {
    let started = state::tests::body(
        "run.started",
        100,
        serde_json::json!({"id": 42, "title": "Nightly", "cases_count": 3}),
    );
    let fact = state::fact_of("evt_1", &started).expect("run.started is about its run");
    let before = state::apply(None, &fact, false).state;
    let run = fetch(&with_token(), status(200, RUN), applied());
    let Op::ApplyRun(details) = &run.ops[1] else {
        unreachable!()
    };
    let after = state::apply(Some(before.clone()), details, false);
    assert!(after.changed && !after.ended_now);
    let state = &after.state;
    assert_eq!((state.first_event_at, state.last_event_at), (100, 100));
    assert_eq!(
        (state.status, state.run_events),
        (before.status, before.run_events)
    );
    assert_eq!(state.details.as_ref().unwrap().tags.len(), 2);
    // A later fetch replaces them.
    let mut newer = details.clone();
    newer.event_id = "details:msg-10".into();
    if let RunFactKind::Details { details } = &mut newer.kind {
        details.tags = vec!["nightly".into()];
    }
    let replaced = state::apply(Some(after.state.clone()), &newer, false).state;
    assert_eq!(replaced.details.unwrap().tags, ["nightly"]);
}

#[test]
fn details_are_due_at_a_runs_start_and_at_the_end_an_event_made() {
    use crate::runs::report::details_due;
    let events = state::tests::run_events();
    let facts: Vec<_> = events
        .iter()
        .filter_map(|(id, body)| state::fact_of(id, body))
        .collect();
    let started = facts
        .iter()
        .find(|f| matches!(f.kind, RunFactKind::Started { .. }))
        .unwrap();
    let ended = facts
        .iter()
        .find(|f| matches!(f.kind, RunFactKind::Ended { .. }))
        .unwrap();
    let result = facts
        .iter()
        .find(|f| matches!(f.kind, RunFactKind::Result { .. }))
        .unwrap();
    let config = with_token();
    assert!(details_due(&config, started, false));
    assert!(details_due(&config, ended, true));
    assert!(
        !details_due(&config, ended, false),
        "an end applied before: the report asks"
    );
    assert!(!details_due(&config, result, false));
    assert!(
        !details_due(&config_of("[]", &[]), started, false),
        "no token, no API"
    );
}
