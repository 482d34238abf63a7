//! qase-edge: a Cloudflare Worker that receives Qase.io webhooks,
//! authenticates and validates each delivery with the `qase-webhooks` core,
//! and stores it durably before answering.
//!
//! Functional core, imperative shell: every decision is a pure function in
//! the engine crate, `qase-edge-engine` (imported here as [`engine`], tested
//! on the host with `cargo test` and with no `worker` dependency), and this
//! crate only carries decisions out (bindings, KV and queue calls, `fetch`,
//! `Response`s). Each folder here has its twin of the same name in the
//! engine: `config`, `http`, `ingest`, `store`, `delivery`, `alerts`, `runs`
//! and `api`. The data flow:
//!
//! ```text
//!  Qase ──POST──▶ js/entry.mjs ──▶ the ingest module (crates/qase-edge-ingest) ──▶ engine::ingest
//!                     └── a body without Content-Length ──▶ import("./index.js") ──▶ ingest (streamed)
//!                                                   ├─ engine::ingest::check_headers  (answer before the body)
//!                                                   ├─ engine::ingest::admit          (envelope, event id)
//!                                                   ├─ engine::ingest::plan           (outcome, writes, what covers each)
//!                                                   └─ engine::ingest::Ingest         (rounds: D1 upsert → queue/KV → rescue ──▶ 2xx / 5xx)
//!
//!  queue ──▶ delivery::consumer ─┬─ claim the event's row (engine::delivery::records), once
//!                                ├─ ask the destination's breaker (delivery::breaker, a Durable Object; engine::delivery::breaker): attempt | held
//!                                ├─ fetch(destination, engine::delivery::attempt::request_headers)
//!                                ├─ engine::delivery::attempt::after_attempt  (done | requeue after delay | dead letter) ──▶ D1 deliveries (+ attempts_log)
//!                                └─ report the outcome to the breaker ──▶ pause / resume ──▶ alerts (queued to "alerts" destinations)
//!  dead-letter queue ──▶ delivery::dead_letters ──▶ D1 deliveries (status dead)
//!  cron ──▶ store::sweep ── engine::store::sweep   (rescue copies ──▶ D1, pending rows ──▶ queue, expired rows deleted)
//!                        └─ engine::alerts::watch  (QASE_WATCH: a quiet project ──▶ alerts)
//!
//!  operator ──/api, /console──▶ access ── engine::access::{token, keys} (Cf-Access-Jwt-Assertion; RS256 by WebCrypto)
//!  operator ──/api──▶ api ── engine::api::{params, events, replay} ──▶ D1 reads, queue sends
//!  Prometheus ──/metrics──▶ metrics ── engine::metrics::{aggregate, families, exposition} ──▶ D1 aggregates, each Breaker
//!  browser ──/console/──▶ http::console ── engine::http::console ──▶ the assets binding (console/), with a strict CSP
//! ```
//!
//! Routes are one table, `engine::http::routes::ROUTES`, checked against the
//! committed `openapi.json`; the D1 schema and statements are
//! [`engine::store::d1`] (with `migrations/`), the KV layout
//! [`engine::store::layout`]; the configuration is parsed once per isolate
//! by [`config`].

pub mod access;
pub mod alerts;
pub mod api;
pub mod config;
pub mod delivery;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod runs;
pub mod store;

use worker::web_sys;
use worker::{event, Context, Env, MessageBatch, Request, Result, ScheduleContext, ScheduledEvent};

use crate::delivery::{consumer, dead_letters};
use crate::http::error::{ApiError, ToResponse};
use crate::http::{console, health};
use crate::store::sweep;
use engine::config::Effect;
use engine::http::console::ConsoleRequest;
use engine::http::routes::{self, Matched, Route};

/// How long queued deliveries wait while delivery is paused by a broken
/// `QASE_DESTINATIONS`.
const PAUSED_DELIVERY_RECHECK_SECONDS: u32 = 3600;

#[event(start)]
fn start() {
    // Panics become readable messages in `wrangler tail` instead of "unreachable".
    console_error_panic_hook::set_once();
}

/// Takes and returns the runtime's own `Request`/`Response` rather than
/// `worker`'s wrappers: converting a request eagerly reads its `cf` object
/// and converting a response sets each header again, work the ingest path
/// does not need (see `shell::respond`). The operator API, off the hot path,
/// still gets a `worker::Request`.
#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, _ctx: Context) -> Result<web_sys::Response> {
    let url = req.url();
    let path = routes::path_of(&url);
    // Cloudflare Access, when configured, before anything else of /api and
    // /console (never of the ingest route).
    let mut identity = None;
    if engine::access::covers(path) {
        match access::admit(&req.headers(), &env).await {
            Ok(admitted) => identity = admitted,
            Err(error) => return error.to_response(),
        }
    }
    let console_request = engine::http::console::classify(&req.method(), path);
    if console_request != ConsoleRequest::NotConsole {
        return match console::handle(console_request, req, &env).await {
            Ok(response) => Ok(response),
            Err(error) => error.to_response(),
        };
    }
    // Without an operator token the API does not exist, whatever the method.
    if (path == "/api" || path.starts_with("/api/")) && !api::is_enabled(&env) {
        return ApiError::NotFound.to_response();
    }
    let result = match routes::match_route(&req.method(), path) {
        Matched::Route(Route::Ingest, _) => ingest::handle(req, &env).await,
        Matched::Route(Route::Health, _) => health::handle(&env).await,
        Matched::Route(Route::Metrics, _) => metrics::handle(Request::from(req), &env).await,
        Matched::Route(route, id) => {
            api::handle(route, id, identity, Request::from(req), &env).await
        }
        Matched::WrongMethod(allow) => Err(ApiError::MethodNotAllowed { allow }),
        Matched::NotFound => Err(ApiError::NotFound),
    };
    match result {
        Ok(response) => Ok(response),
        Err(error) => error.to_response(),
    }
}

#[event(queue)]
async fn queue(batch: MessageBatch<serde_json::Value>, env: Env, _ctx: Context) -> Result<()> {
    let config = match config::load(&env) {
        Ok(config) => config,
        Err(error) => {
            // Keep the messages until the configuration is fixed.
            worker::console_error!("queue batch not processed, configuration broken: {error}");
            batch.retry_all();
            return Ok(());
        }
    };
    if batch.queue() == config.delivery.dead_letter_queue {
        dead_letters::consume(&batch, &env, config).await;
    } else if let Some(problem) = config.problem(Effect::DeliveryPaused) {
        // Keep the messages until the destinations are fixed: looked at again
        // hourly, so the queue's `max_retries` (10) gives an operator about
        // ten hours before they go to dead letters, which can be replayed.
        worker::console_error!("deliveries paused: {}", problem.error);
        batch.retry_all_with_options(
            &worker::QueueRetryOptionsBuilder::new()
                .with_delay_seconds(PAUSED_DELIVERY_RECHECK_SECONDS)
                .build(),
        );
    } else {
        consumer::consume(&batch, &env, config).await;
    }
    // Every message was acked or retried one by one; an `Err` here would
    // turn into a panic in the generated glue.
    Ok(())
}

/// The cron sweep ([`engine::store::sweep`]): rescue copies into D1 and the queue,
/// `pending` rows sent again, expired rows deleted.
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    match config::load(&env) {
        Ok(config) => sweep::run(&env, config, worker::Date::now().as_millis()).await,
        Err(error) => worker::console_error!("sweep not run, configuration broken: {error}"),
    }
}
