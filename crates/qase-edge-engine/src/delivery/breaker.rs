//! The breaker of one destination (issue #19): when to pause it, what to do
//! with a message while it is paused, when to probe, when it resumes. Pure:
//! `qase_edge::delivery::breaker` (a Durable Object per destination) keeps the
//! [`BreakerState`] in its storage and carries out each [`Step`].
//!
//! Why a Durable Object: the decision needs every isolate's outcomes (ten
//! failures in a row across ten queue batches in ten isolates), and its
//! state must change once (one pause alert, one resume alert). One object
//! per destination, addressed by name, serialises asks and reports and
//! keeps the held events in its own storage, ordered by arrival; D1 would
//! need a read and a write per message and could not order the drain
//! without a scan, KV is eventually consistent.
//!
//! The states:
//!
//! ```text
//!  active ──N failures in a row, or the ratio over the window──▶ paused
//!  paused ──probe due (alarm): release the oldest held event──▶ probing
//!  probing ──delivered──▶ draining (alert: resumed) ──held empty──▶ active
//!  probing | draining ──failed──▶ paused (probe interval doubles, to a cap)
//!  any ──operator pause──▶ paused (no probes) ; paused ──operator resume──▶ draining | active
//! ```
//!
//! While not active every message for the destination is held (stored by
//! the object under its arrival time), never attempted and never
//! dead-lettered, and its attempts are not counted. Held events are
//! released one at a time, oldest first: the next only after the consumer
//! reported the previous one, so the drain is in order of arrival and paced
//! by the destination itself (and its pacer, for chat services).

use serde::{Deserialize, Serialize};

/// Default failures in a row that pause a destination.
pub const DEFAULT_FAILURES: u32 = 10;
/// Default first probe interval, in seconds.
pub const DEFAULT_PROBE_SECONDS: u64 = 30;
/// Longest probe interval: an hour.
pub const PROBE_CAP_MS: u64 = 3_600_000;
/// A released event whose outcome is not reported within this time is
/// released again (its message was lost, or the consumer failed on it).
pub const RELEASE_TIMEOUT_MS: u64 = 60_000;

/// The breaker's settings (`QASE_BREAKER_*`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BreakerSettings {
    /// Failures in a row that pause; `0` turns the breaker off.
    pub failures: u32,
    /// Attempts in the ratio's window; `0` turns the ratio off.
    pub window: u32,
    /// The failure ratio over a full window that pauses (`0 < ratio <= 1`).
    pub ratio: f64,
    /// The first probe interval, in milliseconds (doubling to [`PROBE_CAP_MS`]).
    pub probe_ms: u64,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            failures: DEFAULT_FAILURES,
            window: 0,
            ratio: 0.5,
            probe_ms: DEFAULT_PROBE_SECONDS * 1000,
        }
    }
}

impl BreakerSettings {
    /// Whether the breaker is on at all.
    pub fn enabled(&self) -> bool {
        self.failures > 0
    }
}

/// Where a destination stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Delivering as usual.
    Active,
    /// Holding every event; a probe is due at `next_probe_at`.
    Paused,
    /// One held event is out as a probe.
    Probing,
    /// Resumed: releasing what was held, oldest first.
    Draining,
}

/// The state a breaker object stores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakerState {
    /// The phase.
    pub phase: Phase,
    /// Since when (Unix ms; `0`: never changed).
    pub since: u64,
    /// Why it is paused, in words.
    pub reason: Option<String>,
    /// Paused by an operator: no probes, resumed only by an operator.
    pub paused_by_operator: bool,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// The latest outcomes (`true`: failed), oldest first, at most `window`.
    pub recent: Vec<bool>,
    /// Events held.
    pub held: u64,
    /// When the next probe is due (paused only).
    pub next_probe_at: Option<u64>,
    /// The current probe interval, in milliseconds.
    pub probe_interval_ms: u64,
    /// The held event out as a probe or drain, and when it was released.
    pub released: Option<(String, u64)>,
    /// The last failure, in words.
    pub last_error: Option<String>,
    /// When each alert kind was last sent (rate limit).
    #[serde(default)]
    pub alerted: Vec<(String, u64)>,
}

