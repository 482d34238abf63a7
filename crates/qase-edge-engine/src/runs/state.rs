//! A Qase test run's state, assembled from its events: the rules of the
//! `RunWatch` Durable Object (`qase_edge::runs::run_watch`), one object per
//! run, which applies each event of the run as the queue consumer hands it
//! over, keeps the state, mirrors it into D1 (`runs`) and wakes the CI gates
//! waiting for the run's end.
//!
//! The rules are order-independent and idempotent, because Qase's events
//! arrive in any order, and the queue, the sweep or an operator's replay
//! may hand the same event over again:
//! - every field is a merge that does not depend on arrival order (first
//!   and last event time are a min and a max; the title comes from
//!   `run.started`; of two end events the later one, by Qase's timestamp
//!   then event id, gives the outcome and the counts);
//! - result events are counted once per event id: the object keeps the ids
//!   it has applied ([`Applied::seen_key`]) and hands an event it has seen
//!   to [`apply`] with `seen: true`, which changes nothing.
//!
//! Result events are not documented by Qase; a `result.*` event counts for
//! the run its payload names (`run_id` or `run`, read by
//! [`qase_webhooks::Subjects`]) and for nothing when it names none, so a
//! shape Qase changes never breaks a run.

use qase_webhooks::run_report::{Failures, RunCounts, RunOutcome};
use qase_webhooks::{Envelope, Event, EventName, Subjects, MAX_SAFE_INTEGER};
use serde::{Deserialize, Serialize};

use crate::runs::details::RunDetails;
use crate::text::text_form;

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// Events of the run arrived, but neither `run.started` nor an end.
    Unknown,
    /// `run.started` arrived, no end yet.
    Started,
    /// `run.completed` arrived.
    Completed,
    /// `run.aborted` arrived.
    Aborted,
}

// Its text: the `runs.status` column and the runs API's `status` parameter.
text_form!(RunStatus {
    Unknown => "unknown",
    Started => "started",
    Completed => "completed",
    Aborted => "aborted",
});

impl RunStatus {
    /// Whether the run has ended (a CI gate's wait is over).
    pub fn is_final(self) -> bool {
        matches!(self, RunStatus::Completed | RunStatus::Aborted)
    }
}

/// The event of a run that ended it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunEnd {
    /// Completed or aborted.
    pub outcome: RunOutcome,
    /// The counts it carried.
    pub counts: RunCounts,
    /// Its Qase timestamp (Unix seconds).
    pub at: u64,
    /// Its event id (the tie-break between two ends with one timestamp).
    pub event_id: String,
    /// Who told it: a webhook event, or a reconcile pass that read it from
    /// Qase's REST API ([`crate::runs::reconcile`]).
    #[serde(default)]
    pub source: EndSource,
}

/// Who told a run's end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndSource {
    /// A reconcile pass: Qase's API showed the run finished while no end
    /// event had arrived. Ranks below a webhook's end (see [`apply`]).
    Reconciled,
    /// A `run.completed` or `run.aborted` event.
    #[default]
    Webhook,
}

/// Result events counted for the run, by action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultCounts {
    /// `result.created`.
    pub created: u64,
    /// `result.updated`.
    pub updated: u64,
    /// `result.deleted`.
    pub deleted: u64,
}

impl ResultCounts {
    /// All result events counted.
    pub fn total(&self) -> u64 {
        self.created + self.updated + self.deleted
    }
}

/// Whether the run's report has been handed to the destinations.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportState {
    /// Not yet: no report message has taken it.
    #[default]
    NotSent,
    /// The report message with this queue message id took it: only that
    /// message (and its retries) sends the report's deliveries.
    Taken {
        /// The queue message id.
        by: String,
    },
}

