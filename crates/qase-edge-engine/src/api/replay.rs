//! Replays from the operator API: which queue messages a replay sends, of
//! one event, of a dead letter, or of every event a filter selects (in
//! batches that fit one call's subrequests). Pure; `qase_edge::api`
//! reads the rows and sends the messages.
//!
//! Every replay message names its destination (`destination: Some`): the
//! consumer then sends it without claiming the event's `forward` state,
//! which only a new event's message (`None`) does (see
//! [`crate::store::d1::claim_forward`]), so a replay is never mistaken for a
//! copy of an event already forwarded.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::api::events::{DeadLetterToReplay, EventRow, RouteCount};
use crate::api::params::ParamError;
use crate::config::{Config, ConfigError, Effect};
use crate::delivery::attempt::ALL_DESTINATIONS;
use crate::delivery::messages::QueuedDelivery;

/// Queue sends (`sendBatch` calls) one call makes at most: Workers allow 50
/// subrequests per invocation on the Free plan, and the D1 queries of the
/// call need a few.
pub const MAX_SENDS_PER_CALL: usize = 40;
/// Messages one `sendBatch` takes at most (Cloudflare Queues' limit).
pub const MAX_BATCH_MESSAGES: usize = 100;
/// Bytes of JSON one `sendBatch` takes at most: Queues allow 256 KB per
/// batch; the rest is room for how the runtime encodes messages.
pub const MAX_BATCH_BYTES: usize = 200_000;

/// The body of `POST /api/events/{id}/replay`.
#[derive(Debug, Deserialize, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// Only these destinations; `None`: every matching one.
    #[serde(default)]
    pub destinations: Option<Vec<String>>,
}

impl ReplayRequest {
    /// An empty body, or an object `{"destinations": [names]}`; anything
    /// else (`[]`, `null`, a string) is refused, naming the body.
    pub fn parse(text: &str) -> Result<ReplayRequest, ParamError> {
        if text.trim().is_empty() {
            return Ok(ReplayRequest::default());
        }
        let problem = |detail: String| ParamError {
            param: "body".into(),
            problem: format!("must be {{\"destinations\": [names]}} or empty ({detail})"),
        };
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| problem(e.to_string()))?;
        if !value.is_object() {
            return Err(problem("not a JSON object".into()));
        }
        serde_json::from_value(value).map_err(|e| problem(e.to_string()))
    }
}

/// Why a replay cannot be queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayRefusal {
    /// Delivery is paused by a broken `QASE_DESTINATIONS`.
    Paused(ConfigError),
    /// No enabled destination would receive it.
    NoDestinations,
    /// A named destination is not an enabled one.
    UnknownDestination {
        /// The name given.
        name: String,
    },
}

/// What a replay sends: the messages, and the destinations they reach.
#[derive(Debug, Clone)]
pub struct ReplayPlan {
    /// Messages for the delivery queue, one per destination.
    pub messages: Vec<QueuedDelivery>,
    /// The destinations reached, for the answer.
    pub destinations: Vec<String>,
}

/// A message replaying a stored event to `destination`. The body travels
/// inline when it is small; otherwise (and when `body` is `None`: the bytes
/// are in KV) the consumer reads it from D1 or KV, as for a new event that
/// D1 recorded.
fn message(
    id: &str,
    event_name: &str,
    project_code: &str,
    received_at: u64,
    body: Option<&str>,
    destination: &str,
) -> QueuedDelivery {
    let new = |bytes: &[u8], body_in_kv| {
        QueuedDelivery::new(
            id.to_owned(),
            event_name.to_owned(),
            project_code.to_owned(),
            received_at,
            bytes,
            body_in_kv,
        )
    };
    let base = match body {
        Some(body) => new(body.as_bytes(), true),
        None => QueuedDelivery {
            body: None,
            ..new(b"", true)
        },
    };
    QueuedDelivery {
        destination: Some(destination.to_owned()),
        ..base
    }
}

