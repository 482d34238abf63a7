//! The delivery queue's consumer: carries out [`engine::delivery::attempt`]'s
//! decisions. Each destination gets the exact bytes Qase sent with the
//! headers the engine chose (Standard Webhooks signature, `webhook-id` the
//! event id), never the Qase secret.
//!
//! A new event's message is forwarded only by the message that claims the
//! event's row in D1 ([`engine::delivery::records`]): a duplicate message
//! (the sweep's re-send, a queue redelivery) is acked without a request.
//! The body travels in the message, or is read from the event's row (KV
//! `event/{id}` for one too large for a row).
//!
//! Attempts are tracked in the messages themselves (see
//! [`engine::delivery::messages`]): a new event fans out to its destinations,
//! each handled on its own; each one that needs another attempt gets its
//! own follow-up message, delayed by the backoff, so a destination that
//! succeeded is never called again. When a follow-up cannot be sent, the
//! engine's [`attempt::fallback`] says what to do instead, and
//! [`attempt::disposition`] whether the message is acked or retried: a
//! new event's message is never retried after its claim. Delivery states
//! are `deliveries` rows in D1. Every message is acked or retried
//! individually and the handler never returns `Err` (workers-rs turns that
//! into a panic of the whole batch).

use futures_util::future::{join_all, select, Either};
use qase_webhooks::retry::AttemptResult;
use worker::{
    AbortController, Date, Delay, Env, Fetch, Headers, MessageBatch, MessageBuilder, MessageExt,
    Method, QueueRetryOptionsBuilder, RawMessage, Request, RequestInit, RequestRedirect,
};

use crate::alerts;
use crate::delivery::body;
use crate::delivery::breaker;
use crate::delivery::claim;
use crate::delivery::dead_letters;
use crate::delivery::pacer;
use crate::runs::reports;
use crate::store::db;
use engine::config::bindings;
use engine::config::Config;
use engine::delivery::attempt::{self, AttemptStep, Disposition, FollowUp, Targets};
use engine::delivery::breaker::{Decision, Outcome};
use engine::delivery::breaker_reports;
use engine::delivery::messages::{DeadLetter, QueuedAlert, QueuedDelivery};
use engine::delivery::pace;
use engine::delivery::records::AttemptEntry;
use engine::delivery::records::{self, Claim, DeliveryRow};
use engine::delivery::settings::Destination;
use engine::runs::report::{self, RunReportDue};
use engine::runs::state;
use engine::store::layout::{DeliveryState, DeliveryStatus};

/// How long a message whose processing failed (its body unreadable, or a
/// retry that could not be queued) waits before the platform delivers it
/// again.
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
    // A run's report, due after the settle time (see shell::run_reports).
    if let Ok(due) = serde_wasm_bindgen::from_value::<RunReportDue>(message.body()) {
        match reports::make_report(env, config, &message.id(), &due).await {
            Disposition::Ack => message.ack(),
            Disposition::Retry => message.retry_with_options(
                &QueueRetryOptionsBuilder::new()
                    .with_delay_seconds(REPROCESS_DELAY_SECONDS)
                    .build(),
            ),
        }
        return;
    }
    // An alert for an alert destination (see shell::alerts): posted, then
    // acked whatever happened (a failed one is queued again on its own).
    if let Ok(alert) = serde_wasm_bindgen::from_value::<QueuedAlert>(message.body()) {
        alerts::deliver(env, config, alert).await;
        message.ack();
        return;
    }
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
        Disposition::Ack => message.ack(),
        Disposition::Retry => {
            worker::console_error!("delivery of {} will be retried", delivery.id);
            message.retry_with_options(
                &QueueRetryOptionsBuilder::new()
                    .with_delay_seconds(REPROCESS_DELAY_SECONDS)
                    .build(),
            );
        }
    }
}

