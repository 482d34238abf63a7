//! What an attempt's outcome does to the breaker: an ordinary attempt is
//! counted towards a pause, a released one (a probe trial or the drain)
//! resumes, goes on, or pauses again.

use super::{
    drain_on, pause, BreakerSettings, BreakerState, Change, Outcome, Phase, Step, PROBE_CAP_MS,
    PROBE_TRIALS, RELEASE_TIMEOUT_MS,
};

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
    match released {
        Some(id) if state.released.as_ref().is_some_and(|(ours, _)| ours == id) => {
            state.released = None;
            match (failed, state.phase) {
                (false, _) => answered(state, id, now),
                (true, Phase::Probing) => failed_trial(state, now),
                (true, _) => failed_drain(state, settings, error, now),
            }
        }
        // A release we no longer wait for (an operator acted meanwhile, or
        // it was released again): its outcome changes nothing, but a
        // delivered or rejected one is not held any more.
        Some(id) => Step {
            forget: (!failed).then(|| id.to_owned()),
            forget_uncounted: !failed,
            ..Step::default()
        },
        None => counted(state, settings, failed, error, now),
    }
}

/// A released event delivered, or refused for good (the consumer
/// dead-letters it): the destination answers, so a probe resumes it and
/// the drain goes on.
fn answered(state: &mut BreakerState, id: &str, now: u64) -> Step {
    state.held = state.held.saturating_sub(1);
    state.consecutive_failures = 0;
    state.recent.clear();
    state.trials = 0;
    let change = (state.phase == Phase::Probing).then_some(Change::Resumed);
    if change.is_some() {
        state.since = now;
        state.reason = None;
        state.next_probe_at = None;
    }
    drain_on(state, Some(id.to_owned()), change, now)
}

/// A probe trial failed: the oldest is tried again at once while the round
/// has trials left, else the destination waits for the next round. Each
/// failed trial doubles the interval.
fn failed_trial(state: &mut BreakerState, now: u64) -> Step {
    state.consecutive_failures += 1;
    state.trials += 1;
    state.probe_interval_ms = (state.probe_interval_ms.max(1) * 2).min(PROBE_CAP_MS);
    if state.trials < PROBE_TRIALS {
        return release_again(now);
    }
    state.trials = 0;
    state.phase = Phase::Paused;
    let at = now + state.probe_interval_ms;
    state.next_probe_at = Some(at);
    Step {
        wake_at: Some(at),
        ..Step::default()
    }
}

/// A drained event failed: it stays held, first in line, and is released
/// again at once. Only as many failures in a row as pause an active
/// destination, with no answer between them, pause it again (an alert:
/// the resume was announced), with probes from the first interval.
fn failed_drain(
    state: &mut BreakerState,
    settings: &BreakerSettings,
    error: Option<&str>,
    now: u64,
) -> Step {
    state.consecutive_failures += 1;
    if state.consecutive_failures < settings.failures.max(1) {
        return release_again(now);
    }
    let reason = format!(
        "{} failures in a row while draining (last: {})",
        state.consecutive_failures,
        error.unwrap_or("unknown")
    );
    pause(state, settings, reason, now);
    Step {
        wake_at: state.next_probe_at,
        change: Some(Change::Paused),
        ..Step::default()
    }
}

/// Releases the oldest held event again (the one that just failed).
fn release_again(now: u64) -> Step {
    Step {
        release_oldest: true,
        wake_at: Some(now + RELEASE_TIMEOUT_MS),
        ..Step::default()
    }
}

/// An ordinary attempt: counted while active, and pausing the destination
/// once it makes the threshold of failures in a row or the window's ratio.
fn counted(
    state: &mut BreakerState,
    settings: &BreakerSettings,
    failed: bool,
    error: Option<&str>,
    now: u64,
) -> Step {
    if !settings.enabled() || state.phase != Phase::Active {
        // An attempt that was under way when the destination paused.
        return Step::default();
    }
    state.consecutive_failures = if failed {
        state.consecutive_failures + 1
    } else {
        0
    };
    if settings.window > 0 {
        state.recent.push(failed);
        let excess = state.recent.len().saturating_sub(settings.window as usize);
        state.recent.drain(..excess);
    }
    let Some(reason) = failed.then(|| trips(state, settings, error)).flatten() else {
        return Step::default();
    };
    pause(state, settings, reason, now);
    Step {
        wake_at: state.next_probe_at,
        change: Some(Change::Paused),
        ..Step::default()
    }
}

/// Why a failure pauses the destination, if it does: the threshold of
/// failures in a row, or the failure ratio over a full window.
fn trips(state: &BreakerState, settings: &BreakerSettings, error: Option<&str>) -> Option<String> {
    if state.consecutive_failures >= settings.failures {
        return Some(format!(
            "{} failures in a row (last: {})",
            state.consecutive_failures,
            error.unwrap_or("unknown")
        ));
    }
    let window = settings.window as usize;
    if window == 0 || state.recent.len() < window {
        return None;
    }
    let failed = state.recent.iter().filter(|f| **f).count();
    (failed as f64 >= settings.ratio * window as f64)
        .then(|| format!("{failed} of the last {window} attempts failed"))
}