fn paused(config: &Config) -> Result<(), ReplayRefusal> {
    match config.problem(Effect::DeliveryPaused) {
        Some(problem) => Err(ReplayRefusal::Paused(problem.error.clone())),
        None => Ok(()),
    }
}

/// The named destinations, each an enabled one, or the refusal.
fn named(config: &Config, names: &[String]) -> Result<(), ReplayRefusal> {
    if names.is_empty() {
        return Err(ReplayRefusal::NoDestinations);
    }
    match names
        .iter()
        .find(|name| !config.delivery.destination(name).is_some_and(|d| d.enabled))
    {
        Some(name) => Err(ReplayRefusal::UnknownDestination { name: name.clone() }),
        None => Ok(()),
    }
}

/// The destinations an event replays to: `names`, or every enabled one
/// its name and project match.
fn targets(config: &Config, names: Option<&[String]>, event: &str, project: &str) -> Vec<String> {
    match names {
        Some(names) => names.to_vec(),
        None => config
            .delivery
            .matching_destinations(event, project)
            .iter()
            .map(|d| d.name.clone())
            .collect(),
    }
}

/// The messages that replay stored event `event` (its body `None` when it
/// is in KV) as `request` asks.
pub fn plan(
    config: &Config,
    event: &EventRow,
    body: Option<&str>,
    request: ReplayRequest,
) -> Result<ReplayPlan, ReplayRefusal> {
    paused(config)?;
    if let Some(names) = &request.destinations {
        named(config, names)?;
    }
    let destinations = targets(
        config,
        request.destinations.as_deref(),
        &event.event_name,
        &event.project_code,
    );
    if destinations.is_empty() {
        return Err(ReplayRefusal::NoDestinations);
    }
    Ok(ReplayPlan {
        messages: destinations
            .iter()
            .map(|d| {
                message(
                    &event.id,
                    &event.event_name,
                    &event.project_code,
                    event.received_at,
                    body,
                    d,
                )
            })
            .collect(),
        destinations,
    })
}

/// The messages that re-deliver dead letter `dead` of event `id` (attempts
/// start over): to its destination, or, for one the platform moved
/// (`_all`), to every enabled destination the event matches now.
pub fn dead_letter_messages(
    config: &Config,
    id: &str,
    dead: &DeadLetterToReplay,
) -> Vec<QueuedDelivery> {
    let destinations = if dead.destination == ALL_DESTINATIONS {
        targets(config, None, &dead.event_name, &dead.project_code)
    } else {
        vec![dead.destination.clone()]
    };
    let body = (dead.body_in_kv == 0)
        .then_some(dead.body.as_deref())
        .flatten();
    destinations
        .iter()
        .map(|d| {
            message(
                id,
                &dead.event_name,
                &dead.project_code,
                dead.received_at,
                body,
                d,
            )
        })
        .collect()
}

/// Messages in `sendBatch` calls: at most [`MAX_BATCH_MESSAGES`] and
/// [`MAX_BATCH_BYTES`] of JSON each (a message larger than that alone).
pub fn batches(messages: Vec<QueuedDelivery>) -> Vec<Vec<QueuedDelivery>> {
    let mut packer = Packer::default();
    for message in messages {
        packer.add(message);
    }
    packer.batches
}

#[derive(Default)]
struct Packer {
    batches: Vec<Vec<QueuedDelivery>>,
    bytes: usize,
}

impl Packer {
    fn add(&mut self, message: QueuedDelivery) {
        let size = serde_json::to_vec(&message).map_or(usize::MAX, |json| json.len());
        let fits = self.batches.last().is_some_and(|batch| {
            batch.len() < MAX_BATCH_MESSAGES && self.bytes.saturating_add(size) <= MAX_BATCH_BYTES
        });
        if fits {
            self.bytes += size;
            self.batches.last_mut().expect("checked").push(message);
        } else {
            self.bytes = size;
            self.batches.push(vec![message]);
        }
    }
}

