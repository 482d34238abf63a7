//! The ingest route without wasm-bindgen's async bridge: three synchronous
//! exports that `js/entry.mjs` calls in turn (worker-build makes each a
//! method of the generated entrypoint class, so its panic recovery covers
//! them). The JavaScript reads the body, does the reads and writes a
//! [`Decision`] lists and returns its response; every decision is made here,
//! by [`engine::ingest`].
//!
//! 1. [`qase_begin`]: is this a delivery to ingest here (else the Rust
//!    `fetch` handler serves it), and do its headers pass?
//! 2. [`qase_ingest`]: the body, admitted and planned: either the answer, or
//!    the first round of reads and writes to make ([`Op`]s).
//! 3. [`qase_feed`], once per round: how each operation went; either the
//!    next round, or the answer (and the marker to write afterwards).

use std::sync::atomic::Ordering;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::web_sys::Response;
use worker::{js_sys, Env};

use crate::config;
use crate::http::error::ApiError;
use crate::http::respond;
use crate::ingest as ingest_shell;
use crate::ingest::log::DeliveryLog;
use engine::config::bindings;
use engine::config::{Config, ConfigError};
use engine::delivery::queue::TaggedDelivery;
use engine::http::routes::{self, Matched, Route};
use engine::ingest::{self, Ingest, KvWrite, Next, Op, OpResult, Outcome, Refusal, RequestFacts};
use engine::store::d1::Statement;

/// Where a request stands, and what the JavaScript entry does next.
#[wasm_bindgen]
pub struct Decision {
    /// The Rust `fetch` handler serves it (another route, or a body without
    /// `Content-Length`, which is streamed and counted there).
    stream: bool,
    /// The response, once decided.
    response: Option<Response>,
    /// The plan being carried out, and the round of operations to run.
    pending: Option<Pending>,
    /// The duplicate marker to write once the response is decided.
    mark_seen: Option<KvWrite>,
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
    started: u64,
}

impl Decision {
    fn stream() -> Decision {
        Decision {
            stream: true,
            response: None,
            pending: None,
            mark_seen: None,
        }
    }

