//! The operator API of issue #19: `GET /api/destinations` (each
//! destination's breaker and last 24 hours), `POST
//! /api/destinations/{name}/pause` and `/resume` (an operator forces the
//! breaker). The view is [`engine::api::destinations`]'s.

use futures_util::future::join_all;
use worker::web_sys::Response;
use worker::{Date, Env};

use crate::alerts;
use crate::delivery::breaker;
use crate::http::error::{ApiError, OrInternal};
use crate::http::respond;
use crate::store::db;
use engine::api::answers::{DestinationPage, Forced};
use engine::api::destinations::{self, BreakerFacts, DayCounts, LastError, DAY_MS};
use engine::config::Config;
use engine::http::routes::Route;

/// Answers the route if it is one of these.
pub async fn handle(
    route: Route,
    id: Option<&str>,
    env: &Env,
    config: &Config,
) -> Option<Result<Response, ApiError>> {
    let answer = match route {
        Route::ListDestinations => list(env, config).await,
        Route::PauseDestination => force(env, config, id.unwrap_or_default(), true).await,
        Route::ResumeDestination => force(env, config, id.unwrap_or_default(), false).await,
        _ => return None,
    };
    Some(answer)
}

/// Each destination's breaker, `None` where the object could not be reached.
pub async fn breakers(env: &Env, config: &Config) -> Vec<Option<BreakerFacts>> {
    join_all(config.delivery.destinations.iter().map(|d| async move {
        match breaker::status(env, &d.name).await {
            Ok(view) => Some(BreakerFacts {
                state: Some(view.state),
                since: view.since,
                reason: view.reason,
                paused_by_operator: view.paused_by_operator,
                consecutive_failures: view.consecutive_failures,
                held: view.held,
                next_probe_at: view.next_probe_at,
            }),
            Err(error) => {
                worker::console_warn!("breaker of `{}` unavailable: {error}", d.name);
                None
            }
        }
    }))
    .await
}

async fn list(env: &Env, config: &Config) -> Result<Response, ApiError> {
    let now = Date::now().as_millis();
    let database = db::database(env).or_internal()?;
    let unavailable = |error: worker::Error| {
        worker::console_error!("D1 query failed: {error}");
        ApiError::StorageUnavailable
    };
    let counts: Vec<DayCounts> = db::rows(
        &database,
        &destinations::day_counts(now.saturating_sub(DAY_MS)),
    )
    .await
    .map_err(unavailable)?;
    let errors: Vec<LastError> = db::rows(&database, &destinations::last_errors())
        .await
        .map_err(unavailable)?;
    let breakers = breakers(env, config).await;
    let page = DestinationPage {
        destinations: destinations::views(&config.delivery, breakers, &counts, &errors),
    };
    respond::json(&page, 200).or_internal()
}

async fn force(env: &Env, config: &Config, name: &str, pause: bool) -> Result<Response, ApiError> {
    if config.delivery.destination(name).is_none() {
        return Err(ApiError::DestinationNotFound);
    }
    let alert = breaker::force(env, name, pause).await.map_err(|error| {
        worker::console_error!("breaker of `{name}`: {error}");
        ApiError::StorageUnavailable
    })?;
    if let Some(alert) = alert {
        alerts::raise(env, config, alert, true).await;
    }
    let view = breaker::status(env, name).await.map_err(|error| {
        worker::console_error!("breaker of `{name}`: {error}");
        ApiError::StorageUnavailable
    })?;
    let forced = Forced {
        consecutive_failures: view.consecutive_failures,
        held: view.held,
        name: name.to_owned(),
        next_probe_at: view.next_probe_at,
        paused_by_operator: view.paused_by_operator,
        reason: view.reason,
        since: view.since,
        state: view.state,
    };
    respond::json(&forced, 200).or_internal()
}
