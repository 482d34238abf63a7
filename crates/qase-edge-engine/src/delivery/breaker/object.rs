//! What a destination's breaker object is asked, what it answers, and what
//! it decides with its storage's answers: the calls are one serde enum
//! ([`BreakerCall`]), the answers typed, and the object
//! (`qase_edge::delivery::breaker`) only loads, stores, releases and wakes.

use qase_webhooks::chat::Alert;
use serde::{Deserialize, Serialize};

use super::{BreakerSettings, BreakerState, Change, Decision, Phase, Step};
use crate::delivery::breaker_reports;
use crate::delivery::messages::QueuedDelivery;

use super::Outcome;

/// A call to a destination's breaker object (one JSON body, `POST`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum BreakerCall {
    /// May the event be attempted? Carries its id and time only: most
    /// answers are "attempt", and a body to hold follows in [`BreakerCall::Hold`].
    Ask {
        /// The destination (the object remembers it for its alarm's alerts).
        name: String,
        /// The event's id.
        id: String,
        /// When it was received (its place among held events).
        received_at: u64,
    },
    /// Keep this event until it is released (after an ask answered hold;
    /// the object may have resumed since, then it answers attempt).
    Hold {
        /// The destination.
        name: String,
        /// The message to keep and release later, for this destination.
        delivery: QueuedDelivery,
    },
    /// An attempt's outcome.
    Report {
        /// The destination.
        name: String,
        /// The held key of the event the object released, if it was one.
        released: Option<String>,
        /// How the attempt counts.
        outcome: Outcome,
        /// The attempt's error.
        error: Option<String>,
    },
    /// An operator pauses the destination.
    Pause {
        /// The destination.
        name: String,
    },
    /// An operator resumes the destination.
    Resume {
        /// The destination.
        name: String,
    },
    /// The state, as the API shows it ([`BreakerView`]).
    Status,
}

/// The answer to [`BreakerCall::Ask`] and [`BreakerCall::Hold`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AskAnswer {
    /// Attempt, or hold (to an ask: send it to be held; to a hold: held).
    pub decision: Decision,
    /// Whether a delivered attempt needs reporting (it does while failures
    /// are being counted; a healthy destination costs one call per message).
    pub report_success: bool,
}

impl AskAnswer {
    /// What the object answers an ask, or a hold, in `state`.
    pub fn of(state: &BreakerState, settings: &BreakerSettings) -> AskAnswer {
        AskAnswer {
            decision: super::ask(state, settings),
            report_success: breaker_reports::wants_successes(state, settings),
        }
    }
}

/// What [`BreakerCall::Report`], `Pause` and `Resume` answer: the alert to send.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertAnswer {
    /// The alert, when the state changed and the rate limit allows one.
    pub alert: Option<Alert>,
}

/// A breaker's state as the API and `/health` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerView {
    /// `active`, `paused`, `probing` or `draining`.
    pub state: Phase,
    /// Since when, Unix ms (`null`: never changed).
    pub since: Option<u64>,
    /// Why it is paused.
    pub reason: Option<String>,
    /// Paused by an operator.
    pub paused_by_operator: bool,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// Events held.
    pub held: u64,
    /// The next probe, Unix ms.
    pub next_probe_at: Option<u64>,
}

impl BreakerView {
    /// The view of `state`.
    pub fn of(state: &BreakerState) -> BreakerView {
        BreakerView {
            state: state.phase,
            since: (state.since > 0).then_some(state.since),
            reason: state.reason.clone(),
            paused_by_operator: state.paused_by_operator,
            consecutive_failures: state.consecutive_failures,
            held: state.held,
            next_probe_at: match state.phase {
                Phase::Paused => state.next_probe_at,
                _ => None,
            },
        }
    }
}

/// The alert a step's change calls for, if the rate limit (one per kind
/// per `interval_ms`) allows it; recorded in `state` when it is sent.
pub fn alert_for(
    state: &mut BreakerState,
    step: &Step,
    name: &str,
    by_operator: bool,
    interval_ms: u64,
    now: u64,
) -> Option<Alert> {
    match step.change? {
        Change::Paused if super::may_alert(state, "paused", interval_ms, now) => {
            Some(Alert::DestinationPaused {
                destination: name.to_owned(),
                reason: state.reason.clone().unwrap_or_default(),
                by_operator,
            })
        }
        Change::Resumed if super::may_alert(state, "resumed", interval_ms, now) => {
            Some(Alert::DestinationResumed {
                destination: name.to_owned(),
                // The one just delivered (a probe's), and what is still held.
                held: state.held + u64::from(!by_operator),
                by_operator,
            })
        }
        _ => None,
    }
}

