//! `GET /health`: version, sinks and configuration status, never a secret.
//! Always `200`, so that a broken configuration can be read here.

use serde::Serialize;
use worker::web_sys::Response;
use worker::Env;

use crate::api::destinations;
use crate::config;
use crate::http::error::{ApiError, OrInternal};
use crate::http::respond;
use crate::ingest;
use crate::store::sweep;
use engine::alerts::disabled::{self, WebhookView};
use engine::alerts::watch::{self, WatchView};
use engine::config::{Config, ConfigError, ConfigProblem};
use engine::delivery::breaker::Phase;
use engine::ingest::settings::{AuthMode, PayloadPolicy};
use engine::runs::reconcile::{self, ReconcileHealth};
use engine::store::settings::Sink;

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
    /// Each destination's breaker state (issue #19; `null`: its object
    /// could not be reached).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    destinations: Vec<DestinationState>,
    /// The watched projects (`QASE_WATCH`) and their last delivery.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    watch: Vec<WatchView>,
    /// The reconcile pass (issue #29): on or off, and for which projects.
    #[serde(skip_serializing_if = "Option::is_none")]
    reconcile: Option<ReconcileHealth>,
    /// Each reconciled project's webhook: clear or suspected disabled (issue #29).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    webhooks: Vec<WebhookView>,
}

#[derive(Serialize)]
struct DestinationState {
    name: String,
    state: Option<Phase>,
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
pub async fn handle(env: &Env) -> Result<Response, ApiError> {
    let (destinations, watch) = match config::load(env) {
        Ok(config) => guard(env, config).await,
        Err(_) => (Vec::new(), Vec::new()),
    };
    let webhooks = match config::load(env) {
        Ok(config) => webhook_views(env, config).await,
        Err(_) => Vec::new(),
    };
    let (status, config, config_error, config_problems) = match config::load(env) {
        Ok(config) => {
            let status =
                if config.ingest.auth == AuthMode::Required && config.ingest.secrets.is_empty() {
                    "no_secret_configured"
                } else if !config.problems.is_empty() {
                    // Deliveries are accepted and stored, but a feature is off.
                    "degraded"
                } else {
                    "ok"
                };
            let summary = ConfigSummary {
                auth: config.ingest.auth,
                secrets_configured: config.ingest.secrets.secret_count(),
                sinks: &config.store.sinks,
                routes: config.ingest.routes.rules().len(),
                payload_policy: config.ingest.payload_policy,
                dedupe_seconds: config.ingest.dedupe_seconds,
                max_body_bytes: config.ingest.max_body_bytes,
            };
            (status, Some(summary), None, config.problems.as_slice())
        }
        Err(error) => ("misconfigured", None, Some(error), [].as_slice()),
    };
    let health = Health {
        status,
        version: env!("CARGO_PKG_VERSION"),
        commit: env!("QASE_EDGE_GIT_COMMIT"),
        bound_sinks: config::bound_sinks(env),
        config,
        config_error,
        config_problems,
        ignored_since_start: ingest::ignored_since_start(),
        destinations,
        watch,
        reconcile: config::load(env).as_ref().ok().and_then(reconcile::health),
        webhooks,
    };
    respond::json(&health, 200).or_internal()
}

/// The destinations' breaker states and the watched projects; what cannot
/// be read is left out (a breaker as `null`), never an error: health
/// always answers.
async fn guard(env: &Env, config: &Config) -> (Vec<DestinationState>, Vec<WatchView>) {
    let destinations = if config.delivery.breaker.enabled() {
        destinations::breakers(env, config)
            .await
            .into_iter()
            .zip(&config.delivery.destinations)
            .map(|(facts, d)| DestinationState {
                name: d.name.clone(),
                state: facts.and_then(|f| f.state),
            })
            .collect()
    } else {
        Vec::new()
    };
    (destinations, watch_views(env, config).await)
}

/// Each watched project's view (none when they cannot be read).
pub async fn watch_views(env: &Env, config: &Config) -> Vec<WatchView> {
    if config.alerts.watch.is_empty() {
        Vec::new()
    } else {
        let (rows, last) = sweep::watch_facts(env, config).await.unwrap_or_default();
        let now = worker::Date::now().as_millis();
        config
            .alerts
            .watch
            .iter()
            .map(|w| {
                let stored = rows.iter().find(|r| r.project_code == w.project);
                let at = last
                    .iter()
                    .find(|l| l.project_code == w.project)
                    .and_then(|l| l.at);
                watch::view(w, stored, at, now)
            })
            .collect()
    }
}

/// Each checked project's webhook (none without D1, or when they cannot
/// be read).
async fn webhook_views(env: &Env, config: &Config) -> Vec<WebhookView> {
    let subjects = disabled::subjects(config);
    if subjects.is_empty() || !config.store.has_sink(Sink::D1) {
        return Vec::new();
    }
    let (rows, last) = sweep::webhook_facts(env, config).await.unwrap_or_default();
    let rules = disabled::Rules::of(config);
    subjects
        .iter()
        .map(|subject| {
            let stored = rows.iter().find(|r| r.project_code == subject.project);
            let at = last
                .iter()
                .find(|l| l.project_code == subject.project)
                .and_then(|l| l.at);
            disabled::view(subject, stored, at, &rules)
        })
        .collect()
}
