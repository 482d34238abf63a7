//! Unit tests of "webhook suspected disabled":
//!
//! 1. The window asked about: after the last delivery (or the first check
//!    of a project never heard from), up to a grace before now; nothing
//!    asked within the grace, nor while a `Retry-After` holds.
//! 2. Runs in it: suspected, one alert, said again once per window (not
//!    asked again); no run: nothing changes (merely quiet).
//! 3. A delivery after the one judged on: clear, one "resumed"; a delivery
//!    before it changes nothing.
//! 4. One message: the watchdog's "quiet" gives way while suspected, its
//!    "back" to "resumed"; a project not checked keeps the watchdog's.
//! 5. The machine: the request asked (any status, `limit=1`, the
//!    window, the token); a second pass alerts no more; a `429` holds
//!    every project after it until its `Retry-After`, a `5xx` ends the
//!    asking and changes nothing; at most `MAX_PROBES` requests, the least
//!    recently asked first; off without a token.
//! 6. The view: suspected until a delivery arrives, clear from then on.

use qase_webhooks::chat::Alert;
use serde_json::json;

use super::probe::{self, DisabledCheck, MAX_PROBES};
use super::*;
use crate::alerts::watch::LastDelivery;
use crate::delivery::machine::script;
use crate::delivery::machine::{Op, OpResult};
use crate::http::outbound::Answer;
use crate::runs::report::tests::config as config_of;

const NOW: u64 = 1_800_000_000_000;
const GRACE: u64 = 1_800;

fn rules() -> Rules {
    Rules {
        grace_seconds: GRACE,
        interval_ms: 900_000,
    }
}

fn web() -> Subject {
    Subject {
        project: "WEB".into(),
        window_seconds: None,
    }
}

fn facts(stored: Option<&DisabledRow>, last: Option<u64>, now: u64) -> Facts<'_> {
    Facts {
        stored,
        last_delivery_at: last,
        api_held: false,
        now,
    }
}

fn runs(count: u64, run: u64) -> Probed {
    Probed::Runs {
        count,
        run,
        title: Some(format!("Nightly {run}")),
    }
}

/// The suspected row of `WEB`, judged on a delivery at `last`.
fn suspected(last: u64, now: u64) -> DisabledRow {
    let Plan::Probe { row, .. } = plan(&web(), facts(None, Some(last), now), &rules()) else {
        panic!("silent past the grace: asked");
    };
    judge(None, row, runs(2, 42), &rules(), now).row.unwrap()
}

#[test]
fn the_window_asked_about_runs_from_the_last_delivery_to_a_grace_before_now() {
    let last = NOW - 3_600_000;
    let Plan::Probe { window, row } = plan(&web(), facts(None, Some(last), NOW), &rules()) else {
        panic!("an hour of silence is past the 30 min grace");
    };
    assert_eq!(
        window,
        ProbeWindow {
            from: last / 1000 + 1,
            to: NOW / 1000 - GRACE
        }
    );
    assert_eq!(row.last_delivery_at, Some(last));
    // Within the grace: nothing asked, and a project seen first is stored.
    let Plan::Decided(within) = plan(&web(), facts(None, Some(NOW - 60_000), NOW), &rules()) else {
        panic!("a minute of silence is within the grace");
    };
    assert_eq!((within.alert, within.state), (None, WebhookState::Clear));
    let first = within.row.unwrap();
    assert_eq!(first.first_checked_at, NOW);
    // A project never heard from: its silence counts from the first check.
    let later = NOW + GRACE * 1000 + 5_000;
    let Plan::Probe { window, .. } = plan(&web(), facts(Some(&first), None, later), &rules())
    else {
        panic!("silent for a grace since the first check");
    };
    assert_eq!(window.from, NOW / 1000 + 1);
    assert!(matches!(
        plan(&web(), facts(Some(&first), None, later - 10_000), &rules()),
        Plan::Decided(Decided { row: None, .. })
    ));
}

