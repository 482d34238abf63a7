//! The dead-letter queue's consumer: records each delivery that failed for
//! good in KV, under `dead/{id}/{destination}`, with the body and each
//! failure's last status and error, so it can be listed and replayed.

use serde::Serialize;
use worker::{Env, MessageBatch, MessageExt};

use crate::config::Config;
use crate::layout::{self, DeliveryState};
use crate::messages::{DeadLetter, DeadLetterMessage};
use crate::sinks;
use crate::text::truncate;

/// The destination name recorded for messages the platform moved to the
/// dead-letter queue on its own (the consumer kept failing on them).
pub const ALL_DESTINATIONS: &str = "_all";

/// What a dead letter's KV metadata records.
#[derive(Serialize)]
pub struct DeadMetadata<'a> {
    event_name: &'a str,
    project_code: &'a str,
    received_at: u64,
    destination: &'a str,
    attempts: u32,
    last_status: Option<u16>,
    last_error: Option<&'a str>,
    reason: &'a str,
    dead_at: u64,
}

/// Processes one batch of the dead-letter queue.
pub async fn consume(batch: &MessageBatch<serde_json::Value>, env: &Env, config: &Config) {
    for message in batch.raw_iter() {
        let dead = match serde_wasm_bindgen::from_value::<DeadLetterMessage>(message.body()) {
            Ok(DeadLetterMessage::DeadLetter(dead)) => dead,
            Ok(DeadLetterMessage::Undelivered(delivery)) => DeadLetter {
                destination: delivery
                    .destination
                    .clone()
                    .unwrap_or_else(|| ALL_DESTINATIONS.to_owned()),
                delivery,
                reason: "the delivery consumer failed on it repeatedly".to_owned(),
                dead_at: worker::Date::now().as_millis(),
            },
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
    let delivery = &dead.delivery;
    let body = match &delivery.body {
        Some(body) => body.as_bytes().to_vec(),
        None => sinks::get_event(env, &delivery.id)
            .await?
            .unwrap_or_default(),
    };
    let metadata = DeadMetadata {
        event_name: &delivery.event_name,
        project_code: &delivery.project_code,
        received_at: delivery.received_at,
        destination: &dead.destination,
        attempts: delivery.attempts,
        last_status: delivery.last_status,
        last_error: delivery.last_error.as_deref().map(|e| truncate(e, 300)),
        reason: truncate(&dead.reason, 200),
        dead_at: dead.dead_at,
    };
    let key = layout::dead_key(&delivery.id, &dead.destination);
    sinks::put(env, &key, &body, Some(metadata), retention).await?;
    let state = DeliveryState {
        status: "dead".to_owned(),
        attempts: delivery.attempts,
        last_status: delivery.last_status,
        last_error: delivery
            .last_error
            .as_deref()
            .map(|e| truncate(e, 300).to_owned()),
        at: dead.dead_at,
    };
    sinks::put_delivery_state(env, &delivery.id, &dead.destination, &state, retention).await?;
    worker::console_warn!(
        "{}",
        serde_json::json!({"event": "dead_letter", "id": delivery.id, "destination": dead.destination, "reason": dead.reason})
    );
    Ok(())
}