async fn deliver(delivery: &QueuedDelivery, env: &Env, config: &Config) -> Disposition {
    let targets = match attempt::targets(&config.delivery, delivery) {
        Targets::Send(targets) => targets,
        Targets::Gone {
            destination,
            reason,
        } => return gone(env, delivery, &destination, reason).await,
    };
    let is_new = delivery.destination.is_none();
    // The body before the claim: a message retried because its body could
    // not be read has changed nothing yet. A recorded event with nowhere
    // to go needs none (only its claim).
    // A run's events are read even with nowhere to go: their run needs them.
    let about_a_run = is_new && state::may_concern_a_run(&delivery.event_name);
    let needs_none = targets.is_empty() && delivery.recorded && !about_a_run;
    let Some(body) = body_to_deliver(env, delivery, needs_none).await else {
        return Disposition::Retry;
    };
    if about_a_run {
        // Before the claim, so that a retry (the run's object or the report
        // message failed) applies it again, which changes nothing twice.
        if let Err(error) = reports::on_event(env, config, &delivery.id, &body).await {
            worker::console_error!("the run of {}: {error}", delivery.id);
            return Disposition::Retry;
        }
    }
    // Claimed even with no destination, so the sweep stops re-sending it.
    if is_new && !take_claim(env, delivery, &body).await {
        return Disposition::Ack;
    }
    let settled = join_all(
        targets
            .iter()
            .map(|destination| deliver_to(env, config, delivery, destination, &body)),
    )
    .await;
    attempt::disposition(
        delivery,
        settled.iter().filter(|settled| !**settled).count(),
    )
}

/// A message for a destination that is no longer configured (or no longer
/// takes it): dead-lettered, and its breaker told if it released the event.
async fn gone(
    env: &Env,
    delivery: &QueuedDelivery,
    destination: &str,
    reason: String,
) -> Disposition {
    let dead = attempt::dead_letter(delivery, destination, reason, Date::now().as_millis());
    let settled = carry_out(env, delivery, FollowUp::DeadLetterQueue(dead)).await;
    if let Some(key) = &delivery.released {
        // Its breaker waits for this released event: it is done with.
        if let Err(error) =
            breaker::report(env, destination, Some(key), Outcome::Rejected, None).await
        {
            worker::console_warn!("breaker of `{destination}` not told: {error}");
        }
    }
    attempt::disposition(delivery, usize::from(!settled))
}

/// The message's body, or empty when `needs_none`; `None` when it is
/// needed and cannot be read yet (the message is retried).
async fn body_to_deliver(
    env: &Env,
    delivery: &QueuedDelivery,
    needs_none: bool,
) -> Option<Vec<u8>> {
    match (needs_none, body::body_of(env, delivery).await) {
        (true, _) => Some(Vec::new()),
        (false, Ok(Some(body))) => Some(body),
        (false, Ok(None)) => {
            worker::console_error!("the body of {} is in no store (yet)", delivery.id);
            None
        }
        (false, Err(error)) => {
            worker::console_error!("the body of {} could not be read: {error}", delivery.id);
            None
        }
    }
}

/// Takes a new event's claim and logs how it went: `false` when the
/// message is done with, no destination called (another message forwarded
/// the event, or the sweep will).
async fn take_claim(env: &Env, delivery: &QueuedDelivery, body: &[u8]) -> bool {
    match claim::run_claim(env, delivery, body).await {
        Claim::Skip => {
            worker::console_log!(
                "{}",
                serde_json::json!({"event": "claim", "id": delivery.id, "outcome": "already_forwarded"})
            );
            false
        }
        Claim::LeftToTheSweep => {
            worker::console_warn!(
                "{}",
                serde_json::json!({"event": "claim", "id": delivery.id, "outcome": "d1_unavailable_left_to_the_sweep"})
            );
            false
        }
        Claim::ForwardUnclaimed => {
            worker::console_warn!(
                "{}",
                serde_json::json!({"event": "claim", "id": delivery.id, "outcome": "d1_unavailable_forwarding_anyway"})
            );
            true
        }
        Claim::Forward | Claim::Run { .. } => true,
    }
}

