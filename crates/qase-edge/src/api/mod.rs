//! The operator API under `/api`: list, inspect, replay and delete stored
//! events and dead letters. Authorised by `Authorization: Bearer
//! <QASE_ADMIN_TOKEN>` (compared in constant time); without a configured
//! token every `/api` path answers `404`, as if the API did not exist.

pub mod listing;
pub mod query;

use qase_webhooks::EventId;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use worker::web_sys::Response;
use worker::{Env, KvStore, MessageBuilder, Request};

use self::listing::{ListedKey, Listing, Page, Step, KV_PAGE_SIZE};
use self::query::{Cursor, ListQuery, PageQuery, ParamError};
use crate::config::{self, Config, Effect};
use crate::error::ApiError;
use crate::layout::{self, DeadLetterMetadata, DeliveryState, EventMetadata, EventStatus};
use crate::messages::QueuedDelivery;
use crate::routes::{Route, OPENAPI};
use crate::{bindings, respond, settings};

/// Whether the API is on: a token is configured (a broken configuration
/// counts as on, so that `/api` answers `503 misconfigured` rather than hiding).
pub fn is_enabled(env: &Env) -> bool {
    settings::load(env)
        .as_ref()
        .map_or(true, |config| config.admin_token.is_some())
}

/// Handles an `/api` route.
pub async fn handle(
    route: Route,
    id: Option<&str>,
    req: Request,
    env: &Env,
) -> Result<Response, ApiError> {
    let config = settings::load(env)
        .as_ref()
        .map_err(|error| ApiError::Misconfigured(error.clone()))?;
    let Some(token) = &config.admin_token else {
        return Err(ApiError::NotFound);
    };
    if route == Route::OpenApi {
        return Ok(respond::json_bytes(OPENAPI.as_bytes().to_vec(), 200)?);
    }
    let presented = req.headers().get("Authorization")?;
    if !presented
        .as_deref()
        .and_then(bearer_token)
        .is_some_and(|presented| token.verify(presented.as_bytes()))
    {
        return Err(ApiError::BadToken);
    }

    // Ids have one documented form; anything else names no stored event
    // (and would make a KV key past its length limit).
    let id = id.unwrap_or_default();
    if !id.is_empty() && id.parse::<EventId>().is_err() {
        return Err(match route {
            Route::ReplayDeadLetter => ApiError::DeadLetterNotFound,
            _ => ApiError::EventNotFound,
        });
    }
    let kv = env.kv(bindings::EVENTS_KV)?;
    let pairs = || -> Result<Vec<(String, String)>, ApiError> {
        Ok(req
            .url()?
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect())
    };
    match route {
        Route::ListEvents => list_events(&kv, ListQuery::parse(pairs()?).map_err(param)?).await,
        Route::GetEvent => get_event(&kv, id).await,
        Route::GetEventBody => get_event_body(&kv, id).await,
        Route::DeleteEvent => delete_event(&kv, id).await,
        Route::ReplayEvent => replay_event(req, env, &kv, config, id).await,
        Route::ListDeadLetters => {
            list_dead_letters(&kv, PageQuery::parse(pairs()?).map_err(param)?).await
        }
        Route::ReplayDeadLetter => {
            let destination = dead_letter_destination(pairs()?).map_err(param)?;
            replay_dead_letters(env, &kv, id, destination).await
        }
        Route::Ingest | Route::Health | Route::OpenApi => Err(ApiError::NotFound),
    }
}

/// The token of an `Authorization: Bearer <token>` value. The scheme is
/// case-insensitive (RFC 9110 §11.1) and whitespace around the token is not
/// part of it.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once([' ', '\t'])?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_matches([' ', '\t']))
}

/// The `destination` parameter of a dead-letter replay: a destination name
/// or the platform's `_all`; any other parameter is refused.
fn dead_letter_destination(pairs: Vec<(String, String)>) -> Result<Option<String>, ParamError> {
    let mut destination = None;
    for (name, value) in pairs {
        if name != "destination" {
            return Err(ParamError {
                param: name,
                problem: "unknown parameter (known: destination)".into(),
            });
        }
        if !(config::is_destination_name(&value) || value == crate::dead_letters::ALL_DESTINATIONS)
        {
            return Err(ParamError {
                param: name,
                problem: "must be a destination name: 1 to 64 letters, digits, `-` or `_`".into(),
            });
        }
        destination = Some(value);
    }
    Ok(destination)
}

