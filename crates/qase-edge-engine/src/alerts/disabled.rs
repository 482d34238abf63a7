//! "Webhook suspected disabled" (issue #29): Qase switches off a webhook
//! whose endpoint keeps failing and tells only its owner, and no API can
//! list or re-enable webhooks. Silence alone does not tell a disabled
//! webhook from a quiet project (the watchdog, [`crate::alerts::watch`]);
//! Qase's API does: runs started in a project that no delivery told of.
//!
//! The rule, per project the reconcile pass covers ([`subjects`]):
//! 1. No delivery from it for longer than the grace (`QASE_DISABLED_GRACE`,
//!    counted from its last delivery in D1, or from the first check of a
//!    project never heard from), so [`plan`] asks Qase's "Get all runs",
//!    any status, `limit=1`, for runs started after that delivery and at
//!    least a grace before now ([`ProbeWindow`]): a run that started a
//!    moment ago may have its `run.started` still on its way.
//! 2. Such a run ([`Probed::Runs`]): "suspected disabled", one alert
//!    ([`judge`]), repeated once per window (the watch window, else the
//!    grace, at least `QASE_ALERT_INTERVAL_SECONDS`) without asking again.
//!    No run: merely quiet, nothing changes here and the watchdog's quiet
//!    alert stands.
//! 3. A delivery after the one the suspicion was judged on clears it,
//!    with one "resumed" alert ([`plan`]).
//! 4. The watchdog's alerts about a suspected project give way
//!    ([`one_message`]): its "quiet" while suspected, its "back" when
//!    this says "resumed", so people read one message.
//!
//! The state is a D1 row per project (`disabled_state`,
//! migrations/0008_disabled.sql), written before its alert is raised: a
//! pass repeated finds the row suspected and alerts no more; a pass cut
//! before its write asks again next time. Pure; `qase_edge::store::sweep`
//! carries it out with [`probe::DisabledCheck`].

pub mod probe;

use std::borrow::Cow;

use qase_webhooks::chat::Alert;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::runs::reconcile::{self, Cursor};
use crate::store::d1::Statement;

/// A project the check is about, and its watch window when it is watched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The project code.
    pub project: String,
    /// Its `QASE_WATCH` window, in seconds.
    pub window_seconds: Option<u64>,
}

/// The projects checked: those the reconcile pass covers (`QASE_RECONCILE`
/// and `QASE_WATCH`); none without `QASE_API_TOKEN`.
pub fn subjects(config: &Config) -> Vec<Subject> {
    reconcile::projects(config)
        .into_iter()
        .map(|project| Subject {
            window_seconds: config
                .alerts
                .watch
                .iter()
                .find(|w| w.project == project)
                .map(|w| w.window_seconds),
            project,
        })
        .collect()
}

/// What the rule is told about time: the grace, and the least time between
/// two alerts of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// `QASE_DISABLED_GRACE`, in seconds.
    pub grace_seconds: u64,
    /// `QASE_ALERT_INTERVAL_SECONDS`, in ms.
    pub interval_ms: u64,
}

impl Rules {
    /// The configured rules.
    pub fn of(config: &Config) -> Rules {
        Rules {
            grace_seconds: config.alerts.disabled_grace_seconds,
            interval_ms: config.alerts.interval_ms,
        }
    }

    /// How often a suspicion is said again: once per window (the watch
    /// window, else the grace), at most once per alert interval.
    fn repeat_ms(&self, subject: &Subject) -> u64 {
        let window = subject.window_seconds.unwrap_or(self.grace_seconds);
        (window * 1000).max(self.interval_ms)
    }
}

/// A webhook's state, as `/health` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookState {
    /// Deliveries tell of what Qase's API shows (or nothing is known against it).
    Clear,
    /// Qase's API shows runs that no delivery told of for longer than the grace.
    SuspectedDisabled,
}