#[test]
fn nothing_is_asked_while_a_retry_after_holds() {
    let last = Some(NOW - 3_600_000);
    let held = Facts {
        api_held: true,
        ..facts(None, last, NOW)
    };
    assert!(matches!(plan(&web(), held, &rules()), Plan::Decided(_)));
    let Plan::Probe { row, .. } = plan(&web(), facts(None, last, NOW), &rules()) else {
        panic!("asked");
    };
    let limited = judge(
        None,
        row,
        Probed::RateLimited { retry_after: 60 },
        &rules(),
        NOW,
    );
    let row = limited.row.unwrap();
    assert_eq!(row.not_before, Some(NOW / 1000 + 60));
    let soon = facts(Some(&row), last, NOW + 30_000);
    assert!(matches!(plan(&web(), soon, &rules()), Plan::Decided(_)));
    let after = facts(Some(&row), last, NOW + 61_000);
    assert!(matches!(plan(&web(), after, &rules()), Plan::Probe { .. }));
}

#[test]
fn runs_no_delivery_told_of_are_one_alert_per_window_and_no_runs_nothing() {
    let last = NOW - 3_600_000;
    let Plan::Probe { row, .. } = plan(&web(), facts(None, Some(last), NOW), &rules()) else {
        panic!("asked");
    };
    let quiet = judge(None, row.clone(), Probed::NoRuns, &rules(), NOW);
    assert_eq!((quiet.alert, quiet.state), (None, WebhookState::Clear));
    assert_eq!(quiet.row.unwrap().checked_at, Some(NOW));

    let found = judge(None, row, runs(2, 42), &rules(), NOW);
    assert_eq!(found.state, WebhookState::SuspectedDisabled);
    assert_eq!(
        found.alert,
        Some(Alert::WebhookSuspectedDisabled {
            project: "WEB".into(),
            last_delivery_at: Some(last),
            grace_seconds: GRACE,
            runs: 2,
            run: 42,
            run_title: Some("Nightly 42".into()),
        })
    );
    let row = found.row.unwrap();
    // The same pass repeated, and the next ones within the window: no
    // question, no alert, no write.
    for at in [NOW, NOW + 300_000, NOW + GRACE * 1000 - 1] {
        let Plan::Decided(again) = plan(&web(), facts(Some(&row), Some(last), at), &rules()) else {
            panic!("a suspicion is not asked about again");
        };
        assert_eq!((again.alert, again.row), (None, None), "at {at}");
        assert_eq!(again.state, WebhookState::SuspectedDisabled);
    }
    let next_window = NOW + GRACE * 1000;
    let Plan::Decided(repeated) =
        plan(&web(), facts(Some(&row), Some(last), next_window), &rules())
    else {
        panic!("said again");
    };
    assert!(matches!(
        repeated.alert,
        Some(Alert::WebhookSuspectedDisabled { run: 42, .. })
    ));
    assert_eq!(repeated.row.unwrap().alerted_at, Some(next_window));
}

#[test]
fn a_watched_project_is_said_again_once_per_its_window() {
    let row = suspected(NOW - 3_600_000, NOW);
    let watched = Subject {
        window_seconds: Some(86_400),
        ..web()
    };
    let at = NOW + GRACE * 1000;
    let Plan::Decided(d) = plan(
        &watched,
        facts(Some(&row), row.last_delivery_at, at),
        &rules(),
    ) else {
        panic!("decided");
    };
    assert_eq!(d.alert, None, "a day's window, not the grace");
}

