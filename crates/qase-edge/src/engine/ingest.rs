//! The ingest decision for `POST /webhooks/qase`, in the order the checks
//! run: cheapest and least revealing first.
//!
//! 1. [`check_headers`]: configuration, declared size, secret, content
//!    type, before a byte of the body is read.
//! 2. [`check_body_size`] while the shell reads the body, then [`admit`]:
//!    JSON, envelope, per-project secrets, the event id.
//! 3. [`plan`], once the shell knows whether the id was seen within the
//!    duplicate window: the outcome and the exact writes that must all
//!    succeed before it is answered.
//! 4. [`settle`]: the answer once the writes are done: the outcome, or a
//!    refusal that says whether a retry can help.
//!
//! Every function is pure; [`crate::shell::ingest`] carries them out.

use qase_webhooks::{AdmitError, Credential, EnvelopeError, Event, PayloadError, VerifiedDelivery};
use serde::Serialize;

use super::config::{Config, ConfigError, PayloadPolicy, Sink};
use super::layout::{self, EventMetadata};
use super::messages::{QueuedDelivery, INLINE_BODY_LIMIT};
use super::store_failure::StoreFailure;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
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

impl Outcome {
    /// The name used in answers and log lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Quarantined => "quarantined",
            Outcome::Ignored => "ignored",
            Outcome::Duplicate => "duplicate",
        }
    }
}

/// The header facts the first checks need, as the request carried them.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestFacts<'a> {
    /// `Content-Length`, if sent.
    pub content_length: Option<&'a str>,
    /// `X-Qase-Secret`, if sent.
    pub secret: Option<&'a str>,
    /// `Content-Type`, if sent.
    pub content_type: Option<&'a str>,
}

/// What the header checks let through.
#[derive(Debug)]
pub struct Admission<'c> {
    /// The secret check's result, to admit the body with.
    pub credential: Credential<'c>,
    /// The declared body length, when it was sent and is a number.
    pub declared_length: Option<u64>,
}

/// Step 1: the checks that need no body.
pub fn check_headers<'c>(
    config: &'c Result<Config, ConfigError>,
    facts: RequestFacts<'_>,
) -> Result<Admission<'c>, Refusal> {
    let config = config
        .as_ref()
        .map_err(|e| Refusal::Misconfigured(e.clone()))?;
    let declared_length = facts.content_length.and_then(|v| v.trim().parse().ok());
    if declared_length.is_some_and(|length| length > config.max_body_bytes as u64) {
        return Err(Refusal::TooLarge {
            limit: config.max_body_bytes,
        });
    }
    if config.secrets.is_empty() {
        return Err(Refusal::NoSecretConfigured);
    }
    let credential = config
        .secrets
        .authenticate(facts.secret.map(str::as_bytes))
        .map_err(|_| Refusal::Unauthorized)?;
    if !is_json_content_type(facts.content_type) {
        return Err(Refusal::UnsupportedMediaType);
    }
    Ok(Admission {
        credential,
        declared_length,
    })
}

/// Qase does not document its `Content-Type`, so a missing one is accepted;
/// a present one must be a JSON media type.
fn is_json_content_type(value: Option<&str>) -> bool {
    let Some(value) = value else { return true };
    let media_type = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media_type == "application/json" || media_type.ends_with("+json")
}

/// While reading: refuses a body as soon as it passes the limit.
pub fn check_body_size(config: &Config, bytes_so_far: usize) -> Result<(), Refusal> {
    if bytes_so_far > config.max_body_bytes {
        return Err(Refusal::TooLarge {
            limit: config.max_body_bytes,
        });
    }
    Ok(())
}

/// Step 2: the body, through the core's envelope and per-project secrets.
pub fn admit<'b>(
    admission: &Admission<'_>,
    body: &'b [u8],
) -> Result<VerifiedDelivery<'b>, Refusal> {
    admission
        .credential
        .admit(body)
        .map_err(|error| match error {
            AdmitError::Envelope(error) if error.is_syntax() => Refusal::InvalidJson(error),
            AdmitError::Envelope(error) => Refusal::InvalidEnvelope(error),
            AdmitError::Unauthorized(_) => Refusal::Unauthorized,
        })
}

/// Whether [`plan`] needs to know if the id was seen (the shell reads the
/// duplicate marker only then).
pub fn checks_duplicates(config: &Config) -> bool {
    config.dedupe_seconds.is_some()
}

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
    /// The metadata, if any.
    pub metadata: Option<EventMetadata>,
    /// Expiration TTL in seconds, if any.
    pub ttl: Option<u64>,
}