/// A `disabled_state` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisabledRow {
    /// The project code.
    pub project_code: String,
    /// The first check of the project, Unix ms: the silence of a project
    /// never heard from counts from here.
    pub first_checked_at: u64,
    /// `1` while suspected disabled.
    pub suspected: u8,
    /// When the suspicion began, Unix ms.
    pub suspected_at: Option<u64>,
    /// The last alert about it, Unix ms.
    pub alerted_at: Option<u64>,
    /// The last delivery the state was judged on, Unix ms: a later one
    /// clears a suspicion.
    pub last_delivery_at: Option<u64>,
    /// The runs Qase showed untold (while suspected).
    pub runs: Option<u64>,
    /// One of them (while suspected) ...
    pub run: Option<u64>,
    /// ... and its title.
    pub run_title: Option<String>,
    /// The last time Qase's API was asked, Unix ms.
    pub checked_at: Option<u64>,
    /// No asking before this (Unix seconds): Qase's `Retry-After`.
    pub not_before: Option<u64>,
}

impl DisabledRow {
    /// The row of a project first checked at `now`.
    fn new(project: &str, now: u64) -> DisabledRow {
        DisabledRow {
            project_code: project.to_owned(),
            first_checked_at: now,
            suspected: 0,
            suspected_at: None,
            alerted_at: None,
            last_delivery_at: None,
            runs: None,
            run: None,
            run_title: None,
            checked_at: None,
            not_before: None,
        }
    }

    fn suspected(&self) -> bool {
        self.suspected == 1
    }

    /// The alert that says this row's suspicion.
    fn alert(&self, rules: &Rules) -> Alert {
        Alert::WebhookSuspectedDisabled {
            project: self.project_code.clone(),
            last_delivery_at: self.last_delivery_at,
            grace_seconds: rules.grace_seconds,
            runs: self.runs.unwrap_or(1),
            run: self.run.unwrap_or(0),
            run_title: self.run_title.clone(),
        }
    }
}

/// The runs Qase's API is asked about: started from `from` to `to`, Unix
/// seconds, both included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeWindow {
    /// The second after the last delivery (or the first check).
    pub from: u64,
    /// A grace before now.
    pub to: u64,
}

/// What Qase's API answered about a [`ProbeWindow`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probed {
    /// Runs started in the window: how many, and the first listed.
    Runs {
        /// How many Qase counts (`filtered`).
        count: u64,
        /// The first one's id ...
        run: u64,
        /// ... and title.
        title: Option<String>,
    },
    /// No run: the project is merely quiet.
    NoRuns,
    /// `429`: no asking before this many seconds.
    RateLimited {
        /// Qase's `Retry-After`.
        retry_after: u64,
    },
    /// Not asked, or no usable answer (a timeout, a `5xx`, a refusal): no
    /// finding, asked again next pass.
    Unknown,
}

/// What the check decided about one project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    /// The project code.
    pub project: String,
    /// Its state after this pass.
    pub state: WebhookState,
    /// The row to store (`None`: unchanged).
    pub row: Option<DisabledRow>,
    /// The alert to raise, after the row is stored.
    pub alert: Option<Alert>,
}

/// What [`plan`] needs besides the rules.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    /// The project's stored row.
    pub stored: Option<&'a DisabledRow>,
    /// Its last delivery in D1, Unix ms.
    pub last_delivery_at: Option<u64>,
    /// Qase's API is held back by a `Retry-After` (the reconcile pass's).
    pub api_held: bool,
    /// Unix ms.
    pub now: u64,
}

/// What to do about one project: decided, or ask Qase's API first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Decided without Qase's API.
    Decided(Decided),
    /// Ask about `window`, then [`judge`] with `row`.
    Probe {
        /// The row so far (its last delivery brought up to date).
        row: DisabledRow,
        /// The runs to ask about.
        window: ProbeWindow,
    },
}

fn decided(stored: Option<&DisabledRow>, row: DisabledRow, alert: Option<Alert>) -> Decided {
    Decided {
        project: row.project_code.clone(),
        state: match row.suspected() {
            true => WebhookState::SuspectedDisabled,
            false => WebhookState::Clear,
        },
        alert,
        row: (stored != Some(&row)).then_some(row),
    }
}