/// A run, as its events have told it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunState {
    /// The project code.
    pub project: String,
    /// The run id.
    pub run: u64,
    /// Where it stands.
    pub status: RunStatus,
    /// The title, from `run.started`.
    pub title: Option<String>,
    /// The plan it was started from, from `run.started`.
    pub plan_id: Option<u64>,
    /// The environment's slug, from `run.started`.
    pub environment: Option<String>,
    /// Who started it (`team_member_id` of `run.started`).
    pub started_by: Option<u64>,
    /// The event that ended it.
    pub end: Option<RunEnd>,
    /// Whether `run.deleted` arrived.
    pub deleted: bool,
    /// Qase's timestamp of the earliest and the latest event (Unix
    /// seconds; a reconciled end counts at Qase's `end_time`).
    pub first_event_at: u64,
    /// See `first_event_at`.
    pub last_event_at: u64,
    /// `run.*` events applied (distinct ids).
    pub run_events: u64,
    /// Result events applied (distinct ids).
    pub results: ResultCounts,
    /// The report's state.
    #[serde(default)]
    pub report: ReportState,
    /// The failed and blocked cases, fetched from Qase's REST API when the
    /// report was made (kept so that the API and the console show them).
    #[serde(default)]
    pub failures: Option<Failures>,
    /// Whether a reconcile pass applied a fact to the run (its end, read
    /// from Qase's API), even if a webhook's end came after it.
    #[serde(default)]
    pub reconciled: bool,
    /// The run's full facts from Qase's REST API (every status count, the
    /// tags, the milestone), fetched when it ended or read by a reconcile
    /// pass ([`crate::runs::details`]); the newest fetch wins.
    #[serde(default)]
    pub details: Option<RunDetails>,
    /// Bumped by every change, so that the D1 mirror keeps the newest state
    /// whatever order two writes land in.
    pub version: u64,
}

/// What an event says about its run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunFactKind {
    /// `run.started`.
    Started {
        /// Its title.
        title: String,
        /// Its plan.
        plan_id: Option<u64>,
        /// Its environment.
        environment: Option<String>,
    },
    /// `run.completed` or `run.aborted`.
    Ended {
        /// Which.
        outcome: RunOutcome,
        /// The counts.
        counts: RunCounts,
    },
    /// `run.deleted`.
    Deleted,
    /// Another `run.*` event (`run.updated`, `run.report_changed`): only its time counts.
    Other,
    /// A `result.*` event.
    Result {
        /// Its action: `created`, `updated` or `deleted`.
        action: ResultAction,
    },
    /// No event: a reconcile pass read from Qase's REST API that the run
    /// has finished, while qase-edge had no end for it
    /// ([`crate::runs::reconcile`]). Never stored as an event.
    Reconciled {
        /// The run's title in Qase (kept only when `run.started` gave none).
        title: Option<String>,
        /// Completed or aborted.
        outcome: RunOutcome,
        /// The counts from the run's `stats`.
        counts: RunCounts,
        /// Its full facts, from the same listing.
        #[serde(default)]
        details: Option<Box<RunDetails>>,
    },
    /// No event: the run's full facts, fetched from Qase's REST API when it
    /// ended ([`crate::runs::fetch`]). Never stored as an event, and
    /// no event time: it changes neither the run's times nor its status.
    Details {
        /// The facts.
        details: Box<RunDetails>,
    },
}

/// The action of a result event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResultAction {
    /// `result.created`.
    Created,
    /// `result.updated`.
    Updated,
    /// `result.deleted`.
    Deleted,
}

/// One event, as far as its run is concerned: what the consumer hands the
/// run's object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFact {
    /// The event id.
    pub event_id: String,
    /// The project code.
    pub project: String,
    /// The run id.
    pub run: u64,
    /// Qase's timestamp (Unix seconds).
    pub at: u64,
    /// Who triggered it.
    pub team_member_id: u64,
    /// What it says.
    pub kind: RunFactKind,
}

/// The run fact of a stored delivery, `None` when it is about no run (or a
/// `run.*` payload does not fit its model: such an event is quarantined,
/// never forwarded, and says nothing reliable). A run id above
/// [`MAX_SAFE_INTEGER`] is no run either, as for `result.*` events
/// ([`Subjects`]): every run id the API answers with, or is asked for
/// (`/api/runs/{project}/{id}`, its `wait`, a cursor, `?run=`), is a number
/// JavaScript reads exactly, so a run it lists can always be asked for.
pub fn fact_of(event_id: &str, body: &[u8]) -> Option<RunFact> {
    fact_of_any(event_id, body).filter(|fact| fact.run <= MAX_SAFE_INTEGER)
}

fn fact_of_any(event_id: &str, body: &[u8]) -> Option<RunFact> {
    let envelope = Envelope::parse(body).ok()?;
    let run_and = |kind: RunFactKind, run: u64| RunFact {
        event_id: event_id.to_owned(),
        project: envelope.project_code.clone(),
        run,
        at: envelope.timestamp,
        team_member_id: envelope.team_member_id,
        kind,
    };
    let result = |action: ResultAction| {
        let run = Subjects::of(envelope.event_name.as_str(), envelope.payload).run?;
        Some(run_and(RunFactKind::Result { action }, run))
    };
    match &envelope.event_name {
        EventName::ResultCreated => return result(ResultAction::Created),
        EventName::ResultUpdated => return result(ResultAction::Updated),
        EventName::ResultDeleted => return result(ResultAction::Deleted),
        _ => {}
    }
    let (kind, run) = run_kind(envelope.event().ok()?)?;
    Some(run_and(kind, run))
}

