//! One seed's scenario: the configuration, destinations, events and faults
//! it draws, the run, and the invariants checked at its end.

use qase_edge_engine::config::{bindings, Config};
use qase_edge_engine::store::settings::Sink;

use super::checks;
use super::destinations::Behaviour;
use super::rng::Rng;
use super::world::{Event, Faults, World};

const EVENT_NAMES: [&str; 3] = ["run.completed", "case.created", "defect.created"];
const PROJECTS: [&str; 2] = ["WEB", "API"];
/// Two days: a destination down for good is probed hourly by then.
const HORIZON_MS: u64 = 2 * 86_400_000;

/// What a seed's configuration has beyond its event destinations.
#[derive(Clone, Copy)]
struct Extras {
    /// Run reports to some destinations, and run events.
    runs: bool,
    /// A Qase API token: the reports fetch their failures.
    api: bool,
    /// An alert destination (the last one, which gets no events).
    alerts: bool,
}

fn destination(rng: &mut Rng, i: usize, runs: bool) -> String {
    let events = rng.pick(&[r#"["*"]"#, r#"["run.*"]"#, r#"["*.created"]"#]);
    let pace = rng.pick(&[0, 0, 200, 1000]);
    let reports = runs && rng.chance(0.6);
    format!(
        r#"{{"name":"d{i}","url":"https://d{i}.example/hook","events":{events},"pace_ms":{pace},"timeout_ms":5000,"reports":{reports}}}"#
    )
}

fn config(rng: &mut Rng, destinations: usize, extras: Extras) -> Config {
    let mut list: Vec<String> = (0..destinations)
        .map(|i| destination(rng, i, extras.runs))
        .collect();
    if extras.alerts {
        let pace = rng.pick(&[0, 1000]);
        list.push(format!(
            r#"{{"name":"alerts","url":"https://alerts.example/hook","format":"slack","alerts":true,"projects":["NONE"],"pace_ms":{pace}}}"#
        ));
    }
    let base = rng.range(1, 10);
    let mut vars = vec![
        (bindings::DESTINATIONS, format!("[{}]", list.join(","))),
        (bindings::RETRY_BASE_SECONDS, base.to_string()),
        (
            bindings::RETRY_CAP_SECONDS,
            (base * rng.range(1, 8)).to_string(),
        ),
        (bindings::RETRY_MAX_ATTEMPTS, rng.range(1, 8).to_string()),
        (
            bindings::BREAKER_FAILURES,
            rng.pick(&[0, 3, 5, 10]).to_string(),
        ),
        (
            bindings::BREAKER_PROBE_SECONDS,
            rng.range(1, 60).to_string(),
        ),
        (bindings::RUN_SETTLE_SECONDS, rng.range(0, 300).to_string()),
        (
            bindings::ALERT_INTERVAL_SECONDS,
            rng.pick(&[1, 60, 900]).to_string(),
        ),
    ];
    if extras.api {
        vars.push((bindings::API_TOKEN, "a-token".to_owned()));
    }
    let lookup = |key: &str| vars.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone());
    let config = Config::from_lookup(lookup, &Sink::ALL).expect("a valid configuration");
    assert!(config.problems.is_empty(), "{:?}", config.problems);
    config
}

fn faults(rng: &mut Rng) -> Faults {
    if rng.chance(0.4) {
        return Faults::default();
    }
    let mut p = |max: f64| rng.unit() * max;
    Faults {
        redeliver: p(0.05),
        duplicate: p(0.1),
        ingest_send: p(0.1),
        d1: p(0.1),
        queue_send: p(0.1),
        object_call: p(0.1),
        api: p(0.5),
    }
}

/// The world of `seed`, run to its end.
fn world(seed: u64) -> (World, bool) {
    let mut rng = Rng::new(seed);
    let n = rng.range(1, 3) as usize;
    let runs = rng.chance(0.3);
    let extras = Extras {
        runs,
        api: runs && rng.chance(0.5),
        alerts: rng.chance(0.5),
    };
    let config = config(&mut rng, n, extras);
    let mut behaviours: Vec<Behaviour> = (0..n).map(|_| Behaviour::random(&mut rng)).collect();
    if extras.alerts {
        behaviours.push(Behaviour::random(&mut rng));
    }
    let faults = faults(&mut rng);
    let count = rng.range(1, 30);
    let mut world = World::new(rng, config, behaviours, faults);
    let mut events: Vec<Event> = (0..count)
        .map(|i| Event {
            id: format!("evt_{seed:08x}{i:024x}"),
            received_at: world.rng.range(0, 120_000),
            event_name: world.rng.pick(&EVENT_NAMES),
            project: world.rng.pick(&PROJECTS),
            body: "{}".to_owned(),
        })
        .collect();
    if runs {
        events.extend(run_events(seed, &mut world.rng));
    }
    events.sort_by_key(|event| event.received_at);
    for event in events {
        world.ingest(event);
    }
    let finished = world.run(HORIZON_MS);
    (world, finished)
}

/// A few runs' `run.started` and (most of the time) `run.completed`.
fn run_events(seed: u64, rng: &mut Rng) -> Vec<Event> {
    let mut events = Vec::new();
    for run in 1..=rng.range(1, 3) {
        let project = rng.pick(&PROJECTS);
        let started = rng.range(0, 60_000);
        let payload = format!(r#"{{"id":{run},"title":"Run {run}","cases_count":3}}"#);
        let mut kinds = vec![("run.started", started, payload)];
        if rng.chance(0.8) {
            let failed = rng.range(0, 3);
            let payload = format!(
                r#"{{"id":{run},"cases":3,"passed":{},"failed":{failed},"blocked":0,"duration":9000}}"#,
                3 - failed
            );
            kinds.push(("run.completed", started + rng.range(0, 60_000), payload));
        }
        for (event_name, received_at, payload) in kinds {
            let body = format!(
                r#"{{"event_name":"{event_name}","timestamp":{},"payload":{payload},"team_member_id":5,"project_code":"{project}"}}"#,
                received_at / 1000
            );
            events.push(Event {
                id: format!("evt_{seed:08x}ff{run:06x}{:016x}", events.len()),
                received_at,
                event_name,
                project,
                body,
            });
        }
    }
    events
}

/// Runs `seed` and checks every invariant: the problems found, if any.
pub fn run(seed: u64) -> Result<(), Vec<String>> {
    let (world, finished) = world(seed);
    let mut problems = world.ledger.violations.clone();
    if !finished {
        problems.push("the run never settled".to_owned());
    }
    checks::check_events(&world, &mut problems);
    checks::check_reports(&world, &mut problems);
    checks::check_alerts(&world, &mut problems);
    checks::check_alert_posts(&world, &mut problems);
    checks::check_dead_letters(&world, &mut problems);
    match problems.is_empty() {
        true => Ok(()),
        false => {
            problems.insert(0, describe(&world));
            Err(problems)
        }
    }
}

fn describe(world: &World) -> String {
    let delivery = &world.config.delivery;
    format!(
        "destinations {:?} (an alert destination: {}), retry {:?}, breaker {:?}, faults {:?}, {} events, {} runs, API token: {}",
        world.behaviours,
        !delivery.alert_destinations(None).is_empty(),
        delivery.retry,
        delivery.breaker,
        world.faults,
        world.events.len(),
        world.runs.len(),
        world.config.runs.api.is_some()
    )
}

/// What a seed did, to compare two runs of it.
pub fn trace(seed: u64) -> String {
    let (world, _) = world(seed);
    let mut taken: Vec<_> = world.ledger.taken.iter().collect();
    taken.sort();
    let mut alerts: Vec<_> = world.ledger.alert_attempts.iter().collect();
    alerts.sort();
    let takers: Vec<_> = world.runs.values().map(|run| &run.takers).collect();
    format!(
        "{} {taken:?} {:?} {alerts:?} {takers:?}",
        world.now, world.calls
    )
}

/// What a seed's world went through, to check that the scenarios reach
/// every machine: reports taken, report deliveries taken, Qase API faults,
/// alerts posted, dead letters recorded through the dead-letter queue.
pub fn reach(seed: u64) -> [bool; 5] {
    let (world, _) = world(seed);
    let ledger = &world.ledger;
    let reports = world.runs.values().any(|run| !run.takers.is_empty());
    let report_taken = ledger.taken.keys().any(|(id, _)| id.starts_with("rpt_"));
    let buried = ledger
        .dead_sent
        .iter()
        .any(|key| ledger.dead.contains_key(key));
    [
        reports,
        report_taken,
        ledger.fetches.1 > 0,
        !ledger.alert_attempts.is_empty(),
        buried,
    ]
}
