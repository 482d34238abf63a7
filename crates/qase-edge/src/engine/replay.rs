//! Replays from the operator API: what a replay request means, which queue
//! messages it sends, and the messages that re-deliver a dead letter. Pure;
//! [`crate::shell::api`] reads the stored event and sends the messages.

use serde::Deserialize;

use super::config::{Config, ConfigError, Effect};
use super::delivery::ALL_DESTINATIONS;
use super::layout::{DeadLetterMetadata, EventMetadata};
use super::messages::QueuedDelivery;
use super::query::ParamError;

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
    /// Messages for the delivery queue.
    pub messages: Vec<QueuedDelivery>,
    /// The destinations reached, for the answer.
    pub destinations: Vec<String>,
}

/// A message replaying a stored event; `destination` `None` reaches every
/// matching one. The body is in KV, so a large one is read back by the consumer.
fn message(
    id: &str,
    metadata: &EventMetadata,
    body: &[u8],
    destination: Option<String>,
) -> QueuedDelivery {
    QueuedDelivery {
        destination,
        ..QueuedDelivery::new(
            id.to_owned(),
            metadata.event_name.clone(),
            metadata.project_code.clone(),
            metadata.received_at,
            body,
            true,
        )
    }
}

/// The messages that replay stored event `id` as `request` asks.
pub fn plan(
    config: &Config,
    id: &str,
    metadata: &EventMetadata,
    body: &[u8],
    request: ReplayRequest,
) -> Result<ReplayPlan, ReplayRefusal> {
    if let Some(problem) = config.problem(Effect::DeliveryPaused) {
        return Err(ReplayRefusal::Paused(problem.error.clone()));
    }
    match request.destinations {
        None => {
            let matching =
                config.matching_destinations(&metadata.event_name, &metadata.project_code);
            if matching.is_empty() {
                return Err(ReplayRefusal::NoDestinations);
            }
            Ok(ReplayPlan {
                messages: vec![message(id, metadata, body, None)],
                destinations: matching.iter().map(|d| d.name.clone()).collect(),
            })
        }
        Some(names) if names.is_empty() => Err(ReplayRefusal::NoDestinations),
        Some(names) => {
            if let Some(name) = names
                .iter()
                .find(|name| !config.destination(name).is_some_and(|d| d.enabled))
            {
                return Err(ReplayRefusal::UnknownDestination { name: name.clone() });
            }
            Ok(ReplayPlan {
                messages: names
                    .iter()
                    .map(|name| message(id, metadata, body, Some(name.clone())))
                    .collect(),
                destinations: names,
            })
        }
    }
}

/// The message that re-delivers the dead letter of event `id` to
/// `destination` (attempts start over). The event name is read from the
/// stored body, which has it whole even where the metadata had to cut a
/// long one; a platform-moved message (`_all`) goes to every destination.
pub fn dead_letter_message(
    id: &str,
    destination: &str,
    metadata: DeadLetterMetadata,
    body: &[u8],
) -> QueuedDelivery {
    let event_name = qase_webhooks::Envelope::parse(body)
        .map(|envelope| envelope.event_name.to_string())
        .unwrap_or(metadata.event_name);
    let event = EventMetadata {
        event_name,
        project_code: metadata.project_code,
        received_at: metadata.received_at,
        status: super::layout::EventStatus::Accepted,
        reason: None,
    };
    let target = (destination != ALL_DESTINATIONS).then(|| destination.to_owned());
    message(id, &event, body, target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::bindings;
    use crate::engine::config::Sink;

    const ID: &str = "evt_0123456789abcdef0123456789abcdef";

    fn config(destinations: &str) -> Config {
        Config::from_lookup(
            |key| (key == bindings::DESTINATIONS).then(|| destinations.to_owned()),
            &Sink::ALL,
        )
        .unwrap()
    }

    fn metadata(event_name: &str) -> EventMetadata {
        EventMetadata::new(event_name, "WEB", 5, None)
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
    fn a_replay_reaches_every_matching_destination_or_the_named_ones() {
        let config = config(DESTINATIONS);
        let plan = plan(
            &config,
            ID,
            &metadata("run.completed"),
            b"{}",
            ReplayRequest::default(),
        )
        .unwrap();
        assert_eq!(plan.destinations, ["ci", "chat"]);
        assert_eq!(plan.messages.len(), 1);
        assert_eq!(plan.messages[0].destination, None);
        assert_eq!(plan.messages[0].attempts, 0);

        let named = ReplayRequest {
            destinations: Some(vec!["chat".into(), "ci".into()]),
        };
        let plan = super::plan(&config, ID, &metadata("case.created"), b"{}", named).unwrap();
        let targets: Vec<_> = plan
            .messages
            .iter()
            .map(|m| m.destination.clone().unwrap())
            .collect();
        assert_eq!(targets, ["chat", "ci"]);
    }

    #[test]
    fn a_replay_that_reaches_nobody_or_a_disabled_destination_is_refused() {
        let config = config(DESTINATIONS);
        let none = config_without_destinations();
        assert_eq!(
            plan(
                &none,
                ID,
                &metadata("run.completed"),
                b"{}",
                ReplayRequest::default()
            )
            .unwrap_err(),
            ReplayRefusal::NoDestinations
        );
        let empty = ReplayRequest {
            destinations: Some(vec![]),
        };
        assert_eq!(
            plan(&config, ID, &metadata("run.completed"), b"{}", empty).unwrap_err(),
            ReplayRefusal::NoDestinations
        );
        for name in ["off", "nope"] {
            let request = ReplayRequest {
                destinations: Some(vec!["ci".into(), name.into()]),
            };
            assert_eq!(
                plan(&config, ID, &metadata("run.completed"), b"{}", request).unwrap_err(),
                ReplayRefusal::UnknownDestination { name: name.into() }
            );
        }
        let paused = super::super::config::Config::from_lookup(
            |key| (key == bindings::DESTINATIONS).then(|| "[{".to_owned()),
            &Sink::ALL,
        )
        .unwrap();
        assert!(matches!(
            plan(
                &paused,
                ID,
                &metadata("run.completed"),
                b"{}",
                ReplayRequest::default()
            ),
            Err(ReplayRefusal::Paused(_))
        ));
    }

    fn config_without_destinations() -> Config {
        Config::from_lookup(|_| None, &Sink::ALL).unwrap()
    }

    #[test]
    fn a_dead_letter_replays_to_its_destination_with_the_name_from_the_body() {
        let body = br#"{"event_name":"run.completed","timestamp":1,"payload":{},"team_member_id":1,"project_code":"WEB"}"#;
        let metadata = DeadLetterMetadata {
            event_name: "run.compl".into(),
            project_code: "WEB".into(),
            received_at: 5,
            destination: "ci".into(),
            attempts: 8,
            last_status: Some(500),
            last_error: None,
            reason: "gave up".into(),
            dead_at: 6,
        };
        let message = dead_letter_message(ID, "ci", metadata.clone(), body);
        assert_eq!(message.event_name, "run.completed");
        assert_eq!(
            (message.destination.as_deref(), message.attempts),
            (Some("ci"), 0)
        );
        let message = dead_letter_message(ID, ALL_DESTINATIONS, metadata, body);
        assert_eq!(message.destination, None);
    }
}
