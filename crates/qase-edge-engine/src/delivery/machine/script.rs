//! Test support for the delivery side's machines ([`Machine`]): runs one
//! to its end against scripted answers, as the consumer would, and names
//! its operations, so that a test reads as the order of what was asked.

use qase_webhooks::retry::AttemptResult;

use super::{Machine, Next, Note, Op, OpResult};
use crate::delivery::attempt::Disposition;

/// A machine's whole run.
#[derive(Debug)]
pub(crate) struct Run {
    /// Every operation, in the order asked.
    pub ops: Vec<Op>,
    /// Every note, in order.
    pub notes: Vec<Note>,
    /// How it ended.
    pub end: Disposition,
}

/// Runs `machine` from `next` to its end, answering each operation with
/// `answer` (`None`: `Done`) and feeding every round at `now`.
pub(crate) fn run(
    machine: &mut impl Machine,
    mut next: Next,
    now: u64,
    mut answer: impl FnMut(&Op) -> Option<OpResult>,
) -> Run {
    let (mut ops, mut notes) = (Vec::new(), Vec::new());
    for _ in 0..100 {
        notes.extend(machine.take_notes());
        match next {
            Next::End(end) => return Run { ops, notes, end },
            Next::Run(round) => {
                let results = round.iter().map(|op| answer(op).unwrap_or(OpResult::Done));
                let results = results.collect();
                ops.extend(round);
                next = machine.feed(results, now);
            }
        }
    }
    panic!("the machine never ended: {ops:?}");
}

/// An attempt answered with `status`, drawing the middle of the jitter.
pub(crate) fn status(status: u16) -> OpResult {
    OpResult::Attempted {
        result: AttemptResult::Status {
            status,
            retry_after: None,
        },
        description: format!("HTTP {status}"),
        random: 0.5,
    }
}

/// Short names of `ops`, in order.
pub(crate) fn names(ops: &[Op]) -> Vec<&'static str> {
    ops.iter()
        .map(|op| match op {
            Op::ReadBodyRow(_) => "row",
            Op::ReadKv(_) => "kv",
            Op::ApplyRun(_) => "run",
            Op::QueueReport { .. } => "report",
            Op::QueueDetails(_) => "details",
            Op::Claim { .. } => "claim",
            Op::AskBreaker { .. } => "ask",
            Op::Hold { .. } => "hold",
            Op::ReportToBreaker { .. } => "tell",
            Op::ReservePace { .. } => "reserve",
            Op::Wait(_) => "wait",
            Op::Attempt { .. } => "attempt",
            Op::Record { .. } => "record",
            Op::Requeue { .. } => "requeue",
            Op::SendDeadLetter(_) => "dlq",
            Op::RecordDead { .. } => "dead",
            Op::RaiseAlert { .. } => "alert",
            Op::QueueAlert { .. } => "queue_alert",
            Op::ReadRun(_) => "read_run",
            Op::Fetch(_) => "fetch",
            Op::TakeReport { .. } => "take",
            Op::QueueDeliveries(_) => "queue_deliveries",
            Op::Github { .. } => "github",
        })
        .collect()
}
