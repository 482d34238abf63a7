//! The messages on the two queues. They carry their own delivery state
//! (which destination, how many attempts, the last failure), because
//! workers-rs does not expose a message's attempt count and because a
//! destination that already succeeded must not be called again when
//! another one fails: instead of `retry()`, the consumer acks a message
//! and sends a new one per destination that still needs an attempt.

use serde::{Deserialize, Serialize};

/// A message on the delivery queue (`QASE_DELIVERIES`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueuedDelivery {
    /// The event id.
    pub id: String,
    /// The event name.
    pub event_name: String,
    /// The project code.
    pub project_code: String,
    /// When the Worker received it, in Unix milliseconds.
    pub received_at: u64,
    /// The exact body received; `None` when it was too large to travel in
    /// the message and must be read from KV `event/{id}`.
    pub body: Option<String>,
    /// `None` for a new event (every matching destination); a name for a
    /// retry to that destination only.
    #[serde(default)]
    pub destination: Option<String>,
    /// Attempts already made to `destination`.
    #[serde(default)]
    pub attempts: u32,
    /// The last attempt's HTTP status, if it got one.
    #[serde(default)]
    pub last_status: Option<u16>,
    /// The last attempt's failure, in words.
    #[serde(default)]
    pub last_error: Option<String>,
}

/// A message on the dead-letter queue (`QASE_DEAD_LETTERS`): a delivery to
/// one destination that failed for good.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The delivery, as last queued.
    pub delivery: QueuedDelivery,
    /// The destination that failed.
    pub destination: String,
    /// Why it is dead: rejected, or attempts exhausted.
    pub reason: String,
    /// When it was given up, in Unix milliseconds.
    pub dead_at: u64,
}

/// What the dead-letter queue receives: our own dead letters, or delivery
/// messages that Cloudflare moved there after the consumer failed on them
/// `max_retries` times.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum DeadLetterMessage {
    /// Sent by the delivery consumer.
    DeadLetter(DeadLetter),
    /// Moved by the platform.
    Undelivered(QueuedDelivery),
}
