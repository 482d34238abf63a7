//! The simulated world of one seed: the delivery queue (delays, duplicates,
//! redeliveries), D1's event rows (the claim, the sweep's re-drive), one
//! breaker object and one pacer per destination, and the destinations. The
//! consumer's steps are the engine's rules, in the order
//! `qase_edge::delivery::consumer` carries them out.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::rc::Rc;

use qase_edge_engine::config::Config;
use qase_edge_engine::delivery::attempt::{self, Disposition, FollowUp, Targets};
use qase_edge_engine::delivery::breaker::{
    self, BreakerState, Change, Decision, Outcome, Phase, Step,
};
use qase_edge_engine::delivery::messages::{DeadLetter, QueuedDelivery};
use qase_edge_engine::delivery::records::{self, Claim};
use qase_edge_engine::delivery::{breaker_reports, pace};
use qase_edge_engine::store::d1::UnforwardedRow;
use qase_edge_engine::store::sweep;

use super::destinations::Behaviour;
use super::ledger::Ledger;
use super::rng::Rng;

/// A queue hop, the platform's redelivery delay, the sweep's period and
/// its re-drive delay (the defaults).
const HOP_MS: u64 = 10;
const REDELIVERY_MS: u64 = 30_000;
const SWEEP_MS: u64 = 300_000;
const REDRIVE_MS: u64 = 300_000;

/// Probabilities of each platform fault.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    pub redeliver: f64,
    pub duplicate: f64,
    pub ingest_send: f64,
    pub d1: f64,
    pub queue_send: f64,
    pub object_call: f64,
}

/// One destination's breaker object: its state, held events and alarm.
#[derive(Default)]
pub struct Object {
    pub state: BreakerState,
    pub held: BTreeMap<String, QueuedDelivery>,
    pub alarm: Option<u64>,
}

/// An event as ingest accepted it.
pub struct Event {
    pub id: String,
    pub received_at: u64,
    pub event_name: &'static str,
    pub project: &'static str,
}

pub struct World {
    pub rng: Rng,
    pub config: Rc<Config>,
    pub behaviours: Vec<Behaviour>,
    pub faults: Faults,
    pub now: u64,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    messages: HashMap<u64, QueuedDelivery>,
    sequence: u64,
    /// D1's event rows: `true` once claimed (`queued`).
    pub rows: BTreeMap<String, (bool, usize)>,
    pub events: Vec<Event>,
    pub objects: Vec<Object>,
    pacers: Vec<u64>,
    next_sweep: u64,
    pub calls: Vec<u32>,
    event_calls: HashMap<(String, usize), u32>,
    pub ledger: Ledger,
}

impl World {
    pub fn new(rng: Rng, config: Config, behaviours: Vec<Behaviour>, faults: Faults) -> World {
        let n = behaviours.len();
        World {
            rng,
            config: Rc::new(config),
            behaviours,
            faults,
            now: 0,
            queue: BinaryHeap::new(),
            messages: HashMap::new(),
            sequence: 0,
            rows: BTreeMap::new(),
            events: Vec::new(),
            objects: (0..n).map(|_| Object::default()).collect(),
            pacers: vec![0; n],
            next_sweep: SWEEP_MS,
            calls: vec![0; n],
            event_calls: HashMap::new(),
            ledger: Ledger::default(),
        }
    }

    pub fn index(&self, name: &str) -> usize {
        let destinations = &self.config.delivery.destinations;
        destinations.iter().position(|d| d.name == name).unwrap()
    }

    pub fn send(&mut self, at: u64, message: QueuedDelivery) {
        self.sequence += 1;
        self.queue.push(Reverse((at, self.sequence)));
        self.messages.insert(self.sequence, message);
    }

    /// Ingest accepts an event at `at`: its row, then its message (which
    /// may fail to send, or be sent twice).
    pub fn ingest(&mut self, event: Event) {
        let message = QueuedDelivery::new(
            event.id.clone(),
            event.event_name.to_owned(),
            event.project.to_owned(),
            event.received_at,
            b"{}",
            false,
        );
        self.rows
            .insert(event.id.clone(), (false, self.events.len()));
        if !self.rng.chance(self.faults.ingest_send) {
            self.send(event.received_at, message.clone());
        }
        if self.rng.chance(self.faults.duplicate) {
            let late = self.rng.range(0, 5_000);
            self.send(event.received_at + late, message);
        }
        self.events.push(event);
    }

