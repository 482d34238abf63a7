//! Every error the Worker answers with, mapped to an HTTP status and a JSON
//! body `{"error": "<stable_code>", "message": "...", "field": "..."}` in
//! this one place. Messages never echo secrets or internal error text.
//!
//! Pure: the shell (crates/qase-edge) and the ingest module
//! (crates/qase-edge-ingest) both answer with these, each building its own
//! response from [`ApiError::status`], [`ApiError::body`] and
//! [`ApiError::header`].

use qase_webhooks::{EnvelopeError, PayloadError};
use serde::Serialize;

use crate::access::AccessError;
use crate::api::auth::{Forbidden, Role};
use crate::api::params::ParamError;
use crate::config::ConfigError;
use crate::ingest::Refusal;

/// Seconds a caller should wait before retrying after a `503` (the
/// `Retry-After` value).
const RETRY_AFTER: &str = "5";

/// An error answered to the caller.
#[derive(Debug)]
pub enum ApiError {
    /// No route at this path.
    NotFound,
    /// A console path, but the Worker was deployed without its static
    /// assets (no `QASE_ASSETS` binding).
    ConsoleNotDeployed,
    /// The route exists but not for this method.
    MethodNotAllowed {
        /// The `Allow` header's value.
        allow: String,
    },
    /// The body is larger than the configured limit.
    PayloadTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// Missing or wrong `X-Qase-Secret` (the two are not told apart).
    Unauthorized,
    /// A `Content-Type` that is not JSON.
    UnsupportedMediaType,
    /// The body is not JSON.
    InvalidJson(EnvelopeError),
    /// The body is JSON but not a Qase envelope.
    InvalidEnvelope(EnvelopeError),
    /// A known event whose payload does not fit (policy `reject`).
    InvalidPayload(PayloadError),
    /// An event this version does not know (policy `reject`).
    UnknownEvent {
        /// The event name as sent.
        name: String,
    },
    /// The configuration is broken; the key is named, the value never.
    Misconfigured(ConfigError),
    /// No secret is configured and authentication is not disabled.
    NoSecretConfigured,
    /// A sink write failed: nothing is acknowledged, the caller should retry.
    StorageUnavailable,
    /// A store refused the write for a reason a retry cannot fix: nothing is
    /// acknowledged, and the caller is not told to retry.
    StorageRejected,
    /// The request body could not be read (the client went away, or sent a
    /// broken chunked encoding).
    BodyUnreadable,
    /// A failure of our own; the details go to the log, not to the caller.
    Internal,
    /// Operator API: missing or wrong bearer token.
    BadToken,
    /// `/api` or `/console` behind Cloudflare Access: the assertion is
    /// missing or fails a check (or the team's keys are unavailable).
    AccessDenied(AccessError),
    /// Operator API: the caller's role may not take this route.
    Forbidden(Forbidden),
    /// Operator API: an Access identity that no rule gives a role.
    NoRole,
    /// Operator API: a query parameter or the request body is wrong.
    BadParameter(ParamError),
    /// Operator API: no stored event has this id.
    EventNotFound,
    /// Operator API: no dead letter for this id (and destination).
    DeadLetterNotFound,
    /// Operator API: no destination of this name is configured.
    DestinationNotFound,
    /// Operator API: no event of this run has arrived.
    RunNotFound,
    /// Operator API: a replay names a destination that is not configured.
    UnknownDestination {
        /// The name given.
        name: String,
    },
    /// Operator API: a replay would reach no destination.
    NoDestinations,
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Misconfigured(error) => ApiError::Misconfigured(error),
            Refusal::TooLarge { limit } => ApiError::PayloadTooLarge { limit },
            Refusal::NoSecretConfigured => ApiError::NoSecretConfigured,
            Refusal::Unauthorized => ApiError::Unauthorized,
            Refusal::UnsupportedMediaType => ApiError::UnsupportedMediaType,
            Refusal::BodyUnreadable => ApiError::BodyUnreadable,
            Refusal::InvalidJson(error) => ApiError::InvalidJson(error),
            Refusal::InvalidEnvelope(error) => ApiError::InvalidEnvelope(error),
            Refusal::InvalidPayload(error) => ApiError::InvalidPayload(error),
            Refusal::UnknownEvent { name } => ApiError::UnknownEvent { name },
            Refusal::StorageUnavailable => ApiError::StorageUnavailable,
            Refusal::StorageRejected => ApiError::StorageRejected,
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    /// With `403 forbidden`: the role needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<Role>,
}

