//! Alerts on their way: who gets one ([`messages`]), and the machine that
//! posts one queued alert ([`AlertPost`]), with the operations of the
//! delivery machine ([`crate::delivery::machine::Op`]), so the consumer
//! carries both out the same way.
//!
//! An alert is paced like its destination's other chat messages
//! ([`pace::step`]: a near slot is waited for, a far one is kept by
//! requeueing the alert) and retried by the deliveries' backoff
//! ([`qase_webhooks::retry::RetryPolicy::verdict`]), but at most
//! [`ALERT_ATTEMPTS`] times: an alert is a notice, not an event, so one
//! that keeps failing, or is refused, is dropped with a log line and never
//! dead-lettered.

use qase_webhooks::chat::{Alert, ChatFormat};
use qase_webhooks::retry::Verdict;

use crate::config::Config;
use crate::delivery::attempt::{self, Disposition};
use crate::delivery::machine::{Level, Machine, Next, Note, Op, OpResult};
use crate::delivery::messages::{QueuedAlert, ALERT_ATTEMPTS};
use crate::delivery::pace;
use crate::delivery::settings::{Destination, Format};
use crate::http::outbound::Request;

/// The messages that take `alert` to every alert destination; none to a
/// destination the alert is about (`subject_is_destination`).
pub fn messages(
    config: &Config,
    alert: &Alert,
    subject_is_destination: bool,
    now: u64,
) -> Vec<QueuedAlert> {
    let subject = subject_is_destination.then(|| alert.subject());
    config
        .delivery
        .alert_destinations(subject)
        .into_iter()
        .map(|destination| QueuedAlert {
            alert_to: destination.name.clone(),
            alert: alert.clone(),
            at: now,
            attempts: 0,
            not_before: None,
        })
        .collect()
}

/// Where an [`AlertPost`] stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Reserve,
    Wait,
    Attempt,
    Requeue,
    Ended,
}

/// One queued alert, posted (see the module's documentation).
#[derive(Debug)]
pub struct AlertPost<'c> {
    config: &'c Config,
    message: QueuedAlert,
    stage: Stage,
    notes: Vec<Note>,
}

impl<'c> AlertPost<'c> {
    /// Starts on `message` at `now` (Unix ms).
    pub fn start(config: &'c Config, message: QueuedAlert, now: u64) -> (Self, Next) {
        let mut post = AlertPost {
            config,
            message,
            stage: Stage::Ended,
            notes: Vec::new(),
        };
        let next = match post.destination() {
            // Gone, turned off, or no chat service (since it was queued).
            None => Next::End(Disposition::Ack),
            Some((destination, _)) => match (destination.pace, post.message.not_before) {
                (None, _) => post.attempt(now),
                (Some(_), Some(slot)) => post.after_slot(slot, now),
                (Some(interval), None) => {
                    let destination = destination.name.clone();
                    post.run(
                        Stage::Reserve,
                        Op::ReservePace {
                            destination,
                            interval,
                        },
                    )
                }
            },
        };
        (post, next)
    }
}

impl Machine for AlertPost<'_> {
    fn take_notes(&mut self) -> Vec<Note> {
        std::mem::take(&mut self.notes)
    }

    /// Feeds the result of the last operation, at `now` (Unix ms).
    fn feed(&mut self, results: Vec<OpResult>, now: u64) -> Next {
        let result = results.into_iter().next().unwrap_or(OpResult::Done);
        match (self.stage, result) {
            (Stage::Reserve, OpResult::Slot(slot)) => self.after_slot(slot, now),
            (Stage::Reserve, other) => {
                // A pacer that cannot be reached holds an alert back no longer.
                let line = format!("pacer unavailable for an alert: {other:?}");
                self.note(Level::Warn, line);
                self.attempt(now)
            }
            (Stage::Wait, _) => self.attempt(now),
            (
                Stage::Attempt,
                OpResult::Attempted {
                    result,
                    description,
                    random,
                },
            ) => {
                let attempt = self.message.attempts + 1;
                let verdict = self.config.delivery.retry.verdict(result, attempt, random);
                self.after_attempt(verdict, description)
            }
            (Stage::Attempt, other) => {
                let verdict = Verdict::Retry(std::time::Duration::ZERO);
                self.after_attempt(verdict, format!("{other:?}"))
            }
            (Stage::Requeue, OpResult::Done) => self.end(),
            (Stage::Requeue, other) => {
                let line = format!(
                    "alert to `{}` not retried: {other:?}",
                    self.message.alert_to
                );
                self.note(Level::Error, line);
                self.end()
            }
            (Stage::Ended, _) => self.end(),
        }
    }
}

impl<'c> AlertPost<'c> {
    fn destination(&self) -> Option<(&'c Destination, ChatFormat)> {
        let destination = self
            .config
            .delivery
            .destination(&self.message.alert_to)
            .filter(|d| d.enabled)?;
        match destination.format {
            Format::Chat(format) => Some((destination, format)),
            _ => None,
        }
    }

    fn note(&mut self, level: Level, line: String) {
        self.notes.push(Note { level, line });
    }

    fn run(&mut self, stage: Stage, op: Op) -> Next {
        self.stage = stage;
        Next::Run(vec![op])
    }

    fn end(&mut self) -> Next {
        self.stage = Stage::Ended;
        Next::End(Disposition::Ack)
    }

    fn after_slot(&mut self, slot: u64, now: u64) -> Next {
        match pace::step(slot, now) {
            pace::Step::SendAfter(0) => self.attempt(now),
            pace::Step::SendAfter(ms) => {
                self.run(Stage::Wait, Op::Wait(std::time::Duration::from_millis(ms)))
            }
            pace::Step::Requeue {
                delay_seconds,
                not_before,
            } => {
                let message = QueuedAlert {
                    not_before: Some(not_before),
                    ..self.message.clone()
                };
                self.run(
                    Stage::Requeue,
                    Op::QueueAlert {
                        message,
                        delay_seconds,
                    },
                )
            }
        }
    }

    fn attempt(&mut self, now: u64) -> Next {
        let Some((destination, format)) = self.destination() else {
            return self.end();
        };
        let app_url = &self.config.delivery.app_url;
        let body = qase_webhooks::chat::render_alert(format, &self.message.alert, app_url, now);
        let headers = attempt::chat_headers(destination);
        let request = Request::post(
            &destination.url,
            headers,
            body.to_string().into_bytes(),
            destination.timeout,
        );
        let destination = destination.name.clone();
        self.run(
            Stage::Attempt,
            Op::Attempt {
                destination,
                request: Ok(request),
            },
        )
    }

    /// Delivered, retried after the backoff, or dropped.
    fn after_attempt(&mut self, verdict: Verdict, description: String) -> Next {
        let attempts = self.message.attempts + 1;
        let delay = match verdict {
            Verdict::Delivered => return self.end(),
            Verdict::Retry(delay) if attempts < ALERT_ATTEMPTS => delay,
            Verdict::Retry(_) | Verdict::Rejected => {
                let line = serde_json::json!({"event": "alert_dropped", "to": self.message.alert_to, "kind": self.message.alert.kind(), "error": description, "attempts": attempts});
                self.note(Level::Error, line.to_string());
                return self.end();
            }
        };
        let message = QueuedAlert {
            attempts,
            // A retry takes a new slot.
            not_before: None,
            ..self.message.clone()
        };
        // The queue's delay is in whole seconds, at least one.
        let delay_seconds = delay.as_secs().max(1) as u32;
        self.run(
            Stage::Requeue,
            Op::QueueAlert {
                message,
                delay_seconds,
            },
        )
    }
}

#[cfg(test)]
mod tests;