    /// Runs until nothing is left to do or `horizon`; `false` when it ran away.
    pub fn run(&mut self, horizon: u64) -> bool {
        for _ in 0..200_000 {
            let message = self.queue.peek().map(|Reverse((at, _))| *at);
            let alarm = (0..self.objects.len())
                .filter_map(|i| self.objects[i].alarm.map(|at| (at, i)))
                .min();
            let next = [message, alarm.map(|(at, _)| at), Some(self.next_sweep)];
            let at = next.into_iter().flatten().min().unwrap();
            if at > horizon || (message.is_none() && self.settled()) {
                return true;
            }
            self.now = self.now.max(at);
            if message == Some(at) {
                let Reverse((_, sequence)) = self.queue.pop().unwrap();
                let delivery = self.messages.remove(&sequence).unwrap();
                self.process(delivery);
            } else if alarm.map(|(at, _)| at) == Some(at) {
                let i = alarm.unwrap().1;
                self.objects[i].alarm = None;
                let before = self.objects[i].state.phase;
                let step = breaker::alarm(&mut self.objects[i].state, self.now);
                self.carry_out_step(i, step, before);
            } else {
                self.next_sweep += SWEEP_MS;
                self.sweep();
            }
        }
        false
    }

    /// Nothing pending in D1, and no breaker holding events of a
    /// destination that will answer.
    fn settled(&self) -> bool {
        self.rows.values().all(|(claimed, _)| *claimed)
            && self
                .objects
                .iter()
                .zip(&self.behaviours)
                .all(|(object, b)| object.held.is_empty() || !b.recovers())
    }

    /// The cron sweep's re-drive: `pending` rows older than the delay.
    fn sweep(&mut self) {
        let due: Vec<usize> = self
            .rows
            .values()
            .filter(|(claimed, i)| !claimed && self.events[*i].received_at + REDRIVE_MS <= self.now)
            .map(|(_, i)| *i)
            .collect();
        for i in due {
            let event = &self.events[i];
            let row = UnforwardedRow {
                id: event.id.clone(),
                event_name: event.event_name.to_owned(),
                project_code: event.project.to_owned(),
                received_at: event.received_at,
            };
            self.send(self.now, sweep::redrive_message(&row));
        }
    }

    /// One queue message, as the consumer handles it.
    fn process(&mut self, delivery: QueuedDelivery) {
        let config = Rc::clone(&self.config);
        let targets: Vec<usize> = match attempt::targets(&config.delivery, &delivery) {
            Targets::Send(targets) => targets.iter().map(|d| self.index(&d.name)).collect(),
            Targets::Gone { destination, .. } => {
                return self.ledger.violation(format!("{destination} is gone"));
            }
        };
        if delivery.destination.is_none() && !self.claim(&delivery) {
            return;
        }
        let unsettled = targets
            .into_iter()
            .filter(|i| !self.deliver_to(&delivery, *i))
            .count();
        match attempt::disposition(&delivery, unsettled) {
            Disposition::Retry => self.send(self.now + REDELIVERY_MS, delivery),
            Disposition::Ack if self.rng.chance(self.faults.redeliver) => {
                // The platform delivers an acked message again.
                if let Some(name) = &delivery.destination {
                    self.ledger.excuse(&delivery.id, Some(self.index(name)));
                }
                self.send(self.now + REDELIVERY_MS, delivery);
            }
            Disposition::Ack => {}
        }
    }

    /// A new event's claim against D1: `true` to forward it.
    fn claim(&mut self, delivery: &QueuedDelivery) -> bool {
        let mut claim = records::claim(delivery, b"{}");
        while let Claim::Run { stage, .. } = claim {
            let result = match self.rng.chance(self.faults.d1) {
                true => Err(()),
                false => {
                    let row = self.rows.get_mut(&delivery.id).unwrap();
                    Ok(usize::from(!std::mem::replace(&mut row.0, true)))
                }
            };
            claim = records::after(stage, &delivery.id, result);
        }
        if claim == Claim::ForwardUnclaimed {
            // At least once (README, Delivery): the sweep sends it again.
            self.ledger.excuse(&delivery.id, None);
        }
        matches!(claim, Claim::Forward | Claim::ForwardUnclaimed)
    }

