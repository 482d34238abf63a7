//! One destination's part of a delivery message, as the consumer carries
//! it out: ask its breaker (and hand it an event to hold), keep a pace
//! slot, attempt, record the state and the attempt's log, carry out what
//! follows (falling back as [`attempt::fallback`] says), report to the
//! breaker and raise the alert it answers. A message for a destination
//! that is gone is a lane too: its dead letter, then its breaker told.

use qase_webhooks::retry::AttemptResult;

use std::cell::RefCell;

use super::failure;
use super::ops::{dead_letter_note, BreakerAnswer, Level, Note, Op, OpResult, Request, StateRow};
use crate::config::Config;
use crate::delivery::attempt::{self, FollowUp};
use crate::delivery::breaker::Outcome;
use crate::delivery::github::sync::{GithubSync, SyncStep};
use crate::delivery::messages::QueuedDelivery;
use crate::delivery::records::AttemptEntry;
use crate::delivery::settings::Destination;
use crate::delivery::{analytics, breaker_reports, pace};
use crate::runs::report;
use crate::store::layout::{DeliveryState, DeliveryStatus};

/// What a held event's state says.
const HELD_ERROR: &str = "held: the destination is paused";
/// What an attempt says when no request can be made of the stored body.
const NO_CHAT_MESSAGE: &str = "the stored body is no Qase delivery; no chat message can be made";

/// What the lane's operations see of the message being handled.
pub(super) struct Ctx<'a> {
    pub config: &'a Config,
    pub message: &'a QueuedDelivery,
    pub body: &'a [u8],
    pub now: u64,
    pub notes: &'a RefCell<Vec<Note>>,
}

impl Ctx<'_> {
    fn note(&self, level: Level, line: String) {
        self.notes.borrow_mut().push(Note { level, line });
    }
}

/// What the consumer logs when a follow-up fails.
fn describe(follow_up: &FollowUp) -> &'static str {
    match follow_up {
        FollowUp::Done => "nothing",
        FollowUp::Requeue { .. } => "the retry could not be queued",
        FollowUp::DeadLetterQueue(_) => "the dead-letter queue refused the dead letter",
        FollowUp::RecordDead(_) => "the dead letter could not be recorded in D1",
    }
}

/// A lane's next move.
// Short-lived: its operation moves straight into the round's list.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(super) enum Step {
    /// Carry this out and feed its result.
    Op(Op),
    /// Done; `false` when nothing that follows could be carried out.
    Done(bool),
}

/// Where a lane stands: which operation's result it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Ask,
    Hold,
    RecordHeld,
    Reserve,
    Wait,
    PaceRequeue,
    Attempt,
    /// A GitHub destination's steps, in place of its attempt.
    Github,
    Record,
    FollowUp,
    Report,
    Alerts,
}

/// One destination's part of a message.
#[derive(Debug)]
pub(super) struct Lane<'c> {
    name: String,
    /// `None`: the destination is gone.
    destination: Option<&'c Destination>,
    /// The held key, when its breaker released this event to it.
    released: Option<String>,
    report_success: bool,
    stage: Stage,
    started: u64,
    /// Attempted, with the attempt's error (for the breaker's report).
    attempted: Option<Option<String>>,
    outcome: Outcome,
    follow_up: FollowUp,
    settled: bool,
    /// A GitHub destination's steps, while they run.
    github: Option<GithubSync<'c>>,
}

impl<'c> Lane<'c> {
    /// The lane of `destination` (`None`: the one `name`, gone) for `message`.
    pub fn new(name: &str, destination: Option<&'c Destination>, message: &QueuedDelivery) -> Self {
        let released = message
            .released
            .clone()
            .filter(|_| message.destination.as_deref() == Some(name));
        Lane {
            name: name.to_owned(),
            destination,
            released,
            report_success: true,
            stage: Stage::Ask,
            started: 0,
            attempted: None,
            outcome: Outcome::Rejected,
            follow_up: FollowUp::Done,
            settled: true,
            github: None,
        }
    }