impl Default for BreakerState {
    fn default() -> Self {
        BreakerState {
            phase: Phase::Active,
            since: 0,
            reason: None,
            paused_by_operator: false,
            consecutive_failures: 0,
            recent: Vec::new(),
            held: 0,
            next_probe_at: None,
            probe_interval_ms: 0,
            released: None,
            last_error: None,
            alerted: Vec::new(),
        }
    }
}

/// What the consumer does with a message for the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Attempt it as usual.
    Attempt,
    /// The object holds it: ack the message, attempt nothing.
    Held,
}

/// How an attempt went, as the breaker counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Delivered.
    Delivered,
    /// Failed in a way a retry may fix (5xx, 429, timeout, network).
    Failed,
    /// Refused for good (4xx): the destination answered, so it is up.
    Rejected,
}

/// A state change worth an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Paused (by the breaker or an operator).
    Paused,
    /// Resumed (a probe delivered, or an operator).
    Resumed,
}

/// What a breaker object does after an ask, a report, an alarm or an
/// operator's command.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Step {
    /// Release the oldest held event (to the queue, marked released).
    pub release_oldest: bool,
    /// Delete the held event with this id (its outcome is known).
    pub forget: Option<String>,
    /// Whether `held` is still to be lowered for it, if it was there: a
    /// release the object no longer waited for (the count of the one it
    /// waited for is lowered here).
    pub forget_uncounted: bool,
    /// Wake the object at this time (Unix ms).
    pub wake_at: Option<u64>,
    /// The change to alert about, if any.
    pub change: Option<Change>,
}

/// The answer to "may I attempt this message?".
pub fn ask(state: &BreakerState, settings: &BreakerSettings) -> Decision {
    match (settings.enabled(), state.phase) {
        (false, _) | (_, Phase::Active) => Decision::Attempt,
        _ => Decision::Held,
    }
}

/// Records that a message was held (the object stored it: `new` when it
/// was not already). Wakes the object for the probe if none is pending.
pub fn held(state: &mut BreakerState, new: bool, now: u64) -> Step {
    if new {
        state.held += 1;
    }
    let wake_at = match (state.phase, state.next_probe_at, state.paused_by_operator) {
        (Phase::Paused, Some(at), false) => Some(at.max(now)),
        _ => None,
    };
    Step {
        wake_at,
        ..Step::default()
    }
}

fn pause(state: &mut BreakerState, settings: &BreakerSettings, reason: String, now: u64) {
    state.phase = Phase::Paused;
    state.since = now;
    state.reason = Some(reason);
    state.probe_interval_ms = settings.probe_ms.max(1);
    state.next_probe_at = Some(now + state.probe_interval_ms);
    state.released = None;
}

/// Why the window's ratio pauses, if it does.
fn ratio_trips(state: &BreakerState, settings: &BreakerSettings) -> Option<String> {
    let window = settings.window as usize;
    if window == 0 || state.recent.len() < window {
        return None;
    }
    let failed = state.recent.iter().filter(|f| **f).count();
    (failed as f64 >= settings.ratio * window as f64)
        .then(|| format!("{failed} of the last {window} attempts failed"))
}

