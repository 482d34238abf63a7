//! The reconcile pass (issue #29): Qase's webhooks are best effort (no
//! retries, no delivery id, switched off after failures), so one lost
//! `run.completed` would leave a run open for good, its report unsent
//! and its CI gates waiting. The cron (`qase_edge::store::sweep`) runs a
//! [`Reconcile`] machine, with the operations of the delivery machines
//! ([`crate::delivery::machine::Op`]), over the projects `QASE_RECONCILE`
//! names and the watched ones ([`projects`]), when `QASE_API_TOKEN` is set:
//!
//! 1. Per project, Qase's "Get all runs" listing of the finished runs
//!    started in a look-back window ([`qase_api::runs_request`]), a page
//!    of 100 at a time.
//! 2. Each listed run that ended since the project's last completed pass
//!    ([`needs_reading`]) is compared with its state ([`check`]): a run
//!    qase-edge never heard of, or has as started, gets a reconciled fact
//!    ([`reconciled_fact`], `RunFactKind::Reconciled`), applied by the
//!    run's object like an event's but never written into the events
//!    history; its report is queued as for an event's end
//!    ([`report::report_due`]), so it goes out once (the object's take)
//!    and the waiting gates return. A run that has ended is left alone.
//! 3. The cursor ([`Cursor`], in D1: [`cursor`]) says what was checked,
//!    and where a pass cut short goes on. Every step is safe to repeat:
//!    the fact's id is the same for a run and outcome, and the object
//!    applies an id once; a pass cut anywhere leaves its cursor at the
//!    first run not yet checked.
//!
//! Within the limits: at most [`MAX_CALLS`] operations a pass (listings,
//! run objects, report messages), within the 50 subrequests of one Workers
//! Free invocation with the sweep's own; a run is started only with
//! [`CALLS_PER_RUN`] left. A `429` stops the whole pass and no project is
//! listed before its `Retry-After`; a timeout, a network error or a `5xx`
//! stops the whole pass (the API is down, whichever project asks); any
//! other refusal stops that project's pass. A stopped pass changes nothing
//! but its cursor, and the next cron goes on.

pub mod cursor;

use std::collections::VecDeque;

use qase_webhooks::run_report::RunOutcome;
use serde::Serialize;

use crate::config::Config;
use crate::delivery::attempt::Disposition;
use crate::delivery::machine::{Level, Machine, Next, Note, Op, OpResult};
use crate::http::outbound::Answer;
use crate::runs::qase_api::{self, ListedRun, RunsPage, MAX_OFFSET, RUNS_PAGE};
use crate::runs::report::{self, RunKey, RunReportDue};
use crate::runs::settings::QaseApi;
use crate::runs::state::{EndSource, ReportState, RunFact, RunFactKind, RunState};

pub use cursor::{Cursor, PassUnderWay};

/// How far back a pass lists runs by their start (Qase's listing filters
/// by start time only): a run that ends more than this after it started
/// is not reconciled.
pub const LOOKBACK_SECONDS: u64 = 86_400;

/// The longest window a pass catches up with after passes were missed.
pub const MAX_CATCH_UP_SECONDS: u64 = 7 * 86_400;

/// What Qase's clock (a run's `end_time`) and the Worker's may differ by.
pub const CLOCK_SLACK_SECONDS: u64 = 300;

/// The most operations one pass asks for: listings, run objects read and
/// applied, report messages queued.
pub const MAX_CALLS: u32 = 40;

/// What one run may cost: its state read, its fact applied, its report queued.
pub const CALLS_PER_RUN: u32 = 3;

/// How long a `429` without a usable `Retry-After` holds the listings back.
pub const DEFAULT_RETRY_AFTER_SECONDS: u64 = 60;

/// The projects reconciled: `QASE_RECONCILE`'s, then the watched ones
/// (`QASE_WATCH`), each once; none without `QASE_API_TOKEN`.
pub fn projects(config: &Config) -> Vec<String> {
    match health(config) {
        Some(ReconcileHealth {
            on: true, projects, ..
        }) => projects,
        _ => Vec::new(),
    }
}