impl ApiError {
    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::NotFound
            | ApiError::ConsoleNotDeployed
            | ApiError::EventNotFound
            | ApiError::DeadLetterNotFound
            | ApiError::DestinationNotFound
            | ApiError::RunNotFound => 404,
            ApiError::BadToken => 401,
            ApiError::AccessDenied(AccessError::KeysUnavailable) => 503,
            ApiError::AccessDenied(_) => 401,
            ApiError::Forbidden(_) | ApiError::NoRole => 403,
            ApiError::BadParameter(_) | ApiError::UnknownDestination { .. } => 400,
            ApiError::NoDestinations => 409,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::PayloadTooLarge { .. } => 413,
            ApiError::Unauthorized => 401,
            ApiError::UnsupportedMediaType => 415,
            ApiError::InvalidJson(_) | ApiError::BodyUnreadable => 400,
            ApiError::Internal | ApiError::StorageRejected => 500,
            ApiError::InvalidEnvelope(_)
            | ApiError::InvalidPayload(_)
            | ApiError::UnknownEvent { .. } => 422,
            ApiError::Misconfigured(_)
            | ApiError::NoSecretConfigured
            | ApiError::StorageUnavailable => 503,
        }
    }

    /// The stable code, for machines.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound => "not_found",
            ApiError::ConsoleNotDeployed => "console_not_deployed",
            ApiError::BadToken => "unauthorized",
            ApiError::AccessDenied(AccessError::KeysUnavailable) => "access_keys_unavailable",
            ApiError::AccessDenied(_) => "access_denied",
            ApiError::Forbidden(_) | ApiError::NoRole => "forbidden",
            ApiError::BadParameter(_) => "invalid_parameter",
            ApiError::EventNotFound => "event_not_found",
            ApiError::RunNotFound => "run_not_found",
            ApiError::DeadLetterNotFound => "dead_letter_not_found",
            ApiError::DestinationNotFound => "destination_not_found",
            ApiError::UnknownDestination { .. } => "unknown_destination",
            ApiError::NoDestinations => "no_destinations",
            ApiError::MethodNotAllowed { .. } => "method_not_allowed",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::Unauthorized => "unauthorized",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::InvalidEnvelope(_) => "invalid_envelope",
            ApiError::InvalidPayload(_) => "invalid_payload",
            ApiError::UnknownEvent { .. } => "unknown_event",
            ApiError::Misconfigured(_) => "misconfigured",
            ApiError::NoSecretConfigured => "no_secret_configured",
            ApiError::StorageUnavailable => "storage_unavailable",
            ApiError::StorageRejected => "storage_rejected",
            ApiError::BodyUnreadable => "body_unreadable",
            ApiError::Internal => "internal",
        }
    }

    fn message(&self) -> String {
        match self {
            ApiError::NotFound => "no such route; Qase deliveries go to POST /webhooks/qase".into(),
            ApiError::ConsoleNotDeployed => format!(
                "the console's files are not bound ({}): deploy with the [assets] section of wrangler.toml",
                crate::config::bindings::ASSETS
            ),
            ApiError::BadToken
            | ApiError::AccessDenied(_)
            | ApiError::Forbidden(_)
            | ApiError::NoRole => self.auth_message(),
            ApiError::BadParameter(err) => format!("`{}` {}", err.param, err.problem),
            ApiError::EventNotFound => "no stored event has this id (it may have expired)".into(),
            ApiError::RunNotFound => "no event of this run has arrived (or its row expired)".into(),
            ApiError::DeadLetterNotFound => "no dead letter for this id".into(),
            ApiError::DestinationNotFound => "no destination of this name is configured".into(),
            ApiError::UnknownDestination { name } => {
                format!("`{name}` is not an enabled destination in QASE_DESTINATIONS")
            }
            ApiError::NoDestinations => "no enabled destination matches this event".into(),
            ApiError::MethodNotAllowed { allow } => format!("use {allow} on this route"),
            ApiError::PayloadTooLarge { limit } => {
                format!("the body is larger than the limit of {limit} bytes")
            }
            ApiError::Unauthorized => {
                "missing or wrong X-Qase-Secret header: set it to the secret in Qase's webhook form"
                    .into()
            }
            ApiError::UnsupportedMediaType => {
                "Content-Type must be application/json (or be left out)".into()
            }
            ApiError::InvalidJson(err) | ApiError::InvalidEnvelope(err) => err.to_string(),
            ApiError::InvalidPayload(err) => err.to_string(),
            ApiError::UnknownEvent { name } => {
                format!("unknown event `{name}`: this receiver cannot validate it")
            }
            ApiError::Misconfigured(err) => format!(
                "the receiver is misconfigured ({}); see GET /health",
                err.key
            ),
            ApiError::NoSecretConfigured => format!(
                "no webhook secret is configured: set {} with `wrangler secret put`",
                crate::config::bindings::WEBHOOK_SECRET
            ),
            ApiError::StorageUnavailable => {
                "the delivery could not be stored; nothing was accepted, retry later".into()
            }
            ApiError::StorageRejected => {
                "the store refused this delivery for a reason a retry cannot fix; nothing was stored (see the log)"
                    .into()
            }
            ApiError::BodyUnreadable => "the request body could not be read".into(),
            ApiError::Internal => "internal error; nothing was accepted, retry later".into(),
        }
    }

    /// The messages of the API's sign-in and roles.
    fn auth_message(&self) -> String {
        match self {
            ApiError::BadToken => {
                "missing or wrong `Authorization: Bearer <token>` (QASE_ADMIN_TOKEN or a token of QASE_API_TOKENS)".into()
            }
            ApiError::AccessDenied(error) => error.reason().into(),
            ApiError::Forbidden(refused) if refused.unscoped => {
                "a project-scoped credential may not take this route: it reaches across projects"
                    .into()
            }
            ApiError::Forbidden(refused) => format!(
                "this needs the `{}` role; yours is `{}`",
                refused.needed.as_str(),
                refused.held.as_str()
            ),
            ApiError::NoRole => format!(
                "signed in, but no rule of {} gives you a role",
                crate::config::bindings::ACCESS_ROLES
            ),
            _ => String::new(),
        }
    }

    fn field(&self) -> Option<String> {
        match self {
            ApiError::InvalidEnvelope(err) => err.field().map(str::to_owned),
            ApiError::InvalidPayload(err) => Some(format!("payload.{}", err.field)),
            ApiError::UnknownEvent { .. } => Some("event_name".to_owned()),
            ApiError::BadParameter(err) => Some(err.param.clone()),
            ApiError::UnknownDestination { .. } => Some("destinations".to_owned()),
            _ => None,
        }
    }

    /// The JSON body `{"error", "message", "field"}`.
    pub fn body(&self) -> Vec<u8> {
        let body = ErrorBody {
            error: self.code(),
            message: self.message(),
            field: self.field(),
            role: match self {
                ApiError::Forbidden(refused) => Some(refused.needed),
                ApiError::NoRole => Some(Role::Viewer),
                _ => None,
            },
        };
        serde_json::to_vec(&body).expect("error bodies serialise")
    }

    /// The header the status calls for, if any.
    pub fn header(&self) -> Option<(&'static str, &str)> {
        match self {
            ApiError::MethodNotAllowed { allow } => Some(("Allow", allow)),
            ApiError::BadToken => Some(("WWW-Authenticate", "Bearer")),
            ApiError::Misconfigured(_)
            | ApiError::NoSecretConfigured
            | ApiError::StorageUnavailable
            | ApiError::AccessDenied(AccessError::KeysUnavailable) => {
                Some(("Retry-After", RETRY_AFTER))
            }
            _ => None,
        }
    }
}
