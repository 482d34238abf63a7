//! What a chat message says about each event, before any service's markup:
//! one [`Message`] per event, rendered by each format's module.
//!
//! Everything a `Message` holds that came from Qase (titles, names,
//! severities, the project code, an unknown event's name) is raw text; the
//! renderers escape it for their markup. Headlines, labels and numbers are
//! this crate's own words.
//!
//! **Run durations.** Qase's user docs say `duration` is in milliseconds
//! (since 2024-10), its developer docs say seconds, and every example is `0`
//! (D3 in the event reference). Messages follow the newer user docs and read
//! milliseconds; `0` is left out, as Qase sends it when it has no duration.

use serde_json::{Map, Value};

use super::links::Links;
use super::text;
use crate::payload::{
    ApprovalStatus, DefectCreated, DefectRef, MilestoneCreated, PlanCreated,
    ReviewApprovalStatusChanged, ReviewCreated, ReviewMerged, RunStarted, SystemField, TestCase,
    User,
};
use crate::run_report::{
    Failure, FailureSource, FailureStatus, RunCounts, RunOutcome, RunReport, RUN_REPORT_EVENT,
};
use crate::{Envelope, Event, EventName};

/// How an event went, which sets each service's colour or emoji (and the
/// console's badge).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    /// Passed, resolved, approved, merged.
    Good,
    /// Failed, or a new defect.
    Bad,
    /// Aborted, blocked, changes requested.
    Warning,
    /// Everything else.
    Neutral,
}

impl Tone {
    /// `#RRGGBB`.
    pub(crate) fn hex(self) -> &'static str {
        match self {
            Tone::Good => "#2EB67D",
            Tone::Bad => "#E01E5A",
            Tone::Warning => "#ECB22E",
            Tone::Neutral => "#4A6CF7",
        }
    }

    /// The colour as an integer (Discord's embed `color`).
    pub(crate) fn rgb(self) -> u32 {
        u32::from_str_radix(&self.hex()[1..], 16).expect("the colours are hex")
    }

    /// An emoji that says the same where a service has no colour (Slack).
    pub(crate) fn emoji(self) -> &'static str {
        match self {
            Tone::Good => "✅",
            Tone::Bad => "❌",
            Tone::Warning => "⚠️",
            Tone::Neutral => "🔹",
        }
    }
}

/// A label and a value, shown side by side.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fact {
    /// This crate's label, e.g. `Passed`.
    pub label: &'static str,
    /// The value: raw text, escaped by the renderer.
    pub value: String,
}

/// One event, said for people: what every chat format renders, and what
/// [`describe`](super::describe) returns as plain text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Message {
    /// Colour or emoji.
    pub tone: Tone,
    /// What happened, in this crate's words: `Test run completed`.
    pub headline: String,
    /// The object's title from Qase, when known (raw).
    pub title: Option<String>,
    /// What the link reads when there is no title: `Run #7`, `DEMO-12` (raw:
    /// it may hold the project code).
    pub label: String,
    /// The object's page in Qase.
    pub url: String,
    /// One line of numbers, in this crate's words: `11 of 12 passed`.
    pub status: Option<String>,
    /// Labelled values.
    pub facts: Vec<Fact>,
    /// A description or comment from Qase (raw), shown shortened.
    pub summary: Option<String>,
    /// The envelope's project code (raw).
    pub project: String,
    /// The event's name (raw: an unknown name is what the sender wrote).
    pub event: String,
    /// When the event happened, Unix seconds.
    pub timestamp: u64,
}

impl Message {
    fn new(
        envelope: &Envelope<'_>,
        tone: Tone,
        headline: impl Into<String>,
        url: String,
    ) -> Message {
        Message {
            tone,
            headline: headline.into(),
            title: None,
            label: "Open in Qase".to_owned(),
            url,
            status: None,
            facts: Vec::new(),
            summary: None,
            project: envelope.project_code.clone(),
            event: envelope.event_name.as_str().to_owned(),
            timestamp: envelope.timestamp,
        }
    }

