//! The question the check asks Qase's REST API ([`request`]), how it reads
//! the answer ([`read`]), and the machine that asks it of each project in
//! turn ([`DisabledCheck`]), with the operations of the delivery machines
//! ([`crate::delivery::machine::Op`]).
//!
//! Within the limits as the reconcile pass is: at most [`MAX_PROBES`]
//! requests a pass (the projects asked least recently first), one at a
//! time, each within `QASE_API_TIMEOUT_SECONDS`; none while a `Retry-After`
//! holds (a reconcile cursor's or the check's own); a `429` holds every
//! project asked after it, a timeout, a network error or a `5xx` ends the
//! asking; any other refusal is that project's only.

use std::collections::VecDeque;

use qase_webhooks::chat::path_segment;

use super::{decided, judge, plan, Decided, DisabledRow, Facts, Plan, ProbeWindow, Probed};
use super::{subjects, Rules};
use crate::alerts::watch::LastDelivery;
use crate::config::Config;
use crate::delivery::attempt::Disposition;
use crate::delivery::machine::{Level, Machine, Next, Note, Op, OpResult};
use crate::http::outbound::{Answer, Request};
use crate::runs::qase_api;
use crate::runs::reconcile::{listing, ListingFailure};
use crate::runs::settings::QaseApi;

/// The most requests to Qase's API one pass makes.
pub const MAX_PROBES: usize = 4;

/// The documented endpoint "Get all runs", any status, one run:
/// `GET /run/{code}?from_start_time=&to_start_time=&limit=1&offset=0`.
/// Its `filtered` counts the runs started in `window`.
pub fn request(api: &QaseApi, project: &str, window: ProbeWindow) -> Request {
    let url = format!(
        "{}/run/{}?from_start_time={}&to_start_time={}&limit=1&offset=0",
        api.base_url,
        path_segment(project),
        window.from,
        window.to
    );
    qase_api::get(api, url)
}

/// What an answer says, and whether the asking stops there (the API is
/// down, or rate limited, for every project).
pub fn read(answer: Answer) -> (Probed, bool) {
    match listing(answer) {
        Ok(page) => match page.runs.into_iter().next() {
            Some(run) => {
                let count = page.matched.max(1);
                let (run, title) = (run.id, run.title);
                (Probed::Runs { count, run, title }, false)
            }
            None => (Probed::NoRuns, false),
        },
        Err(ListingFailure::RateLimited { retry_after }) => {
            (Probed::RateLimited { retry_after }, true)
        }
        Err(ListingFailure::Unavailable(_)) => (Probed::Unknown, true),
        Err(ListingFailure::Refused(_)) => (Probed::Unknown, false),
    }
}

/// A project to ask about.
#[derive(Debug, Clone)]
struct Asking {
    stored: Option<DisabledRow>,
    row: DisabledRow,
    window: ProbeWindow,
}

/// One pass of the check over the projects (see [`super`]).
#[derive(Debug)]
pub struct DisabledCheck<'c> {
    api: &'c QaseApi,
    rules: Rules,
    now: u64,
    waiting: VecDeque<Asking>,
    current: Option<Asking>,
    decided: Vec<Decided>,
    asked: usize,
    notes: Vec<Note>,
}

impl<'c> DisabledCheck<'c> {
    /// Starts a pass at `now` (Unix ms) with the stored rows and the last
    /// deliveries; `api_held`: a reconcile cursor's `Retry-After` holds.
    /// `None` when the check is off (no token, or no project).
    pub fn start(
        config: &'c Config,
        stored: &[DisabledRow],
        last: &[LastDelivery],
        api_held: bool,
        now: u64,
    ) -> Option<(Self, Next)> {
        let api = config.runs.api.as_ref()?;
        let subjects = subjects(config);
        if subjects.is_empty() {
            return None;
        }
        let rules = Rules::of(config);
        let mut check = DisabledCheck {
            api,
            rules,
            now,
            waiting: VecDeque::new(),
            current: None,
            decided: Vec::new(),
            asked: 0,
            notes: Vec::new(),
        };
        let mut asking = Vec::new();
        for subject in &subjects {
            let stored = stored.iter().find(|r| r.project_code == subject.project);
            let last_delivery_at = last
                .iter()
                .find(|l| l.project_code == subject.project)
                .and_then(|l| l.at);
            let facts = Facts {
                stored,
                last_delivery_at,
                api_held,
                now,
            };
            match plan(subject, facts, &rules) {
                Plan::Decided(decided) => check.decided.push(decided),
                Plan::Probe { row, window } => asking.push(Asking {
                    stored: stored.cloned(),
                    row,
                    window,
                }),
            }
        }
        asking.sort_by_key(|a| a.row.checked_at);
        for later in asking.split_off(asking.len().min(MAX_PROBES)) {
            check.leave(later);
        }
        check.waiting = asking.into();
        let next = check.next();
        Some((check, next))
    }

    /// What was decided about each project: rows to store, then alerts to raise.
    pub fn decided(&self) -> &[Decided] {
        &self.decided
    }

    /// A project not asked this pass: its row as stored (or new).
    fn leave(&mut self, asking: Asking) {
        let row = asking.stored.clone().unwrap_or(asking.row);
        self.decided
            .push(decided(asking.stored.as_ref(), row, None));
    }

    fn next(&mut self) -> Next {
        let Some(asking) = self.waiting.pop_front() else {
            return self.finish();
        };
        let request = request(self.api, &asking.row.project_code, asking.window);
        self.current = Some(asking);
        self.asked += 1;
        Next::Run(vec![Op::Fetch(request)])
    }

    fn finish(&mut self) -> Next {
        let suspected = self
            .decided
            .iter()
            .filter(|d| d.state == super::WebhookState::SuspectedDisabled)
            .count();
        let line = serde_json::json!({"event": "webhook_check", "asked": self.asked, "suspected": suspected});
        self.notes.push(Note {
            level: Level::Log,
            line: line.to_string(),
        });
        Next::End(Disposition::Ack)
    }
}

impl Machine for DisabledCheck<'_> {
    fn take_notes(&mut self) -> Vec<Note> {
        std::mem::take(&mut self.notes)
    }

    fn feed(&mut self, results: Vec<OpResult>, _now: u64) -> Next {
        let Some(asking) = self.current.take() else {
            return Next::End(Disposition::Ack);
        };
        let (probed, stop) = match results.into_iter().next() {
            Some(OpResult::Fetched(answer)) => read(answer),
            _ => (Probed::Unknown, true),
        };
        let project = asking.row.project_code.clone();
        if stop {
            let line = format!("webhook check: Qase's API gave no answer about {project}'s runs ({probed:?}): no more asking this pass");
            self.notes.push(Note {
                level: Level::Warn,
                line,
            });
            for later in std::mem::take(&mut self.waiting) {
                match &probed {
                    Probed::RateLimited { .. } => {
                        let stored = later.stored.as_ref();
                        let held = judge(stored, later.row, probed.clone(), &self.rules, self.now);
                        self.decided.push(held);
                    }
                    _ => self.leave(later),
                }
            }
        }
        let judged = match probed {
            Probed::Unknown => {
                self.leave(asking);
                return self.next();
            }
            probed => judge(
                asking.stored.as_ref(),
                asking.row,
                probed,
                &self.rules,
                self.now,
            ),
        };
        self.decided.push(judged);
        self.next()
    }
}
