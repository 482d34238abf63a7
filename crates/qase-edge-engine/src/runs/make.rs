//! The machine that makes one run's report, when its [`RunReportDue`]
//! message comes back after the settle time ([`MakeReport`]), with the
//! operations of the delivery machine ([`crate::delivery::machine::Op`]):
//!
//! 1. The run's state from its object; a run not ended yet has nothing to
//!    report.
//! 2. With `QASE_API_TOKEN`, the failed and blocked cases from Qase's REST
//!    API ([`crate::runs::qase_api`]): the first page of both result
//!    listings and, unless the run has them, its details
//!    ([`crate::runs::details`]) at once, then the further pages of both
//!    within the budget ([`listings::MAX_RESULT_PAGES`]), then each listed
//!    case for its title, at once. Before the take, so that a retry of this
//!    message fetches again rather than reporting without them. Each
//!    request has the API's timeout: a Qase API that never answers delays
//!    this report by at most 2 + [`listings::MAX_RESULT_PAGES`] timeouts,
//!    and a listing that fails leaves the report with the counts only.
//! 3. The take from the run's object (only one message may take a report).
//! 4. One delivery per report destination, queued at once; the message
//!    that holds the report is retried when they cannot be.

use qase_webhooks::run_report::{FailureStatus, Failures};

use crate::config::Config;
use crate::delivery::attempt::Disposition;
use crate::delivery::machine::{Level, Machine, Next, Note, Op, OpResult};
use crate::runs::details::RunDetails;
use crate::runs::qase_api;
use crate::runs::report::{self, RunKey, RunReportDue};
use crate::runs::state::{Fetched, RunState};

pub mod listings;
use listings::{Listings, Round};

/// Where a [`MakeReport`] stands.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Stage {
    State,
    Listings(Box<Listings>),
    /// The titles of these cases (`more`: the failures beyond them).
    Titles(Vec<(u64, FailureStatus)>, u64),
    Take,
    Queue,
    Ended,
}

/// One run's report, made (see the module's documentation).
#[derive(Debug)]
pub struct MakeReport<'c> {
    config: &'c Config,
    key: RunKey,
    message_id: String,
    stage: Stage,
    /// The run's details, fetched with the listings.
    details: Option<RunDetails>,
    notes: Vec<Note>,
}

impl<'c> MakeReport<'c> {
    /// Starts on the report message `message_id` (the queue's id for it).
    pub fn start(config: &'c Config, message_id: &str, due: RunReportDue) -> (Self, Next) {
        let mut make = MakeReport {
            config,
            key: due.run_report,
            message_id: message_id.to_owned(),
            stage: Stage::State,
            details: None,
            notes: Vec::new(),
        };
        let op = Op::ReadRun(make.key.clone());
        let next = make.run(Stage::State, vec![op]);
        (make, next)
    }

    fn run(&mut self, stage: Stage, ops: Vec<Op>) -> Next {
        self.stage = stage;
        Next::Run(ops)
    }

    fn end(&mut self, disposition: Disposition) -> Next {
        self.stage = Stage::Ended;
        Next::End(disposition)
    }

    fn note(&mut self, level: Level, line: String) {
        self.notes.push(Note { level, line });
    }

    /// An object that failed: the message is retried.
    fn failed(&mut self, what: &str, result: OpResult) -> Next {
        let RunKey { project, run } = &self.key;
        let line = format!("the report of run {project}/{run}: {what}: {result:?}");
        self.note(Level::Error, line);
        self.end(Disposition::Retry)
    }

    fn after_state(&mut self, state: RunState) -> Next {
        if !state.status.is_final() {
            return self.end(Disposition::Ack);
        }
        match (&self.config.runs.api, &state.failures) {
            (Some(api), None) => {
                let (project, run) = (&self.key.project, self.key.run);
                // Details read while the run was in progress (its start's)
                // are not its result: asked again.
                let with_details = !state.details.as_ref().is_some_and(|d| d.finished);
                let (listings, ops) = Listings::start(api, project, run, with_details);
                self.run(Stage::Listings(Box::new(listings)), ops)
            }
            _ => self.take(None),
        }
    }