    fn title(mut self, title: Option<&str>) -> Message {
        self.title = title.map(text::clean).filter(|t| !t.is_empty());
        self
    }

    fn label(mut self, label: String) -> Message {
        self.label = label;
        self
    }

    fn summary(mut self, summary: Option<&str>) -> Message {
        self.summary = summary.map(text::clean).filter(|t| !t.is_empty());
        self
    }

    fn fact(mut self, label: &'static str, value: Option<impl ToString>) -> Message {
        if let Some(value) = value.map(|v| text::clean(&v.to_string())) {
            if !value.is_empty() {
                self.facts.push(Fact { label, value });
            }
        }
        self
    }
}

/// The payload's fields beyond the typed model (`title` on `run.completed`,
/// `status` on defects, `retest`...): Qase adds fields over time, and a
/// message shows them when they are there.
struct Extra(Map<String, Value>);

impl Extra {
    fn of(envelope: &Envelope<'_>) -> Extra {
        Extra(serde_json::from_str(envelope.payload.get()).unwrap_or_default())
    }

    fn text(&self, key: &str) -> Option<&str> {
        self.0.get(key)?.as_str()
    }

    fn count(&self, key: &str) -> Option<u64> {
        self.0.get(key)?.as_u64()
    }

    /// A value that names the object: an integer id or a string (hash).
    fn id(&self, key: &str) -> Option<String> {
        match self.0.get(key)? {
            Value::Number(n) => n.as_u64().map(|n| n.to_string()),
            Value::String(s) => Some(s.clone()),
            _ => None,
        }
    }
}

fn person(user: Option<&User>) -> Option<&str> {
    let user = user?;
    user.name
        .as_deref()
        .filter(|n| !n.trim().is_empty())
        .or(user.email.as_deref())
}

fn field_title(field: Option<&SystemField>) -> Option<&str> {
    field?.title.as_deref()
}

/// The [`Counts`] of a `run.completed` or `run.aborted` payload (two types
/// with the same count fields).
macro_rules! run_counts {
    ($run:expr, $extra:expr) => {
        Counts {
            cases: $run.cases,
            passed: $run.passed,
            failed: $run.failed,
            blocked: $run.blocked,
            skipped: $run.skipped,
            untested: $run.untested,
            retest: $extra.count("retest"),
            duration: $run.duration,
        }
    };
}

/// The counts of a completed or aborted run.
struct Counts {
    cases: u64,
    passed: u64,
    failed: u64,
    blocked: u64,
    skipped: Option<u64>,
    untested: Option<u64>,
    retest: Option<u64>,
    duration: u64,
}

impl Counts {
    /// The pass rate ([`crate::run_report::pass_rate_tenths`]).
    fn pass_rate_tenths(&self) -> Option<u64> {
        let counted = crate::run_report::counted(&[
            self.passed,
            self.failed,
            self.blocked,
            self.skipped.unwrap_or(0),
            self.untested.unwrap_or(0),
            self.retest.unwrap_or(0),
        ]);
        crate::run_report::pass_rate_tenths(self.passed, self.cases, counted)
    }
}

fn run_result(
    envelope: &Envelope<'_>,
    links: &Links,
    extra: &Extra,
    id: u64,
    counts: Counts,
    aborted: bool,
) -> Message {
    let tone = if counts.failed > 0 {
        Tone::Bad
    } else if aborted || counts.blocked > 0 || counts.retest.unwrap_or(0) > 0 {
        Tone::Warning
    } else if counts.cases == 0 {
        Tone::Neutral
    } else if counts.passed == 0 {
        Tone::Warning
    } else {
        Tone::Good
    };
    let headline = if aborted {
        "Test run aborted"
    } else {
        "Test run completed"
    };
    let mut message = Message::new(envelope, tone, headline, links.run(id))
        .title(extra.text("title"))
        .label(format!("Run #{id}"))
        .fact("Passed", Some(counts.passed))
        .fact("Failed", Some(counts.failed))
        .fact("Blocked", Some(counts.blocked))
        .fact("Skipped", counts.skipped)
        .fact("Untested", counts.untested)
        .fact("Retest", counts.retest)
        .fact("Pass rate", text::pass_rate(counts.pass_rate_tenths()))
        .fact("Duration", text::duration_ms(counts.duration));
    message.status = Some(match counts.cases {
        0 => "No cases".to_owned(),
        cases => format!("{} of {cases} passed", counts.passed),
    });
    message
}

