//! The states an event row and its KV copy share: whether it was accepted
//! or quarantined ([`EventStatus`]) and where it stands with the delivery
//! queue ([`Forward`]). Apart from [`crate::store::d1`] (the statements) and
//! [`crate::store::layout`] (the KV keys and metadata), which both use them.

use serde::{Deserialize, Serialize};

/// Whether a stored event was accepted or quarantined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventStatus {
    /// Fits its model; stored under `event/` and forwarded.
    Accepted,
    /// Does not fit (or is unknown); stored under `quarantine/`, not forwarded.
    Quarantined,
}

impl EventStatus {
    /// The `outcome` column value.
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Accepted => "accepted",
            EventStatus::Quarantined => "quarantined",
        }
    }
}

/// Where an event stands with the delivery queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Forward {
    /// Not routed to the queue (or quarantined).
    None,
    /// Sent (or to be re-sent by the sweep) until the consumer claims it.
    Pending,
    /// The consumer claimed it: forwarded to its destinations.
    Queued,
}

impl Forward {
    /// The column value.
    pub fn as_str(self) -> &'static str {
        match self {
            Forward::None => "none",
            Forward::Pending => "pending",
            Forward::Queued => "queued",
        }
    }
}
