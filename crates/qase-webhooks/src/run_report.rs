//! A test run's outcome as one document: the [`RunReport`] that qase-edge
//! sends once per run to destinations that ask for reports (`standard`
//! format: this document as JSON; chat formats: [`crate::chat::render_report`]),
//! and the [`Thresholds`] a CI gate checks a run against.
//!
//! Qase sends the counts (`run.completed`, `run.aborted`) but not which
//! cases failed; a report lists those only when they were fetched from
//! Qase's REST API (`failures.source` says whether they were).
//!
//! **Durations.** Qase's user docs say `duration` is in milliseconds, its
//! developer docs say seconds (D3 in the event reference). The report
//! carries the value as sent (`duration`) and reads it as milliseconds
//! (`duration_ms`), like the chat messages; a receiver that knows better
//! can use the raw value.

use serde::{Deserialize, Serialize};

/// The `type` of every report, and the `X-Qase-Event` of its delivery.
pub const RUN_REPORT_EVENT: &str = "run.report";

/// The version of the report document's shape.
pub const RUN_REPORT_VERSION: u32 = 1;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// `run.completed`.
    Completed,
    /// `run.aborted`.
    Aborted,
}

/// A run's counts, from `run.completed` or `run.aborted`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RunCounts {
    /// Cases in the run.
    pub cases: u64,
    /// Passed.
    pub passed: u64,
    /// Failed.
    pub failed: u64,
    /// Blocked.
    pub blocked: u64,
    /// Skipped, when Qase sent it (`run.aborted`; `skiped` or `skipped`).
    #[serde(default)]
    pub skipped: Option<u64>,
    /// Untested, when Qase sent it (`run.aborted`).
    #[serde(default)]
    pub untested: Option<u64>,
    /// `duration` exactly as Qase sent it; its unit is disputed (see the module docs).
    pub duration: u64,
}

/// Passed cases in tenths of a percent (`917` is 91.7%), rounded half up,
/// of the run's `cases` or, when the counts of each status add up to more
/// (`counted`: Qase sent a stale or wrong count), of that sum: never above
/// 100%. `None` when both are 0.
pub fn pass_rate_tenths(passed: u64, cases: u64, counted: u64) -> Option<u64> {
    let of = u128::from(cases.max(counted).max(passed));
    if of == 0 {
        return None;
    }
    let tenths = (u128::from(passed) * 1000 + of / 2) / of;
    Some(u64::try_from(tenths).unwrap_or(u64::MAX))
}

/// The counts of each status, added up (saturating: Qase's counts are
/// not to be trusted to fit).
pub(crate) fn counted(counts: &[u64]) -> u64 {
    counts.iter().fold(0u64, |sum, n| sum.saturating_add(*n))
}

impl RunCounts {
    /// Passed cases in tenths of a percent of all cases ([`pass_rate_tenths`]).
    pub fn pass_rate_tenths(&self) -> Option<u64> {
        let (skipped, untested) = (self.skipped.unwrap_or(0), self.untested.unwrap_or(0));
        let counted = counted(&[self.passed, self.failed, self.blocked, skipped, untested]);
        pass_rate_tenths(self.passed, self.cases, counted)
    }

    /// The pass rate in percent with one decimal (`91.7`); `None` without cases.
    pub fn pass_rate(&self) -> Option<f64> {
        self.pass_rate_tenths().map(|tenths| tenths as f64 / 10.0)
    }
}

/// Whether a listed result failed or is blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum FailureStatus {
    /// The result's status is `failed`.
    Failed,
    /// The result's status is `blocked`.
    Blocked,
}

/// One case that did not pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Failure {
    /// The case id.
    pub case_id: u64,
    /// The case title from Qase, when it could be fetched.
    pub title: Option<String>,
    /// Failed or blocked.
    pub status: FailureStatus,
    /// The case's page in Qase.
    pub url: String,
}

/// Where the list of failures came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum FailureSource {
    /// Fetched from Qase's REST API (`QASE_API_TOKEN` is set).
    QaseApi,
    /// Not fetched: no API token, or the API failed (`items` is empty).
    None,
}

/// The cases that did not pass, as far as they are known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Failures {
    /// Where the list came from.
    pub source: FailureSource,
    /// The listed cases, failed first, then by case id; capped.
    pub items: Vec<Failure>,
    /// Failed and blocked results known but not listed (beyond the cap).
    pub more: u64,
}

/// The report of one run: what `"reports": true` destinations receive once
/// per run, after the settle time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct RunReport {
    /// Always [`RUN_REPORT_EVENT`] (`run.report`).
    #[serde(rename = "type")]
    pub kind: String,
    /// The document's version ([`RUN_REPORT_VERSION`]).
    pub version: u32,
    /// The report's id, stable for the run: the `webhook-id` of its delivery.
    pub id: String,
    /// The project code.
    pub project: String,
    /// The run id.
    pub run: u64,
    /// How the run ended.
    pub outcome: RunOutcome,
    /// The run's title, from `run.started`, when it arrived.
    pub title: Option<String>,
    /// The plan the run was started from, if any.
    pub plan_id: Option<u64>,
    /// Who started the run (`team_member_id` of `run.started`; 0 for a token).
    pub started_by: Option<u64>,
    /// The counts: Qase's REST API's (`stats`) when qase-edge could read
    /// the run there, else the ones the end event carried.
    pub counts: RunCounts,
    /// Passed cases in percent of all cases, one decimal; `null` without cases.
    pub pass_rate: Option<f64>,
    /// `counts.duration` read as milliseconds (Qase's user docs).
    pub duration_ms: u64,
    /// First and last event time of the run (Qase's `timestamp`, Unix seconds).
    pub first_event_at: u64,
    /// See `first_event_at`.
    pub last_event_at: u64,
    /// Result events received for the run (Qase documents none; counted as they come).
    pub results_received: u64,
    /// The cases that did not pass.
    pub failures: Failures,
    /// The run's tags in Qase (`sha:<commit>`, `pr:<number>`, ...), when
    /// qase-edge could read them from Qase's REST API; empty otherwise.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The run's page in Qase.
    pub url: String,
}

