//! A queued delivery's body, wherever it is kept: the message, the event's
//! row in D1, or KV. Shared by the delivery consumer and the dead-letter
//! consumer.

use worker::Env;

use crate::store::db;
use crate::store::sinks;
use engine::config::bindings;
use engine::delivery::messages::QueuedDelivery;
use engine::delivery::records::{self, BodyAt, BodyRow};

/// A queued delivery's body: inline in the message, else from the event's
/// row in D1, else (the row says so, there is none, or D1 is down) KV:
/// `event/{id}`, `quarantine/{id}`, then the rescue copy `rescue/{id}`.
pub async fn body_of(env: &Env, delivery: &QueuedDelivery) -> worker::Result<Option<Vec<u8>>> {
    if let Some(body) = &delivery.body {
        return Ok(Some(body.as_bytes().to_vec()));
    }
    let rows = match db::database(env) {
        Ok(database) => db::rows::<BodyRow>(&database, &records::body_of(&delivery.id))
            .await
            .map_err(|error| {
                worker::console_warn!("the row of {} could not be read: {error}", delivery.id);
            }),
        Err(_) => Err(()),
    };
    match records::body_at(rows) {
        BodyAt::Row(body) => Ok(Some(body.into_bytes())),
        BodyAt::Kv => {
            if let Some(body) = sinks::get_event(env, &delivery.id).await? {
                return Ok(Some(body));
            }
            // D1 failed at ingest and the body was too large for the
            // message: the rescue copy holds it until the sweep moves it
            // into D1. Reading it here forwards the event without waiting.
            let rescue = engine::store::layout::rescue_key(&delivery.id);
            Ok(env.kv(bindings::EVENTS_KV)?.get(&rescue).bytes().await?)
        }
    }
}
