//! The delivery queue's consumer: reads each message's kind once
//! ([`QueueMessage`]) and carries out the machine that handles it,
//! operation by operation ([`super::ops`]): a delivery
//! ([`engine::delivery::machine::Delivery`]), an alert
//! ([`engine::alerts::post::AlertPost`]), a run's report
//! ([`engine::runs::make::MakeReport`]) or a run's details
//! ([`engine::runs::fetch::FetchDetails`]). Every order, and every meaning
//! of an answer, is the machine's; this module only loops.
//!
//! Every message is acked or retried individually and the handler never
//! returns `Err` (workers-rs turns that into a panic of the whole batch).

use futures_util::future::join_all;
use worker::{Date, Env, MessageBatch, MessageExt, RawMessage};

use crate::delivery::ops;
use crate::store::queue;
use engine::alerts::post::AlertPost;
use engine::config::Config;
use engine::delivery::machine::Delivery;
use engine::delivery::queue::QueueMessage;
use engine::runs::fetch::FetchDetails;
use engine::runs::make::MakeReport;

/// Processes one batch of the delivery queue.
pub async fn consume(batch: &MessageBatch<serde_json::Value>, env: &Env, config: &Config) {
    join_all(
        batch
            .raw_iter()
            .map(|message| process(message, env, config)),
    )
    .await;
}

async fn process(message: RawMessage, env: &Env, config: &Config) {
    let decoded = queue::body_text(&message)
        .and_then(|text| QueueMessage::decode(&text).map_err(|error| error.to_string()));
    let disposition = match decoded {
        Ok(QueueMessage::Delivery(delivery)) => {
            let (mut machine, next) = Delivery::start(config, delivery, now());
            ops::drive(env, &mut machine, next).await
        }
        Ok(QueueMessage::Alert(alert)) => {
            let (mut machine, next) = AlertPost::start(config, alert, now());
            ops::drive(env, &mut machine, next).await
        }
        Ok(QueueMessage::RunReport(due)) => {
            let (mut machine, next) = MakeReport::start(config, &message.id(), due);
            ops::drive(env, &mut machine, next).await
        }
        Ok(QueueMessage::RunDetails(due)) => {
            let (mut machine, next) = FetchDetails::start(config, &message.id(), due);
            ops::drive(env, &mut machine, next).await
        }
        Err(error) => {
            // Not ours: let the platform retry it and move it to the dead-letter queue.
            worker::console_error!("queue message {} is not ours: {error}", message.id());
            message.retry();
            return;
        }
    };
    ops::settle(&message, disposition);
}

fn now() -> u64 {
    Date::now().as_millis()
}
