//! The delivery machine: one queue message for delivery, carried out as
//! operations the shell runs and results it feeds back, with the shape of
//! [`crate::ingest::Ingest`]. Every order and every meaning of an answer is
//! decided here; `qase_edge::delivery::consumer` only carries them out.
//!
//! The steps, in order (each one's rule is its module's):
//! 1. The targets ([`attempt::targets`]); a message for a destination that
//!    is gone becomes its dead letter.
//! 2. The body, unless a recorded event with nowhere to go needs none:
//!    the message, else the row ([`records::body_at`]), else KV
//!    `event/`, `quarantine/`, `rescue/`. Unreadable: retried, nothing changed.
//! 3. A run's event applied to its `RunWatch` (before the claim, so that a
//!    retry applies it again, which changes nothing twice), and its report
//!    queued when due.
//! 4. A new event's claim ([`records::claim`]), even with no destination.
//! 5. Each destination at once, in its own [`lane`].
//! 6. The end: ack or retry ([`attempt::disposition`]).

mod lane;
mod ops;
#[cfg(test)]
mod tests;

pub use ops::{BreakerAnswer, Next, Op, OpResult, Request};

use lane::{Ctx, Lane, Step};

use crate::config::Config;
use crate::delivery::attempt::{self, Disposition, Targets};
use crate::delivery::messages::QueuedDelivery;
use crate::delivery::records::{self, BodyAt, Claim};
use crate::runs::report::{self, RunKey, RunReportDue};
use crate::runs::state::{self, RunFact};
use crate::store::layout;

/// Where the message stands: which operations' results it waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The body's row.
    BodyRow,
    /// The body in KV: which key of [`kv_keys`].
    BodyKv(usize),
    /// The run's object.
    Run,
    /// The run's report message.
    Report,
    /// A claim statement.
    Claim(records::Stage),
    /// Whether KV holds the rescue copy (D1 failed at the claim).
    Rescue,
    /// The destinations' lanes.
    Lanes,
    /// Ended.
    Ended,
}

/// Where a body the message does not carry may be in KV, in order.
fn kv_keys(id: &str) -> [String; 3] {
    [
        layout::event_key(id),
        layout::quarantine_key(id),
        // D1 failed at ingest and the body was too large for the message:
        // the rescue copy holds it until the sweep moves it into D1.
        layout::rescue_key(id),
    ]
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

    /// Feeds the results of the last round's operations, in order, at
    /// `now` (Unix ms): the next round, or the end.
    pub fn feed(&mut self, results: Vec<OpResult>, now: u64) -> Next {
        self.now = now;
        if self.stage == Stage::Lanes {
            return self.feed_lanes(results);
        }
        let result = results.into_iter().next().unwrap_or(OpResult::Done);
        match self.stage {
            Stage::BodyRow => {
                let rows = match result {
                    OpResult::Rows(rows) => Ok(rows),
                    _ => Err(()),
                };
                match records::body_at(rows) {
                    BodyAt::Row(body) => self.with_body(body.into_bytes()),
                    BodyAt::Kv => self.read_kv(0),
                }
            }
            Stage::BodyKv(i) => match result {
                OpResult::Value(Some(body)) => self.with_body(body),
                OpResult::Value(None) if i + 1 < kv_keys("").len() => self.read_kv(i + 1),
                // In no store (yet), or unreadable: retried, nothing changed.
                _ => self.end(Disposition::Retry),
            },
            Stage::Run => self.after_run(result),
            Stage::Report => match result {
                OpResult::Done => self.claim(),
                _ => self.end(Disposition::Retry),
            },
            Stage::Claim(stage) => self.after_claim(stage, result),
            Stage::Rescue => match result {
                OpResult::Value(Some(_)) => self.end_unclaimed(true),
                _ => self.end_unclaimed(false),
            },
            Stage::Lanes | Stage::Ended => Next::End(Disposition::Ack),
        }
    }

    fn run(&mut self, stage: Stage, op: Op) -> Next {
        self.stage = stage;
        Next::Run(vec![op])
    }

    fn end(&mut self, disposition: Disposition) -> Next {
        self.stage = Stage::Ended;
        Next::End(disposition)
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
        match &self.message.body {
            Some(body) => {
                let body = body.as_bytes().to_vec();
                self.with_body(body)
            }
            None => {
                let op = Op::ReadBodyRow(records::body_of(&self.message.id));
                self.run(Stage::BodyRow, op)
            }
        }
    }

    fn read_kv(&mut self, i: usize) -> Next {
        let key = kv_keys(&self.message.id)[i].clone();
        self.run(Stage::BodyKv(i), Op::ReadKv(key))
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
        let run = match result {
            OpResult::RunApplied(run) => run,
            // A deployment whose configuration predates runs.
            OpResult::RunsOff => return self.claim(),
            _ => return self.end(Disposition::Retry),
        };
        let fact = self.fact.take().expect("a run's result follows its fact");
        let wanted = report::reports_wanted(self.config, &fact.project);
        if !report::report_due(&fact, run.as_ref(), wanted) {
            return self.claim();
        }
        let due = RunReportDue {
            run_report: RunKey {
                project: fact.project.clone(),
                run: fact.run,
            },
        };
        let delay_seconds = self.config.runs.settle_seconds as u32;
        self.run(Stage::Report, Op::QueueReport { due, delay_seconds })
    }

    /// A new event's claim, taken even with no destination, so the sweep
    /// stops re-sending it.
    fn claim(&mut self) -> Next {
        if !self.is_new() {
            return self.begin_lanes();
        }
        let claim = records::claim(&self.message, &self.body);
        self.on_claim(claim)
    }

    fn on_claim(&mut self, claim: Claim) -> Next {
        match claim {
            Claim::Run { stage, statement } => {
                let body = self.body.clone();
                self.run(Stage::Claim(stage), Op::Claim { statement, body })
            }
            Claim::Forward => self.begin_lanes(),
            Claim::ForwardUnclaimed if !self.message.recorded => {
                let key = layout::rescue_key(&self.message.id);
                self.run(Stage::Rescue, Op::ReadKv(key))
            }
            Claim::ForwardUnclaimed => self.begin_lanes(),
            Claim::Skip | Claim::LeftToTheSweep => self.end(Disposition::Ack),
        }
    }

    fn after_claim(&mut self, stage: records::Stage, result: OpResult) -> Next {
        let result = match result {
            OpResult::Changed(changes) => Ok(changes),
            _ => Err(()),
        };
        let claim = records::after(stage, &self.message.id, result);
        self.on_claim(claim)
    }

    fn end_unclaimed(&mut self, rescue_copy: bool) -> Next {
        match records::unclaimed(&self.message, rescue_copy) {
            Claim::LeftToTheSweep => self.end(Disposition::Ack),
            _ => self.begin_lanes(),
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
