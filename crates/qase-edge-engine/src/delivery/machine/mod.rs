//! The delivery machine: one queue message for delivery, carried out as
//! operations the shell runs and results it feeds back, with the shape of
//! [`crate::ingest::Ingest`]. Every order and every meaning of an answer is
//! decided here, for the shell's consumer (`qase_edge::delivery::consumer`)
//! to carry out, as the simulation (`tests/simulation.rs`) does with
//! simulated stores, peers and time. The dead-letter queue has its own
//! machine ([`Bury`]); both find a body (`body`) and take a new event's
//! claim (`claim`) the same way.
//!
//! The steps, in order (each one's rule is its module's):
//! 1. The targets ([`attempt::targets`]); a message for a destination that
//!    is gone becomes its dead letter.
//! 2. The body, unless a recorded event with nowhere to go needs none
//!    (`body`). Unreadable: retried, nothing changed.
//! 3. A run's event applied to its `RunWatch` (before the claim, so that a
//!    retry applies it again, which changes nothing twice), and its report
//!    queued when due.
//! 4. A new event's claim (`claim`), even with no destination.
//! 5. Each destination at once, in its own `lane`.
//! 6. The end: ack or retry ([`attempt::disposition`]).

mod body;
mod bury;
mod claim;
mod lane;
mod ops;
#[cfg(test)]
pub(crate) mod script;
#[cfg(test)]
mod tests;

pub use bury::Bury;
pub use ops::{BreakerAnswer, Level, Machine, Next, Note, Op, OpResult, Request, StateRow};

use std::cell::RefCell;

use body::{BodySearch, Found};
use claim::{ClaimStep, ClaimWalk};
use lane::{Ctx, Lane, Step};

use crate::config::Config;
use crate::delivery::attempt::{self, Disposition, Targets};
use crate::delivery::messages::QueuedDelivery;
use crate::delivery::records::Claim;
use crate::runs::report::{self, RunDetailsDue, RunKey, RunReportDue};
use crate::runs::state::{self, RunFact};

/// Where the message stands: which operations' results it waits for.
#[derive(Debug)]
enum Stage {
    /// A read of the body.
    Body(BodySearch),
    /// The run's object.
    Run,
    /// The run's report message.
    Report,
    /// The claim.
    Claim(ClaimWalk),
    /// The destinations' lanes.
    Lanes,
    /// Ended.
    Ended,
}

/// A failed operation's error (any other result is unexpected, and says so).
fn failure(result: OpResult) -> String {
    match result {
        OpResult::Failed(error) => error,
        other => format!("unexpected {other:?}"),
    }
}

/// One delivery message, carried out (see the module's documentation).
#[derive(Debug)]
pub struct Delivery<'c> {
    config: &'c Config,
    message: QueuedDelivery,
    now: u64,
    stage: Stage,
    body: Vec<u8>,
    fact: Option<RunFact>,
    lanes: Vec<Lane<'c>>,
    /// Each destination's gone reason (only for a gone one).
    gone: Option<String>,
    /// The lane of each operation of the last round.
    pending: Vec<usize>,
    /// The lanes that could carry nothing out.
    unsettled: usize,
    /// Log lines not yet taken.
    notes: RefCell<Vec<Note>>,
}

impl<'c> Delivery<'c> {
    /// Starts on `message` at `now` (Unix ms).
    pub fn start(config: &'c Config, message: QueuedDelivery, now: u64) -> (Self, Next) {
        let mut delivery = Delivery {
            config,
            message,
            now,
            stage: Stage::Ended,
            body: Vec::new(),
            fact: None,
            lanes: Vec::new(),
            gone: None,
            pending: Vec::new(),
            unsettled: 0,
            notes: RefCell::new(Vec::new()),
        };
        let next = match attempt::targets(&config.delivery, &delivery.message) {
            Targets::Gone {
                destination,
                reason,
            } => {
                delivery.lanes = vec![Lane::new(&destination, None, &delivery.message)];
                delivery.gone = Some(reason);
                delivery.begin_lanes()
            }
            Targets::Send(targets) => {
                let message = &delivery.message;
                delivery.lanes = targets
                    .iter()
                    .map(|d| Lane::new(&d.name, Some(*d), message))
                    .collect();
                delivery.begin()
            }
        };
        (delivery, next)
    }

