//! The breaker objects, as `qase_edge::delivery::breaker` carries out the
//! engine's rules: asks, holds, reports, alarms, releases, and the alerts
//! their changes raise.

use qase_edge_engine::alerts::post;
use qase_edge_engine::delivery::breaker::object::{self, AskAnswer};
use qase_edge_engine::delivery::breaker::{self, Change, Decision, Outcome, Phase, Step};
use qase_edge_engine::delivery::machine::{BreakerAnswer, Op, OpResult};
use qase_edge_engine::delivery::messages::QueuedDelivery;

use super::world::{World, HOP_MS};

impl World {
    /// A breaker's call, for the event `id`.
    pub fn carry_breaker(&mut self, op: Op, id: &str) -> OpResult {
        match op {
            Op::AskBreaker { destination, .. } => self.ask(self.index(&destination)),
            Op::Hold {
                destination,
                delivery,
            } => self.hold(self.index(&destination), delivery),
            Op::ReportToBreaker {
                destination,
                released,
                outcome,
                error,
            } => {
                let i = self.index(&destination);
                self.report(i, id, released.as_deref(), outcome, error.as_deref())
            }
            other => unreachable!("not a breaker's call: {other:?}"),
        }
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

    /// Reports an outcome to destination `i`'s object (unless the call
    /// fails): the alert its change calls for goes back to the consumer.
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
        OpResult::Reported(self.carry_out_step(i, step, before))
    }

    /// What the object does with a step, as `qase_edge::delivery::breaker`:
    /// the alert it calls for (rate-limited).
    pub fn carry_out_step(
        &mut self,
        i: usize,
        step: Step,
        before: Phase,
    ) -> Option<qase_webhooks::chat::Alert> {
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
        let name = self.config.delivery.destinations[i].name.clone();
        if expected != step.change {
            self.ledger.violation(format!(
                "{name}: {before:?} -> {after:?} alerted {:?}",
                step.change
            ));
        }
        self.ledger.alerts(i, step.change);
        let interval = self.config.alerts.interval_ms;
        object::alert_for(&mut object.state, &step, &name, false, interval, self.now)
    }

    /// An alarm's step: its alert is queued by the object itself.
    pub fn alarm(&mut self, i: usize) {
        self.objects[i].alarm = None;
        let before = self.objects[i].state.phase;
        let step = breaker::alarm(&mut self.objects[i].state, self.now);
        if let Some(alert) = self.carry_out_step(i, step, before) {
            self.ledger.raised(alert.subject());
            let config = std::rc::Rc::clone(&self.config);
            self.queue_alerts(post::messages(&config, &alert, true, self.now));
        }
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
