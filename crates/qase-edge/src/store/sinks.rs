//! Writes and reads of the stores, as the engine planned them: D1 (see
//! [`engine::store::d1`]), KV (see [`engine::store::layout`] for the
//! keys) and the delivery queue. Every function returns the binding's
//! error; what it means for the answer is the engine's call
//! ([`engine::ingest::Ingest`]).

use futures_util::future::try_join_all;
use serde::Serialize;
use worker::Env;

use crate::store::{db, queue};
use engine::config::bindings;
use engine::delivery::messages::QueuedDelivery;
use engine::delivery::queue::TaggedDelivery;
use engine::ingest::{KvWrite, Op, OpResult};
use engine::store::layout;

/// Runs one of the ingest path's operations; `body` is the delivery's.
pub async fn run(env: &Env, op: &Op, body: &[u8]) -> OpResult {
    let result = match op {
        Op::Record(statement) => record(env, statement, body).await,
        Op::Lookup(key) => lookup(env, key).await.map(u64::from),
        Op::Put(write) => put_all(env, std::slice::from_ref(write), body)
            .await
            .map(|()| 0),
        Op::Send(message) => send_to_queue(env, message).await.map(|()| 0),
    };
    match result {
        Ok(value) => OpResult::Done(value),
        Err(error) => OpResult::Failed(error.to_string()),
    }
}

/// Runs the ingest upsert; the row's `duplicates`.
async fn record(
    env: &Env,
    statement: &engine::store::d1::Statement,
    body: &[u8],
) -> worker::Result<u64> {
    #[derive(serde::Deserialize)]
    struct Recorded {
        duplicates: u64,
    }
    let db = db::database(env)?;
    let row: Option<Recorded> = db::prepare(&db, statement, Some(body))?.first(None).await?;
    Ok(row.map_or(0, |row| row.duplicates))
}

/// Whether a KV key exists.
async fn lookup(env: &Env, key: &str) -> worker::Result<bool> {
    Ok(env
        .kv(bindings::EVENTS_KV)?
        .get(key)
        .bytes()
        .await?
        .is_some())
}

/// Writes `value` under `key`, with metadata and a TTL.
pub async fn put(
    env: &Env,
    key: &str,
    value: &[u8],
    metadata: Option<impl Serialize>,
    ttl: Option<u64>,
) -> worker::Result<()> {
    let mut put = env.kv(bindings::EVENTS_KV)?.put_bytes(key, value)?;
    if let Some(metadata) = metadata {
        put = put.metadata(metadata)?;
    }
    if let Some(ttl) = ttl {
        put = put.expiration_ttl(ttl);
    }
    put.execute().await?;
    Ok(())
}

/// Makes every write at once; `body` is the value of those that store it.
pub async fn put_all(env: &Env, writes: &[KvWrite], body: &[u8]) -> worker::Result<()> {
    try_join_all(writes.iter().map(|write| {
        let value = if write.body { body } else { b"" };
        put(env, &write.key, value, write.metadata.as_ref(), write.ttl)
    }))
    .await?;
    Ok(())
}

/// Sends a message to the delivery queue, delayed if asked.
pub async fn send_to_queue(env: &Env, message: &QueuedDelivery) -> worker::Result<()> {
    let message = TaggedDelivery::Delivery(message);
    queue::send(env, bindings::DELIVERIES_QUEUE, &message, 0).await
}

/// The bytes stored for event `id` (accepted or quarantined), if any.
pub async fn get_event(env: &Env, id: &str) -> worker::Result<Option<Vec<u8>>> {
    let kv = env.kv(bindings::EVENTS_KV)?;
    if let Some(body) = kv.get(&layout::event_key(id)).bytes().await? {
        return Ok(Some(body));
    }
    Ok(kv.get(&layout::quarantine_key(id)).bytes().await?)
}

/// A queued delivery's body: inline in the message, or read back from KV
/// when it was too large to travel there.
pub async fn body_of(env: &Env, delivery: &QueuedDelivery) -> worker::Result<Option<Vec<u8>>> {
    match &delivery.body {
        Some(body) => Ok(Some(body.as_bytes().to_vec())),
        None => get_event(env, &delivery.id).await,
    }
}