    /// The message being carried out.
    pub fn message(&self) -> &QueuedDelivery {
        &self.message
    }

    /// The message, once carried out (a retry sends it again as it is).
    pub fn into_message(self) -> QueuedDelivery {
        self.message
    }

    fn note(&self, level: Level, line: String) {
        self.notes.borrow_mut().push(Note { level, line });
    }

    /// The claim's outcome, as the consumer logs it.
    fn note_claim(&self, outcome: &str) {
        let level = match outcome {
            "already_forwarded" => Level::Log,
            _ => Level::Warn,
        };
        let line = serde_json::json!({"event": "claim", "id": self.message.id, "outcome": outcome});
        self.note(level, line.to_string());
    }
}

impl Machine for Delivery<'_> {
    fn take_notes(&mut self) -> Vec<Note> {
        std::mem::take(self.notes.get_mut())
    }

    /// Feeds the results of the last round's operations, in order, at
    /// `now` (Unix ms): the next round, or the end.
    fn feed(&mut self, results: Vec<OpResult>, now: u64) -> Next {
        self.now = now;
        if matches!(self.stage, Stage::Lanes) {
            return self.feed_lanes(results);
        }
        if matches!(self.stage, Stage::Report) {
            return self.after_queueing(results);
        }
        let result = results.into_iter().next().unwrap_or(OpResult::Done);
        match std::mem::replace(&mut self.stage, Stage::Ended) {
            Stage::Body(mut search) => {
                let found = search.feed(result);
                self.on_body(search, found)
            }
            Stage::Run => self.after_run(result),
            Stage::Claim(mut walk) => {
                let step = walk.feed(result, &self.message, &self.body);
                self.on_claim(walk, step)
            }
            Stage::Lanes | Stage::Report | Stage::Ended => Next::End(Disposition::Ack),
        }
    }
}

