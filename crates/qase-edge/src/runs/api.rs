//! The runs routes of the operator API (`/api/runs...`), after the token
//! check in [`crate::api`]: a project's runs and one run from D1
//! `runs`, and the CI gate's wait, answered by the run's object the moment
//! the run ends ([`crate::runs::run_watch`]). The rules and views are
//! [`engine::runs::api`]'s.

use worker::{Env, Request};

use crate::http::error::{ApiError, OrInternal};
use crate::http::respond;
use crate::runs::run_watch;
use crate::store::db;
use engine::api::answers::RunPage;
use engine::api::params::ParamError;
use engine::config::Config;
use engine::http::routes::Route;
use engine::runs::api as runs_api;
use engine::runs::api::RunsQuery;
use engine::runs::sql;
use engine::runs::sql::RunRow;

/// Answers a runs route; `None` for any other route.
pub async fn handle(
    route: Route,
    id: Option<&str>,
    req: &Request,
    env: &Env,
    config: &Config,
) -> Option<Result<worker::web_sys::Response, ApiError>> {
    let answer = match route {
        Route::ListRuns => list(req, env, config).await,
        Route::GetRun => get(id, env, config).await,
        Route::WaitRun => wait(id, req, env, config).await,
        _ => return None,
    };
    Some(answer)
}

fn pairs(req: &Request) -> Result<Vec<(String, String)>, ApiError> {
    Ok(req
        .url()
        .or_internal()?
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

fn param(error: ParamError) -> ApiError {
    ApiError::BadParameter(error)
}

fn unavailable(error: worker::Error) -> ApiError {
    worker::console_error!("runs: {error}");
    ApiError::StorageUnavailable
}

async fn list(
    req: &Request,
    env: &Env,
    config: &Config,
) -> Result<worker::web_sys::Response, ApiError> {
    let query = RunsQuery::parse(pairs(req)?).map_err(param)?;
    let database = db::database(env).map_err(unavailable)?;
    let rows: Vec<RunRow> = db::rows(&database, &query.statement())
        .await
        .map_err(unavailable)?;
    let (states, cursor) = query.page(rows.iter().filter_map(RunRow::state).collect());
    let page = RunPage {
        runs: states
            .iter()
            .map(|state| runs_api::view(state, config))
            .collect(),
        cursor,
    };
    respond::json(&page, 200).or_internal()
}

async fn get(
    id: Option<&str>,
    env: &Env,
    config: &Config,
) -> Result<worker::web_sys::Response, ApiError> {
    let key = runs_api::parse_run_path(id.unwrap_or_default()).map_err(param)?;
    let database = db::database(env).map_err(unavailable)?;
    let rows: Vec<RunRow> = db::rows(&database, &sql::select_run(&key.project, key.run))
        .await
        .map_err(unavailable)?;
    let state = rows
        .first()
        .and_then(RunRow::state)
        .ok_or(ApiError::RunNotFound)?;
    respond::json(&runs_api::view(&state, config), 200).or_internal()
}

async fn wait(
    id: Option<&str>,
    req: &Request,
    env: &Env,
    config: &Config,
) -> Result<worker::web_sys::Response, ApiError> {
    let key = runs_api::parse_run_path(id.unwrap_or_default()).map_err(param)?;
    let timeout = runs_api::parse_wait(pairs(req)?).map_err(param)?;
    let state = run_watch::wait(env, &key, timeout)
        .await
        .map_err(unavailable)?;
    respond::json(&runs_api::view(&state, config), 200).or_internal()
}
