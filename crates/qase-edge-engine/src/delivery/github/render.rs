//! What a run looks like on GitHub, made from the run's current state: its
//! commit status ([`status`]) and its pull-request comment ([`comment`]).
//!
//! Titles are user input, and a comment is Markdown that GitHub renders
//! and scans for mentions: [`escape`] makes one line of it in which no
//! `@team` pings, no link, image, HTML or autolink forms, and nothing
//! breaks out of the bold or the list item it is placed in.

use qase_webhooks::run_report::{run_url, RunCounts, RunOutcome, Verdict};
use serde::{Deserialize, Serialize};

use super::settings::GithubSettings;
use crate::runs::report::counts_of;
use crate::runs::state::RunState;

/// GitHub's limit on a status's description.
pub const DESCRIPTION_MAX: usize = 140;
/// Failures listed in a comment; the rest are counted ("and N more").
pub const COMMENT_FAILURES: usize = 10;
/// The longest title, once escaped, in a comment.
const TITLE_MAX: usize = 200;

/// Inserted after the characters GitHub's text scanners start at ([`broken_up`]).
const ZERO_WIDTH_SPACE: char = '\u{200B}';

/// A commit status's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusState {
    /// The run has not ended.
    Pending,
    /// It ended and meets the thresholds.
    Success,
    /// It ended and misses a threshold.
    Failure,
    /// It was aborted (and the thresholds do not allow that).
    Error,
}

/// The body of `POST /repos/{owner}/{repo}/statuses/{sha}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusBody {
    /// Its state.
    pub state: StatusState,
    /// The run's page in Qase.
    pub target_url: String,
    /// The counts and the verdict, at most [`DESCRIPTION_MAX`] characters.
    pub description: String,
    /// The status's name (`qase/<project>`).
    pub context: String,
}

/// Where a run stands, as GitHub is told.
#[derive(Debug, Clone, PartialEq)]
enum Standing {
    Running,
    Ended {
        counts: RunCounts,
        state: StatusState,
        reasons: Vec<String>,
    },
}

fn standing(state: &RunState, settings: &GithubSettings) -> Standing {
    let (Some(end), Some(counts)) = (&state.end, counts_of(state)) else {
        return Standing::Running;
    };
    let verdict = settings.thresholds.verdict(end.outcome, &counts);
    let state = match (&verdict, end.outcome) {
        (Verdict::Passed, _) => StatusState::Success,
        (Verdict::Failed(_), RunOutcome::Aborted) if !settings.thresholds.allow_aborted => {
            StatusState::Error
        }
        (Verdict::Failed(_), _) => StatusState::Failure,
    };
    let reasons = match verdict {
        Verdict::Passed => Vec::new(),
        Verdict::Failed(reasons) => reasons,
    };
    Standing::Ended {
        counts,
        state,
        reasons,
    }
}

/// The pass rate in words: `66.7%`, or `no cases`.
fn rate(counts: &RunCounts) -> String {
    match counts.pass_rate() {
        Some(rate) => format!("{rate}%"),
        None => "no cases".to_owned(),
    }
}

