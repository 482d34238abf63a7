//! The simulated world of one seed: the delivery queue (delays, duplicates,
//! redeliveries), D1's event rows (the claim, the sweep's re-drive), one
//! breaker object and one pacer per destination, and the destinations. Each
//! queue message is the engine's own [`Delivery`] machine, whose operations
//! this world carries out with its faults, as the consumer does.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::rc::Rc;

use qase_edge_engine::config::Config;
use qase_edge_engine::delivery::attempt::Disposition;
use qase_edge_engine::delivery::breaker::object::{self, AskAnswer};
use qase_edge_engine::delivery::breaker::{
    self, BreakerState, Change, Decision, Outcome, Phase, Step,
};
use qase_edge_engine::delivery::machine::{BreakerAnswer, Delivery, Machine, Next, Op, OpResult};
use qase_edge_engine::delivery::messages::{DeadLetter, QueuedDelivery};
use qase_edge_engine::delivery::pace;
use qase_edge_engine::delivery::records::BodyRow;
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

    /// One queue message: the engine's [`Delivery`] machine, its
    /// operations carried out against the simulated platform.
    fn process(&mut self, delivery: QueuedDelivery) {
        let config = Rc::clone(&self.config);
        if let Some(name) = &delivery.destination {
            // Destinations never change here: none is ever gone.
            if !config.delivery.destination(name).is_some_and(|d| d.enabled) {
                return self.ledger.violation(format!("{name} is gone"));
            }
        }
        let (mut machine, mut next) = Delivery::start(&config, delivery, self.now);
        let disposition = loop {
            match next {
                Next::End(disposition) => break disposition,
                Next::Run(ops) => {
                    let message = machine.message();
                    let results = ops.into_iter().map(|op| self.carry(op, message));
                    let results = results.collect();
                    next = machine.feed(results, self.now);
                }
            }
        };
        let delivery = machine.into_message();
        match disposition {
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

    /// Carries one operation out, with its faults.
    fn carry(&mut self, op: Op, delivery: &QueuedDelivery) -> OpResult {
        match op {
            // Every event's row holds its body (the sweep's re-drive
            // reads it there); no rescue copies here.
            Op::ReadBodyRow(_) => OpResult::Rows(vec![BodyRow {
                body: Some("{}".to_owned()),
                body_in_kv: 0,
            }]),
            Op::ReadKv(_) => OpResult::Value(None),
            Op::ApplyRun(_) => OpResult::RunsOff,
            Op::Claim { .. } => self.claim(delivery),
            Op::AskBreaker { destination, .. } => self.ask(self.index(&destination)),
            Op::Hold {
                destination,
                delivery: held,
            } => self.hold(self.index(&destination), held),
            Op::ReportToBreaker {
                destination,
                released,
                outcome,
                error,
            } => {
                let i = self.index(&destination);
                self.report(
                    i,
                    &delivery.id,
                    released.as_deref(),
                    outcome,
                    error.as_deref(),
                )
            }
            Op::ReservePace {
                destination,
                interval,
            } => self.reserve(self.index(&destination), interval.as_millis() as u64),
            Op::Wait(wait) => {
                self.now += wait.as_millis() as u64;
                OpResult::Done
            }
            Op::Attempt { destination, .. } => self.attempt(self.index(&destination), delivery),
            Op::Requeue {
                message,
                delay_seconds,
            } => self.queue_send(|world| {
                let at = world.now + u64::from(delay_seconds) * 1000;
                world.send(at, message);
            }),
            Op::SendDeadLetter(dead) => self.queue_send(|world| world.dead_letter(&dead)),
            Op::RecordDead { dead, .. } => self.record_dead(&dead, delivery),
            Op::QueueReport { .. } | Op::Record { .. } | Op::RaiseAlert { .. } => OpResult::Done,
            Op::QueueAlert { .. }
            | Op::ReadRun(_)
            | Op::Fetch(_)
            | Op::TakeReport { .. }
            | Op::QueueDeliveries(_) => {
                self.ledger
                    .violation(format!("a delivery asked for {op:?}"));
                OpResult::Failed("not a delivery's operation".into())
            }
        }
    }

    /// A queue send, unless it fails.
    fn queue_send(&mut self, send: impl FnOnce(&mut World)) -> OpResult {
        if self.rng.chance(self.faults.queue_send) {
            return OpResult::Failed("simulated fault".into());
        }
        send(self);
        OpResult::Done
    }

    /// A claim statement against D1's event row.
    fn claim(&mut self, delivery: &QueuedDelivery) -> OpResult {
        if self.rng.chance(self.faults.d1) {
            // At least once (README, Delivery): the sweep sends it again.
            self.ledger.excuse(&delivery.id, None);
            return OpResult::Failed("simulated fault".into());
        }
        let row = self.rows.get_mut(&delivery.id).unwrap();
        OpResult::Changed(usize::from(!std::mem::replace(&mut row.0, true)))
    }

    /// Records a dead letter in D1, unless it fails; when every store
    /// refused a new event's, it is logged lost.
    fn record_dead(&mut self, dead: &DeadLetter, delivery: &QueuedDelivery) -> OpResult {
        if self.rng.chance(self.faults.d1) {
            if delivery.destination.is_none() {
                let i = self.index(&dead.destination);
                self.ledger.lost(&delivery.id, i);
            }
            return OpResult::Failed("simulated fault".into());
        }
        self.dead_letter(dead);
        OpResult::Done
    }

    /// Calls the destination.
    fn attempt(&mut self, i: usize, delivery: &QueuedDelivery) -> OpResult {
        let key = (delivery.id.clone(), i);
        let event_calls = *self.event_calls.get(&key).unwrap_or(&0);
        let answer = self.behaviours[i].answer(self.calls[i], event_calls, self.now, &mut self.rng);
        self.calls[i] += 1;
        *self.event_calls.entry(key).or_default() += 1;
        if answer.taken {
            self.ledger.taken(&delivery.id, i, self.now);
        }
        let name = &self.config.delivery.destinations[i].name;
        let released = delivery.released.is_some() && delivery.destination.as_ref() == Some(name);
        let max = self.config.delivery.retry.max_attempts;
        let attempt = delivery.attempts + 1;
        if !released {
            self.ledger.attempted(&delivery.id, i);
            if attempt > max {
                self.ledger.violation(format!(
                    "attempt {attempt} of {max} to {name} for {}",
                    delivery.id
                ));
            }
        }
        OpResult::Attempted {
            result: answer.result,
            description: answer.description,
            random: self.rng.unit(),
        }
    }

    /// Records a dead letter; a held event's must never be one.
    fn dead_letter(&mut self, dead: &DeadLetter) {
        let i = self.index(&dead.destination);
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
    }

    /// Reserves a send slot of destination `i`'s pacer (unless the call fails).
    fn reserve(&mut self, i: usize, interval: u64) -> OpResult {
        if self.rng.chance(self.faults.object_call) {
            return OpResult::Failed("simulated fault".into());
        }
        let (slot, next) = pace::reserve(self.pacers[i], self.now, interval);
        self.pacers[i] = next;
        OpResult::Slot(slot)
    }

    /// What destination `i`'s object answers an ask (unless the call fails).
    fn ask(&mut self, i: usize) -> OpResult {
        if self.rng.chance(self.faults.object_call) {
            return OpResult::Failed("simulated fault".into());
        }
        self.answer(i)
    }

    fn answer(&self, i: usize) -> OpResult {
        let settings = self.config.delivery.breaker;
        let answer = AskAnswer::of(&self.objects[i].state, &settings);
        OpResult::Breaker(match answer.decision {
            Decision::Held => BreakerAnswer::Hold,
            Decision::Attempt => BreakerAnswer::Attempt {
                report_success: answer.report_success,
            },
        })
    }

    /// Destination `i`'s object keeps an event it holds (unless the call fails).
    fn hold(&mut self, i: usize, delivery: QueuedDelivery) -> OpResult {
        if self.rng.chance(self.faults.object_call) {
            return OpResult::Failed("simulated fault".into());
        }
        let answer = self.answer(i);
        if !matches!(answer, OpResult::Breaker(BreakerAnswer::Hold)) {
            return answer;
        }
        let object = &mut self.objects[i];
        let key = breaker::held_key(delivery.received_at, &delivery.id);
        let new = !object.held.contains_key(&key);
        object
            .held
            .entry(key)
            .or_insert(object::held_message(delivery));
        let before = object.state.phase;
        let step = breaker::held(&mut object.state, new, self.now);
        self.carry_out_step(i, step, before);
        answer
    }

    /// Reports an outcome to destination `i`'s object (unless the call fails).
    fn report(
        &mut self,
        i: usize,
        id: &str,
        released: Option<&str>,
        outcome: Outcome,
        error: Option<&str>,
    ) -> OpResult {
        if self.rng.chance(self.faults.object_call) {
            if released.is_some() {
                // Its object releases it again after the timeout.
                self.ledger.excuse(id, Some(i));
            }
            return OpResult::Failed("simulated fault".into());
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
        OpResult::Reported(None)
    }

    /// What the object does with a step, as `qase_edge::delivery::breaker`.
    fn carry_out_step(&mut self, i: usize, step: Step, before: Phase) {
        let object = &mut self.objects[i];
        if let Some(key) = &step.forget {
            let existed = object.held.remove(key).is_some();
            object::forgotten(&mut object.state, &step, existed);
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
            return object::nothing_held(&mut object.state);
        };
        let key = key.clone();
        let message = object::release_message(&key, held.clone());
        breaker::released(&mut object.state, &key, self.now);
        if !self.rng.chance(self.faults.queue_send) {
            self.send(self.now + HOP_MS, message);
        }
    }
}