/// Records the outcome of an attempt. `released` names the held event it
/// was (a probe or a drain), `None` for an ordinary attempt; `error` is the
/// failure in words.
pub fn report(
    state: &mut BreakerState,
    settings: &BreakerSettings,
    released: Option<&str>,
    outcome: Outcome,
    error: Option<&str>,
    now: u64,
) -> Step {
    let failed = outcome == Outcome::Failed;
    if failed {
        state.last_error = error.map(str::to_owned);
    }
    let is_ours =
        released.is_some() && state.released.as_ref().map(|(id, _)| id.as_str()) == released;
    if let Some(id) = released {
        if !is_ours {
            // A release we no longer wait for (an operator acted meanwhile,
            // or it was released again): its outcome changes nothing, but a
            // delivered or rejected one is not held any more.
            return Step {
                forget: (!failed).then(|| id.to_owned()),
                forget_uncounted: !failed,
                ..Step::default()
            };
        }
        state.released = None;
        if failed {
            let was_probing = state.phase == Phase::Probing;
            state.phase = Phase::Paused;
            state.consecutive_failures += 1;
            if !was_probing {
                // The drain failed: paused again, probes from the start.
                state.since = now;
                state.probe_interval_ms = settings.probe_ms.max(1);
                state.reason = Some(format!(
                    "failed again while draining (last: {})",
                    error.unwrap_or("unknown")
                ));
            } else {
                state.probe_interval_ms = (state.probe_interval_ms * 2).min(PROBE_CAP_MS);
            }
            let at = now + state.probe_interval_ms;
            state.next_probe_at = Some(at);
            return Step {
                wake_at: Some(at),
                ..Step::default()
            };
        }
        // Delivered, or refused for good (the consumer dead-letters it): the
        // destination answers, so the drain goes on.
        state.held = state.held.saturating_sub(1);
        state.consecutive_failures = 0;
        state.recent.clear();
        let change = (state.phase == Phase::Probing).then_some(Change::Resumed);
        if change.is_some() {
            state.since = now;
            state.reason = None;
            state.next_probe_at = None;
        }
        return drain_on(state, Some(id.to_owned()), change, now);
    }
    if !settings.enabled() || state.phase != Phase::Active {
        // An attempt that was under way when the destination paused.
        return Step::default();
    }
    if failed {
        state.consecutive_failures += 1;
    } else {
        state.consecutive_failures = 0;
    }
    if settings.window > 0 {
        state.recent.push(failed);
        let excess = state.recent.len().saturating_sub(settings.window as usize);
        state.recent.drain(..excess);
    }
    let reason = if failed && state.consecutive_failures >= settings.failures {
        Some(format!(
            "{} failures in a row (last: {})",
            state.consecutive_failures,
            error.unwrap_or("unknown")
        ))
    } else if failed {
        ratio_trips(state, settings)
    } else {
        None
    };
    match reason {
        Some(reason) => {
            pause(state, settings, reason, now);
            Step {
                wake_at: state.next_probe_at,
                change: Some(Change::Paused),
                ..Step::default()
            }
        }
        None => Step::default(),
    }
}

/// After one held event is done with: release the next, or, with nothing
/// held, back to active.
fn drain_on(
    state: &mut BreakerState,
    forget: Option<String>,
    change: Option<Change>,
    now: u64,
) -> Step {
    if state.held == 0 {
        state.phase = Phase::Active;
        state.since = now;
        state.reason = None;
        state.paused_by_operator = false;
        return Step {
            forget,
            change,
            ..Step::default()
        };
    }
    state.phase = Phase::Draining;
    state.paused_by_operator = false;
    Step {
        release_oldest: true,
        forget,
        change,
        wake_at: Some(now + RELEASE_TIMEOUT_MS),
        ..Step::default()
    }
}

/// Records the release of the held event `id` (what [`Step::release_oldest`]
/// asked for): in flight from `now`.
pub fn released(state: &mut BreakerState, id: &str, now: u64) {
    state.released = Some((id.to_owned(), now));
}

/// The object's alarm at `now`: a probe that is due, or a release that was
/// never reported.
pub fn alarm(state: &mut BreakerState, now: u64) -> Step {
    match state.phase {
        Phase::Paused if !state.paused_by_operator => match state.next_probe_at {
            Some(at) if at <= now && state.held > 0 => {
                state.phase = Phase::Probing;
                Step {
                    release_oldest: true,
                    wake_at: Some(now + RELEASE_TIMEOUT_MS),
                    ..Step::default()
                }
            }
            Some(at) if at > now => Step {
                wake_at: Some(at),
                ..Step::default()
            },
            // Nothing held to probe with: the next held event wakes it.
            _ => Step::default(),
        },
        Phase::Probing | Phase::Draining => match &state.released {
            Some((_, at)) if now >= at + RELEASE_TIMEOUT_MS => Step {
                release_oldest: true,
                wake_at: Some(now + RELEASE_TIMEOUT_MS),
                ..Step::default()
            },
            Some((_, at)) => Step {
                wake_at: Some(at + RELEASE_TIMEOUT_MS),
                ..Step::default()
            },
            None if state.held > 0 => Step {
                release_oldest: true,
                wake_at: Some(now + RELEASE_TIMEOUT_MS),
                ..Step::default()
            },
            None => drain_on(state, None, None, now),
        },
        _ => Step::default(),
    }
}

