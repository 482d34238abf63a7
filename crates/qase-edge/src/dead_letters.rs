//! The dead-letter queue's consumer: records each delivery that failed for
//! good in KV, under `dead/{id}/{destination}`, with the body and each
//! failure's last status and error, so it can be listed and replayed.

use worker::{Env, MessageBatch, MessageExt};

use crate::config::Config;
use crate::layout::{self, DeadLetterMetadata, DeliveryState, DeliveryStatus};
use crate::messages::{DeadLetter, DeadLetterMessage};
use crate::sinks;

/// The destination name recorded for messages the platform moved to the
/// dead-letter queue on its own (the consumer kept failing on them).
pub const ALL_DESTINATIONS: &str = "_all";

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
    let metadata = DeadLetterMetadata {
        event_name: delivery.event_name.clone(),
        project_code: delivery.project_code.clone(),
        received_at: delivery.received_at,
        destination: dead.destination.clone(),
        attempts: delivery.attempts,
        last_status: delivery.last_status,
        last_error: delivery.last_error.clone(),
        reason: dead.reason.clone(),
        dead_at: dead.dead_at,
    }
    .fitted();
    let key = layout::dead_key(&delivery.id, &dead.destination);
    sinks::put(env, &key, &body, Some(metadata), retention).await?;
    let state = DeliveryState::new(
        DeliveryStatus::Dead,
        delivery.attempts,
        delivery.last_status,
        delivery.last_error.as_deref(),
        dead.dead_at,
    );
    sinks::put_delivery_state(env, &delivery.id, &dead.destination, &state, retention).await?;
    worker::console_warn!(
        "{}",
        serde_json::json!({"event": "dead_letter", "id": delivery.id, "destination": dead.destination, "reason": dead.reason})
    );
    Ok(())
}
