//! The ingest route as three synchronous exports that `js/entry.mjs` calls
//! in turn (no async bridge, no `worker` crate). The JavaScript reads the
//! body, does the reads and writes a [`Decision`] lists and wraps the
//! answer, a status and bytes, in a `Response`; every decision is made
//! here, by [`engine::ingest`].
//!
//! 1. [`qase_begin`]: is this a delivery to ingest here (else the shell's
//!    `fetch` handler serves it), and do its headers pass? The header facts
//!    cross into Wasm once and the secret is checked (hashed) once: the
//!    [`Admission`] is kept in the [`Decision`] for step 2.
//! 2. [`qase_ingest`], with the body: admitted and planned: either the
//!    answer, or the first round of reads and writes to make ([`Op`]s).
//! 3. [`qase_feed`], once per round: how each operation went; either the
//!    next round, or the answer (and the marker to write afterwards).
//!
//! The answer is handed back as [`Decision::status`] and
//! [`Decision::take_answer`] (the JSON bytes): the entry builds the
//! `Response`, with the headers of [`qase_answer_headers`].

use std::sync::atomic::Ordering;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;

use crate::{config, console, log};
use engine::config::bindings;
use engine::config::{Config, ConfigError};
use engine::delivery::queue::TaggedDelivery;
use engine::http::error::ApiError;
use engine::http::routes::{self, Matched, Route};
use engine::http::JSON_HEADER_PAIRS;
use engine::ingest::log::DeliveryLog;
use engine::ingest::{
    self, Admission, Ingest, KvWrite, Next, Op, OpResult, Outcome, Refusal, RequestFacts,
};
use engine::store::d1::Statement;

/// What the JavaScript entry does next with a [`Decision`]. `js/entry.mjs`
/// reads them as the exported `Step` object.
#[wasm_bindgen]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Hand the request to the shell's `fetch` handler (another route, or a
    /// body without `Content-Length`, which is streamed and counted there).
    Stream = 0,
    /// Read the body and call [`qase_ingest`].
    ReadBody = 1,
    /// Run the round of operations and call [`qase_feed`].
    Run = 2,
    /// Answer [`Decision::status`] with [`Decision::take_answer`] and the
    /// headers of [`qase_answer_headers`].
    Answer = 3,
    /// The same, with one more header ([`Decision::header_name`]).
    AnswerWithHeader = 4,
}

/// Where a request stands, and what the JavaScript entry does next.
#[wasm_bindgen]
pub struct Decision {
    step: Step,
    /// The header checks' result, kept for the body (step 2).
    admission: Option<Admission<'static>>,
    /// When the request arrived (milliseconds since the epoch).
    started: u64,
    /// The plan being carried out, and the round of operations to run.
    pending: Option<Pending>,
    /// The answer, once decided.
    answer: Option<Answer>,
    /// The duplicate marker to write once the response is decided.
    mark_seen: Option<KvWrite>,
}

/// A decided answer: status, JSON body, and the header its status calls for.
struct Answer {
    status: u16,
    body: Vec<u8>,
    header: Option<(&'static str, String)>,
}

/// A delivery admitted and planned, waiting for its reads and writes.
struct Pending {
    ingest: Ingest,
    /// The operations of the current round.
    ops: Vec<Op>,
    /// The answers, prepared while the body was at hand.
    answer: Vec<u8>,
    duplicate_answer: Vec<u8>,
    log: DeliveryLog,
}

impl Decision {
    fn new(step: Step, started: u64) -> Decision {
        Decision {
            step,
            admission: None,
            started,
            pending: None,
            answer: None,
            mark_seen: None,
        }
    }

    fn answer(&mut self, answer: Answer) {
        self.step = match answer.header {
            Some(_) => Step::AnswerWithHeader,
            None => Step::Answer,
        };
        self.answer = Some(answer);
    }