/// Past-tense words for an entity and an action, for the events without a
/// message of their own: `suite` + `updated` → `Test suite updated`.
fn generic_headline(name: &EventName) -> String {
    if !name.is_known() {
        return "Qase event".to_owned();
    }
    let entity = match name.entity() {
        "case" => "Test case",
        "suite" => "Test suite",
        "plan" => "Test plan",
        "shared_step" => "Shared step",
        "milestone" => "Milestone",
        "custom_field" => "Custom field",
        "run" => "Test run",
        "defect" => "Defect",
        "review" => "Test case review",
        "result" => "Test run result",
        other => other,
    };
    format!("{entity} {}", name.action().replace('_', " "))
}

/// The page of an event without a message of its own: the object when the
/// payload names it and it still exists, otherwise the project.
fn generic_url(name: &EventName, links: &Links, extra: &Extra) -> String {
    let id = extra.count("id");
    let deleted = name.action() == "deleted";
    match (name.entity(), id) {
        (_, Some(_)) if deleted => links.project(),
        ("run", Some(id)) => links.run(id),
        ("case", Some(id)) => links.case(id),
        ("plan", Some(id)) => links.plan(id),
        ("suite", Some(id)) => links.suite(id),
        ("defect", Some(id)) => links.defect(id),
        ("review", _) => extra
            .count("case_id")
            .map_or_else(|| links.project(), |case| links.case(case)),
        ("result", _) => extra
            .count("run_id")
            .map_or_else(|| links.project(), |run| links.run(run)),
        _ => links.project(),
    }
}

/// `text` cut to at most `max` characters, ending in an ellipsis when cut
/// (the renderer escapes the whole summary afterwards).
fn shortened(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.truncate(out.trim_end().len());
    out.push(text::ELLIPSIS);
    out
}

/// A run report, said for people: the outcome and counts as for
/// `run.completed`, and the cases that did not pass as the summary line
/// (`Failed: DEMO-12 Login fails; ...; and 3 more`).
pub(crate) fn report(report: &RunReport) -> Message {
    let counts = &report.counts;
    let aborted = report.outcome == RunOutcome::Aborted;
    let headline = if aborted {
        "Test run report: aborted"
    } else {
        "Test run report: completed"
    };
    let mut message = Message {
        tone: report_tone(counts, aborted),
        headline: headline.to_owned(),
        title: None,
        label: format!("Run #{}", report.run),
        url: report.url.clone(),
        status: Some(match counts.cases {
            0 => "No cases".to_owned(),
            cases => format!("{} of {cases} passed", counts.passed),
        }),
        facts: Vec::new(),
        summary: None,
        project: report.project.clone(),
        event: RUN_REPORT_EVENT.to_owned(),
        timestamp: report.last_event_at,
    }
    .title(report.title.as_deref())
    .fact("Passed", Some(counts.passed))
    .fact("Failed", Some(counts.failed))
    .fact("Blocked", Some(counts.blocked))
    .fact("Skipped", counts.skipped)
    .fact("Untested", counts.untested)
    .fact("Pass rate", text::pass_rate(counts.pass_rate_tenths()))
    .fact("Duration", text::duration_ms(report.duration_ms));
    message.summary = failures_summary(report);
    message
}

/// A report's tone: as for `run.completed`, without the retest count
/// (reports have none).
fn report_tone(counts: &RunCounts, aborted: bool) -> Tone {
    if counts.failed > 0 {
        Tone::Bad
    } else if aborted || counts.blocked > 0 {
        Tone::Warning
    } else if counts.cases == 0 {
        Tone::Neutral
    } else {
        Tone::Good
    }
}

