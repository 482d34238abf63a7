//! What the [`super::Delivery`] machine asks the shell to do, and what the
//! shell feeds back: typed operations and results, one result per
//! operation, in order.

use std::time::Duration;

pub use crate::http::outbound::Request;

use qase_webhooks::chat::Alert;
use qase_webhooks::retry::AttemptResult;

use crate::delivery::analytics::AttemptPoint;
use crate::delivery::attempt::{AttemptLog, Disposition};
use crate::delivery::breaker::Outcome;
use crate::delivery::github::record::{GithubAnswer, GithubChange};
use crate::delivery::messages::{DeadLetter, QueuedAlert, QueuedDelivery};
use crate::delivery::records::{self, AttemptEntry, BodyRow, DeliveryRow};
use crate::http::outbound::Answer;
use crate::runs::report::{RunDetailsDue, RunKey, RunReportDue};
use crate::runs::state::{Fetched, RunFact, RunState};
use crate::store::d1::Statement;
use crate::store::layout::DeliveryState;

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
    /// Send a run's details message to the delivery queue at once:
    /// [`OpResult::Done`].
    QueueDetails(RunDetailsDue),
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
        /// The attempt's Analytics Engine data point, written when the
        /// `QASE_ANALYTICS` binding is set (none for a hold).
        point: Option<AttemptPoint>,
    },
    /// Send a message to the delivery queue after a delay.
    Requeue {
        /// The message.
        message: QueuedDelivery,
        /// Its delay.
        delay_seconds: u32,
    },
    /// Send an alert's message to the delivery queue after a delay: [`OpResult::Done`].
    QueueAlert {
        /// The message.
        message: QueuedAlert,
        /// Its delay.
        delay_seconds: u32,
    },
    /// Read a run's state from its `RunWatch` object: [`OpResult::Run`].
    ReadRun(RunKey),
    /// Make a request of Qase's REST API: [`OpResult::Fetched`].
    Fetch(Request),
    /// Take a run's report from its object for the queue message
    /// `message_id`, keeping what it fetched with it: [`OpResult::Taken`].
    TakeReport {
        /// The run.
        key: RunKey,
        /// The report message's queue id.
        message_id: String,
        /// The failures and details fetched, if any.
        fetched: Fetched,
    },
    /// Ask a run's object about one of its GitHub destinations (read its
    /// record with the run's state, or change it): [`OpResult::Github`].
    Github {
        /// The run.
        key: RunKey,
        /// The GitHub destination.
        destination: String,
        /// The change.
        change: GithubChange,
    },
    /// Send these deliveries (a report's) to the delivery queue at once.
    QueueDeliveries(Vec<QueuedDelivery>),
    /// Send a dead letter to the dead-letter queue.
    SendDeadLetter(DeadLetter),
    /// Record a dead letter in D1 directly, as the dead-letter consumer
    /// does: run `writes` in order ([`records::dead_letter_writes`]),
    /// binding `body` where one asks for it; [`OpResult::Done`], or
    /// [`OpResult::Failed`] at the first that fails.
    RecordDead {
        /// The dead letter.
        dead: DeadLetter,
        /// Its writes.
        writes: Vec<Statement>,
        /// The event's body, when a write needs it.
        body: Option<Vec<u8>>,
    },
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
    /// The run's state [`Op::ReadRun`] read.
    Run(Box<RunState>),
    /// What [`Op::Fetch`] got.
    Fetched(Answer),
    /// The state whose report [`Op::TakeReport`] took; `None`: another
    /// message took it.
    Taken(Option<Box<RunState>>),
    /// What the run's object answered [`Op::Github`].
    Github(Box<GithubAnswer>),
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

/// A machine of the delivery side ([`super::Delivery`],
/// [`crate::alerts::post::AlertPost`], [`crate::runs::make::MakeReport`]),
/// as the consumer drives it: it carries out each round's operations at
/// once, feeds their results in order, and prints the notes after each
/// round, until the end.
pub trait Machine {
    /// Feeds the last round's results, at `now` (Unix ms): the next round, or the end.
    fn feed(&mut self, results: Vec<OpResult>, now: u64) -> Next;
    /// The log lines of the rounds so far, to print in order.
    fn take_notes(&mut self) -> Vec<Note>;
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

impl Op {
    /// Records `dead` in D1 directly; `body` is the event's, if known
    /// (without it, the event's row cannot be inserted for a message D1
    /// did not take at ingest, and the dead row alone is written).
    pub fn record_dead(dead: DeadLetter, body: Option<&[u8]>) -> Op {
        let writes = records::dead_letter_writes(&dead, &records::dead_state(&dead), body);
        let body = match dead.delivery.recorded {
            true => None,
            false => body.map(<[u8]>::to_vec),
        };
        Op::RecordDead { dead, writes, body }
    }
}

/// The log line of a dead letter, once recorded.
pub fn dead_letter_note(dead: &DeadLetter) -> Note {
    let line = serde_json::json!({"event": "dead_letter", "id": dead.delivery.id, "destination": dead.destination, "reason": dead.reason});
    Note {
        level: Level::Warn,
        line: line.to_string(),
    }
}
