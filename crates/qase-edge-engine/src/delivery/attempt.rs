//! The delivery decisions: which destinations a queued message goes to,
//! the request each one gets, what follows an attempt (done, another
//! attempt after a delay, or a dead letter), what to fall back on when
//! that fails, and what becomes of the message. Each destination is
//! handled on its own: a failure for one never makes another be called
//! again. Pure; `qase_edge::delivery::consumer` and
//! `qase_edge::delivery::dead_letters` carry them out (the D1 rows are
//! [`crate::delivery::records`]).

use qase_webhooks::retry::{AttemptResult, Verdict};
use serde::Serialize;

use crate::delivery::messages::{DeadLetter, QueuedDelivery};
use crate::delivery::settings::{DeliverySettings, Destination, Format};
use crate::http::outbound::USER_AGENT;
use crate::store::layout::{DeliveryState, DeliveryStatus};
use crate::text::text_form;

/// The destination name recorded for messages the platform moved to the
/// dead-letter queue on its own (the consumer kept failing on them).
pub const ALL_DESTINATIONS: &str = "_all";

/// Where a queued message goes.
#[derive(Debug)]
pub enum Targets<'c> {
    /// These destinations (none: nothing to do).
    Send(Vec<&'c Destination>),
    /// A retry or replay for a destination that is gone or disabled: it
    /// becomes a dead letter, so it is not lost.
    Gone {
        /// The destination named in the message.
        destination: String,
        /// Why, in words.
        reason: String,
    },
}

/// The destinations of `message`: every enabled matching one for a new
/// event, or the one it names.
pub fn targets<'c>(delivery: &'c DeliverySettings, message: &QueuedDelivery) -> Targets<'c> {
    match &message.destination {
        None => Targets::Send(
            delivery.matching_destinations(&message.event_name, &message.project_code),
        ),
        Some(name) => match delivery.destination(name) {
            Some(destination) if destination.enabled => Targets::Send(vec![destination]),
            _ => Targets::Gone {
                destination: name.clone(),
                reason: format!("destination `{name}` is no longer configured or enabled"),
            },
        },
    }
}

/// The body a destination is sent: the exact bytes Qase sent, or the chat
/// message made from the event (`None` when `body` is no Qase delivery,
/// which a stored body always is). A payload that does not fit its model
/// (a replayed quarantined event) gets the generic message.
pub fn request_body(destination: &Destination, body: &[u8], app_url: &str) -> Option<Vec<u8>> {
    let format = match destination.format {
        Format::Standard => return Some(body.to_vec()),
        Format::Chat(format) => format,
        // Its requests are made by its own steps (`delivery::github::sync`).
        Format::Github => return None,
    };
    let envelope = qase_webhooks::Envelope::parse(body).ok()?;
    let event = envelope
        .event()
        .unwrap_or_else(|_| qase_webhooks::Event::Unknown {
            name: envelope.event_name.to_string(),
            payload: envelope.payload.to_owned(),
        });
    let message = qase_webhooks::render(format, &envelope, &event, app_url);
    serde_json::to_vec(&message).ok()
}

/// The headers of a post to a chat service (a delivery, a report or an
/// alert): the destination's own, then the JSON body's type and ours.
pub fn chat_headers(destination: &Destination) -> Vec<(String, String)> {
    let mut headers = destination.headers.clone();
    headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
    headers.push(("User-Agent".to_owned(), USER_AGENT.to_owned()));
    headers
}

/// The headers of a delivery request, in the order they are set: the
/// destination's static headers first, ours last so that none can be
/// forged by configuration. `timestamp` is in Unix seconds; `body` is the
/// request body ([`request_body`]). A chat service gets no Qase or Standard
/// Webhooks headers: it reads only the message.
pub fn request_headers(
    destination: &Destination,
    message: &QueuedDelivery,
    timestamp: u64,
    body: &[u8],
) -> Vec<(String, String)> {
    if let Format::Chat(_) | Format::Github = destination.format {
        return chat_headers(destination);
    }
    let mut headers = destination.headers.clone();
    let ours = [
        ("Content-Type", "application/json".to_owned()),
        ("User-Agent", USER_AGENT.to_owned()),
        ("X-Qase-Event", message.event_name.clone()),
        ("X-Qase-Project", message.project_code.clone()),
        ("webhook-id", message.id.clone()),
        ("webhook-timestamp", timestamp.to_string()),
    ];
    headers.extend(
        ours.into_iter()
            .map(|(name, value)| (name.to_owned(), value)),
    );
    if let Some(secret) = &destination.signing {
        headers.push((
            "webhook-signature".to_owned(),
            secret.sign(&message.id, timestamp, body),
        ));
    }
    headers
}

