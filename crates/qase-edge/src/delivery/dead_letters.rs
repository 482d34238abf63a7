//! The dead-letter queue's consumer: records each delivery that failed for
//! good as a `dead` row of D1's `deliveries`, with its reason, as
//! [`engine::delivery::records::dead_letter_writes`] says, so it can be
//! listed and replayed (the body is the event's row).
//!
//! Two kinds of message arrive: our own dead letters, and delivery
//! messages the platform moved here after the consumer failed on one
//! `max_retries` times. A moved new-event message (for every destination,
//! recorded as [`engine::delivery::attempt::ALL_DESTINATIONS`]) first takes
//! the event's claim, as the delivery consumer would: then the sweep stops
//! re-sending it; and if another message already holds the claim, the
//! event was forwarded and nothing is dead.

use worker::{Date, Env, MessageBatch, MessageExt, RawMessage};

use crate::delivery::body;
use crate::delivery::claim;
use crate::store::db;
use engine::config::Config;
use engine::delivery::attempt;
use engine::delivery::messages::{DeadLetter, DeadLetterMessage, QueuedDelivery};
use engine::delivery::records::{self, Claim};
use engine::runs::report::RunReportDue;

/// Processes one batch of the dead-letter queue.
pub async fn consume(batch: &MessageBatch<serde_json::Value>, env: &Env, _config: &Config) {
    for message in batch.raw_iter() {
        process(message, env).await;
    }
}

/// Records one message of the dead-letter queue, then acks or retries it.
async fn process(message: RawMessage, env: &Env) {
    // A run's report message the consumer kept failing on: no delivery
    // to record; the run's state (GET /api/runs) still has the run.
    if let Ok(due) = serde_wasm_bindgen::from_value::<RunReportDue>(message.body()) {
        worker::console_error!(
            "{}",
            serde_json::json!({"event": "run_report_given_up", "project": due.run_report.project, "run": due.run_report.run})
        );
        message.ack();
        return;
    }
    let body = match serde_wasm_bindgen::from_value::<DeadLetterMessage>(message.body()) {
        Ok(body) => body,
        Err(error) => {
            // Nothing to record it as; keep it visible in the logs and
            // leave it to the platform's retry limit.
            worker::console_error!("dead-letter message {} unreadable: {error}", message.id());
            message.retry();
            return;
        }
    };
    if let DeadLetterMessage::Undelivered(moved) = &body {
        if moved.destination.is_none() {
            match claim_moved(env, moved).await {
                Claim::Skip | Claim::LeftToTheSweep => {
                    worker::console_log!(
                        "dead-letter message for {} dropped: the event was forwarded, or its rescue copy will be",
                        moved.id
                    );
                    message.ack();
                    return;
                }
                // D1 down: the dead row cannot be written either.
                Claim::ForwardUnclaimed => {
                    message.retry();
                    return;
                }
                Claim::Forward | Claim::Run { .. } => {}
            }
        }
    }
    let dead = attempt::from_dead_letter_queue(body, Date::now().as_millis());
    match record(env, &dead).await {
        Ok(()) => message.ack(),
        Err(error) => {
            worker::console_error!("dead letter {} not recorded: {error}", dead.delivery.id);
            message.retry();
        }
    }
}

/// The claim of a moved new-event message, taken as the delivery consumer
/// would take it (see the module's documentation).
async fn claim_moved(env: &Env, moved: &QueuedDelivery) -> Claim {
    // The body only for a row to insert (`recorded: false`).
    let bytes = match moved.recorded {
        true => None,
        false => body::body_of(env, moved).await.ok().flatten(),
    };
    match (&bytes, moved.recorded) {
        // No body to insert the row with: the dead row alone.
        (None, false) => Claim::Forward,
        (bytes, _) => claim::run_claim(env, moved, bytes.as_deref().unwrap_or_default()).await,
    }
}

/// Writes a dead letter to D1: the destination's `dead` row (and the
/// event's row first, if D1 did not take it at ingest).
pub async fn record(env: &Env, dead: &DeadLetter) -> worker::Result<()> {
    let body = match dead.delivery.recorded {
        true => None,
        // Best effort: without the body the dead row is still written.
        false => body::body_of(env, &dead.delivery).await.ok().flatten(),
    };
    let state = records::dead_state(dead);
    let database = db::database(env)?;
    for statement in records::dead_letter_writes(dead, &state, body.as_deref()) {
        db::changes(&database, &statement, body.as_deref()).await?;
    }
    worker::console_warn!(
        "{}",
        serde_json::json!({"event": "dead_letter", "id": dead.delivery.id, "destination": dead.destination, "reason": dead.reason})
    );
    Ok(())
}