/// An operator pauses the destination: held until an operator resumes it.
pub fn operator_pause(state: &mut BreakerState, now: u64) -> Step {
    let was_paused = state.phase != Phase::Active;
    state.phase = Phase::Paused;
    state.since = now;
    state.reason = Some("paused by an operator".to_owned());
    state.paused_by_operator = true;
    state.next_probe_at = None;
    state.released = None;
    Step {
        change: (!was_paused).then_some(Change::Paused),
        ..Step::default()
    }
}

/// An operator resumes the destination: what was held is released in order.
pub fn operator_resume(state: &mut BreakerState, now: u64) -> Step {
    if state.phase == Phase::Active {
        return Step::default();
    }
    state.consecutive_failures = 0;
    state.recent.clear();
    state.next_probe_at = None;
    state.released = None;
    state.since = now;
    state.reason = None;
    drain_on(state, None, Some(Change::Resumed), now)
}

/// Whether an alert of `kind` may be sent at `now` (at most one per
/// `interval_ms` per kind), recording it when it may.
pub fn may_alert(state: &mut BreakerState, kind: &str, interval_ms: u64, now: u64) -> bool {
    match state.alerted.iter_mut().find(|(k, _)| k == kind) {
        Some((_, at)) if now < *at + interval_ms => false,
        Some((_, at)) => {
            *at = now;
            true
        }
        None => {
            state.alerted.push((kind.to_owned(), now));
            true
        }
    }
}

/// The storage key of a held event: arrival time (zero-padded, so keys sort
/// in arrival order), then the id.
pub fn held_key(received_at: u64, id: &str) -> String {
    format!("held:{received_at:016}:{id}")
}

