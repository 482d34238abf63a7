//! The dead-letter queue's consumer: records each delivery that failed for
//! good in KV as [`crate::engine::delivery::dead_letter_record`] says, with
//! the body, so it can be listed and replayed.

use worker::{Date, Env, MessageBatch, MessageExt};

use crate::engine::config::Config;
use crate::engine::delivery;
use crate::engine::messages::{DeadLetter, DeadLetterMessage};
use crate::shell::sinks;

/// Processes one batch of the dead-letter queue.
pub async fn consume(batch: &MessageBatch<serde_json::Value>, env: &Env, config: &Config) {
    for message in batch.raw_iter() {
        let dead = match serde_wasm_bindgen::from_value::<DeadLetterMessage>(message.body()) {
            Ok(body) => delivery::from_dead_letter_queue(body, Date::now().as_millis()),
            Err(error) => {
                // Nothing to record it as; keep it visible in the logs and
                // leave it to the platform's retry limit.
                worker::console_error!("dead-letter message {} unreadable: {error}", message.id());
                message.retry();
                continue;
            }
        };
        match record(env, &dead, config.retention_seconds).await {
            Ok(()) => message.ack(),
            Err(error) => {
                worker::console_error!("dead letter {} not recorded: {error}", dead.delivery.id);
                message.retry();
            }
        }
    }
}

/// Writes a dead letter to KV, and marks the destination's delivery state dead.
pub async fn record(env: &Env, dead: &DeadLetter, retention: Option<u64>) -> worker::Result<()> {
    let body = sinks::body_of(env, &dead.delivery)
        .await?
        .unwrap_or_default();
    let record = delivery::dead_letter_record(dead);
    sinks::put(env, &record.key, &body, Some(&record.metadata), retention).await?;
    sinks::put(env, &record.state_key, b"", Some(&record.state), retention).await?;
    worker::console_warn!(
        "{}",
        serde_json::json!({"event": "dead_letter", "id": dead.delivery.id, "destination": dead.destination, "reason": dead.reason})
    );
    Ok(())
}
