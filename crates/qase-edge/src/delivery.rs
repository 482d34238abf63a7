//! The delivery queue's consumer: forwards each accepted event to every
//! matching destination, with retries, backoff and dead letters.
//!
//! Each destination gets the exact bytes Qase sent, plus Standard Webhooks
//! headers (`webhook-id` is the event id, so receivers can de-duplicate) and
//! `X-Qase-Event` / `X-Qase-Project`; never the Qase secret.
//!
//! Attempts are tracked in the messages themselves (see [`crate::messages`]):
//! a new event fans out to its destinations; each one that needs another
//! attempt gets its own follow-up message, delayed by the backoff, so a
//! destination that succeeded is not called again. Every message is acked or
//! retried individually and the handler never returns `Err` (workers-rs
//! turns that into a panic of the whole batch).

use std::time::Duration;

use futures_util::future::{join_all, select, Either};
use qase_webhooks::retry::{AttemptResult, Verdict};
use worker::{
    AbortController, Date, Delay, Env, Fetch, Headers, MessageBatch, MessageBuilder, MessageExt,
    Method, QueueRetryOptionsBuilder, RawMessage, Request, RequestInit, RequestRedirect,
};

use crate::config::{Config, Destination};
use crate::layout::{DeliveryState, DeliveryStatus};
use crate::messages::{DeadLetter, QueuedDelivery};
use crate::{bindings, dead_letters, sinks};

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
    let targets: Vec<&Destination> = match &delivery.destination {
        None => config
            .destinations
            .iter()
            .filter(|d| {
                d.enabled
                    && d.filter
                        .matches(&delivery.event_name, &delivery.project_code)
            })
            .collect(),
        Some(name) => match config.destination(name) {
            Some(destination) if destination.enabled => vec![destination],
            _ => {
                let reason = format!("destination `{name}` is no longer configured or enabled");
                return dead_letter(env, config, delivery, name, reason).await;
            }
        },
    };
    if targets.is_empty() {
        return Ok(());
    }

    let body = match &delivery.body {
        Some(body) => body.as_bytes().to_vec(),
        None => sinks::get_event(env, &delivery.id).await?.ok_or_else(|| {
            worker::Error::RustError(format!("event/{} is not in KV (yet)", delivery.id))
        })?,
    };

    let attempts = join_all(targets.iter().map(|d| attempt(d, delivery, &body))).await;
    let attempt_number = delivery.attempts + 1;
    for (destination, (result, description)) in targets.into_iter().zip(attempts) {
        let verdict = config
            .retry
            .verdict(result, attempt_number, js_sys::Math::random());
        log_attempt(delivery, destination, attempt_number, &description, verdict);
        let mut next = delivery.clone();
        next.destination = Some(destination.name.clone());
        next.attempts = attempt_number;
        next.last_status = match result {
            AttemptResult::Status { status, .. } => Some(status),
            _ => None,
        };
        next.last_error = Some(description);
        record_state(env, config, &next, &destination.name, verdict).await;
        match verdict {
            Verdict::Delivered => {}
            Verdict::Retry(delay) if config.retry.may_retry(attempt_number) => {
                requeue(env, next, delay).await?;
            }
            Verdict::Retry(_) => {
                let reason = format!("gave up after {attempt_number} attempts");
                dead_letter(env, config, &next, &destination.name, reason).await?;
            }
            Verdict::Rejected => {
                let reason = "rejected by the destination".to_owned();
                dead_letter(env, config, &next, &destination.name, reason).await?;
            }
        }
    }
    Ok(())
}

/// Makes one attempt; returns its result and a one-line description.
async fn attempt(
    destination: &Destination,
    delivery: &QueuedDelivery,
    body: &[u8],
) -> (AttemptResult, String) {
    let request = match build_request(destination, delivery, body) {
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
            (
                AttemptResult::Status {
                    status,
                    retry_after,
                },
                format!("HTTP {status}"),
            )
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
    for (name, value) in &destination.headers {
        headers.set(name, value)?;
    }
    // Ours go last, so a static header cannot forge them.
    headers.set("Content-Type", "application/json")?;
    headers.set(
        "User-Agent",
        concat!("qase-edge/", env!("CARGO_PKG_VERSION")),
    )?;
    headers.set("X-Qase-Event", &delivery.event_name)?;
    headers.set("X-Qase-Project", &delivery.project_code)?;
    let timestamp = Date::now().as_millis() / 1000;
    headers.set("webhook-id", &delivery.id)?;
    headers.set("webhook-timestamp", &timestamp.to_string())?;
    if let Some(secret) = &destination.signing {
        headers.set(
            "webhook-signature",
            &secret.sign(&delivery.id, timestamp, body),
        )?;
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
async fn requeue(env: &Env, next: QueuedDelivery, delay: Duration) -> worker::Result<()> {
    let seconds = delay.as_secs_f64().ceil() as u32;
    env.queue(bindings::DELIVERIES_QUEUE)?
        .send(MessageBuilder::new(next).delay_seconds(seconds).build())
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
    let dead = DeadLetter {
        delivery: delivery.clone(),
        destination: destination.to_owned(),
        reason,
        dead_at: Date::now().as_millis(),
    };
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

/// Records the destination's delivery state for the operator API. Best
/// effort: the delivery itself does not depend on it, so a failed write is
/// logged and not retried (dead letters record their own state).
async fn record_state(
    env: &Env,
    config: &Config,
    next: &QueuedDelivery,
    destination: &str,
    verdict: Verdict,
) {
    let status = match verdict {
        Verdict::Delivered => DeliveryStatus::Delivered,
        Verdict::Retry(_) if config.retry.may_retry(next.attempts) => DeliveryStatus::Retrying,
        _ => return,
    };
    let state = DeliveryState::new(
        status,
        next.attempts,
        next.last_status,
        next.last_error.as_deref(),
        Date::now().as_millis(),
    );
    if let Err(error) =
        sinks::put_delivery_state(env, &next.id, destination, &state, config.retention_seconds)
            .await
    {
        worker::console_warn!("delivery state of {} not recorded: {error}", next.id);
    }
}

fn log_attempt(
    delivery: &QueuedDelivery,
    destination: &Destination,
    attempt: u32,
    description: &str,
    verdict: Verdict,
) {
    let (outcome, retry_in) = match verdict {
        Verdict::Delivered => ("delivered", None),
        Verdict::Retry(delay) => ("retry", Some(delay.as_secs())),
        Verdict::Rejected => ("rejected", None),
    };
    worker::console_log!(
        "{}",
        serde_json::json!({
            "event": "attempt",
            "id": delivery.id,
            "event_name": delivery.event_name,
            "project_code": delivery.project_code,
            "destination": destination.name,
            "attempt": attempt,
            "result": description,
            "outcome": outcome,
            "retry_in_seconds": retry_in,
        })
    );
}