fn param(error: ParamError) -> ApiError {
    ApiError::BadParameter(error)
}

fn ok_json(body: &impl Serialize, status: u16) -> Result<Response, ApiError> {
    Ok(respond::json(body, status)?)
}

async fn list_events(kv: &KvStore, query: ListQuery) -> Result<Response, ApiError> {
    let (mut listing, mut step) = Listing::start(query);
    loop {
        match step {
            Step::Fetch { prefix, cursor } => {
                let mut list = kv.list().prefix(prefix).limit(KV_PAGE_SIZE);
                if let Some(cursor) = cursor {
                    list = list.cursor(cursor);
                }
                let page = list.execute().await.map_err(worker::Error::from)?;
                step = listing.feed(Page {
                    keys: page
                        .keys
                        .into_iter()
                        .map(|key| ListedKey {
                            name: key.name,
                            metadata: key.metadata.and_then(|m| serde_json::from_value(m).ok()),
                        })
                        .collect(),
                    cursor: page.cursor,
                    complete: page.list_complete,
                });
            }
            Step::Done(page) => return ok_json(&page, 200),
        }
    }
}

/// Reads an event's bytes and metadata, accepted or quarantined.
async fn read_event(kv: &KvStore, id: &str) -> Result<(Vec<u8>, EventMetadata), ApiError> {
    for key in [layout::event_key(id), layout::quarantine_key(id)] {
        let (body, metadata) = kv
            .get(&key)
            .bytes_with_metadata::<EventMetadata>()
            .await
            .map_err(worker::Error::from)?;
        if let (Some(body), Some(metadata)) = (body, metadata) {
            return Ok((body, metadata));
        }
    }
    Err(ApiError::EventNotFound)
}

async fn list_all(kv: &KvStore, prefix: &str) -> Result<Vec<worker::kv::Key>, ApiError> {
    let mut keys = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut list = kv.list().prefix(prefix.to_owned());
        if let Some(c) = cursor.take() {
            list = list.cursor(c);
        }
        let page = list.execute().await.map_err(worker::Error::from)?;
        keys.extend(page.keys);
        if page.list_complete || page.cursor.is_none() {
            return Ok(keys);
        }
        cursor = page.cursor;
    }
}

#[derive(Serialize)]
struct DeliveryView {
    destination: String,
    #[serde(flatten)]
    state: DeliveryState,
}

#[derive(Serialize)]
struct EventDetail {
    id: String,
    #[serde(flatten)]
    metadata: EventMetadata,
    deliveries: Vec<DeliveryView>,
    dead_letters: Vec<String>,
    body: Box<RawValue>,
}

async fn get_event(kv: &KvStore, id: &str) -> Result<Response, ApiError> {
    let (body, metadata) = read_event(kv, id).await?;
    let deliveries = list_all(kv, &layout::delivery_prefix(id))
        .await?
        .into_iter()
        .filter_map(|key| {
            let state = serde_json::from_value(key.metadata?).ok()?;
            let (_, destination) = layout::event_child(layout::DELIVERY, &key.name)?;
            Some(DeliveryView { destination, state })
        })
        .collect();
    let dead_letters = list_all(kv, &layout::dead_prefix(id))
        .await?
        .into_iter()
        .filter_map(|key| layout::event_child(layout::DEAD, &key.name).map(|(_, d)| d))
        .collect();
    // Stored bodies passed the JSON check, so they embed as they are.
    let body = RawValue::from_string(String::from_utf8_lossy(&body).into_owned())
        .map_err(|_| ApiError::Internal)?;
    let detail = EventDetail {
        id: id.to_owned(),
        metadata,
        deliveries,
        dead_letters,
        body,
    };
    ok_json(&detail, 200)
}

async fn get_event_body(kv: &KvStore, id: &str) -> Result<Response, ApiError> {
    let (body, _) = read_event(kv, id).await?;
    Ok(respond::json_bytes(body, 200)?)
}

