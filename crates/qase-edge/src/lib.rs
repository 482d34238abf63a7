//! qase-edge: a Cloudflare Worker that receives Qase.io webhooks,
//! authenticates and validates each delivery with the `qase-webhooks` core,
//! and stores it durably before answering.
//!
//! Functional core, imperative shell: every decision is a pure function in
//! [`engine`] (tested on the host with `cargo test`), and the
//! [`shell`] only carries decisions out (bindings, KV and queue calls,
//! `fetch`, `Response`s). The data flow:
//!
//! ```text
//!  Qase ──POST──▶ js/entry.mjs ──▶ shell::hot_path ─┬─ engine::ingest::check_headers  (answer before the body)
//!                                                  ├─ engine::ingest::admit          (envelope, event id)
//!                                                  ├─ engine::ingest::plan           (outcome, writes, what covers each)
//!                                                  └─ engine::ingest::Ingest         (rounds: D1 upsert → queue/KV → rescue ──▶ 2xx / 5xx)
//!
//!  queue ──▶ shell::delivery ─┬─ claim the event's row (engine::store), once
//!                             ├─ ask the destination's breaker (shell::breaker, a Durable Object; engine::breaker): attempt | held
//!                             ├─ fetch(destination, engine::delivery::request_headers)
//!                             ├─ engine::delivery::after_attempt  (done | requeue after delay | dead letter) ──▶ D1 deliveries (+ attempts_log)
//!                             └─ report the outcome to the breaker ──▶ pause / resume ──▶ shell::alerts (queued to "alerts" destinations)
//!  dead-letter queue ──▶ shell::dead_letters ──▶ D1 deliveries (status dead)
//!  cron ──▶ shell::sweep ── engine::sweep   (rescue copies ──▶ D1, pending rows ──▶ queue, expired rows deleted)
//!                         └─ engine::watch  (QASE_WATCH: a quiet project ──▶ shell::alerts)
//!
//!  operator ──/api──▶ shell::api ── engine::{query, history, replay} ──▶ D1 reads, queue sends
//!  browser ──/console/──▶ shell::console ── engine::console ──▶ the assets binding (console/), with a strict CSP
//! ```
//!
//! Routes are one table, `engine::routes::ROUTES`, checked against the
//! committed `openapi.json`; the D1 schema and statements are
//! [`engine::store`] (with `migrations/`), the KV layout [`engine::layout`];
//! the configuration is parsed once per isolate by [`engine::config`].

pub mod engine;
pub mod shell;

use worker::web_sys;
use worker::{event, Context, Env, MessageBatch, Request, Result, ScheduleContext, ScheduledEvent};

use crate::engine::config::Effect;
use crate::engine::console::ConsoleRequest;
use crate::engine::routes::{self, Matched, Route};
use crate::shell::error::ApiError;
use crate::shell::{api, console, dead_letters, delivery, health, ingest, settings, sweep};

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
    let console_request = engine::console::classify(&req.method(), path);
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
        Matched::Route(route, id) => api::handle(route, id, Request::from(req), &env).await,
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
    let config = match settings::load(&env) {
        Ok(config) => config,
        Err(error) => {
            // Keep the messages until the configuration is fixed.
            worker::console_error!("queue batch not processed, configuration broken: {error}");
            batch.retry_all();
            return Ok(());
        }
    };
    if batch.queue() == config.dead_letter_queue {
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
        delivery::consume(&batch, &env, config).await;
    }
    // Every message was acked or retried one by one; an `Err` here would
    // turn into a panic in the generated glue.
    Ok(())
}

/// The cron sweep ([`engine::sweep`]): rescue copies into D1 and the queue,
/// `pending` rows sent again, expired rows deleted.
#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    match settings::load(&env) {
        Ok(config) => sweep::run(&env, config, worker::Date::now().as_millis()).await,
        Err(error) => worker::console_error!("sweep not run, configuration broken: {error}"),
    }
}
