//! Carries out the operations of the delivery side's machines
//! ([`engine::delivery::machine::Op`]) against the platform, and says how
//! each went ([`OpResult`]). Nothing here decides: an operation that
//! fails says so, and the machine that asked for it chooses what follows.

use std::time::Duration;

use futures_util::future::join_all;
use qase_webhooks::chat::Alert;
use worker::{
    AnalyticsEngineDataPointBuilder, Date, Delay, Env, MessageExt, QueueRetryOptionsBuilder,
    RawMessage,
};

use crate::delivery::breaker;
use crate::delivery::pacer;
use crate::http::outbound;
use crate::runs::run_watch;
use crate::store::{self, db};
use engine::config::bindings;
use engine::delivery::analytics::AttemptPoint;
use engine::delivery::attempt::{AttemptLog, Disposition};
use engine::delivery::breaker::object::AskAnswer;
use engine::delivery::breaker::{Decision, Outcome};
use engine::delivery::machine::{
    BreakerAnswer, Level, Machine, Next, Note, Op, OpResult, StateRow,
};
use engine::delivery::messages::{DeadLetter, QueuedAlert, QueuedDelivery};
use engine::delivery::queue::QueueMessage;
use engine::delivery::records::{self, BodyRow};
use engine::http::outbound::Request;
use engine::runs::report::RunKey;
use engine::runs::state::Fetched;
use engine::runs::state::RunFact;
use engine::store::d1::Statement;

/// Drives `machine` from `next` to its end: each round's operations at
/// once, their results fed back in order, its notes printed after each.
pub async fn drive(env: &Env, machine: &mut impl Machine, mut next: Next) -> Disposition {
    loop {
        print(machine.take_notes());
        match next {
            Next::End(disposition) => return disposition,
            Next::Run(round) => {
                let results = join_all(round.into_iter().map(|op| run(env, op))).await;
                next = machine.feed(results, Date::now().as_millis());
            }
        }
    }
}

/// Carries out `op`.
async fn run(env: &Env, op: Op) -> OpResult {
    match op {
        Op::ReadBodyRow(statement) => read_rows(env, &statement).await,
        Op::ReadKv(key) => read_kv(env, &key).await,
        Op::ApplyRun(fact) => apply_run(env, &fact).await,
        Op::QueueReport { due, delay_seconds } => {
            done(queue(env, QueueMessage::RunReport(due), delay_seconds).await)
        }
        Op::QueueDetails(due) => done(queue(env, QueueMessage::RunDetails(due), 0).await),
        Op::Claim { statement, body } => write(env, &statement, Some(&body)).await,
        Op::AskBreaker {
            destination,
            id,
            received_at,
        } => asked(breaker::ask(env, &destination, &id, received_at).await),
        Op::Hold {
            destination,
            delivery,
        } => asked(breaker::hold(env, &destination, delivery).await),
        Op::ReportToBreaker {
            destination,
            released,
            outcome,
            error,
        } => report(env, &destination, released, outcome, error).await,
        Op::ReservePace {
            destination,
            interval,
        } => reserve(env, &destination, interval).await,
        Op::Wait(wait) => {
            Delay::from(wait).await;
            OpResult::Done
        }
        Op::Attempt { request, .. } => attempt(request).await,
        Op::Record { log, row, point } => record(env, log, row, point).await,
        Op::Requeue {
            message,
            delay_seconds,
        } => done(queue(env, QueueMessage::Delivery(message), delay_seconds).await),
        Op::QueueAlert {
            message,
            delay_seconds,
        } => done(queue(env, QueueMessage::Alert(message), delay_seconds).await),
        Op::ReadRun(key) => read_run(env, &key).await,
        Op::Fetch(request) => OpResult::Fetched(outbound::send(&request).await),
        Op::TakeReport {
            key,
            message_id,
            fetched,
        } => take_report(env, &key, &message_id, fetched).await,
        Op::QueueDeliveries(messages) => done(queue_deliveries(env, messages).await),
        op @ Op::Github { .. } => github(env, op).await,
        Op::SendDeadLetter(dead) => done(send_dead_letter(env, &dead).await),
        Op::RecordDead { writes, body, .. } => done(write_all(env, &writes, body.as_deref()).await),
        Op::RaiseAlert { alert, messages } => {
            raise(env, &alert, messages).await;
            OpResult::Done
        }
    }
}

