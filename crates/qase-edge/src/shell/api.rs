//! The operator API under `/api`: list, inspect, replay and delete stored
//! events and dead letters. Authorised by `Authorization: Bearer
//! <QASE_ADMIN_TOKEN>` (compared in constant time); without a configured
//! token every `/api` path answers `404`, as if the API did not exist.

use qase_webhooks::EventId;
use serde::Serialize;
use serde_json::value::RawValue;
use worker::web_sys::Response;
use worker::{Env, KvStore, MessageBuilder, Request};

use crate::engine::bindings;
use crate::engine::config::Config;
use crate::engine::layout::{self, DeadLetterMetadata, DeliveryState, EventMetadata};
use crate::engine::listing::{ListedKey, Listing, Page, Step, KV_PAGE_SIZE};
use crate::engine::messages::QueuedDelivery;
use crate::engine::query::{self, Cursor, ListQuery, PageQuery, ParamError};
use crate::engine::replay::{self, ReplayRefusal, ReplayRequest};
use crate::engine::routes::{Route, OPENAPI};
use crate::shell::error::ApiError;
use crate::shell::{respond, settings};

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
        .and_then(query::bearer_token)
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
            let destination = query::dead_letter_destination(pairs()?).map_err(param)?;
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

#[derive(Serialize)]
struct Replayed {
    id: String,
    destinations: Vec<String>,
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
    let (body, metadata) = read_event(kv, id).await?;
    let plan =
        replay::plan(config, id, &metadata, &body, request).map_err(|refusal| match refusal {
            ReplayRefusal::Paused(error) => ApiError::Misconfigured(error),
            ReplayRefusal::NoDestinations => ApiError::NoDestinations,
            ReplayRefusal::UnknownDestination { name } => ApiError::UnknownDestination { name },
        })?;
    for message in plan.messages {
        send(env, message).await?;
    }
    let replayed = Replayed {
        id: id.to_owned(),
        destinations: plan.destinations,
    };
    ok_json(&replayed, 202)
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
        send(
            env,
            replay::dead_letter_message(id, &destination, metadata, &body),
        )
        .await?;
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