/// What a `run.*` event says about its run, and the run's id; `None` for
/// any other event.
fn run_kind(event: Event) -> Option<(RunFactKind, u64)> {
    let kind = match event {
        Event::RunStarted(run) => (
            RunFactKind::Started {
                title: run.title,
                plan_id: run.plan.map(|plan| plan.id),
                environment: run.environment,
            },
            run.id,
        ),
        Event::RunCompleted(run) => (
            RunFactKind::Ended {
                outcome: RunOutcome::Completed,
                counts: RunCounts {
                    cases: run.cases,
                    passed: run.passed,
                    failed: run.failed,
                    blocked: run.blocked,
                    skipped: run.skipped,
                    untested: run.untested,
                    duration: run.duration,
                },
            },
            run.id,
        ),
        Event::RunAborted(run) => (
            RunFactKind::Ended {
                outcome: RunOutcome::Aborted,
                counts: RunCounts {
                    cases: run.cases,
                    passed: run.passed,
                    failed: run.failed,
                    blocked: run.blocked,
                    skipped: run.skipped,
                    untested: run.untested,
                    duration: run.duration,
                },
            },
            run.id,
        ),
        Event::RunDeleted(run) => (RunFactKind::Deleted, run.id),
        Event::RunUpdated(run) => (RunFactKind::Other, run.id),
        Event::RunReportChanged(run) => (RunFactKind::Other, run.id),
        _ => return None,
    };
    Some(kind)
}

/// Whether an event of this name may be about a run (`run.*`, `result.*`):
/// the consumer reads its body and hands it to [`fact_of`].
pub fn may_concern_a_run(event_name: &str) -> bool {
    event_name.starts_with("run.") || event_name.starts_with("result.")
}

/// What applying a fact did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The state after it.
    pub state: RunState,
    /// Whether anything changed (nothing to store or mirror when not).
    pub changed: bool,
    /// Whether this fact ended the run: the moment to wake the waiting
    /// gates and to schedule the report.
    pub ended_now: bool,
}

impl Applied {
    /// The object's storage key remembering that `event_id` was applied.
    pub fn seen_key(event_id: &str) -> String {
        format!("seen/{event_id}")
    }
}

/// The state of a run no event has reached yet.
pub fn empty(project: &str, run: u64) -> RunState {
    RunState {
        project: project.to_owned(),
        run,
        status: RunStatus::Unknown,
        title: None,
        plan_id: None,
        environment: None,
        started_by: None,
        end: None,
        deleted: false,
        first_event_at: u64::MAX,
        last_event_at: 0,
        run_events: 0,
        results: ResultCounts::default(),
        report: ReportState::NotSent,
        failures: None,
        reconciled: false,
        details: None,
        version: 0,
    }
}

/// Keeps `candidate` as the run's end when it ranks above the one held,
/// so that ends applied in any order agree: a webhook's end above a
/// reconciled one (Qase's own event, as it happened), then the later by
/// time, then by event id.
fn keep_latest_end(state: &mut RunState, candidate: RunEnd) {
    let rank = |end: &RunEnd| (end.source, end.at, end.event_id.clone());
    let later = match &state.end {
        None => true,
        Some(end) => rank(&candidate) > rank(end),
    };
    if later {
        state.end = Some(candidate);
    }
}

/// The status a run's state says: its end's outcome, else started once
/// `run.started` gave it a title.
fn status_of(state: &RunState) -> RunStatus {
    match (&state.end, &state.title) {
        (Some(end), _) => match end.outcome {
            RunOutcome::Completed => RunStatus::Completed,
            RunOutcome::Aborted => RunStatus::Aborted,
        },
        (None, Some(_)) => RunStatus::Started,
        (None, None) => RunStatus::Unknown,
    }
}

impl RunEnd {
    /// The end `fact` tells, with its outcome and counts, told by `source`.
    fn told(fact: &RunFact, outcome: RunOutcome, counts: RunCounts, source: EndSource) -> RunEnd {
        RunEnd {
            outcome,
            counts,
            at: fact.at,
            event_id: fact.event_id.clone(),
            source,
        }
    }
}