/// Applies a run's fact in its RunWatch object.
async fn apply_run(env: &Env, fact: &RunFact) -> OpResult {
    if env.durable_object(bindings::RUN_WATCH).is_err() {
        // A deployment whose wrangler.toml predates runs.
        return OpResult::RunsOff;
    }
    answered(run_watch::apply(env, fact).await, |answer| {
        OpResult::RunApplied {
            state: Box::new(answer.state),
            ended_now: answer.ended_now,
        }
    })
}

async fn report(
    env: &Env,
    destination: &str,
    released: Option<String>,
    outcome: Outcome,
    error: Option<String>,
) -> OpResult {
    let answer = breaker::report(env, destination, released, outcome, error).await;
    answered(answer, OpResult::Reported)
}

async fn reserve(env: &Env, destination: &str, interval: Duration) -> OpResult {
    answered(
        pacer::reserve(env, destination, interval).await,
        OpResult::Slot,
    )
}

/// Asks a run's object about one of its GitHub destinations.
async fn github(env: &Env, op: Op) -> OpResult {
    let Op::Github {
        key,
        destination,
        change,
    } = op
    else {
        return OpResult::Failed("not a GitHub call".into());
    };
    answered(
        run_watch::github(env, &key, &destination, change).await,
        |answer| OpResult::Github(Box::new(answer)),
    )
}

async fn read_run(env: &Env, key: &RunKey) -> OpResult {
    answered(run_watch::state(env, key).await, |state| {
        OpResult::Run(Box::new(state))
    })
}

async fn take_report(env: &Env, key: &RunKey, message_id: &str, fetched: Fetched) -> OpResult {
    answered(
        run_watch::take(env, key, message_id, fetched).await,
        |taken| OpResult::Taken(taken.map(Box::new)),
    )
}

/// Makes one attempt; `Err` is a request that could not be built.
async fn attempt(request: Result<Request, String>) -> OpResult {
    let (result, description) = match request {
        Ok(request) => outbound::send(&request).await.attempt(),
        Err(words) => (qase_webhooks::retry::AttemptResult::NetworkError, words),
    };
    OpResult::Attempted {
        result,
        description,
        random: js_sys::Math::random(),
    }
}

/// Prints the attempt log line, writes the attempt's Analytics Engine
/// point (when the binding is set) and the state row, each if given.
async fn record(
    env: &Env,
    log: Option<AttemptLog>,
    row: Option<StateRow>,
    point: Option<AttemptPoint>,
) -> OpResult {
    if let Some(log) = log {
        worker::console_log!("{}", serde_json::to_string(&log).unwrap_or_default());
    }
    if let Some(point) = point {
        write_point(env, &point);
    }
    if let Some(row) = row {
        record_state(env, &row).await;
    }
    OpResult::Done
}

async fn queue_deliveries(env: &Env, messages: Vec<QueuedDelivery>) -> worker::Result<()> {
    let messages = messages.into_iter().map(QueueMessage::Delivery);
    store::queue::send_batch(env, bindings::DELIVERIES_QUEUE, messages).await
}

/// Prints a machine's log lines, in order, each at its level.
pub fn print(notes: Vec<Note>) {
    for note in notes {
        match note.level {
            Level::Log => worker::console_log!("{}", note.line),
            Level::Warn => worker::console_warn!("{}", note.line),
            Level::Error => worker::console_error!("{}", note.line),
        }
    }
}

fn done(result: worker::Result<()>) -> OpResult {
    match result {
        Ok(()) => OpResult::Done,
        Err(error) => OpResult::Failed(error.to_string()),
    }
}

/// The result of an operation whose answer `found` turns into its result.
fn answered<T>(answer: worker::Result<T>, found: impl FnOnce(T) -> OpResult) -> OpResult {
    match answer {
        Ok(value) => found(value),
        Err(error) => OpResult::Failed(error.to_string()),
    }
}

fn asked(answer: worker::Result<AskAnswer>) -> OpResult {
    match answer {
        Ok(AskAnswer {
            decision: Decision::Held,
            ..
        }) => OpResult::Breaker(BreakerAnswer::Hold),
        Ok(AskAnswer { report_success, .. }) => {
            OpResult::Breaker(BreakerAnswer::Attempt { report_success })
        }
        Err(error) => OpResult::Failed(error.to_string()),
    }
}

