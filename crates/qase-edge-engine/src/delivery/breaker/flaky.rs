//! Issue #27's stall, replayed on the breaker's rules with a small model of
//! the consumer, the queue and the breaker's object around them:
//! 1. A destination that fails each event twice (503 with `Retry-After: 1`,
//!    then 500) and then accepts it, with retries at 1 to 2 s, 6 attempts
//!    and the default breaker, receives 20 of 20 events within 60 s and
//!    dead-letters none (before the fix: paused after 10 failures, paused
//!    again by each drained event, the probe interval doubling).
//! 2. A destination that is down for two minutes and then answers keeps
//!    every guarantee: its events are held (only the oldest is tried, as a
//!    probe), none is dead-lettered, each arrives once in order of arrival,
//!    with one pause alert and one resume alert.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::time::Duration;

use qase_webhooks::retry::{AttemptResult, RetryPolicy, Verdict};

use super::*;

/// A queue hop, and a destination's answer time.
const HOP_MS: u64 = 100;
const CALL_MS: u64 = 50;

/// A queued message: the event, its attempts, the held key it was released under.
type Message = (u64, u32, Option<String>);

struct Model {
    policy: RetryPolicy,
    settings: BreakerSettings,
    state: BreakerState,
    queue: BinaryHeap<Reverse<(u64, u64, Message)>>,
    sequence: u64,
    alarm_at: Option<u64>,
    /// Held events by key: the event and its attempts.
    held: BTreeMap<String, (u64, u32)>,
    /// Calls per event, and each call's event while paused or not.
    calls: Vec<u32>,
    called: Vec<(u64, u64, Phase)>,
    delivered: Vec<(u64, u64)>,
    dead: Vec<u64>,
    alerts: Vec<Change>,
}

fn key(event: u64) -> String {
    held_key(event * 50, &format!("evt_{event:03}"))
}

impl Model {
    fn new(events: u64) -> Model {
        let mut model = Model {
            policy: RetryPolicy {
                base: Duration::from_secs(1),
                cap: Duration::from_secs(2),
                max_attempts: 6,
            },
            settings: BreakerSettings::default(),
            state: BreakerState::default(),
            queue: BinaryHeap::new(),
            sequence: 0,
            alarm_at: None,
            held: BTreeMap::new(),
            calls: vec![0; events as usize],
            called: Vec::new(),
            delivered: Vec::new(),
            dead: Vec::new(),
            alerts: Vec::new(),
        };
        for event in 0..events {
            model.send(event * 50, (event, 0, None));
        }
        model
    }

    fn send(&mut self, at: u64, message: Message) {
        self.sequence += 1;
        self.queue.push(Reverse((at, self.sequence, message)));
    }

    /// Runs until `end`; `answer(event's call, now)` is the status.
    fn run(&mut self, end: u64, answer: impl Fn(u32, u64) -> AttemptResult) {
        loop {
            let next = self.queue.peek().map(|Reverse((at, _, _))| *at);
            match (next, self.alarm_at) {
                (_, Some(wake)) if next.is_none_or(|at| wake < at) && wake <= end => {
                    self.alarm_at = None;
                    let step = alarm(&mut self.state, wake);
                    self.carry_out(step, wake);
                }
                (Some(at), _) if at <= end => {
                    let Reverse((at, _, message)) = self.queue.pop().unwrap();
                    self.consume(message, at, &answer);
                }
                _ => return,
            }
        }
    }

