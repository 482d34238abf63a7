//! The ingest decision for `POST /webhooks/qase`, in the order the checks
//! run: cheapest and least revealing first.
//!
//! 1. [`check_headers`]: configuration, declared size, secret, content
//!    type, before a byte of the body is read.
//! 2. [`check_body_size`] while the shell reads the body, then [`admit`]:
//!    JSON, envelope, per-project secrets, the event id.
//! 3. [`plan`]: the outcome and the writes: the D1 row, the KV copy, the
//!    queue message, and what covers each of them when it fails.
//! 4. [`Ingest`]: the plan carried out in rounds, fed with what the stores
//!    answered, down to the answer: `2xx` once a durable store holds the
//!    delivery, else a refusal that says whether a retry can help.
//!
//! Every function is pure; `qase_edge::ingest::hot_path` (and
//! `qase_edge::ingest` for bodies without a length) carries them out.

pub mod settings;

use qase_webhooks::{
    AdmitError, Credential, EnvelopeError, Event, PayloadError, Subjects, VerifiedDelivery,
};
use serde::Serialize;

use crate::config::{Config, ConfigError};
use crate::delivery::messages::{QueuedDelivery, INLINE_BODY_LIMIT};
use crate::ingest::settings::{IngestSettings, PayloadPolicy};
use crate::store::d1::{self, NewEvent, Statement, D1_BODY_LIMIT};
use crate::store::failure::StoreFailure;
use crate::store::layout::{self, EventMetadata, RescueMetadata};
use crate::store::settings::Sink;
use crate::store::types::{EventStatus, Forward};

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
    if declared_length.is_some_and(|length| length > config.ingest.max_body_bytes as u64) {
        return Err(Refusal::TooLarge {
            limit: config.ingest.max_body_bytes,
        });
    }
    if config.ingest.secrets.is_empty() {
        return Err(Refusal::NoSecretConfigured);
    }
    let credential = config
        .ingest
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
pub fn check_body_size(ingest: &IngestSettings, bytes_so_far: usize) -> Result<(), Refusal> {
    if bytes_so_far > ingest.max_body_bytes {
        return Err(Refusal::TooLarge {
            limit: ingest.max_body_bytes,
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
/// is learnt while carrying the plan out ([`Ingest`]).
pub fn plan(
    config: &Config,
    delivery: &VerifiedDelivery<'_>,
    received_at: u64,
) -> Result<Plan, Refusal> {
    let id = delivery.id().to_string();
    let envelope = delivery.envelope();
    let body_len = delivery.body().len();
    let quarantine = check_payload(config, delivery)?;
    let targets = match quarantine {
        // Quarantined events are stored where they can be, never forwarded.
        Some(_) => None,
        None => {
            let targets = config
                .ingest
                .routes
                .targets(envelope.event_name.as_str(), &envelope.project_code);
            if targets.is_empty() {
                return Ok(Plan::answer_only(Outcome::Ignored));
            }
            Some(targets)
        }
    };
    let routed = |sink: Sink| match &targets {
        None => config.store.has_sink(sink) && sink != Sink::Queue,
        Some(targets) => targets.contains(sink.name()),
    };
    let (to_d1, to_kv, to_queue) = (routed(Sink::D1), routed(Sink::Kv), routed(Sink::Queue));
    let reason = quarantine.as_ref().map(|q| q.reason.as_str());
    let metadata = EventMetadata::new(
        envelope.event_name.as_str(),
        &envelope.project_code,
        received_at,
        reason,
    );
    // A body too large for a row, or for a queue message when D1 does not
    // hold it, is read back from KV.
    let body_in_kv = config.store.kv_bound
        && ((to_d1 && body_len > D1_BODY_LIMIT)
            || (to_queue && !to_d1 && body_len > INLINE_BODY_LIMIT));
    let forward = match to_queue {
        true => Forward::Pending,
        false => Forward::None,
    };
    let record = to_d1.then(|| NewEvent {
        id: id.clone(),
        event_name: envelope.event_name.to_string(),
        project_code: envelope.project_code.clone(),
        team_member_id: envelope.team_member_id,
        received_at,
        outcome: metadata.status,
        reason: metadata.reason.clone(),
        subjects: Subjects::of(envelope.event_name.as_str(), envelope.payload),
        forward,
        size: body_len,
        body_in_kv,
    });
    let kv = (to_kv || body_in_kv).then(|| KvWrite {
        key: match metadata.status {
            EventStatus::Quarantined => layout::quarantine_key(&id),
            EventStatus::Accepted => layout::event_key(&id),
        },
        body: true,
        metadata: Some(KvMetadata::Event(metadata.clone())),
        ttl: config.store.retention_seconds,
    });
    let queue = to_queue.then(|| {
        QueuedDelivery::new(
            id.clone(),
            envelope.event_name.to_string(),
            envelope.project_code.clone(),
            received_at,
            delivery.body(),
            // The consumer reads a body that is not inline from D1 or KV.
            to_d1 || body_in_kv,
        )
    });
    let rescue = config.store.kv_bound.then(|| KvWrite {
        key: layout::rescue_key(&id),
        body: true,
        metadata: Some(KvMetadata::Rescue(RescueMetadata::new(
            received_at,
            forward,
            reason,
        ))),
        ttl: None,
    });
    Ok(Plan {
        outcome: match quarantine {
            Some(_) => Outcome::Quarantined,
            None => Outcome::Accepted,
        },
        seen: match to_d1 {
            true => None,
            false => seen_marker(config, &id),
        },
        record,
        kv,
        queue,
        rescue,
        quarantine,
    })
}

/// A read or write to make; [`Ingest`] says which, in rounds whose
/// operations run at once.
#[derive(Debug, Clone)]
pub enum Op {
    /// Run [`d1::record_event`]: its result is the `duplicates` count.
    Record(Statement),
    /// Look a KV key up: its result is `1` when found, `0` when not.
    Lookup(String),
    /// A KV put.
    Put(KvWrite),
    /// A queue send.
    Send(QueuedDelivery),
}

/// How an [`Op`] went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    /// Done, with the value the operation reads (see [`Op`]), `0` for writes.
    Done(u64),
    /// Failed, with the store's error message.
    Failed(String),
}

/// What the shell does next.
#[derive(Debug, Clone)]
pub enum Next {
    /// Run these operations at once and [`Ingest::feed`] their results, in order.
    Run(Vec<Op>),
    /// Answer. After a `2xx`, write [`Ingest::after_answer`].
    Answer(Result<Outcome, Refusal>),
}

/// Where carrying a plan out stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// The body in KV, which a row with `body_in_kv` points to.
    Body,
    /// The D1 row.
    Record,
    /// The duplicate marker (without D1).
    Lookup,
    /// The other writes at once.
    Writes,
    /// The rescue copy, after a failed D1 write (or, without D1, a failed
    /// queue send).
    Rescue,
    /// Answered.
    Answered,
}

/// Carries a [`Plan`] out as a state machine fed with what the stores
/// answered, so that every fault path is decided, and tested, here:
///
/// - The answer is `2xx` once any durable store holds the delivery (the D1
///   row, the KV copy, the rescue copy or the queue message: each is
///   brought back into the store and forwarded by the consumer or the
///   sweep), and never otherwise.
/// - A body too large for a D1 row is put in KV first: a row must never
///   point to bytes nobody stored.
/// - The D1 row is written before anything else: its upsert says whether
///   the bytes were stored before (then `duplicate`, nothing else written).
/// - A failed D1 write is covered by the queue message (`recorded: false`,
///   the consumer records the row) and the rescue copy in KV (the sweep
///   records it as `pending` and sends it: whichever message claims the
///   row first is forwarded, the other dropped). A failed queue send is
///   covered by the `pending` row (the sweep sends it again) or, without
///   D1, by the rescue copy, written once the send has failed.
#[derive(Debug, Clone)]
pub struct Ingest {
    plan: Plan,
    stage: Stage,
    /// The D1 row was written.
    recorded: bool,
    /// Some store holds the delivery.
    held: bool,
    /// The first failure, which decides the refusal when nothing holds it.
    first_failure: Option<String>,
    /// Every failure, for the log.
    failures: Vec<String>,
}

impl Ingest {
    /// Starts carrying `plan` out.
    pub fn start(plan: Plan) -> (Ingest, Next) {
        let mut ingest = Ingest {
            plan,
            stage: Stage::Answered,
            recorded: false,
            held: false,
            first_failure: None,
            failures: Vec::new(),
        };
        let next = if ingest.plan.outcome == Outcome::Ignored {
            ingest.answer(Ok(Outcome::Ignored))
        } else if ingest.plan.record.as_ref().is_some_and(|r| r.body_in_kv) {
            let put = ingest.plan.kv.clone().expect("a body in KV has its write");
            ingest.run(Stage::Body, vec![Op::Put(put)])
        } else {
            ingest.after_body()
        };
        (ingest, next)
    }

    /// The plan being carried out.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The writes that failed although the delivery is held (for the log).
    pub fn failures(&self) -> &[String] {
        &self.failures
    }

    /// The write to make once a `2xx` is answered: the duplicate marker.
    pub fn after_answer(&self) -> Option<&KvWrite> {
        self.plan.seen.as_ref()
    }

    /// The next step, given the results of the last round, in its order.
    pub fn feed(&mut self, results: &[OpResult]) -> Next {
        match self.stage {
            Stage::Body => match &results[0] {
                OpResult::Done(_) => self.after_body(),
                OpResult::Failed(error) => {
                    self.fail(error);
                    self.refuse()
                }
            },
            Stage::Record => match &results[0] {
                OpResult::Done(duplicates) if !d1::is_first(*duplicates) => {
                    self.answer(Ok(Outcome::Duplicate))
                }
                OpResult::Done(_) => {
                    self.recorded = true;
                    self.held = true;
                    self.writes()
                }
                OpResult::Failed(error) => {
                    self.fail(error);
                    self.writes()
                }
            },
            Stage::Lookup => match &results[0] {
                OpResult::Done(found) if *found > 0 => self.answer(Ok(Outcome::Duplicate)),
                OpResult::Done(_) => self.writes(),
                // Without knowing, a copy could be forwarded twice: refuse.
                OpResult::Failed(error) => {
                    self.fail(error);
                    self.refuse()
                }
            },
            Stage::Writes => {
                let mut send_failed = false;
                for (op, result) in self.round().into_iter().zip(results) {
                    match result {
                        OpResult::Done(_) => self.held = true,
                        OpResult::Failed(error) => {
                            send_failed |= matches!(op, Op::Send(_));
                            self.fail(error);
                        }
                    }
                }
                // Without D1, nothing else would send it again.
                let rescue = self.plan.rescue.clone();
                match rescue.filter(|_| send_failed && self.plan.record.is_none()) {
                    Some(rescue) => self.run(Stage::Rescue, vec![Op::Put(rescue)]),
                    None => self.settle(),
                }
            }
            Stage::Rescue => {
                match &results[0] {
                    OpResult::Done(_) => self.held = true,
                    OpResult::Failed(error) => self.fail(error),
                }
                self.settle()
            }
            Stage::Answered => self.answer(Err(Refusal::StorageUnavailable)),
        }
    }

    fn after_body(&mut self) -> Next {
        if let Some(record) = &self.plan.record {
            let statement = d1::record_event(record);
            return self.run(Stage::Record, vec![Op::Record(statement)]);
        }
        if let Some(seen) = &self.plan.seen {
            let key = seen.key.clone();
            return self.run(Stage::Lookup, vec![Op::Lookup(key)]);
        }
        self.writes()
    }

    /// The writes of [`Stage::Writes`], in the order their results come.
    fn round(&self) -> Vec<Op> {
        let mut ops = Vec::new();
        let body_written = self.plan.record.as_ref().is_some_and(|r| r.body_in_kv);
        if let Some(kv) = self.plan.kv.as_ref().filter(|_| !body_written) {
            ops.push(Op::Put(kv.clone()));
        }
        if let Some(message) = &self.plan.queue {
            let mut message = message.clone();
            message.recorded = self.recorded;
            ops.push(Op::Send(message));
        }
        let record_failed = self.plan.record.is_some() && !self.recorded;
        if let Some(rescue) = self.plan.rescue.as_ref().filter(|_| record_failed) {
            ops.push(Op::Put(rescue.clone()));
        }
        ops
    }

    fn writes(&mut self) -> Next {
        let ops = self.round();
        if ops.is_empty() {
            return self.settle();
        }
        self.run(Stage::Writes, ops)
    }

    fn run(&mut self, stage: Stage, ops: Vec<Op>) -> Next {
        self.stage = stage;
        Next::Run(ops)
    }

    fn fail(&mut self, error: &str) {
        self.first_failure.get_or_insert_with(|| error.to_owned());
        self.failures.push(error.to_owned());
    }

    fn settle(&mut self) -> Next {
        match self.held {
            true => self.answer(Ok(self.plan.outcome)),
            false => self.refuse(),
        }
    }

    /// Nothing holds the delivery: whether a retry can help depends on what
    /// the store said.
    fn refuse(&mut self) -> Next {
        let refusal = match self.first_failure.as_deref().map(StoreFailure::classify) {
            Some(StoreFailure::Permanent) => Refusal::StorageRejected,
            _ => Refusal::StorageUnavailable,
        };
        self.answer(Err(refusal))
    }

    fn answer(&mut self, answer: Result<Outcome, Refusal>) -> Next {
        if answer != Ok(Outcome::Accepted) && answer != Ok(Outcome::Quarantined) {
            // Only a delivery stored for the first time is marked as seen.
            self.plan.seen = None;
        }
        self.stage = Stage::Answered;
        Next::Answer(answer)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::bindings;

    const SECRET: &str = "s3cret";

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        crate::config::for_tests(pairs)
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
    fn decide(config: &Result<Config, ConfigError>, body: &[u8]) -> Result<Plan, Refusal> {
        let admission = check_headers(config, facts(Some(SECRET)))?;
        let delivery = admit(&admission, body)?;
        plan(config.as_ref().unwrap(), &delivery, 1_700_000_000_000)
    }

    /// An operation's shape, to compare rounds.
    fn shape(op: &Op) -> String {
        match op {
            Op::Record(_) => "record".into(),
            Op::Lookup(key) => format!("lookup {key}"),
            Op::Put(write) => format!("put {}", write.key),
            Op::Send(message) => format!("send recorded={}", message.recorded),
        }
    }

    /// Carries `plan` out with the stores answering as `answer` says for
    /// each operation; the rounds run (as shapes) and the answer.
    fn carry_out(
        plan: Plan,
        answer: impl Fn(&Op) -> OpResult,
    ) -> (Vec<Vec<String>>, Result<Outcome, Refusal>, Ingest) {
        let (mut ingest, mut next) = Ingest::start(plan);
        let mut rounds = Vec::new();
        loop {
            match next {
                Next::Answer(result) => return (rounds, result, ingest),
                Next::Run(ops) => {
                    assert!(rounds.len() < 5, "a plan is carried out in a few rounds");
                    rounds.push(ops.iter().map(shape).collect());
                    let results: Vec<OpResult> = ops.iter().map(&answer).collect();
                    next = ingest.feed(&results);
                }
            }
        }
    }

    const DOWN: &str = "Network connection lost.";

    /// The `forward` the rescue copy records when the stores answer as `answer` says.
    fn rescue_forward(ingest: &Ingest, answer: impl Fn(&Op) -> OpResult) -> Option<Forward> {
        let (mut ingest, mut next) = Ingest::start(ingest.plan().clone());
        loop {
            match next {
                Next::Answer(_) => return None,
                Next::Run(ops) => {
                    for op in &ops {
                        if let Op::Put(KvWrite {
                            metadata: Some(KvMetadata::Rescue(metadata)),
                            ..
                        }) = op
                        {
                            return Some(metadata.forward);
                        }
                    }
                    let results: Vec<OpResult> = ops.iter().map(&answer).collect();
                    next = ingest.feed(&results);
                }
            }
        }
    }

    /// Every store answers; `record` gives `duplicates`.
    fn healthy(duplicates: u64) -> impl Fn(&Op) -> OpResult {
        move |op| match op {
            Op::Record(_) => OpResult::Done(duplicates),
            _ => OpResult::Done(0),
        }
    }

    /// The stores whose shapes start with one of `down` fail.
    fn failing(down: &'static [&'static str]) -> impl Fn(&Op) -> OpResult {
        move |op| match down.iter().any(|d| shape(op).starts_with(d)) {
            true => OpResult::Failed(DOWN.into()),
            false => OpResult::Done(0),
        }
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
        assert!(check_body_size(&config.ingest, 10).is_ok());
        assert_eq!(
            check_body_size(&config.ingest, 11),
            Err(Refusal::TooLarge { limit: 10 })
        );
    }

    #[test]
    fn bodies_are_refused_as_json_or_envelope_errors() {
        let config = config(&[]);
        assert!(matches!(
            decide(&config, b"{"),
            Err(Refusal::InvalidJson(_))
        ));
        assert!(matches!(
            decide(&config, b"[]"),
            Err(Refusal::InvalidEnvelope(_))
        ));
    }

    #[test]
    fn by_default_an_event_costs_one_d1_row_and_one_queue_message() {
        let config = config(&[]);
        let body = body("run.deleted", r#"{"id":42}"#);
        let plan = decide(&config, &body).unwrap();
        let record = plan.record.clone().unwrap();
        assert_eq!(record.id, qase_webhooks::EventId::of(&body).to_string());
        assert_eq!(
            (record.forward, record.body_in_kv),
            (Forward::Pending, false)
        );
        assert_eq!(record.subjects.run, Some(42));
        assert_eq!(record.project_code, "P/Q");
        assert!(plan.kv.is_none() && plan.seen.is_none());
        let message = plan.queue.clone().unwrap();
        assert_eq!(message.body.as_deref().map(str::as_bytes), Some(&body[..]));

        let (rounds, answer, ingest) = carry_out(plan, healthy(0));
        assert_eq!(rounds, [vec!["record"], vec!["send recorded=true"]]);
        assert_eq!(answer, Ok(Outcome::Accepted));
        assert!(ingest.after_answer().is_none() && ingest.failures().is_empty());
    }

    #[test]
    fn a_copy_of_stored_bytes_is_a_duplicate_and_nothing_else_is_written() {
        let plan = decide(&config(&[]), &body("run.deleted", r#"{"id":1}"#)).unwrap();
        let (rounds, answer, _) = carry_out(plan, healthy(1));
        assert_eq!(rounds, [vec!["record"]]);
        assert_eq!(answer, Ok(Outcome::Duplicate));
        assert_eq!(Outcome::Duplicate.http_status(), 200);
    }

    #[test]
    fn every_store_failure_is_covered_by_another_store_or_refused() {
        let plan = || decide(&config(&[]), &body("run.deleted", r#"{"id":1}"#)).unwrap();
        let rescue = format!("put {}", layout::rescue_key(&plan().record.unwrap().id));

        // The queue down: the `pending` row is sent again by the sweep.
        let (rounds, answer, ingest) = carry_out(plan(), failing(&["send"]));
        assert_eq!(rounds, [vec!["record"], vec!["send recorded=true"]]);
        assert_eq!(
            (answer, ingest.failures().len()),
            (Ok(Outcome::Accepted), 1)
        );

        // D1 down: the message says so (the consumer records it), and the
        // rescue copy waits for the sweep, which records it as `pending` and
        // sends it: whichever message claims the row is forwarded.
        let (rounds, answer, ingest) = carry_out(plan(), failing(&["record"]));
        assert_eq!(
            rounds,
            [
                vec!["record".to_owned()],
                vec!["send recorded=false".to_owned(), rescue.clone()]
            ]
        );
        assert_eq!(answer, Ok(Outcome::Accepted));
        assert_eq!(
            rescue_forward(&ingest, failing(&["record"])),
            Some(Forward::Pending)
        );

        // D1 and the queue down: the rescue copy holds it.
        let (_, answer, _) = carry_out(plan(), failing(&["record", "send"]));
        assert_eq!(answer, Ok(Outcome::Accepted));
        // D1 and KV down: the queue message holds it.
        let (_, answer, _) = carry_out(plan(), failing(&["record", "put"]));
        assert_eq!(answer, Ok(Outcome::Accepted));
        // Everything down: nothing holds it, retry.
        let (_, answer, _) = carry_out(plan(), failing(&["record", "send", "put"]));
        assert_eq!(answer, Err(Refusal::StorageUnavailable));
        // A refusal no retry fixes is said so.
        let (_, answer, _) = carry_out(plan(), |_: &Op| {
            OpResult::Failed("D1_ERROR: string or blob too big: SQLITE_TOOBIG".into())
        });
        assert_eq!(answer, Err(Refusal::StorageRejected));
    }

    #[test]
    fn without_kv_bound_a_failed_d1_write_relies_on_the_queue_alone() {
        let lookup = |key: &str| match key {
            bindings::WEBHOOK_SECRET => Some(SECRET.to_owned()),
            _ => None,
        };
        let config = Config::from_lookup(lookup, &[Sink::D1, Sink::Queue]);
        let plan = decide(&config, &body("run.deleted", r#"{"id":1}"#)).unwrap();
        assert!(plan.rescue.is_none());
        let (rounds, answer, _) = carry_out(plan.clone(), failing(&["record"]));
        assert_eq!(rounds[1], ["send recorded=false"]);
        assert_eq!(answer, Ok(Outcome::Accepted));
        let (_, answer, _) = carry_out(plan, failing(&["record", "send"]));
        assert_eq!(answer, Err(Refusal::StorageUnavailable));
    }

    #[test]
    fn the_kv_sink_adds_one_key_per_event_whose_failure_d1_covers() {
        let config = config(&[(bindings::SINKS, "d1,kv,queue")]);
        let body = body("run.deleted", r#"{"id":1}"#);
        let id = qase_webhooks::EventId::of(&body).to_string();
        let plan = decide(&config, &body).unwrap();
        let (rounds, answer, _) = carry_out(plan.clone(), healthy(0));
        assert_eq!(
            rounds[1],
            [
                format!("put {}", layout::event_key(&id)),
                "send recorded=true".into()
            ]
        );
        assert_eq!(answer, Ok(Outcome::Accepted));
        let (_, answer, _) = carry_out(plan, failing(&["put"]));
        assert_eq!(answer, Ok(Outcome::Accepted));
    }

    #[test]
    fn without_d1_kv_markers_detect_duplicates_and_a_failed_send_is_rescued() {
        let config = config(&[(bindings::SINKS, "kv,queue")]);
        let body = body("run.deleted", r#"{"id":1}"#);
        let id = qase_webhooks::EventId::of(&body).to_string();
        let plan = decide(&config, &body).unwrap();
        assert!(plan.record.is_none());
        let (rounds, answer, ingest) = carry_out(plan.clone(), healthy(0));
        assert_eq!(rounds[0], [format!("lookup {}", layout::seen_key(&id))]);
        assert_eq!(answer, Ok(Outcome::Accepted));
        assert_eq!(ingest.after_answer().unwrap().key, layout::seen_key(&id));

        // Found: a duplicate, no marker written again.
        let (rounds, answer, ingest) = carry_out(plan.clone(), |_: &Op| OpResult::Done(1));
        assert_eq!((rounds.len(), answer), (1, Ok(Outcome::Duplicate)));
        assert!(ingest.after_answer().is_none());

        // The queue down: the KV copy holds it, the rescue copy makes the
        // sweep send it.
        let (rounds, answer, _) = carry_out(plan.clone(), failing(&["send"]));
        assert_eq!(rounds[2], [format!("put {}", layout::rescue_key(&id))]);
        assert_eq!(answer, Ok(Outcome::Accepted));
        // The marker unreadable: refused rather than risk forwarding twice.
        let (_, answer, _) = carry_out(plan, failing(&["lookup"]));
        assert_eq!(answer, Err(Refusal::StorageUnavailable));
        let off = super::tests::config(&[
            (bindings::SINKS, "kv,queue"),
            (bindings::DEDUPE_SECONDS, "0"),
        ]);
        assert!(decide(&off, &body).unwrap().seen.is_none());
    }

    #[test]
    fn a_body_too_large_for_a_row_is_in_kv_before_the_row_points_to_it() {
        let config = config(&[(bindings::MAX_BODY_BYTES, "2000000")]);
        let large = body(
            "run.deleted",
            &format!(r#"{{"id":1,"pad":"{}"}}"#, "x".repeat(D1_BODY_LIMIT)),
        );
        let id = qase_webhooks::EventId::of(&large).to_string();
        let plan = decide(&config, &large).unwrap();
        assert!(plan.record.as_ref().unwrap().body_in_kv);
        assert!(plan.queue.as_ref().unwrap().body.is_none(), "read from KV");
        let (rounds, answer, _) = carry_out(plan.clone(), healthy(0));
        assert_eq!(
            rounds,
            [
                vec![format!("put {}", layout::event_key(&id))],
                vec!["record".to_owned()],
                vec!["send recorded=true".to_owned()]
            ]
        );
        assert_eq!(answer, Ok(Outcome::Accepted));
        let (rounds, answer, _) = carry_out(plan, failing(&["put"]));
        assert_eq!(
            (rounds.len(), answer),
            (1, Err(Refusal::StorageUnavailable))
        );
    }

    #[test]
    fn a_payload_that_does_not_fit_is_quarantined_or_rejected_by_policy() {
        let body = body("run.deleted", r#"{"id":"x"}"#);
        let plan = decide(&config(&[]), &body).unwrap();
        assert_eq!(plan.outcome, Outcome::Quarantined);
        assert!(plan.queue.is_none(), "quarantined events are not forwarded");
        let quarantine = plan.quarantine.clone().unwrap();
        assert_eq!(
            (quarantine.field.as_str(), quarantine.kind.as_str()),
            ("id", "invalid type")
        );
        let record = plan.record.clone().unwrap();
        assert_eq!(
            (record.outcome, record.forward),
            (EventStatus::Quarantined, Forward::None)
        );
        assert!(record.reason.unwrap().contains("run.deleted"));
        let (rounds, answer, _) = carry_out(plan, healthy(0));
        assert_eq!((rounds.len(), answer), (1, Ok(Outcome::Quarantined)));

        let kv_only = config(&[(bindings::SINKS, "kv")]);
        let plan = decide(&kv_only, &body).unwrap();
        assert!(plan.kv.unwrap().key.starts_with(layout::QUARANTINE));

        let reject = config(&[(bindings::PAYLOAD_POLICY, "reject")]);
        assert!(matches!(
            decide(&reject, &body),
            Err(Refusal::InvalidPayload(_))
        ));
        let unknown = self::body("note.added", "{}");
        assert_eq!(
            decide(&reject, &unknown).unwrap_err(),
            Refusal::UnknownEvent {
                name: "note.added".into()
            }
        );
        let plan = decide(&config(&[]), &unknown).unwrap();
        assert_eq!(plan.quarantine.unwrap().kind, "unknown event");
    }

    #[test]
    fn routes_decide_the_sinks_and_nothing_routed_is_ignored() {
        let ignored = config(&[(bindings::ROUTES, r#"[{"events":["case.*"],"to":["d1"]}]"#)]);
        let plan = decide(&ignored, &body("run.deleted", r#"{"id":1}"#)).unwrap();
        let (rounds, answer, ingest) = carry_out(plan, healthy(0));
        assert_eq!((rounds.len(), answer), (0, Ok(Outcome::Ignored)));
        assert!(
            ingest.after_answer().is_none(),
            "nothing stored, nothing marked"
        );

        let d1_only = config(&[(bindings::ROUTES, r#"[{"to":["d1"]}]"#)]);
        let plan = decide(&d1_only, &body("run.deleted", r#"{"id":1}"#)).unwrap();
        assert!(plan.queue.is_none());
        assert_eq!(plan.record.unwrap().forward, Forward::None);

        let queue_only = config(&[
            (bindings::SINKS, "queue"),
            (bindings::PAYLOAD_POLICY, "reject"),
        ]);
        let large = body(
            "run.deleted",
            &format!(r#"{{"id":1,"pad":"{}"}}"#, "x".repeat(INLINE_BODY_LIMIT)),
        );
        let plan = decide(&queue_only, &large).unwrap();
        assert!(
            plan.kv.is_some(),
            "KV is bound: the consumer reads the body there"
        );
        assert!(plan.queue.unwrap().body.is_none());
    }
}