/// What `GET /health` says about reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReconcileHealth {
    /// Whether the cron reconciles (`QASE_API_TOKEN` is set).
    pub on: bool,
    /// The projects named for it (`QASE_RECONCILE`, `QASE_WATCH`).
    pub projects: Vec<String>,
    /// Why it is off, when it is.
    pub off_because: Option<&'static str>,
}

/// `GET /health`'s `reconcile`: `None` when no project is named for it.
pub fn health(config: &Config) -> Option<ReconcileHealth> {
    let watched = config.alerts.watch.iter().map(|w| &w.project);
    let mut named: Vec<String> = Vec::new();
    for project in config.runs.reconcile.iter().chain(watched) {
        if !named.contains(project) {
            named.push(project.clone());
        }
    }
    if named.is_empty() {
        return None;
    }
    let on = config.runs.api.is_some();
    Some(ReconcileHealth {
        on,
        projects: named,
        off_because: (!on).then_some("QASE_API_TOKEN is not set"),
    })
}

/// The id of a run's reconciled fact: one per run and outcome, so that a
/// pass repeated applies nothing twice (the object keeps the ids applied).
pub fn fact_id(project: &str, run: u64, outcome: RunOutcome) -> String {
    let outcome = match outcome {
        RunOutcome::Completed => "completed",
        RunOutcome::Aborted => "aborted",
    };
    format!("rec_{project}_{run}_{outcome}")
}

/// The reconciled fact of a run Qase lists as finished (`None` while it
/// is in progress), at its `end_time` (else `now_s`).
pub fn reconciled_fact(project: &str, listed: &ListedRun, now_s: u64) -> Option<RunFact> {
    let outcome = listed.outcome?;
    Some(RunFact {
        event_id: fact_id(project, listed.id, outcome),
        project: project.to_owned(),
        run: listed.id,
        at: listed.end_time.unwrap_or(now_s),
        team_member_id: 0,
        kind: RunFactKind::Reconciled {
            title: listed.title.clone(),
            outcome,
            counts: listed.counts,
            details: Some(listed.details.clone()),
        },
    })
}

/// Whether a listed run is read: Qase shows it finished, and it did not
/// end before `floor` (what an earlier pass checked; a run without an
/// `end_time` is always read).
pub fn needs_reading(listed: &ListedRun, floor: u64) -> bool {
    listed.outcome.is_some() && listed.end_time.is_none_or(|end| end >= floor)
}

/// What a listed, finished run needs, its state read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// Nothing: qase-edge has its end (or its deletion).
    Known,
    /// Its end, reconciled: qase-edge never heard of it, or has it started.
    Apply(RunFact),
    /// Its report message again: a pass applied its end, but the report
    /// has not been taken (the message may have been lost when the pass
    /// was cut). The take makes a second message harmless.
    Report,
}

/// Compares a run Qase lists as finished with its `state` (see [`Check`]).
/// `wanted`: anything needs the project's reports.
pub fn check(
    project: &str,
    listed: &ListedRun,
    state: &RunState,
    wanted: bool,
    now_s: u64,
) -> Check {
    if state.deleted {
        return Check::Known;
    }
    if let Some(end) = &state.end {
        let reconciled = end.source == EndSource::Reconciled;
        let untaken = state.report == ReportState::NotSent;
        return match reconciled && untaken && wanted {
            true => Check::Report,
            false => Check::Known,
        };
    }
    match reconciled_fact(project, listed, now_s) {
        Some(fact) => Check::Apply(fact),
        None => Check::Known,
    }
}

/// The pass a project goes on with, or begins at `now_s`: from the last
/// completed pass (at most [`MAX_CATCH_UP_SECONDS`] back), less the
/// look-back.
pub fn pass_of(cursor: &Cursor, now_s: u64) -> PassUnderWay {
    if let Some(pass) = cursor.pass {
        return pass;
    }
    let since = cursor.checked_until.unwrap_or(now_s).min(now_s);
    let from = since
        .saturating_sub(LOOKBACK_SECONDS)
        .max(now_s.saturating_sub(MAX_CATCH_UP_SECONDS));
    PassUnderWay {
        from,
        offset: 0,
        started_at: now_s,
    }
}

/// Runs that ended before this were checked by a completed pass (`0`
/// before the first: every finished run of the window is read).
pub fn end_floor(cursor: &Cursor) -> u64 {
    cursor
        .checked_until
        .map_or(0, |at| at.saturating_sub(CLOCK_SLACK_SECONDS))
}

