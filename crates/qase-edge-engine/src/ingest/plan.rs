//! Step 3: the plan for an admitted delivery: its outcome, the D1 row, the
//! KV copy, the queue message, and the writes that cover each of them when
//! it fails.

use qase_webhooks::{Event, Subjects, VerifiedDelivery};
use serde::Serialize;

use super::answer::{Outcome, Refusal};
use crate::config::Config;
use crate::delivery::messages::{QueuedDelivery, INLINE_BODY_LIMIT};
use crate::ingest::settings::PayloadPolicy;
use crate::store::d1::{NewEvent, D1_BODY_LIMIT};
use crate::store::layout::{self, EventMetadata, RescueMetadata};
use crate::store::settings::Sink;
use crate::store::types::{EventStatus, Forward};

/// Why a payload does not fit, as stored with the event and as logged (the
/// log has the field and the kind only, never a value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantine {
    /// The stored reason (may quote the payload; cut to fit by the layout).
    pub reason: String,
    /// The field path at fault.
    pub field: String,
    /// The kind of mismatch, without values.
    pub kind: String,
}

/// A KV write: key, value (the exact body or nothing), metadata and TTL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvWrite {
    /// The key.
    pub key: String,
    /// Whether the value is the delivery's body (else empty).
    pub body: bool,
    /// The metadata, if any (JSON).
    pub metadata: Option<KvMetadata>,
    /// Expiration TTL in seconds, if any.
    pub ttl: Option<u64>,
}

/// The metadata records a KV write may carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum KvMetadata {
    /// A stored event (the kv sink).
    Event(EventMetadata),
    /// An event waiting for the sweep (`rescue/{id}`).
    Rescue(RescueMetadata),
}

/// What to write for a delivery, and what to answer once it is held.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The answer once a store holds the delivery.
    pub outcome: Outcome,
    /// The D1 row (the d1 sink): the first write, whose result also says
    /// whether the bytes were seen before.
    pub record: Option<NewEvent>,
    /// The body in KV: the kv sink's one key per event, or a body too large
    /// for a D1 row (`record.body_in_kv`), which is then written first.
    pub kv: Option<KvWrite>,
    /// The queue message. Its `recorded` flag is set when the row is written.
    pub queue: Option<QueuedDelivery>,
    /// Where the bytes wait for the sweep when D1 (or, without D1, the
    /// queue) fails: written only then, and only when KV is bound.
    pub rescue: Option<KvWrite>,
    /// Without D1: the duplicate marker, looked up first and written after
    /// the answer (its failure only weakens duplicate detection).
    pub seen: Option<KvWrite>,
    /// Set when the payload was quarantined.
    pub quarantine: Option<Quarantine>,
}

impl Plan {
    fn answer_only(outcome: Outcome) -> Plan {
        Plan {
            outcome,
            record: None,
            kv: None,
            queue: None,
            rescue: None,
            seen: None,
            quarantine: None,
        }
    }
}

/// Step 3: the outcome and the writes. Whether the bytes were seen before
/// is learnt while carrying the plan out ([`Ingest`](super::Ingest)).
pub fn plan(
    config: &Config,
    delivery: &VerifiedDelivery<'_>,
    received_at: u64,
) -> Result<Plan, Refusal> {
    let quarantine = check_payload(config, delivery)?;
    let Some(to) = Sinks::routed(config, delivery, quarantine.is_some()) else {
        return Ok(Plan::answer_only(Outcome::Ignored));
    };
    let id = delivery.id().to_string();
    let envelope = delivery.envelope();
    let reason = quarantine.as_ref().map(|q| q.reason.as_str());
    let metadata = EventMetadata::new(
        envelope.event_name.as_str(),
        &envelope.project_code,
        received_at,
        reason,
    );
    let body_in_kv = to.body_in_kv(config, delivery.body().len());
    let forward = match to.queue {
        true => Forward::Pending,
        false => Forward::None,
    };
    Ok(Plan {
        outcome: match quarantine {
            Some(_) => Outcome::Quarantined,
            None => Outcome::Accepted,
        },
        record: to
            .d1
            .then(|| record(delivery, &metadata, forward, body_in_kv)),
        kv: (to.kv || body_in_kv).then(|| kv_copy(config, &id, &metadata)),
        // The consumer reads a body that is not inline from D1 or KV.
        queue: to
            .queue
            .then(|| queue_message(delivery, received_at, to.d1 || body_in_kv)),
        rescue: config
            .store
            .kv_bound
            .then(|| rescue_copy(&id, received_at, forward, reason)),
        seen: match to.d1 {
            true => None,
            false => seen_marker(config, &id),
        },
        quarantine,
    })
}

/// The sinks a delivery is written to.
#[derive(Debug, Clone, Copy)]
struct Sinks {
    d1: bool,
    kv: bool,
    queue: bool,
}

