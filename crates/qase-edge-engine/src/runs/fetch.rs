//! The machine that fetches a run's details when it starts and when it
//! ends ([`FetchDetails`], one [`RunDetailsDue`] message each), with the
//! operations of the delivery machine ([`crate::delivery::machine::Op`]):
//!
//! 1. One `GET /run/{code}/{id}` of Qase's REST API ([`qase_api::run_request`]).
//! 2. Its details applied to the run's object as a [`RunFactKind::Details`]
//!    fact: not an event, so the run's times, status and history are
//!    untouched; the newest fetch wins.
//! 3. A running run whose tags name a commit: its status queued for each
//!    GitHub destination ([`crate::delivery::github::due`]).
//!
//! Queued at once, not after the settle time, so that a CI gate
//! (`qase-hook wait`) and a pull request's status read Qase's counts and
//! the run's tags within seconds of its start or end. An answer that is
//! not the documented run (a `429`, a `5xx`, a timeout) retries the
//! message (the platform's delay, then its dead-letter queue, where it is
//! logged and dropped): the run keeps what its events told, and the report
//! asks again ([`crate::runs::make`]). Another `4xx` (the run is gone, the
//! token is refused) ends it, said in the log.

use crate::config::Config;
use crate::delivery::attempt::Disposition;
use crate::delivery::github::due as github;
use crate::delivery::github::tags::TagPrefixes;
use crate::delivery::machine::{Level, Machine, Next, Note, Op, OpResult};
use crate::http::outbound::Answer;
use crate::runs::qase_api;
pub use crate::runs::report::RunDetailsDue;
use crate::runs::report::RunKey;
use crate::runs::state::{RunFact, RunFactKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Fetch,
    Apply,
    /// The run's GitHub statuses queued.
    Github,
    Ended,
}

/// One run's details, fetched and applied (see the module's documentation).
#[derive(Debug)]
pub struct FetchDetails {
    key: RunKey,
    message_id: String,
    stage: Stage,
    notes: Vec<Note>,
    /// The project's GitHub destinations, sent the running run's status.
    github: Vec<(String, TagPrefixes)>,
}

impl FetchDetails {
    /// Starts on the message `message_id` (its queue id names the fact).
    /// Without `QASE_API_TOKEN` (removed since it was queued) it ends at once.
    pub fn start(config: &Config, message_id: &str, due: RunDetailsDue) -> (Self, Next) {
        let mut fetch = FetchDetails {
            key: due.run_details.clone(),
            message_id: message_id.to_owned(),
            stage: Stage::Fetch,
            notes: Vec::new(),
            github: github::destinations(&config.delivery, &due.run_details.project),
        };
        let next = match &config.runs.api {
            Some(api) => {
                let request = qase_api::run_request(api, &fetch.key.project, fetch.key.run);
                Next::Run(vec![Op::Fetch(request)])
            }
            None => fetch.end(Disposition::Ack),
        };
        (fetch, next)
    }

    fn end(&mut self, disposition: Disposition) -> Next {
        self.stage = Stage::Ended;
        Next::End(disposition)
    }

    fn say(&mut self, level: Level, what: &str) {
        let RunKey { project, run } = &self.key;
        let line = format!("the details of run {project}/{run}: {what}");
        self.notes.push(Note { level, line });
    }

    fn after_fetch(&mut self, result: OpResult, now: u64) -> Next {
        let answer = match result {
            OpResult::Fetched(answer) => answer,
            other => {
                self.say(Level::Error, &format!("not fetched: {other:?}"));
                return self.end(Disposition::Retry);
            }
        };
        // A refusal a retry cannot change (the run is gone, the token is
        // wrong): said once, and the run keeps what its events told.
        if let Answer::Status { status, .. } = answer {
            if (400..500).contains(&status) && status != 408 && status != 429 {
                self.say(
                    Level::Warn,
                    &format!("Qase's API refused with HTTP {status}"),
                );
                return self.end(Disposition::Ack);
            }
        }
        let details = match answer.ok_body() {
            Ok(body) => qase_api::parse_run(&body),
            Err(error) => {
                self.say(
                    Level::Warn,
                    &format!("Qase's API answered {error}; retried"),
                );
                return self.end(Disposition::Retry);
            }
        };
        let Some(details) = details else {
            self.say(Level::Warn, "Qase's API answered no run as documented");
            return self.end(Disposition::Ack);
        };
        let fact = RunFact {
            event_id: format!("details:{}", self.message_id),
            project: self.key.project.clone(),
            run: self.key.run,
            at: now / 1000,
            team_member_id: 0,
            kind: RunFactKind::Details {
                details: Box::new(details),
            },
        };
        self.stage = Stage::Apply;
        Next::Run(vec![Op::ApplyRun(fact)])
    }
}

impl Machine for FetchDetails {
    fn take_notes(&mut self) -> Vec<Note> {
        std::mem::take(&mut self.notes)
    }

    fn feed(&mut self, results: Vec<OpResult>, now: u64) -> Next {
        let result = results.into_iter().next().unwrap_or(OpResult::Done);
        match (std::mem::replace(&mut self.stage, Stage::Ended), result) {
            (Stage::Fetch, result) => self.after_fetch(result, now),
            (Stage::Apply, OpResult::RunApplied { state, .. }) => {
                match github::status_messages(&self.github, &state, now) {
                    messages if messages.is_empty() => self.end(Disposition::Ack),
                    messages => {
                        self.stage = Stage::Github;
                        Next::Run(vec![Op::QueueDeliveries(messages)])
                    }
                }
            }
            (Stage::Apply, OpResult::RunsOff) | (Stage::Github, OpResult::Done) => {
                self.end(Disposition::Ack)
            }
            (Stage::Github, other) => {
                self.say(
                    Level::Error,
                    &format!("GitHub's status not queued: {other:?}"),
                );
                self.end(Disposition::Retry)
            }
            (Stage::Apply, other) => {
                self.say(Level::Error, &format!("the run's object failed: {other:?}"));
                self.end(Disposition::Retry)
            }
            (Stage::Ended, _) => self.end(Disposition::Ack),
        }
    }
}

#[cfg(test)]
mod tests;
