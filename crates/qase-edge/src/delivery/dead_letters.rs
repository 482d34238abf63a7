//! The dead-letter queue's consumer: reads each message's kind once
//! ([`DeadLetterQueueMessage`]) and carries out the machine that records
//! it ([`engine::delivery::machine::Bury`]), operation by operation
//! ([`super::ops`]). What is recorded, claimed or dropped is the machine's.

use worker::{Date, Env, MessageBatch, MessageExt, RawMessage};

use crate::delivery::ops;
use crate::store::queue;
use engine::config::Config;
use engine::delivery::machine::Bury;
use engine::delivery::queue::DeadLetterQueueMessage;

/// Processes one batch of the dead-letter queue, one message at a time.
pub async fn consume(batch: &MessageBatch<serde_json::Value>, env: &Env, _config: &Config) {
    for message in batch.raw_iter() {
        process(message, env).await;
    }
}

async fn process(message: RawMessage, env: &Env) {
    let decoded = queue::body_text(&message)
        .and_then(|text| DeadLetterQueueMessage::decode(&text).map_err(|e| e.to_string()));
    let (mut machine, next) = Bury::start(decoded, &message.id(), Date::now().as_millis());
    let disposition = ops::drive(env, &mut machine, next).await;
    ops::settle(&message, disposition);
}
