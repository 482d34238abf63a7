//! The delivery queue's consumer: carries out [`crate::engine::delivery`]'s
//! decisions. Each destination gets the exact bytes Qase sent with the
//! headers the engine chose (Standard Webhooks signature, `webhook-id` the
//! event id), never the Qase secret.
//!
//! Attempts are tracked in the messages themselves (see
//! [`crate::engine::messages`]): a new event fans out to its destinations;
//! each one that needs another attempt gets its own follow-up message,
//! delayed by the backoff, so a destination that succeeded is not called
//! again. Every message is acked or retried individually and the handler
//! never returns `Err` (workers-rs turns that into a panic of the whole batch).

use futures_util::future::{join_all, select, Either};
use qase_webhooks::retry::AttemptResult;
use worker::{
    AbortController, Date, Delay, Env, Fetch, Headers, MessageBatch, MessageBuilder, MessageExt,
    Method, QueueRetryOptionsBuilder, RawMessage, Request, RequestInit, RequestRedirect,
};

use crate::engine::bindings;
use crate::engine::config::{Config, Destination};
use crate::engine::delivery::{self, Action, Targets};
use crate::engine::messages::{DeadLetter, QueuedDelivery};
use crate::engine::pace;
use crate::shell::{dead_letters, pacer, sinks};

/// How long a message whose processing failed (KV or queue unavailable)
/// waits before the platform delivers it again.
const REPROCESS_DELAY_SECONDS: u32 = 30;

/// Processes one batch of the delivery queue.
pub async fn consume(batch: &MessageBatch<serde_json::Value>, env: &Env, config: &Config) {
    join_all(
        batch
            .raw_iter()
            .map(|message| process(message, env, config)),
    )
    .await;
}

async fn process(message: RawMessage, env: &Env, config: &Config) {
    let delivery: QueuedDelivery = match serde_wasm_bindgen::from_value(message.body()) {
        Ok(delivery) => delivery,
        Err(error) => {
            // Not ours: let the platform retry it and move it to the dead-letter queue.
            worker::console_error!("queue message {} is not a delivery: {error}", message.id());
            message.retry();
            return;
        }
    };
    match deliver(&delivery, env, config).await {
        Ok(()) => message.ack(),
        Err(error) => {
            worker::console_error!("delivery of {} will be retried: {error}", delivery.id);
            message.retry_with_options(
                &QueueRetryOptionsBuilder::new()
                    .with_delay_seconds(REPROCESS_DELAY_SECONDS)
                    .build(),
            );
        }
    }
}

async fn deliver(delivery: &QueuedDelivery, env: &Env, config: &Config) -> worker::Result<()> {
    let targets = match delivery::targets(config, delivery) {
        Targets::Send(targets) if targets.is_empty() => return Ok(()),
        Targets::Send(targets) => targets,
        Targets::Gone {
            destination,
            reason,
        } => return dead_letter(env, config, delivery, &destination, reason).await,
    };
    let body = sinks::body_of(env, delivery).await?.ok_or_else(|| {
        worker::Error::RustError(format!("event/{} is not in KV (yet)", delivery.id))
    })?;
    let paced = join_all(targets.iter().map(|d| pace(env, d, delivery))).await;
    let mut ready = Vec::new();
    for (destination, go) in targets.into_iter().zip(paced) {
        if go? {
            ready.push(destination);
        }
    }
    let app_url = &config.app_url;
    let attempts = join_all(ready.iter().map(|d| attempt(d, delivery, &body, app_url))).await;
    for (destination, result) in ready.into_iter().zip(attempts) {
        let now = Date::now().as_millis();
        let random = js_sys::Math::random();
        let step =
            delivery::after_attempt(config, delivery, &destination.name, result, random, now);
        worker::console_log!("{}", serde_json::to_string(&step.log).unwrap_or_default());
        if let Some(state) = &step.state {
            // Best effort: the delivery does not depend on it.
            let key = crate::engine::layout::delivery_key(&step.next.id, &destination.name);
            if let Err(error) =
                sinks::put(env, &key, b"", Some(state), config.retention_seconds).await
            {
                worker::console_warn!("delivery state of {} not recorded: {error}", step.next.id);
            }
        }
        match step.action {
            Action::Delivered => {}
            Action::Requeue { delay_seconds } => requeue(env, step.next, delay_seconds).await?,
            Action::DeadLetter { reason } => {
                dead_letter(env, config, &step.next, &destination.name, reason).await?
            }
        }
    }
    Ok(())
}

