//! Unit tests of [`messages`] and the [`AlertPost`] machine:
//!
//! 1. Who gets an alert: every enabled alert destination but its subject,
//!    none about an alert destination.
//! 2. Nowhere to post (gone, turned off, not a chat service): acked, nothing asked.
//! 3. An unpaced destination: posted at once, the chat message as rendered.
//! 4. Pacing: a slot reserved; a near one waited for; a far one kept by a
//!    requeue, which comes back to be posted without a new reservation; a
//!    pacer that cannot be reached holds nothing back.
//! 5. Failures: a 5xx, a timeout or no answer requeued after the backoff
//!    (`Retry-After` honoured), one more attempt counted and a new slot to take.
//! 6. Dropped, never dead-lettered: a refusal, the last of
//!    [`ALERT_ATTEMPTS`], a requeue that cannot be sent; each logged.

use std::time::Duration;

use qase_webhooks::chat::{render_alert, Alert, ChatFormat};
use qase_webhooks::retry::AttemptResult;

use super::*;
use crate::delivery::machine::script::{self, names, status, Run};
use crate::http::outbound::Method;
use crate::runs::report::tests::config as config_of;

const NOW: u64 = 1_000_000;

/// `ops` is a paced Slack channel (a second between posts, Slack's pace);
/// `team` an unpaced Teams one.
const DESTINATIONS: &str = r#"[
    {"name":"ci","url":"https://ci.example/hook"},
    {"name":"ops","url":"https://ops.example/hook","format":"slack","alerts":true,
     "headers":{"X-Team":"qa"},"timeout_ms":2500},
    {"name":"team","url":"https://team.example/hook","format":"teams","alerts":true,"pace_ms":0},
    {"name":"off","url":"https://off.example/hook","format":"slack","alerts":true,"enabled":false}
]"#;

fn config() -> Config {
    config_of(
        DESTINATIONS,
        &[
            ("QASE_RETRY_BASE_SECONDS", "10"),
            ("QASE_RETRY_CAP_SECONDS", "3600"),
        ],
    )
}

fn paused(destination: &str) -> Alert {
    Alert::DestinationPaused {
        destination: destination.into(),
        reason: "10 failures in a row (last: HTTP 503)".into(),
        by_operator: false,
    }
}

/// A new alert about `ci` for `to`.
fn queued(to: &str) -> QueuedAlert {
    QueuedAlert {
        alert_to: to.into(),
        alert: paused("ci"),
        at: NOW - 1_000,
        attempts: 0,
        not_before: None,
    }
}

/// Posts `message` at [`NOW`], answering as `answer` says (`None`: `Done`).
fn post(config: &Config, message: QueuedAlert, answer: impl FnMut(&Op) -> Option<OpResult>) -> Run {
    let (mut machine, next) = AlertPost::start(config, message, NOW);
    script::run(&mut machine, next, NOW, answer)
}

/// The slot `slot` from the pacer, and `attempt` from the chat service.
fn answers(slot: u64, attempt: OpResult) -> impl FnMut(&Op) -> Option<OpResult> {
    move |op| match op {
        Op::ReservePace { .. } => Some(OpResult::Slot(slot)),
        Op::Attempt { .. } => Some(attempt.clone()),
        _ => None,
    }
}

/// The requeued message and its delay of a run that ended in one.
fn requeued(run: &Run) -> (&QueuedAlert, u32) {
    match run.ops.last() {
        Some(Op::QueueAlert {
            message,
            delay_seconds,
        }) => (message, *delay_seconds),
        other => panic!("not requeued: {other:?}"),
    }
}

fn attempted(result: AttemptResult, description: &str, random: f64) -> OpResult {
    OpResult::Attempted {
        result,
        description: description.into(),
        random,
    }
}

/// The one note of a dropped alert, as JSON.
fn dropped(run: &Run) -> serde_json::Value {
    assert_eq!(run.notes.len(), 1, "{:?}", run.notes);
    assert_eq!(run.notes[0].level, Level::Error);
    serde_json::from_str(&run.notes[0].line).unwrap()
}

#[test]
fn an_alert_goes_to_every_alert_destination_but_its_subject() {
    let config = config();
    let to = |alert: &Alert, about_a_destination| -> Vec<String> {
        messages(&config, alert, about_a_destination, NOW)
            .into_iter()
            .map(|message| message.alert_to)
            .collect()
    };
    // `ci` gets none (not a chat service), `off` none (turned off).
    assert_eq!(to(&paused("ci"), true), ["ops", "team"]);
    // Nothing about an alert destination, not even to the others.
    assert!(to(&paused("ops"), true).is_empty());
    // A project that shares a destination's name is not that destination.
    let quiet = Alert::ProjectQuiet {
        project: "ops".into(),
        window_seconds: 3600,
        last_delivery_at: None,
    };
    assert_eq!(to(&quiet, false), ["ops", "team"]);

    let all = messages(&config, &paused("ci"), true, NOW);
    for message in &all {
        assert_eq!(message.alert, paused("ci"));
        assert_eq!(
            (message.at, message.attempts, message.not_before),
            (NOW, 0, None)
        );
    }
}