    /// Answers a refusal, with its log line.
    fn refuse(&mut self, config: &Result<Config, ConfigError>, refusal: Refusal, log: DeliveryLog) {
        let error = ApiError::from(refusal);
        log::finish(log, config, error.code(), error.status(), self.started);
        self.answer(Answer {
            status: error.status(),
            body: error.body(),
            header: error.header().map(|(name, value)| (name, value.to_owned())),
        });
    }

    fn op(&self, index: usize) -> Option<&Op> {
        self.pending.as_ref()?.ops.get(index)
    }

    fn put(&self, index: usize) -> Option<&KvWrite> {
        match self.op(index)? {
            Op::Put(write) => Some(write),
            _ => None,
        }
    }

    fn statement(&self, index: usize) -> Option<&Statement> {
        match self.op(index)? {
            Op::Record(statement) => Some(statement),
            _ => None,
        }
    }
}

/// The headers of every answer of a [`Decision`], as name, value, name,
/// value: asked for once per isolate by the entry.
#[wasm_bindgen]
pub fn qase_answer_headers() -> Vec<String> {
    JSON_HEADER_PAIRS
        .iter()
        .flat_map(|(name, value)| [name.to_string(), value.to_string()])
        .collect()
}

#[wasm_bindgen]
impl Decision {
    /// What to do next.
    #[wasm_bindgen(getter)]
    pub fn step(&self) -> Step {
        self.step
    }

    /// The answer's HTTP status (0 before it is decided).
    #[wasm_bindgen(getter)]
    pub fn status(&self) -> u16 {
        self.answer.as_ref().map_or(0, |answer| answer.status)
    }

    /// The answer's JSON body (once).
    pub fn take_answer(&mut self) -> Vec<u8> {
        self.answer
            .as_mut()
            .map(|answer| std::mem::take(&mut answer.body))
            .unwrap_or_default()
    }

    /// The extra header's name, for [`Step::AnswerWithHeader`].
    #[wasm_bindgen(getter)]
    pub fn header_name(&self) -> Option<String> {
        let (name, _) = self.answer.as_ref()?.header.as_ref()?;
        Some(name.to_string())
    }

    /// The extra header's value.
    #[wasm_bindgen(getter)]
    pub fn header_value(&self) -> Option<String> {
        let (_, value) = self.answer.as_ref()?.header.as_ref()?;
        Some(value.clone())
    }

    /// The KV binding of every key below.
    #[wasm_bindgen(getter)]
    pub fn kv_binding(&self) -> String {
        bindings::EVENTS_KV.to_owned()
    }

    /// The queue binding of every message below.
    #[wasm_bindgen(getter)]
    pub fn queue_binding(&self) -> String {
        bindings::DELIVERIES_QUEUE.to_owned()
    }

    /// The D1 binding of every statement below.
    #[wasm_bindgen(getter)]
    pub fn db_binding(&self) -> String {
        bindings::DB.to_owned()
    }

    /// How many operations the current round has (all run at once).
    #[wasm_bindgen(getter)]
    pub fn op_count(&self) -> usize {
        self.pending.as_ref().map_or(0, |p| p.ops.len())
    }

    /// Operation `index`'s kind: `record` (a D1 statement whose first row's
    /// `duplicates` is its value), `lookup` (a KV get: 1 when found, else
    /// 0), `put` (a KV put) or `send` (a queue send).
    pub fn op_kind(&self, index: usize) -> Option<String> {
        let kind = match self.op(index)? {
            Op::Record(_) => "record",
            Op::Lookup(_) => "lookup",
            Op::Put(_) => "put",
            Op::Send(_) => "send",
        };
        Some(kind.to_owned())
    }

    /// The KV key of a `lookup` or `put`.
    pub fn op_key(&self, index: usize) -> Option<String> {
        match self.op(index)? {
            Op::Lookup(key) => Some(key.clone()),
            Op::Put(write) => Some(write.key.clone()),
            _ => None,
        }
    }