/// Folds what `fact` says into `next` (its status aside).
fn fold_into(next: &mut RunState, fact: &RunFact) {
    match &fact.kind {
        RunFactKind::Started {
            title,
            plan_id,
            environment,
        } => {
            next.run_events += 1;
            next.title = Some(title.clone());
            next.plan_id = *plan_id;
            next.environment = environment.clone();
            next.started_by = Some(fact.team_member_id);
        }
        RunFactKind::Ended { outcome, counts } => {
            next.run_events += 1;
            let end = RunEnd::told(fact, *outcome, *counts, EndSource::Webhook);
            keep_latest_end(next, end);
        }
        RunFactKind::Reconciled {
            title,
            outcome,
            counts,
            details,
        } => {
            // Not an event: `run_events` counts what Qase sent.
            next.reconciled = true;
            if let Some(details) = details {
                next.details = Some((**details).clone());
            }
            if next.title.is_none() {
                next.title = title.clone();
            }
            let end = RunEnd::told(fact, *outcome, *counts, EndSource::Reconciled);
            keep_latest_end(next, end);
        }
        RunFactKind::Details { details } => next.details = Some((**details).clone()),
        RunFactKind::Deleted => {
            next.run_events += 1;
            next.deleted = true;
        }
        RunFactKind::Other => next.run_events += 1,
        RunFactKind::Result { action } => match action {
            ResultAction::Created => next.results.created += 1,
            ResultAction::Updated => next.results.updated += 1,
            ResultAction::Deleted => next.results.deleted += 1,
        },
    }
}

/// Applies `fact` to its run's `state` (`None`: the run's first event).
/// `seen`: the object already applied this event id; nothing changes.
pub fn apply(state: Option<RunState>, fact: &RunFact, seen: bool) -> Applied {
    let before = state.unwrap_or_else(|| empty(&fact.project, fact.run));
    if seen {
        return Applied {
            state: before,
            changed: false,
            ended_now: false,
        };
    }
    let mut next = before.clone();
    if !matches!(fact.kind, RunFactKind::Details { .. }) {
        next.first_event_at = next.first_event_at.min(fact.at);
        next.last_event_at = next.last_event_at.max(fact.at);
    }
    fold_into(&mut next, fact);
    next.status = status_of(&next);
    let changed = next != before;
    if changed {
        next.version = before.version + 1;
    }
    Applied {
        ended_now: next.status.is_final() && !before.status.is_final(),
        changed,
        state: next,
    }
}

/// Whether the report message `message_id` may send the run's report:
/// the first report message to ask takes it, and only it (its own retries
/// included) may. `None`: refused; `Some(state)`: the state to store.
/// `failures` (fetched by the message's consumer) are kept with it, unless
/// the state already has some; its `details`, fetched then, are newer
/// than any the state holds.
pub fn take_report(state: &RunState, message_id: &str, fetched: Fetched) -> Option<RunState> {
    match &state.report {
        ReportState::NotSent => Some(RunState {
            report: ReportState::Taken {
                by: message_id.to_owned(),
            },
            failures: state.failures.clone().or(fetched.failures),
            details: fetched.details.or_else(|| state.details.clone()),
            version: state.version + 1,
            ..state.clone()
        }),
        ReportState::Taken { by } if by == message_id => Some(state.clone()),
        ReportState::Taken { .. } => None,
    }
}

/// What a report message fetched from Qase's REST API before it took the
/// report, kept with the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fetched {
    /// The failed and blocked cases.
    #[serde(default)]
    pub failures: Option<Failures>,
    /// The run's full facts.
    #[serde(default)]
    pub details: Option<RunDetails>,
}