/// A bulk replay call's work: the batches to send and what they cover.
#[derive(Debug, Clone, Default)]
pub struct BulkPlan {
    /// `sendBatch` calls, at most [`MAX_SENDS_PER_CALL`].
    pub batches: Vec<Vec<QueuedDelivery>>,
    /// Rows of the page this call covers (replayed or skipped): the next
    /// call resumes after the last of them.
    pub consumed: usize,
    /// Events replayed.
    pub events: usize,
    /// Events no enabled destination matches: nothing sent.
    pub skipped: usize,
    /// Messages sent.
    pub messages: usize,
}

/// The sends that replay `rows` (a page, newest first) to `destinations`
/// (or each event's matching ones), whole events only, until the next
/// event's messages would need more than [`MAX_SENDS_PER_CALL`] batches.
/// `bodies` holds the bodies kept in the rows, by id; a row missing from it
/// has its body in KV, read by the consumer.
pub fn plan_bulk(
    config: &Config,
    rows: &[EventRow],
    bodies: &HashMap<String, String>,
    destinations: Option<&[String]>,
) -> Result<BulkPlan, ReplayRefusal> {
    preflight(config, destinations)?;
    let mut plan = BulkPlan::default();
    let mut packer = Packer::default();
    for row in rows {
        let names = targets(config, destinations, &row.event_name, &row.project_code);
        let body = bodies.get(&row.id).map(String::as_str);
        let mut trial = Packer {
            batches: packer.batches.clone(),
            bytes: packer.bytes,
        };
        for name in &names {
            trial.add(message(
                &row.id,
                &row.event_name,
                &row.project_code,
                row.received_at,
                body,
                name,
            ));
        }
        if plan.consumed > 0 && trial.batches.len() > MAX_SENDS_PER_CALL {
            break;
        }
        packer = trial;
        plan.consumed += 1;
        if names.is_empty() {
            plan.skipped += 1;
        } else {
            plan.events += 1;
            plan.messages += names.len();
        }
    }
    plan.batches = packer.batches;
    Ok(plan)
}

fn preflight(config: &Config, destinations: Option<&[String]>) -> Result<(), ReplayRefusal> {
    paused(config)?;
    match destinations {
        Some(names) => named(config, names),
        None if config.delivery.destinations.iter().any(|d| d.enabled) => Ok(()),
        None => Err(ReplayRefusal::NoDestinations),
    }
}

/// A bulk replay's dry run: what it would send.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DryRun {
    /// Always true: nothing was sent.
    pub dry_run: bool,
    /// Events that would be replayed.
    pub events: u64,
    /// Messages that would be sent (one per event and destination).
    pub messages: u64,
    /// Events that match the filter but no enabled destination.
    pub skipped: u64,
}