/// What follows an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Delivered: done with this destination.
    Delivered,
    /// Send `next` again after this many seconds.
    Requeue {
        /// The delay.
        delay_seconds: u32,
    },
    /// Failed for good: a dead letter.
    DeadLetter {
        /// Why, in words.
        reason: String,
    },
}

/// An attempt's consequences.
#[derive(Debug, Clone)]
pub struct AttemptStep {
    /// The message as it stands after the attempt (for a requeue or a dead letter).
    pub next: QueuedDelivery,
    /// The delivery state to record (dead letters record their own).
    pub state: Option<DeliveryState>,
    /// What to do.
    pub action: Action,
    /// The attempt's log line.
    pub log: AttemptLog,
}

/// What an attempt's log line says became of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The destination answered `2xx`.
    Delivered,
    /// Failed; another attempt follows.
    Retry,
    /// Refused for good, or out of attempts.
    Rejected,
}

// The log line's `outcome`.
text_form!(AttemptOutcome {
    Delivered => "delivered",
    Retry => "retry",
    Rejected => "rejected",
});

/// One JSON log line per attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttemptLog {
    /// Always `attempt`.
    pub event: &'static str,
    /// The event id.
    pub id: String,
    /// The event name.
    pub event_name: String,
    /// The project code.
    pub project_code: String,
    /// The destination.
    pub destination: String,
    /// The attempt number, from 1.
    pub attempt: u32,
    /// What happened, in words (`HTTP 503`, a timeout, a network error).
    pub result: String,
    /// `delivered`, `retry` or `rejected`.
    pub outcome: AttemptOutcome,
    /// The backoff before the next attempt, if one follows.
    pub retry_in_seconds: Option<u64>,
}

impl AttemptLog {
    fn new(
        message: &QueuedDelivery,
        destination: &str,
        attempt: u32,
        result: String,
        verdict: Verdict,
    ) -> AttemptLog {
        let (outcome, retry_in_seconds) = match verdict {
            Verdict::Delivered => (AttemptOutcome::Delivered, None),
            Verdict::Retry(delay) => (AttemptOutcome::Retry, Some(delay.as_secs())),
            Verdict::Rejected => (AttemptOutcome::Rejected, None),
        };
        AttemptLog {
            event: "attempt",
            id: message.id.clone(),
            event_name: message.event_name.clone(),
            project_code: message.project_code.clone(),
            destination: destination.to_owned(),
            attempt,
            result,
            outcome,
            retry_in_seconds,
        }
    }
}

/// Decides what follows an attempt to `destination`. `random` is uniform
/// in `[0, 1)` (the backoff's jitter), `now` in Unix milliseconds.
pub fn after_attempt(
    delivery: &DeliverySettings,
    message: &QueuedDelivery,
    destination: &str,
    (result, description): (AttemptResult, String),
    random: f64,
    now: u64,
) -> AttemptStep {
    let attempt = message.attempts + 1;
    let verdict = delivery.retry.verdict(result, attempt, random);
    let next = QueuedDelivery {
        destination: Some(destination.to_owned()),
        attempts: attempt,
        last_status: match result {
            AttemptResult::Status { status, .. } => Some(status),
            _ => None,
        },
        last_error: Some(description.clone()),
        // A retry takes a new send slot.
        not_before: None,
        released: None,
        ..message.clone()
    };
    let may_retry = delivery.retry.may_retry(attempt);
    let (action, status) = match verdict {
        Verdict::Delivered => (Action::Delivered, Some(DeliveryStatus::Delivered)),
        Verdict::Retry(delay) if may_retry => (
            Action::Requeue {
                delay_seconds: delay.as_secs_f64().ceil() as u32,
            },
            Some(DeliveryStatus::Retrying),
        ),
        Verdict::Retry(_) => (
            Action::DeadLetter {
                reason: format!("gave up after {attempt} attempts"),
            },
            None,
        ),
        Verdict::Rejected => (
            Action::DeadLetter {
                reason: "rejected by the destination".to_owned(),
            },
            None,
        ),
    };
    let state = status.map(|status| {
        DeliveryState::new(status, attempt, next.last_status, Some(&description), now)
    });
    let log = AttemptLog::new(message, destination, attempt, description, verdict);
    AttemptStep {
        next,
        state,
        action,
        log,
    }
}