/// The held event a step forgot was in storage (`existed`): its count is
/// lowered when the step says it still is to be.
pub fn forgotten(state: &mut BreakerState, step: &Step, existed: bool) {
    if existed && step.forget_uncounted {
        state.held = state.held.saturating_sub(1);
    }
}

/// The storage has nothing held after all (the count drifted): start
/// afresh, and a destination that is not paused is active again.
pub fn nothing_held(state: &mut BreakerState) {
    state.held = 0;
    state.released = None;
    if state.phase != Phase::Paused {
        state.phase = Phase::Active;
    }
}

/// The message a held event is released as: marked with its key, its
/// pace slot forgotten.
pub fn release_message(key: &str, held: QueuedDelivery) -> QueuedDelivery {
    QueuedDelivery {
        released: Some(key.to_owned()),
        not_before: None,
        ..held
    }
}

/// The message kept for a held event: neither released nor paced.
pub fn held_message(delivery: QueuedDelivery) -> QueuedDelivery {
    QueuedDelivery {
        not_before: None,
        released: None,
        ..delivery
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn calls_are_tagged_json_and_read_back() {
        let ask = BreakerCall::Ask {
            name: "ci".into(),
            id: "evt_1".into(),
            received_at: 7,
        };
        let text = serde_json::to_value(&ask).unwrap();
        assert_eq!(
            text,
            json!({"call": "ask", "name": "ci", "id": "evt_1", "received_at": 7})
        );
        let back = serde_json::from_value::<BreakerCall>(text.clone()).unwrap();
        assert_eq!(serde_json::to_value(back).unwrap(), text);
        let status = serde_json::to_value(BreakerCall::Status).unwrap();
        assert_eq!(status, json!({"call": "status"}));
        assert!(serde_json::from_value::<BreakerCall>(json!({"call": "other"})).is_err());
    }

    fn paused_step() -> Step {
        Step {
            change: Some(Change::Paused),
            ..Step::default()
        }
    }

    #[test]
    fn one_alert_per_kind_per_interval() {
        let mut state = BreakerState {
            reason: Some("HTTP 503".into()),
            ..BreakerState::default()
        };
        let first = alert_for(&mut state, &paused_step(), "ci", false, 1000, 10);
        assert!(matches!(
            first,
            Some(Alert::DestinationPaused { ref reason, by_operator: false, .. }) if reason == "HTTP 503"
        ));
        assert_eq!(
            alert_for(&mut state, &paused_step(), "ci", false, 1000, 500),
            None
        );
        assert!(alert_for(&mut state, &paused_step(), "ci", false, 1000, 1010).is_some());
        assert_eq!(
            alert_for(&mut state, &Step::default(), "ci", false, 0, 5000),
            None
        );
    }

    #[test]
    fn a_resume_alert_counts_the_probe_it_delivered() {
        let mut state = BreakerState {
            held: 4,
            ..BreakerState::default()
        };
        let step = Step {
            change: Some(Change::Resumed),
            ..Step::default()
        };
        let by_probe = alert_for(&mut state.clone(), &step, "ci", false, 0, 1);
        assert!(matches!(
            by_probe,
            Some(Alert::DestinationResumed { held: 5, .. })
        ));
        let by_operator = alert_for(&mut state, &step, "ci", true, 0, 1);
        assert!(matches!(
            by_operator,
            Some(Alert::DestinationResumed { held: 4, .. })
        ));
    }

    #[test]
    fn counts_are_repaired_as_the_storage_says() {
        let mut state = BreakerState {
            held: 2,
            phase: Phase::Draining,
            released: Some(("k".into(), 1)),
            ..BreakerState::default()
        };
        let step = Step {
            forget_uncounted: true,
            ..Step::default()
        };
        forgotten(&mut state, &step, false);
        assert_eq!(state.held, 2);
        forgotten(&mut state, &step, true);
        assert_eq!(state.held, 1);
        forgotten(&mut state, &Step::default(), true);
        assert_eq!(state.held, 1);
        nothing_held(&mut state);
        assert_eq!(
            (state.held, state.phase, state.released),
            (0, Phase::Active, None)
        );
        let mut paused = BreakerState {
            phase: Phase::Paused,
            held: 3,
            ..BreakerState::default()
        };
        nothing_held(&mut paused);
        assert_eq!(paused.phase, Phase::Paused);
    }

    #[test]
    fn released_and_held_messages_carry_only_what_they_should() {
        let delivery = QueuedDelivery {
            released: Some("old".into()),
            not_before: Some(9),
            ..QueuedDelivery::new(
                "e".into(),
                "run.completed".into(),
                "P".into(),
                1,
                b"{}",
                false,
            )
        };
        let held = held_message(delivery);
        assert_eq!((held.released.clone(), held.not_before), (None, None));
        let out = release_message("held:1:e", held);
        assert_eq!(out.released.as_deref(), Some("held:1:e"));
    }
}