#[test]
fn an_alert_with_nowhere_to_post_is_acked_without_asking_anything() {
    let config = config();
    for to in ["removed", "off", "ci"] {
        let run = post(&config, queued(to), |_| panic!("nothing to ask for `{to}`"));
        assert!(run.ops.is_empty(), "{to}: {:?}", run.ops);
        assert_eq!(run.end, Disposition::Ack);
        assert!(run.notes.is_empty());
    }
}

#[test]
fn an_unpaced_destination_is_posted_at_once_and_a_2xx_ends_it() {
    let config = config();
    for answer in [200, 204] {
        let run = post(&config, queued("team"), answers(0, status(answer)));
        assert_eq!(names(&run.ops), ["attempt"]);
        assert_eq!(run.end, Disposition::Ack);
        assert!(run.notes.is_empty());
    }
    let run = post(&config, queued("team"), answers(0, status(200)));
    let Op::Attempt {
        destination,
        request,
    } = &run.ops[0]
    else {
        unreachable!()
    };
    assert_eq!(destination, "team");
    let request = request.as_ref().unwrap();
    assert_eq!(
        (request.method, request.url.as_str()),
        (Method::Post, "https://team.example/hook")
    );
    let body = render_alert(
        ChatFormat::Teams,
        &paused("ci"),
        &config.delivery.app_url,
        NOW,
    );
    assert_eq!(request.body, body.to_string().into_bytes());
    assert!(request
        .headers
        .contains(&("Content-Type".into(), "application/json".into())));
}

#[test]
fn a_paced_destination_reserves_a_slot_and_waits_for_a_near_one() {
    let config = config();
    let run = post(&config, queued("ops"), answers(NOW, status(200)));
    assert_eq!(names(&run.ops), ["reserve", "attempt"]);
    let Op::ReservePace {
        destination,
        interval,
    } = &run.ops[0]
    else {
        unreachable!()
    };
    assert_eq!(
        (destination.as_str(), *interval),
        ("ops", Duration::from_secs(1))
    );
    let Op::Attempt { request, .. } = &run.ops[1] else {
        unreachable!()
    };
    let request = request.as_ref().unwrap();
    assert_eq!(request.timeout, Duration::from_millis(2500));
    assert!(request.headers.contains(&("X-Team".into(), "qa".into())));

    // A slot already passed is not waited for; the farthest one in place is.
    for (slot, wait) in [
        (NOW - 10, None),
        (NOW + 500, Some(500)),
        (NOW + 5_000, Some(5_000)),
    ] {
        let run = post(&config, queued("ops"), answers(slot, status(200)));
        match wait {
            None => assert_eq!(names(&run.ops), ["reserve", "attempt"]),
            Some(ms) => {
                assert_eq!(names(&run.ops), ["reserve", "wait", "attempt"]);
                assert!(matches!(run.ops[1], Op::Wait(wait) if wait == Duration::from_millis(ms)));
            }
        }
        assert_eq!(run.end, Disposition::Ack);
    }
}

#[test]
fn a_far_slot_is_kept_by_a_requeue_and_posted_when_the_alert_is_back() {
    let config = config();
    let slot = NOW + 120_500;
    let run = post(&config, queued("ops"), answers(slot, status(200)));
    assert_eq!(names(&run.ops), ["reserve", "queue_alert"]);
    assert_eq!(run.end, Disposition::Ack);
    let (message, delay_seconds) = requeued(&run);
    assert_eq!(
        delay_seconds, 120,
        "rounded down: never back after the slot"
    );
    assert_eq!(
        (message.not_before, message.attempts, &message.alert),
        (Some(slot), 0, &paused("ci"))
    );

    // Back before its slot: requeued again, keeping it, nothing reserved.
    let again = post(&config, message.clone(), |_| None);
    assert_eq!(names(&again.ops), ["queue_alert"]);
    assert_eq!(requeued(&again).0.not_before, Some(slot));

    // Back at its slot: posted, without a second reservation.
    let (mut machine, next) = AlertPost::start(&config, message.clone(), slot);
    let back = script::run(&mut machine, next, slot, answers(0, status(200)));
    assert_eq!(names(&back.ops), ["attempt"]);
    assert_eq!(back.end, Disposition::Ack);
}

#[test]
fn a_pacer_that_cannot_be_reached_holds_the_alert_back_no_longer() {
    let config = config();
    let run = post(&config, queued("ops"), |op| match op {
        Op::ReservePace { .. } => Some(OpResult::Failed("object down".into())),
        Op::Attempt { .. } => Some(status(200)),
        _ => None,
    });
    assert_eq!(names(&run.ops), ["reserve", "attempt"]);
    assert_eq!(run.end, Disposition::Ack);
    assert_eq!(run.notes.len(), 1);
    assert_eq!(run.notes[0].level, Level::Warn);
    assert!(run.notes[0].line.contains("object down"), "{:?}", run.notes);
}