async fn read_rows(env: &Env, statement: &Statement) -> OpResult {
    let rows = match db::database(env) {
        Ok(database) => db::rows::<BodyRow>(&database, statement).await,
        Err(error) => Err(error),
    };
    match rows {
        Ok(rows) => OpResult::Rows(rows),
        Err(error) => OpResult::Failed(error.to_string()),
    }
}

async fn read_kv(env: &Env, key: &str) -> OpResult {
    let value = match env.kv(bindings::EVENTS_KV) {
        Ok(kv) => kv.get(key).bytes().await.map_err(worker::Error::from),
        Err(error) => Err(error),
    };
    match value {
        Ok(value) => OpResult::Value(value),
        Err(error) => OpResult::Failed(error.to_string()),
    }
}

async fn write(env: &Env, statement: &Statement, body: Option<&[u8]>) -> OpResult {
    let changed = match db::database(env) {
        Ok(database) => db::changes(&database, statement, body).await,
        Err(error) => Err(error),
    };
    match changed {
        Ok(changes) => OpResult::Changed(changes),
        Err(error) => OpResult::Failed(error.to_string()),
    }
}

/// Writes `point` to the `QASE_ANALYTICS` dataset; nothing without the
/// binding. Best effort: Analytics Engine writes are not awaited and a
/// failure only logs.
fn write_point(env: &Env, point: &AttemptPoint) {
    let Ok(dataset) = env.analytics_engine(bindings::ANALYTICS) else {
        return;
    };
    let data = AnalyticsEngineDataPointBuilder::new()
        .indexes([point.index.as_str()])
        .blobs(point.blobs.iter().map(String::as_str))
        .doubles(point.doubles)
        .build();
    if let Err(error) = dataset.write_data_point(&data) {
        worker::console_warn!("analytics data point not written: {error}");
    }
}

/// Writes a delivery state row. Best effort: the delivery does not depend
/// on it (a dead letter, which does, is [`Op::RecordDead`]).
async fn record_state(env: &Env, row: &StateRow) {
    let statement = records::upsert(&row.as_row());
    if let OpResult::Failed(error) = write(env, &statement, None).await {
        let (id, destination) = (&row.event_id, &row.destination);
        worker::console_warn!("delivery state of {id} to `{destination}` not recorded: {error}");
    }
}

/// Runs a dead letter's writes ([`db::write_all`]).
async fn write_all(env: &Env, statements: &[Statement], body: Option<&[u8]>) -> worker::Result<()> {
    db::write_all(&db::database(env)?, statements, body).await
}

/// How long a message whose processing failed (its body unreadable, or a
/// retry that could not be queued) waits before the platform delivers it
/// again.
const REPROCESS_DELAY_SECONDS: u32 = 30;

/// Acks `message`, or lets the platform deliver it again after
/// `REPROCESS_DELAY_SECONDS`, as its machine ended.
pub fn settle(message: &RawMessage, disposition: Disposition) {
    match disposition {
        Disposition::Ack => message.ack(),
        Disposition::Retry => message.retry_with_options(
            &QueueRetryOptionsBuilder::new()
                .with_delay_seconds(REPROCESS_DELAY_SECONDS)
                .build(),
        ),
    }
}

/// Sends a message to the delivery queue after `delay_seconds`.
pub async fn queue(env: &Env, message: QueueMessage, delay_seconds: u32) -> worker::Result<()> {
    store::queue::send(env, bindings::DELIVERIES_QUEUE, &message, delay_seconds).await
}

/// Hands a delivery that failed for good to the dead-letter queue.
async fn send_dead_letter(env: &Env, dead: &DeadLetter) -> worker::Result<()> {
    store::queue::send(env, bindings::DEAD_LETTERS_QUEUE, dead, 0).await
}

/// Logs the alert, then queues its messages to the alert destinations.
/// Best effort: an alert that cannot be queued is logged.
pub async fn raise(env: &Env, alert: &Alert, messages: Vec<QueuedAlert>) {
    worker::console_log!(
        "{}",
        serde_json::json!({"event": "alert", "kind": alert.kind(), "subject": alert.subject()})
    );
    for message in messages {
        let to = message.alert_to.clone();
        if let Err(error) = queue(env, QueueMessage::Alert(message), 0).await {
            worker::console_error!("alert to `{to}` not queued: {error}");
        }
    }
}