    /// A round of listings: more pages, or the cases to fetch the titles
    /// of, or the counts only.
    fn after_listings(&mut self, mut listings: Box<Listings>, results: Vec<OpResult>) -> Next {
        let Some(api) = &self.config.runs.api else {
            return self.take(None);
        };
        let (failed, blocked) = match listings.feed(api, results) {
            Round::More(ops) => return self.run(Stage::Listings(listings), ops),
            Round::Listed(failed, blocked) => {
                self.details = listings.details.take();
                (failed, blocked)
            }
            Round::Failed => {
                self.details = listings.details.take();
                let RunKey { project, run } = &self.key;
                let line = format!("Qase's API did not list the results of run {project}/{run}");
                self.note(Level::Warn, line);
                return self.take(None);
            }
        };
        let (cases, more) = qase_api::failed_cases(&failed, &blocked);
        if cases.is_empty() {
            return self.after_titles(&cases, more, Vec::new());
        }
        let project = &self.key.project;
        let titles = cases
            .iter()
            .map(|(case, _)| Op::Fetch(qase_api::case_request(api, project, *case)))
            .collect();
        self.run(Stage::Titles(cases, more), titles)
    }

    fn after_titles(
        &mut self,
        cases: &[(u64, FailureStatus)],
        more: u64,
        results: Vec<OpResult>,
    ) -> Next {
        let titles: Vec<Option<String>> = results
            .into_iter()
            .map(|result| body_of(result).and_then(|body| qase_api::parse_case_title(&body)))
            .collect();
        let app_url = &self.config.delivery.app_url;
        let failures = qase_api::failures(cases, &titles, more, &self.key.project, app_url);
        self.take(Some(failures))
    }

    fn take(&mut self, failures: Option<Failures>) -> Next {
        let op = Op::TakeReport {
            key: self.key.clone(),
            message_id: self.message_id.clone(),
            fetched: Fetched {
                failures,
                details: self.details.take(),
            },
        };
        self.run(Stage::Take, vec![op])
    }

    /// The report taken: one delivery per report destination.
    fn after_take(&mut self, taken: &RunState, now: u64) -> Next {
        let app_url = &self.config.delivery.app_url;
        let Some(report) = report::report(taken, app_url) else {
            return self.end(Disposition::Ack);
        };
        let destinations = report::report_destinations(&self.config.delivery, &self.key.project);
        let messages = report::report_messages(&report, &destinations, now);
        let RunKey { project, run } = &self.key;
        let line = serde_json::json!({"event": "run_report", "project": project, "run": run, "id": report.id, "destinations": messages.len(), "failures_listed": report.failures.items.len()});
        self.note(Level::Log, line.to_string());
        if messages.is_empty() {
            return self.end(Disposition::Ack);
        }
        self.run(Stage::Queue, vec![Op::QueueDeliveries(messages)])
    }
}

/// The body of a `200` read whole, or `None` (the reason is the listing's).
fn body_of(result: OpResult) -> Option<Vec<u8>> {
    match result {
        OpResult::Fetched(answer) => answer.ok_body().ok(),
        _ => None,
    }
}

impl Machine for MakeReport<'_> {
    fn take_notes(&mut self) -> Vec<Note> {
        std::mem::take(&mut self.notes)
    }

    fn feed(&mut self, results: Vec<OpResult>, now: u64) -> Next {
        let stage = std::mem::replace(&mut self.stage, Stage::Ended);
        if let Stage::Listings(listings) = stage {
            return self.after_listings(listings, results);
        }
        if let Stage::Titles(cases, more) = stage {
            return self.after_titles(&cases, more, results);
        }
        let result = results.into_iter().next().unwrap_or(OpResult::Done);
        match (stage, result) {
            (Stage::State, OpResult::Run(state)) => self.after_state(*state),
            (Stage::State, other) => self.failed("the run's object failed", other),
            // Another message took it: the report is someone else's to send.
            (Stage::Take, OpResult::Taken(None)) => self.end(Disposition::Ack),
            (Stage::Take, OpResult::Taken(Some(taken))) => self.after_take(&taken, now),
            (Stage::Take, other) => self.failed("the run's object failed", other),
            (Stage::Queue, OpResult::Done) => self.end(Disposition::Ack),
            // This message holds the report: its retry sends them again.
            (Stage::Queue, other) => self.failed("not queued", other),
            _ => self.end(Disposition::Ack),
        }
    }
}

#[cfg(test)]
mod tests;