/// Steps 1 and 3 of the module's rule, for `subject` at `facts.now`.
pub fn plan(subject: &Subject, facts: Facts<'_>, rules: &Rules) -> Plan {
    let Facts {
        stored,
        last_delivery_at,
        api_held,
        now,
    } = facts;
    let mut row = stored
        .cloned()
        .unwrap_or_else(|| DisabledRow::new(&subject.project, now));
    let last = last_delivery_at.max(row.last_delivery_at);
    if row.suspected() {
        if last_delivery_at > row.last_delivery_at {
            row.suspected = 0;
            row.last_delivery_at = last;
            (row.suspected_at, row.runs, row.run, row.run_title) = (None, None, None, None);
            let alert = Alert::WebhookResumed {
                project: subject.project.clone(),
            };
            return Plan::Decided(decided(stored, row, Some(alert)));
        }
        let last_alert = row.alerted_at.unwrap_or(0);
        let due = now.saturating_sub(last_alert) >= rules.repeat_ms(subject);
        let alert = due.then(|| row.alert(rules));
        if due {
            row.alerted_at = Some(now);
        }
        return Plan::Decided(decided(stored, row, alert));
    }
    // The last delivery is stored with a probe's outcome only: a row
    // written at every pass for every project that delivers would cost
    // D1 a write per project per cron.
    let silent_since = last.unwrap_or(row.first_checked_at);
    let window = ProbeWindow {
        from: silent_since / 1000 + 1,
        to: (now / 1000).saturating_sub(rules.grace_seconds),
    };
    let held = api_held || row.not_before.is_some_and(|at| at > now / 1000);
    if window.to < window.from || held {
        return Plan::Decided(decided(stored, row, None));
    }
    row.last_delivery_at = last;
    Plan::Probe { row, window }
}

/// Step 2 of the module's rule: what Qase's API answered about the window
/// [`plan`] asked for, judged at `now`.
pub fn judge(
    stored: Option<&DisabledRow>,
    mut row: DisabledRow,
    probed: Probed,
    rules: &Rules,
    now: u64,
) -> Decided {
    match probed {
        Probed::Runs { count, run, title } => {
            row.checked_at = Some(now);
            row.not_before = None;
            row.suspected = 1;
            row.suspected_at = Some(now);
            row.alerted_at = Some(now);
            (row.runs, row.run, row.run_title) = (Some(count.max(1)), Some(run), title);
            let alert = row.alert(rules);
            decided(stored, row, Some(alert))
        }
        Probed::NoRuns => {
            row.checked_at = Some(now);
            row.not_before = None;
            decided(stored, row, None)
        }
        Probed::RateLimited { retry_after } => {
            row.not_before = Some(now / 1000 + retry_after);
            decided(stored, row, None)
        }
        Probed::Unknown => decided(stored, row, None),
    }
}

/// Step 4 of the module's rule: the watchdog's alert about a project, given
/// what this check decided about it this pass (`None`: not checked).
pub fn one_message(watchdog: Option<Alert>, decided: Option<&Decided>) -> Option<Alert> {
    let Some(decided) = decided else {
        return watchdog;
    };
    let resumed = matches!(decided.alert, Some(Alert::WebhookResumed { .. }));
    match watchdog {
        Some(Alert::ProjectQuiet { .. }) if decided.state == WebhookState::SuspectedDisabled => {
            None
        }
        Some(Alert::ProjectBack { .. }) if resumed => None,
        other => other,
    }
}

/// Whether Qase's API is held back by a reconcile cursor's `Retry-After`
/// (the limit is the token's, whichever project met it).
pub fn api_held(cursors: &[Cursor], now: u64) -> bool {
    cursors
        .iter()
        .any(|cursor| cursor.not_before.is_some_and(|at| at > now / 1000))
}

