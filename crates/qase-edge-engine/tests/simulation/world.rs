//! The simulated world of one seed: the delivery queue and the dead-letter
//! queue (delays, duplicates, redeliveries), D1's event rows (the claim, the
//! sweep's re-drive), one breaker object and one pacer per destination, one
//! `RunWatch` object per run, Qase's REST API and the destinations. Each
//! queue message is the engine's own machine for it ([`Delivery`],
//! `AlertPost`, `MakeReport`, `Bury`), whose operations this world carries
//! out with its faults, as the consumers do.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::rc::Rc;

use qase_edge_engine::config::Config;
use qase_edge_engine::delivery::attempt::Disposition;
use qase_edge_engine::delivery::breaker::BreakerState;
use qase_edge_engine::delivery::machine::{Machine, Next, Op, OpResult};
use qase_edge_engine::delivery::messages::QueuedDelivery;
use qase_edge_engine::delivery::queue::{DeadLetterQueueMessage, QueueMessage};
use qase_edge_engine::runs::report;
use qase_edge_engine::store::d1::UnforwardedRow;
use qase_edge_engine::store::sweep;

use super::destinations::Behaviour;
use super::ledger::Ledger;
use super::rng::Rng;
use super::runs::RunObject;

/// A queue hop, the platform's redelivery delay, the sweep's period and
/// its re-drive delay (the defaults).
pub const HOP_MS: u64 = 10;
pub const REDELIVERY_MS: u64 = 30_000;
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
    /// Qase's REST API: a timeout, a 429 or a 5xx.
    pub api: f64,
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
    pub body: String,
}

/// A message on one of the two queues.
#[derive(Clone)]
pub enum Queued {
    Deliveries(QueueMessage),
    DeadLetters(DeadLetterQueueMessage),
}

pub struct World {
    pub rng: Rng,
    pub config: Rc<Config>,
    pub behaviours: Vec<Behaviour>,
    pub faults: Faults,
    pub now: u64,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    /// Each queued message with the platform's id for it.
    pub messages: HashMap<u64, (String, Queued)>,
    sequence: u64,
    /// D1's event rows: `true` once claimed (`queued`).
    pub rows: BTreeMap<String, (bool, usize)>,
    pub events: Vec<Event>,
    pub objects: Vec<Object>,
    pub runs: BTreeMap<(String, u64), RunObject>,
    pub pacers: Vec<u64>,
    next_sweep: u64,
    pub calls: Vec<u32>,
    pub event_calls: HashMap<(String, usize), u32>,
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
            runs: BTreeMap::new(),
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

    /// Sends a delivery to the delivery queue, to arrive at `at`.
    pub fn send(&mut self, at: u64, message: QueuedDelivery) {
        self.send_message(at, Queued::Deliveries(QueueMessage::Delivery(message)));
    }

    /// Sends a new message (the platform gives it a new id).
    pub fn send_message(&mut self, at: u64, message: Queued) {
        let id = format!("msg-{}", self.sequence + 1);
        self.resend(at, id, message);
    }

    /// Delivers message `id` again at `at` (a retry or a redelivery).
    pub fn resend(&mut self, at: u64, id: String, message: Queued) {
        self.sequence += 1;
        self.queue.push(Reverse((at, self.sequence)));
        self.messages.insert(self.sequence, (id, message));
    }

    /// Ingest accepts an event at `at`: its row, then its message (which
    /// may fail to send, or be sent twice).
    pub fn ingest(&mut self, event: Event) {
        let message = QueuedDelivery::new(
            event.id.clone(),
            event.event_name.to_owned(),
            event.project.to_owned(),
            event.received_at,
            event.body.as_bytes(),
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
                let (id, queued) = self.messages.remove(&sequence).unwrap();
                self.process(id, queued);
            } else if alarm.map(|(at, _)| at) == Some(at) {
                self.alarm(alarm.unwrap().1);
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

    /// One message of either queue, run by its machine; then acked (and
    /// perhaps delivered again by the platform) or retried.
    fn process(&mut self, id: String, queued: Queued) {
        let (disposition, again) = match queued {
            Queued::Deliveries(QueueMessage::Delivery(delivery)) => {
                let (disposition, delivery) = self.process_delivery(delivery);
                let again = Queued::Deliveries(QueueMessage::Delivery(delivery));
                (disposition, again)
            }
            Queued::Deliveries(QueueMessage::Alert(alert)) => {
                let disposition = self.process_alert(alert.clone());
                (disposition, Queued::Deliveries(QueueMessage::Alert(alert)))
            }
            Queued::Deliveries(QueueMessage::RunReport(due)) => {
                let disposition = self.process_report(&id, due.clone());
                (
                    disposition,
                    Queued::Deliveries(QueueMessage::RunReport(due)),
                )
            }
            Queued::Deliveries(QueueMessage::RunDetails(due)) => {
                let disposition = self.process_details(&id, due.clone());
                (
                    disposition,
                    Queued::Deliveries(QueueMessage::RunDetails(due)),
                )
            }
            Queued::DeadLetters(message) => {
                let disposition = self.process_dead_letter(&id, message.clone());
                (disposition, Queued::DeadLetters(message))
            }
        };
        match disposition {
            Disposition::Retry => self.resend(self.now + REDELIVERY_MS, id, again),
            Disposition::Ack if self.rng.chance(self.faults.redeliver) => {
                // The platform delivers an acked message again.
                self.excuse_redelivery(&again);
                self.resend(self.now + REDELIVERY_MS, id, again);
            }
            Disposition::Ack => {}
        }
    }

    /// The at-least-once cases a redelivered message brings.
    fn excuse_redelivery(&mut self, again: &Queued) {
        match again {
            Queued::Deliveries(QueueMessage::Delivery(delivery)) => {
                if let Some(name) = &delivery.destination {
                    let i = self.index(name);
                    self.ledger.excuse(&delivery.id, Some(i));
                }
            }
            Queued::Deliveries(QueueMessage::Alert(alert)) => {
                self.ledger.excuse_alert(alert);
            }
            Queued::Deliveries(QueueMessage::RunReport(due)) => {
                let key = &due.run_report;
                let id = report::report_id(&key.project, key.run);
                self.ledger.excuse(&id, None);
            }
            // Applying a run's details again changes nothing but its version.
            Queued::Deliveries(QueueMessage::RunDetails(_)) | Queued::DeadLetters(_) => {}
        }
    }

    /// Drives `machine` from `next` to its end, each operation carried out
    /// by `carry`.
    pub fn drive<M: Machine>(
        &mut self,
        machine: &mut M,
        mut next: Next,
        carry: impl Fn(&mut World, Op, &M) -> OpResult,
    ) -> Disposition {
        loop {
            match next {
                Next::End(disposition) => return disposition,
                Next::Run(ops) => {
                    let results = ops.into_iter().map(|op| carry(self, op, machine));
                    let results = results.collect();
                    next = machine.feed(results, self.now);
                }
            }
        }
    }
}
