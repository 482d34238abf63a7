//! `GET /metrics` (issue #32): reads what [`engine::metrics`] needs (its
//! D1 aggregates, each destination's breaker, the watched projects) and
//! answers the engine's Prometheus text. Authorised by the admin token or
//! the read-only `QASE_METRICS_TOKEN`; without either configured the path
//! answers `404`, as `/api` does.

use serde::de::DeserializeOwned;
use worker::web_sys::Response;
use worker::{Env, Request};

use crate::api::destinations;
use crate::config;
use crate::http::error::{ApiError, OrInternal};
use crate::http::{health, respond};
use crate::store::db;
use engine::api::params;
use engine::config::Config;
use engine::metrics::aggregate;
use engine::metrics::exposition::CONTENT_TYPE;
use engine::metrics::families::Figures;
use engine::store::d1::Statement;

/// Answers `GET /metrics`.
pub async fn handle(req: Request, env: &Env) -> Result<Response, ApiError> {
    let config = config::load(env)
        .as_ref()
        .map_err(|error| ApiError::Misconfigured(error.clone()))?;
    if !config.api.metrics_enabled() {
        return Err(ApiError::NotFound);
    }
    let presented = req.headers().get("Authorization").or_internal()?;
    if !presented
        .as_deref()
        .and_then(params::bearer_token)
        .is_some_and(|token| config.api.may_read_metrics(token))
    {
        return Err(ApiError::BadToken);
    }
    let figures = figures(env, config).await?;
    let text = engine::metrics::scrape(config, &figures).map_err(|error| {
        worker::console_error!("metrics not rendered: {error}");
        ApiError::Internal
    })?;
    respond::text(text.into_bytes(), CONTENT_TYPE, 200).or_internal()
}

/// Everything one scrape reads: four D1 aggregates, the watchdog's rows,
/// and one status request per destination's breaker.
async fn figures(env: &Env, config: &Config) -> Result<Figures, ApiError> {
    let database = db::database(env).or_internal()?;
    Ok(Figures {
        events: read(&database, &aggregate::event_counts()).await?,
        deliveries: read(&database, &aggregate::delivery_counts()).await?,
        runs: read(&database, &aggregate::run_counts()).await?,
        last_runs: read(&database, &aggregate::last_completed_runs()).await?,
        breakers: destinations::breakers(env, config).await,
        watch: health::watch_views(env, config).await,
    })
}

async fn read<T: DeserializeOwned>(
    database: &worker::d1::D1Database,
    statement: &Statement,
) -> Result<Vec<T>, ApiError> {
    db::rows(database, statement).await.map_err(|error| {
        worker::console_error!("D1 query failed: {error}");
        ApiError::StorageUnavailable
    })
}
