//! `GET /health`: version, sinks and configuration status, never a secret.
//! Always `200`, so that a broken configuration can be read here.

use std::sync::atomic::Ordering;

use serde::Serialize;
use worker::web_sys::Response;
use worker::Env;

use crate::engine::config::{AuthMode, ConfigError, ConfigProblem, PayloadPolicy, Sink};
use crate::shell::error::ApiError;
use crate::shell::respond;
use crate::shell::{ingest, settings};

#[derive(Serialize)]
struct Health<'a> {
    status: &'static str,
    version: &'static str,
    /// The git commit the Worker was built from (`-dirty` with local
    /// changes); `qase-hook --version` names the same.
    commit: &'static str,
    /// Sinks whose bindings exist.
    bound_sinks: Vec<Sink>,
    #[serde(flatten)]
    config: Option<ConfigSummary<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    config_error: Option<&'a ConfigError>,
    /// Optional settings that are broken, and what each turned off.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    config_problems: &'a [ConfigProblem],
    /// Deliveries no route matched, in this isolate since it started.
    ignored_since_start: u64,
}

#[derive(Serialize)]
struct ConfigSummary<'a> {
    auth: AuthMode,
    secrets_configured: usize,
    sinks: &'a [Sink],
    routes: usize,
    payload_policy: PayloadPolicy,
    dedupe_seconds: Option<u64>,
    max_body_bytes: usize,
}

/// Answers the health check.
pub fn handle(env: &Env) -> Result<Response, ApiError> {
    let (status, config, config_error, config_problems) = match settings::load(env) {
        Ok(config) => {
            let status = if config.auth == AuthMode::Required && config.secrets.is_empty() {
                "no_secret_configured"
            } else if !config.problems.is_empty() {
                // Deliveries are accepted and stored, but a feature is off.
                "degraded"
            } else {
                "ok"
            };
            let summary = ConfigSummary {
                auth: config.auth,
                secrets_configured: config.secrets.secret_count(),
                sinks: &config.sinks,
                routes: config.routes.rules().len(),
                payload_policy: config.payload_policy,
                dedupe_seconds: config.dedupe_seconds,
                max_body_bytes: config.max_body_bytes,
            };
            (status, Some(summary), None, config.problems.as_slice())
        }
        Err(error) => ("misconfigured", None, Some(error), [].as_slice()),
    };
    let health = Health {
        status,
        version: env!("CARGO_PKG_VERSION"),
        commit: env!("QASE_EDGE_GIT_COMMIT"),
        bound_sinks: settings::bound_sinks(env),
        config,
        config_error,
        config_problems,
        ignored_since_start: ingest::IGNORED.load(Ordering::Relaxed),
    };
    Ok(respond::json(&health, 200)?)
}