    /// The lane's first move; `reason` for a gone destination's dead letter.
    pub fn begin(&mut self, ctx: &Ctx<'_>, reason: Option<String>) -> Step {
        if let Some(reason) = reason {
            let dead = attempt::dead_letter(ctx.message, &self.name, reason, ctx.now);
            self.follow_up = FollowUp::DeadLetterQueue(dead);
            return self.carry_out(ctx);
        }
        if self.released.is_none() && ctx.config.delivery.breaker.enabled() {
            let op = Op::AskBreaker {
                destination: self.name.clone(),
                id: ctx.message.id.clone(),
                received_at: ctx.message.received_at,
            };
            return self.run(Stage::Ask, op);
        }
        self.pace(ctx)
    }

    /// The lane's next move, given how its last operation went.
    pub fn feed(&mut self, result: OpResult, ctx: &Ctx<'_>) -> Step {
        match self.stage {
            Stage::Ask | Stage::Hold => self.after_breaker(result, ctx),
            Stage::RecordHeld | Stage::Alerts => Step::Done(self.settled),
            Stage::Reserve => match result {
                OpResult::Slot(slot) => self.after_slot(slot, ctx),
                // A pacer that cannot be reached holds nothing back.
                other => {
                    let (name, error) = (&self.name, failure(other));
                    let line = format!("pacer for `{name}` unavailable, sending unpaced: {error}");
                    ctx.note(Level::Warn, line);
                    self.attempt(ctx)
                }
            },
            Stage::Wait => self.attempt(ctx),
            Stage::PaceRequeue => match result {
                OpResult::Done => Step::Done(true),
                // The slot not kept: sent now, unpaced (it may answer 429,
                // retried like any) rather than the whole message retried.
                other => {
                    let (name, error) = (&self.name, failure(other));
                    let line = format!("slot of `{name}` not kept ({error}), sending unpaced");
                    ctx.note(Level::Warn, line);
                    self.attempt(ctx)
                }
            },
            Stage::Attempt => self.after_attempt(result, ctx),
            Stage::Github => match self.github.as_mut() {
                Some(sync) => {
                    let step = sync.feed(result, ctx.now);
                    self.github_step(step, ctx)
                }
                None => self.after_attempt(result, ctx),
            },
            Stage::Record => self.after_record(ctx),
            Stage::FollowUp => self.after_follow_up(result, ctx),
            Stage::Report => self.after_report(result, ctx),
        }
    }

    fn run(&mut self, stage: Stage, op: Op) -> Step {
        self.stage = stage;
        Step::Op(op)
    }

    /// What an ask (or a hold) answered.
    fn after_breaker(&mut self, result: OpResult, ctx: &Ctx<'_>) -> Step {
        match (self.stage, result) {
            (Stage::Ask, OpResult::Breaker(BreakerAnswer::Hold)) => {
                // Only now the whole message: it is kept until released.
                let delivery = QueuedDelivery {
                    destination: Some(self.name.clone()),
                    ..ctx.message.clone()
                };
                let destination = self.name.clone();
                self.run(
                    Stage::Hold,
                    Op::Hold {
                        destination,
                        delivery,
                    },
                )
            }
            (Stage::Hold, OpResult::Breaker(BreakerAnswer::Hold)) => self.record_held(ctx),
            (_, OpResult::Breaker(BreakerAnswer::Attempt { report_success })) => {
                self.report_success = report_success;
                self.pace(ctx)
            }
            // A breaker that cannot be reached holds nothing back.
            (_, other) => {
                let (name, error) = (&self.name, failure(other));
                ctx.note(
                    Level::Warn,
                    format!("breaker of `{name}` unavailable: {error}"),
                );
                self.pace(ctx)
            }
        }
    }

    fn record_held(&mut self, ctx: &Ctx<'_>) -> Step {
        let message = ctx.message;
        let state = DeliveryState::new(
            DeliveryStatus::Retrying,
            message.attempts,
            message.last_status,
            Some(HELD_ERROR),
            ctx.now,
        );
        let entry = AttemptEntry::held(message.attempts, ctx.now);
        let op = Op::Record {
            log: None,
            row: Some(self.row(&message.id, state, entry)),
            point: None,
        };
        self.run(Stage::RecordHeld, op)
    }

    fn row(&self, id: &str, state: DeliveryState, entry: AttemptEntry) -> StateRow {
        StateRow {
            event_id: id.to_owned(),
            destination: self.name.clone(),
            state,
            entry,
        }
    }