#[test]
fn a_failure_is_requeued_after_the_backoff_with_one_more_attempt_and_a_new_slot() {
    let config = config();
    let holding = |attempts| QueuedAlert {
        attempts,
        // The slot it kept has come: no reservation before the attempt.
        not_before: Some(NOW),
        ..queued("ops")
    };
    let server_error = attempted(
        AttemptResult::Status {
            status: 503,
            retry_after: None,
        },
        "HTTP 503",
        0.0,
    );
    let too_many = attempted(
        AttemptResult::Status {
            status: 429,
            retry_after: Some(30),
        },
        "HTTP 429",
        0.0,
    );
    let timeout = attempted(AttemptResult::Timeout, "no answer within 2500 ms", 1.0);
    // Base 10 s, "equal jitter": the nth failure waits between half and all of 10·2ⁿ⁻¹ s.
    for (attempts, answer, delay) in [
        (0, server_error.clone(), 5),
        (2, server_error, 20),
        (0, too_many, 30),
        (1, timeout, 20),
        // No answer at all (the attempt could not be carried out): a second.
        (0, OpResult::Failed("fetch failed".into()), 1),
    ] {
        let run = post(&config, holding(attempts), answers(0, answer.clone()));
        assert_eq!(names(&run.ops), ["attempt", "queue_alert"], "{answer:?}");
        assert_eq!(run.end, Disposition::Ack);
        assert!(run.notes.is_empty(), "{:?}", run.notes);
        let (message, delay_seconds) = requeued(&run);
        assert_eq!(delay_seconds, delay, "{answer:?}");
        assert_eq!(message.attempts, attempts + 1);
        assert_eq!(message.not_before, None, "a retry takes a new slot");
        assert_eq!(
            (message.alert_to.as_str(), message.at),
            ("ops", NOW - 1_000)
        );
    }
}

#[test]
fn a_refusal_drops_the_alert_with_a_log_line_and_no_dead_letter() {
    let config = config();
    let run = post(&config, queued("team"), answers(0, status(404)));
    assert_eq!(names(&run.ops), ["attempt"]);
    assert_eq!(run.end, Disposition::Ack);
    assert_eq!(
        dropped(&run),
        serde_json::json!({"event": "alert_dropped", "to": "team", "kind": "destination_paused",
                           "error": "HTTP 404", "attempts": 1})
    );
}

#[test]
fn an_alert_gets_at_most_alert_attempts_then_is_dropped() {
    let config = config();
    // Every requeued message comes back, until none is.
    let mut message = queued("team");
    let mut attempts = 0;
    let last = loop {
        let run = post(&config, message.clone(), answers(0, status(502)));
        attempts += names(&run.ops).iter().filter(|n| **n == "attempt").count();
        assert_eq!(run.end, Disposition::Ack);
        match run.ops.last() {
            Some(Op::QueueAlert { message: next, .. }) => message = next.clone(),
            _ => break run,
        }
        assert!(attempts < 100, "never dropped");
    };
    assert_eq!(attempts, ALERT_ATTEMPTS as usize);
    assert_eq!(names(&last.ops), ["attempt"]);
    let note = dropped(&last);
    assert_eq!(note["event"], "alert_dropped");
    assert_eq!(note["attempts"], ALERT_ATTEMPTS);
    assert_eq!(note["error"], "HTTP 502");
}

#[test]
fn a_requeue_that_cannot_be_sent_drops_the_alert_with_a_log_line() {
    let config = config();
    let queue_down = |slot| {
        move |op: &Op| match op {
            Op::ReservePace { .. } => Some(OpResult::Slot(slot)),
            Op::Attempt { .. } => Some(status(503)),
            Op::QueueAlert { .. } => Some(OpResult::Failed("queue down".into())),
            _ => None,
        }
    };
    // A retry's, and a far slot's: neither is retried nor dead-lettered.
    for (slot, ops) in [
        (NOW, ["reserve", "attempt", "queue_alert"].as_slice()),
        (NOW + 60_000, ["reserve", "queue_alert"].as_slice()),
    ] {
        let run = post(&config, queued("ops"), queue_down(slot));
        assert_eq!(names(&run.ops), ops);
        assert_eq!(run.end, Disposition::Ack);
        assert_eq!(run.notes.len(), 1, "{:?}", run.notes);
        assert_eq!(run.notes[0].level, Level::Error);
        assert!(
            run.notes[0].line.starts_with("alert to `ops` not retried")
                && run.notes[0].line.contains("queue down"),
            "{:?}",
            run.notes
        );
    }
}
