//! Run reports, as rules: when a report is due ([`RunReportDue`], the
//! queue message that makes it, delayed by the settle time; it stays here
//! rather than in `delivery::messages` because only the runs' consumer
//! reads it and its one field is the run), who gets it, what it says, and
//! the delivery messages that carry it. The state itself is
//! [`crate::runs::state`]; the failures come from [`crate::runs::qase_api`].
//! The shell carries these out in `qase_edge::runs::reports` (the consumer)
//! and `qase_edge::runs::run_watch` (the Durable Object).
//!
//! A report is sent once per run, after `QASE_RUN_SETTLE_SECONDS`: the
//! consumer that applies a run's end sends a delayed [`RunReportDue`]
//! message; the consumer of that message fetches the failures (when
//! `QASE_API_TOKEN` is set, never while Qase waits for an answer), takes
//! the report from the run's object (only one message may:
//! [`crate::runs::state::take_report`]) and queues one delivery per subscribed
//! destination, which then goes through the ordinary delivery path:
//! retries, backoff, pacing and dead letters, `webhook-id` the report id.

use qase_webhooks::run_report::{
    run_url, FailureSource, Failures, RunCounts, RunReport, RUN_REPORT_EVENT, RUN_REPORT_VERSION,
};
use qase_webhooks::{EventId, EVENT_ID_PREFIX};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::delivery::messages::QueuedDelivery;
use crate::delivery::settings::{DeliverySettings, Destination, Format};
use crate::runs::state::{ReportState, RunFact, RunFactKind, RunState};

/// Cases listed in a report (and fetched from Qase for their titles: one
/// request each, within Workers' 50 subrequests per invocation together
/// with the two result listings).
pub const MAX_LISTED_FAILURES: usize = 20;

/// The queue message that makes a run's report, delayed by the settle time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReportDue {
    /// The run.
    pub run_report: RunKey,
}

/// The queue message that fetches a run's details
/// ([`crate::runs::fetch::FetchDetails`]), at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunDetailsDue {
    /// The run.
    pub run_details: RunKey,
}

/// A run's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunKey {
    /// The project code.
    pub project: String,
    /// The run id.
    pub run: u64,
}

/// Whether anything needs a run's report: a destination asks for reports
/// in its project, or the failures are to be fetched for the API.
pub fn reports_wanted(config: &Config, project: &str) -> bool {
    config.runs.api.is_some() || !report_destinations(&config.delivery, project).is_empty()
}

/// Whether the consumer that applied `fact` (or the reconcile pass,
/// [`crate::runs::reconcile`]) sends the run's report message: the fact
/// is an end (an event's or a reconciled one), the run has ended and its
/// report has not been taken.
/// Said again for an end applied before (a retried message), so that a
/// message lost after the object stored the end is sent by the retry; the
/// take makes extra messages harmless.
pub fn report_due(fact: &RunFact, state: &RunState, wanted: bool) -> bool {
    wanted
        && matches!(
            fact.kind,
            RunFactKind::Ended { .. } | RunFactKind::Reconciled { .. }
        )
        && state.status.is_final()
        && state.report == ReportState::NotSent
}

/// Whether the consumer that applied `fact` fetches the run's details
/// ([`crate::runs::fetch`]): with `QASE_API_TOKEN`, when the run starts
/// (its tags, for a pull request's pending status) and when an event ended
/// it. A reconciled end brings its details with it.
pub fn details_due(config: &Config, fact: &RunFact, ended_now: bool) -> bool {
    config.runs.api.is_some()
        && match fact.kind {
            RunFactKind::Started { .. } => true,
            RunFactKind::Ended { .. } => ended_now,
            _ => false,
        }
}

/// The enabled destinations with `"reports": true` whose projects include `project`.
pub fn report_destinations<'c>(
    delivery: &'c DeliverySettings,
    project: &str,
) -> Vec<&'c Destination> {
    delivery
        .destinations
        .iter()
        .filter(|d| d.enabled && d.reports && d.filter.matches_project(project))
        .collect()
}

