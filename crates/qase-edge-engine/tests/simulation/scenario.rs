//! One seed's scenario: the configuration, destinations, events and faults
//! it draws, the run, and the invariants checked at its end.

use qase_edge_engine::config::{bindings, Config};
use qase_edge_engine::delivery::breaker::{self, Change};
use qase_edge_engine::store::settings::Sink;

use super::destinations::Behaviour;
use super::rng::Rng;
use super::world::{Event, Faults, World};

const EVENT_NAMES: [&str; 3] = ["run.completed", "case.created", "defect.created"];
const PROJECTS: [&str; 2] = ["WEB", "API"];
/// Two days: a destination down for good is probed hourly by then.
const HORIZON_MS: u64 = 2 * 86_400_000;

fn config(rng: &mut Rng, destinations: usize) -> Config {
    let list: Vec<String> = (0..destinations)
        .map(|i| {
            let events = rng.pick(&[r#"["*"]"#, r#"["run.*"]"#, r#"["*.created"]"#]);
            let pace = rng.pick(&[0, 0, 200, 1000]);
            format!(
                r#"{{"name":"d{i}","url":"https://d{i}.example/hook","events":{events},"pace_ms":{pace},"timeout_ms":5000}}"#
            )
        })
        .collect();
    let base = rng.range(1, 10);
    let vars = [
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
    ];
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
    }
}

/// The world of `seed`, run to its end.
fn world(seed: u64) -> (World, bool) {
    let mut rng = Rng::new(seed);
    let n = rng.range(1, 3) as usize;
    let config = config(&mut rng, n);
    let behaviours = (0..n).map(|_| Behaviour::random(&mut rng)).collect();
    let faults = faults(&mut rng);
    let events = rng.range(1, 30);
    let mut world = World::new(rng, config, behaviours, faults);
    let mut times: Vec<u64> = (0..events).map(|_| world.rng.range(0, 120_000)).collect();
    times.sort();
    for (i, received_at) in times.into_iter().enumerate() {
        let event = Event {
            id: format!("evt_{seed:08x}{i:024x}"),
            received_at,
            event_name: world.rng.pick(&EVENT_NAMES),
            project: world.rng.pick(&PROJECTS),
        };
        world.ingest(event);
    }
    let finished = world.run(HORIZON_MS);
    (world, finished)
}

/// Runs `seed` and checks every invariant: the problems found, if any.
pub fn run(seed: u64) -> Result<(), Vec<String>> {
    let (world, finished) = world(seed);
    let mut problems = world.ledger.violations.clone();
    if !finished {
        problems.push("the run never settled".to_owned());
    }
    check_events(&world, &mut problems);
    check_alerts(&world, &mut problems);
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
        "destinations {:?}, retry {:?}, breaker {:?}, faults {:?}, {} events",
        world.behaviours,
        delivery.retry,
        delivery.breaker,
        world.faults,
        world.events.len()
    )
}

/// How long a destination that accepts at least one attempt in three may
/// take to receive an event, after its arrival: its whole retry schedule
/// (every attempt after the longest delay), two probe intervals (a pause's
/// first probe round, and the trials it may need), and a minute of queue
/// hops and pacing.
pub fn bound_ms(world: &World) -> u64 {
    let delivery = &world.config.delivery;
    let retries = u64::from(delivery.retry.max_attempts) * delivery.retry.cap.as_millis() as u64;
    retries + 2 * delivery.breaker.probe_ms + 60_000
}

/// Invariants 1 to 5, per event and matching destination.
fn check_events(world: &World, problems: &mut Vec<String>) {
    let ledger = &world.ledger;
    let no_faults = world.faults.redeliver == 0.0
        && world.faults.d1 == 0.0
        && world.faults.queue_send == 0.0
        && world.faults.object_call == 0.0
        && world.faults.ingest_send == 0.0
        && world.faults.duplicate == 0.0;
    let breaker = world.config.delivery.breaker;
    for event in &world.events {
        let targets = world
            .config
            .delivery
            .matching_destinations(event.event_name, event.project);
        for destination in targets {
            let i = world.index(&destination.name);
            let key = (event.id.clone(), i);
            let behaviour = world.behaviours[i];
            let taken = ledger.taken.get(&key).copied();
            let dead = ledger.dead.contains_key(&key);
            let held = world.objects[i]
                .held
                .contains_key(&breaker::held_key(event.received_at, &event.id));
            let lost = ledger.lost.contains(&key);
            let what = format!("{} at {} ({behaviour:?})", event.id, destination.name);
            if taken.is_none() && !dead && !held && !lost {
                problems.push(format!("{what}: lost without a trace"));
            }
            if behaviour.recovers() && held {
                problems.push(format!("{what}: still held by a destination that answers"));
            }
            let times = taken.map_or(0, |(times, _)| times);
            if times > 1 && behaviour != Behaviour::Slow && !ledger.excused(&event.id, i) {
                problems.push(format!("{what}: taken {times} times"));
            }
            let late = taken.is_none_or(|(_, at)| at > event.received_at + bound_ms(world));
            let bounded = behaviour.one_in_three() && no_faults && !dead && breaker.failures != 1;
            if bounded && late {
                problems.push(format!(
                    "{what}: not received within {} ms: {taken:?}",
                    bound_ms(world)
                ));
            }
        }
    }
}

/// Invariant 6 at the end: alerts alternate, starting with a pause, and a
/// destination that refuses everything is never paused.
fn check_alerts(world: &World, problems: &mut Vec<String>) {
    for (i, alerts) in &world.ledger.alerts {
        let alternate = alerts.iter().enumerate().all(|(n, change)| {
            *change
                == if n % 2 == 0 {
                    Change::Paused
                } else {
                    Change::Resumed
                }
        });
        if !alternate {
            problems.push(format!("d{i}: alerts {alerts:?}"));
        }
        if world.behaviours[*i].refuses() && !alerts.is_empty() {
            problems.push(format!("d{i} refuses everything and was paused"));
        }
    }
}

/// What a seed did, to compare two runs of it.
pub fn trace(seed: u64) -> String {
    let (world, _) = world(seed);
    let mut taken: Vec<_> = world.ledger.taken.iter().collect();
    taken.sort();
    format!("{} {:?} {:?}", world.now, taken, world.calls)
}
