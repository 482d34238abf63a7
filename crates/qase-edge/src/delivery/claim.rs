//! The claim of a new event's message, run to its end against D1 (see
//! [`engine::delivery::records`]). Shared by the delivery consumer and the
//! dead-letter consumer, which takes the claim of a moved message first.

use worker::Env;

use crate::store::db;
use engine::config::bindings;
use engine::delivery::messages::QueuedDelivery;
use engine::delivery::records::{self, Claim};

/// Runs the claim of a new event's message to its end (see
/// [`engine::delivery::records`]): `Forward`, `Skip` or `ForwardUnclaimed`.
pub async fn run_claim(env: &Env, delivery: &QueuedDelivery, body: &[u8]) -> Claim {
    let database = match db::database(env) {
        Ok(database) => Some(database),
        Err(error) => {
            worker::console_error!("D1 unavailable for the claim of {}: {error}", delivery.id);
            None
        }
    };
    let mut claim = records::claim(delivery, body);
    while let Claim::Run { stage, statement } = claim {
        let result = match &database {
            Some(database) => {
                db::changes(database, &statement, Some(body))
                    .await
                    .map_err(|error| {
                        worker::console_error!("the claim of {} failed: {error}", delivery.id);
                    })
            }
            None => Err(()),
        };
        claim = records::after(stage, &delivery.id, result);
    }
    if claim == Claim::ForwardUnclaimed && !delivery.recorded {
        return records::unclaimed(delivery, has_rescue_copy(env, &delivery.id).await);
    }
    claim
}

/// Whether KV holds the event's rescue copy (`false` when KV cannot say).
async fn has_rescue_copy(env: &Env, id: &str) -> bool {
    let key = engine::store::layout::rescue_key(id);
    match env.kv(bindings::EVENTS_KV) {
        Ok(kv) => matches!(kv.get(&key).bytes().await, Ok(Some(_))),
        Err(_) => false,
    }
}
