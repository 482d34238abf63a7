//! A Qase webhook receiver on axum: the core crate outside a Worker.
//!
//! `POST /webhooks/qase` answers as qase-edge's Worker does with
//! `QASE_PAYLOAD_POLICY=reject`, with the same statuses and the same JSON
//! error body `{"error": "<code>", "message": "...", "field": "..."}`:
//!
//! | status | `error`                   | when                                          |
//! |--------|---------------------------|-----------------------------------------------|
//! | 202    | (`"status": "accepted"`)  | authenticated, valid, payload fits its event  |
//! | 401    | `unauthorized`            | `X-Qase-Secret` missing or wrong              |
//! | 413    | `payload_too_large`       | body over [`MAX_BODY_BYTES`]                  |
//! | 415    | `unsupported_media_type`  | a `Content-Type` that is not JSON             |
//! | 400    | `invalid_json`            | the body is not JSON                          |
//! | 400    | `body_unreadable`         | the client went away mid-body                 |
//! | 422    | `invalid_envelope`        | JSON, but not a Qase envelope                 |
//! | 422    | `invalid_payload`         | a known event whose payload does not fit      |
//! | 422    | `unknown_event`           | an event this version of the crate cannot type|
//!
//! The checks run in the Worker's order, cheapest and least revealing first:
//! declared size, secret (before the body is read), content type, body,
//! envelope, payload. What the Worker then does with an accepted delivery
//! (store it in KV, queue it) is [`accept`] here: it prints one line; put your
//! own storage there, and store the exact bytes (`delivery.body()`).
//!
//! Run it, then fire a generated event at it with the workspace's CLI:
//!
//! ```text
//! QASE_WEBHOOK_SECRET=local-demo-secret cargo run -p qase-webhooks --example axum
//! cargo run -p qase-hook -- send run.completed \
//!     --url http://127.0.0.1:3000/webhooks/qase --secret local-demo-secret
//! ```
//!
//! `QASE_WEBHOOK_SECRET_NEXT` adds a second secret (for rotation) and
//! `QASE_ADDR` changes the address (default `127.0.0.1:3000`).
//! `tests/axum_example.rs` serves [`app`] on an ephemeral port and sends it
//! every generated event, the crate's fixtures and the near misses.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use futures_util::StreamExt;
use qase_webhooks::{AdmitError, EnvelopeError, Event, PayloadError, Secret, SecretPolicy};
use serde::Serialize;

/// Where Qase posts, as in the Worker.
pub const INGEST_PATH: &str = "/webhooks/qase";
/// The header Qase puts its shared secret in.
pub const SECRET_HEADER: &str = "X-Qase-Secret";
/// The largest body accepted: the Worker's default `QASE_MAX_BODY_BYTES`.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The router: `POST /webhooks/qase`, accepting the secrets in `policy`.
pub fn app(policy: SecretPolicy) -> Router {
    Router::new()
        .route(INGEST_PATH, post(ingest))
        .with_state(Arc::new(policy))
}

/// The `202` body, field for field the Worker's.
#[derive(Serialize)]
struct Accepted {
    id: String,
    event_name: String,
    project_code: String,
    status: &'static str,
    duplicate: bool,
}

/// Every refusal, mapped to a status, a stable code and a message in one
/// place (the subset of the Worker's `ApiError` that ingest can answer).
/// Messages never echo the secret.
#[derive(Debug)]
enum Refusal {
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
    BodyUnreadable,
    InvalidJson(EnvelopeError),
    InvalidEnvelope(EnvelopeError),
    InvalidPayload(PayloadError),
    UnknownEvent { name: String },
}

#[derive(Serialize)]
struct ErrorBody {
    error: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
}