/// `text` cut to `max` characters, ending with `…` when cut.
fn cut(text: String, max: usize) -> String {
    if text.chars().count() <= max {
        return text;
    }
    let mut out: String = text.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// The status's context: the destination's, or `qase/<project>`.
pub fn context(settings: &GithubSettings, project: &str) -> String {
    settings
        .context
        .clone()
        .unwrap_or_else(|| format!("qase/{project}"))
}

/// The commit status of the run as it stands.
pub fn status(state: &RunState, settings: &GithubSettings, app_url: &str) -> StatusBody {
    let (project, run) = (&state.project, state.run);
    let (status, description) = match standing(state, settings) {
        Standing::Running => (
            StatusState::Pending,
            format!("Qase run {project}/{run} is running"),
        ),
        Standing::Ended {
            counts,
            state,
            reasons,
        } => {
            let mut words = format!(
                "{} passed, {} failed, {} blocked of {} ({})",
                counts.passed,
                counts.failed,
                counts.blocked,
                counts.cases,
                rate(&counts)
            );
            if let Some(reason) = reasons.first() {
                words = format!("{words}: {reason}");
            }
            (state, words)
        }
    };
    StatusBody {
        state: status,
        target_url: run_url(app_url, project, run),
        description: cut(description, DESCRIPTION_MAX),
        context: context(settings, project),
    }
}

/// The hidden marker that finds a run's comment among a pull request's.
pub fn marker(project: &str, run: u64) -> String {
    format!("<!-- qase-edge:run:{project}/{run} -->")
}

/// Whether a comment's body is the run's (it holds the run's marker).
pub fn is_the_runs(body: &str, project: &str, run: u64) -> bool {
    body.contains(&marker(project, run))
}

/// The comment's heading word and icon.
fn heading(standing: &Standing) -> (&'static str, &'static str) {
    match standing {
        Standing::Running => ("⏳", "running"),
        Standing::Ended { state, .. } => match state {
            StatusState::Success => ("✅", "passed"),
            StatusState::Failure => ("❌", "failed"),
            StatusState::Error | StatusState::Pending => ("⚠️", "aborted"),
        },
    }
}

/// The pull-request comment of the run as it stands.
pub fn comment(state: &RunState, settings: &GithubSettings, app_url: &str) -> String {
    let (project, run) = (&state.project, state.run);
    let url = run_url(app_url, project, run);
    let standing = standing(state, settings);
    let (icon, word) = heading(&standing);
    let mut lines = vec![
        marker(project, run),
        format!("### {icon} Qase run {project}/{run}: {word}"),
    ];
    let title = state
        .title
        .as_deref()
        .map(|title| format!("**{}** · ", escape(title, TITLE_MAX)))
        .unwrap_or_default();
    lines.push(format!("{title}[Open the run in Qase]({url})"));
    if let Standing::Ended {
        counts, reasons, ..
    } = &standing
    {
        lines.push(String::new());
        lines.extend(counts_table(counts));
        if !reasons.is_empty() {
            lines.push(String::new());
            lines.push(format!("Not met: {}", reasons.join("; ")));
        }
        lines.extend(failures(state, &url));
    }
    lines.join("\n") + "\n"
}

fn counts_table(counts: &RunCounts) -> Vec<String> {
    vec![
        "| Pass rate | Cases | Passed | Failed | Blocked | Skipped |".to_owned(),
        "| --- | --- | --- | --- | --- | --- |".to_owned(),
        format!(
            "| {} | {} | {} | {} | {} | {} |",
            rate(counts),
            counts.cases,
            counts.passed,
            counts.failed,
            counts.blocked,
            counts.skipped.unwrap_or(0)
        ),
    ]
}

/// The failures' list: at most [`COMMENT_FAILURES`], then how many more.
fn failures(state: &RunState, run_url: &str) -> Vec<String> {
    let Some(failures) = state.failures.as_ref().filter(|f| !f.items.is_empty()) else {
        return Vec::new();
    };
    let mut lines = vec![String::new(), "**Failed and blocked cases**".to_owned()];
    for failure in failures.items.iter().take(COMMENT_FAILURES) {
        let icon = match failure.status {
            qase_webhooks::run_report::FailureStatus::Failed => "❌",
            qase_webhooks::run_report::FailureStatus::Blocked => "⛔",
        };
        let title = match &failure.title {
            Some(title) => escape(title, TITLE_MAX),
            None => format!("case {}", failure.case_id),
        };
        lines.push(format!("- {icon} [{title}]({})", failure.url));
    }
    let unlisted = failures.items.len().saturating_sub(COMMENT_FAILURES) as u64;
    let more = unlisted + failures.more;
    if more > 0 {
        lines.push(format!("- … and {more} more [in Qase]({run_url})"));
    }
    lines
}

/// Bidirectional controls can make a title read differently from what it is.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Backslash-escaped in GitHub Markdown: every character that can start
/// emphasis, code, a link or image, a table cell or a heading.
fn escaped(c: char) -> bool {
    matches!(
        c,
        '\\' | '`' | '*' | '_' | '~' | '[' | ']' | '(' | ')' | '!' | '#' | '|' | ':' | '.'
    )
}

/// Followed by a zero-width space: GitHub finds mentions (`@team`), issue
/// references (`#1`), emoji (`:x:`) and autolinks (`https://`, `www.`) in
/// the rendered text, after the Markdown's escapes are gone, so only a
/// character between them breaks them up (the text still reads the same).
fn broken_up(c: char) -> bool {
    matches!(c, '@' | '#' | ':' | '.')
}

/// `text` as one line of inert GitHub Markdown, at most `max` characters
/// before escaping (cut with `…`): whitespace and control characters become
/// single spaces, bidirectional controls are dropped, `&`, `<` and `>` are
/// entities (no HTML), Markdown's characters are backslash-escaped, and
/// `@`, `#`, `:` and `.` followed by a zero-width space.
pub fn escape(text: &str, max: usize) -> String {
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .collect();
    let one_line = words
        .iter()
        .filter(|word| !word.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    let one_line = cut(
        one_line.chars().filter(|c| !is_bidi_control(*c)).collect(),
        max,
    );
    let mut out = String::with_capacity(one_line.len() * 2);
    for c in one_line.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if escaped(c) => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
        if broken_up(c) {
            out.push(ZERO_WIDTH_SPACE);
        }
    }
    out
}

#[cfg(test)]
mod tests;
