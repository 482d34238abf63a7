//! The operations of the delivery side's machines, carried out against the
//! simulated platform with its faults: the stores, the queues and the
//! destinations (the breakers' are `objects`, the runs' `runs`).

use std::rc::Rc;

use qase_edge_engine::delivery::attempt::Disposition;
use qase_edge_engine::delivery::breaker;
use qase_edge_engine::delivery::machine::{Delivery, Op, OpResult, Request};
use qase_edge_engine::delivery::messages::{DeadLetter, QueuedAlert, QueuedDelivery};
use qase_edge_engine::delivery::pace;
use qase_edge_engine::delivery::queue::{DeadLetterQueueMessage, QueueMessage};
use qase_edge_engine::delivery::records::BodyRow;

use super::world::{Queued, World, HOP_MS};

/// Whose operations are carried out: what an attempt, a claim or a dead
/// letter's record is about.
#[derive(Clone, Copy)]
pub enum Whose<'a> {
    /// The delivery consumer's message.
    Delivery(&'a QueuedDelivery),
    /// The dead-letter consumer's dead letter, for this delivery.
    Buried(&'a QueuedDelivery),
    /// An alert's message.
    Alert(&'a QueuedAlert),
    /// A run's report message.
    Report,
}

impl World {
    /// One delivery message: the engine's [`Delivery`] machine.
    pub fn process_delivery(&mut self, delivery: QueuedDelivery) -> (Disposition, QueuedDelivery) {
        let config = Rc::clone(&self.config);
        if let Some(name) = &delivery.destination {
            // Destinations never change here: none is ever gone.
            if !config.delivery.destination(name).is_some_and(|d| d.enabled) {
                self.ledger.violation(format!("{name} is gone"));
                return (Disposition::Ack, delivery);
            }
        }
        let (mut machine, next) = Delivery::start(&config, delivery, self.now);
        let disposition = self.drive(&mut machine, next, |world, op, machine| {
            world.carry(op, Whose::Delivery(machine.message()))
        });
        (disposition, machine.into_message())
    }

    /// Carries one operation out, with its faults.
    pub fn carry(&mut self, op: Op, whose: Whose<'_>) -> OpResult {
        match op {
            Op::ReadBodyRow(_) => self.body_row(whose),
            Op::ReadKv(_) => OpResult::Value(None),
            Op::Claim { .. } => match whose {
                Whose::Delivery(delivery) | Whose::Buried(delivery) => self.claim(delivery),
                _ => self.not_its("a claim"),
            },
            Op::ReservePace {
                destination,
                interval,
            } => self.reserve(self.index(&destination), interval.as_millis() as u64),
            Op::Wait(wait) => {
                self.now += wait.as_millis() as u64;
                OpResult::Done
            }
            Op::Attempt {
                destination,
                request,
            } => {
                let i = self.index(&destination);
                match whose {
                    Whose::Delivery(delivery) => self.attempt(i, &request, delivery),
                    Whose::Alert(alert) => self.post_alert(i, alert),
                    _ => self.not_its("an attempt"),
                }
            }
            Op::RecordDead { dead, .. } => self.record_dead(&dead, whose),
            Op::Record { .. } => OpResult::Done,
            op @ (Op::ApplyRun(_) | Op::ReadRun(_) | Op::Fetch(_) | Op::TakeReport { .. }) => {
                self.carry_run(op)
            }
            op @ (Op::AskBreaker { .. } | Op::Hold { .. } | Op::ReportToBreaker { .. }) => {
                match whose {
                    Whose::Delivery(delivery) => self.carry_breaker(op, &delivery.id),
                    _ => self.not_its("a breaker's call"),
                }
            }
            op => self.carry_send(op, whose),
        }
    }

    /// The operations that send to a queue.
    fn carry_send(&mut self, op: Op, whose: Whose<'_>) -> OpResult {
        match op {
            Op::Requeue {
                message,
                delay_seconds,
            } => self.queue_send(|world| {
                let at = world.now + u64::from(delay_seconds) * 1000;
                world.send(at, message);
            }),
            Op::QueueDetails(due) => self.queue_send(|world| {
                world.send_message(
                    world.now + HOP_MS,
                    Queued::Deliveries(QueueMessage::RunDetails(due)),
                );
            }),
            Op::QueueReport { due, delay_seconds } => self.queue_send(|world| {
                let at = world.now + u64::from(delay_seconds) * 1000;
                world.send_message(at, Queued::Deliveries(QueueMessage::RunReport(due)));
            }),
            // One batch: all sent, or none.
            Op::QueueDeliveries(deliveries) => self.queue_send(|world| {
                for delivery in deliveries {
                    world.send(world.now + HOP_MS, delivery);
                }
            }),
            Op::QueueAlert {
                message,
                delay_seconds,
            } => self.queue_send(|world| {
                let at = world.now + u64::from(delay_seconds) * 1000;
                world.send_message(at, Queued::Deliveries(QueueMessage::Alert(message)));
            }),
            Op::RaiseAlert { alert, messages } => {
                self.ledger.raised(alert.subject());
                self.queue_alerts(messages);
                OpResult::Done
            }
            Op::SendDeadLetter(dead) => {
                if let Whose::Delivery(_) = whose {
                    self.check_not_held(&dead);
                }
                self.queue_send(|world| {
                    world
                        .ledger
                        .dead_sent(&dead.delivery.id, world.index(&dead.destination));
                    let message = Queued::DeadLetters(DeadLetterQueueMessage::DeadLetter(dead));
                    world.send_message(world.now + HOP_MS, message);
                })
            }
            other => self.not_its(&format!("{other:?}")),
        }
    }

    /// An operation the machine at hand should never ask for.
    fn not_its(&mut self, what: &str) -> OpResult {
        self.ledger.violation(format!("a machine asked for {what}"));
        OpResult::Failed("not this machine's operation".into())
    }

    /// Alert messages, each sent on its own (best effort).
    pub fn queue_alerts(&mut self, messages: Vec<QueuedAlert>) {
        for message in messages {
            if !self.rng.chance(self.faults.queue_send) {
                let message = Queued::Deliveries(QueueMessage::Alert(message));
                self.send_message(self.now + HOP_MS, message);
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

    /// D1's event row holds every event's body (the sweep's re-drive reads
    /// it there); no rescue copies here.
    fn body_row(&mut self, whose: Whose<'_>) -> OpResult {
        let (Whose::Delivery(delivery) | Whose::Buried(delivery)) = whose else {
            return self.not_its("a body");
        };
        let rows = match self.rows.get(&delivery.id) {
            Some((_, i)) => vec![BodyRow {
                body: Some(self.events[*i].body.clone()),
                body_in_kv: 0,
            }],
            None => Vec::new(),
        };
        OpResult::Rows(rows)
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
    /// refused a new event's, it is logged lost (the dead-letter consumer
    /// retries its own instead).
    fn record_dead(&mut self, dead: &DeadLetter, whose: Whose<'_>) -> OpResult {
        let i = self.index(&dead.destination);
        let direct = matches!(whose, Whose::Delivery(_));
        if direct {
            self.check_not_held(dead);
        }
        if self.rng.chance(self.faults.d1) {
            if let Whose::Delivery(delivery) = whose {
                if delivery.destination.is_none() {
                    self.ledger.lost(&delivery.id, i);
                }
            }
            return OpResult::Failed("simulated fault".into());
        }
        self.ledger.dead(&dead.delivery.id, i);
        OpResult::Done
    }

    /// Calls the destination.
    fn attempt(
        &mut self,
        i: usize,
        request: &Result<Request, String>,
        delivery: &QueuedDelivery,
    ) -> OpResult {
        let webhook_id = request.as_ref().ok().and_then(|request| {
            let header = request
                .headers
                .iter()
                .find(|(name, _)| name == "webhook-id");
            header.map(|(_, value)| value.as_str())
        });
        let standard = self.config.delivery.destinations[i].format
            == qase_edge_engine::delivery::settings::Format::Standard;
        if standard && webhook_id != Some(delivery.id.as_str()) {
            let line = format!("{} sent as webhook-id {webhook_id:?}", delivery.id);
            self.ledger.violation(line);
        }
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

    /// A held event's dead letter must never be one (invariant 4).
    fn check_not_held(&mut self, dead: &DeadLetter) {
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
}
