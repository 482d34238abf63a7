//! The breaker's rules, one transition at a time.

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
fn probe_rounds_of_three_trials_come_at_intervals_doubled_per_failed_trial_up_to_an_hour() {
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
        for trial in 1..=PROBE_TRIALS {
            assert_eq!(state.phase, Phase::Probing);
            released(&mut state, "evt_a", now);
            now += 5;
            let step = report(
                &mut state,
                &s,
                Some("evt_a"),
                Outcome::Failed,
                Some("HTTP 503"),
                now,
            );
            assert_eq!(step.change, None, "a failed trial alerts nobody");
            assert_eq!(
                step.release_oldest,
                trial < PROBE_TRIALS,
                "the oldest again while the round has trials left"
            );
            if trial == PROBE_TRIALS {
                assert_eq!(state.phase, Phase::Paused);
                intervals.push(state.probe_interval_ms);
                now = step.wake_at.unwrap();
            }
        }
    }
    assert_eq!(&intervals[..3], &[240_000, 1_920_000, PROBE_CAP_MS]);
    assert_eq!(*intervals.last().unwrap(), PROBE_CAP_MS);
    assert_eq!(state.held, 2, "a failed probe is still held");
}

#[test]
fn a_second_trial_that_answers_resumes() {
    let s = settings(1);
    let mut state = paused(&s);
    held(&mut state, true, 1);
    alarm(&mut state, 30_000);
    released(&mut state, "evt_1", 30_000);
    let step = report(&mut state, &s, Some("evt_1"), Outcome::Failed, None, 30_001);
    assert!(step.release_oldest);
    released(&mut state, "evt_1", 30_001);
    let step = report(
        &mut state,
        &s,
        Some("evt_1"),
        Outcome::Delivered,
        None,
        30_002,
    );
    assert_eq!(step.change, Some(Change::Resumed));
    assert_eq!(state.phase, Phase::Active);
    assert_eq!(state.trials, 0);
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
fn a_failure_while_draining_releases_the_event_again_and_only_the_threshold_pauses() {
    let s = settings(3);
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
    for n in 1..3 {
        released(&mut state, "evt_2", 30_001 + n);
        let step = report(
            &mut state,
            &s,
            Some("evt_2"),
            Outcome::Failed,
            Some("HTTP 502"),
            30_002 + n,
        );
        assert!(step.release_oldest, "the same event again, first in line");
        assert_eq!((step.change, state.phase), (None, Phase::Draining));
    }
    released(&mut state, "evt_2", 30_010);
    let step = report(
        &mut state,
        &s,
        Some("evt_2"),
        Outcome::Failed,
        Some("HTTP 502"),
        30_011,
    );
    assert_eq!(
        step.change,
        Some(Change::Paused),
        "announced: it was resumed"
    );
    assert_eq!(state.phase, Phase::Paused);
    assert_eq!(
        state.reason.as_deref(),
        Some("3 failures in a row while draining (last: HTTP 502)")
    );
    assert_eq!(state.next_probe_at, Some(60_011), "probes from the start");
    assert_eq!(state.held, 1);
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