/// A dead letter for `message` to `destination`, given up at `now`.
pub fn dead_letter(
    message: &QueuedDelivery,
    destination: &str,
    reason: String,
    now: u64,
) -> DeadLetter {
    DeadLetter {
        delivery: message.clone(),
        destination: destination.to_owned(),
        reason,
        dead_at: now,
    }
}

/// The dead letter of a delivery message that the platform moved to the
/// dead-letter queue: for its destination, or a new event's for every one
/// ([`ALL_DESTINATIONS`]).
pub fn moved_dead_letter(delivery: &QueuedDelivery, now: u64) -> DeadLetter {
    let destination = delivery
        .destination
        .clone()
        .unwrap_or_else(|| ALL_DESTINATIONS.to_owned());
    let reason = "the delivery consumer failed on it repeatedly".to_owned();
    dead_letter(delivery, &destination, reason, now)
}

/// What carries one destination's outcome onward after an attempt (or
/// after finding its destination gone). Each is tried in turn: when one
/// fails, [`fallback`] names the next.
#[derive(Debug, Clone)]
pub enum FollowUp {
    /// Nothing more: delivered.
    Done,
    /// Send `next` to the delivery queue after `delay_seconds`.
    Requeue {
        /// The message for this destination alone.
        next: QueuedDelivery,
        /// The delay.
        delay_seconds: u32,
    },
    /// Send the dead letter to the dead-letter queue, whose consumer records it.
    DeadLetterQueue(DeadLetter),
    /// Record the dead letter in D1 directly.
    RecordDead(DeadLetter),
}

/// The follow-up an attempt's step calls for, at `now`.
pub fn follow_up(step: &AttemptStep, destination: &str, now: u64) -> FollowUp {
    match &step.action {
        Action::Delivered => FollowUp::Done,
        Action::Requeue { delay_seconds } => FollowUp::Requeue {
            next: step.next.clone(),
            delay_seconds: *delay_seconds,
        },
        Action::DeadLetter { reason } => {
            FollowUp::DeadLetterQueue(dead_letter(&step.next, destination, reason.clone(), now))
        }
    }
}

/// What to try when `failed` could not be carried out (`error` says why),
/// while handling `message`; `None` when nothing is left to try.
///
/// A message for one destination (`destination: Some`) is then retried
/// whole ([`disposition`]): that repeats nothing but its own attempt. A new
/// event's message is never retried once a destination was called: that
/// would call the destinations that succeeded again (and its claim is
/// taken, so the retry would forward nothing anyway). So a retry that
/// cannot be scheduled for one of its destinations becomes a dead letter,
/// recorded and replayable, rather than a repeat for the others.
pub fn fallback(
    message: &QueuedDelivery,
    failed: FollowUp,
    error: &str,
    now: u64,
) -> Option<FollowUp> {
    match failed {
        FollowUp::Done | FollowUp::RecordDead(_) => None,
        FollowUp::Requeue { .. } if message.destination.is_some() => None,
        FollowUp::Requeue { next, .. } => {
            let destination = next.destination.clone().unwrap_or_default();
            let reason = format!("no further attempt could be scheduled: {error}");
            Some(FollowUp::DeadLetterQueue(dead_letter(
                &next,
                &destination,
                reason,
                now,
            )))
        }
        FollowUp::DeadLetterQueue(dead) => Some(FollowUp::RecordDead(dead)),
    }
}

/// What becomes of a queue message once each of its destinations is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Done with it.
    Ack,
    /// Let the platform deliver it again (after a delay).
    Retry,
}

