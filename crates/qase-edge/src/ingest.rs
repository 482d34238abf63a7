//! `POST /webhooks/qase`: authenticate, validate and durably store one Qase
//! delivery, and only then answer `202`.
//!
//! Checks run cheapest and least revealing first: configuration, declared
//! size, secret, content type, then the body (read with a byte count, since
//! a body may come without `Content-Length`), JSON and envelope. Then:
//! duplicates (`200`), the payload model (quarantine or `422`), routing
//! (`202 ignored`), and the sink writes, all of which must succeed before
//! `202 accepted`; any failed write is `503` with `Retry-After`.

use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::future::join;
use futures_util::StreamExt;
use qase_webhooks::{AdmitError, Event, VerifiedDelivery};
use serde::Serialize;
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::{Headers, Request, Response};
use worker::{js_sys, ByteStream, Env};

use crate::config::{Config, PayloadPolicy, Sink};
use crate::error::ApiError;
use crate::log::DeliveryLog;
use crate::messages::INLINE_BODY_LIMIT;
use crate::store_failure::StoreFailure;
use crate::{bindings, respond, settings, sinks};

/// The header Qase puts its shared secret in.
pub const SECRET_HEADER: &str = "X-Qase-Secret";

/// Deliveries no routing rule matched since this isolate started. A Worker
/// has no shared memory across isolates: the durable count is the log
/// (`"outcome":"ignored"`), this is a local hint shown by `GET /health`.
pub static IGNORED: AtomicU64 = AtomicU64::new(0);

/// The success body.
#[derive(Serialize)]
struct Outcome<'a> {
    id: String,
    event_name: &'a str,
    project_code: &'a str,
    status: &'static str,
    duplicate: bool,
}

/// Handles one delivery and writes its log line, whatever the outcome.
pub async fn handle(req: Request, env: &Env) -> Result<Response, ApiError> {
    let started = now_millis();
    let mut log = DeliveryLog {
        event: "delivery",
        ..DeliveryLog::default()
    };
    let result = accept(req, env, &mut log, started).await;
    log.duration_ms = now_millis().saturating_sub(started);
    match &result {
        Ok(response) => log.status = response.status(),
        Err(error) => {
            log.outcome = error.code();
            log.status = error.status();
        }
    }
    log.emit();
    result
}

async fn accept(
    req: Request,
    env: &Env,
    log: &mut DeliveryLog,
    received_at: u64,
) -> Result<Response, ApiError> {
    let config = settings::load(env)
        .as_ref()
        .map_err(|error| ApiError::Misconfigured(error.clone()))?;

    let headers = req.headers();
    let declared = header(&headers, "Content-Length")?.and_then(|value| value.trim().parse().ok());
    if declared.is_some_and(|length| length > config.max_body_bytes as u64) {
        return Err(ApiError::PayloadTooLarge {
            limit: config.max_body_bytes,
        });
    }

    if config.secrets.is_empty() {
        return Err(ApiError::NoSecretConfigured);
    }
    let presented = header(&headers, SECRET_HEADER)?;
    let credential = config
        .secrets
        .authenticate(presented.as_deref().map(str::as_bytes))
        .map_err(|_| ApiError::Unauthorized)?;
    if !credential.is_authenticated() {
        log.unauthenticated = true;
        worker::console_warn!(
            "{} is `disabled`: this request is let in without checking its secret",
            bindings::AUTH
        );
    }

    if !is_json_content_type(header(&headers, "Content-Type")?.as_deref()) {
        return Err(ApiError::UnsupportedMediaType);
    }

    let body = read_body(&req, config, declared).await?;
    let delivery = credential.admit(&body).map_err(|error| match error {
        AdmitError::Envelope(error) if error.is_syntax() => ApiError::InvalidJson(error),
        AdmitError::Envelope(error) => ApiError::InvalidEnvelope(error),
        AdmitError::Unauthorized(_) => ApiError::Unauthorized,
    })?;
    let envelope = delivery.envelope();
    log.id = Some(delivery.id().to_string());
    log.event_name = Some(envelope.event_name.to_string());
    log.project_code = Some(envelope.project_code.clone());

    let respond = |status: &'static str, http_status: u16, log: &mut DeliveryLog| {
        log.outcome = status;
        let outcome = Outcome {
            id: delivery.id().to_string(),
            event_name: envelope.event_name.as_str(),
            project_code: &envelope.project_code,
            status,
            duplicate: status == "duplicate",
        };
        Ok(respond::json(&outcome, http_status)?)
    };

    if config.dedupe_seconds.is_some()
        && sinks::was_seen(env, delivery.id())
            .await
            .map_err(unavailable)?
    {
        return respond("duplicate", 200, log);
    }

    if let Err(problem) = check_payload(&delivery) {
        if config.payload_policy == PayloadPolicy::Reject {
            return Err(problem);
        }
        let reason = problem.reason();
        // The log names where and what kind of mismatch, never a value
        // from the payload (SECURITY.md); the stored record has the detail.
        let (field, kind) = match &problem {
            ApiError::InvalidPayload(error) => (error.field.as_str(), error.kind()),
            _ => ("event_name", "unknown event"),
        };
        worker::console_warn!(
            "{}",
            serde_json::json!({"event": "quarantine", "id": delivery.id(), "field": field, "kind": kind})
        );
        sinks::store(
            env,
            &delivery,
            received_at,
            Some(&reason),
            config.retention_seconds,
        )
        .await
        .map_err(unavailable)?;
        mark_seen(env, config, &delivery).await;
        return respond("quarantined", 202, log);
    }

    let targets = config
        .routes
        .targets(envelope.event_name.as_str(), &envelope.project_code);
    if targets.is_empty() {
        IGNORED.fetch_add(1, Ordering::Relaxed);
        return respond("ignored", 202, log);
    }

    let to_queue = targets.contains(Sink::Queue.name());
    // A body too large for a queue message is read from KV by the consumer,
    // so it is stored there even when the routes do not ask for KV.
    let too_large_for_queue = delivery.body().len() > INLINE_BODY_LIMIT;
    let to_kv = targets.contains(Sink::Kv.name())
        || (to_queue && too_large_for_queue && config.has_sink(Sink::Kv));
    let kv_write = async {
        match to_kv {
            true => sinks::store(env, &delivery, received_at, None, config.retention_seconds).await,
            false => Ok(()),
        }
    };
    let queue_write = async {
        match to_queue {
            true => sinks::send_to_queue(env, &delivery, received_at, to_kv).await,
            false => Ok(()),
        }
    };
    // Both writes run at once; the delivery is acknowledged only if both succeeded.
    let (kv_result, queue_result) = join(kv_write, queue_write).await;
    kv_result.map_err(unavailable)?;
    queue_result.map_err(unavailable)?;

    mark_seen(env, config, &delivery).await;
    respond("accepted", 202, log)
}