async fn delete_event(kv: &KvStore, id: &str) -> Result<Response, ApiError> {
    let (_, metadata) = read_event(kv, id).await?;
    let mut keys = vec![
        layout::event_key(id),
        layout::quarantine_key(id),
        layout::seen_key(id),
        layout::index_key(metadata.received_at, id),
        layout::project_index_key(&metadata.project_code, metadata.received_at, id),
    ];
    for prefix in [layout::delivery_prefix(id), layout::dead_prefix(id)] {
        keys.extend(list_all(kv, &prefix).await?.into_iter().map(|k| k.name));
    }
    // Copies of one delivery accepted at the same moment each wrote index
    // entries under their own receive time; the indexes are keyed by time,
    // so those entries are found by reading both indexes through.
    for prefix in [
        layout::INDEX.to_owned(),
        layout::project_index_prefix(&metadata.project_code),
    ] {
        keys.extend(
            list_all(kv, &prefix)
                .await?
                .into_iter()
                .filter(|k| layout::index_entry_id(&k.name) == Some(id))
                .map(|k| k.name),
        );
    }
    keys.sort();
    keys.dedup();
    for key in keys {
        kv.delete(&key).await.map_err(|e| {
            worker::console_error!("delete of {key} failed: {e}");
            ApiError::StorageUnavailable
        })?;
    }
    Ok(respond::empty(204)?)
}

#[derive(Debug, Deserialize, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
struct ReplayRequest {
    #[serde(default)]
    destinations: Option<Vec<String>>,
}