    /// One destination's part of a message: `false` when nothing that
    /// follows could be carried out.
    fn deliver_to(&mut self, delivery: &QueuedDelivery, i: usize) -> bool {
        let config = Rc::clone(&self.config);
        let destination = &config.delivery.destinations[i];
        let released = delivery
            .released
            .clone()
            .filter(|_| delivery.destination.as_ref() == Some(&destination.name));
        let mut report_success = true;
        if released.is_none() && config.delivery.breaker.enabled() {
            match self.ask(i, delivery) {
                Some((Decision::Held, _)) => return true,
                Some((Decision::Attempt, wanted)) => report_success = wanted,
                None => {}
            }
        }
        if destination.pace.is_some() && !self.pace(i, delivery) {
            return true;
        }
        let step = self.attempt(i, delivery, released.is_some());
        let outcome = breaker_reports::outcome(&step.log);
        let still_held = released.is_some() && outcome == Outcome::Failed;
        let settled = still_held || {
            let follow_up = attempt::follow_up(&step, &destination.name, self.now);
            self.carry_out(delivery, i, follow_up)
        };
        let breaker = &config.delivery.breaker;
        if breaker_reports::must_report(released.is_some(), breaker, outcome, report_success) {
            let error = step.next.last_error.as_deref();
            self.report(i, &delivery.id, released.as_deref(), outcome, error);
        }
        settled
    }

    /// Calls the destination and decides what follows.
    fn attempt(
        &mut self,
        i: usize,
        delivery: &QueuedDelivery,
        released: bool,
    ) -> attempt::AttemptStep {
        let key = (delivery.id.clone(), i);
        let event_calls = *self.event_calls.get(&key).unwrap_or(&0);
        let answer = self.behaviours[i].answer(self.calls[i], event_calls, self.now, &mut self.rng);
        self.calls[i] += 1;
        *self.event_calls.entry(key).or_default() += 1;
        if answer.taken {
            self.ledger.taken(&delivery.id, i, self.now);
        }
        let name = &self.config.delivery.destinations[i].name;
        let random = self.rng.unit();
        let result = (answer.result, answer.description);
        let step = attempt::after_attempt(
            &self.config.delivery,
            delivery,
            name,
            result,
            random,
            self.now,
        );
        let max = self.config.delivery.retry.max_attempts;
        if !released {
            self.ledger.attempted(&delivery.id, i);
            if step.log.attempt > max {
                self.ledger.violation(format!(
                    "attempt {} of {max} to {name} for {}",
                    step.log.attempt, delivery.id
                ));
            }
        }
        step
    }

    /// Carries out a follow-up, falling back as the engine says.
    fn carry_out(&mut self, delivery: &QueuedDelivery, i: usize, mut follow_up: FollowUp) -> bool {
        loop {
            let done = match &follow_up {
                FollowUp::Done => return true,
                FollowUp::Requeue {
                    next,
                    delay_seconds,
                } => {
                    let at = self.now + u64::from(*delay_seconds) * 1000;
                    let sent = !self.rng.chance(self.faults.queue_send);
                    if sent {
                        self.send(at, next.clone());
                    }
                    sent
                }
                FollowUp::DeadLetterQueue(dead) => {
                    !self.rng.chance(self.faults.queue_send) && self.dead_letter(dead, i)
                }
                FollowUp::RecordDead(dead) => {
                    !self.rng.chance(self.faults.d1) && self.dead_letter(dead, i)
                }
            };
            if done {
                return true;
            }
            match attempt::fallback(delivery, follow_up, "simulated fault", self.now) {
                Some(next) => follow_up = next,
                None => {
                    if delivery.destination.is_none() {
                        self.ledger.lost(&delivery.id, i);
                    }
                    return false;
                }
            }
        }
    }

    /// Records a dead letter; a held event's must never be one.
    fn dead_letter(&mut self, dead: &DeadLetter, i: usize) -> bool {
        let key = breaker::held_key(dead.delivery.received_at, &dead.delivery.id);
        let released =
            dead.delivery.released.is_some() || dead.reason != "rejected by the destination";
        if released
            && self.objects[i].held.contains_key(&key)
            && !self.ledger.excused(&dead.delivery.id, i)
        {
            let name = &dead.destination;
            self.ledger.violation(format!(
                "held {} dead-lettered for {name}: {}",
                dead.delivery.id, dead.reason
            ));
        }
        self.ledger.dead(&dead.delivery.id, i);
        true
    }

