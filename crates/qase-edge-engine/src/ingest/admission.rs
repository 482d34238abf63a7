//! Steps 1 and 2: the checks before the body (configuration, declared
//! size, secret, content type), the size limit while it is read, and its
//! admission through the envelope and the per-project secrets.

use qase_webhooks::{AdmitError, Credential, VerifiedDelivery};

use super::answer::Refusal;
use crate::config::{Config, ConfigError};
use crate::ingest::settings::IngestSettings;

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
