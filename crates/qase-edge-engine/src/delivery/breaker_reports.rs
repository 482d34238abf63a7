//! What the delivery consumer tells a destination's breaker: how an
//! attempt counts for it, and which attempts it hears about at all.

use super::attempt::{AttemptLog, AttemptOutcome};
use super::breaker::{BreakerSettings, BreakerState, Outcome};

/// How an attempt counts for the breaker, from its log line: delivered,
/// refused for good (`rejected`: the destination answered, so it is up),
/// or failed (anything a retry may fix).
pub fn outcome(log: &AttemptLog) -> Outcome {
    match log.outcome {
        AttemptOutcome::Delivered => Outcome::Delivered,
        AttemptOutcome::Rejected => Outcome::Rejected,
        AttemptOutcome::Retry => Outcome::Failed,
    }
}

/// Whether the breaker wants to hear of a delivered attempt (the answer to
/// an ask): only when a success changes something, that is when failures
/// are being counted in a row or over a window. Saves a call per delivery
/// to a healthy destination.
pub fn wants_successes(state: &BreakerState, settings: &BreakerSettings) -> bool {
    state.consecutive_failures > 0 || settings.window > 0
}

/// Whether the consumer reports an attempt to the breaker: always for an
/// event the breaker released (it waits for that outcome), otherwise when
/// the breaker is on and the attempt failed, was refused, or is a success
/// it asked for.
pub fn must_report(
    released: bool,
    settings: &BreakerSettings,
    outcome: Outcome,
    success_wanted: bool,
) -> bool {
    released || (settings.enabled() && (outcome != Outcome::Delivered || success_wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(outcome: AttemptOutcome) -> AttemptLog {
        AttemptLog {
            event: "attempt",
            id: "evt_1".into(),
            event_name: "run.completed".into(),
            project_code: "DEMO".into(),
            destination: "ci".into(),
            attempt: 1,
            result: "HTTP 200".into(),
            outcome,
            retry_in_seconds: None,
        }
    }

    #[test]
    fn an_attempt_counts_as_its_log_says() {
        assert_eq!(outcome(&log(AttemptOutcome::Delivered)), Outcome::Delivered);
        assert_eq!(outcome(&log(AttemptOutcome::Rejected)), Outcome::Rejected);
        assert_eq!(outcome(&log(AttemptOutcome::Retry)), Outcome::Failed);
    }

    #[test]
    fn successes_are_wanted_after_a_failure_or_with_a_window() {
        let mut state = BreakerState::default();
        let mut settings = BreakerSettings {
            window: 0,
            ..BreakerSettings::default()
        };
        assert!(!wants_successes(&state, &settings));
        state.consecutive_failures = 1;
        assert!(wants_successes(&state, &settings));
        state.consecutive_failures = 0;
        settings.window = 20;
        assert!(wants_successes(&state, &settings));
    }

    #[test]
    fn a_released_event_is_always_reported_and_others_only_when_the_breaker_is_on() {
        let on = BreakerSettings::default();
        let off = BreakerSettings {
            failures: 0,
            ..BreakerSettings::default()
        };
        for outcome in [Outcome::Delivered, Outcome::Failed, Outcome::Rejected] {
            assert!(must_report(true, &off, outcome, false));
            assert!(!must_report(false, &off, outcome, true));
            assert!(must_report(false, &on, outcome, true));
        }
        assert!(!must_report(false, &on, Outcome::Delivered, false));
        assert!(must_report(false, &on, Outcome::Failed, false));
        assert!(must_report(false, &on, Outcome::Rejected, false));
    }
}