    /// Waits for a paced destination's slot: `false` when requeued for it.
    fn pace(&mut self, i: usize, delivery: &QueuedDelivery) -> bool {
        let destination = &self.config.delivery.destinations[i];
        let interval = destination.pace.unwrap().as_millis() as u64;
        let kept = delivery
            .not_before
            .filter(|_| delivery.destination.as_ref() == Some(&destination.name));
        let slot = match kept {
            Some(slot) => slot,
            None if self.rng.chance(self.faults.object_call) => return true,
            None => {
                let (slot, next) = pace::reserve(self.pacers[i], self.now, interval);
                self.pacers[i] = next;
                slot
            }
        };
        match pace::step(slot, self.now) {
            pace::Step::SendAfter(ms) => {
                self.now += ms;
                true
            }
            pace::Step::Requeue {
                delay_seconds,
                not_before,
            } => {
                let held = QueuedDelivery {
                    destination: Some(destination.name.clone()),
                    not_before: Some(not_before),
                    ..delivery.clone()
                };
                if self.rng.chance(self.faults.queue_send) {
                    return true;
                }
                self.send(self.now + u64::from(delay_seconds) * 1000, held);
                false
            }
        }
    }

    /// Asks destination `i`'s object; `None` when the call failed.
    fn ask(&mut self, i: usize, delivery: &QueuedDelivery) -> Option<(Decision, bool)> {
        if self.rng.chance(self.faults.object_call) {
            return None;
        }
        let settings = self.config.delivery.breaker;
        let object = &mut self.objects[i];
        let decision = breaker::ask(&object.state, &settings);
        if decision == Decision::Held {
            let key = breaker::held_key(delivery.received_at, &delivery.id);
            let new = !object.held.contains_key(&key);
            let held = QueuedDelivery {
                destination: Some(self.config.delivery.destinations[i].name.clone()),
                not_before: None,
                released: None,
                ..delivery.clone()
            };
            object.held.entry(key).or_insert(held);
            let before = object.state.phase;
            let step = breaker::held(&mut object.state, new, self.now);
            self.carry_out_step(i, step, before);
        }
        let wanted = breaker_reports::wants_successes(&self.objects[i].state, &settings);
        Some((decision, wanted))
    }

    /// Reports an outcome to destination `i`'s object (unless the call fails).
    fn report(
        &mut self,
        i: usize,
        id: &str,
        released: Option<&str>,
        outcome: Outcome,
        error: Option<&str>,
    ) {
        if self.rng.chance(self.faults.object_call) {
            if released.is_some() {
                // Its object releases it again after the timeout.
                self.ledger.excuse(id, Some(i));
            }
            return;
        }
        let settings = self.config.delivery.breaker;
        let object = &mut self.objects[i];
        let before = object.state.phase;
        let step = breaker::report(
            &mut object.state,
            &settings,
            released,
            outcome,
            error,
            self.now,
        );
        self.carry_out_step(i, step, before);
    }

    /// What the object does with a step, as `qase_edge::delivery::breaker`.
    fn carry_out_step(&mut self, i: usize, step: Step, before: Phase) {
        let object = &mut self.objects[i];
        if let Some(key) = &step.forget {
            if object.held.remove(key).is_some() && step.forget_uncounted {
                object.state.held = object.state.held.saturating_sub(1);
            }
        }
        if step.release_oldest {
            self.release_oldest(i);
        }
        let object = &mut self.objects[i];
        if let Some(at) = step.wake_at {
            object.alarm = Some(at.max(self.now + 1));
        }
        let after = object.state.phase;
        let expected = match (before, after) {
            (Phase::Active | Phase::Draining, Phase::Paused) => Some(Change::Paused),
            (Phase::Probing, Phase::Draining | Phase::Active) => Some(Change::Resumed),
            _ => None,
        };
        if expected != step.change {
            let name = &self.config.delivery.destinations[i].name;
            self.ledger.violation(format!(
                "{name}: {before:?} -> {after:?} alerted {:?}",
                step.change
            ));
        }
        self.ledger.alerts(i, step.change);
    }

    fn release_oldest(&mut self, i: usize) {
        let object = &mut self.objects[i];
        let Some((key, held)) = object.held.iter().next() else {
            object.state.held = 0;
            object.state.released = None;
            if object.state.phase != Phase::Paused {
                object.state.phase = Phase::Active;
            }
            return;
        };
        let key = key.clone();
        let message = QueuedDelivery {
            released: Some(key.clone()),
            not_before: None,
            ..held.clone()
        };
        breaker::released(&mut object.state, &key, self.now);
        if !self.rng.chance(self.faults.queue_send) {
            self.send(self.now + HOP_MS, message);
        }
    }
}
