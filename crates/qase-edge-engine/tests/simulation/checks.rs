//! The invariants checked at the end of a seed (the module documentation
//! of `tests/simulation.rs` numbers them).

use std::collections::HashSet;

use qase_edge_engine::delivery::breaker::{self, Change};
use qase_edge_engine::delivery::messages::ALERT_ATTEMPTS;
use qase_edge_engine::delivery::queue::DeadLetterQueueMessage;
use qase_edge_engine::runs::report;

use super::destinations::Behaviour;
use super::world::{Queued, World};

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

/// Something that must reach destinations: an event, or a run's report.
struct Expected {
    id: String,
    received_at: u64,
    targets: Vec<usize>,
    /// Whether invariant 5's bound applies (events only).
    bounded: bool,
}

/// Each event, and each report taken, with the destinations it is for.
fn expected(world: &World) -> Vec<Expected> {
    let delivery = &world.config.delivery;
    let events = world.events.iter().map(|event| Expected {
        id: event.id.clone(),
        received_at: event.received_at,
        targets: delivery
            .matching_destinations(event.event_name, event.project)
            .iter()
            .map(|d| world.index(&d.name))
            .collect(),
        bounded: true,
    });
    let reports = world
        .runs
        .iter()
        .filter(|(_, run)| !run.takers.is_empty())
        .map(|((project, run), _)| Expected {
            id: report::report_id(project, *run),
            received_at: 0,
            targets: report::report_destinations(delivery, project)
                .iter()
                .map(|d| world.index(&d.name))
                .collect(),
            bounded: false,
        });
    events.chain(reports).collect()
}

/// The dead letters still on the dead-letter queue (retried, not lost).
fn dead_letters_queued(world: &World) -> HashSet<(String, usize)> {
    world
        .messages
        .values()
        .filter_map(|(_, queued)| match queued {
            Queued::DeadLetters(DeadLetterQueueMessage::DeadLetter(dead)) => {
                Some((dead.delivery.id.clone(), world.index(&dead.destination)))
            }
            _ => None,
        })
        .collect()
}

/// Invariants 1 to 5 (and 7's delivery), per event or report and destination.
pub fn check_events(world: &World, problems: &mut Vec<String>) {
    let ledger = &world.ledger;
    let f = world.faults;
    let no_faults = [f.redeliver, f.d1, f.queue_send, f.object_call]
        .into_iter()
        .chain([f.ingest_send, f.duplicate])
        .all(|p| p == 0.0);
    let queued = dead_letters_queued(world);
    let breaker = world.config.delivery.breaker;
    for expected in expected(world) {
        for &i in &expected.targets {
            let key = (expected.id.clone(), i);
            let behaviour = world.behaviours[i];
            let taken = ledger.taken.get(&key).copied();
            let dead = ledger.dead.contains_key(&key) || queued.contains(&key);
            let held_key = breaker::held_key(expected.received_at, &expected.id);
            let held = match expected.bounded {
                true => world.objects[i].held.contains_key(&held_key),
                // A report's delivery is held under the time it was queued.
                false => world.objects[i]
                    .held
                    .keys()
                    .any(|k| k.ends_with(&expected.id)),
            };
            let lost = ledger.lost.contains(&key);
            let name = &world.config.delivery.destinations[i].name;
            let what = format!("{} at {name} ({behaviour:?})", expected.id);
            if taken.is_none() && !dead && !held && !lost {
                problems.push(format!("{what}: lost without a trace"));
            }
            if behaviour.recovers() && held {
                problems.push(format!("{what}: still held by a destination that answers"));
            }
            let times = taken.map_or(0, |(times, _)| times);
            if times > 1 && behaviour != Behaviour::Slow && !ledger.excused(&expected.id, i) {
                problems.push(format!("{what}: taken {times} times"));
            }
            let late = taken.is_none_or(|(_, at)| at > expected.received_at + bound_ms(world));
            let bounded = behaviour.one_in_three() && no_faults && !dead && breaker.failures != 1;
            if expected.bounded && bounded && late {
                problems.push(format!(
                    "{what}: not received within {} ms: {taken:?}",
                    bound_ms(world)
                ));
            }
        }
    }
}

/// Invariant 7: each ended run's report is taken once, by one message,
/// when anything wants it; never by two.
pub fn check_reports(world: &World, problems: &mut Vec<String>) {
    for ((project, run), object) in &world.runs {
        let ended = object.state.as_ref().is_some_and(|s| s.status.is_final());
        let wanted = report::reports_wanted(&world.config, project);
        let takers = object.takers.len();
        if takers > 1 || (ended && wanted && takers == 0) || (!ended && takers > 0) {
            let takers = &object.takers;
            problems.push(format!(
                "run {project}/{run} (ended {ended}, wanted {wanted}): report taken by {takers:?}"
            ));
        }
    }
}

/// Invariant 6 at the end: alerts alternate, starting with a pause, and a
/// destination that refuses everything is never paused; no more alerts
/// raised about a destination than it changed.
pub fn check_alerts(world: &World, problems: &mut Vec<String>) {
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
    for (subject, raised) in &world.ledger.raised {
        let changes = world
            .ledger
            .alerts
            .get(&world.index(subject))
            .map_or(0, Vec::len);
        if *raised as usize > changes {
            problems.push(format!(
                "{subject}: {raised} alerts raised for {changes} changes"
            ));
        }
    }
}

/// Invariant 8: an alert message is attempted at most `ALERT_ATTEMPTS`
/// times (unless the platform delivered it again).
pub fn check_alert_posts(world: &World, problems: &mut Vec<String>) {
    let ledger = &world.ledger;
    for (alert, attempts) in &ledger.alert_attempts {
        if *attempts > ALERT_ATTEMPTS && !ledger.alerts_excused.contains(alert) {
            problems.push(format!("alert {alert} attempted {attempts} times"));
        }
    }
}

/// Invariant 9: each dead letter sent to the dead-letter queue is
/// recorded, or still queued there to be retried.
pub fn check_dead_letters(world: &World, problems: &mut Vec<String>) {
    let queued = dead_letters_queued(world);
    for key in &world.ledger.dead_sent {
        if !world.ledger.dead.contains_key(key) && !queued.contains(key) {
            problems.push(format!("dead letter {key:?} never recorded"));
        }
    }
}
