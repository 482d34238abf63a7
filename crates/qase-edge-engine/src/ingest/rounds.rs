//! Step 4: a [`Plan`] carried out in rounds of store operations, fed with
//! what the stores answered, down to the answer.

use super::answer::{Outcome, Refusal};
use super::plan::{KvWrite, Plan};
use crate::delivery::messages::QueuedDelivery;
use crate::store::d1::{self, Statement};
use crate::store::failure::StoreFailure;

/// A read or write to make; [`Ingest`] says which, in rounds whose
/// operations run at once.
#[derive(Debug, Clone)]
pub enum Op {
    /// Run [`d1::record_event`]: its result is the `duplicates` count.
    Record(Statement),
    /// Look a KV key up: its result is `1` when found, `0` when not.
    Lookup(String),
    /// A KV put.
    Put(KvWrite),
    /// A queue send.
    Send(QueuedDelivery),
}

/// How an [`Op`] went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    /// Done, with the value the operation reads (see [`Op`]), `0` for writes.
    Done(u64),
    /// Failed, with the store's error message.
    Failed(String),
}

/// What the shell does next.
#[derive(Debug, Clone)]
pub enum Next {
    /// Run these operations at once and [`Ingest::feed`] their results, in order.
    Run(Vec<Op>),
    /// Answer. After a `2xx`, write [`Ingest::after_answer`].
    Answer(Result<Outcome, Refusal>),
}

/// Where carrying a plan out stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The body in KV, which a row with `body_in_kv` points to.
    Body,
    /// The D1 row.
    Record,
    /// The duplicate marker (without D1).
    Lookup,
    /// The other writes at once.
    Writes,
    /// The rescue copy, after a failed D1 write (or, without D1, a failed
    /// queue send).
    Rescue,
    /// Answered.
    Answered,
}

/// Carries a [`Plan`] out as a state machine fed with what the stores
/// answered, so that every fault path is decided, and tested, here:
///
/// - The answer is `2xx` once any durable store holds the delivery (the D1
///   row, the KV copy, the rescue copy or the queue message: each is
///   brought back into the store and forwarded by the consumer or the
///   sweep), and never otherwise.
/// - A body too large for a D1 row is put in KV first: a row must never
///   point to bytes nobody stored.
/// - The D1 row is written before anything else: its upsert says whether
///   the bytes were stored before (then `duplicate`, nothing else written).
/// - A failed D1 write is covered by the queue message (`recorded: false`,
///   the consumer records the row) and the rescue copy in KV (the sweep
///   records it as `pending` and sends it: whichever message claims the
///   row first is forwarded, the other dropped). A failed queue send is
///   covered by the `pending` row (the sweep sends it again) or, without
///   D1, by the rescue copy, written once the send has failed.
#[derive(Debug, Clone)]
pub struct Ingest {
    plan: Plan,
    stage: Stage,
    /// The D1 row was written.
    recorded: bool,
    /// Some store holds the delivery.
    held: bool,
    /// The first failure, which decides the refusal when nothing holds it.
    first_failure: Option<String>,
    /// Every failure, for the log.
    failures: Vec<String>,
}

impl Ingest {
    /// Starts carrying `plan` out.
    pub fn start(plan: Plan) -> (Ingest, Next) {
        let mut ingest = Ingest {
            plan,
            stage: Stage::Answered,
            recorded: false,
            held: false,
            first_failure: None,
            failures: Vec::new(),
        };
        let next = if ingest.plan.outcome == Outcome::Ignored {
            ingest.answer(Ok(Outcome::Ignored))
        } else if ingest.plan.record.as_ref().is_some_and(|r| r.body_in_kv) {
            let put = ingest.plan.kv.clone().expect("a body in KV has its write");
            ingest.run(Stage::Body, vec![Op::Put(put)])
        } else {
            ingest.after_body()
        };
        (ingest, next)
    }

    /// The plan being carried out.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The writes that failed although the delivery is held (for the log).
    pub fn failures(&self) -> &[String] {
        &self.failures
    }

    /// The write to make once a `2xx` is answered: the duplicate marker.
    pub fn after_answer(&self) -> Option<&KvWrite> {
        self.plan.seen.as_ref()
    }