    fn respond(response: Response) -> Decision {
        Decision {
            stream: false,
            response: Some(response),
            pending: None,
            mark_seen: None,
        }
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

#[wasm_bindgen]
impl Decision {
    /// Whether the Rust `fetch` handler serves this request.
    #[wasm_bindgen(getter)]
    pub fn stream_path(&self) -> bool {
        self.stream
    }

    /// Whether the response is decided ([`Decision::response`]).
    #[wasm_bindgen(getter)]
    pub fn done(&self) -> bool {
        self.response.is_some()
    }

    /// The response (once).
    pub fn response(&mut self) -> Option<Response> {
        self.response.take()
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

/// Answers a refusal, with its log line.
fn refused(
    config: &Result<Config, ConfigError>,
    refusal: Refusal,
    mut log: DeliveryLog,
    started: u64,
) -> Decision {
    let error = ApiError::from(refusal);
    log.outcome = error.code();
    log.status = error.status();
    log.duration_ms = now().saturating_sub(started);
    log.emit_for(config);
    Decision::respond(error.to_response().expect("a response can be built"))
}

fn delivery_log() -> DeliveryLog {
    DeliveryLog {
        event: "delivery",
        ..DeliveryLog::default()
    }
}

fn now() -> u64 {
    js_sys::Date::now() as u64
}

/// Step 1: whether this request is a delivery with a declared length whose
/// headers pass; otherwise the answer, or the Rust `fetch` handler.
#[wasm_bindgen]
pub fn qase_begin(
    env: Env,
    method: String,
    url: String,
    content_length: Option<String>,
    secret: Option<String>,
    content_type: Option<String>,
) -> Decision {
    let ingest_route = matches!(
        routes::match_route(&method, routes::path_of(&url)),
        Matched::Route(Route::Ingest, _)
    );
    if !ingest_route || content_length.is_none() {
        return Decision::stream();
    }
    let started = now();
    let config = config::load(&env);
    match ingest::check_headers(config, facts(&content_length, &secret, &content_type)) {
        Ok(_) => Decision {
            stream: false,
            response: None,
            pending: None,
            mark_seen: None,
        },
        Err(refusal) => refused(config, refusal, delivery_log(), started),
    }
}

/// Step 2: the body (read by the entry, whole: its length was declared and
/// passed the limit; `undefined` when it could not be read), admitted and
/// planned.
#[wasm_bindgen]
pub fn qase_ingest(
    env: Env,
    content_length: Option<String>,
    secret: Option<String>,
    content_type: Option<String>,
    body: Option<Box<[u8]>>,
    received_at: f64,
) -> Decision {
    let started = received_at as u64;
    let loaded = config::load(&env);
    let mut log = delivery_log();
    let facts = facts(&content_length, &secret, &content_type);
    let admission = match ingest::check_headers(loaded, facts) {
        Ok(admission) => admission,
        Err(refusal) => return refused(loaded, refusal, log, started),
    };
    let config = loaded.as_ref().expect("checked by check_headers");
    let Some(body) = body.as_deref() else {
        return refused(loaded, Refusal::BodyUnreadable, log, started);
    };
    if config.ingest.test_panic && body == b"panic" {
        panic!("test-only panic ({} is set)", bindings::TEST_PANIC);
    }
    log.unauthenticated = !admission.credential.is_authenticated();
    if log.unauthenticated {
        ingest_shell::warn_unauthenticated();
    }
    let admitted = ingest::check_body_size(&config.ingest, body.len())
        .and_then(|()| ingest::admit(&admission, body));
    let delivery = match admitted {
        Ok(delivery) => delivery,
        Err(refusal) => return refused(loaded, refusal, log, started),
    };
    log.id = Some(delivery.id().to_string());
    log.event_name = Some(delivery.envelope().event_name.to_string());
    log.project_code = Some(delivery.envelope().project_code.clone());
    let plan = match ingest::plan(config, &delivery, started) {
        Ok(plan) => plan,
        Err(refusal) => return refused(loaded, refusal, log, started),
    };
    let answer = ingest::answer_body(&delivery, plan.outcome);
    let duplicate_answer = ingest::answer_body(&delivery, Outcome::Duplicate);
    let (ingest, next) = Ingest::start(plan);
    let mut decision = Decision {
        stream: false,
        response: None,
        pending: Some(Pending {
            ingest,
            ops: Vec::new(),
            answer,
            duplicate_answer,
            log,
            started,
        }),
        mark_seen: None,
    };
    decision.proceed(loaded, next);
    decision
}

/// Step 3, once per round: how each operation of the round went, in order:
/// `failures[i]` is the error message of operation `i` (`undefined` when
/// it succeeded) and `values[i]` the value it read.
#[wasm_bindgen]
pub fn qase_feed(env: Env, decision: &mut Decision, values: Vec<f64>, failures: Vec<JsValue>) {
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
    decision.proceed(config::load(&env), next);
}

impl Decision {
    /// Sets the next round, or answers.
    fn proceed(&mut self, config: &Result<Config, ConfigError>, next: Next) {
        let answer = match next {
            Next::Run(ops) => {
                if let Some(pending) = self.pending.as_mut() {
                    pending.ops = ops;
                }
                return;
            }
            Next::Answer(answer) => answer,
        };
        let Some(mut pending) = self.pending.take() else {
            return;
        };
        for failure in pending.ingest.failures() {
            worker::console_error!("store write failed: {failure}");
        }
        let outcome = match answer {
            Ok(outcome) => outcome,
            Err(refusal) => {
                *self = refused(config, refusal, pending.log, pending.started);
                return;
            }
        };
        if outcome == Outcome::Ignored {
            ingest_shell::IGNORED.fetch_add(1, Ordering::Relaxed);
        }
        if let (Outcome::Quarantined, Some(quarantine)) =
            (outcome, &pending.ingest.plan().quarantine)
        {
            // The field and the kind, never a value (SECURITY.md).
            worker::console_warn!(
                "{}",
                serde_json::json!({"event": "quarantine", "id": pending.log.id, "field": quarantine.field, "kind": quarantine.kind})
            );
        }
        let body = match outcome {
            Outcome::Duplicate => pending.duplicate_answer,
            _ => std::mem::take(&mut pending.answer),
        };
        pending.log.outcome = outcome.as_str();
        pending.log.status = outcome.http_status();
        pending.log.duration_ms = now().saturating_sub(pending.started);
        pending.log.emit_for(config);
        self.mark_seen = pending.ingest.after_answer().cloned();
        let response = respond::json_bytes(body, outcome.http_status());
        self.response = Some(response.expect("a response can be built"));
    }
}