/// Every `disabled_state` row.
pub fn rows() -> Statement {
    Statement {
        sql: Cow::Borrowed(
            "SELECT project_code, first_checked_at, suspected, suspected_at, alerted_at, \
             last_delivery_at, runs, run, run_title, checked_at, not_before FROM disabled_state",
        ),
        params: Vec::new(),
    }
}

/// Stores a row (its first check stays the first).
pub fn upsert(row: &DisabledRow, now: u64) -> Statement {
    Statement {
        sql: Cow::Borrowed(
            "INSERT INTO disabled_state (project_code, first_checked_at, suspected, suspected_at, \
             alerted_at, last_delivery_at, runs, run, run_title, checked_at, not_before, updated_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) \
             ON CONFLICT (project_code) DO UPDATE SET suspected = excluded.suspected, \
             suspected_at = excluded.suspected_at, alerted_at = excluded.alerted_at, \
             last_delivery_at = excluded.last_delivery_at, runs = excluded.runs, run = excluded.run, \
             run_title = excluded.run_title, checked_at = excluded.checked_at, \
             not_before = excluded.not_before, updated_at = excluded.updated_at",
        ),
        params: vec![
            row.project_code.as_str().into(),
            row.first_checked_at.into(),
            u64::from(row.suspected).into(),
            row.suspected_at.into(),
            row.alerted_at.into(),
            row.last_delivery_at.into(),
            row.runs.into(),
            row.run.into(),
            row.run_title.as_deref().into(),
            row.checked_at.into(),
            row.not_before.into(),
            now.into(),
        ],
    }
}

/// What `GET /health`'s `webhooks` says about a checked project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookView {
    /// The project code.
    pub project: String,
    /// `clear` or `suspected_disabled`.
    pub state: WebhookState,
    /// Its last delivery, Unix ms.
    #[serde(deserialize_with = "crate::wire::present")]
    pub last_delivery_at: Option<u64>,
    /// How long a run may go untold (`QASE_DISABLED_GRACE`), in seconds.
    pub grace_seconds: u64,
    /// When the suspicion began, Unix ms.
    #[serde(deserialize_with = "crate::wire::present")]
    pub suspected_at: Option<u64>,
    /// The runs Qase's API showed that no delivery told of.
    #[serde(deserialize_with = "crate::wire::present")]
    pub runs_untold: Option<u64>,
    /// One of them.
    #[serde(deserialize_with = "crate::wire::present")]
    pub run: Option<u64>,
    /// The last alert about it, Unix ms.
    #[serde(deserialize_with = "crate::wire::present")]
    pub alerted_at: Option<u64>,
    /// The last time Qase's API was asked, Unix ms.
    #[serde(deserialize_with = "crate::wire::present")]
    pub checked_at: Option<u64>,
}

/// The view of a checked project, from its stored row and its last
/// delivery (either may be missing): a delivery after the one the
/// suspicion was judged on shows it clear at once, before the next pass
/// says "resumed".
pub fn view(
    subject: &Subject,
    stored: Option<&DisabledRow>,
    last_delivery_at: Option<u64>,
    rules: &Rules,
) -> WebhookView {
    let judged_on = stored.and_then(|row| row.last_delivery_at);
    let suspected = stored
        .filter(|row| row.suspected() && last_delivery_at <= judged_on)
        .is_some();
    let kept = |pick: fn(&DisabledRow) -> Option<u64>| match suspected {
        true => stored.and_then(pick),
        false => None,
    };
    WebhookView {
        project: subject.project.clone(),
        state: match suspected {
            true => WebhookState::SuspectedDisabled,
            false => WebhookState::Clear,
        },
        last_delivery_at: last_delivery_at.max(judged_on),
        grace_seconds: rules.grace_seconds,
        suspected_at: kept(|row| row.suspected_at),
        runs_untold: kept(|row| row.runs),
        run: kept(|row| row.run),
        alerted_at: stored.and_then(|row| row.alerted_at),
        checked_at: stored.and_then(|row| row.checked_at),
    }
}

#[cfg(test)]
mod tests;