    /// The send slot of a paced destination, kept by the message or reserved.
    fn pace(&mut self, ctx: &Ctx<'_>) -> Step {
        let Some(interval) = self.destination.and_then(|d| d.pace) else {
            return self.attempt(ctx);
        };
        let kept = ctx
            .message
            .not_before
            .filter(|_| ctx.message.destination.as_deref() == Some(&self.name));
        match kept {
            Some(slot) => self.after_slot(slot, ctx),
            None => {
                let destination = self.name.clone();
                self.run(
                    Stage::Reserve,
                    Op::ReservePace {
                        destination,
                        interval,
                    },
                )
            }
        }
    }

    fn after_slot(&mut self, slot: u64, ctx: &Ctx<'_>) -> Step {
        match pace::step(slot, ctx.now) {
            pace::Step::SendAfter(0) => self.attempt(ctx),
            pace::Step::SendAfter(ms) => {
                let wait = std::time::Duration::from_millis(ms);
                self.run(Stage::Wait, Op::Wait(wait))
            }
            pace::Step::Requeue {
                delay_seconds,
                not_before,
            } => {
                let message = QueuedDelivery {
                    destination: Some(self.name.clone()),
                    not_before: Some(not_before),
                    ..ctx.message.clone()
                };
                let op = Op::Requeue {
                    message,
                    delay_seconds,
                };
                self.run(Stage::PaceRequeue, op)
            }
        }
    }

    /// The request, built by the engine.
    fn attempt(&mut self, ctx: &Ctx<'_>) -> Step {
        let destination = self
            .destination
            .expect("only a configured destination is attempted");
        self.started = ctx.now;
        let app_url = &ctx.config.delivery.app_url;
        if let Some(settings) = destination.github.as_deref() {
            let message = (ctx.message, ctx.body);
            let (sync, step) = GithubSync::start(destination, settings, app_url, message, ctx.now);
            self.github = Some(sync);
            return self.github_step(step, ctx);
        }
        let request = match report::delivery_body(destination, ctx.message, ctx.body, app_url) {
            Some(body) => {
                let timestamp = ctx.now / 1000;
                let headers = attempt::request_headers(destination, ctx.message, timestamp, &body);
                Ok(Request::post(
                    &destination.url,
                    headers,
                    body,
                    destination.timeout,
                ))
            }
            None => Err(NO_CHAT_MESSAGE.to_owned()),
        };
        let op = Op::Attempt {
            destination: self.name.clone(),
            request,
        };
        self.run(Stage::Attempt, op)
    }

    /// A GitHub destination's next step, or its end as the attempt's result
    /// (its jitter drawn from the clock: its requests are fetches, which
    /// draw none).
    fn github_step(&mut self, step: SyncStep, ctx: &Ctx<'_>) -> Step {
        match step {
            SyncStep::Op(op) => self.run(Stage::Github, op),
            SyncStep::Finished(result, description) => {
                self.github = None;
                let attempted = OpResult::Attempted {
                    result,
                    description,
                    random: (ctx.now % 1000) as f64 / 1000.0,
                };
                self.after_attempt(attempted, ctx)
            }
        }
    }

    /// What follows the attempt: its state recorded with its log line.
    fn after_attempt(&mut self, result: OpResult, ctx: &Ctx<'_>) -> Step {
        let (result, random) = match result {
            OpResult::Attempted {
                result,
                description,
                random,
            } => ((result, description), random),
            other => ((AttemptResult::NetworkError, format!("{other:?}")), 0.0),
        };
        let settings = &ctx.config.delivery;
        let step =
            attempt::after_attempt(settings, ctx.message, &self.name, result, random, ctx.now);
        self.outcome = breaker_reports::outcome(&step.log);
        let released = self.released.is_some();
        let latency = ctx.now.saturating_sub(self.started);
        let entry = AttemptEntry::of(&step, released, latency, ctx.now);
        let point = analytics::attempt_point(&self.name, &entry, &ctx.message.event_name);
        // A released event that failed is still held by its breaker: no
        // retry, no dead letter, and the attempts it had are kept.
        let row = if released && self.outcome == Outcome::Failed {
            let state = DeliveryState::new(
                DeliveryStatus::Retrying,
                ctx.message.attempts,
                step.next.last_status,
                step.next.last_error.as_deref(),
                ctx.now,
            );
            Some(self.row(&ctx.message.id, state, entry))
        } else {
            self.follow_up = attempt::follow_up(&step, &self.name, ctx.now);
            let state = step.state;
            state.map(|state| self.row(&step.next.id, state, entry))
        };
        self.attempted = Some(step.next.last_error);
        let op = Op::Record {
            log: Some(step.log),
            row,
            point,
        };
        self.run(Stage::Record, op)
    }