    /// Whether a `put` stores the body (else an empty value).
    pub fn op_stores_body(&self, index: usize) -> bool {
        self.put(index).is_some_and(|w| w.body)
    }

    /// A `put`'s metadata, as JSON text.
    pub fn op_metadata(&self, index: usize) -> Option<String> {
        serde_json::to_string(self.put(index)?.metadata.as_ref()?).ok()
    }

    /// A `put`'s expiration TTL in seconds, if any.
    pub fn op_ttl(&self, index: usize) -> Option<f64> {
        self.put(index)?.ttl.map(|ttl| ttl as f64)
    }

    /// A `record`'s SQL.
    pub fn op_sql(&self, index: usize) -> Option<String> {
        Some(self.statement(index)?.sql.to_string())
    }

    /// A `record`'s parameters, as a JSON array.
    pub fn op_params(&self, index: usize) -> Option<String> {
        Some(self.statement(index)?.params_json())
    }

    /// Which of a `record`'s parameters is the body, bound as text.
    pub fn op_body_index(&self, index: usize) -> Option<usize> {
        self.statement(index)?.body_index()
    }

    /// A `send`'s message, as JSON text.
    pub fn op_message(&self, index: usize) -> Option<String> {
        match self.op(index)? {
            Op::Send(message) => serde_json::to_string(&TaggedDelivery::Delivery(message)).ok(),
            _ => None,
        }
    }

    /// The duplicate marker to write after answering, if any.
    #[wasm_bindgen(getter)]
    pub fn mark_key(&self) -> Option<String> {
        Some(self.mark_seen.as_ref()?.key.clone())
    }

    /// The marker's TTL in seconds.
    #[wasm_bindgen(getter)]
    pub fn mark_ttl(&self) -> Option<f64> {
        self.mark_seen.as_ref()?.ttl.map(|ttl| ttl as f64)
    }
}

fn facts<'a>(
    content_length: &'a Option<String>,
    secret: &'a Option<String>,
    content_type: &'a Option<String>,
) -> RequestFacts<'a> {
    RequestFacts {
        content_length: content_length.as_deref(),
        secret: secret.as_deref(),
        content_type: content_type.as_deref(),
    }
}

/// Step 1: whether this request is a delivery with a declared length whose
/// headers pass ([`Step::ReadBody`]); otherwise the answer, or the Rust
/// `fetch` handler. `env` is the Worker's environment; `received_at` is
/// the entry's `Date.now()`.
#[wasm_bindgen]
pub fn qase_begin(
    env: &JsValue,
    method: String,
    url: String,
    content_length: Option<String>,
    secret: Option<String>,
    content_type: Option<String>,
    received_at: f64,
) -> Decision {
    let started = received_at as u64;
    let ingest_route = matches!(
        routes::match_route(&method, routes::path_of(&url)),
        Matched::Route(Route::Ingest, _)
    );
    if !ingest_route || content_length.is_none() {
        return Decision::new(Step::Stream, started);
    }
    let config = config::load(env);
    let mut decision = Decision::new(Step::ReadBody, started);
    match ingest::check_headers(config, facts(&content_length, &secret, &content_type)) {
        Ok(admission) => decision.admission = Some(admission),
        Err(refusal) => decision.refuse(config, refusal, DeliveryLog::default()),
    }
    decision
}

