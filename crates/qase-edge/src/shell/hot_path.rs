//! The ingest route without wasm-bindgen's async bridge: three synchronous
//! exports that `js/entry.mjs` calls in turn (worker-build makes each a
//! method of the generated entrypoint class, so its panic recovery covers
//! them). The JavaScript reads the body, does the reads and writes a
//! [`Decision`] lists and returns its response; every decision is made here,
//! by [`crate::engine::ingest`].
//!
//! 1. [`qase_begin`]: is this a delivery to ingest here (else the Rust
//!    `fetch` handler serves it), and do its headers pass?
//! 2. [`qase_ingest`]: the body, admitted and planned: either the answer, or
//!    the duplicate marker to look up and the writes to make.
//! 3. [`qase_finish`]: given whether the marker was there and how the writes
//!    went, the answer (and the marker to write afterwards).

use std::sync::atomic::Ordering;

use wasm_bindgen::prelude::wasm_bindgen;
use worker::web_sys::Response;
use worker::{js_sys, Env};

use crate::engine::bindings;
use crate::engine::config::{Config, ConfigError};
use crate::engine::ingest::{self, KvWrite, Outcome, Plan, Refusal, RequestFacts};
use crate::engine::layout;
use crate::engine::routes::{self, Matched, Route};
use crate::shell::error::ApiError;
use crate::shell::log::DeliveryLog;
use crate::shell::{ingest as ingest_shell, respond, settings};

/// Where a request stands, and what the JavaScript entry does next.
#[wasm_bindgen]
pub struct Decision {
    /// The Rust `fetch` handler serves it (another route, or a body without
    /// `Content-Length`, which is streamed and counted there).
    stream: bool,
    /// The response, once decided.
    response: Option<Response>,
    /// The writes to make, and what follows them.
    pending: Option<Pending>,
    /// The duplicate marker to write once the response is decided.
    mark_seen: Option<KvWrite>,
}

/// A delivery admitted and planned, waiting for its reads and writes.
struct Pending {
    plan: Plan,
    /// The marker to look up first, when duplicates are detected.
    seen_key: Option<String>,
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

    /// The KV binding every key below belongs to.
    #[wasm_bindgen(getter)]
    pub fn kv_binding(&self) -> String {
        bindings::EVENTS_KV.to_owned()
    }

    /// The queue binding of [`Decision::queue_message`].
    #[wasm_bindgen(getter)]
    pub fn queue_binding(&self) -> String {
        bindings::DELIVERIES_QUEUE.to_owned()
    }

    /// The duplicate marker to look up before writing, if any.
    #[wasm_bindgen(getter)]
    pub fn seen_key(&self) -> Option<String> {
        self.pending.as_ref()?.seen_key.clone()
    }

    /// How many KV writes to make (all at once, with the queue send).
    #[wasm_bindgen(getter)]
    pub fn kv_count(&self) -> usize {
        self.pending.as_ref().map_or(0, |p| p.plan.kv.len())
    }

    fn kv(&self, index: usize) -> Option<&KvWrite> {
        self.pending.as_ref()?.plan.kv.get(index)
    }

    /// Write `index`'s key.
    pub fn kv_key(&self, index: usize) -> Option<String> {
        Some(self.kv(index)?.key.clone())
    }

    /// Whether write `index` stores the body (else an empty value).
    pub fn kv_stores_body(&self, index: usize) -> bool {
        self.kv(index).is_some_and(|w| w.body)
    }

    /// Write `index`'s metadata, as JSON text.
    pub fn kv_metadata(&self, index: usize) -> Option<String> {
        let metadata = self.kv(index)?.metadata.as_ref()?;
        serde_json::to_string(metadata).ok()
    }

    /// Write `index`'s expiration TTL in seconds, if any.
    pub fn kv_ttl(&self, index: usize) -> Option<f64> {
        self.kv(index)?.ttl.map(|ttl| ttl as f64)
    }

    /// The queue message to send, as JSON text, if any.
    #[wasm_bindgen(getter)]
    pub fn queue_message(&self) -> Option<String> {
        let message = self.pending.as_ref()?.plan.queue.as_ref()?;
        serde_json::to_string(message).ok()
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
    let config = settings::load(&env);
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
/// passed the limit), admitted and planned.
#[wasm_bindgen]
pub fn qase_ingest(
    env: Env,
    content_length: Option<String>,
    secret: Option<String>,
    content_type: Option<String>,
    body: &[u8],
    received_at: f64,
) -> Decision {
    let started = received_at as u64;
    let loaded = settings::load(&env);
    let mut log = delivery_log();
    let facts = facts(&content_length, &secret, &content_type);
    let admission = match ingest::check_headers(loaded, facts) {
        Ok(admission) => admission,
        Err(refusal) => return refused(loaded, refusal, log, started),
    };
    let config = loaded.as_ref().expect("checked by check_headers");
    if config.test_panic && body == b"panic" {
        panic!("test-only panic ({} is set)", bindings::TEST_PANIC);
    }
    log.unauthenticated = !admission.credential.is_authenticated();
    if log.unauthenticated {
        ingest_shell::warn_unauthenticated();
    }
    let admitted =
        ingest::check_body_size(config, body.len()).and_then(|()| ingest::admit(&admission, body));
    let delivery = match admitted {
        Ok(delivery) => delivery,
        Err(refusal) => return refused(loaded, refusal, log, started),
    };
    log.id = Some(delivery.id().to_string());
    log.event_name = Some(delivery.envelope().event_name.to_string());
    log.project_code = Some(delivery.envelope().project_code.clone());
    let plan = match ingest::plan(config, &delivery, false, started) {
        Ok(plan) => plan,
        Err(refusal) => return refused(loaded, refusal, log, started),
    };
    let id = delivery.id().to_string();
    let pending = Pending {
        seen_key: ingest::checks_duplicates(config).then(|| layout::seen_key(&id)),
        answer: ingest::answer_body(&delivery, plan.outcome),
        duplicate_answer: ingest::answer_body(&delivery, Outcome::Duplicate),
        plan,
        log,
        started,
    };
    Decision {
        stream: false,
        response: None,
        pending: Some(pending),
        mark_seen: None,
    }
}

/// Step 3: the answer, given whether the duplicate marker was found and the
/// error of the first read or write that failed (`undefined` when none did).
#[wasm_bindgen]
pub fn qase_finish(env: Env, decision: &mut Decision, seen: bool, failure: Option<String>) {
    let Some(mut pending) = decision.pending.take() else {
        return;
    };
    let config = settings::load(&env);
    let outcome = match (seen, failure) {
        (true, None) => Ok(Outcome::Duplicate),
        (_, failure) => {
            if let Some(failure) = &failure {
                worker::console_error!("sink write failed: {failure}");
            }
            ingest::settle(&pending.plan, failure.as_deref())
        }
    };
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(refusal) => {
            *decision = refused(config, refusal, pending.log, pending.started);
            return;
        }
    };
    if outcome == Outcome::Ignored {
        ingest_shell::IGNORED.fetch_add(1, Ordering::Relaxed);
    }
    if let (Outcome::Quarantined, Some(quarantine)) = (outcome, &pending.plan.quarantine) {
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
    decision.mark_seen = match outcome {
        Outcome::Duplicate => None,
        _ => pending.plan.mark_seen.take(),
    };
    let response = respond::json_bytes(body, outcome.http_status());
    decision.response = Some(response.expect("a response can be built"));
}