impl Sinks {
    /// What the routes say for `delivery`, `None` when no route matches.
    /// A quarantined delivery is stored where it can be, never forwarded.
    fn routed(
        config: &Config,
        delivery: &VerifiedDelivery<'_>,
        quarantined: bool,
    ) -> Option<Sinks> {
        let envelope = delivery.envelope();
        let targets = match quarantined {
            true => None,
            false => {
                let targets = config
                    .ingest
                    .routes
                    .targets(envelope.event_name.as_str(), &envelope.project_code);
                if targets.is_empty() {
                    return None;
                }
                Some(targets)
            }
        };
        let routed = |sink: Sink| match &targets {
            None => config.store.has_sink(sink) && sink != Sink::Queue,
            Some(targets) => targets.contains(sink.as_str()),
        };
        Some(Sinks {
            d1: routed(Sink::D1),
            kv: routed(Sink::Kv),
            queue: routed(Sink::Queue),
        })
    }

    /// Whether the body is read back from KV: it is too large for a row, or
    /// for a queue message when D1 does not hold it.
    fn body_in_kv(self, config: &Config, body_len: usize) -> bool {
        config.store.kv_bound
            && ((self.d1 && body_len > D1_BODY_LIMIT)
                || (self.queue && !self.d1 && body_len > INLINE_BODY_LIMIT))
    }
}

/// The D1 row (the d1 sink).
fn record(
    delivery: &VerifiedDelivery<'_>,
    metadata: &EventMetadata,
    forward: Forward,
    body_in_kv: bool,
) -> NewEvent {
    let envelope = delivery.envelope();
    NewEvent {
        id: delivery.id().to_string(),
        event_name: envelope.event_name.to_string(),
        project_code: envelope.project_code.clone(),
        team_member_id: envelope.team_member_id,
        received_at: metadata.received_at,
        outcome: metadata.status,
        reason: metadata.reason.clone(),
        subjects: Subjects::of(envelope.event_name.as_str(), envelope.payload),
        forward,
        size: delivery.body().len(),
        body_in_kv,
    }
}

/// The body in KV, under the key its status says.
fn kv_copy(config: &Config, id: &str, metadata: &EventMetadata) -> KvWrite {
    KvWrite {
        key: match metadata.status {
            EventStatus::Quarantined => layout::quarantine_key(id),
            EventStatus::Accepted => layout::event_key(id),
        },
        body: true,
        metadata: Some(KvMetadata::Event(metadata.clone())),
        ttl: config.store.retention_seconds,
    }
}

/// The queue message; `stored` says the body can be read back from D1 or
/// KV when it is not inline.
fn queue_message(
    delivery: &VerifiedDelivery<'_>,
    received_at: u64,
    stored: bool,
) -> QueuedDelivery {
    let envelope = delivery.envelope();
    QueuedDelivery::new(
        delivery.id().to_string(),
        envelope.event_name.to_string(),
        envelope.project_code.clone(),
        received_at,
        delivery.body(),
        stored,
    )
}

/// Where the bytes wait for the sweep (`rescue/{id}`).
fn rescue_copy(id: &str, received_at: u64, forward: Forward, reason: Option<&str>) -> KvWrite {
    KvWrite {
        key: layout::rescue_key(id),
        body: true,
        metadata: Some(KvMetadata::Rescue(RescueMetadata::new(
            received_at,
            forward,
            reason,
        ))),
        ttl: None,
    }
}

/// The duplicate marker, when duplicates are detected.
fn seen_marker(config: &Config, id: &str) -> Option<KvWrite> {
    config.ingest.dedupe_seconds.map(|window| KvWrite {
        key: layout::seen_key(id),
        body: false,
        metadata: None,
        ttl: Some(window),
    })
}

/// `None` when the payload fits; the quarantine record when it does not and
/// the policy quarantines; the refusal when the policy rejects.
fn check_payload(
    config: &Config,
    delivery: &VerifiedDelivery<'_>,
) -> Result<Option<Quarantine>, Refusal> {
    let (refusal, field, kind) = match delivery.envelope().event() {
        Ok(Event::Unknown { name, .. }) => (
            Refusal::UnknownEvent { name },
            "event_name".to_owned(),
            "unknown event".to_owned(),
        ),
        Ok(_) => return Ok(None),
        Err(error) => {
            let (field, kind) = (error.field.clone(), error.kind().to_owned());
            (Refusal::InvalidPayload(error), field, kind)
        }
    };
    match config.ingest.payload_policy {
        PayloadPolicy::Reject => Err(refusal),
        PayloadPolicy::Quarantine => Ok(Some(Quarantine {
            reason: refusal_reason(&refusal),
            field,
            kind,
        })),
    }
}

/// The stored reason of a quarantined payload.
fn refusal_reason(refusal: &Refusal) -> String {
    match refusal {
        Refusal::InvalidPayload(error) => error.to_string(),
        Refusal::UnknownEvent { name } => {
            format!("unknown event `{name}`: this receiver cannot validate it")
        }
        _ => String::new(),
    }
}
