//! `GET /health`: version, configured sinks and configuration status, never
//! a secret. Always `200` so that a broken configuration can be read here.

use serde::Serialize;
use worker::{Env, Headers, Response};

use crate::config::{AuthMode, ConfigError};
use crate::error::{json_response, ApiError};
use crate::{bindings, settings};

#[derive(Serialize)]
struct Health<'a> {
    status: &'static str,
    version: &'static str,
    auth: Option<AuthMode>,
    secrets_configured: usize,
    sinks: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    config_error: Option<&'a ConfigError>,
}

/// Answers the health check.
pub fn handle(env: &Env) -> Result<Response, ApiError> {
    let config = settings::load(env);
    let mut sinks = Vec::new();
    if env.kv(bindings::EVENTS_KV).is_ok() {
        sinks.push("kv");
    }
    let health = match config {
        Ok(config) => Health {
            status: if config.auth == AuthMode::Required && config.secrets.is_empty() {
                "no_secret_configured"
            } else {
                "ok"
            },
            version: env!("CARGO_PKG_VERSION"),
            auth: Some(config.auth),
            secrets_configured: config.secrets.secret_count(),
            sinks,
            config_error: None,
        },
        Err(error) => Health {
            status: "misconfigured",
            version: env!("CARGO_PKG_VERSION"),
            auth: None,
            secrets_configured: 0,
            sinks,
            config_error: Some(error),
        },
    };
    Ok(json_response(&health, 200, Headers::new())?)
}