/// The summary line of a report's cases that did not pass: the first
/// [`REPORT_LISTED_FAILURES`](super::REPORT_LISTED_FAILURES), then how many
/// more; `None` when none were fetched.
fn failures_summary(report: &RunReport) -> Option<String> {
    let listed: Vec<String> = report
        .failures
        .items
        .iter()
        .take(super::REPORT_LISTED_FAILURES)
        .map(|failure| listed_failure(&report.project, failure))
        .collect();
    let unlisted = report.failures.more
        + (report.failures.items.len() as u64).saturating_sub(listed.len() as u64);
    match (report.failures.source, listed.is_empty()) {
        (FailureSource::None, _) | (_, true) => None,
        (FailureSource::QaseApi, false) if unlisted > 0 => Some(format!(
            "Not passed: {}; and {unlisted} more",
            listed.join("; ")
        )),
        (FailureSource::QaseApi, false) => Some(format!("Not passed: {}", listed.join("; "))),
    }
}

/// One case that did not pass, as a report lists it: `DEMO-12 Login fails (failed)`.
fn listed_failure(project: &str, failure: &Failure) -> String {
    let mark = match failure.status {
        FailureStatus::Failed => "failed",
        FailureStatus::Blocked => "blocked",
    };
    let title = failure
        .title
        .as_deref()
        .map(|title| shortened(&text::clean(title), 60))
        .unwrap_or_default();
    format!("{project}-{} {title} ({mark})", failure.case_id)
}

/// What a chat message says about `event`, with links into the Qase app at
/// `app_url`: each event with a message of its own gets it, the others a
/// generic one.
pub(crate) fn message(envelope: &Envelope<'_>, event: &Event, app_url: &str) -> Message {
    let links = Links::new(app_url, &envelope.project_code);
    let extra = Extra::of(envelope);
    let said = Said {
        envelope,
        links: &links,
        extra: &extra,
    };
    match event {
        Event::RunStarted(run) => said.run_started(run),
        Event::RunCompleted(run) => {
            let counts = run_counts!(run, extra);
            run_result(envelope, &links, &extra, run.id, counts, false)
        }
        Event::RunAborted(run) => {
            let counts = run_counts!(run, extra);
            run_result(envelope, &links, &extra, run.id, counts, true)
        }
        Event::DefectCreated(defect) => said.defect_created(defect),
        Event::DefectResolved(defect) => said.defect_resolved(defect),
        Event::CaseCreated(case) => said.case_created(case),
        Event::ReviewCreated(review) => said.review_created(review),
        Event::ReviewMerged(review) => said.review_merged(review),
        Event::ReviewApprovalStatusChanged(review) => said.review_status_changed(review),
        Event::MilestoneCreated(milestone) => said.milestone_created(milestone),
        Event::PlanCreated(plan) => said.plan_created(plan),
        other => said.generic(&other.name()),
    }
}

/// What each event's message is made from: the envelope, the project's
/// links and the payload's extra fields.
struct Said<'a> {
    envelope: &'a Envelope<'a>,
    links: &'a Links,
    extra: &'a Extra,
}