/// What to write for a delivery, and what to answer once all of it is written.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The answer when every write succeeds.
    pub outcome: Outcome,
    /// KV writes that must succeed.
    pub kv: Vec<KvWrite>,
    /// The queue message that must be sent.
    pub queue: Option<QueuedDelivery>,
    /// The duplicate marker, written after the rest; its failure only
    /// weakens duplicate detection, so it is not part of the answer.
    pub mark_seen: Option<KvWrite>,
    /// Set when the payload was quarantined.
    pub quarantine: Option<Quarantine>,
}

impl Plan {
    fn answer_only(outcome: Outcome) -> Plan {
        Plan {
            outcome,
            kv: Vec::new(),
            queue: None,
            mark_seen: None,
            quarantine: None,
        }
    }
}

/// Step 3: the outcome and the writes, given whether the id was already seen.
pub fn plan(
    config: &Config,
    delivery: &VerifiedDelivery<'_>,
    already_seen: bool,
    received_at: u64,
) -> Result<Plan, Refusal> {
    if already_seen && checks_duplicates(config) {
        return Ok(Plan::answer_only(Outcome::Duplicate));
    }
    let id = delivery.id().to_string();
    let envelope = delivery.envelope();
    let mark_seen = seen_marker(config, &id);
    let metadata = |reason: Option<&str>| {
        EventMetadata::new(
            envelope.event_name.as_str(),
            &envelope.project_code,
            received_at,
            reason,
        )
    };

    if let Some(quarantine) = check_payload(config, delivery)? {
        return Ok(Plan {
            outcome: Outcome::Quarantined,
            kv: event_writes(config, &id, metadata(Some(&quarantine.reason))),
            queue: None,
            mark_seen,
            quarantine: Some(quarantine),
        });
    }

    let targets = config
        .routes
        .targets(envelope.event_name.as_str(), &envelope.project_code);
    if targets.is_empty() {
        return Ok(Plan::answer_only(Outcome::Ignored));
    }
    let to_queue = targets.contains(Sink::Queue.name());
    // A body too large for a queue message is read from KV by the consumer,
    // so it is stored there even when the routes do not ask for KV.
    let too_large_for_queue = delivery.body().len() > INLINE_BODY_LIMIT;
    let to_kv = targets.contains(Sink::Kv.name())
        || (to_queue && too_large_for_queue && config.has_sink(Sink::Kv));
    let queue = to_queue.then(|| {
        QueuedDelivery::new(
            id.clone(),
            envelope.event_name.to_string(),
            envelope.project_code.clone(),
            received_at,
            delivery.body(),
            to_kv,
        )
    });
    Ok(Plan {
        outcome: Outcome::Accepted,
        kv: match to_kv {
            true => event_writes(config, &id, metadata(None)),
            false => Vec::new(),
        },
        queue,
        mark_seen,
        quarantine: None,
    })
}