/// Why a listing gave no page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListingFailure {
    /// `429`: no listing of any project before this many seconds.
    RateLimited {
        /// Qase's `Retry-After`, or [`DEFAULT_RETRY_AFTER_SECONDS`].
        retry_after: u64,
    },
    /// A timeout, a network error, a `5xx`: the API is down for every project.
    Unavailable(String),
    /// Another answer (`401`, `404`, a shape not documented): this project only.
    Refused(String),
}

/// A listing's page, or why there is none.
pub fn listing(answer: Answer) -> Result<RunsPage, ListingFailure> {
    let words = answer.attempt().1;
    match &answer {
        Answer::Status {
            status: 429,
            retry_after,
            ..
        } => {
            let retry_after = retry_after.unwrap_or(DEFAULT_RETRY_AFTER_SECONDS);
            return Err(ListingFailure::RateLimited { retry_after });
        }
        Answer::Status { status, .. } if *status >= 500 => {
            return Err(ListingFailure::Unavailable(words))
        }
        Answer::Status { .. } => {}
        Answer::Timeout(_) | Answer::NetworkError(_) => {
            return Err(ListingFailure::Unavailable(words))
        }
    }
    let body = answer.ok_body().map_err(ListingFailure::Refused)?;
    qase_api::parse_runs(&body)
        .ok_or_else(|| ListingFailure::Refused("not the documented shape".to_owned()))
}

/// Where a [`Reconcile`] stands.
#[derive(Debug, Clone)]
enum Stage {
    Listing,
    Reading(ListedRun),
    Applying(ListedRun, RunFact),
    Queueing(ListedRun),
    Ended,
}

/// The project being passed over.
#[derive(Debug, Clone)]
struct Current {
    /// Its cursor as stored.
    cursor: Cursor,
    /// The pass; `offset` is the page's being read.
    pass: PassUnderWay,
    floor: u64,
    page: VecDeque<ListedRun>,
    entities: u64,
    matched: u64,
}

/// What a pass did, for its log line.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    listed: u64,
    read: u64,
    applied: u64,
    reports: u64,
}

/// One reconcile pass over the projects (see the module's documentation).
#[derive(Debug)]
pub struct Reconcile<'c> {
    config: &'c Config,
    api: &'c QaseApi,
    waiting: VecDeque<Cursor>,
    current: Option<Current>,
    budget: u32,
    now_s: u64,
    moved: Vec<Cursor>,
    stage: Stage,
    tally: Tally,
    notes: Vec<Note>,
}

impl<'c> Reconcile<'c> {
    /// Starts a pass at `now` (Unix ms) with the cursors stored; `None`
    /// when reconciliation is off (no token, or no project to reconcile).
    /// The project least recently passed goes first.
    pub fn start(config: &'c Config, stored: &[Cursor], now: u64) -> Option<(Self, Next)> {
        let api = config.runs.api.as_ref()?;
        let projects = projects(config);
        if projects.is_empty() {
            return None;
        }
        let mut waiting: Vec<Cursor> = projects
            .iter()
            .map(|project| {
                let stored = stored.iter().find(|c| &c.project == project);
                stored.cloned().unwrap_or_else(|| Cursor::new(project))
            })
            .collect();
        waiting.sort_by_key(|cursor| cursor.checked_until);
        let mut reconcile = Reconcile {
            config,
            api,
            waiting: waiting.into(),
            current: None,
            budget: MAX_CALLS,
            now_s: now / 1000,
            moved: Vec::new(),
            stage: Stage::Ended,
            tally: Tally::default(),
            notes: Vec::new(),
        };
        let next = reconcile.next_project();
        Some((reconcile, next))
    }

    /// The cursors that moved, to store.
    pub fn cursors(&self) -> &[Cursor] {
        &self.moved
    }

    fn note(&mut self, level: Level, line: String) {
        self.notes.push(Note { level, line });
    }

    fn run(&mut self, stage: Stage, op: Op) -> Next {
        self.budget = self.budget.saturating_sub(1);
        self.stage = stage;
        Next::Run(vec![op])
    }