impl Refusal {
    fn status(&self) -> StatusCode {
        match self {
            Refusal::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::Unauthorized => StatusCode::UNAUTHORIZED,
            Refusal::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Refusal::BodyUnreadable | Refusal::InvalidJson(_) => StatusCode::BAD_REQUEST,
            Refusal::InvalidEnvelope(_)
            | Refusal::InvalidPayload(_)
            | Refusal::UnknownEvent { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Refusal::PayloadTooLarge => "payload_too_large",
            Refusal::Unauthorized => "unauthorized",
            Refusal::UnsupportedMediaType => "unsupported_media_type",
            Refusal::BodyUnreadable => "body_unreadable",
            Refusal::InvalidJson(_) => "invalid_json",
            Refusal::InvalidEnvelope(_) => "invalid_envelope",
            Refusal::InvalidPayload(_) => "invalid_payload",
            Refusal::UnknownEvent { .. } => "unknown_event",
        }
    }

    fn message(&self) -> String {
        match self {
            Refusal::PayloadTooLarge => {
                format!("the body is larger than the limit of {MAX_BODY_BYTES} bytes")
            }
            Refusal::Unauthorized => {
                "missing or wrong X-Qase-Secret header: set it to the secret in Qase's webhook form"
                    .into()
            }
            Refusal::UnsupportedMediaType => {
                "Content-Type must be application/json (or be left out)".into()
            }
            Refusal::BodyUnreadable => "the request body could not be read".into(),
            Refusal::InvalidJson(error) | Refusal::InvalidEnvelope(error) => error.to_string(),
            Refusal::InvalidPayload(error) => error.to_string(),
            Refusal::UnknownEvent { name } => {
                format!("unknown event `{name}`: this receiver cannot validate it")
            }
        }
    }

    fn field(&self) -> Option<String> {
        match self {
            Refusal::InvalidEnvelope(error) => error.field().map(str::to_owned),
            Refusal::InvalidPayload(error) => Some(format!("payload.{}", error.field)),
            Refusal::UnknownEvent { .. } => Some("event_name".to_owned()),
            _ => None,
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code(),
            message: self.message(),
            field: self.field(),
        };
        (self.status(), Json(body)).into_response()
    }
}

/// `POST /webhooks/qase`.
async fn ingest(
    State(policy): State<Arc<SecretPolicy>>,
    request: Request,
) -> Result<(StatusCode, Json<Accepted>), Refusal> {
    let (parts, body) = request.into_parts();
    let headers = &parts.headers;

    let declared = header(headers, CONTENT_LENGTH.as_str())
        .and_then(|value| std::str::from_utf8(value).ok()?.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(Refusal::PayloadTooLarge);
    }

    // 1. Authenticate, before the body is read. `authenticate` ignores the
    // spaces and tabs around the value (RFC 9110 optional whitespace).
    let credential = policy
        .authenticate(header(headers, SECRET_HEADER))
        .map_err(|_| Refusal::Unauthorized)?;

    if !is_json_content_type(header(headers, CONTENT_TYPE.as_str())) {
        return Err(Refusal::UnsupportedMediaType);
    }
    let body = read_body(body).await?;

    // 2. Admit: a strict envelope, per-project secrets, the event id.
    let delivery = credential.admit(&body).map_err(|error| match error {
        AdmitError::Envelope(error) if error.is_syntax() => Refusal::InvalidJson(error),
        AdmitError::Envelope(error) => Refusal::InvalidEnvelope(error),
        AdmitError::Unauthorized(_) => Refusal::Unauthorized,
    })?;

    // 3. Type the payload by its event name.
    let event = match delivery.envelope().event() {
        Ok(Event::Unknown { name, .. }) => return Err(Refusal::UnknownEvent { name }),
        Ok(event) => event,
        Err(error) => return Err(Refusal::InvalidPayload(error)),
    };
    accept(&delivery, &event);

    let envelope = delivery.envelope();
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            id: delivery.id().to_string(),
            event_name: envelope.event_name.to_string(),
            project_code: envelope.project_code.clone(),
            status: "accepted",
            duplicate: false,
        }),
    ))
}

/// What to do with an accepted delivery: store or forward `delivery.body()`
/// (the exact bytes Qase sent) before answering `202`. Here: one log line.
fn accept(delivery: &qase_webhooks::VerifiedDelivery<'_>, event: &Event) {
    let envelope = delivery.envelope();
    let detail = match event {
        Event::RunCompleted(run) => format!(
            " (run {}: {} passed, {} failed)",
            run.id, run.passed, run.failed
        ),
        _ => String::new(),
    };
    println!(
        "{} {} {}{detail}",
        delivery.id(),
        envelope.project_code,
        envelope.event_name
    );
}

/// A header's value as sent; `None` when absent.
fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h [u8]> {
    headers.get(name).map(|value| value.as_bytes())
}

/// Qase does not document its `Content-Type`, so a missing one is accepted;
/// a present one must be a JSON media type.
fn is_json_content_type(value: Option<&[u8]>) -> bool {
    let Some(value) = value else { return true };
    let Ok(value) = std::str::from_utf8(value) else {
        return false;
    };
    let media_type = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    media_type == "application/json" || media_type.ends_with("+json")
}

/// Reads the body, refusing it as soon as it passes the limit. Counted
/// chunk by chunk, as in the Worker: a chunked body declares no length.
async fn read_body(body: Body) -> Result<Vec<u8>, Refusal> {
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| Refusal::BodyUnreadable)?;
        if bytes.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(Refusal::PayloadTooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// The secrets from `QASE_WEBHOOK_SECRET` and `QASE_WEBHOOK_SECRET_NEXT`,
/// used as given (as the Worker does).
fn policy_from_env() -> Result<SecretPolicy, String> {
    let mut secrets = Vec::new();
    for key in ["QASE_WEBHOOK_SECRET", "QASE_WEBHOOK_SECRET_NEXT"] {
        if let Some(value) = std::env::var_os(key).filter(|value| !value.is_empty()) {
            let value = value
                .into_string()
                .map_err(|_| format!("{key} is not UTF-8"))?;
            secrets.push(Secret::new(value).map_err(|error| format!("{key}: {error}"))?);
        }
    }
    if secrets.is_empty() {
        return Err("set QASE_WEBHOOK_SECRET to the secret in Qase's webhook form".into());
    }
    Ok(SecretPolicy::new(secrets))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let policy = policy_from_env()?;
    let addr = std::env::var("QASE_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!(
        "listening on http://{}{INGEST_PATH}",
        listener.local_addr()?
    );
    axum::serve(listener, app(policy)).await?;
    Ok(())
}
