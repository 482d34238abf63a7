//! Unit tests of the reconcile pass, against a simulated Qase API (pages
//! of a project's runs) and run objects that apply facts as
//! [`state::apply`] says, each id once:
//!
//! 1. The rules: a run never heard of and a run started get a reconciled
//!    end; a run ended (by a webhook, or deleted) gets nothing; a
//!    reconciled end whose report was not taken gets its report message
//!    again; a run in progress gets nothing.
//! 2. The window: a pass begins a look-back before the last completed
//!    pass (at most a week back), goes on where one was cut, and reads
//!    only the runs that ended since the last completed pass.
//! 3. A webhook `run.completed`, duplicated and shuffled, racing the
//!    reconciled fact: one end, one `ended_now`, one report taken.
//! 4. The machine: the missing ends applied and their reports queued;
//!    a second pass applies nothing; paging past 100 runs; the call
//!    budget, and the next pass going on where it stopped; a `429`
//!    ending the pass and holding every project until its `Retry-After`;
//!    a timeout ending the pass, a refusal ending the project only.

use std::collections::{BTreeMap, BTreeSet};

use qase_webhooks::run_report::{RunCounts, RunOutcome};
use serde_json::{json, Value};

use super::*;
use crate::delivery::machine::script::{self, names};
use crate::runs::report::tests::config as config_of;
use crate::runs::state::Fetched;
use crate::runs::state::{self, RunStatus};

const NOW: u64 = 1_800_000_000_000;
const NOW_S: u64 = NOW / 1000;

fn config(reconcile: &str, watch: &str) -> Config {
    config_of(
        r#"[{"name":"ci","url":"https://ci.example","reports":true}]"#,
        &[
            ("QASE_API_TOKEN", "tok"),
            ("QASE_API_URL", "https://api.qase.eu/v1"),
            ("QASE_RECONCILE", reconcile),
            ("QASE_WATCH", watch),
        ],
    )
}

