//! The alerts' and the dead letters' queue messages: each alert run by the
//! engine's [`AlertPost`] against its simulated alert destination, each
//! dead letter by the dead-letter queue's [`Bury`].

use std::rc::Rc;

use qase_edge_engine::alerts::post::AlertPost;
use qase_edge_engine::delivery::attempt::Disposition;
use qase_edge_engine::delivery::machine::{Bury, OpResult};
use qase_edge_engine::delivery::messages::{QueuedAlert, ALERT_ATTEMPTS};
use qase_edge_engine::delivery::queue::DeadLetterQueueMessage;

use super::consumer::Whose;
use super::ledger::alert_key;
use super::world::World;

impl World {
    /// One alert message: the engine's [`AlertPost`].
    pub fn process_alert(&mut self, alert: QueuedAlert) -> Disposition {
        let config = Rc::clone(&self.config);
        let (mut machine, next) = AlertPost::start(&config, alert.clone(), self.now);
        self.drive(&mut machine, next, |world, op, _| {
            world.carry(op, Whose::Alert(&alert))
        })
    }

    /// Posts `alert` to alert destination `i`; never more than
    /// [`ALERT_ATTEMPTS`] times.
    pub fn post_alert(&mut self, i: usize, alert: &QueuedAlert) -> OpResult {
        let attempt = alert.attempts + 1;
        if attempt > ALERT_ATTEMPTS {
            let line = format!("alert attempt {attempt} of {ALERT_ATTEMPTS}: {alert:?}");
            self.ledger.violation(line);
        }
        let key = (alert_key(alert), i);
        self.ledger.alert_attempted(alert);
        let calls = *self.event_calls.get(&key).unwrap_or(&0);
        let answer = self.behaviours[i].answer(self.calls[i], calls, self.now, &mut self.rng);
        self.calls[i] += 1;
        *self.event_calls.entry(key).or_default() += 1;
        OpResult::Attempted {
            result: answer.result,
            description: answer.description,
            random: self.rng.unit(),
        }
    }

    /// One message of the dead-letter queue: the engine's [`Bury`].
    pub fn process_dead_letter(
        &mut self,
        id: &str,
        message: DeadLetterQueueMessage,
    ) -> Disposition {
        let delivery = match &message {
            DeadLetterQueueMessage::DeadLetter(dead) => dead.delivery.clone(),
            DeadLetterQueueMessage::Moved(_) => {
                self.ledger
                    .violation("nothing is moved to the dead letters here".into());
                return Disposition::Ack;
            }
        };
        let (mut machine, next) = Bury::start(Ok(message), id, self.now);
        self.drive(&mut machine, next, |world, op, _| {
            world.carry(op, Whose::Buried(&delivery))
        })
    }
}
