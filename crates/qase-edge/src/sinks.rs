//! Durable writes of accepted deliveries: KV, the delivery queue, the
//! quarantine, and the duplicate markers. Every function returns the
//! binding's error; the caller turns any of them into `503`.
//!
//! KV layout (all keys under the `QASE_EVENTS` namespace):
//! - `event/{id}`: the exact bytes received; metadata [`StoredMetadata`].
//! - `quarantine/{id}`: the same, for deliveries whose payload did not fit;
//!   metadata adds the reason.
//! - `seen/{id}`: an empty duplicate marker, expiring after the window.
//! - `dead/{id}/{destination}`: a delivery that failed for good (written by
//!   the dead-letter consumer, see `dead_letters`).

use qase_webhooks::{EventId, VerifiedDelivery};
use serde::Serialize;
use worker::Env;

use crate::bindings;
use crate::messages::QueuedDelivery;

/// Prefix of accepted deliveries' keys.
pub const EVENT_PREFIX: &str = "event/";
/// Prefix of quarantined deliveries' keys.
pub const QUARANTINE_PREFIX: &str = "quarantine/";
/// Prefix of duplicate markers' keys.
pub const SEEN_PREFIX: &str = "seen/";

/// Bodies up to this size travel inside the queue message; larger ones are
/// read from KV by the consumer. Queue messages are limited to 128 KB, and
/// the message's JSON framing and escaping need room.
pub const INLINE_BODY_LIMIT: usize = 64 * 1024;

/// Metadata stored with each delivery, so listings need no value reads
/// (well under KV's 1024-byte metadata limit: names are length-capped).
#[derive(Debug, Serialize)]
pub struct StoredMetadata<'a> {
    /// The event name.
    pub event_name: &'a str,
    /// The project code.
    pub project_code: &'a str,
    /// When the Worker received it, in Unix milliseconds.
    pub received_at: u64,
    /// Why it was quarantined (quarantine only; truncated to fit).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
}

fn metadata<'a>(
    delivery: &'a VerifiedDelivery<'_>,
    received_at: u64,
    reason: Option<&'a str>,
) -> StoredMetadata<'a> {
    let envelope = delivery.envelope();
    StoredMetadata {
        event_name: envelope.event_name.as_str(),
        project_code: &envelope.project_code,
        received_at,
        reason,
    }
}

/// Writes the delivery's bytes to `event/{id}`.
pub async fn put_event(
    env: &Env,
    delivery: &VerifiedDelivery<'_>,
    received_at: u64,
) -> worker::Result<()> {
    let key = format!("{EVENT_PREFIX}{}", delivery.id());
    env.kv(bindings::EVENTS_KV)?
        .put_bytes(&key, delivery.body())?
        .metadata(metadata(delivery, received_at, None))?
        .execute()
        .await?;
    Ok(())
}

/// Writes the delivery's bytes to `quarantine/{id}` with the reason.
pub async fn put_quarantine(
    env: &Env,
    delivery: &VerifiedDelivery<'_>,
    received_at: u64,
    reason: &str,
) -> worker::Result<()> {
    // KV metadata is capped at 1024 bytes; the full reason is in the log.
    let reason = crate::text::truncate(reason, 600);
    let key = format!("{QUARANTINE_PREFIX}{}", delivery.id());
    env.kv(bindings::EVENTS_KV)?
        .put_bytes(&key, delivery.body())?
        .metadata(metadata(delivery, received_at, Some(reason)))?
        .execute()
        .await?;
    Ok(())
}

/// Queues the delivery for the consumer. The body travels inline when it is
/// small or when it is not in KV (`body_in_kv` false); a message too large
/// for the queue then fails to send, and the delivery is not acknowledged.
pub async fn send_to_queue(
    env: &Env,
    delivery: &VerifiedDelivery<'_>,
    received_at: u64,
    body_in_kv: bool,
) -> worker::Result<()> {
    let envelope = delivery.envelope();
    let body = delivery.body();
    let message = QueuedDelivery {
        id: delivery.id().to_string(),
        event_name: envelope.event_name.to_string(),
        project_code: envelope.project_code.clone(),
        received_at,
        // The envelope check proved the body is UTF-8.
        body: (body.len() <= INLINE_BODY_LIMIT || !body_in_kv)
            .then(|| String::from_utf8_lossy(body).into_owned()),
        destination: None,
        attempts: 0,
        last_status: None,
        last_error: None,
    };
    env.queue(bindings::DELIVERIES_QUEUE)?.send(message).await
}

/// The bytes stored under `event/{id}`, if any.
pub async fn get_event(env: &Env, id: &str) -> worker::Result<Option<Vec<u8>>> {
    let key = format!("{EVENT_PREFIX}{id}");
    Ok(env.kv(bindings::EVENTS_KV)?.get(&key).bytes().await?)
}

/// Whether a delivery with this id was accepted within the duplicate window.
pub async fn was_seen(env: &Env, id: EventId) -> worker::Result<bool> {
    let key = format!("{SEEN_PREFIX}{id}");
    Ok(env
        .kv(bindings::EVENTS_KV)?
        .get(&key)
        .bytes()
        .await?
        .is_some())
}

/// Records that a delivery was accepted, for `window_seconds`.
pub async fn mark_seen(env: &Env, id: EventId, window_seconds: u64) -> worker::Result<()> {
    let key = format!("{SEEN_PREFIX}{id}");
    env.kv(bindings::EVENTS_KV)?
        .put_bytes(&key, b"")?
        .expiration_ttl(window_seconds)
        .execute()
        .await?;
    Ok(())
}