/// The disposition of `message` when the follow-ups of `unsettled` of its
/// destinations all failed (see [`fallback`]). A new event's message is
/// acked whatever happened: retrying it would repeat the destinations that
/// succeeded; each of its destinations' failures was handled on its own,
/// and one that could not be recorded anywhere is logged as lost.
pub fn disposition(message: &QueuedDelivery, unsettled: usize) -> Disposition {
    match (unsettled, &message.destination) {
        (0, _) | (_, None) => Disposition::Ack,
        (_, Some(_)) => Disposition::Retry,
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use std::time::Duration;

    use super::*;
    use crate::config::bindings;
    use crate::config::ConfigError;
    use crate::store::settings::Sink;

    fn config(destinations: &str, retry_max: &str) -> Config {
        let vars = [
            (bindings::DESTINATIONS, destinations),
            (bindings::RETRY_MAX_ATTEMPTS, retry_max),
            (bindings::RETRY_BASE_SECONDS, "10"),
            ("CI_SIGNING", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ];
        let config: Result<Config, ConfigError> = Config::from_lookup(
            |key| {
                vars.iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| v.to_string())
            },
            &Sink::ALL,
        );
        let config = config.unwrap();
        assert!(config.problems.is_empty(), "{:?}", config.problems);
        config
    }

    const DESTINATIONS: &str = r#"[
        {"name":"ci","url":"https://ci.example/hook","events":["run.*"],"signing_secret":"CI_SIGNING",
         "headers":{"X-Team":"qa","webhook-id":"forged"}},
        {"name":"chat","url":"https://chat.example/hook","projects":["WEB"]},
        {"name":"off","url":"https://off.example/hook","enabled":false}
    ]"#;

    fn message(event_name: &str, project: &str) -> QueuedDelivery {
        QueuedDelivery::new(
            "evt_0123456789abcdef0123456789abcdef".into(),
            event_name.into(),
            project.into(),
            1_000,
            br#"{"x":1}"#,
            false,
        )
    }

    fn names(targets: Targets<'_>) -> Vec<String> {
        match targets {
            Targets::Send(list) => list.iter().map(|d| d.name.clone()).collect(),
            Targets::Gone { destination, .. } => vec![format!("gone:{destination}")],
        }
    }

    #[test]
    fn a_new_event_goes_to_every_enabled_matching_destination() {
        let config = config(DESTINATIONS, "3");
        assert_eq!(
            names(targets(&config.delivery, &message("run.completed", "WEB"))),
            ["ci", "chat"]
        );
        assert_eq!(
            names(targets(&config.delivery, &message("case.created", "API"))),
            Vec::<String>::new()
        );
        let mut retry = message("case.created", "API");
        retry.destination = Some("ci".into());
        assert_eq!(
            names(targets(&config.delivery, &retry)),
            ["ci"],
            "a retry names its destination"
        );
        retry.destination = Some("off".into());
        assert_eq!(names(targets(&config.delivery, &retry)), ["gone:off"]);
        retry.destination = Some("removed".into());
        assert_eq!(names(targets(&config.delivery, &retry)), ["gone:removed"]);
    }

    #[test]
    fn a_chat_destination_gets_the_rendered_message_and_plain_headers() {
        let config = config(
            r#"[{"name":"slack","url":"https://hooks.slack.example/x","format":"slack"},
                {"name":"raw","url":"https://raw.example/x"}]"#,
            "3",
        );
        let body = br#"{"event_name":"run.completed","timestamp":1764000000,"payload":{"id":7,"cases":2,"passed":2,"failed":0,"blocked":0,"duration":1000},"team_member_id":1,"project_code":"DEMO"}"#;
        let slack = config.delivery.destination("slack").unwrap();
        assert_eq!(slack.pace, Some(Duration::from_millis(1000)));
        let rendered = request_body(slack, body, "https://qase.example").unwrap();
        let message: serde_json::Value = serde_json::from_slice(&rendered).unwrap();
        assert!(
            message["blocks"].is_array() && message["text"].is_string(),
            "{message}"
        );
        assert!(
            message
                .to_string()
                .contains("https://qase.example/run/DEMO/dashboard/7"),
            "{message}"
        );
        let headers = request_headers(slack, &message_for(body), 1, &rendered);
        assert!(!headers
            .iter()
            .any(|(n, _)| n.starts_with("webhook-") || n.starts_with("X-Qase")));

        let raw = config.delivery.destination("raw").unwrap();
        assert_eq!(
            request_body(raw, body, "https://qase.example").unwrap(),
            body.to_vec()
        );
        assert_eq!(raw.pace, None);
        // A quarantined payload replayed to chat gets the generic message.
        let misfit = br#"{"event_name":"run.completed","timestamp":1,"payload":{"id":"x"},"team_member_id":1,"project_code":"DEMO"}"#;
        assert!(request_body(slack, misfit, "https://qase.example").is_some());
        assert_eq!(
            request_body(slack, b"not json", "https://qase.example"),
            None
        );
    }

    fn message_for(body: &[u8]) -> QueuedDelivery {
        QueuedDelivery::new(
            "evt_0123456789abcdef0123456789abcdef".into(),
            "run.completed".into(),
            "DEMO".into(),
            1,
            body,
            false,
        )
    }

    #[test]
    fn our_headers_come_last_and_the_signature_covers_the_body() {
        let config = config(DESTINATIONS, "3");
        let ci = config.delivery.destination("ci").unwrap();
        let message = message("run.completed", "WEB");
        let headers = request_headers(ci, &message, 1_700_000_000, b"{}");
        let last_webhook_id = headers
            .iter()
            .rev()
            .find(|(n, _)| n == "webhook-id")
            .unwrap();
        assert_eq!(
            last_webhook_id.1, message.id,
            "a static header cannot forge ours"
        );
        let signature = &headers
            .iter()
            .find(|(n, _)| n == "webhook-signature")
            .unwrap()
            .1;
        assert_eq!(
            *signature,
            ci.signing
                .as_ref()
                .unwrap()
                .sign(&message.id, 1_700_000_000, b"{}")
        );
        let chat = config.delivery.destination("chat").unwrap();
        assert!(!request_headers(chat, &message, 1, b"{}")
            .iter()
            .any(|(n, _)| n == "webhook-signature"));
    }

    fn status(code: u16, retry_after: Option<u64>) -> (AttemptResult, String) {
        (
            AttemptResult::Status {
                status: code,
                retry_after,
            },
            format!("HTTP {code}"),
        )
    }

    #[test]
    fn every_retry_branch_is_decided() {
        let config = config(DESTINATIONS, "3");
        let first = message("run.completed", "WEB");

        let step = after_attempt(&config.delivery, &first, "ci", status(200, None), 0.5, 7);
        assert_eq!(step.action, Action::Delivered);
        assert_eq!(step.state.unwrap().status, DeliveryStatus::Delivered);
        assert_eq!(step.log.outcome, AttemptOutcome::Delivered);

        let step = after_attempt(&config.delivery, &first, "ci", status(500, None), 0.0, 7);
        assert_eq!(
            step.action,
            Action::Requeue { delay_seconds: 5 },
            "equal jitter: half of 10 s"
        );
        assert_eq!((step.next.attempts, step.next.last_status), (1, Some(500)));
        assert_eq!(step.next.destination.as_deref(), Some("ci"));
        assert_eq!(
            step.state.as_ref().unwrap().status,
            DeliveryStatus::Retrying
        );
        assert_eq!(step.log.retry_in_seconds, Some(5));

        let step = after_attempt(
            &config.delivery,
            &first,
            "ci",
            status(503, Some(120)),
            0.0,
            7,
        );
        assert_eq!(
            step.action,
            Action::Requeue { delay_seconds: 120 },
            "Retry-After"
        );

        let step = after_attempt(
            &config.delivery,
            &first,
            "ci",
            (AttemptResult::Timeout, "no answer".into()),
            0.0,
            7,
        );
        assert!(matches!(step.action, Action::Requeue { .. }));
        assert_eq!(step.next.last_status, None);

        let step = after_attempt(&config.delivery, &first, "ci", status(404, None), 0.0, 7);
        assert_eq!(
            step.action,
            Action::DeadLetter {
                reason: "rejected by the destination".into()
            }
        );
        assert!(
            step.state.is_none(),
            "the dead letter records its own state"
        );

        let mut last = first.clone();
        last.attempts = 2;
        let step = after_attempt(&config.delivery, &last, "ci", status(500, None), 0.0, 7);
        assert_eq!(
            step.action,
            Action::DeadLetter {
                reason: "gave up after 3 attempts".into()
            }
        );
        assert_eq!(step.next.attempts, 3);
    }

    #[test]
    fn backoff_grows_and_stays_under_the_cap() {
        let config = config(DESTINATIONS, "20");
        let mut message = message("run.completed", "WEB");
        let mut delays = Vec::new();
        for attempts in 0..12 {
            message.attempts = attempts;
            match after_attempt(
                &config.delivery,
                &message,
                "ci",
                status(500, None),
                0.999,
                0,
            )
            .action
            {
                Action::Requeue { delay_seconds } => delays.push(delay_seconds),
                other => panic!("{other:?}"),
            }
        }
        assert!(delays.windows(2).all(|w| w[0] <= w[1]), "{delays:?}");
        assert!(*delays.last().unwrap() as u64 <= config.delivery.retry.cap.as_secs());
        assert_eq!(config.delivery.retry.cap, Duration::from_secs(3600));
    }

    #[test]
    fn the_platforms_moves_are_dead_letters_for_all() {
        let message = message("run.completed", "WEB");
        let moved = moved_dead_letter(&message, 5);
        assert_eq!(moved.destination, ALL_DESTINATIONS);
        let mut retry = message;
        retry.destination = Some("chat".into());
        let moved = moved_dead_letter(&retry, 5);
        assert_eq!(moved.destination, "chat");
        assert_eq!(moved.dead_at, 5);
    }

    fn is_dead_letter_queue(follow_up: &Option<FollowUp>) -> bool {
        matches!(follow_up, Some(FollowUp::DeadLetterQueue(_)))
    }

    #[test]
    fn each_outcome_has_its_follow_up() {
        let config = config(DESTINATIONS, "3");
        let fan_out = message("run.completed", "WEB");
        let step = after_attempt(&config.delivery, &fan_out, "ci", status(200, None), 0.5, 7);
        assert!(matches!(follow_up(&step, "ci", 8), FollowUp::Done));
        let step = after_attempt(&config.delivery, &fan_out, "ci", status(500, None), 0.0, 7);
        match follow_up(&step, "ci", 8) {
            FollowUp::Requeue {
                next,
                delay_seconds,
            } => {
                assert_eq!(
                    (next.destination.as_deref(), next.attempts),
                    (Some("ci"), 1)
                );
                assert_eq!(delay_seconds, 5);
            }
            other => panic!("{other:?}"),
        }
        let step = after_attempt(&config.delivery, &fan_out, "ci", status(400, None), 0.0, 7);
        match follow_up(&step, "ci", 8) {
            FollowUp::DeadLetterQueue(dead) => {
                assert_eq!(dead.destination, "ci");
                assert_eq!(dead.reason, "rejected by the destination");
                assert_eq!((dead.delivery.attempts, dead.dead_at), (1, 8));
                assert_eq!(dead.delivery.last_status, Some(400));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_fan_out_is_never_retried_after_a_side_effect() {
        let config = config(DESTINATIONS, "3");
        let fan_out = message("run.completed", "WEB");
        // `chat` was delivered; `ci` failed and its retry cannot be queued.
        let step = after_attempt(&config.delivery, &fan_out, "ci", status(500, None), 0.0, 7);
        let requeue = follow_up(&step, "ci", 8);
        let next = fallback(&fan_out, requeue, "queue down", 9);
        assert!(is_dead_letter_queue(&next), "{next:?}");
        let Some(FollowUp::DeadLetterQueue(dead)) = &next else {
            unreachable!()
        };
        assert_eq!(dead.destination, "ci");
        assert_eq!(
            dead.reason,
            "no further attempt could be scheduled: queue down"
        );
        assert_eq!(dead.delivery.attempts, 1);
        // The dead-letter queue is down too: straight to D1.
        let next = fallback(&fan_out, next.unwrap(), "dlq down", 9);
        assert!(matches!(next, Some(FollowUp::RecordDead(_))));
        // D1 too: nothing left; the message is still acked, so `chat` is
        // not called again.
        assert!(fallback(&fan_out, next.unwrap(), "d1 down", 9).is_none());
        assert_eq!(disposition(&fan_out, 1), Disposition::Ack);
        assert_eq!(disposition(&fan_out, 0), Disposition::Ack);
    }

    #[test]
    fn a_message_for_one_destination_is_retried_when_nothing_else_worked() {
        let config = config(DESTINATIONS, "3");
        let mut retry = message("run.completed", "WEB");
        retry.destination = Some("ci".into());
        retry.attempts = 1;
        let step = after_attempt(&config.delivery, &retry, "ci", status(500, None), 0.0, 7);
        let requeue = follow_up(&step, "ci", 8);
        assert!(
            fallback(&retry, requeue, "queue down", 9).is_none(),
            "retried whole: it repeats only its own destination"
        );
        assert_eq!(disposition(&retry, 1), Disposition::Retry);
        assert_eq!(disposition(&retry, 0), Disposition::Ack);
        let step = after_attempt(&config.delivery, &retry, "ci", status(400, None), 0.0, 7);
        let dead = follow_up(&step, "ci", 8);
        let next = fallback(&retry, dead, "dlq down", 9);
        assert!(matches!(next, Some(FollowUp::RecordDead(_))));
        assert!(fallback(&retry, next.unwrap(), "d1 down", 9).is_none());
    }
}