    /// The next step, given the results of the last round, in its order.
    pub fn feed(&mut self, results: &[OpResult]) -> Next {
        match self.stage {
            Stage::Body => match &results[0] {
                OpResult::Done(_) => self.after_body(),
                OpResult::Failed(error) => {
                    self.fail(error);
                    self.refuse()
                }
            },
            Stage::Record => match &results[0] {
                OpResult::Done(duplicates) if !d1::is_first(*duplicates) => {
                    self.answer(Ok(Outcome::Duplicate))
                }
                OpResult::Done(_) => {
                    self.recorded = true;
                    self.held = true;
                    self.writes()
                }
                OpResult::Failed(error) => {
                    self.fail(error);
                    self.writes()
                }
            },
            Stage::Lookup => match &results[0] {
                OpResult::Done(found) if *found > 0 => self.answer(Ok(Outcome::Duplicate)),
                OpResult::Done(_) => self.writes(),
                // Without knowing, a copy could be forwarded twice: refuse.
                OpResult::Failed(error) => {
                    self.fail(error);
                    self.refuse()
                }
            },
            Stage::Writes => {
                let mut send_failed = false;
                for (op, result) in self.round().into_iter().zip(results) {
                    match result {
                        OpResult::Done(_) => self.held = true,
                        OpResult::Failed(error) => {
                            send_failed |= matches!(op, Op::Send(_));
                            self.fail(error);
                        }
                    }
                }
                // Without D1, nothing else would send it again.
                let rescue = self.plan.rescue.clone();
                match rescue.filter(|_| send_failed && self.plan.record.is_none()) {
                    Some(rescue) => self.run(Stage::Rescue, vec![Op::Put(rescue)]),
                    None => self.settle(),
                }
            }
            Stage::Rescue => {
                match &results[0] {
                    OpResult::Done(_) => self.held = true,
                    OpResult::Failed(error) => self.fail(error),
                }
                self.settle()
            }
            Stage::Answered => self.answer(Err(Refusal::StorageUnavailable)),
        }
    }

    fn after_body(&mut self) -> Next {
        if let Some(record) = &self.plan.record {
            let statement = d1::record_event(record);
            return self.run(Stage::Record, vec![Op::Record(statement)]);
        }
        if let Some(seen) = &self.plan.seen {
            let key = seen.key.clone();
            return self.run(Stage::Lookup, vec![Op::Lookup(key)]);
        }
        self.writes()
    }

    /// The writes of [`Stage::Writes`], in the order their results come.
    fn round(&self) -> Vec<Op> {
        let mut ops = Vec::new();
        let body_written = self.plan.record.as_ref().is_some_and(|r| r.body_in_kv);
        if let Some(kv) = self.plan.kv.as_ref().filter(|_| !body_written) {
            ops.push(Op::Put(kv.clone()));
        }
        if let Some(message) = &self.plan.queue {
            let mut message = message.clone();
            message.recorded = self.recorded;
            ops.push(Op::Send(message));
        }
        let record_failed = self.plan.record.is_some() && !self.recorded;
        if let Some(rescue) = self.plan.rescue.as_ref().filter(|_| record_failed) {
            ops.push(Op::Put(rescue.clone()));
        }
        ops
    }

    fn writes(&mut self) -> Next {
        let ops = self.round();
        if ops.is_empty() {
            return self.settle();
        }
        self.run(Stage::Writes, ops)
    }

    fn run(&mut self, stage: Stage, ops: Vec<Op>) -> Next {
        self.stage = stage;
        Next::Run(ops)
    }

    fn fail(&mut self, error: &str) {
        self.first_failure.get_or_insert_with(|| error.to_owned());
        self.failures.push(error.to_owned());
    }

    fn settle(&mut self) -> Next {
        match self.held {
            true => self.answer(Ok(self.plan.outcome)),
            false => self.refuse(),
        }
    }

    /// Nothing holds the delivery: whether a retry can help depends on what
    /// the store said.
    fn refuse(&mut self) -> Next {
        let refusal = match self.first_failure.as_deref().map(StoreFailure::classify) {
            Some(StoreFailure::Permanent) => Refusal::StorageRejected,
            _ => Refusal::StorageUnavailable,
        };
        self.answer(Err(refusal))
    }

    fn answer(&mut self, answer: Result<Outcome, Refusal>) -> Next {
        if answer != Ok(Outcome::Accepted) && answer != Ok(Outcome::Quarantined) {
            // Only a delivery stored for the first time is marked as seen.
            self.plan.seen = None;
        }
        self.stage = Stage::Answered;
        Next::Answer(answer)
    }
}