impl Delivery<'_> {
    fn run(&mut self, stage: Stage, op: Op) -> Next {
        self.stage = stage;
        Next::Run(vec![op])
    }

    fn end(&mut self, disposition: Disposition) -> Next {
        self.stage = Stage::Ended;
        if disposition == Disposition::Retry {
            let line = format!("delivery of {} will be retried", self.message.id);
            self.note(Level::Error, line);
        }
        Next::End(disposition)
    }

    /// The body, the next read, or retried with nothing changed.
    fn on_body(&mut self, search: BodySearch, found: Found) -> Next {
        match found {
            Found::Body(body) => self.with_body(body),
            Found::Read(op) => self.run(Stage::Body(search), op),
            Found::Missing(line) => {
                self.note(Level::Error, line);
                self.end(Disposition::Retry)
            }
        }
    }

    fn run_failed(&mut self, error: String) -> Next {
        self.note(
            Level::Error,
            format!("the run of {}: {error}", self.message.id),
        );
        self.end(Disposition::Retry)
    }

    fn is_new(&self) -> bool {
        self.message.destination.is_none()
    }

    /// A run's events are read even with nowhere to go: their run needs them.
    fn about_a_run(&self) -> bool {
        self.is_new() && state::may_concern_a_run(&self.message.event_name)
    }

    /// The body before the claim: a message retried because its body could
    /// not be read has changed nothing yet.
    fn begin(&mut self) -> Next {
        let needs_none = self.lanes.is_empty() && self.message.recorded && !self.about_a_run();
        if needs_none {
            return self.with_body(Vec::new());
        }
        let (search, found) = BodySearch::start(&self.message);
        self.on_body(search, found)
    }

    fn with_body(&mut self, body: Vec<u8>) -> Next {
        self.body = body;
        if !self.about_a_run() {
            return self.claim();
        }
        match state::fact_of(&self.message.id, &self.body) {
            Some(fact) => {
                self.fact = Some(fact.clone());
                self.run(Stage::Run, Op::ApplyRun(fact))
            }
            None => self.claim(),
        }
    }

    /// What the run's object answered: its report queued when due.
    fn after_run(&mut self, result: OpResult) -> Next {
        let (run, ended_now) = match result {
            OpResult::RunApplied { state, ended_now } => (state, ended_now),
            // A deployment whose configuration predates runs.
            OpResult::RunsOff => return self.claim(),
            other => {
                let error = failure(other);
                return self.run_failed(format!("the run's object failed: {error}"));
            }
        };
        let fact = self.fact.take().expect("a run's result follows its fact");
        if ended_now {
            let line = serde_json::json!({"event": "run_ended", "project": fact.project, "run": fact.run, "status": run.status});
            self.note(Level::Log, line.to_string());
        }
        let key = RunKey {
            project: fact.project.clone(),
            run: fact.run,
        };
        let mut ops = Vec::new();
        if report::details_due(self.config, &fact, ended_now) {
            let due = RunDetailsDue {
                run_details: key.clone(),
            };
            ops.push(Op::QueueDetails(due));
        }
        let wanted = report::reports_wanted(self.config, &fact.project);
        if report::report_due(&fact, run.as_ref(), wanted) {
            let due = RunReportDue { run_report: key };
            let delay_seconds = self.config.runs.settle_seconds as u32;
            ops.push(Op::QueueReport { due, delay_seconds });
        }
        if ops.is_empty() {
            return self.claim();
        }
        self.stage = Stage::Report;
        Next::Run(ops)
    }

    /// The run's messages queued (its details, its report): on to the claim.
    fn after_queueing(&mut self, results: Vec<OpResult>) -> Next {
        self.stage = Stage::Ended;
        match results
            .into_iter()
            .find(|result| !matches!(result, OpResult::Done))
        {
            None => self.claim(),
            Some(other) => {
                let error = failure(other);
                self.run_failed(format!("the run's messages could not be queued: {error}"))
            }
        }
    }

    /// A new event's claim, taken even with no destination, so the sweep
    /// stops re-sending it.
    fn claim(&mut self) -> Next {
        if !self.is_new() {
            return self.begin_lanes();
        }
        let (walk, step) = ClaimWalk::start(&self.message, &self.body);
        self.on_claim(walk, step)
    }

    fn on_claim(&mut self, walk: ClaimWalk, step: ClaimStep) -> Next {
        let claim = match step {
            ClaimStep::Run(op) => return self.run(Stage::Claim(walk), op),
            ClaimStep::Ended(claim) => claim,
        };
        match claim {
            Claim::Forward | Claim::Run { .. } => self.begin_lanes(),
            Claim::ForwardUnclaimed => {
                self.note_claim("d1_unavailable_forwarding_anyway");
                self.begin_lanes()
            }
            Claim::Skip => {
                self.note_claim("already_forwarded");
                self.end(Disposition::Ack)
            }
            Claim::LeftToTheSweep => {
                self.note_claim("d1_unavailable_left_to_the_sweep");
                self.end(Disposition::Ack)
            }
        }
    }
}

impl Delivery<'_> {
    /// Every destination at once: each lane's first operation.
    fn begin_lanes(&mut self) -> Next {
        self.stage = Stage::Lanes;
        let ctx = Ctx {
            config: self.config,
            message: &self.message,
            body: &self.body,
            now: self.now,
            notes: &self.notes,
        };
        let gone = self.gone.take();
        let steps: Vec<Step> = self
            .lanes
            .iter_mut()
            .map(|lane| lane.begin(&ctx, gone.clone()))
            .collect();
        self.round(steps.into_iter().enumerate().collect())
    }

    /// Feeds each lane its operation's result.
    fn feed_lanes(&mut self, results: Vec<OpResult>) -> Next {
        let pending = std::mem::take(&mut self.pending);
        let ctx = Ctx {
            config: self.config,
            message: &self.message,
            body: &self.body,
            now: self.now,
            notes: &self.notes,
        };
        let mut results = results.into_iter();
        let steps = pending
            .into_iter()
            .map(|i| {
                let result = results.next().unwrap_or(OpResult::Done);
                (i, self.lanes[i].feed(result, &ctx))
            })
            .collect();
        self.round(steps)
    }

    /// The next round: the operations of the lanes still going, or the end.
    fn round(&mut self, steps: Vec<(usize, Step)>) -> Next {
        let mut ops = Vec::new();
        for (i, step) in steps {
            match step {
                Step::Op(op) => {
                    self.pending.push(i);
                    ops.push(op);
                }
                Step::Done(settled) => self.unsettled += usize::from(!settled),
            }
        }
        if ops.is_empty() {
            let disposition = attempt::disposition(&self.message, self.unsettled);
            return self.end(disposition);
        }
        Next::Run(ops)
    }
}
