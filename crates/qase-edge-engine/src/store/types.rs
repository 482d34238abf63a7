//! The states an event row and its KV copy share: whether it was accepted
//! or quarantined ([`EventStatus`]) and where it stands with the delivery
//! queue ([`Forward`]). Apart from [`crate::store::d1`] (the statements) and
//! [`crate::store::layout`] (the KV keys and metadata), which both use them.

use crate::text::text_form;

/// Whether a stored event was accepted or quarantined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStatus {
    /// Fits its model; stored under `event/` and forwarded.
    Accepted,
    /// Does not fit (or is unknown); stored under `quarantine/`, not forwarded.
    Quarantined,
}

// The `outcome` column value.
text_form!(EventStatus {
    Accepted => "accepted",
    Quarantined => "quarantined",
});

/// Where an event stands with the delivery queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forward {
    /// Not routed to the queue (or quarantined).
    None,
    /// Sent (or to be re-sent by the sweep) until the consumer claims it.
    Pending,
    /// The consumer claimed it: forwarded to its destinations.
    Queued,
}

// The `forward` column value.
text_form!(Forward {
    None => "none",
    Pending => "pending",
    Queued => "queued",
});