/// The name of a run's Durable Object (`id_from_name`): one per project and run.
pub fn object_name(project: &str, run: u64) -> String {
    format!("{project}/{run}")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::{json, Value};

    pub(crate) fn body(event_name: &str, at: u64, payload: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "event_name": event_name, "timestamp": at, "payload": payload,
            "team_member_id": 5, "project_code": "WEB"
        }))
        .unwrap()
    }

    /// A run's events: started, three results (one of them for another
    /// run, one naming no run), completed.
    pub(crate) fn run_events() -> Vec<(String, Vec<u8>)> {
        let events = vec![
            body(
                "run.started",
                100,
                json!({"id": 42, "title": "Nightly", "plan": {"id": 3, "title": "P"}, "cases_count": 3}),
            ),
            body(
                "result.created",
                110,
                json!({"run_id": 42, "case_id": 1, "status": "passed"}),
            ),
            body(
                "result.created",
                120,
                json!({"run": 42, "case": 2, "status": "failed"}),
            ),
            body("result.created", 125, json!({"run_id": 7, "case_id": 2})),
            body("result.created", 126, json!({"whatever": [1, 2]})),
            body("result.updated", 130, json!({"run_id": 42, "hash": "abc"})),
            body(
                "run.completed",
                200,
                json!({"id": 42, "cases": 3, "passed": 2, "failed": 1, "blocked": 0, "duration": 90000}),
            ),
        ];
        events
            .into_iter()
            .enumerate()
            .map(|(i, body)| (format!("evt_{i:032x}"), body))
            .collect()
    }

    /// Folds events as the object does: a fact per event about run 42, each
    /// id applied at most once.
    fn fold(events: &[(String, Vec<u8>)]) -> (Option<RunState>, usize) {
        let mut seen = std::collections::BTreeSet::new();
        let mut state = None;
        let mut ends = 0;
        for (id, body) in events {
            let Some(fact) = fact_of(id, body) else {
                continue;
            };
            if fact.run != 42 {
                continue;
            }
            let applied = apply(state, &fact, seen.contains(id));
            seen.insert(id.clone());
            ends += usize::from(applied.ended_now);
            state = Some(applied.state);
        }
        (state, ends)
    }

    /// A deterministic shuffle (no dependency): the permutation numbered `k`.
    pub(crate) fn shuffled<T: Clone>(items: &[T], mut k: u64) -> Vec<T> {
        let mut pool = items.to_vec();
        let mut out = Vec::new();
        while !pool.is_empty() {
            let n = pool.len() as u64;
            out.push(pool.remove((k % n) as usize));
            k /= n;
            k = k.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1) >> 3;
        }
        out
    }

    fn without_version(mut state: RunState) -> RunState {
        state.version = 0;
        state
    }

    #[test]
    fn a_run_id_past_javascripts_safe_integers_is_no_run_whatever_the_event() {
        let safe = MAX_SAFE_INTEGER;
        let started = |id: u64| {
            body(
                "run.started",
                1,
                json!({"id": id, "title": "T", "cases_count": 1}),
            )
        };
        let result = |id: u64| {
            body(
                "result.created",
                1,
                json!({"run_id": id, "case_id": 1, "status": "passed"}),
            )
        };
        assert_eq!(fact_of("e", &started(safe)).map(|f| f.run), Some(safe));
        assert_eq!(fact_of("e", &result(safe)).map(|f| f.run), Some(safe));
        assert!(fact_of("e", &started(safe + 1)).is_none());
        assert!(fact_of("e", &result(safe + 1)).is_none());
        // The path of a run's page and its gate takes the same ids.
        assert!(crate::runs::api::parse_run_path(&format!("WEB/{safe}")).is_ok());
        assert!(crate::runs::api::parse_run_path(&format!("WEB/{}", safe + 1)).is_err());
    }

    #[test]
    fn a_status_text_is_its_serde_form_and_parses_back() {
        for status in RunStatus::ALL {
            let json = serde_json::to_value(status).unwrap();
            assert_eq!(json.as_str(), Some(status.as_str()));
            assert_eq!(RunStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(RunStatus::parse("done"), None);
    }

    #[test]
    fn a_runs_events_make_its_state() {
        let (state, ends) = fold(&run_events());
        let state = state.unwrap();
        assert_eq!(state.status, RunStatus::Completed);
        assert_eq!(state.title.as_deref(), Some("Nightly"));
        assert_eq!((state.plan_id, state.started_by), (Some(3), Some(5)));
        let end = state.end.unwrap();
        assert_eq!(end.outcome, RunOutcome::Completed);
        assert_eq!(
            (end.counts.cases, end.counts.failed, end.counts.duration),
            (3, 1, 90000)
        );
        assert_eq!((state.first_event_at, state.last_event_at), (100, 200));
        assert_eq!(
            state.results,
            ResultCounts {
                created: 2,
                updated: 1,
                deleted: 0
            }
        );
        assert_eq!(state.run_events, 2);
        assert_eq!(ends, 1);
    }

    #[test]
    fn shuffled_and_duplicated_events_make_the_same_state_and_end_it_once() {
        let events = run_events();
        let (expected, _) = fold(&events);
        let expected = without_version(expected.unwrap());
        let mut doubled = events.clone();
        doubled.extend(events.iter().cloned());
        doubled.extend(events.iter().take(3).cloned());
        for k in 0..300 {
            let order = shuffled(&doubled, k * 7919 + 13);
            let (state, ends) = fold(&order);
            assert_eq!(without_version(state.unwrap()), expected, "order {k}");
            assert_eq!(ends, 1, "order {k}: the run ended {ends} times");
        }
    }

    #[test]
    fn a_duplicate_changes_nothing_not_even_the_version() {
        let events = run_events();
        let fact = fact_of(&events[0].0, &events[0].1).unwrap();
        let first = apply(None, &fact, false);
        assert!(first.changed);
        let again = apply(Some(first.state.clone()), &fact, true);
        assert!(!again.changed && !again.ended_now);
        assert_eq!(again.state, first.state);
        // An end seen again neither ends the run again nor changes it.
        let completed = fact_of(&events[6].0, &events[6].1).unwrap();
        let ended = apply(Some(first.state), &completed, false);
        assert!(ended.ended_now);
        let twice = apply(Some(ended.state.clone()), &completed, true);
        assert!(!twice.changed && !twice.ended_now);
    }

    #[test]
    fn of_two_ends_the_later_one_wins_in_either_order() {
        let completed = fact_of(
            "evt_a",
            &body("run.completed", 300, json!({"id": 42, "cases": 2, "passed": 2, "failed": 0, "blocked": 0, "duration": 0})),
        )
        .unwrap();
        let aborted = fact_of(
            "evt_b",
            &body("run.aborted", 200, json!({"id": 42, "cases": 2, "passed": 1, "skipped": 1, "failed": 0, "untested": 0, "blocked": 0, "duration": 0})),
        )
        .unwrap();
        let one = apply(Some(apply(None, &completed, false).state), &aborted, false);
        let other = apply(Some(apply(None, &aborted, false).state), &completed, false);
        assert_eq!(one.state.status, RunStatus::Completed);
        assert_eq!(without_version(one.state), without_version(other.state));
        assert!(!one.ended_now, "the run had already ended");
    }

    #[test]
    fn the_skipped_count_is_read_under_either_documented_key() {
        for key in ["skipped", "skiped"] {
            let fact = fact_of(
                "evt_c",
                &body("run.aborted", 1, json!({"id": 9, "cases": 4, "passed": 1, key: 2, "failed": 1, "untested": 0, "blocked": 0, "duration": 5})),
            )
            .unwrap();
            let RunFactKind::Ended { counts, outcome } = fact.kind else {
                panic!("{fact:?}");
            };
            assert_eq!(
                (outcome, counts.skipped, counts.duration),
                (RunOutcome::Aborted, Some(2), 5)
            );
        }
    }

    #[test]
    fn events_about_no_run_are_no_fact_and_results_of_any_shape_never_fail() {
        assert_eq!(
            fact_of("e", &body("case.created", 1, json!({"id": 1}))),
            None
        );
        assert_eq!(
            fact_of("e", &body("result.created", 1, json!([1, 2]))),
            None
        );
        assert_eq!(
            fact_of("e", &body("result.deleted", 1, json!({"run_id": "x"}))),
            None
        );
        assert_eq!(fact_of("e", b"not json"), None);
        // A run.completed whose payload does not fit says nothing.
        assert_eq!(
            fact_of("e", &body("run.completed", 1, json!({"id": 1}))),
            None
        );
        let deleted = fact_of("e", &body("result.deleted", 1, json!({"run_id": 4}))).unwrap();
        assert_eq!(
            (deleted.run, deleted.kind),
            (
                4,
                RunFactKind::Result {
                    action: ResultAction::Deleted
                }
            )
        );
    }

    #[test]
    fn only_the_first_report_message_takes_the_report_and_its_retries_may_again() {
        let state = empty("WEB", 42);
        let failures = Failures {
            source: qase_webhooks::run_report::FailureSource::QaseApi,
            items: Vec::new(),
            more: 3,
        };
        let taken = take_report(
            &state,
            "m1",
            Fetched {
                failures: Some(failures.clone()),
                details: None,
            },
        )
        .unwrap();
        assert_eq!(taken.report, ReportState::Taken { by: "m1".into() });
        assert_eq!(taken.failures, Some(failures));
        assert!(take_report(&taken, "m1", crate::runs::state::Fetched::default()).is_some());
        assert_eq!(
            take_report(&taken, "m2", crate::runs::state::Fetched::default()),
            None
        );
    }
}
