//! `POST /webhooks/qase` for what the ingest module (crates/qase-edge-ingest,
//! called by `js/entry.mjs`) hands over: bodies without a `Content-Length`,
//! streamed and counted. Carries out [`engine::ingest`]'s decision: reads
//! the headers and the body, runs the rounds of reads and writes the engine
//! asks for, and answers.

pub mod log;

use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::future::join_all;
use futures_util::StreamExt;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::{Headers, Request, Response};
use worker::{js_sys, ByteStream, Env};

use crate::config;
use crate::http::error::{ApiError, OrInternal};
use crate::http::respond;
use crate::ingest::log::DeliveryLog;
use crate::store::sinks;
use engine::config::Config;
use engine::ingest::{self, Admission, Ingest, Next, Outcome, Plan, Refusal, RequestFacts};

/// The header Qase puts its shared secret in.
pub const SECRET_HEADER: &str = "X-Qase-Secret";

/// Deliveries no routing rule matched since this isolate started. A Worker
/// has no shared memory across isolates: the durable count is the log
/// (`"outcome":"ignored"`, with `QASE_LOG_DELIVERIES=all`; Workers Logs'
/// invocation records otherwise), this is a local hint shown by `GET /health`.
pub static IGNORED: AtomicU64 = AtomicU64::new(0);

/// The name under which `js/entry.mjs` publishes the ingest module's own
/// count of ignored deliveries (a function on `globalThis`): the two Wasm
/// modules of an isolate share no memory, only the JavaScript global.
const INGEST_IGNORED_GLOBAL: &str = "qaseEdgeIngestIgnored";

/// Ignored deliveries since this isolate started: the streamed ones counted
/// here ([`IGNORED`]) and those of the ingest module.
pub fn ignored_since_start() -> u64 {
    let published = js_sys::Reflect::get(&js_sys::global(), &INGEST_IGNORED_GLOBAL.into())
        .ok()
        .and_then(|value| value.dyn_into::<js_sys::Function>().ok())
        .and_then(|count| count.call0(&JsValue::UNDEFINED).ok())
        .and_then(|count| count.as_f64());
    IGNORED.load(Ordering::Relaxed) + published.map_or(0, |count| count as u64)
}

/// Handles one delivery and writes its log line, whatever the outcome.
pub async fn handle(req: Request, env: &Env) -> Result<Response, ApiError> {
    let started = now_millis();
    let mut log = DeliveryLog::default();
    let result = accept(req, env, &mut log, started).await;
    log.duration_ms = now_millis().saturating_sub(started);
    match &result {
        Ok(response) => log.status = response.status(),
        Err(error) => {
            log.outcome = error.code();
            log.status = error.status();
        }
    }
    log::emit_for(&log, config::load(env));
    result
}

async fn accept(
    req: Request,
    env: &Env,
    log: &mut DeliveryLog,
    received_at: u64,
) -> Result<Response, ApiError> {
    let loaded = config::load(env);
    let headers = req.headers();
    let (length, secret, content_type) = (
        header(&headers, "Content-Length")?,
        header(&headers, SECRET_HEADER)?,
        header(&headers, "Content-Type")?,
    );
    let facts = RequestFacts {
        content_length: length.as_deref(),
        secret: secret.as_deref(),
        content_type: content_type.as_deref(),
    };
    let admission = ingest::check_headers(loaded, facts)?;
    let config = loaded.as_ref().expect("checked by check_headers");
    if !admission.credential.is_authenticated() {
        log.unauthenticated = true;
        warn_unauthenticated();
    }

    let body = read_body(&req, config, &admission).await?;
    let delivery = ingest::admit(&admission, &body)?;
    let envelope = delivery.envelope();
    log.id = Some(delivery.id().to_string());
    log.event_name = Some(envelope.event_name.to_string());
    log.project_code = Some(envelope.project_code.clone());

    let plan = ingest::plan(config, &delivery, received_at)?;
    if let Some(quarantine) = &plan.quarantine {
        let line = log::quarantine_line(&delivery.id().to_string(), quarantine);
        worker::console_warn!("{line}");
    }
    let outcome = carry_out(env, plan, delivery.body()).await?;
    if outcome == Outcome::Ignored {
        IGNORED.fetch_add(1, Ordering::Relaxed);
    }
    log.outcome = outcome.as_str();
    let answer = ingest::answer_body(&delivery, outcome);
    respond::json_bytes(answer, outcome.http_status()).or_internal()
}

/// Carries the plan out round by round ([`Ingest`]); then the duplicate
/// marker, whose failure is only logged.
async fn carry_out(env: &Env, plan: Plan, body: &[u8]) -> Result<Outcome, Refusal> {
    let (mut ingest, mut next) = Ingest::start(plan);
    let answer = loop {
        match next {
            Next::Answer(answer) => break answer,
            Next::Run(ops) => {
                let results = join_all(ops.iter().map(|op| sinks::run(env, op, body))).await;
                next = ingest.feed(&results);
            }
        }
    };
    for failure in ingest.failures() {
        worker::console_error!("store write failed: {failure}");
    }
    let outcome = answer?;
    if let Some(marker) = ingest.after_answer() {
        if let Err(error) = sinks::put_all(env, std::slice::from_ref(marker), b"").await {
            worker::console_warn!("duplicate marker {} not written: {error}", marker.key);
        }
    }
    Ok(outcome)
}

/// Every delivery let in without a secret check says so, loudly.
fn warn_unauthenticated() {
    worker::console_warn!("{}", log::unauthenticated_warning());
}

/// Milliseconds since the epoch. `Date.now()` directly: `worker::Date`
/// would create a `Date` object to read it.
pub(crate) fn now_millis() -> u64 {
    js_sys::Date::now() as u64
}

fn header(headers: &Headers, name: &str) -> Result<Option<String>, ApiError> {
    headers.get(name).map_err(worker::Error::from).or_internal()
}

/// Reads the body, refusing it as soon as it passes the limit.
///
/// With a `Content-Length` within the limit (what Qase sends), the body is
/// read in one call and copied across the JavaScript/Wasm boundary once; the
/// runtime guarantees the body matches its declared length. Without one
/// (chunked), it is streamed and counted chunk by chunk.
async fn read_body(
    req: &Request,
    config: &Config,
    admission: &Admission<'_>,
) -> Result<Vec<u8>, Refusal> {
    if admission.declared_length.is_some() {
        let promise = req.array_buffer().map_err(|_| Refusal::BodyUnreadable)?;
        let buffer = JsFuture::from(promise)
            .await
            .map_err(|_| Refusal::BodyUnreadable)?;
        let body = js_sys::Uint8Array::new(&buffer).to_vec();
        ingest::check_body_size(&config.ingest, body.len())?;
        return Ok(body);
    }
    let mut body = Vec::new();
    // A request without a body has no stream: that is an empty body, which
    // the JSON check then refuses with a clear message.
    let Some(stream) = req.body() else {
        return Ok(body);
    };
    let mut stream = ByteStream::from(stream);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| Refusal::BodyUnreadable)?;
        ingest::check_body_size(&config.ingest, body.len() + chunk.len())?;
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