    /// The pass is over: its log line.
    fn finish(&mut self) -> Next {
        let Tally {
            listed,
            read,
            applied,
            reports,
        } = self.tally;
        let calls = MAX_CALLS - self.budget;
        let line = serde_json::json!({"event": "reconcile", "listed": listed, "read": read, "applied": applied, "reports": reports, "calls": calls});
        self.note(Level::Log, line.to_string());
        self.stage = Stage::Ended;
        Next::End(Disposition::Ack)
    }

    /// The next project's pass, or the end.
    fn next_project(&mut self) -> Next {
        self.current = None;
        while let Some(cursor) = self.waiting.pop_front() {
            if cursor.not_before.is_some_and(|at| at > self.now_s) {
                continue;
            }
            self.current = Some(Current {
                pass: pass_of(&cursor, self.now_s),
                floor: end_floor(&cursor),
                cursor,
                page: VecDeque::new(),
                entities: 0,
                matched: 0,
            });
            return self.list();
        }
        self.finish()
    }

    fn current(&mut self) -> &mut Current {
        self.current
            .as_mut()
            .expect("a project is being passed over")
    }

    /// The current page's listing, if the budget allows it and a run.
    fn list(&mut self) -> Next {
        if self.budget < 1 + CALLS_PER_RUN {
            let offset = self.current().pass.offset;
            return self.out_of_budget(offset);
        }
        let (project, pass) = {
            let current = self.current();
            (current.cursor.project.clone(), current.pass)
        };
        let request = qase_api::runs_request(self.api, &project, pass.from, pass.offset);
        self.run(Stage::Listing, Op::Fetch(request))
    }

    /// Keeps the current pass, to go on at `offset` (a pass begun now and
    /// stopped at its first run is no pass to keep: the next begins anew).
    fn keep_at(&mut self, offset: u64, not_before: Option<u64>) {
        let current = self.current();
        let begun = current.cursor.pass.is_some() || offset > 0;
        if !begun && not_before.is_none() {
            return;
        }
        let pass = begun.then_some(PassUnderWay {
            offset,
            ..current.pass
        });
        let cursor = Cursor {
            pass,
            not_before,
            ..current.cursor.clone()
        };
        self.moved.push(cursor);
    }

    fn out_of_budget(&mut self, offset: u64) -> Next {
        self.keep_at(offset, None);
        let project = self.current().cursor.project.clone();
        let line = format!("reconcile: {project} goes on next pass, at offset {offset}: the pass has used its {MAX_CALLS} calls");
        self.note(Level::Log, line);
        self.finish()
    }

    /// The project's pass reached its last page.
    fn complete(&mut self) -> Next {
        let current = self.current().clone();
        self.moved.push(Cursor {
            checked_until: Some(current.pass.started_at),
            pass: None,
            not_before: None,
            ..current.cursor
        });
        self.next_project()
    }

    fn after_listing(&mut self, result: OpResult) -> Next {
        let answer = match result {
            OpResult::Fetched(answer) => listing(answer),
            other => Err(ListingFailure::Unavailable(format!("{other:?}"))),
        };
        let project = self.current().cursor.project.clone();
        let offset = self.current().pass.offset;
        match answer {
            Ok(page) => {
                self.tally.listed += page.runs.len() as u64;
                let current = self.current();
                current.entities = page.entities;
                current.matched = page.matched;
                current.page = page.runs.into();
                self.next_run()
            }
            Err(ListingFailure::RateLimited { retry_after }) => {
                let not_before = self.now_s + retry_after;
                self.keep_at(offset, Some(not_before));
                let held = std::mem::take(&mut self.waiting);
                for cursor in held {
                    let not_before = Some(not_before);
                    self.moved.push(Cursor {
                        not_before,
                        ..cursor
                    });
                }
                let line = format!("reconcile: Qase's API answered 429 listing {project}'s runs: no listing for {retry_after} s");
                self.note(Level::Warn, line);
                self.finish()
            }
            Err(ListingFailure::Unavailable(words)) => {
                self.keep_at(offset, None);
                let line = format!("reconcile: Qase's API did not list {project}'s runs ({words}): the pass stops, the next goes on");
                self.note(Level::Warn, line);
                self.finish()
            }
            Err(ListingFailure::Refused(words)) => {
                self.keep_at(offset, None);
                let line =
                    format!("reconcile: Qase's API refused to list {project}'s runs ({words})");
                self.note(Level::Warn, line);
                self.next_project()
            }
        }
    }

