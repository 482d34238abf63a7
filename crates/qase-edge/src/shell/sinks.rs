//! Writes and reads of the stores, as the engine planned them: KV (see
//! [`crate::engine::layout`] for the keys) and the delivery queue. Every
//! function returns the binding's error; what it means for the answer is
//! the engine's call ([`crate::engine::ingest::settle`]).

use futures_util::future::try_join_all;
use qase_webhooks::EventId;
use serde::Serialize;
use worker::Env;

use crate::engine::bindings;
use crate::engine::ingest::KvWrite;
use crate::engine::layout;
use crate::engine::messages::QueuedDelivery;

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
    env.queue(bindings::DELIVERIES_QUEUE)?.send(message).await
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

/// Whether a delivery with this id was accepted within the duplicate window.
pub async fn was_seen(env: &Env, id: EventId) -> worker::Result<bool> {
    let key = layout::seen_key(&id.to_string());
    Ok(env
        .kv(bindings::EVENTS_KV)?
        .get(&key)
        .bytes()
        .await?
        .is_some())
}