/// The duplicate marker, when duplicates are detected.
fn seen_marker(config: &Config, id: &str) -> Option<KvWrite> {
    config.dedupe_seconds.map(|window| KvWrite {
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
    match config.payload_policy {
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

/// The body under `event/{id}` (or `quarantine/{id}`) and its two index
/// entries, all with the same metadata and the retention TTL.
fn event_writes(config: &Config, id: &str, metadata: EventMetadata) -> Vec<KvWrite> {
    let ttl = config.retention_seconds;
    let body_key = match metadata.status {
        layout::EventStatus::Quarantined => layout::quarantine_key(id),
        layout::EventStatus::Accepted => layout::event_key(id),
    };
    let index = layout::index_key(metadata.received_at, id);
    let project_index = layout::project_index_key(&metadata.project_code, metadata.received_at, id);
    [(body_key, true), (index, false), (project_index, false)]
        .into_iter()
        .map(|(key, body)| KvWrite {
            key,
            body,
            metadata: Some(metadata.clone()),
            ttl,
        })
        .collect()
}

/// Step 4: the answer, given the error message of the first write that
/// failed (`None` when all succeeded).
pub fn settle(plan: &Plan, failed_write: Option<&str>) -> Result<Outcome, Refusal> {
    match failed_write.map(StoreFailure::classify) {
        None => Ok(plan.outcome),
        Some(StoreFailure::Transient) => Err(Refusal::StorageUnavailable),
        Some(StoreFailure::Permanent) => Err(Refusal::StorageRejected),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::bindings;

    const SECRET: &str = "s3cret";

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut vars: Vec<(String, String)> =
            vec![(bindings::WEBHOOK_SECRET.into(), SECRET.into())];
        vars.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Config::from_lookup(
            |key| {
                vars.iter()
                    .rev()
                    .find(|(k, _)| k == key)
                    .map(|(_, v)| v.clone())
            },
            &Sink::ALL,
        )
    }

    fn facts(secret: Option<&str>) -> RequestFacts<'_> {
        RequestFacts {
            content_length: Some("100"),
            secret,
            content_type: Some("application/json"),
        }
    }

    fn body(event_name: &str, payload: &str) -> Vec<u8> {
        format!(
            r#"{{"event_name":"{event_name}","timestamp":1,"payload":{payload},"team_member_id":1,"project_code":"P/Q"}}"#
        )
        .into_bytes()
    }

    /// Runs steps 1 to 3 for `body`.
    fn decide(
        config: &Result<Config, ConfigError>,
        body: &[u8],
        seen: bool,
    ) -> Result<Plan, Refusal> {
        let admission = check_headers(config, facts(Some(SECRET)))?;
        let delivery = admit(&admission, body)?;
        plan(config.as_ref().unwrap(), &delivery, seen, 1_700_000_000_000)
    }

    #[test]
    fn header_checks_run_in_order_and_refuse_before_the_body() {
        let broken = config(&[(bindings::AUTH, "maybe")]);
        assert!(matches!(
            check_headers(&broken, facts(None)),
            Err(Refusal::Misconfigured(_))
        ));
        let config = config(&[(bindings::MAX_BODY_BYTES, "50")]);
        assert_eq!(
            check_headers(&config, facts(Some(SECRET))).unwrap_err(),
            Refusal::TooLarge { limit: 50 },
            "size comes before the secret"
        );
        let config = super::tests::config(&[]);
        assert_eq!(
            check_headers(&config, facts(Some("wrong"))).unwrap_err(),
            Refusal::Unauthorized
        );
        let xml = RequestFacts {
            content_type: Some("text/xml"),
            ..facts(Some(SECRET))
        };
        assert_eq!(
            check_headers(&config, xml).unwrap_err(),
            Refusal::UnsupportedMediaType
        );
        for content_type in [
            None,
            Some("application/json; charset=utf-8"),
            Some("application/cloudevents+json"),
        ] {
            let facts = RequestFacts {
                content_type,
                ..facts(Some(SECRET))
            };
            assert!(check_headers(&config, facts).is_ok(), "{content_type:?}");
        }
        let no_secret = Config::from_lookup(|_| None, &Sink::ALL);
        assert_eq!(
            check_headers(&no_secret, facts(Some(SECRET))).unwrap_err(),
            Refusal::NoSecretConfigured
        );
    }

    #[test]
    fn a_body_past_the_limit_is_refused_as_it_is_read() {
        let config = config(&[(bindings::MAX_BODY_BYTES, "10")]).unwrap();
        assert!(check_body_size(&config, 10).is_ok());
        assert_eq!(
            check_body_size(&config, 11),
            Err(Refusal::TooLarge { limit: 10 })
        );
    }

    #[test]
    fn bodies_are_refused_as_json_or_envelope_errors() {
        let config = config(&[]);
        assert!(matches!(
            decide(&config, b"{", false),
            Err(Refusal::InvalidJson(_))
        ));
        assert!(matches!(
            decide(&config, b"[]", false),
            Err(Refusal::InvalidEnvelope(_))
        ));
    }

    #[test]
    fn an_accepted_delivery_is_stored_indexed_queued_and_marked() {
        let config = config(&[]);
        let body = body("run.deleted", r#"{"id":1}"#);
        let plan = decide(&config, &body, false).unwrap();
        assert_eq!(plan.outcome, Outcome::Accepted);
        let id = qase_webhooks::EventId::of(&body).to_string();
        let keys: Vec<&str> = plan.kv.iter().map(|w| w.key.as_str()).collect();
        assert_eq!(keys[0], layout::event_key(&id));
        assert_eq!(keys[1], layout::index_key(1_700_000_000_000, &id));
        assert_eq!(
            keys[2],
            layout::project_index_key("P/Q", 1_700_000_000_000, &id)
        );
        assert!(plan.kv[0].body && !plan.kv[1].body);
        assert!(plan
            .kv
            .iter()
            .all(|w| w.ttl == Some(crate::engine::config::DEFAULT_RETENTION_SECONDS)));
        let message = plan.queue.unwrap();
        assert_eq!(
            message.body.as_deref().map(str::as_bytes),
            Some(body.as_slice())
        );
        assert_eq!(plan.mark_seen.unwrap().key, layout::seen_key(&id));
        assert_eq!(
            settle(&decide(&config, &body, false).unwrap(), None),
            Ok(Outcome::Accepted)
        );
    }

    #[test]
    fn a_seen_id_is_a_duplicate_with_no_writes_unless_duplicates_are_off() {
        let body = body("run.deleted", r#"{"id":1}"#);
        let plan = decide(&config(&[]), &body, true).unwrap();
        assert_eq!(
            (plan.outcome, plan.kv.len(), plan.queue.is_none()),
            (Outcome::Duplicate, 0, true)
        );
        assert_eq!(plan.outcome.http_status(), 200);
        let off = config(&[(bindings::DEDUPE_SECONDS, "0")]);
        assert!(!checks_duplicates(off.as_ref().unwrap()));
        let plan = decide(&off, &body, true).unwrap();
        assert_eq!(plan.outcome, Outcome::Accepted);
        assert!(plan.mark_seen.is_none());
    }

    #[test]
    fn a_payload_that_does_not_fit_is_quarantined_or_rejected_by_policy() {
        let body = body("run.deleted", r#"{"id":"x"}"#);
        let plan = decide(&config(&[]), &body, false).unwrap();
        assert_eq!(plan.outcome, Outcome::Quarantined);
        assert!(plan.queue.is_none(), "quarantined events are not forwarded");
        let quarantine = plan.quarantine.unwrap();
        assert_eq!(
            (quarantine.field.as_str(), quarantine.kind.as_str()),
            ("id", "invalid type")
        );
        assert!(plan.kv[0].key.starts_with(layout::QUARANTINE));
        let reason = plan.kv[0]
            .metadata
            .as_ref()
            .unwrap()
            .reason
            .clone()
            .unwrap();
        assert!(reason.contains("run.deleted"), "{reason}");

        let reject = config(&[(bindings::PAYLOAD_POLICY, "reject")]);
        assert!(matches!(
            decide(&reject, &body, false),
            Err(Refusal::InvalidPayload(_))
        ));
        let unknown = self::body("note.added", "{}");
        assert_eq!(
            decide(&reject, &unknown, false).unwrap_err(),
            Refusal::UnknownEvent {
                name: "note.added".into()
            }
        );
        let plan = decide(&config(&[]), &unknown, false).unwrap();
        assert_eq!(plan.quarantine.unwrap().kind, "unknown event");
    }

    #[test]
    fn routes_decide_the_sinks_and_a_large_body_goes_to_kv_for_the_queue() {
        let ignored = config(&[(bindings::ROUTES, r#"[{"events":["case.*"],"to":["kv"]}]"#)]);
        let plan = decide(&ignored, &body("run.deleted", r#"{"id":1}"#), false).unwrap();
        assert_eq!((plan.outcome, plan.kv.len()), (Outcome::Ignored, 0));
        assert!(plan.mark_seen.is_none(), "nothing stored, nothing marked");

        let queue_only = config(&[(bindings::ROUTES, r#"[{"to":["queue"]}]"#)]);
        let small = body("run.deleted", r#"{"id":1}"#);
        let plan = decide(&queue_only, &small, false).unwrap();
        assert!(plan.kv.is_empty() && plan.queue.unwrap().body.is_some());
        let large = body(
            "run.deleted",
            &format!(r#"{{"id":1,"pad":"{}"}}"#, "x".repeat(INLINE_BODY_LIMIT)),
        );
        let plan = decide(&queue_only, &large, false).unwrap();
        assert_eq!(plan.kv.len(), 3, "stored for the consumer to read");
        assert!(plan.queue.unwrap().body.is_none());
    }

    #[test]
    fn a_failed_write_is_retryable_or_not_by_what_the_store_said() {
        let plan = decide(&config(&[]), &body("run.deleted", r#"{"id":1}"#), false).unwrap();
        assert_eq!(
            settle(&plan, Some("KV PUT failed: 503 Service Unavailable")),
            Err(Refusal::StorageUnavailable)
        );
        assert_eq!(
            settle(
                &plan,
                Some("KV PUT failed: 413 Metadata length of 2000 exceeds limit of 1024.")
            ),
            Err(Refusal::StorageRejected)
        );
    }
}