    fn consume(
        &mut self,
        (event, attempts, released): Message,
        now: u64,
        answer: impl Fn(u32, u64) -> AttemptResult,
    ) {
        if released.is_none() && ask(&self.state, &self.settings) == Decision::Held {
            let new = self.held.insert(key(event), (event, attempts)).is_none();
            let step = held(&mut self.state, new, now);
            return self.carry_out(step, now);
        }
        self.called.push((now, event, self.state.phase));
        let result = answer(self.calls[event as usize], now);
        self.calls[event as usize] += 1;
        let now = now + CALL_MS;
        let verdict = self.policy.verdict(result, attempts + 1, 0.5);
        let outcome = match verdict {
            Verdict::Delivered => Outcome::Delivered,
            Verdict::Retry(_) => Outcome::Failed,
            Verdict::Rejected => Outcome::Rejected,
        };
        match (verdict, &released) {
            (Verdict::Delivered, _) => self.delivered.push((now, event)),
            (Verdict::Retry(_), Some(_)) => {}
            (Verdict::Retry(delay), None) if self.policy.may_retry(attempts + 1) => {
                let at = now + delay.as_millis() as u64;
                self.send(at, (event, attempts + 1, None));
            }
            _ => self.dead.push(event),
        }
        let step = report(
            &mut self.state,
            &self.settings,
            released.as_deref(),
            outcome,
            Some("HTTP 5xx"),
            now,
        );
        self.carry_out(step, now);
    }

    fn carry_out(&mut self, step: Step, now: u64) {
        if let Some(key) = &step.forget {
            if self.held.remove(key).is_some() && step.forget_uncounted {
                self.state.held -= 1;
            }
        }
        if step.release_oldest {
            let (key, &(event, attempts)) = self.held.iter().next().expect("a held event");
            let key = key.clone();
            self.send(now + HOP_MS, (event, attempts, Some(key.clone())));
            released(&mut self.state, &key, now);
        }
        if let Some(at) = step.wake_at {
            self.alarm_at = Some(at);
        }
        self.alerts.extend(step.change);
    }
}

fn status(status: u16, retry_after: Option<u64>) -> AttemptResult {
    AttemptResult::Status {
        status,
        retry_after,
    }
}

#[test]
fn a_destination_failing_each_event_twice_receives_all_twenty_within_a_minute() {
    let mut model = Model::new(20);
    model.run(600_000, |call, _| match call {
        0 => status(503, Some(1)),
        1 => status(500, None),
        _ => status(200, None),
    });
    let mut delivered: Vec<u64> = model.delivered.iter().map(|(_, event)| *event).collect();
    delivered.sort();
    assert_eq!(delivered, (0..20).collect::<Vec<_>>(), "each once");
    let last = model.delivered.iter().map(|(at, _)| *at).max().unwrap();
    assert!(
        last <= 60_000,
        "the last arrived at {last} ms: {:?}",
        model.delivered
    );
    assert!(model.dead.is_empty(), "dead-lettered: {:?}", model.dead);
    assert_eq!(model.alerts, [Change::Paused, Change::Resumed]);
    assert_eq!(model.state.phase, Phase::Active);
}

#[test]
fn a_destination_down_for_two_minutes_holds_then_delivers_each_once_in_order() {
    let mut model = Model::new(50);
    model.run(3_600_000, |_, now| match now < 120_000 {
        true => status(503, None),
        false => status(200, None),
    });
    let delivered: Vec<u64> = model.delivered.iter().map(|(_, event)| *event).collect();
    assert_eq!(
        delivered,
        (0..50).collect::<Vec<_>>(),
        "each once, in order"
    );
    assert!(model.dead.is_empty(), "dead-lettered: {:?}", model.dead);
    assert_eq!(model.alerts, [Change::Paused, Change::Resumed]);
    let paused_at = model
        .called
        .iter()
        .position(|(_, _, phase)| *phase != Phase::Active);
    let while_paused = &model.called[paused_at.unwrap()..];
    let probes = while_paused.iter().take_while(|(at, _, _)| *at < 120_000);
    assert!(
        probes.clone().all(|(_, event, _)| *event == 0),
        "only the oldest is probed"
    );
    assert!(
        probes.count() <= 2 * PROBE_TRIALS as usize,
        "probed at doubling intervals"
    );
    assert_eq!((model.state.phase, model.state.held), (Phase::Active, 0));
}