/// A run's report id, stable for the run: `rpt_` and 32 hex digits.
pub fn report_id(project: &str, run: u64) -> String {
    let id = EventId::of(format!("run-report:{project}/{run}").as_bytes()).to_string();
    format!("rpt_{}", &id[EVENT_ID_PREFIX.len()..])
}

/// The report of an ended run (`None` while it has not ended).
pub fn report(state: &RunState, app_url: &str) -> Option<RunReport> {
    let end = state.end.as_ref()?;
    let counts = counts_of(state)?;
    Some(RunReport {
        kind: RUN_REPORT_EVENT.to_owned(),
        version: RUN_REPORT_VERSION,
        id: report_id(&state.project, state.run),
        project: state.project.clone(),
        run: state.run,
        outcome: end.outcome,
        title: state.title.clone(),
        plan_id: state.plan_id,
        started_by: state.started_by,
        counts,
        pass_rate: counts.pass_rate(),
        duration_ms: counts.duration,
        first_event_at: state.first_event_at,
        last_event_at: state.last_event_at,
        results_received: state.results.total(),
        failures: state.failures.clone().unwrap_or(Failures {
            source: FailureSource::None,
            items: Vec::new(),
            more: 0,
        }),
        tags: state
            .details
            .as_ref()
            .map(|details| details.tags.clone())
            .unwrap_or_default(),
        url: run_url(app_url, &state.project, state.run),
    })
}

/// A run's counts once it has ended: what Qase's API counts (its details)
/// when they were read, else what its end told. The report and the CI gate
/// (`qase-hook wait`, through the run's view) read these.
pub fn counts_of(state: &RunState) -> Option<RunCounts> {
    let end = state.end.as_ref()?;
    Some(match &state.details {
        Some(details) if details.finished => details.counts(end.counts.duration),
        _ => end.counts,
    })
}

/// One delivery message per report destination, each for that destination
/// only, so that each is retried on its own like any delivery.
pub fn report_messages(
    report: &RunReport,
    destinations: &[&Destination],
    now: u64,
) -> Vec<QueuedDelivery> {
    let body = serde_json::to_string(report).expect("a report serialises");
    destinations
        .iter()
        .map(|destination| QueuedDelivery {
            destination: Some(destination.name.clone()),
            ..QueuedDelivery::new(
                report.id.clone(),
                RUN_REPORT_EVENT.to_owned(),
                report.project.clone(),
                now,
                body.as_bytes(),
                false,
            )
        })
        .collect()
}