/// One destination's part of a message: ask its breaker, pace, attempt,
/// record the state, report the outcome, carry out what follows. `false`
/// when nothing that follows could be carried out (see
/// [`attempt::disposition`]).
async fn deliver_to(
    env: &Env,
    config: &Config,
    delivery: &QueuedDelivery,
    destination: &Destination,
    body: &[u8],
) -> bool {
    let name = &destination.name;
    // A held event its breaker released (a probe or the drain): attempted
    // without asking, and never retried or dead-lettered for a failure.
    let released = delivery
        .released
        .as_deref()
        .filter(|_| delivery.destination.as_ref() == Some(name));
    let mut report_success = true;
    if released.is_none() && config.delivery.breaker.enabled() {
        match ask_breaker(env, delivery, name).await {
            Asked::Held => return true,
            Asked::Attempt {
                report_success: wanted,
            } => report_success = wanted,
        }
    }
    if !pace(env, destination, delivery).await {
        return true;
    }
    let started = Date::now().as_millis();
    let result = attempt(destination, delivery, body, &config.delivery.app_url).await;
    let now = Date::now().as_millis();
    let random = js_sys::Math::random();
    let step = attempt::after_attempt(&config.delivery, delivery, name, result, random, now);
    worker::console_log!("{}", serde_json::to_string(&step.log).unwrap_or_default());
    let outcome = breaker_reports::outcome(&step.log);
    let entry = AttemptEntry::of(&step, released.is_some(), now.saturating_sub(started), now);
    let still_held = released.is_some() && outcome == Outcome::Failed;
    let settled = settle(env, delivery, name, &step, &entry, still_held, now).await;
    if breaker_reports::must_report(
        released.is_some(),
        &config.delivery.breaker,
        outcome,
        report_success,
    ) {
        let error = step.next.last_error.as_deref();
        tell_breaker(env, config, name, released, outcome, error).await;
    }
    settled
}

/// What a destination's breaker answered the consumer.
enum Asked {
    /// It holds the event (its state is recorded as held).
    Held,
    /// Attempt it; `report_success`: tell the breaker if it is delivered.
    Attempt { report_success: bool },
}

/// Asks the destination's breaker whether to attempt the event, and
/// records a held one's state.
async fn ask_breaker(env: &Env, delivery: &QueuedDelivery, name: &str) -> Asked {
    let mine = QueuedDelivery {
        destination: Some(name.to_owned()),
        ..delivery.clone()
    };
    match breaker::ask(env, name, &mine).await {
        Ok(answer) if answer.decision == Decision::Held => {
            let now = Date::now().as_millis();
            let state = DeliveryState::new(
                DeliveryStatus::Retrying,
                delivery.attempts,
                delivery.last_status,
                Some("held: the destination is paused"),
                now,
            );
            let entry = AttemptEntry::held(delivery.attempts, now);
            record_state(env, &delivery.id, name, &state, Some(&entry)).await;
            Asked::Held
        }
        Ok(answer) => Asked::Attempt {
            report_success: answer.report_success,
        },
        // A breaker that cannot be reached holds nothing back.
        Err(error) => {
            worker::console_warn!("breaker of `{name}` unavailable: {error}");
            Asked::Attempt {
                report_success: true,
            }
        }
    }
}

/// Records an attempt's state and carries out what follows it; `false`
/// when nothing that follows could be carried out. A released event that
/// failed (`still_held`) is still held by its breaker: no retry, no dead
/// letter, and the attempts it had are kept.
async fn settle(
    env: &Env,
    delivery: &QueuedDelivery,
    name: &str,
    step: &AttemptStep,
    entry: &AttemptEntry,
    still_held: bool,
    now: u64,
) -> bool {
    if still_held {
        let state = DeliveryState::new(
            DeliveryStatus::Retrying,
            delivery.attempts,
            step.next.last_status,
            step.next.last_error.as_deref(),
            now,
        );
        record_state(env, &delivery.id, name, &state, Some(entry)).await;
        return true;
    }
    if let Some(state) = &step.state {
        record_state(env, &step.next.id, name, state, Some(entry)).await;
    }
    carry_out(env, delivery, attempt::follow_up(step, name, now)).await
}