    fn after_record(&mut self, ctx: &Ctx<'_>) -> Step {
        if self.released.is_some() && self.outcome == Outcome::Failed {
            self.settled = true;
            return self.report(ctx);
        }
        self.carry_out(ctx)
    }

    /// Carries the follow-up out.
    fn carry_out(&mut self, ctx: &Ctx<'_>) -> Step {
        let op = match &self.follow_up {
            FollowUp::Done => {
                self.settled = true;
                return self.report(ctx);
            }
            FollowUp::Requeue {
                next,
                delay_seconds,
            } => Op::Requeue {
                message: next.clone(),
                delay_seconds: *delay_seconds,
            },
            FollowUp::DeadLetterQueue(dead) => Op::SendDeadLetter(dead.clone()),
            // A gone destination's lane read no body: the dead row alone.
            FollowUp::RecordDead(dead) => {
                let body = (!ctx.body.is_empty()).then_some(ctx.body);
                Op::record_dead(dead.clone(), body)
            }
        };
        self.run(Stage::FollowUp, op)
    }

    fn after_follow_up(&mut self, result: OpResult, ctx: &Ctx<'_>) -> Step {
        let error = match result {
            OpResult::Done => {
                if let FollowUp::RecordDead(dead) = &self.follow_up {
                    let note = dead_letter_note(dead);
                    ctx.note(note.level, note.line);
                }
                self.settled = true;
                return self.report(ctx);
            }
            other => failure(other),
        };
        let failed = std::mem::replace(&mut self.follow_up, FollowUp::Done);
        let id = &ctx.message.id;
        ctx.note(
            Level::Warn,
            format!("{} for {id}: {error}", describe(&failed)),
        );
        match attempt::fallback(ctx.message, failed, &error, ctx.now) {
            Some(next) => {
                self.follow_up = next;
                self.carry_out(ctx)
            }
            None => {
                if ctx.message.destination.is_none() {
                    // Every store refused: nothing is left that could keep
                    // this destination's delivery. Retrying the whole
                    // message would call the others again.
                    let line =
                        serde_json::json!({"event": "delivery_lost", "id": id, "error": error});
                    ctx.note(Level::Error, line.to_string());
                }
                self.settled = false;
                self.report(ctx)
            }
        }
    }

    /// Tells the breaker, when it is to hear of this attempt.
    fn report(&mut self, ctx: &Ctx<'_>) -> Step {
        let destination = self.name.clone();
        let Some(error) = &self.attempted else {
            // A gone destination: its breaker waits for a released event.
            let Some(released) = self.released.clone() else {
                return Step::Done(self.settled);
            };
            let op = Op::ReportToBreaker {
                destination,
                released: Some(released),
                outcome: Outcome::Rejected,
                error: None,
            };
            return self.run(Stage::Report, op);
        };
        let breaker = &ctx.config.delivery.breaker;
        let released = self.released.is_some();
        if !breaker_reports::must_report(released, breaker, self.outcome, self.report_success) {
            return Step::Done(self.settled);
        }
        let op = Op::ReportToBreaker {
            destination,
            released: self.released.clone(),
            outcome: self.outcome,
            error: error.clone(),
        };
        self.run(Stage::Report, op)
    }

    /// Raises the alert the breaker answered (not for a gone destination's report).
    fn after_report(&mut self, result: OpResult, ctx: &Ctx<'_>) -> Step {
        let alert = match result {
            OpResult::Reported(Some(alert)) if self.attempted.is_some() => alert,
            OpResult::Reported(_) => return Step::Done(self.settled),
            other => {
                let (name, error) = (&self.name, failure(other));
                ctx.note(
                    Level::Warn,
                    format!("breaker of `{name}` not told: {error}"),
                );
                return Step::Done(self.settled);
            }
        };
        let messages = crate::alerts::post::messages(ctx.config, &alert, true, ctx.now);
        self.run(Stage::Alerts, Op::RaiseAlert { alert, messages })
    }
}
