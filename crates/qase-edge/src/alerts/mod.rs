//! Alerts (issue #19): queued once per alert destination by whoever saw
//! the change ([`raise`]), then posted by the delivery consumer
//! ([`deliver`]), paced like the destination's other chat messages and
//! rendered by the core's chat formatters ([`qase_webhooks::chat::render_alert`]).

use std::time::Duration;

use futures_util::future::{select, Either};
use qase_webhooks::chat::Alert;
use worker::{
    AbortController, Date, Delay, Env, Fetch, Headers, MessageBuilder, Method, Request,
    RequestInit, RequestRedirect,
};

use crate::delivery::pacer;
use engine::config::bindings;
use engine::config::Config;
use engine::delivery::messages::{QueuedAlert, ALERT_ATTEMPTS};
use engine::delivery::settings::Format;

/// Delay between two attempts at an alert.
const ALERT_RETRY_SECONDS: u32 = 30;

/// Queues `alert` for every alert destination (none about one itself).
/// Best effort: an alert that cannot be queued is logged.
pub async fn raise(env: &Env, config: &Config, alert: Alert, subject_is_destination: bool) {
    let subject = subject_is_destination.then(|| alert.subject().to_owned());
    let now = Date::now().as_millis();
    worker::console_log!(
        "{}",
        serde_json::json!({"event": "alert", "kind": alert.kind(), "subject": alert.subject()})
    );
    let queue = match env.queue(bindings::DELIVERIES_QUEUE) {
        Ok(queue) => queue,
        Err(error) => {
            worker::console_error!("alert not queued: {error}");
            return;
        }
    };
    for destination in config.delivery.alert_destinations(subject.as_deref()) {
        let message = QueuedAlert {
            alert_to: destination.name.clone(),
            alert: alert.clone(),
            at: now,
            attempts: 0,
        };
        if let Err(error) = queue.send(&message).await {
            worker::console_error!("alert to `{}` not queued: {error}", destination.name);
        }
    }
}

/// Posts a queued alert; on failure it is queued again, up to
/// [`ALERT_ATTEMPTS`], then dropped with a log line.
pub async fn deliver(env: &Env, config: &Config, message: QueuedAlert) {
    let Some(destination) = config
        .delivery
        .destination(&message.alert_to)
        .filter(|d| d.enabled)
    else {
        return;
    };
    let Format::Chat(format) = destination.format else {
        return;
    };
    if let Some(interval) = destination.pace {
        wait_for_slot(env, &destination.name, interval).await;
    }
    let body = qase_webhooks::chat::render_alert(
        format,
        &message.alert,
        &config.delivery.app_url,
        Date::now().as_millis(),
    );
    let sent = post(
        &destination.url,
        &destination.headers,
        destination.timeout,
        &body,
    )
    .await;
    let error = match sent {
        Ok(status) if (200..300).contains(&status) => return,
        Ok(status) => format!("HTTP {status}"),
        Err(error) => error,
    };
    retry_later(env, message, error).await;
}

/// Waits for a paced destination's send slot, at most 30 s (an alert is
/// never requeued for its pace); a pacer that cannot be reached holds it
/// back no longer.
async fn wait_for_slot(env: &Env, destination: &str, interval: Duration) {
    match pacer::reserve(env, destination, interval).await {
        Ok(slot) => {
            let wait = slot.saturating_sub(Date::now().as_millis()).min(30_000);
            if wait > 0 {
                Delay::from(Duration::from_millis(wait)).await;
            }
        }
        Err(error) => worker::console_warn!("pacer unavailable for an alert: {error}"),
    }
}

/// Queues an alert that failed with `error` again after
/// [`ALERT_RETRY_SECONDS`], or drops it with a log line after
/// [`ALERT_ATTEMPTS`].
async fn retry_later(env: &Env, message: QueuedAlert, error: String) {
    let attempts = message.attempts + 1;
    if attempts >= ALERT_ATTEMPTS {
        worker::console_error!(
            "{}",
            serde_json::json!({"event": "alert_dropped", "to": message.alert_to, "kind": message.alert.kind(), "error": error})
        );
        return;
    }
    let next = QueuedAlert {
        attempts,
        ..message
    };
    let queued = match env.queue(bindings::DELIVERIES_QUEUE) {
        Ok(queue) => {
            queue
                .send(
                    MessageBuilder::new(next)
                        .delay_seconds(ALERT_RETRY_SECONDS)
                        .build(),
                )
                .await
        }
        Err(error) => Err(error),
    };
    if let Err(queue_error) = queued {
        worker::console_error!("alert not retried ({error}): {queue_error}");
    }
}

async fn post(
    url: &str,
    headers: &[(String, String)],
    timeout: Duration,
    body: &serde_json::Value,
) -> Result<u16, String> {
    let request_headers = Headers::new();
    let build = || -> worker::Result<Request> {
        for (name, value) in headers {
            request_headers.set(name, value)?;
        }
        request_headers.set("Content-Type", "application/json")?;
        request_headers.set(
            "User-Agent",
            concat!("qase-edge/", env!("CARGO_PKG_VERSION")),
        )?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_headers(request_headers.clone())
            .with_redirect(RequestRedirect::Manual)
            .with_body(Some(body.to_string().into()));
        Request::new_with_init(url, &init)
    };
    let request = build().map_err(|error| format!("request not built: {error}"))?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Box::pin(async move { Fetch::Request(request).send_with_signal(&signal).await });
    match select(fetch, Delay::from(timeout)).await {
        Either::Left((Ok(response), _)) => Ok(response.status_code()),
        Either::Left((Err(error), _)) => Err(format!("network error: {error}")),
        Either::Right(_) => {
            controller.abort();
            Err(format!("no answer within {} ms", timeout.as_millis()))
        }
    }
}
