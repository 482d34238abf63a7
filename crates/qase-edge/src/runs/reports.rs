//! The queue consumer's part in runs ([`engine::runs::state`],
//! [`engine::runs::report`]): hands each new `run.*` and `result.*`
//! event to its run's object, sends the delayed report message when a
//! run's end is applied, and, when that message comes back after the
//! settle time, fetches the failed and blocked cases from Qase's REST API,
//! takes the report and queues one delivery per report destination.
//!
//! Everything here runs in the queue consumer, never while Qase waits for
//! the ingest route's answer.

use futures_util::future::join_all;
use qase_webhooks::run_report::{FailureStatus, Failures, RunReport};
use worker::{Date, Env, Fetch, Headers, MessageBuilder, Method, Request, RequestInit};

use crate::runs::run_watch;
use engine::config::bindings;
use engine::config::Config;
use engine::delivery::attempt::Disposition;
use engine::runs::qase_api;
use engine::runs::qase_api::ApiRequest;
use engine::runs::report::{self, RunKey, RunReportDue};
use engine::runs::settings::QaseApi;
use engine::runs::state;

/// Applies a new event to its run, if it is about one; sends the report
/// message when the run's end calls for it. `Err`: the message is retried
/// (applying again changes nothing).
pub async fn on_event(env: &Env, config: &Config, id: &str, body: &[u8]) -> Result<(), String> {
    let Some(fact) = state::fact_of(id, body) else {
        return Ok(());
    };
    if env.durable_object(bindings::RUN_WATCH).is_err() {
        // A deployment whose wrangler.toml predates runs: runs are off, and
        // delivery goes on as before.
        return Ok(());
    }
    let answer = run_watch::apply(env, &fact)
        .await
        .map_err(|error| format!("the run's object failed: {error}"))?;
    if answer.ended_now {
        worker::console_log!(
            "{}",
            serde_json::json!({"event": "run_ended", "project": fact.project, "run": fact.run, "status": answer.state.status})
        );
    }
    let wanted = report::reports_wanted(config, &fact.project);
    if report::report_due(&fact, &answer.state, wanted) {
        let due = RunReportDue {
            run_report: report::RunKey {
                project: fact.project.clone(),
                run: fact.run,
            },
        };
        env.queue(bindings::DELIVERIES_QUEUE)
            .map_err(|error| error.to_string())?
            .send(
                MessageBuilder::new(due)
                    .delay_seconds(config.runs.settle_seconds as u32)
                    .build(),
            )
            .await
            .map_err(|error| format!("the report message could not be queued: {error}"))?;
    }
    Ok(())
}

/// Makes a run's report for the message `message_id` (after the settle time).
pub async fn make_report(
    env: &Env,
    config: &Config,
    message_id: &str,
    due: &RunReportDue,
) -> Disposition {
    let key = &due.run_report;
    let state = match run_watch::state(env, key).await {
        Ok(state) => state,
        Err(error) => {
            worker::console_error!("the report of run {}/{}: {error}", key.project, key.run);
            return Disposition::Retry;
        }
    };
    if !state.status.is_final() {
        return Disposition::Ack;
    }
    // Fetched before the take, so that a retry of this message fetches again
    // rather than reporting without them; kept in the run's state by the take.
    let failures = match (&config.runs.api, &state.failures) {
        (Some(api), None) => {
            fetch_failures(api, &key.project, key.run, &config.delivery.app_url).await
        }
        _ => None,
    };
    let taken = match run_watch::take(env, key, message_id, failures).await {
        Ok(Some(taken)) => taken,
        Ok(None) => {
            // Another message took it: the report is someone else's to send.
            return Disposition::Ack;
        }
        Err(error) => {
            worker::console_error!("the report of run {}/{}: {error}", key.project, key.run);
            return Disposition::Retry;
        }
    };
    let Some(report) = report::report(&taken, &config.delivery.app_url) else {
        return Disposition::Ack;
    };
    send_report(env, config, key, &report).await
}

/// Queues one delivery of `report` per report destination; the message
/// that holds the report is retried when they cannot be queued.
async fn send_report(env: &Env, config: &Config, key: &RunKey, report: &RunReport) -> Disposition {
    let destinations = report::report_destinations(&config.delivery, &key.project);
    let messages = report::report_messages(report, &destinations, Date::now().as_millis());
    worker::console_log!(
        "{}",
        serde_json::json!({"event": "run_report", "project": key.project, "run": key.run, "id": report.id, "destinations": messages.len(), "failures_listed": report.failures.items.len()})
    );
    if messages.is_empty() {
        return Disposition::Ack;
    }
    let sent = match env.queue(bindings::DELIVERIES_QUEUE) {
        Ok(queue) => queue.send_batch(messages).await,
        Err(error) => Err(error),
    };
    match sent {
        Ok(()) => Disposition::Ack,
        Err(error) => {
            // This message holds the report: its retry sends the batch again.
            worker::console_error!(
                "the report of run {}/{} not queued: {error}",
                key.project,
                key.run
            );
            Disposition::Retry
        }
    }
}

/// The run's failed and blocked cases from Qase's REST API: two result
/// listings, then each listed case for its title (at most
/// [`report::MAX_LISTED_FAILURES`] requests). `None` when a listing
/// fails: the report then carries the counts only.
async fn fetch_failures(api: &QaseApi, project: &str, run: u64, app_url: &str) -> Option<Failures> {
    let listing = |status| async move {
        let body = get(api, &qase_api::results_request(api, project, run, status)).await?;
        qase_api::parse_results(&body)
    };
    let (failed, blocked) = futures_util::join!(
        listing(FailureStatus::Failed),
        listing(FailureStatus::Blocked)
    );
    let (Some(failed), Some(blocked)) = (failed, blocked) else {
        worker::console_warn!("Qase's API did not list the results of run {project}/{run}");
        return None;
    };
    let (cases, more) = qase_api::failed_cases(&failed, &blocked);
    let titles = join_all(cases.iter().map(|(case, _)| async move {
        let body = get(api, &qase_api::case_request(api, project, *case)).await?;
        qase_api::parse_case_title(&body)
    }))
    .await;
    Some(qase_api::failures(&cases, &titles, more, project, app_url))
}

/// `GET` on Qase's API with the token; the body of a `200`.
async fn get(api: &QaseApi, request: &ApiRequest) -> Option<Vec<u8>> {
    let headers = Headers::new();
    headers.set("Token", &api.token).ok()?;
    headers.set("Accept", "application/json").ok()?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let request = Request::new_with_init(&request.url, &init).ok()?;
    let mut response = Fetch::Request(request).send().await.ok()?;
    if response.status_code() != 200 {
        worker::console_warn!("Qase's API answered {}", response.status_code());
        return None;
    }
    response.bytes().await.ok()
}