#[test]
fn a_delivery_after_the_one_judged_on_clears_it_once() {
    let last = NOW - 3_600_000;
    let row = suspected(last, NOW);
    let Plan::Decided(older) = plan(&web(), facts(Some(&row), Some(last), NOW + 1), &rules())
    else {
        panic!("decided");
    };
    assert_eq!(older.state, WebhookState::SuspectedDisabled);
    let Plan::Decided(back) = plan(
        &web(),
        facts(Some(&row), Some(NOW + 5_000), NOW + 6_000),
        &rules(),
    ) else {
        panic!("decided");
    };
    assert_eq!(
        back.alert,
        Some(Alert::WebhookResumed {
            project: "WEB".into()
        })
    );
    assert_eq!(back.state, WebhookState::Clear);
    let cleared = back.row.unwrap();
    assert_eq!(
        (cleared.suspected, cleared.run, cleared.last_delivery_at),
        (0, None, Some(NOW + 5_000))
    );
    let Plan::Decided(after) = plan(
        &web(),
        facts(Some(&cleared), Some(NOW + 5_000), NOW + 7_000),
        &rules(),
    ) else {
        panic!("within the grace of the delivery");
    };
    assert_eq!((after.alert, after.row), (None, None), "once");
}

#[test]
fn the_watchdogs_alert_gives_way_to_the_checks_about_one_project() {
    let quiet = Alert::ProjectQuiet {
        project: "WEB".into(),
        window_seconds: 60,
        last_delivery_at: None,
    };
    let back = Alert::ProjectBack {
        project: "WEB".into(),
    };
    let suspect = Decided {
        project: "WEB".into(),
        state: WebhookState::SuspectedDisabled,
        row: None,
        alert: None,
    };
    assert_eq!(one_message(Some(quiet.clone()), Some(&suspect)), None);
    let clear = Decided {
        state: WebhookState::Clear,
        ..suspect.clone()
    };
    assert_eq!(
        one_message(Some(quiet.clone()), Some(&clear)),
        Some(quiet.clone()),
        "merely quiet"
    );
    assert_eq!(one_message(Some(quiet.clone()), None), Some(quiet));
    let resumed = Decided {
        alert: Some(Alert::WebhookResumed {
            project: "WEB".into(),
        }),
        ..clear.clone()
    };
    assert_eq!(one_message(Some(back.clone()), Some(&resumed)), None);
    assert_eq!(one_message(Some(back.clone()), Some(&clear)), Some(back));
}

#[test]
fn a_reconcile_cursors_retry_after_holds_the_api() {
    let mut cursor = Cursor::new("WEB");
    assert!(!api_held(std::slice::from_ref(&cursor), NOW));
    cursor.not_before = Some(NOW / 1000 + 1);
    assert!(api_held(std::slice::from_ref(&cursor), NOW));
    assert!(!api_held(&[cursor], NOW + 1_000));
}

fn config(extra: &[(&str, &str)]) -> Config {
    let mut vars = vec![
        ("QASE_API_TOKEN", "tok"),
        ("QASE_API_URL", "https://api.qase.eu/v1"),
        ("QASE_DISABLED_GRACE", "30m"),
    ];
    vars.extend_from_slice(extra);
    config_of("[]", &vars)
}

fn page(entities: serde_json::Value, filtered: u64) -> OpResult {
    let body = json!({"status": true, "result": {"total": 40, "filtered": filtered, "count": 1, "entities": entities}});
    OpResult::Fetched(Answer::Status {
        status: 200,
        retry_after: None,
        body: body.to_string().into_bytes(),
        truncated: false,
    })
}

fn status(status: u16, retry_after: Option<u64>) -> OpResult {
    OpResult::Fetched(Answer::Status {
        status,
        retry_after,
        body: b"{\"status\":false}".to_vec(),
        truncated: false,
    })
}

fn delivered(project: &str, at: u64) -> LastDelivery {
    LastDelivery {
        project_code: project.into(),
        at: Some(at),
    }
}

fn asked_projects(ops: &[Op]) -> Vec<String> {
    ops.iter()
        .filter_map(|op| match op {
            Op::Fetch(request) => request
                .url
                .split('/')
                .nth(5)
                .map(|p| p.split('?').next().unwrap_or_default().to_owned()),
            _ => None,
        })
        .collect()
}