/// The dry run from the counts per event name and project.
pub fn dry_run(
    config: &Config,
    counts: &[RouteCount],
    destinations: Option<&[String]>,
) -> Result<DryRun, ReplayRefusal> {
    preflight(config, destinations)?;
    let mut answer = DryRun {
        dry_run: true,
        ..DryRun::default()
    };
    for count in counts {
        let names = targets(config, destinations, &count.event_name, &count.project_code);
        if names.is_empty() {
            answer.skipped += count.count;
        } else {
            answer.events += count.count;
            answer.messages += count.count * names.len() as u64;
        }
    }
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::bindings;
    use crate::delivery::messages::INLINE_BODY_LIMIT;
    use crate::store::settings::Sink;
    use crate::store::types::{EventStatus, Forward};

    const ID: &str = "evt_0123456789abcdef0123456789abcdef";

    fn config(destinations: &str) -> Config {
        Config::from_lookup(
            |key| (key == bindings::DESTINATIONS).then(|| destinations.to_owned()),
            &Sink::ALL,
        )
        .unwrap()
    }

    fn row(n: u64, event_name: &str) -> EventRow {
        let (entity, action) = event_name.split_once('.').unwrap_or((event_name, ""));
        EventRow {
            id: format!("evt_{n:032x}"),
            event_name: event_name.into(),
            entity: entity.into(),
            action: action.into(),
            project_code: "WEB".into(),
            team_member_id: Some(1),
            received_at: 1_000 - n,
            outcome: EventStatus::Accepted,
            reason: None,
            duplicates: 0,
            last_duplicate_at: None,
            run_id: None,
            case_id: None,
            defect_id: None,
            plan_id: None,
            milestone_id: None,
            forward: Forward::Queued,
            size: 2,
            body_in_kv: 0,
            body: None,
        }
    }

    const DESTINATIONS: &str = r#"[{"name":"ci","url":"https://ci/x","events":["run.*"]},
        {"name":"chat","url":"https://chat/x"},{"name":"off","url":"https://off/x","enabled":false}]"#;

    #[test]
    fn a_replay_body_is_empty_or_an_object() {
        assert_eq!(ReplayRequest::parse("").unwrap(), ReplayRequest::default());
        assert_eq!(
            ReplayRequest::parse("  \n").unwrap(),
            ReplayRequest::default()
        );
        assert_eq!(
            ReplayRequest::parse(r#"{"destinations":["ci"]}"#).unwrap(),
            ReplayRequest {
                destinations: Some(vec!["ci".into()])
            }
        );
        assert_eq!(
            ReplayRequest::parse("{}").unwrap(),
            ReplayRequest::default()
        );
        // Regression: `[]` was read as an empty object.
        for body in [
            "[]",
            "[[\"ci\"]]",
            "null",
            "\"ci\"",
            "1",
            r#"{"nope":1}"#,
            "{",
        ] {
            assert_eq!(
                ReplayRequest::parse(body).unwrap_err().param,
                "body",
                "{body}"
            );
        }
    }

    #[test]
    fn a_replay_sends_one_message_per_destination_each_named() {
        let config = config(DESTINATIONS);
        let plan = plan(
            &config,
            &row(1, "run.completed"),
            Some("{}"),
            ReplayRequest::default(),
        )
        .unwrap();
        assert_eq!(plan.destinations, ["ci", "chat"]);
        let targets: Vec<_> = plan
            .messages
            .iter()
            .map(|m| m.destination.clone().unwrap())
            .collect();
        assert_eq!(
            targets,
            ["ci", "chat"],
            "a replay bypasses the forward claim"
        );
        assert!(plan.messages.iter().all(|m| m.attempts == 0 && m.recorded));
        assert_eq!(plan.messages[0].body.as_deref(), Some("{}"));

        let named = ReplayRequest {
            destinations: Some(vec!["chat".into(), "ci".into()]),
        };
        let plan = super::plan(&config, &row(1, "case.created"), Some("{}"), named).unwrap();
        let targets: Vec<_> = plan
            .messages
            .iter()
            .map(|m| m.destination.clone().unwrap())
            .collect();
        assert_eq!(targets, ["chat", "ci"]);
    }

    #[test]
    fn a_body_in_kv_is_left_to_the_consumer() {
        let plan = plan(
            &config(DESTINATIONS),
            &row(1, "run.completed"),
            None,
            ReplayRequest::default(),
        )
        .unwrap();
        assert!(plan.messages.iter().all(|m| m.body.is_none()));
        let small = "x".repeat(INLINE_BODY_LIMIT);
        let m = message(ID, "run.completed", "WEB", 1, Some(&small), "ci");
        assert_eq!(m.body.as_deref(), Some(small.as_str()));
        // Larger bodies are read back from the store, as at ingest: a
        // message past the queue's 128 KB would not be sent at all.
        let large = "x".repeat(INLINE_BODY_LIMIT + 1);
        let m = message(ID, "run.completed", "WEB", 1, Some(&large), "ci");
        assert_eq!(m.body, None);
    }

    #[test]
    fn a_replay_that_reaches_nobody_or_a_disabled_destination_is_refused() {
        let config = config(DESTINATIONS);
        let none = config_without_destinations();
        let event = row(1, "run.completed");
        assert_eq!(
            plan(&none, &event, Some("{}"), ReplayRequest::default()).unwrap_err(),
            ReplayRefusal::NoDestinations
        );
        let empty = ReplayRequest {
            destinations: Some(vec![]),
        };
        assert_eq!(
            plan(&config, &event, Some("{}"), empty).unwrap_err(),
            ReplayRefusal::NoDestinations
        );
        for name in ["off", "nope"] {
            let request = ReplayRequest {
                destinations: Some(vec!["ci".into(), name.into()]),
            };
            assert_eq!(
                plan(&config, &event, Some("{}"), request).unwrap_err(),
                ReplayRefusal::UnknownDestination { name: name.into() }
            );
        }
        let paused = Config::from_lookup(
            |key| (key == bindings::DESTINATIONS).then(|| "[{".to_owned()),
            &Sink::ALL,
        )
        .unwrap();
        assert!(matches!(
            plan(&paused, &event, Some("{}"), ReplayRequest::default()),
            Err(ReplayRefusal::Paused(_))
        ));
        assert!(matches!(
            plan_bulk(&paused, std::slice::from_ref(&event), &HashMap::new(), None),
            Err(ReplayRefusal::Paused(_))
        ));
        assert!(matches!(
            dry_run(&none, &[], None),
            Err(ReplayRefusal::NoDestinations)
        ));
    }

    fn config_without_destinations() -> Config {
        Config::from_lookup(|_| None, &Sink::ALL).unwrap()
    }

    fn dead(destination: &str) -> DeadLetterToReplay {
        DeadLetterToReplay {
            destination: destination.into(),
            event_name: "run.completed".into(),
            project_code: "WEB".into(),
            received_at: 5,
            body_in_kv: 0,
            body: Some("{}".into()),
        }
    }

    #[test]
    fn a_dead_letter_replays_to_its_destination_or_every_matching_one() {
        let config = config(DESTINATIONS);
        let messages = dead_letter_messages(&config, ID, &dead("ci"));
        assert_eq!(messages.len(), 1);
        assert_eq!(
            (messages[0].destination.as_deref(), messages[0].attempts),
            (Some("ci"), 0)
        );
        assert_eq!(messages[0].event_name, "run.completed");
        let messages = dead_letter_messages(&config, ID, &dead(ALL_DESTINATIONS));
        let targets: Vec<_> = messages
            .iter()
            .map(|m| m.destination.clone().unwrap())
            .collect();
        assert_eq!(
            targets,
            ["ci", "chat"],
            "never `None`: that would be claimed"
        );
        let in_kv = DeadLetterToReplay {
            body_in_kv: 1,
            body: None,
            ..dead("ci")
        };
        assert_eq!(dead_letter_messages(&config, ID, &in_kv)[0].body, None);
    }

    #[test]
    fn batches_respect_the_queues_limits() {
        let small: Vec<QueuedDelivery> = (0..250)
            .map(|_| message(ID, "run.completed", "WEB", 1, Some("{}"), "ci"))
            .collect();
        let sizes: Vec<usize> = batches(small).iter().map(Vec::len).collect();
        assert_eq!(sizes, [100, 100, 50]);
        let body = "x".repeat(60_000);
        let large: Vec<QueuedDelivery> = (0..7)
            .map(|_| message(ID, "run.completed", "WEB", 1, Some(&body), "ci"))
            .collect();
        let packed = batches(large);
        assert_eq!(packed.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
        for batch in &packed {
            let bytes: usize = batch
                .iter()
                .map(|m| serde_json::to_vec(m).unwrap().len())
                .sum();
            assert!(bytes <= MAX_BATCH_BYTES);
        }
        assert!(batches(Vec::new()).is_empty());
    }

    #[test]
    fn a_bulk_replay_sends_whole_events_within_the_call_budget() {
        let config = config(DESTINATIONS);
        // run.* goes to ci and chat, case.* to chat only, nothing skipped.
        let rows: Vec<EventRow> = (0..10)
            .map(|n| {
                row(
                    n,
                    if n % 2 == 0 {
                        "run.completed"
                    } else {
                        "case.created"
                    },
                )
            })
            .collect();
        let bodies: HashMap<String, String> =
            rows.iter().map(|r| (r.id.clone(), "{}".into())).collect();
        let plan = plan_bulk(&config, &rows, &bodies, None).unwrap();
        assert_eq!((plan.consumed, plan.events, plan.skipped), (10, 10, 0));
        assert_eq!(plan.messages, 15);
        assert_eq!(plan.batches.len(), 1);
        assert!(plan
            .batches
            .iter()
            .flatten()
            .all(|m| m.destination.is_some()));

        // Bodies of 60 KB: three messages a batch, 40 batches a call, so
        // 120 messages, 60 run events of two messages each.
        let body = "x".repeat(60_000);
        let rows: Vec<EventRow> = (0..100).map(|n| row(n, "run.completed")).collect();
        let bodies: HashMap<String, String> =
            rows.iter().map(|r| (r.id.clone(), body.clone())).collect();
        let plan = plan_bulk(&config, &rows, &bodies, None).unwrap();
        assert_eq!(plan.batches.len(), MAX_SENDS_PER_CALL);
        assert_eq!(plan.consumed, 60);
        assert_eq!(plan.messages, 120);

        // Only the named destination; an event no destination matches is skipped.
        let only = vec!["ci".to_owned()];
        let plan = plan_bulk(&config, &rows[..3], &bodies, Some(&only)).unwrap();
        assert_eq!((plan.events, plan.messages), (3, 3));
        let ci_only = crate::config::Config::from_lookup(
            |key| {
                (key == bindings::DESTINATIONS)
                    .then(|| r#"[{"name":"ci","url":"https://ci/x","events":["run.*"]}]"#.into())
            },
            &Sink::ALL,
        )
        .unwrap();
        let mixed = [row(0, "run.completed"), row(1, "case.created")];
        let plan = plan_bulk(&ci_only, &mixed, &HashMap::new(), None).unwrap();
        assert_eq!((plan.consumed, plan.events, plan.skipped), (2, 1, 1));
        assert!(plan.batches[0][0].body.is_none(), "no body given: in KV");
    }

    #[test]
    fn the_first_event_is_always_taken() {
        // One event to more destinations than fit a call's batches still moves.
        let many: Vec<String> = (0..130)
            .map(|n| format!(r#"{{"name":"d{n}","url":"https://d/{n}"}}"#))
            .collect();
        let config = config(&format!("[{}]", many.join(",")));
        let body = "x".repeat(60_000);
        let rows = [row(0, "run.completed"), row(1, "run.completed")];
        let bodies: HashMap<String, String> =
            rows.iter().map(|r| (r.id.clone(), body.clone())).collect();
        let plan = plan_bulk(&config, &rows, &bodies, None).unwrap();
        assert_eq!(plan.consumed, 1);
        assert_eq!(plan.messages, 130);
        assert!(plan.batches.len() > MAX_SENDS_PER_CALL);
    }

    #[test]
    fn a_dry_run_counts_events_and_messages_by_route() {
        let config = config(DESTINATIONS);
        let counts = [
            RouteCount {
                event_name: "run.completed".into(),
                project_code: "WEB".into(),
                count: 4,
            },
            RouteCount {
                event_name: "case.created".into(),
                project_code: "API".into(),
                count: 3,
            },
        ];
        assert_eq!(
            dry_run(&config, &counts, None).unwrap(),
            DryRun {
                dry_run: true,
                events: 7,
                messages: 11,
                skipped: 0
            }
        );
        let only = vec!["ci".to_owned()];
        assert_eq!(dry_run(&config, &counts, Some(&only)).unwrap().messages, 7);
        let unknown = vec!["nope".to_owned()];
        assert_eq!(
            dry_run(&config, &counts, Some(&unknown)).unwrap_err(),
            ReplayRefusal::UnknownDestination {
                name: "nope".into()
            }
        );
    }
}
