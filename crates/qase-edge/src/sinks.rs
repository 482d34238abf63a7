//! Durable writes of accepted deliveries: KV (see [`crate::layout`] for the
//! keys), the delivery queue, and the duplicate markers. Every function
//! returns the binding's error; the ingest route turns any of them into `503`.

use futures_util::future::try_join3;
use qase_webhooks::{EventId, VerifiedDelivery};
use serde::Serialize;
use worker::Env;

use crate::bindings;
use crate::layout::{self, DeliveryState, EventMetadata};
use crate::messages::QueuedDelivery;

/// Writes `value` under `key`, with metadata and the retention TTL.
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

/// Stores the delivery's bytes (`event/{id}`, or `quarantine/{id}` with a
/// reason) and its two index entries, all at once.
pub async fn store(
    env: &Env,
    delivery: &VerifiedDelivery<'_>,
    received_at: u64,
    reason: Option<&str>,
    ttl: Option<u64>,
) -> worker::Result<()> {
    let envelope = delivery.envelope();
    let id = delivery.id().to_string();
    let metadata = EventMetadata::new(
        envelope.event_name.as_str(),
        &envelope.project_code,
        received_at,
        reason,
    );
    let body_key = match reason {
        Some(_) => layout::quarantine_key(&id),
        None => layout::event_key(&id),
    };
    let index = layout::index_key(received_at, &id);
    let project_index = layout::project_index_key(&envelope.project_code, received_at, &id);
    try_join3(
        put(env, &body_key, delivery.body(), Some(&metadata), ttl),
        put(env, &index, b"", Some(&metadata), ttl),
        put(env, &project_index, b"", Some(&metadata), ttl),
    )
    .await?;
    Ok(())
}

/// Queues the delivery for the consumer (see [`QueuedDelivery::new`] for
/// where its body travels); a failed send means nothing is acknowledged.
pub async fn send_to_queue(
    env: &Env,
    delivery: &VerifiedDelivery<'_>,
    received_at: u64,
    body_in_kv: bool,
) -> worker::Result<()> {
    let envelope = delivery.envelope();
    let message = QueuedDelivery::new(
        delivery.id().to_string(),
        envelope.event_name.to_string(),
        envelope.project_code.clone(),
        received_at,
        delivery.body(),
        body_in_kv,
    );
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

/// Records the state of an event's delivery to one destination.
pub async fn put_delivery_state(
    env: &Env,
    id: &str,
    destination: &str,
    state: &DeliveryState,
    ttl: Option<u64>,
) -> worker::Result<()> {
    put(
        env,
        &layout::delivery_key(id, destination),
        b"",
        Some(state),
        ttl,
    )
    .await
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

/// Records that a delivery was accepted, for `window_seconds`.
pub async fn mark_seen(env: &Env, id: EventId, window_seconds: u64) -> worker::Result<()> {
    let key = layout::seen_key(&id.to_string());
    put(env, &key, b"", None::<()>, Some(window_seconds)).await
}
