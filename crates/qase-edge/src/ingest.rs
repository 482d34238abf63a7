//! `POST /webhooks/qase`: authenticate, validate and durably store one Qase
//! delivery, and only then answer `202`.
//!
//! Checks run cheapest and least revealing first: configuration, declared
//! size, secret, content type, then the body (read with a byte count, since
//! a body may come without `Content-Length`), JSON and envelope.

use futures_util::StreamExt;
use qase_webhooks::{AdmitError, VerifiedDelivery};
use serde::Serialize;
use worker::{Date, Env, Headers, Request, Response};

use crate::bindings;
use crate::config::Config;
use crate::error::{json_response, ApiError};
use crate::log::DeliveryLog;
use crate::settings;

/// The header Qase puts its shared secret in.
pub const SECRET_HEADER: &str = "X-Qase-Secret";

/// Prefix of the KV key holding a delivery's raw bytes: `event/{id}`.
pub const EVENT_KEY_PREFIX: &str = "event/";

/// The `202` body.
#[derive(Serialize)]
struct Accepted<'a> {
    id: String,
    event_name: &'a str,
    project_code: &'a str,
    status: &'static str,
    duplicate: bool,
}

/// What a stored delivery's KV metadata records, so listings need no value reads.
#[derive(Serialize)]
struct StoredMetadata<'a> {
    event_name: &'a str,
    project_code: &'a str,
    received_at: u64,
}

/// Handles one delivery and writes its log line, whatever the outcome.
pub async fn handle(req: Request, env: &Env) -> Result<Response, ApiError> {
    let started = Date::now().as_millis();
    let mut log = DeliveryLog {
        event: "delivery",
        ..DeliveryLog::default()
    };
    let result = accept(req, env, &mut log, started).await;
    log.duration_ms = Date::now().as_millis().saturating_sub(started);
    match &result {
        Ok(response) => {
            log.outcome = "accepted";
            log.status = response.status_code();
        }
        Err(error) => {
            log.outcome = error.code();
            log.status = error.status();
        }
    }
    log.emit();
    result
}

async fn accept(
    mut req: Request,
    env: &Env,
    log: &mut DeliveryLog,
    received_at: u64,
) -> Result<Response, ApiError> {
    let config = settings::load(env)
        .as_ref()
        .map_err(|error| ApiError::Misconfigured(error.clone()))?;

    if declared_length(&req).is_some_and(|length| length > config.max_body_bytes as u64) {
        return Err(ApiError::PayloadTooLarge {
            limit: config.max_body_bytes,
        });
    }

    if config.secrets.is_empty() {
        return Err(ApiError::NoSecretConfigured);
    }
    let presented = req.headers().get(SECRET_HEADER)?;
    let credential = config
        .secrets
        .authenticate(presented.as_deref().map(str::as_bytes))
        .map_err(|_| ApiError::Unauthorized)?;
    if !credential.is_authenticated() {
        log.unauthenticated = true;
        worker::console_warn!(
            "{} is `disabled`: this delivery was accepted WITHOUT checking its secret",
            bindings::AUTH
        );
    }

    if !is_json_content_type(req.headers().get("Content-Type")?.as_deref()) {
        return Err(ApiError::UnsupportedMediaType);
    }

    let body = read_body(&mut req, config).await?;
    let delivery = credential.admit(&body).map_err(|error| match error {
        AdmitError::Envelope(error) if error.is_syntax() => ApiError::InvalidJson(error),
        AdmitError::Envelope(error) => ApiError::InvalidEnvelope(error),
        AdmitError::Unauthorized(_) => ApiError::Unauthorized,
    })?;
    let envelope = delivery.envelope();
    log.id = Some(delivery.id().to_string());
    log.event_name = Some(envelope.event_name.to_string());
    log.project_code = Some(envelope.project_code.clone());

    store(env, &delivery, received_at).await?;

    let accepted = Accepted {
        id: delivery.id().to_string(),
        event_name: envelope.event_name.as_str(),
        project_code: &envelope.project_code,
        status: "accepted",
        duplicate: false,
    };
    Ok(json_response(&accepted, 202, Headers::new())?)
}

/// Writes the raw bytes to KV. Any failure means nothing is acknowledged.
async fn store(
    env: &Env,
    delivery: &VerifiedDelivery<'_>,
    received_at: u64,
) -> Result<(), ApiError> {
    let envelope = delivery.envelope();
    let metadata = StoredMetadata {
        event_name: envelope.event_name.as_str(),
        project_code: &envelope.project_code,
        received_at,
    };
    let key = format!("{EVENT_KEY_PREFIX}{}", delivery.id());
    put_event(env, &key, delivery.body(), metadata)
        .await
        .map_err(|error| {
            worker::console_error!("KV write of {key} failed: {error}");
            ApiError::StorageUnavailable
        })
}

async fn put_event(
    env: &Env,
    key: &str,
    body: &[u8],
    metadata: StoredMetadata<'_>,
) -> worker::Result<()> {
    env.kv(bindings::EVENTS_KV)?
        .put_bytes(key, body)?
        .metadata(metadata)?
        .execute()
        .await?;
    Ok(())
}

fn declared_length(req: &Request) -> Option<u64> {
    req.headers()
        .get("Content-Length")
        .ok()
        .flatten()
        .and_then(|value| value.trim().parse().ok())
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
async fn read_body(req: &mut Request, config: &Config) -> Result<Vec<u8>, ApiError> {
    let mut stream = req.stream().map_err(|_| ApiError::BodyUnreadable)?;
    let mut body = Vec::new();
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