/// The page of run `run` of `project` in the Qase app at `app_url`
/// (`QASE_APP_URL`; an address that is not http(s) gives Qase's own).
pub fn run_url(app_url: &str, project: &str, run: u64) -> String {
    crate::chat::links::run_link(app_url, project, run)
}

/// The page of case `case` of `project` in the Qase app at `app_url`.
pub fn case_url(app_url: &str, project: &str, case: u64) -> String {
    crate::chat::links::case_link(app_url, project, case)
}

/// What a CI gate requires of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Thresholds {
    /// At most this many failed cases.
    pub max_failed: Option<u64>,
    /// At most this many blocked cases.
    pub max_blocked: Option<u64>,
    /// At least this pass rate, in percent.
    pub min_pass_rate: Option<f64>,
    /// Whether an aborted run can pass (by default it cannot).
    pub allow_aborted: bool,
}

/// A gate's verdict on a finished run.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Every threshold is met.
    Passed,
    /// Why the run does not pass, one reason per threshold missed.
    Failed(Vec<String>),
}

impl Thresholds {
    /// The verdict on a run that ended with `outcome` and `counts`.
    pub fn verdict(&self, outcome: RunOutcome, counts: &RunCounts) -> Verdict {
        let mut reasons = Vec::new();
        if outcome == RunOutcome::Aborted && !self.allow_aborted {
            reasons.push("the run was aborted".to_owned());
        }
        if let Some(max) = self.max_failed.filter(|max| counts.failed > *max) {
            reasons.push(format!("{} failed (at most {max} allowed)", counts.failed));
        }
        if let Some(max) = self.max_blocked.filter(|max| counts.blocked > *max) {
            reasons.push(format!(
                "{} blocked (at most {max} allowed)",
                counts.blocked
            ));
        }
        if let Some(min) = self.min_pass_rate {
            // A run without cases has no pass rate, and so does not meet one.
            let rate = counts.pass_rate().unwrap_or(0.0);
            if rate < min {
                reasons.push(format!("pass rate {rate}% (at least {min}% required)"));
            }
        }
        if reasons.is_empty() {
            Verdict::Passed
        } else {
            Verdict::Failed(reasons)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(cases: u64, passed: u64, failed: u64, blocked: u64) -> RunCounts {
        RunCounts {
            cases,
            passed,
            failed,
            blocked,
            ..RunCounts::default()
        }
    }

    #[test]
    fn the_pass_rate_is_rounded_to_a_tenth_and_absent_without_cases() {
        assert_eq!(counts(12, 11, 1, 0).pass_rate(), Some(91.7));
        assert_eq!(counts(3, 3, 0, 0).pass_rate(), Some(100.0));
        assert_eq!(counts(0, 0, 0, 0).pass_rate(), None);
        // Counts beyond the cases (1 case, 1000 passed): of their sum.
        assert_eq!(counts(1, 1000, 0, 0).pass_rate(), Some(100.0));
        assert_eq!(counts(2, 3, 1, 0).pass_rate(), Some(75.0));
        assert_eq!(counts(0, 1, 1, 0).pass_rate(), Some(50.0));
        assert_eq!(pass_rate_tenths(u64::MAX, u64::MAX, u64::MAX), Some(1000));
        assert_eq!(counts(u64::MAX, u64::MAX, 0, 0).pass_rate(), Some(100.0));
    }

    #[test]
    fn each_threshold_missed_is_a_reason() {
        let gate = Thresholds {
            max_failed: Some(0),
            max_blocked: Some(1),
            min_pass_rate: Some(90.0),
            allow_aborted: false,
        };
        assert_eq!(
            gate.verdict(RunOutcome::Completed, &counts(10, 10, 0, 0)),
            Verdict::Passed
        );
        assert_eq!(
            gate.verdict(RunOutcome::Completed, &counts(10, 9, 0, 1)),
            Verdict::Passed
        );
        let Verdict::Failed(reasons) = gate.verdict(RunOutcome::Aborted, &counts(10, 5, 3, 2))
        else {
            panic!("an aborted run with failures passed");
        };
        assert_eq!(
            reasons,
            [
                "the run was aborted",
                "3 failed (at most 0 allowed)",
                "2 blocked (at most 1 allowed)",
                "pass rate 50% (at least 90% required)"
            ]
        );
    }

    #[test]
    fn no_thresholds_pass_any_completed_run_but_not_an_aborted_one() {
        let gate = Thresholds::default();
        assert_eq!(
            gate.verdict(RunOutcome::Completed, &counts(5, 0, 5, 0)),
            Verdict::Passed
        );
        assert!(matches!(
            gate.verdict(RunOutcome::Aborted, &counts(5, 5, 0, 0)),
            Verdict::Failed(_)
        ));
        let lenient = Thresholds {
            allow_aborted: true,
            ..gate
        };
        assert_eq!(
            lenient.verdict(RunOutcome::Aborted, &counts(5, 5, 0, 0)),
            Verdict::Passed
        );
    }

    #[test]
    fn a_run_without_cases_meets_no_pass_rate() {
        let gate = Thresholds {
            min_pass_rate: Some(0.1),
            ..Thresholds::default()
        };
        assert!(matches!(
            gate.verdict(RunOutcome::Completed, &counts(0, 0, 0, 0)),
            Verdict::Failed(_)
        ));
    }
}