/// Step 2: the body (read by the entry, whole: its length was declared and
/// passed the limit; `undefined` when it could not be read), admitted with
/// step 1's admission, and planned.
#[wasm_bindgen]
pub fn qase_ingest(env: &JsValue, decision: &mut Decision, body: Option<Box<[u8]>>) {
    let loaded = config::load(env);
    let mut log = DeliveryLog::default();
    // Only a decision at `Step::ReadBody` holds an admission.
    let (Some(admission), Some(body)) = (decision.admission.take(), body.as_deref()) else {
        return decision.refuse(loaded, Refusal::BodyUnreadable, log);
    };
    let config = loaded.as_ref().expect("checked by check_headers");
    if config.ingest.test_panic && body == b"panic" {
        panic!("test-only panic ({} is set)", bindings::TEST_PANIC);
    }
    log.unauthenticated = !admission.credential.is_authenticated();
    if log.unauthenticated {
        log::warn_unauthenticated();
    }
    let admitted = ingest::check_body_size(&config.ingest, body.len())
        .and_then(|()| ingest::admit(&admission, body));
    let delivery = match admitted {
        Ok(delivery) => delivery,
        Err(refusal) => return decision.refuse(loaded, refusal, log),
    };
    log.id = Some(delivery.id().to_string());
    log.event_name = Some(delivery.envelope().event_name.to_string());
    log.project_code = Some(delivery.envelope().project_code.clone());
    let plan = match ingest::plan(config, &delivery, decision.started) {
        Ok(plan) => plan,
        Err(refusal) => return decision.refuse(loaded, refusal, log),
    };
    let answer = ingest::answer_body(&delivery, plan.outcome);
    let (ingest, next) = Ingest::start(plan);
    // Only a round of writes can find a duplicate.
    let duplicate_answer = match next {
        Next::Run(_) => ingest::answer_body(&delivery, Outcome::Duplicate),
        Next::Answer(_) => Vec::new(),
    };
    decision.pending = Some(Pending {
        ingest,
        ops: Vec::new(),
        answer,
        duplicate_answer,
        log,
    });
    decision.proceed(loaded, next);
}

/// Step 3, once per round: how each operation of the round went, in order:
/// `failures[i]` is the error message of operation `i` (`undefined` when
/// it succeeded) and `values[i]` the value it read.
#[wasm_bindgen]
pub fn qase_feed(env: &JsValue, decision: &mut Decision, values: Vec<f64>, failures: Vec<JsValue>) {
    let Some(pending) = decision.pending.as_mut() else {
        return;
    };
    let results: Vec<OpResult> = (0..pending.ops.len())
        .map(|i| match failures.get(i).and_then(JsValue::as_string) {
            Some(error) => OpResult::Failed(error),
            None => OpResult::Done(values.get(i).copied().unwrap_or_default() as u64),
        })
        .collect();
    let next = pending.ingest.feed(&results);
    decision.proceed(config::load(env), next);
}

impl Decision {
    /// Sets the next round, or answers.
    fn proceed(&mut self, config: &Result<Config, ConfigError>, next: Next) {
        let answer = match next {
            Next::Run(ops) => {
                if let Some(pending) = self.pending.as_mut() {
                    pending.ops = ops;
                }
                self.step = Step::Run;
                return;
            }
            Next::Answer(answer) => answer,
        };
        let Some(mut pending) = self.pending.take() else {
            return;
        };
        for failure in pending.ingest.failures() {
            console::error(&format!("store write failed: {failure}"));
        }
        let outcome = match answer {
            Ok(outcome) => outcome,
            Err(refusal) => return self.refuse(config, refusal, pending.log),
        };
        if outcome == Outcome::Ignored {
            crate::IGNORED.fetch_add(1, Ordering::Relaxed);
        }
        if let (Outcome::Quarantined, Some(quarantine)) =
            (outcome, &pending.ingest.plan().quarantine)
        {
            let id = pending.log.id.as_deref().unwrap_or_default();
            console::warn(&engine::ingest::log::quarantine_line(id, quarantine));
        }
        let body = match outcome {
            Outcome::Duplicate => pending.duplicate_answer,
            _ => std::mem::take(&mut pending.answer),
        };
        let status = outcome.http_status();
        log::finish(pending.log, config, outcome.as_str(), status, self.started);
        self.mark_seen = pending.ingest.after_answer().cloned();
        self.answer(Answer {
            status,
            body,
            header: None,
        });
    }
}
