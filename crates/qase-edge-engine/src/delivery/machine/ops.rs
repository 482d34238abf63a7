//! What the [`super::Delivery`] machine asks the shell to do, and what the
//! shell feeds back: typed operations and results, one result per
//! operation, in order.

use std::time::Duration;

use qase_webhooks::chat::Alert;
use qase_webhooks::retry::AttemptResult;

use crate::delivery::attempt::{AttemptLog, Disposition};
use crate::delivery::breaker::Outcome;
use crate::delivery::messages::{DeadLetter, QueuedAlert, QueuedDelivery};
use crate::delivery::records::{AttemptEntry, BodyRow, DeliveryRow};
use crate::runs::report::RunReportDue;
use crate::runs::state::{RunFact, RunState};
use crate::store::d1::Statement;
use crate::store::layout::DeliveryState;

/// One request to a destination, built by [`crate::delivery::attempt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Where it goes (`POST`, no redirect followed).
    pub url: String,
    /// The headers, in the order to set them.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// How long to wait for an answer.
    pub timeout: Duration,
}

/// A delivery state to write, with the attempt to add to its log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRow {
    /// The event id.
    pub event_id: String,
    /// The destination.
    pub destination: String,
    /// The state.
    pub state: DeliveryState,
    /// The attempt (or the hold) for its `attempts_log`.
    pub entry: AttemptEntry,
}

impl StateRow {
    /// It as [`crate::delivery::records::upsert`] writes it (the statement is built only
    /// when it is run).
    pub fn as_row(&self) -> DeliveryRow<'_> {
        DeliveryRow {
            event_id: &self.event_id,
            destination: &self.destination,
            state: &self.state,
            reason: None,
            entry: Some(&self.entry),
        }
    }
}

/// An operation for the shell to carry out.
#[derive(Debug, Clone)]
pub enum Op {
    /// Run [`crate::delivery::records::body_of`]: [`OpResult::Rows`].
    ReadBodyRow(Statement),
    /// Get a KV key of the events namespace: [`OpResult::Value`].
    ReadKv(String),
    /// Apply a run's fact to its `RunWatch` object: [`OpResult::RunApplied`],
    /// or [`OpResult::RunsOff`] when the deployment has no runs binding.
    ApplyRun(RunFact),
    /// Send a run's report message to the delivery queue after a delay.
    QueueReport {
        /// The message.
        due: RunReportDue,
        /// Its delay.
        delay_seconds: u32,
    },
    /// Run a claim statement, binding `body` where it asks: [`OpResult::Changed`].
    Claim {
        /// The statement.
        statement: Statement,
        /// The body it may bind.
        body: Vec<u8>,
    },
    /// Ask a destination's breaker whether to attempt an event:
    /// [`OpResult::Breaker`].
    AskBreaker {
        /// The destination.
        destination: String,
        /// The event's id.
        id: String,
        /// When it was received (its place among held events).
        received_at: u64,
    },
    /// Give the breaker the event it wants to hold: [`OpResult::Breaker`]
    /// (it may have resumed since it was asked, then it says attempt).
    Hold {
        /// The destination.
        destination: String,
        /// The message to keep and release later, for this destination.
        delivery: QueuedDelivery,
    },
    /// Report an attempt's outcome to the breaker: [`OpResult::Reported`].
    ReportToBreaker {
        /// The destination.
        destination: String,
        /// The held key of an event the breaker released.
        released: Option<String>,
        /// How the attempt counts.
        outcome: Outcome,
        /// The attempt's error.
        error: Option<String>,
    },
    /// Reserve a send slot of a paced destination: [`OpResult::Slot`].
    ReservePace {
        /// The destination.
        destination: String,
        /// Its interval.
        interval: Duration,
    },
    /// Wait this long (a send slot close by), then feed [`OpResult::Done`].
    Wait(Duration),
    /// Make the request: [`OpResult::Attempted`]. `Err`: no request can be
    /// made, in words; fed back as a network error with those words.
    Attempt {
        /// The destination.
        destination: String,
        /// The request.
        request: Result<Request, String>,
    },
    /// Log the attempt's line, then write the delivery state (best effort:
    /// any result will do).
    Record {
        /// The attempt's log line, printed as JSON.
        log: Option<AttemptLog>,
        /// The `deliveries` row to write (`records::upsert(&row.as_row())`).
        row: Option<StateRow>,
    },
    /// Send a message to the delivery queue after a delay.
    Requeue {
        /// The message.
        message: QueuedDelivery,
        /// Its delay.
        delay_seconds: u32,
    },
    /// Send a dead letter to the dead-letter queue.
    SendDeadLetter(DeadLetter),
    /// Record a dead letter in D1 directly (as the dead-letter consumer does).
    RecordDead(DeadLetter),
    /// Log the alert, then queue its messages to the alert destinations
    /// (best effort: any result will do).
    RaiseAlert {
        /// The alert.
        alert: Alert,
        /// One message per alert destination.
        messages: Vec<QueuedAlert>,
    },
}

/// How an [`Op`] went.
#[derive(Debug, Clone)]
pub enum OpResult {
    /// Done (writes, sends, waits).
    Done,
    /// Failed, with the error's message.
    Failed(String),
    /// The rows [`Op::ReadBodyRow`] selected.
    Rows(Vec<BodyRow>),
    /// The value [`Op::ReadKv`] found, if any.
    Value(Option<Vec<u8>>),
    /// The run's state after [`Op::ApplyRun`], and whether this event ended it.
    RunApplied {
        /// The state.
        state: Box<RunState>,
        /// This event ended the run.
        ended_now: bool,
    },
    /// No runs binding: runs are off.
    RunsOff,
    /// How many rows a [`Op::Claim`] changed.
    Changed(usize),
    /// What a breaker answered [`Op::AskBreaker`] or [`Op::Hold`].
    Breaker(BreakerAnswer),
    /// The alert a breaker's answer to [`Op::ReportToBreaker`] carries.
    Reported(Option<Alert>),
    /// The send slot [`Op::ReservePace`] reserved, Unix ms.
    Slot(u64),
    /// What [`Op::Attempt`] got.
    Attempted {
        /// The result.
        result: AttemptResult,
        /// It in words (`HTTP 503`, a timeout, a network error).
        description: String,
        /// A uniform draw in `[0, 1)`, the backoff's jitter.
        random: f64,
    },
}

/// What a breaker answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerAnswer {
    /// Attempt it; `report_success`: report it if it is delivered.
    Attempt {
        /// Whether a success is to be reported.
        report_success: bool,
    },
    /// To [`Op::AskBreaker`]: send it to be held ([`Op::Hold`]); to
    /// [`Op::Hold`]: it is held.
    Hold,
}

/// What the shell does next.
#[derive(Debug, Clone)]
pub enum Next {
    /// Carry these operations out at once and feed their results, in order.
    Run(Vec<Op>),
    /// Done: ack or retry the queue message.
    End(Disposition),
}

/// How loud a [`Note`] is (the console level the shell logs it at).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `console_log!`.
    Log,
    /// `console_warn!`.
    Warn,
    /// `console_error!`.
    Error,
}

/// A log line the machine's decisions call for, in the consumer's words;
/// the shell prints them, in order, after each round
/// ([`super::Delivery::take_notes`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Its level.
    pub level: Level,
    /// The line.
    pub line: String,
}