impl ReplayRequest {
    /// An empty body, or an object `{"destinations": [names]}`; anything
    /// else (`[]`, `null`, a string) is refused, naming the body.
    fn parse(text: &str) -> Result<ReplayRequest, ParamError> {
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

#[derive(Serialize)]
struct Replayed {
    id: String,
    destinations: Vec<String>,
}

/// A replay message; `destination` `None` reaches every matching one. The
/// stored body is in KV, so a large one is read back by the consumer.
fn queued(
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

async fn send(env: &Env, message: QueuedDelivery) -> Result<(), ApiError> {
    env.queue(bindings::DELIVERIES_QUEUE)?
        .send(MessageBuilder::new(message).build())
        .await
        .map_err(|e| {
            worker::console_error!("replay not queued: {e}");
            ApiError::StorageUnavailable
        })
}

async fn replay_event(
    mut req: Request,
    env: &Env,
    kv: &KvStore,
    config: &Config,
    id: &str,
) -> Result<Response, ApiError> {
    let text = req.text().await.map_err(|_| ApiError::BodyUnreadable)?;
    let request = ReplayRequest::parse(&text).map_err(ApiError::BadParameter)?;
    if let Some(problem) = config.problem(Effect::DeliveryPaused) {
        return Err(ApiError::Misconfigured(problem.error.clone()));
    }
    let (body, metadata) = read_event(kv, id).await?;
    let matching: Vec<&str> = config
        .destinations
        .iter()
        .filter(|d| {
            d.enabled
                && d.filter
                    .matches(&metadata.event_name, &metadata.project_code)
        })
        .map(|d| d.name.as_str())
        .collect();
    let names: Vec<String> = match request.destinations {
        None => {
            if matching.is_empty() {
                return Err(ApiError::NoDestinations);
            }
            send(env, queued(id, &metadata, &body, None)).await?;
            matching.iter().map(|n| n.to_string()).collect()
        }
        Some(names) => {
            if names.is_empty() {
                return Err(ApiError::NoDestinations);
            }
            for name in &names {
                if !config.destination(name).is_some_and(|d| d.enabled) {
                    return Err(ApiError::UnknownDestination { name: name.clone() });
                }
            }
            for name in &names {
                send(env, queued(id, &metadata, &body, Some(name.clone()))).await?;
            }
            names
        }
    };
    ok_json(
        &Replayed {
            id: id.to_owned(),
            destinations: names,
        },
        202,
    )
}

#[derive(Serialize)]
struct DeadLetterView {
    id: String,
    #[serde(flatten)]
    metadata: DeadLetterMetadata,
}

#[derive(Serialize)]
struct DeadLetterPage {
    dead_letters: Vec<DeadLetterView>,
    cursor: Option<String>,
}

async fn list_dead_letters(kv: &KvStore, query: PageQuery) -> Result<Response, ApiError> {
    let mut list = kv
        .list()
        .prefix(layout::DEAD.to_owned())
        .limit(query.limit as u64);
    if let Some(cursor) = query.cursor.kv {
        list = list.cursor(cursor);
    }
    let page = list.execute().await.map_err(worker::Error::from)?;
    let dead_letters = page
        .keys
        .into_iter()
        .filter_map(|key| {
            let (id, destination) = layout::event_child(layout::DEAD, &key.name)?;
            let mut metadata: DeadLetterMetadata = serde_json::from_value(key.metadata?).ok()?;
            metadata.destination = destination;
            Some(DeadLetterView {
                id: id.to_owned(),
                metadata,
            })
        })
        .collect();
    let cursor = match (page.list_complete, page.cursor) {
        (false, Some(kv)) => Some(
            Cursor {
                kv: Some(kv),
                ..Cursor::default()
            }
            .encode(),
        ),
        _ => None,
    };
    ok_json(
        &DeadLetterPage {
            dead_letters,
            cursor,
        },
        200,
    )
}

async fn replay_dead_letters(
    env: &Env,
    kv: &KvStore,
    id: &str,
    only: Option<String>,
) -> Result<Response, ApiError> {
    let keys = list_all(kv, &layout::dead_prefix(id)).await?;
    let mut replayed = Vec::new();
    for key in keys {
        let Some((_, destination)) = layout::event_child(layout::DEAD, &key.name) else {
            continue;
        };
        if only.as_ref().is_some_and(|o| *o != destination) {
            continue;
        }
        let (body, metadata) = kv
            .get(&key.name)
            .bytes_with_metadata::<DeadLetterMetadata>()
            .await
            .map_err(worker::Error::from)?;
        let (Some(body), Some(metadata)) = (body, metadata) else {
            continue;
        };
        // The stored body has the event name whole, even where the
        // metadata had to cut a long one.
        let event_name = qase_webhooks::Envelope::parse(&body)
            .map(|envelope| envelope.event_name.to_string())
            .unwrap_or(metadata.event_name);
        let event = EventMetadata {
            event_name,
            project_code: metadata.project_code,
            received_at: metadata.received_at,
            status: EventStatus::Accepted,
            reason: None,
        };
        // A platform-moved message was for every destination ("_all").
        let target =
            (destination != crate::dead_letters::ALL_DESTINATIONS).then(|| destination.clone());
        send(env, queued(id, &event, &body, target)).await?;
        kv.delete(&key.name).await.map_err(worker::Error::from)?;
        replayed.push(destination);
    }
    if replayed.is_empty() {
        return Err(ApiError::DeadLetterNotFound);
    }
    ok_json(
        &Replayed {
            id: id.to_owned(),
            destinations: replayed,
        },
        202,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_case_insensitive_and_the_token_trimmed() {
        for value in [
            "Bearer t0ken",
            "bearer t0ken",
            "BEARER t0ken",
            "Bearer   t0ken ",
            " Bearer\tt0ken",
        ] {
            assert_eq!(bearer_token(value), Some("t0ken"), "{value:?}");
        }
        for value in ["Basic t0ken", "Bearert0ken", "t0ken", "", "Token t0ken"] {
            assert_eq!(bearer_token(value), None, "{value:?}");
        }
    }

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
    fn a_dead_letter_replay_takes_only_a_destination_name() {
        let pairs = |p: &[(&str, &str)]| -> Vec<(String, String)> {
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(dead_letter_destination(pairs(&[])).unwrap(), None);
        assert_eq!(
            dead_letter_destination(pairs(&[("destination", "ci")])).unwrap(),
            Some("ci".into())
        );
        assert_eq!(
            dead_letter_destination(pairs(&[("destination", "_all")])).unwrap(),
            Some("_all".into())
        );
        let long = "d".repeat(500);
        for bad in [
            vec![("destination", long.as_str())],
            vec![("destination", "a/b")],
            vec![("dest", "ci")],
        ] {
            assert!(dead_letter_destination(pairs(&bad)).is_err(), "{bad:?}");
        }
    }
}