/// The prefix of every held event's key.
pub const HELD_PREFIX: &str = "held:";

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(failures: u32) -> BreakerSettings {
        BreakerSettings {
            failures,
            window: 0,
            ratio: 0.5,
            probe_ms: 30_000,
        }
    }

    fn fail(state: &mut BreakerState, s: &BreakerSettings, now: u64) -> Step {
        report(state, s, None, Outcome::Failed, Some("HTTP 503"), now)
    }

    #[test]
    fn the_threshold_of_failures_in_a_row_pauses_once_with_one_alert() {
        let s = settings(3);
        let mut state = BreakerState::default();
        assert_eq!(fail(&mut state, &s, 1), Step::default());
        assert_eq!(fail(&mut state, &s, 2), Step::default());
        let step = fail(&mut state, &s, 3);
        assert_eq!(step.change, Some(Change::Paused));
        assert_eq!(step.wake_at, Some(30_003));
        assert_eq!(state.phase, Phase::Paused);
        assert_eq!(
            state.reason.as_deref(),
            Some("3 failures in a row (last: HTTP 503)")
        );
        assert_eq!(ask(&state, &s), Decision::Held);
        // Attempts under way when it paused change nothing, and alert no more.
        assert_eq!(fail(&mut state, &s, 4), Step::default());
        assert_eq!(state.phase, Phase::Paused);
    }

    #[test]
    fn a_success_between_failures_starts_the_count_again() {
        let s = settings(3);
        let mut state = BreakerState::default();
        fail(&mut state, &s, 1);
        fail(&mut state, &s, 2);
        report(&mut state, &s, None, Outcome::Delivered, None, 3);
        fail(&mut state, &s, 4);
        fail(&mut state, &s, 5);
        assert_eq!(state.phase, Phase::Active);
        assert_eq!(ask(&state, &s), Decision::Attempt);
    }

    #[test]
    fn a_rejection_is_an_answer_and_not_a_failure() {
        let s = settings(2);
        let mut state = BreakerState::default();
        fail(&mut state, &s, 1);
        report(&mut state, &s, None, Outcome::Rejected, None, 2);
        fail(&mut state, &s, 3);
        assert_eq!(state.phase, Phase::Active);
    }

    #[test]
    fn the_failure_ratio_over_a_full_window_pauses() {
        let s = BreakerSettings {
            failures: 100,
            window: 4,
            ratio: 0.5,
            probe_ms: 1000,
        };
        let mut state = BreakerState::default();
        fail(&mut state, &s, 1);
        report(&mut state, &s, None, Outcome::Delivered, None, 2);
        report(&mut state, &s, None, Outcome::Delivered, None, 3);
        assert_eq!(state.phase, Phase::Active, "the window is not full yet");
        let step = fail(&mut state, &s, 4);
        assert_eq!(step.change, Some(Change::Paused));
        assert_eq!(
            state.reason.as_deref(),
            Some("2 of the last 4 attempts failed")
        );
    }

    #[test]
    fn zero_failures_turns_the_breaker_off() {
        let s = settings(0);
        let mut state = BreakerState::default();
        for now in 0..50 {
            assert_eq!(fail(&mut state, &s, now), Step::default());
        }
        assert_eq!(ask(&state, &s), Decision::Attempt);
    }

    fn paused(s: &BreakerSettings) -> BreakerState {
        let mut state = BreakerState::default();
        for now in 0..u64::from(s.failures) {
            fail(&mut state, s, now);
        }
        assert_eq!(state.phase, Phase::Paused);
        state
    }

    #[test]
    fn probes_come_at_doubling_intervals_up_to_an_hour() {
        let s = settings(1);
        let mut state = paused(&s);
        held(&mut state, true, 10);
        held(&mut state, true, 11);
        held(&mut state, false, 12);
        assert_eq!(state.held, 2, "a message held twice counts once");
        assert!(!alarm(&mut state, 29_999).release_oldest);
        let mut now = 30_000;
        let mut intervals = Vec::new();
        for _ in 0..10 {
            let step = alarm(&mut state, now);
            assert!(step.release_oldest, "probe due at {now}");
            assert_eq!(state.phase, Phase::Probing);
            released(&mut state, "evt_a", now);
            let step = report(
                &mut state,
                &s,
                Some("evt_a"),
                Outcome::Failed,
                Some("HTTP 503"),
                now + 5,
            );
            assert_eq!(step.change, None, "a failed probe alerts nobody");
            assert_eq!(state.phase, Phase::Paused);
            intervals.push(state.probe_interval_ms);
            now = step.wake_at.unwrap();
        }
        assert_eq!(&intervals[..3], &[60_000, 120_000, 240_000]);
        assert_eq!(*intervals.last().unwrap(), PROBE_CAP_MS);
        assert_eq!(state.held, 2, "a failed probe is still held");
    }

    #[test]
    fn a_delivered_probe_resumes_and_drains_in_order_then_goes_active() {
        let s = settings(1);
        let mut state = paused(&s);
        for _ in 0..3 {
            held(&mut state, true, 1);
        }
        assert!(alarm(&mut state, 30_000).release_oldest);
        released(&mut state, "evt_1", 30_000);
        let step = report(
            &mut state,
            &s,
            Some("evt_1"),
            Outcome::Delivered,
            None,
            30_100,
        );
        assert_eq!(step.change, Some(Change::Resumed));
        assert_eq!(step.forget.as_deref(), Some("evt_1"));
        assert!(step.release_oldest);
        assert_eq!(state.phase, Phase::Draining);
        assert_eq!(
            ask(&state, &s),
            Decision::Held,
            "new events queue up behind the held ones"
        );
        released(&mut state, "evt_2", 30_100);
        let step = report(
            &mut state,
            &s,
            Some("evt_2"),
            Outcome::Rejected,
            None,
            30_200,
        );
        assert_eq!(step.change, None);
        assert!(step.release_oldest, "a rejection does not stop the drain");
        released(&mut state, "evt_3", 30_200);
        let step = report(
            &mut state,
            &s,
            Some("evt_3"),
            Outcome::Delivered,
            None,
            30_300,
        );
        assert!(!step.release_oldest);
        assert_eq!(state.phase, Phase::Active);
        assert_eq!(state.held, 0);
        assert_eq!(ask(&state, &s), Decision::Attempt);
    }

    #[test]
    fn a_failure_while_draining_pauses_again_without_an_alert() {
        let s = settings(1);
        let mut state = paused(&s);
        held(&mut state, true, 1);
        held(&mut state, true, 1);
        alarm(&mut state, 30_000);
        released(&mut state, "evt_1", 30_000);
        report(
            &mut state,
            &s,
            Some("evt_1"),
            Outcome::Delivered,
            None,
            30_001,
        );
        released(&mut state, "evt_2", 30_001);
        let step = report(
            &mut state,
            &s,
            Some("evt_2"),
            Outcome::Failed,
            Some("HTTP 502"),
            30_002,
        );
        assert_eq!(step.change, None);
        assert_eq!(state.phase, Phase::Paused);
        assert_eq!(state.next_probe_at, Some(60_002));
    }

    #[test]
    fn an_unreported_release_is_released_again_after_the_timeout() {
        let s = settings(1);
        let mut state = paused(&s);
        held(&mut state, true, 1);
        alarm(&mut state, 30_000);
        released(&mut state, "evt_1", 30_000);
        assert!(!alarm(&mut state, 30_000 + RELEASE_TIMEOUT_MS - 1).release_oldest);
        assert!(alarm(&mut state, 30_000 + RELEASE_TIMEOUT_MS).release_oldest);
    }

    #[test]
    fn an_operator_pause_holds_without_probes_until_an_operator_resumes() {
        let s = settings(10);
        let mut state = BreakerState::default();
        assert_eq!(operator_pause(&mut state, 5).change, Some(Change::Paused));
        assert!(state.paused_by_operator);
        assert_eq!(ask(&state, &s), Decision::Held);
        assert_eq!(held(&mut state, true, 6).wake_at, None, "no probe");
        assert_eq!(alarm(&mut state, 10_000_000), Step::default());
        let step = operator_resume(&mut state, 7);
        assert_eq!(step.change, Some(Change::Resumed));
        assert!(step.release_oldest);
        assert_eq!(state.phase, Phase::Draining);
        assert!(!state.paused_by_operator);
        assert_eq!(
            operator_resume(&mut BreakerState::default(), 8),
            Step::default()
        );
    }

    #[test]
    fn a_resume_with_nothing_held_is_active_at_once() {
        let mut state = BreakerState::default();
        operator_pause(&mut state, 1);
        let step = operator_resume(&mut state, 2);
        assert_eq!(state.phase, Phase::Active);
        assert!(!step.release_oldest);
        assert_eq!(step.change, Some(Change::Resumed));
    }

    #[test]
    fn a_stale_release_is_forgotten_once_delivered_and_changes_nothing() {
        let s = settings(1);
        let mut state = paused(&s);
        let step = report(&mut state, &s, Some("evt_x"), Outcome::Delivered, None, 1);
        assert_eq!(step.forget.as_deref(), Some("evt_x"));
        assert!(
            step.forget_uncounted,
            "the object lowers the count if it held it"
        );
        assert_eq!(state.phase, Phase::Paused);
        let step = report(&mut state, &s, Some("evt_x"), Outcome::Failed, None, 1);
        assert_eq!(step, Step::default());
    }

    #[test]
    fn alerts_of_a_kind_are_rate_limited() {
        let mut state = BreakerState::default();
        assert!(may_alert(&mut state, "paused", 1000, 0));
        assert!(!may_alert(&mut state, "paused", 1000, 999));
        assert!(may_alert(&mut state, "resumed", 1000, 999));
        assert!(may_alert(&mut state, "paused", 1000, 1000));
    }

    #[test]
    fn held_keys_sort_in_arrival_order() {
        let mut keys = [
            held_key(1_700_000_000_010, "evt_a"),
            held_key(999, "evt_z"),
            held_key(1_700_000_000_002, "evt_b"),
        ];
        keys.sort();
        assert_eq!(keys[0], held_key(999, "evt_z"));
        assert_eq!(keys[2], held_key(1_700_000_000_010, "evt_a"));
        assert!(keys.iter().all(|k| k.starts_with(HELD_PREFIX)));
    }
}