/// A run as Qase's listing shows it.
fn run_json(id: u64, status_text: &str, end_time: Option<u64>) -> Value {
    let end = end_time.map(rfc3339);
    json!({"id": id, "title": format!("Run {id}"), "status": 1, "status_text": status_text,
        "start_time": "2027-01-15T08:00:00+00:00", "end_time": end, "elapsed_time": 60000,
        "stats": {"total": 3, "statuses": {"passed": 2, "failed": 1, "blocked": 0, "skipped": 0, "untested": 0}}})
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SS+00:00` (civil from days, the
/// inverse of the parser's).
fn rfc3339(at: u64) -> String {
    let (days, rest) = ((at / 86_400) as i64, at % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let (h, m, s) = (rest / 3600, rest % 3600 / 60, rest % 60);
    format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}+00:00")
}

fn listed(id: u64, status_text: &str, end_time: Option<u64>) -> ListedRun {
    let page =
        json!({"status": true, "result": {"entities": [run_json(id, status_text, end_time)]}});
    let page = qase_api::parse_runs(page.to_string().as_bytes()).unwrap();
    page.runs.into_iter().next().unwrap()
}

fn started(project: &str, run: u64) -> RunState {
    let fact = RunFact {
        event_id: "evt_started".into(),
        project: project.into(),
        run,
        at: NOW_S - 600,
        team_member_id: 5,
        kind: RunFactKind::Started {
            title: "Nightly".into(),
            plan_id: None,
            environment: None,
        },
    };
    state::apply(None, &fact, false).state
}

fn webhook_end(run: u64, at: u64, id: &str) -> RunFact {
    let counts: RunCounts = serde_json::from_value(
        json!({"cases": 3, "passed": 3, "failed": 0, "blocked": 0, "duration": 5}),
    )
    .unwrap();
    RunFact {
        event_id: id.into(),
        project: "WEB".into(),
        run,
        at,
        team_member_id: 5,
        kind: RunFactKind::Ended {
            outcome: RunOutcome::Completed,
            counts,
        },
    }
}

#[test]
fn the_date_times_of_the_tests_are_qases() {
    for at in [0, 1_640_892_239, NOW_S, 1_709_164_800] {
        assert_eq!(qase_api::unix_seconds(&rfc3339(at)), Some(at));
    }
}

#[test]
fn a_run_never_heard_of_or_started_gets_its_end_and_an_ended_one_nothing() {
    let finished = listed(7, "failed", Some(NOW_S - 60));
    let never = state::empty("WEB", 7);
    let Check::Apply(fact) = check("WEB", &finished, &never, true, NOW_S) else {
        panic!("a run never heard of is reconciled");
    };
    assert_eq!(fact.event_id, "rec_WEB_7_completed");
    assert_eq!(fact.at, NOW_S - 60, "at Qase's end_time");
    let RunFactKind::Reconciled {
        outcome, counts, ..
    } = &fact.kind
    else {
        panic!("{fact:?}");
    };
    assert_eq!(
        (*outcome, counts.cases, counts.passed, counts.failed),
        (RunOutcome::Completed, 3, 2, 1)
    );
    let applied = state::apply(Some(never), &fact, false);
    assert!(applied.ended_now);
    assert_eq!(applied.state.title.as_deref(), Some("Run 7"));
    assert_eq!(applied.state.run_events, 0, "no event was received");
    assert!(applied.state.reconciled);

    let open = started("WEB", 7);
    let Check::Apply(again) = check("WEB", &finished, &open, true, NOW_S) else {
        panic!("a started run is reconciled");
    };
    assert_eq!(again, fact, "one fact per run and outcome");
    let ended = state::apply(Some(open), &fact, false).state;
    assert_eq!(
        ended.title.as_deref(),
        Some("Nightly"),
        "run.started's title stays"
    );

    // Already ended by a webhook, deleted, or still in progress: nothing.
    let by_webhook = state::apply(None, &webhook_end(7, NOW_S, "evt_end"), false).state;
    assert_eq!(
        check("WEB", &finished, &by_webhook, true, NOW_S),
        Check::Known
    );
    let mut deleted = state::empty("WEB", 7);
    deleted.deleted = true;
    assert_eq!(check("WEB", &finished, &deleted, true, NOW_S), Check::Known);
    let running = listed(7, "in_progress", None);
    let never = state::empty("WEB", 7);
    assert_eq!(check("WEB", &running, &never, true, NOW_S), Check::Known);

    // Reconciled, its report not taken: the report message again.
    assert_eq!(check("WEB", &finished, &ended, true, NOW_S), Check::Report);
    assert_eq!(check("WEB", &finished, &ended, false, NOW_S), Check::Known);
    let taken = state::take_report(&ended, "m1", state::Fetched::default()).unwrap();
    assert_eq!(check("WEB", &finished, &taken, true, NOW_S), Check::Known);
}

#[test]
fn an_aborted_run_is_reconciled_as_aborted() {
    let aborted = listed(8, "aborted", None);
    let fact = reconciled_fact("WEB", &aborted, NOW_S).unwrap();
    assert_eq!(fact.event_id, "rec_WEB_8_aborted");
    assert_eq!(fact.at, NOW_S, "no end_time: now");
    let state = state::apply(None, &fact, false).state;
    assert_eq!(state.status, RunStatus::Aborted);
}

#[test]
fn the_window_goes_back_from_the_last_pass_and_reads_only_new_ends() {
    let fresh = pass_of(&Cursor::new("WEB"), NOW_S);
    assert_eq!(
        (fresh.from, fresh.offset, fresh.started_at),
        (NOW_S - LOOKBACK_SECONDS, 0, NOW_S)
    );
    let days_ago = Cursor {
        checked_until: Some(NOW_S - 3 * 86_400),
        ..Cursor::new("WEB")
    };
    assert_eq!(
        pass_of(&days_ago, NOW_S).from,
        NOW_S - 4 * 86_400,
        "catches up"
    );
    let weeks_ago = Cursor {
        checked_until: Some(NOW_S - 30 * 86_400),
        ..Cursor::new("WEB")
    };
    assert_eq!(
        pass_of(&weeks_ago, NOW_S).from,
        NOW_S - MAX_CATCH_UP_SECONDS
    );
    let cut = PassUnderWay {
        from: 5,
        offset: 130,
        started_at: 9,
    };
    let under_way = Cursor {
        pass: Some(cut),
        ..days_ago.clone()
    };
    assert_eq!(pass_of(&under_way, NOW_S), cut, "goes on where it was cut");

    let floor = end_floor(&days_ago);
    assert_eq!(floor, NOW_S - 3 * 86_400 - CLOCK_SLACK_SECONDS);
    assert_eq!(end_floor(&Cursor::new("WEB")), 0);
    assert!(needs_reading(&listed(1, "passed", Some(floor)), floor));
    assert!(!needs_reading(&listed(1, "passed", Some(floor - 1)), floor));
    assert!(needs_reading(&listed(1, "passed", None), floor));
    assert!(!needs_reading(&listed(1, "in_progress", None), 0));
}

/// Folds facts as a run's object does: each id applied at most once.
fn fold(facts: &[RunFact]) -> (RunState, usize) {
    let mut seen = BTreeSet::new();
    let mut state = None;
    let mut ends = 0;
    for fact in facts {
        let applied = state::apply(state, fact, seen.contains(&fact.event_id));
        seen.insert(fact.event_id.clone());
        ends += usize::from(applied.ended_now);
        state = Some(applied.state);
    }
    (state.unwrap(), ends)
}

#[test]
fn a_webhook_end_racing_the_reconciled_one_ends_the_run_once_with_one_report() {
    let reconciled = reconciled_fact("WEB", &listed(7, "passed", Some(NOW_S - 30)), NOW_S).unwrap();
    // Qase's own end, one second later or in the same second: it wins either way.
    for webhook_at in [NOW_S - 29, NOW_S - 30, NOW_S - 31] {
        let completed = webhook_end(7, webhook_at, "evt_0000end");
        let facts = vec![
            completed.clone(),
            reconciled.clone(),
            completed.clone(),
            reconciled.clone(),
        ];
        let mut expected = None;
        for k in 0..24u64 {
            let order = state::tests::shuffled(&facts, k * 7919 + 13);
            let (state, ends) = fold(&order);
            assert_eq!(ends, 1, "order {k}: ended {ends} times");
            let end = state.end.clone().unwrap();
            assert_eq!(
                (end.source, end.event_id.as_str()),
                (EndSource::Webhook, "evt_0000end")
            );
            assert!(state.reconciled);
            let version_free = RunState {
                version: 0,
                ..state.clone()
            };
            assert_eq!(expected.get_or_insert(version_free.clone()), &version_free);
            // Both report messages (the consumer's and the pass's) ask;
            // the first takes it, the other is refused.
            let fact_of = |fact: &RunFact| report::report_due(fact, &state, true);
            assert!(fact_of(&completed) && fact_of(&reconciled));
            let taken = state::take_report(&state, "m-pass", Fetched::default()).unwrap();
            assert_eq!(
                state::take_report(&taken, "m-webhook", Fetched::default()),
                None
            );
        }
    }
}

/// The simulated Qase API and run objects.
#[derive(Default)]
struct World {
    /// The runs Qase lists for `WEB`, in its order (none for another project).
    runs: Vec<Value>,
    /// Answers to listings before the pages: `Some(answer)` once each.
    listing_answers: Vec<Answer>,
    /// The run objects.
    states: BTreeMap<u64, RunState>,
    seen: BTreeSet<String>,
    reports: Vec<u64>,
    /// The offsets listed.
    offsets: Vec<u64>,
}

fn ok(body: Value) -> OpResult {
    OpResult::Fetched(Answer::Status {
        status: 200,
        retry_after: None,
        body: body.to_string().into_bytes(),
        truncated: false,
    })
}

impl World {
    fn answer(&mut self, op: &Op) -> Option<OpResult> {
        Some(match op {
            Op::Fetch(request) => {
                let offset: u64 = request
                    .url
                    .split("offset=")
                    .nth(1)
                    .unwrap()
                    .parse()
                    .unwrap();
                self.offsets.push(offset);
                if !self.listing_answers.is_empty() {
                    return Some(OpResult::Fetched(self.listing_answers.remove(0)));
                }
                let runs = match request.url.contains("/run/WEB?") {
                    true => self.runs.clone(),
                    false => Vec::new(),
                };
                let page: Vec<Value> = runs
                    .iter()
                    .skip(offset as usize)
                    .take(100)
                    .cloned()
                    .collect();
                ok(
                    json!({"status": true, "result": {"total": runs.len(), "filtered": runs.len(),
                    "count": page.len(), "entities": page}}),
                )
            }
            Op::ReadRun(key) => {
                let state = self.states.get(&key.run).cloned();
                OpResult::Run(Box::new(
                    state.unwrap_or_else(|| state::empty(&key.project, key.run)),
                ))
            }
            Op::ApplyRun(fact) => {
                let seen = !self.seen.insert(fact.event_id.clone());
                let applied = state::apply(self.states.get(&fact.run).cloned(), fact, seen);
                self.states.insert(fact.run, applied.state.clone());
                OpResult::RunApplied {
                    state: Box::new(applied.state),
                    ended_now: applied.ended_now,
                }
            }
            Op::QueueReport { due, .. } => {
                self.reports.push(due.run_report.run);
                OpResult::Done
            }
            other => panic!("not asked of a pass: {other:?}"),
        })
    }

    /// One pass at `now` with `cursors`: its operations and the cursors it moved.
    fn pass(&mut self, config: &Config, cursors: &[Cursor], now: u64) -> (Vec<Op>, Vec<Cursor>) {
        let Some((mut machine, next)) = Reconcile::start(config, cursors, now) else {
            return (Vec::new(), Vec::new());
        };
        let run = script::run(&mut machine, next, now, |op| self.answer(op));
        assert_eq!(run.end, Disposition::Ack);
        (run.ops, machine.cursors().to_vec())
    }
}

#[test]
fn without_a_token_or_a_project_there_is_no_pass() {
    let no_token = config_of("[]", &[("QASE_RECONCILE", r#"["WEB"]"#)]);
    assert!(Reconcile::start(&no_token, &[], NOW).is_none());
    assert!(projects(&no_token).is_empty());
    let no_project = config_of("[]", &[("QASE_API_TOKEN", "t")]);
    assert!(Reconcile::start(&no_project, &[], NOW).is_none());
    let both = config(r#"["WEB", "API"]"#, r#"{"MOB": "1h", "WEB": "1d"}"#);
    let on = health(&both).unwrap();
    assert_eq!((on.on, on.off_because), (true, None));
    let off = health(&no_token).unwrap();
    assert_eq!(
        (off.on, off.projects.as_slice()),
        (false, ["WEB".to_owned()].as_slice())
    );
    assert_eq!(off.off_because, Some("QASE_API_TOKEN is not set"));
    assert_eq!(health(&config_of("[]", &[("QASE_API_TOKEN", "t")])), None);
    assert_eq!(
        projects(&both),
        ["WEB", "API", "MOB"],
        "the watched ones too, each once"
    );
}

#[test]
fn a_pass_ends_the_runs_the_webhooks_missed_and_a_second_applies_nothing() {
    let config = config(r#"["WEB"]"#, "{}");
    let mut world = World {
        runs: vec![
            run_json(1, "passed", Some(NOW_S - 1200)),
            run_json(2, "failed", Some(NOW_S - 1100)),
            run_json(3, "passed", Some(NOW_S - 1000)),
        ],
        ..World::default()
    };
    world.states.insert(2, started("WEB", 2));
    world.states.insert(
        3,
        state::apply(None, &webhook_end(3, NOW_S - 1000, "evt_3"), false).state,
    );
    let (ops, cursors) = world.pass(&config, &[], NOW);
    assert_eq!(
        names(&ops),
        ["fetch", "read_run", "run", "report", "read_run", "run", "report", "read_run"]
    );
    let Op::Fetch(request) = &ops[0] else {
        unreachable!()
    };
    assert!(request.url.starts_with(
        "https://api.qase.eu/v1/run/WEB?status=passed,failed,aborted&from_start_time="
    ));
    assert_eq!(world.reports, [1, 2]);
    for run in [1, 2] {
        let state = &world.states[&run];
        assert!(state.status.is_final() && state.reconciled, "{state:?}");
    }
    assert_eq!(
        world.states[&3].end.as_ref().unwrap().source,
        EndSource::Webhook
    );
    assert_eq!(
        cursors,
        [Cursor {
            checked_until: Some(NOW_S),
            ..Cursor::new("WEB")
        }]
    );

    // The reports taken; the next minute's pass reads nothing that ended before.
    for run in [1, 2] {
        let taken = state::take_report(&world.states[&run], "m", Fetched::default()).unwrap();
        world.states.insert(run, taken);
    }
    let (ops, _) = world.pass(&config, &cursors, NOW + 60_000);
    assert_eq!(names(&ops), ["fetch"], "nothing ended since");
    // Without the cursor (a pass repeated): read again, nothing applied.
    let (ops, _) = world.pass(&config, &[], NOW + 60_000);
    assert!(
        !names(&ops).contains(&"run") && !names(&ops).contains(&"report"),
        "{:?}",
        names(&ops)
    );
    assert_eq!(world.reports, [1, 2]);
}

#[test]
fn a_pass_cut_after_the_apply_queues_the_report_the_next_time() {
    let config = config(r#"["WEB"]"#, "{}");
    let mut world = World {
        runs: vec![run_json(1, "passed", Some(NOW_S - 120))],
        ..World::default()
    };
    let (mut machine, next) = Reconcile::start(&config, &[], NOW).unwrap();
    let run = script::run(&mut machine, next, NOW, |op| match op {
        Op::QueueReport { .. } => Some(OpResult::Failed("queue down".into())),
        other => world.answer(other),
    });
    assert_eq!(names(&run.ops), ["fetch", "read_run", "run", "report"]);
    let cursors = machine.cursors().to_vec();
    assert!(
        cursors.is_empty(),
        "cut at its first run: the next pass starts it over"
    );
    assert!(world.reports.is_empty());
    let (ops, _) = world.pass(&config, &cursors, NOW + 60_000);
    assert_eq!(
        names(&ops),
        ["fetch", "read_run", "report"],
        "applied once, reported now"
    );
    assert_eq!(world.reports, [1]);
}

#[test]
fn a_pass_pages_past_100_runs() {
    let config = config(r#"["WEB"]"#, "{}");
    let checked = NOW_S - 3600;
    // 230 runs, all ended before the last pass but the last of each page.
    let runs = (1..=230)
        .map(|id| {
            let fresh = id % 100 == 0 || id == 230;
            let end = if fresh {
                NOW_S - 10
            } else {
                checked - CLOCK_SLACK_SECONDS - 1
            };
            run_json(id, "passed", Some(end))
        })
        .collect();
    let mut world = World {
        runs,
        ..World::default()
    };
    let cursor = Cursor {
        checked_until: Some(checked),
        ..Cursor::new("WEB")
    };
    let (ops, cursors) = world.pass(&config, &[cursor], NOW);
    assert_eq!(world.offsets, [0, 100, 200]);
    assert_eq!(world.reports, [100, 200, 230]);
    assert_eq!(names(&ops).iter().filter(|n| **n == "read_run").count(), 3);
    assert_eq!(
        (cursors[0].checked_until, cursors[0].pass),
        (Some(NOW_S), None)
    );
}

#[test]
fn a_pass_stays_within_its_calls_and_the_next_goes_on_where_it_stopped() {
    let config = config(r#"["WEB"]"#, "{}");
    let runs = (1..=30)
        .map(|id| run_json(id, "passed", Some(NOW_S - 60)))
        .collect();
    let mut world = World {
        runs,
        ..World::default()
    };
    let (ops, cursors) = world.pass(&config, &[], NOW);
    assert!(ops.len() <= MAX_CALLS as usize, "{} calls", ops.len());
    let done = ((MAX_CALLS - 1) / CALLS_PER_RUN) as usize;
    assert_eq!(world.reports.len(), done);
    let pass = cursors[0].pass.expect("a pass under way");
    assert_eq!((pass.offset, pass.started_at), (done as u64, NOW_S));
    assert_eq!(cursors[0].checked_until, None);

    let (ops, cursors) = world.pass(&config, &cursors, NOW + 60_000);
    assert!(ops.len() <= MAX_CALLS as usize);
    assert_eq!(
        world.offsets[1], done as u64,
        "goes on at the first run not checked"
    );
    assert_eq!(world.reports.len(), 2 * done);
    let (_, cursors) = world.pass(&config, &cursors, NOW + 120_000);
    assert_eq!(
        world.reports,
        (1..=30).collect::<Vec<u64>>(),
        "each once, in the end"
    );
    assert_eq!(
        (cursors[0].pass, cursors[0].checked_until),
        (None, Some(NOW_S)),
        "checked from the first page's time"
    );
}

#[test]
fn a_429_ends_the_pass_and_holds_every_project_until_its_retry_after() {
    let config = config(r#"["WEB", "API"]"#, "{}");
    let mut world = World {
        runs: vec![run_json(1, "passed", Some(NOW_S - 60))],
        listing_answers: vec![Answer::Status {
            status: 429,
            retry_after: Some(120),
            body: Vec::new(),
            truncated: false,
        }],
        ..World::default()
    };
    let (ops, cursors) = world.pass(&config, &[], NOW);
    assert_eq!(
        names(&ops),
        ["fetch"],
        "nothing else asked, nothing changed"
    );
    assert!(world.states.is_empty());
    let held: Vec<(&str, Option<u64>)> = cursors
        .iter()
        .map(|c| (c.project.as_str(), c.not_before))
        .collect();
    assert_eq!(
        held,
        [("WEB", Some(NOW_S + 120)), ("API", Some(NOW_S + 120))]
    );
    assert!(cursors
        .iter()
        .all(|c| c.pass.is_none() && c.checked_until.is_none()));

    let (ops, _) = world.pass(&config, &cursors, NOW + 60_000);
    assert_eq!(names(&ops), [] as [&str; 0], "not before its Retry-After");
    let (_, _) = world.pass(&config, &cursors, NOW + 121_000);
    assert_eq!(world.reports, [1], "then it goes on");
}

#[test]
fn a_timeout_ends_the_pass_and_a_refusal_only_the_project() {
    let config = config(r#"["WEB", "API"]"#, "{}");
    let mut world = World {
        runs: vec![run_json(1, "passed", Some(NOW_S - 60))],
        listing_answers: vec![Answer::Timeout(std::time::Duration::from_secs(10))],
        ..World::default()
    };
    let (ops, cursors) = world.pass(&config, &[], NOW);
    assert_eq!(names(&ops), ["fetch"]);
    assert!(cursors.is_empty(), "a failed listing changes nothing");
    world.listing_answers = vec![Answer::Status {
        status: 404,
        retry_after: None,
        body: br#"{"status":false,"errorMessage":"Project not found"}"#.to_vec(),
        truncated: false,
    }];
    let (ops, cursors) = world.pass(&config, &[], NOW);
    assert_eq!(world.offsets.len(), 3, "the other project is listed");
    assert_eq!(names(&ops)[..2], ["fetch", "fetch"]);
    assert_eq!(cursors.len(), 1, "only the project listed moved");
    for bad in [
        Answer::Status {
            status: 200,
            retry_after: None,
            body: b"<html>".to_vec(),
            truncated: false,
        },
        Answer::Status {
            status: 401,
            retry_after: None,
            body: Vec::new(),
            truncated: false,
        },
    ] {
        assert!(matches!(listing(bad), Err(ListingFailure::Refused(_))));
    }
    let unavailable = Answer::Status {
        status: 503,
        retry_after: None,
        body: Vec::new(),
        truncated: false,
    };
    assert!(matches!(
        listing(unavailable),
        Err(ListingFailure::Unavailable(_))
    ));
    let limited = Answer::Status {
        status: 429,
        retry_after: None,
        body: Vec::new(),
        truncated: false,
    };
    assert_eq!(
        listing(limited),
        Err(ListingFailure::RateLimited {
            retry_after: DEFAULT_RETRY_AFTER_SECONDS
        })
    );
}
