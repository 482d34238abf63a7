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
    /// Whether D1 holds the event's row. `false` when the D1 write failed at
    /// ingest: the consumer then records it (see [`crate::store::d1`]).
    #[serde(default = "recorded_by_default")]
    pub recorded: bool,
    /// For a paced destination: the send slot this message already holds,
    /// in Unix milliseconds (see [`crate::delivery::pace`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<u64>,
    /// A held event that its destination's breaker released (a probe or
    /// the drain after a pause): the key it is held under, which the
    /// consumer reports the outcome with (see [`crate::delivery::breaker`]).
    /// Attempted without asking the breaker, and never retried or
    /// dead-lettered for a failure: it stays held.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released: Option<String>,
}

/// Bodies up to this size travel inside the queue message; larger ones are
/// read from KV by the consumer. Queue messages are limited to 128 KB, and
/// the message's JSON framing and escaping need room.
pub const INLINE_BODY_LIMIT: usize = 64 * 1024;

impl QueuedDelivery {
    /// A new event for every matching destination. The body travels inline
    /// when it is small, or when it is not in KV (`body_in_kv` false): a
    /// message too large for the queue then fails to send, rather than
    /// pointing at a body nobody stored.
    pub fn new(
        id: String,
        event_name: String,
        project_code: String,
        received_at: u64,
        body: &[u8],
        body_in_kv: bool,
    ) -> QueuedDelivery {
        QueuedDelivery {
            id,
            event_name,
            project_code,
            received_at,
            // Every body got here through the envelope check, so it is UTF-8.
            body: (body.len() <= INLINE_BODY_LIMIT || !body_in_kv)
                .then(|| String::from_utf8_lossy(body).into_owned()),
            destination: None,
            attempts: 0,
            last_status: None,
            last_error: None,
            recorded: true,
            not_before: None,
            released: None,
        }
    }
}

fn recorded_by_default() -> bool {
    true
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

/// A message on the delivery queue with an alert for one alert destination
/// (issue #19), sent by whoever saw the change: the consumer (a breaker
/// paused or resumed), the operator API, the cron watchdog.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueuedAlert {
    /// The alert destination's name.
    pub alert_to: String,
    /// The alert.
    pub alert: qase_webhooks::chat::Alert,
    /// When it was raised, Unix ms.
    pub at: u64,
    /// Attempts already made.
    #[serde(default)]
    pub attempts: u32,
    /// The pace slot it keeps, Unix ms (requeued until then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<u64>,
}

/// Attempts an alert gets before it is dropped (logged): an alert is a
/// notice, not an event, and is not dead-lettered.
pub const ALERT_ATTEMPTS: u32 = 5;

/// An alert message for the tests: "WEB is back", to `ops`, after
/// `attempts` attempts.
#[cfg(test)]
pub(crate) fn sample_alert(attempts: u32) -> QueuedAlert {
    QueuedAlert {
        alert_to: "ops".into(),
        alert: qase_webhooks::chat::Alert::ProjectBack {
            project: "WEB".into(),
        },
        at: 1,
        attempts,
        not_before: None,
    }
}
