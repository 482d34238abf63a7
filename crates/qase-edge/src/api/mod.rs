//! The operator API under `/api`: list, inspect, replay and delete stored
//! events and dead letters. Authorised by `Authorization: Bearer
//! <QASE_ADMIN_TOKEN>` (compared in constant time); without a configured
//! token every `/api` path answers `404`, as if the API did not exist.

pub mod query;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use worker::web_sys::Response;
use worker::{Env, KvStore, MessageBuilder, Request};

use self::query::{Cursor, ListQuery, PageQuery, ParamError};
use crate::config::Config;
use crate::error::ApiError;
use crate::layout::{self, DeliveryState, EventMetadata};
use crate::messages::QueuedDelivery;
use crate::routes::{Route, OPENAPI};
use crate::{bindings, respond, settings};

/// How many KV list pages one listing call may read before it returns what
/// it found with a cursor (filters can skip many keys).
const MAX_PAGES_PER_CALL: usize = 10;

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
    let bearer = presented
        .as_deref()
        .and_then(|value| value.strip_prefix("Bearer "));
    if !bearer.is_some_and(|token_text| token.verify(token_text.trim().as_bytes())) {
        return Err(ApiError::BadToken);
    }

    let kv = env.kv(bindings::EVENTS_KV)?;
    let id = id.unwrap_or_default();
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
            let destination = pairs()?
                .into_iter()
                .find(|(k, _)| k == "destination")
                .map(|(_, v)| v);
            replay_dead_letters(env, &kv, id, destination).await
        }
        Route::Ingest | Route::Health | Route::OpenApi => Err(ApiError::NotFound),
    }
}

fn param(error: ParamError) -> ApiError {
    ApiError::BadParameter(error)
}

fn ok_json(body: &impl Serialize, status: u16) -> Result<Response, ApiError> {
    Ok(respond::json(body, status)?)
}

#[derive(Serialize)]
struct EventSummary {
    id: String,
    #[serde(flatten)]
    metadata: EventMetadata,
}

#[derive(Serialize)]
struct EventPage {
    events: Vec<EventSummary>,
    cursor: Option<String>,
}

async fn list_events(kv: &KvStore, query: ListQuery) -> Result<Response, ApiError> {
    let prefix = match &query.project {
        Some(project) => layout::project_index_prefix(project),
        None => layout::INDEX.to_owned(),
    };
    let mut events = Vec::new();
    let mut page_cursor = query.cursor.kv.clone();
    let mut skip = query.cursor.skip;
    // Where the next call resumes; `None` once the listing is complete.
    let mut next = None;
    for pages_read in 1..=MAX_PAGES_PER_CALL {
        let mut list = kv.list().prefix(prefix.clone()).limit(1000);
        if let Some(cursor) = &page_cursor {
            list = list.cursor(cursor.clone());
        }
        let page = list.execute().await.map_err(worker::Error::from)?;
        let mut stop = false;
        for (index, key) in page.keys.iter().enumerate().skip(skip) {
            let Some(metadata) = key
                .metadata
                .clone()
                .and_then(|m| serde_json::from_value::<EventMetadata>(m).ok())
            else {
                continue;
            };
            // Newest first: past `since`, everything else is older still.
            if query
                .since
                .is_some_and(|since| metadata.received_at < since)
            {
                stop = true;
                break;
            }
            let keep = query.until.is_none_or(|until| metadata.received_at < until)
                && query
                    .event
                    .as_ref()
                    .is_none_or(|p| p.matches(&metadata.event_name))
                && query.status.is_none_or(|s| s.as_str() == metadata.status);
            if !keep {
                continue;
            }
            let id = layout::id_in(&key.name).unwrap_or_default().to_owned();
            events.push(EventSummary { id, metadata });
            if events.len() == query.limit {
                let more = index + 1 < page.keys.len() || !page.list_complete;
                next = more.then(|| Cursor {
                    kv: page_cursor.clone(),
                    skip: index + 1,
                });
                stop = true;
                break;
            }
        }
        if stop || page.list_complete || page.cursor.is_none() {
            break;
        }
        page_cursor = page.cursor.clone();
        skip = 0;
        if pages_read == MAX_PAGES_PER_CALL {
            // Out of pages for this call: the client continues from here.
            next = Some(Cursor {
                kv: page_cursor.clone(),
                skip: 0,
            });
        }
    }
    ok_json(
        &EventPage {
            events,
            cursor: next.map(|c| c.encode()),
        },
        200,
    )
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
    let deliveries = list_all(kv, &format!("{}{id}/", layout::DELIVERY))
        .await?
        .into_iter()
        .filter_map(|key| {
            let state = serde_json::from_value(key.metadata?).ok()?;
            Some(DeliveryView {
                destination: layout::destination_in(&key.name)?.to_owned(),
                state,
            })
        })
        .collect();
    let dead_letters = list_all(kv, &format!("{}{id}/", layout::DEAD))
        .await?
        .into_iter()
        .filter_map(|key| layout::destination_in(&key.name).map(str::to_owned))
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
    for prefix in [layout::DELIVERY, layout::DEAD] {
        keys.extend(
            list_all(kv, &format!("{prefix}{id}/"))
                .await?
                .into_iter()
                .map(|k| k.name),
        );
    }
    for key in keys {
        kv.delete(&key).await.map_err(|e| {
            worker::console_error!("delete of {key} failed: {e}");
            ApiError::StorageUnavailable
        })?;
    }
    Ok(respond::empty(204)?)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ReplayRequest {
    #[serde(default)]
    destinations: Option<Vec<String>>,
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
    let request: ReplayRequest = if text.trim().is_empty() {
        ReplayRequest::default()
    } else {
        serde_json::from_str(&text).map_err(|e| {
            ApiError::BadParameter(ParamError {
                param: "body".into(),
                problem: format!("must be {{\"destinations\": [names]}} or empty ({e})"),
            })
        })?
    };
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
    destination: String,
    #[serde(flatten)]
    metadata: serde_json::Value,
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
        .map(|key| DeadLetterView {
            id: layout::id_in(&key.name).unwrap_or_default().to_owned(),
            destination: layout::destination_in(&key.name)
                .unwrap_or_default()
                .to_owned(),
            metadata: key.metadata.unwrap_or(serde_json::Value::Null),
        })
        .collect();
    let cursor = match (page.list_complete, page.cursor) {
        (false, Some(kv)) => Some(
            Cursor {
                kv: Some(kv),
                skip: 0,
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
    let keys = list_all(kv, &format!("{}{id}/", layout::DEAD)).await?;
    let mut replayed = Vec::new();
    for key in keys {
        let Some(destination) = layout::destination_in(&key.name).map(str::to_owned) else {
            continue;
        };
        if only.as_ref().is_some_and(|o| *o != destination) {
            continue;
        }
        let (body, metadata) = kv
            .get(&key.name)
            .bytes_with_metadata::<serde_json::Value>()
            .await
            .map_err(worker::Error::from)?;
        let (Some(body), Some(metadata)) = (body, metadata) else {
            continue;
        };
        let event = EventMetadata {
            event_name: metadata["event_name"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            project_code: metadata["project_code"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            received_at: metadata["received_at"].as_u64().unwrap_or_default(),
            status: "accepted".to_owned(),
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
