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
//!  probing ──failed, fewer than PROBE_TRIALS trials──▶ probing (the oldest again, at once)
//!  probing ──PROBE_TRIALS trials failed──▶ paused (the interval doubled per failed trial, to a cap)
//!  probing ──answered──▶ draining (alert: resumed) ──held empty──▶ active
//!  draining ──failed──▶ draining (the same event again, first in line)
//!  draining ──N failures in a row──▶ paused (alert: paused; probes from the start)
//!  any ──operator pause──▶ paused (no probes) ; paused ──operator resume──▶ draining | active
//! ```
//!
//! Down and flaky (issue #27): a destination that fails every attempt
//! fails every trial and pauses again, probed less and less often; one
//! that still answers some attempts (each event fails twice, then is
//! accepted) must never stall. So a probe round admits [`PROBE_TRIALS`]
//! trials, and a drained event that fails is released again instead of
//! pausing the destination at once: only [`BreakerSettings::failures`]
//! failures in a row, with no answer between them, pause it again, as
//! they do when it is active.
//!
//! While not active every message for the destination is held (stored by
//! the object under its arrival time), never attempted and never
//! dead-lettered, and its attempts are not counted. Held events are
//! released one at a time, oldest first: the next only after the consumer
//! reported the previous one, so the drain is in order of arrival and paced
//! by the destination itself (and its pacer, for chat services).

use serde::{Deserialize, Serialize};

pub mod object;
mod report;

pub use report::report;

/// Default failures in a row that pause a destination.
pub const DEFAULT_FAILURES: u32 = 10;
/// Default first probe interval, in seconds.
pub const DEFAULT_PROBE_SECONDS: u64 = 30;
/// Longest probe interval: an hour.
pub const PROBE_CAP_MS: u64 = 3_600_000;
/// A released event whose outcome is not reported within this time is
/// released again (its message was lost, or the consumer failed on it).
pub const RELEASE_TIMEOUT_MS: u64 = 60_000;
/// Trials of a probe round: a destination that accepts at least one
/// attempt in three (each event failing twice, then accepted) answers
/// within them; one that is down fails them all. Each failed trial doubles
/// the probe interval, so a down destination is probed less often than
/// with one trial a round.
pub const PROBE_TRIALS: u32 = 3;

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
    /// Failed trials of the current probe round (probing only).
    #[serde(default)]
    pub trials: u32,
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
            trials: 0,
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
                state.trials = 0;
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
mod flaky;
#[cfg(test)]
mod tests;
