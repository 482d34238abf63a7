//! What ingestion answers: the outcome of an accepted delivery, the
//! refusal of one, and the body of a `2xx`.

use qase_webhooks::{EnvelopeError, PayloadError, VerifiedDelivery};
use serde::Serialize;

use crate::config::ConfigError;
use crate::text::text_form;

/// Why a delivery is refused: domain verdicts, mapped to HTTP by the shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A setting ingestion depends on is broken.
    Misconfigured(ConfigError),
    /// The body is larger than the configured limit.
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// No secret is configured and authentication is not disabled.
    NoSecretConfigured,
    /// Missing or wrong `X-Qase-Secret` (the two are not told apart).
    Unauthorized,
    /// A `Content-Type` that is not JSON.
    UnsupportedMediaType,
    /// The body could not be read.
    BodyUnreadable,
    /// The body is not JSON.
    InvalidJson(EnvelopeError),
    /// The body is JSON but not a Qase envelope.
    InvalidEnvelope(EnvelopeError),
    /// A known event whose payload does not fit (policy `reject`).
    InvalidPayload(PayloadError),
    /// An unknown event (policy `reject`).
    UnknownEvent {
        /// The event name as sent.
        name: String,
    },
    /// A write failed and a retry may succeed.
    StorageUnavailable,
    /// A store refused a write for a reason no retry fixes.
    StorageRejected,
}

/// What an accepted delivery became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stored (and queued) as its routes say.
    Accepted,
    /// Does not fit or is unknown: stored apart, not forwarded.
    Quarantined,
    /// No route matches: nothing stored.
    Ignored,
    /// The same bytes were accepted within the duplicate window.
    Duplicate,
}

impl Outcome {
    /// The HTTP status it is answered with.
    pub fn http_status(self) -> u16 {
        match self {
            Outcome::Duplicate => 200,
            Outcome::Accepted | Outcome::Quarantined | Outcome::Ignored => 202,
        }
    }
}

/// The body of a `2xx` answer.
#[derive(Serialize)]
struct Answer<'a> {
    id: String,
    event_name: &'a str,
    project_code: &'a str,
    status: Outcome,
    duplicate: bool,
}

/// The JSON body answering `delivery` with `outcome`.
pub fn answer_body(delivery: &VerifiedDelivery<'_>, outcome: Outcome) -> Vec<u8> {
    let envelope = delivery.envelope();
    let answer = Answer {
        id: delivery.id().to_string(),
        event_name: envelope.event_name.as_str(),
        project_code: &envelope.project_code,
        status: outcome,
        duplicate: outcome == Outcome::Duplicate,
    };
    serde_json::to_vec(&answer).expect("answers serialise")
}

// The name used in answers and log lines.
text_form!(Outcome {
    Accepted => "accepted",
    Quarantined => "quarantined",
    Ignored => "ignored",
    Duplicate => "duplicate",
});