/// The body a destination is sent for a queued delivery: a report's
/// document (`standard`) or its chat message; any other event's as
/// [`crate::delivery::attempt::request_body`] says.
pub fn delivery_body(
    destination: &Destination,
    message: &QueuedDelivery,
    body: &[u8],
    app_url: &str,
) -> Option<Vec<u8>> {
    if message.event_name != RUN_REPORT_EVENT {
        return crate::delivery::attempt::request_body(destination, body, app_url);
    }
    match destination.format {
        Format::Standard => Some(body.to_vec()),
        // Made from the run's state by its own steps (`delivery::github::sync`).
        Format::Github => None,
        Format::Chat(format) => {
            let report: RunReport = serde_json::from_slice(body).ok()?;
            serde_json::to_vec(&qase_webhooks::chat::render_report(format, &report)).ok()
        }
    }
}
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::runs::state::{apply, fact_of, tests::run_events};
    use qase_webhooks::run_report::RunOutcome;

    pub(crate) fn config(destinations: &str, extra: &[(&str, &str)]) -> Config {
        let vars: Vec<(String, String)> = [
            ("QASE_WEBHOOK_SECRET", "a-secret"),
            ("QASE_DESTINATIONS", destinations),
        ]
        .iter()
        .chain(extra.iter())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let config = Config::from_lookup(
            |key| vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()),
            &[
                crate::store::settings::Sink::D1,
                crate::store::settings::Sink::Queue,
            ],
        )
        .unwrap();
        assert!(config.problems.is_empty(), "{:?}", config.problems);
        config
    }

    pub(crate) fn ended_state() -> RunState {
        let mut state = None;
        for (id, body) in run_events() {
            if let Some(fact) = fact_of(&id, &body).filter(|f| f.run == 42) {
                state = Some(apply(state, &fact, false).state);
            }
        }
        state.unwrap()
    }

    #[test]
    fn reports_go_to_destinations_that_ask_in_their_projects() {
        let config = config(
            r#"[{"name":"a","url":"https://x","reports":true},
                {"name":"b","url":"https://x"},
                {"name":"c","url":"https://x","reports":true,"projects":["API"]},
                {"name":"d","url":"https://x","reports":true,"enabled":false},
                {"name":"e","url":"https://x","reports":true,"events":["case.*"],"projects":["WEB"]}]"#,
            &[],
        );
        let names = |project| -> Vec<String> {
            report_destinations(&config.delivery, project)
                .iter()
                .map(|d| d.name.clone())
                .collect()
        };
        assert_eq!(names("WEB"), ["a", "e"]);
        assert_eq!(names("API"), ["a", "c"]);
        assert!(reports_wanted(&config, "WEB"));
        let quiet = self::config(r#"[{"name":"b","url":"https://x"}]"#, &[]);
        assert!(!reports_wanted(&quiet, "WEB"));
        let token = self::config(r#"[]"#, &[("QASE_API_TOKEN", "t")]);
        assert!(reports_wanted(&token, "WEB"));
    }

    #[test]
    fn a_report_is_due_for_an_end_until_it_is_taken() {
        let state = ended_state();
        let events = run_events();
        let end = fact_of(&events[6].0, &events[6].1).unwrap();
        let start = fact_of(&events[0].0, &events[0].1).unwrap();
        assert!(report_due(&end, &state, true));
        assert!(!report_due(&end, &state, false));
        assert!(!report_due(&start, &state, true));
        let taken =
            crate::runs::state::take_report(&state, "m", crate::runs::state::Fetched::default())
                .unwrap();
        assert!(!report_due(&end, &taken, true));
    }

    #[test]
    fn the_report_says_what_the_run_said_and_links_to_it() {
        let mut state = ended_state();
        let report = report(&state, "https://app.qase.io").unwrap();
        assert_eq!(report.id, report_id("WEB", 42));
        assert!(report.id.starts_with("rpt_") && report.id.len() == 36);
        assert_eq!(report.outcome, RunOutcome::Completed);
        assert_eq!((report.counts.cases, report.counts.failed), (3, 1));
        assert_eq!(report.pass_rate, Some(66.7));
        assert_eq!(report.results_received, 3);
        assert_eq!(report.failures.source, FailureSource::None);
        assert_eq!(report.url, "https://app.qase.io/run/WEB/dashboard/42");
        state.end = None;
        assert_eq!(super::report(&state, "https://app.qase.io"), None);
    }

    #[test]
    fn each_report_destination_gets_its_own_message_with_the_report() {
        let config = config(
            r#"[{"name":"a","url":"https://x","reports":true},{"name":"s","url":"https://x","format":"slack","reports":true}]"#,
            &[],
        );
        let report = report(&ended_state(), "https://app.qase.io").unwrap();
        let messages = report_messages(&report, &report_destinations(&config.delivery, "WEB"), 7);
        assert_eq!(messages.len(), 2);
        for (message, name) in messages.iter().zip(["a", "s"]) {
            assert_eq!(message.destination.as_deref(), Some(name));
            assert_eq!(
                (message.id.as_str(), message.event_name.as_str()),
                (report.id.as_str(), "run.report")
            );
            let body: RunReport = serde_json::from_str(message.body.as_deref().unwrap()).unwrap();
            assert_eq!(body, report);
        }
        let raw = message_body(&config, "a", &messages[0]);
        assert_eq!(raw, messages[0].body.as_deref().unwrap().as_bytes());
        let slack: serde_json::Value =
            serde_json::from_slice(&message_body(&config, "s", &messages[1])).unwrap();
        assert!(
            slack["text"].as_str().unwrap().contains("Test run report"),
            "{slack}"
        );
    }

    fn message_body(config: &Config, name: &str, message: &QueuedDelivery) -> Vec<u8> {
        let destination = config.delivery.destination(name).unwrap();
        delivery_body(
            destination,
            message,
            message.body.as_deref().unwrap().as_bytes(),
            "https://app.qase.io",
        )
        .unwrap()
    }
}