    /// The next run of the page to read, the next page, or the project's end.
    fn next_run(&mut self) -> Next {
        loop {
            let current = self.current();
            let Some(run) = current.page.pop_front() else {
                let next_offset = current.pass.offset + current.entities;
                let last = current.entities < RUNS_PAGE || next_offset >= current.matched;
                if last || next_offset > MAX_OFFSET {
                    return self.complete();
                }
                current.pass.offset = next_offset;
                return self.list();
            };
            if !needs_reading(&run, current.floor) {
                continue;
            }
            if self.budget < CALLS_PER_RUN {
                let offset = self.current().pass.offset + run.position;
                return self.out_of_budget(offset);
            }
            self.tally.read += 1;
            let key = self.key(&run);
            return self.run(Stage::Reading(run), Op::ReadRun(key));
        }
    }

    fn key(&mut self, run: &ListedRun) -> RunKey {
        RunKey {
            project: self.current().cursor.project.clone(),
            run: run.id,
        }
    }

    /// A run's step failed: the project's pass stops at this run.
    fn stop_at(&mut self, run: &ListedRun, what: &str, result: OpResult) -> Next {
        let offset = self.current().pass.offset + run.position;
        self.keep_at(offset, None);
        let project = self.current().cursor.project.clone();
        let line = format!("reconcile: run {project}/{}: {what}: {result:?}", run.id);
        self.note(Level::Error, line);
        self.next_project()
    }

    fn after_read(&mut self, run: ListedRun, result: OpResult) -> Next {
        let OpResult::Run(state) = result else {
            return self.stop_at(&run, "the run's object failed", result);
        };
        let project = self.current().cursor.project.clone();
        let wanted = report::reports_wanted(self.config, &project);
        match check(&project, &run, &state, wanted, self.now_s) {
            Check::Known => self.next_run(),
            Check::Apply(fact) => {
                let op = Op::ApplyRun(fact.clone());
                self.run(Stage::Applying(run, fact), op)
            }
            Check::Report => self.queue_report(run),
        }
    }

    fn after_apply(&mut self, run: ListedRun, fact: RunFact, result: OpResult) -> Next {
        let (state, ended_now) = match result {
            OpResult::RunApplied { state, ended_now } => (state, ended_now),
            OpResult::RunsOff => {
                self.note(
                    Level::Warn,
                    "reconcile: runs are off (no QASE_RUN_WATCH binding)".into(),
                );
                return self.finish();
            }
            other => return self.stop_at(&run, "the run's object failed", other),
        };
        self.tally.applied += 1;
        let line = serde_json::json!({"event": "run_reconciled", "project": fact.project, "run": fact.run, "status": state.status, "ended_now": ended_now});
        self.note(Level::Log, line.to_string());
        let wanted = report::reports_wanted(self.config, &fact.project);
        match report::report_due(&fact, &state, wanted) {
            true => self.queue_report(run),
            false => self.next_run(),
        }
    }

    fn queue_report(&mut self, run: ListedRun) -> Next {
        let due = RunReportDue {
            run_report: self.key(&run),
        };
        let delay_seconds = self.config.runs.settle_seconds as u32;
        self.run(Stage::Queueing(run), Op::QueueReport { due, delay_seconds })
    }
}

impl Machine for Reconcile<'_> {
    fn take_notes(&mut self) -> Vec<Note> {
        std::mem::take(&mut self.notes)
    }

    fn feed(&mut self, results: Vec<OpResult>, _now: u64) -> Next {
        let result = results.into_iter().next().unwrap_or(OpResult::Done);
        match std::mem::replace(&mut self.stage, Stage::Ended) {
            Stage::Listing => self.after_listing(result),
            Stage::Reading(run) => self.after_read(run, result),
            Stage::Applying(run, fact) => self.after_apply(run, fact, result),
            Stage::Queueing(run) => match result {
                OpResult::Done => {
                    self.tally.reports += 1;
                    self.next_run()
                }
                other => self.stop_at(&run, "its report was not queued", other),
            },
            Stage::Ended => Next::End(Disposition::Ack),
        }
    }
}

#[cfg(test)]
mod tests;