/// A payload that does not fit its event's model, or an unknown event.
fn check_payload(delivery: &VerifiedDelivery<'_>) -> Result<(), ApiError> {
    match delivery.envelope().event() {
        Ok(Event::Unknown { name, .. }) => Err(ApiError::UnknownEvent { name }),
        Ok(_) => Ok(()),
        Err(error) => Err(ApiError::InvalidPayload(error)),
    }
}

/// Records the delivery as seen. It is already stored, so a failure here
/// only weakens duplicate detection: it is logged, not answered with `503`.
async fn mark_seen(env: &Env, config: &Config, delivery: &VerifiedDelivery<'_>) {
    if let Some(window) = config.dedupe_seconds {
        if let Err(error) = sinks::mark_seen(env, delivery.id(), window).await {
            worker::console_warn!(
                "duplicate marker for {} not written: {error}",
                delivery.id()
            );
        }
    }
}

/// A failed write: `503` and "retry" when a retry may succeed, `500`
/// without it when the store refused this write itself.
fn unavailable(error: worker::Error) -> ApiError {
    let message = error.to_string();
    worker::console_error!("sink write failed: {message}");
    match StoreFailure::classify(&message) {
        StoreFailure::Transient => ApiError::StorageUnavailable,
        StoreFailure::Permanent => ApiError::StorageRejected,
    }
}

/// Milliseconds since the epoch. `Date.now()` directly: `worker::Date`
/// would create a `Date` object to read it.
fn now_millis() -> u64 {
    js_sys::Date::now() as u64
}

fn header(headers: &Headers, name: &str) -> Result<Option<String>, ApiError> {
    Ok(headers.get(name).map_err(worker::Error::from)?)
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

/// Reads the body, refusing it as soon as it passes the limit.
///
/// With a `Content-Length` within the limit (what Qase sends), the body is
/// read in one call and copied across the JavaScript/Wasm boundary once; the
/// runtime guarantees the body matches its declared length. Without one
/// (chunked), it is streamed and counted chunk by chunk.
async fn read_body(
    req: &Request,
    config: &Config,
    declared: Option<u64>,
) -> Result<Vec<u8>, ApiError> {
    if declared.is_some() {
        let promise = req.array_buffer().map_err(|_| ApiError::BodyUnreadable)?;
        let buffer = JsFuture::from(promise)
            .await
            .map_err(|_| ApiError::BodyUnreadable)?;
        let body = js_sys::Uint8Array::new(&buffer).to_vec();
        if body.len() > config.max_body_bytes {
            return Err(ApiError::PayloadTooLarge {
                limit: config.max_body_bytes,
            });
        }
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
        let chunk = chunk.map_err(|_| ApiError::BodyUnreadable)?;
        if body.len() + chunk.len() > config.max_body_bytes {
            return Err(ApiError::PayloadTooLarge {
                limit: config.max_body_bytes,
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