/// Waits for a paced destination's send slot: `true` to send now, `false`
/// when the message went back on the queue to keep a slot further off. A
/// pacer that cannot be reached does not hold deliveries back.
async fn pace(
    env: &Env,
    destination: &Destination,
    delivery: &QueuedDelivery,
) -> worker::Result<bool> {
    let Some(interval) = destination.pace else {
        return Ok(true);
    };
    let held = delivery
        .not_before
        .filter(|_| delivery.destination.as_ref() == Some(&destination.name));
    let slot = match held {
        Some(slot) => slot,
        None => match pacer::reserve(env, &destination.name, interval).await {
            Ok(slot) => slot,
            Err(error) => {
                worker::console_warn!(
                    "pacer for `{}` unavailable, sending unpaced: {error}",
                    destination.name
                );
                return Ok(true);
            }
        },
    };
    match pace::step(slot, Date::now().as_millis()) {
        pace::Step::SendAfter(0) => Ok(true),
        pace::Step::SendAfter(ms) => {
            Delay::from(std::time::Duration::from_millis(ms)).await;
            Ok(true)
        }
        pace::Step::Requeue {
            delay_seconds,
            not_before,
        } => {
            let held = QueuedDelivery {
                destination: Some(destination.name.clone()),
                not_before: Some(not_before),
                ..delivery.clone()
            };
            requeue(env, held, delay_seconds).await?;
            Ok(false)
        }
    }
}

/// Makes one attempt; returns its result and a one-line description.
async fn attempt(
    destination: &Destination,
    delivery: &QueuedDelivery,
    body: &[u8],
    app_url: &str,
) -> (AttemptResult, String) {
    let Some(body) = delivery::request_body(destination, body, app_url) else {
        let problem = "the stored body is no Qase delivery; no chat message can be made";
        return (AttemptResult::NetworkError, problem.to_owned());
    };
    let request = match build_request(destination, delivery, &body) {
        Ok(request) => request,
        Err(error) => {
            return (
                AttemptResult::NetworkError,
                format!("request not built: {error}"),
            )
        }
    };
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Box::pin(async move { Fetch::Request(request).send_with_signal(&signal).await });
    let timer = Delay::from(destination.timeout);
    match select(fetch, timer).await {
        Either::Left((Ok(response), _)) => {
            let status = response.status_code();
            let retry_after = response
                .headers()
                .get("Retry-After")
                .ok()
                .flatten()
                .and_then(|value| value.trim().parse().ok());
            let result = AttemptResult::Status {
                status,
                retry_after,
            };
            (result, format!("HTTP {status}"))
        }
        Either::Left((Err(error), _)) => (
            AttemptResult::NetworkError,
            format!("network error: {error}"),
        ),
        Either::Right(_) => {
            controller.abort();
            let ms = destination.timeout.as_millis();
            (AttemptResult::Timeout, format!("no answer within {ms} ms"))
        }
    }
}

fn build_request(
    destination: &Destination,
    delivery: &QueuedDelivery,
    body: &[u8],
) -> worker::Result<Request> {
    let headers = Headers::new();
    let timestamp = Date::now().as_millis() / 1000;
    for (name, value) in delivery::request_headers(destination, delivery, timestamp, body) {
        headers.set(&name, &value)?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        // A redirect could point anywhere: it is a failure, not followed.
        .with_redirect(RequestRedirect::Manual)
        .with_body(Some(js_sys::Uint8Array::from(body).into()));
    Request::new_with_init(&destination.url, &init)
}

/// Sends a follow-up message for one destination, delayed by the backoff.
async fn requeue(env: &Env, next: QueuedDelivery, delay_seconds: u32) -> worker::Result<()> {
    env.queue(bindings::DELIVERIES_QUEUE)?
        .send(
            MessageBuilder::new(next)
                .delay_seconds(delay_seconds)
                .build(),
        )
        .await
}

/// Hands a delivery that failed for good to the dead-letter queue; if that
/// queue is not bound or refuses it, records it in KV directly.
async fn dead_letter(
    env: &Env,
    config: &Config,
    delivery: &QueuedDelivery,
    destination: &str,
    reason: String,
) -> worker::Result<()> {
    let dead: DeadLetter =
        delivery::dead_letter(delivery, destination, reason, Date::now().as_millis());
    let sent = match env.queue(bindings::DEAD_LETTERS_QUEUE) {
        Ok(queue) => queue.send(dead.clone()).await,
        Err(error) => Err(error),
    };
    match sent {
        Ok(()) => Ok(()),
        Err(error) => {
            worker::console_warn!("dead-letter queue unavailable ({error}); recording in KV");
            dead_letters::record(env, &dead, config.retention_seconds).await
        }
    }
}