#[test]
fn the_machine_asks_for_any_run_in_the_window_and_a_second_pass_alerts_no_more() {
    let config = config(&[("QASE_RECONCILE", r#"["WEB", "QUIET"]"#)]);
    let last = [
        delivered("WEB", NOW - 3_600_000),
        delivered("QUIET", NOW - 3_600_000),
    ];
    let (mut check, next) = DisabledCheck::start(&config, &[], &last, false, NOW).unwrap();
    let run = script::run(&mut check, next, NOW, |op| match op {
        Op::Fetch(r) if r.url.contains("/run/WEB?") => Some(page(
            json!([{"id": 42, "title": "Nightly", "status_text": "in_progress"}]),
            3,
        )),
        _ => Some(page(json!([]), 0)),
    });
    let Op::Fetch(request) = &run.ops[0] else {
        panic!("{:?}", run.ops);
    };
    let from = (NOW - 3_600_000) / 1000 + 1;
    let to = NOW / 1000 - GRACE;
    assert_eq!(
        request.url,
        format!("https://api.qase.eu/v1/run/WEB?from_start_time={from}&to_start_time={to}&limit=1&offset=0")
    );
    assert!(request.headers.contains(&("Token".into(), "tok".into())));
    assert_eq!(run.ops.len(), 2, "one question a project");
    let alerts: Vec<&Alert> = check
        .decided()
        .iter()
        .filter_map(|d| d.alert.as_ref())
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(matches!(
        alerts[0],
        Alert::WebhookSuspectedDisabled { project, runs: 3, run: 42, .. } if project == "WEB"
    ));
    // The rows stored, the pass repeated: nothing asked about WEB, no alert.
    let stored: Vec<DisabledRow> = check
        .decided()
        .iter()
        .filter_map(|d| d.row.clone())
        .collect();
    assert_eq!(stored.len(), 2);
    let (mut again, next) = DisabledCheck::start(&config, &stored, &last, false, NOW + 1).unwrap();
    let run = script::run(&mut again, next, NOW + 1, |_| Some(page(json!([]), 0)));
    assert_eq!(asked_projects(&run.ops), ["QUIET"]);
    assert!(again.decided().iter().all(|d| d.alert.is_none()));
}

#[test]
fn a_429_holds_every_project_after_it_and_a_5xx_ends_the_asking() {
    let config = config(&[("QASE_RECONCILE", r#"["A", "B", "C"]"#)]);
    let last: Vec<LastDelivery> = ["A", "B", "C"]
        .iter()
        .map(|p| delivered(p, NOW - 3_600_000))
        .collect();
    let (mut check, next) = DisabledCheck::start(&config, &[], &last, false, NOW).unwrap();
    let run = script::run(&mut check, next, NOW, |_| Some(status(429, Some(120))));
    assert_eq!(run.ops.len(), 1, "no question after a 429");
    let rows: Vec<&DisabledRow> = check
        .decided()
        .iter()
        .filter_map(|d| d.row.as_ref())
        .collect();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.not_before == Some(NOW / 1000 + 120)));

    let (mut check, next) = DisabledCheck::start(&config, &[], &last, false, NOW).unwrap();
    let run = script::run(&mut check, next, NOW, |_| Some(status(503, None)));
    assert_eq!(run.ops.len(), 1, "no question after a 5xx");
    assert!(check.decided().iter().all(|d| d.alert.is_none()
        && d.state == WebhookState::Clear
        && d.row.as_ref().is_none_or(|r| r.checked_at.is_none())));

    // A refusal is that project's only.
    let (mut check, next) = DisabledCheck::start(&config, &[], &last, false, NOW).unwrap();
    let run = script::run(&mut check, next, NOW, |_| Some(status(404, None)));
    assert_eq!(run.ops.len(), 3);
    // A reconcile cursor's Retry-After: nothing asked at all.
    let (mut check, next) = DisabledCheck::start(&config, &[], &last, true, NOW).unwrap();
    assert!(script::run(&mut check, next, NOW, |_| None).ops.is_empty());
}

#[test]
fn a_pass_asks_at_most_its_budget_the_least_recently_asked_first() {
    let projects: Vec<String> = (0..MAX_PROBES + 2).map(|i| format!("P{i}")).collect();
    let list = serde_json::to_string(&projects).unwrap();
    let config = config(&[("QASE_RECONCILE", &list)]);
    let last: Vec<LastDelivery> = projects
        .iter()
        .map(|p| delivered(p, NOW - 3_600_000))
        .collect();
    let (mut check, next) = DisabledCheck::start(&config, &[], &last, false, NOW).unwrap();
    let run = script::run(&mut check, next, NOW, |_| Some(page(json!([]), 0)));
    let first = asked_projects(&run.ops);
    assert_eq!(first.len(), MAX_PROBES);
    let stored: Vec<DisabledRow> = check
        .decided()
        .iter()
        .filter_map(|d| d.row.clone())
        .collect();
    let (mut check, next) = DisabledCheck::start(&config, &stored, &last, false, NOW + 1).unwrap();
    let run = script::run(&mut check, next, NOW + 1, |_| Some(page(json!([]), 0)));
    let second = asked_projects(&run.ops);
    for project in &projects {
        assert!(
            first.contains(project) || second[..2].contains(project),
            "{project} waits one pass at most: {first:?} then {second:?}"
        );
    }
}

#[test]
fn the_check_is_off_without_a_token_or_a_project() {
    let no_token = config_of("[]", &[("QASE_RECONCILE", r#"["WEB"]"#)]);
    assert!(DisabledCheck::start(&no_token, &[], &[], false, NOW).is_none());
    assert!(DisabledCheck::start(&config(&[]), &[], &[], false, NOW).is_none());
    let watched = config(&[("QASE_WATCH", r#"{"MOB": "1d"}"#)]);
    assert_eq!(
        subjects(&watched),
        [Subject {
            project: "MOB".into(),
            window_seconds: Some(86_400)
        }]
    );
}

#[test]
fn an_answer_reads_as_runs_none_or_a_reason_to_stop() {
    let one = json!([{"id": 7, "title": "Smoke", "status_text": "passed"}]);
    let OpResult::Fetched(answer) = page(one, 5) else {
        unreachable!()
    };
    assert_eq!(probe::read(answer), (runs_titled(5, 7, "Smoke"), false));
    let OpResult::Fetched(answer) = page(json!([]), 0) else {
        unreachable!()
    };
    assert_eq!(probe::read(answer), (Probed::NoRuns, false));
    let timeout = Answer::Timeout(std::time::Duration::from_secs(10));
    assert_eq!(probe::read(timeout), (Probed::Unknown, true));
}

fn runs_titled(count: u64, run: u64, title: &str) -> Probed {
    Probed::Runs {
        count,
        run,
        title: Some(title.into()),
    }
}

#[test]
fn the_view_is_suspected_until_a_delivery_arrives() {
    let last = NOW - 3_600_000;
    let row = suspected(last, NOW);
    let v = view(&web(), Some(&row), Some(last), &rules());
    assert_eq!(v.state, WebhookState::SuspectedDisabled);
    assert_eq!((v.runs_untold, v.run), (Some(2), Some(42)));
    let v = view(&web(), Some(&row), Some(NOW + 1), &rules());
    assert_eq!(v.state, WebhookState::Clear);
    assert_eq!((v.run, v.last_delivery_at), (None, Some(NOW + 1)));
    let v = view(&web(), None, None, &rules());
    assert_eq!((v.state, v.grace_seconds), (WebhookState::Clear, GRACE));
}

#[test]
fn statements_bind_what_they_name() {
    use crate::store::d1::placeholders_match;
    placeholders_match(&rows());
    placeholders_match(&upsert(&suspected(NOW - 3_600_000, NOW), NOW));
}