impl Said<'_> {
    /// The page of the case a review names (`case_id`), or the project.
    fn case_or_project(&self, case_id: Option<u64>) -> String {
        case_id.map_or_else(|| self.links.project(), |case| self.links.case(case))
    }

    fn run_started(&self, run: &RunStarted) -> Message {
        let plan = run.plan.as_ref().map(|plan| match &plan.title {
            Some(title) if !title.trim().is_empty() => title.clone(),
            _ => format!("#{}", plan.id),
        });
        Message::new(
            self.envelope,
            Tone::Neutral,
            "Test run started",
            self.links.run(run.id),
        )
        .title(Some(run.title.as_str()))
        .label(format!("Run #{}", run.id))
        .fact("Cases", run.cases_count)
        .fact("Plan", plan)
        .fact("Environment", run.environment.as_deref())
        .summary(run.description.as_deref())
    }

    fn defect_created(&self, defect: &DefectCreated) -> Message {
        Message::new(
            self.envelope,
            Tone::Bad,
            "Defect created",
            self.links.defect(defect.id),
        )
        .title(Some(defect.title.as_str()))
        .label(format!("Defect #{}", defect.id))
        .fact("Severity", defect.severity.as_deref())
        .fact("Status", self.extra.text("status"))
        .summary(defect.actual_result.as_deref())
    }

    fn defect_resolved(&self, defect: &DefectRef) -> Message {
        Message::new(
            self.envelope,
            Tone::Good,
            "Defect resolved",
            self.links.defect(defect.id),
        )
        .title(self.extra.text("title"))
        .label(format!("Defect #{}", defect.id))
        .fact("Severity", self.extra.text("severity"))
        .fact("Status", self.extra.text("status"))
    }

    fn case_created(&self, case: &TestCase) -> Message {
        let code = &self.envelope.project_code;
        Message::new(
            self.envelope,
            Tone::Neutral,
            "Test case created",
            self.links.case(case.id),
        )
        .title(case.title.as_deref())
        .label(format!("{code}-{}", case.id))
        .fact("Severity", field_title(case.severity.as_ref()))
        .fact("Priority", field_title(case.priority.as_ref()))
        .fact("Type", field_title(case.case_type.as_ref()))
        .summary(case.description.as_deref())
    }

    fn review_created(&self, review: &ReviewCreated) -> Message {
        let code = &self.envelope.project_code;
        let url = self.case_or_project(review.case_id);
        Message::new(
            self.envelope,
            Tone::Neutral,
            "Test case review created",
            url,
        )
        .title(review.title.as_deref())
        .label(format!("Review #{}", review.id))
        .fact("Case", review.case_id.map(|case| format!("{code}-{case}")))
        .fact("Author", person(review.created_by.as_ref()))
    }

    fn review_merged(&self, review: &ReviewMerged) -> Message {
        let url = self.case_or_project(self.extra.count("case_id"));
        Message::new(self.envelope, Tone::Good, "Test case review merged", url)
            .title(self.extra.text("title"))
            .label(format!("Review #{}", review.id))
            .fact("Merged by", person(review.merged_by.as_ref()))
    }

    fn review_status_changed(&self, review: &ReviewApprovalStatusChanged) -> Message {
        let (tone, headline) = match &review.status {
            ApprovalStatus::Approved => (Tone::Good, "Test case review approved"),
            ApprovalStatus::RequestChanges => {
                (Tone::Warning, "Changes requested in a test case review")
            }
            ApprovalStatus::Unapproved => (Tone::Neutral, "Test case review unapproved"),
            _ => (Tone::Neutral, "Test case review status changed"),
        };
        let url = self.case_or_project(self.extra.count("case_id"));
        Message::new(self.envelope, tone, headline, url)
            .title(self.extra.text("title"))
            .label(format!("Review #{}", review.id))
            .fact("Status", Some(review.status.as_str()))
            .fact("By", person(review.updated_by.as_ref()))
    }

    fn milestone_created(&self, milestone: &MilestoneCreated) -> Message {
        Message::new(
            self.envelope,
            Tone::Neutral,
            "Milestone created",
            self.links.project(),
        )
        .title(Some(milestone.title.as_str()))
        .label(format!("Milestone #{}", milestone.id))
        .summary(milestone.description.as_deref())
    }

    fn plan_created(&self, plan: &PlanCreated) -> Message {
        Message::new(
            self.envelope,
            Tone::Neutral,
            "Test plan created",
            self.links.plan(plan.id),
        )
        .title(Some(plan.title.as_str()))
        .label(format!("Plan #{}", plan.id))
        .fact("Cases", Some(plan.cases.len()))
        .summary(plan.description.as_deref())
    }

    /// An event without a message of its own: its name said in words, its
    /// title and id when the payload has them.
    fn generic(&self, name: &EventName) -> Message {
        let mut message = Message::new(
            self.envelope,
            Tone::Neutral,
            generic_headline(name),
            generic_url(name, self.links, self.extra),
        )
        .title(self.extra.text("title"))
        .fact("Id", self.extra.id("id").or_else(|| self.extra.id("hash")));
        if !name.is_known() {
            message = message.fact("Event", Some(name.as_str()));
        }
        message
    }
}
