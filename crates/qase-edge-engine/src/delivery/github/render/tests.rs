//! The status and the comment of a run, as it runs, passes, fails and is
//! aborted; the escaping of hostile titles.

use super::*;
use crate::delivery::github::settings::GithubToken;
use crate::delivery::github::tags::TagPrefixes;
use crate::runs::report::tests::ended_state;
use crate::runs::state::{self, RunStatus};
use qase_webhooks::run_report::{Failure, FailureSource, FailureStatus, Failures, Thresholds};

const APP: &str = "https://app.qase.io";

pub(crate) fn settings(thresholds: Thresholds) -> GithubSettings {
    GithubSettings {
        repository: "octo/web".into(),
        token: test_token(),
        thresholds,
        tags: TagPrefixes::default(),
        context: None,
    }
}

fn test_token() -> GithubToken {
    GithubToken::new("t")
}

fn strict() -> Thresholds {
    Thresholds {
        max_failed: Some(0),
        ..Thresholds::default()
    }
}

fn running() -> RunState {
    let mut state = state::empty("WEB", 42);
    state.status = RunStatus::Started;
    state.title = Some("Nightly".into());
    state
}

fn failures(n: u64, more: u64) -> Failures {
    Failures {
        source: FailureSource::QaseApi,
        items: (1..=n)
            .map(|case| Failure {
                case_id: case,
                title: Some(format!("Case {case}")),
                status: FailureStatus::Failed,
                url: format!("{APP}/case/WEB-{case}"),
            })
            .collect(),
        more,
    }
}

#[test]
fn a_running_run_is_pending_and_its_words_do_not_change_as_it_runs() {
    let mut state = running();
    let status = status(&state, &settings(Thresholds::default()), APP);
    assert_eq!(status.state, StatusState::Pending);
    assert_eq!(status.context, "qase/WEB");
    assert_eq!(
        status.target_url,
        "https://app.qase.io/run/WEB/dashboard/42"
    );
    state.results.created = 10;
    let later = super::status(&state, &settings(Thresholds::default()), APP);
    assert_eq!(later, status, "a status posted again is the same status");
}

#[test]
fn an_ended_run_is_a_success_or_a_failure_by_the_thresholds() {
    let state = ended_state();
    let passing = status(&state, &settings(Thresholds::default()), APP);
    assert_eq!(passing.state, StatusState::Success);
    assert_eq!(
        passing.description,
        "2 passed, 1 failed, 0 blocked of 3 (66.7%)"
    );
    let failing = status(&state, &settings(strict()), APP);
    assert_eq!(failing.state, StatusState::Failure);
    assert!(
        failing
            .description
            .ends_with(": 1 failed (at most 0 allowed)"),
        "{}",
        failing.description
    );
    let mut named = settings(strict());
    named.context = Some("qase/e2e".into());
    assert_eq!(status(&state, &named, APP).context, "qase/e2e");
}

#[test]
fn an_aborted_run_is_an_error_unless_the_thresholds_allow_it() {
    let mut state = ended_state();
    state.end.as_mut().unwrap().outcome = RunOutcome::Aborted;
    assert_eq!(
        status(&state, &settings(Thresholds::default()), APP).state,
        StatusState::Error
    );
    let allowed = Thresholds {
        allow_aborted: true,
        ..Thresholds::default()
    };
    assert_eq!(
        status(&state, &settings(allowed), APP).state,
        StatusState::Success
    );
    assert!(comment(&state, &settings(Thresholds::default()), APP).contains(": aborted"));
}

#[test]
fn a_description_fits_githubs_140_characters() {
    let thresholds = Thresholds {
        max_failed: Some(0),
        max_blocked: Some(0),
        min_pass_rate: Some(99.5),
        allow_aborted: false,
    };
    let mut state = ended_state();
    let counts = &mut state.end.as_mut().unwrap().counts;
    (counts.cases, counts.failed, counts.blocked) = (u64::MAX, u64::MAX / 2, u64::MAX / 3);
    let long = status(&state, &settings(thresholds), APP).description;
    assert_eq!(long.chars().count(), DESCRIPTION_MAX, "{long}");
    assert!(long.ends_with('…'));
}

#[test]
fn the_comment_carries_its_marker_the_counts_and_the_failures_capped() {
    let mut state = ended_state();
    state.failures = Some(failures(12, 5));
    let text = comment(&state, &settings(strict()), APP);
    assert!(
        text.starts_with("<!-- qase-edge:run:WEB/42 -->\n"),
        "{text}"
    );
    assert!(is_the_runs(&text, "WEB", 42));
    assert!(
        !is_the_runs(&text, "WEB", 4),
        "another run's marker differs"
    );
    assert!(text.contains("### ❌ Qase run WEB/42: failed"), "{text}");
    assert!(text.contains("| 66.7% | 3 | 2 | 1 | 0 | 0 |"), "{text}");
    assert!(text.contains("Not met: 1 failed (at most 0 allowed)"));
    assert!(
        text.contains("- ❌ [Case 10](https://app.qase.io/case/WEB-10)"),
        "{text}"
    );
    assert!(!text.contains("Case 11"), "capped at {COMMENT_FAILURES}");
    assert!(
        text.contains("- … and 7 more [in Qase](https://app.qase.io/run/WEB/dashboard/42)"),
        "{text}"
    );
    let passing = comment(&ended_state(), &settings(Thresholds::default()), APP);
    assert!(passing.contains("✅ Qase run WEB/42: passed"));
    assert!(!passing.contains("more"), "{passing}");
    let running = comment(&running(), &settings(strict()), APP);
    assert!(running.contains("⏳ Qase run WEB/42: running"));
    assert!(!running.contains("| Pass rate"), "no counts before the end");
}

#[test]
fn a_hostile_title_pings_nobody_and_links_nowhere() {
    let hostile = "@octo/team see [this](https://evil.example) ![x](https://evil.example/x.png) <img src=x onerror=alert(1)> `code` **bold** #1 :tada: www.evil.example\n## heading | cell";
    let escaped = escape(hostile, 500);
    for never in [
        "@octo", "](", "<img", "https://", "www.evil", "**", "\n", "`code`", "#1", ":tada:",
    ] {
        assert!(!escaped.contains(never), "{never:?} in {escaped}");
    }
    assert!(escaped.contains("@\u{200B}octo"), "{escaped}");
    assert!(escaped.contains("&lt;img"), "{escaped}");
    let mut state = ended_state();
    state.title = Some(hostile.into());
    let mut failed = failures(1, 0);
    failed.items[0].title = Some("@everyone [x](y)".into());
    state.failures = Some(failed);
    let text = comment(&state, &settings(Thresholds::default()), APP);
    assert!(
        !text.contains("@octo") && !text.contains("@everyone"),
        "{text}"
    );
    assert!(!text.contains("(https://evil"), "{text}");
}

#[test]
fn escaping_makes_one_line_and_cuts_long_titles() {
    assert_eq!(escape("  a\n\tb\u{202E}c  ", 50), "a bc");
    assert_eq!(escape("v1.2", 50), "v1\\.\u{200B}2");
    assert_eq!(escape("plain title 42", 50), "plain title 42");
    let long = escape(&"x".repeat(300), 10);
    assert_eq!(long, format!("{}…", "x".repeat(9)));
    assert_eq!(escape("a & b", 50), "a &amp; b");
}