/// Reports an attempt's outcome to the destination's breaker, and raises
/// the alert its answer carries. Best effort: a breaker not told is logged.
async fn tell_breaker(
    env: &Env,
    config: &Config,
    name: &str,
    released: Option<&str>,
    outcome: Outcome,
    error: Option<&str>,
) {
    match breaker::report(env, name, released, outcome, error).await {
        Ok(Some(alert)) => alerts::raise(env, config, alert, true).await,
        Ok(None) => {}
        Err(error) => worker::console_warn!("breaker of `{name}` not told: {error}"),
    }
}

/// Writes a delivery state row. Best effort: the delivery does not depend
/// on it (a dead letter, which does, is recorded by [`dead_letters::record`]).
async fn record_state(
    env: &Env,
    id: &str,
    destination: &str,
    state: &DeliveryState,
    entry: Option<&AttemptEntry>,
) {
    let statement = records::upsert(&DeliveryRow {
        event_id: id,
        destination,
        state,
        reason: None,
        entry,
    });
    let written = match db::database(env) {
        Ok(database) => db::changes(&database, &statement, None).await.map(|_| ()),
        Err(error) => Err(error),
    };
    if let Err(error) = written {
        worker::console_warn!("delivery state of {id} to `{destination}` not recorded: {error}");
    }
}

/// Carries out a follow-up, falling back as the engine says when one
/// fails; `false` when none could be carried out.
async fn carry_out(env: &Env, delivery: &QueuedDelivery, mut follow_up: FollowUp) -> bool {
    loop {
        let done = match &follow_up {
            FollowUp::Done => return true,
            FollowUp::Requeue {
                next,
                delay_seconds,
            } => requeue(env, next.clone(), *delay_seconds).await,
            FollowUp::DeadLetterQueue(dead) => send_dead_letter(env, dead).await,
            FollowUp::RecordDead(dead) => dead_letters::record(env, dead).await,
        };
        let Err(error) = done else {
            return true;
        };
        let error = error.to_string();
        worker::console_warn!("{} for {}: {error}", describe(&follow_up), delivery.id);
        match attempt::fallback(delivery, follow_up, &error, Date::now().as_millis()) {
            Some(next) => follow_up = next,
            None => {
                if delivery.destination.is_none() {
                    // Every store refused: nothing is left that could
                    // keep this destination's delivery. Retrying the whole
                    // message would call the others again.
                    worker::console_error!(
                        "{}",
                        serde_json::json!({"event": "delivery_lost", "id": delivery.id, "error": error})
                    );
                }
                return false;
            }
        }
    }
}

fn describe(follow_up: &FollowUp) -> &'static str {
    match follow_up {
        FollowUp::Done => "nothing",
        FollowUp::Requeue { .. } => "the retry could not be queued",
        FollowUp::DeadLetterQueue(_) => "the dead-letter queue refused the dead letter",
        FollowUp::RecordDead(_) => "the dead letter could not be recorded in D1",
    }
}

/// Waits for a paced destination's send slot: `true` to send now, `false`
/// when the message went back on the queue to keep a slot further off. A
/// pacer that cannot be reached does not hold deliveries back, and neither
/// does a requeue that fails: the destination is then sent to now, unpaced
/// (it may answer `429`, which is retried like any), rather than the whole
/// message retried.
async fn pace(env: &Env, destination: &Destination, delivery: &QueuedDelivery) -> bool {
    let Some(interval) = destination.pace else {
        return true;
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
                return true;
            }
        },
    };
    match pace::step(slot, Date::now().as_millis()) {
        pace::Step::SendAfter(0) => true,
        pace::Step::SendAfter(ms) => {
            Delay::from(std::time::Duration::from_millis(ms)).await;
            true
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
            match requeue(env, held, delay_seconds).await {
                Ok(()) => false,
                Err(error) => {
                    worker::console_warn!(
                        "slot of `{}` not kept ({error}), sending unpaced",
                        destination.name
                    );
                    true
                }
            }
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
    let Some(body) = report::delivery_body(destination, delivery, body, app_url) else {
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
    for (name, value) in attempt::request_headers(destination, delivery, timestamp, body) {
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

/// Hands a delivery that failed for good to the dead-letter queue.
async fn send_dead_letter(env: &Env, dead: &DeadLetter) -> worker::Result<()> {
    env.queue(bindings::DEAD_LETTERS_QUEUE)?.send(dead).await
}
