//! The operator API under `/api`: list, inspect, count, export, replay and
//! delete stored events and dead letters, from the D1 event store.
//! Authorised by `Authorization: Bearer <QASE_ADMIN_TOKEN>` (compared in
//! constant time); without a configured token every `/api` path answers
//! `404`, as if the API did not exist.
//!
//! The queries are [`engine::api::events`]'s, the pages
//! [`engine::api::paging`]'s and the replay messages
//! [`engine::api::replay`]'s; this module runs them and answers.

pub mod destinations;

use std::collections::HashMap;

use qase_webhooks::EventId;
use serde::Serialize;
use serde_json::value::RawValue;
use worker::d1::D1Database;
use worker::kv::{Key, ListResponse};
use worker::web_sys::{Headers, Response, ResponseInit};
use worker::{Env, KvStore, Request};

use crate::http::error::{ApiError, OrInternal};
use crate::store::{db, queue};
use engine::access::Identity;
use engine::api::answers::{
    BulkReplayed, DeadLetterPage, EventDetail, EventPage, EventSummary, ExportLine, Replayed,
};
use engine::api::audit::{self, AuditQuery};
use engine::api::auth::{self, Me, Principal, Scope};
use engine::api::events::{
    self, BodyRow, DeadLetterRow, DeadLetterToReplay, DeliveryRow, EventRow, HourCount, NameCount,
    RouteCount,
};
use engine::api::paging::{self, BULK_REPLAY_BUDGET, EXPORT_BUDGET};
use engine::api::params::{
    self, BulkReplayRequest, Cursor, DeadLetterQuery, EventFilter, ListQuery, ParamError,
    StatsQuery,
};
use engine::api::replay::{self, ReplayRefusal, ReplayRequest};
use engine::config::bindings;
use engine::config::{Config, Effect};
use engine::delivery::messages::QueuedDelivery;
use engine::delivery::queue::TaggedDelivery;
use engine::http::routes::Route;
use engine::store::d1::Statement;
use engine::store::layout::{
    self, DeadLetterMetadata, DeliveryState, DeliveryStatus, EventMetadata,
};
use engine::store::migrate_kv::{self, Kind, Migrated, MigrationCursor};
use engine::store::settings::Sink;
use engine::store::types::EventStatus;

use crate::config;
use crate::http::console;
use crate::http::respond;
use crate::runs::api;

/// The response header carrying an export's continuation cursor.
pub const NEXT_CURSOR_HEADER: &str = "X-Next-Cursor";

/// Whether the API is on: a credential is configured (a broken configuration
/// counts as on, so that `/api` answers `503 misconfigured` rather than hiding).
pub fn is_enabled(env: &Env) -> bool {
    config::load(env)
        .as_ref()
        .map_or(true, |config| config.api.enabled())
}

/// Handles an `/api` route.
/// Handles an `/api` route; `identity` is the caller Cloudflare Access
/// vouched for, when it guards the API.
pub async fn handle(
    route: Route,
    id: Option<&str>,
    identity: Option<Identity>,
    req: Request,
    env: &Env,
) -> Result<Response, ApiError> {
    let config = config::load(env)
        .as_ref()
        .map_err(|error| ApiError::Misconfigured(error.clone()))?;
    if !config.api.enabled() {
        return Err(ApiError::NotFound);
    }
    if route == Route::OpenApi {
        // Not embedded: 100 kB of the Wasm, compiled at every cold start
        // for a request an operator makes now and then (issue 28).
        return console::openapi(env).await;
    }
    let principal = authenticate(&req, identity.as_ref(), config)?;
    let allowed = auth::authorize(&principal, route).map_err(ApiError::Forbidden);
    let Some(action) = audit::action(route) else {
        allowed?;
        return serve(route, id, &principal, req, env, config).await;
    };
    // What the call was about, read before the route consumes the body.
    let query = req.url().or_internal()?.query().map(str::to_owned);
    let body = match action.reads_body() {
        true => req.clone().or_internal()?.text().await.ok(),
        false => None,
    };
    let result = match allowed {
        Ok(()) => serve(route, id, &principal, req, env, config).await,
        Err(refused) => Err(refused),
    };
    let status = match &result {
        Ok(response) => response.status(),
        Err(error) => error.status(),
    };
    let target = audit::target(id, query.as_deref(), body.as_deref());
    record(env, &principal, action, &target, status).await;
    result
}

/// Writes the call's row of the audit log. The call has happened by now:
/// a failed write is logged (with the row), never answered as the call's
/// failure.
async fn record(
    env: &Env,
    principal: &Principal,
    action: audit::Action,
    target: &str,
    status: u16,
) {
    let now = worker::Date::now().as_millis();
    let statement = audit::insert(principal, action, target, status, now);
    let written = match db::database(env) {
        Ok(database) => db::changes(&database, &statement, None).await.map(|_| ()),
        Err(error) => Err(error),
    };
    if let Err(error) = written {
        worker::console_error!(
            "{}",
            serde_json::json!({"event": "audit_not_written", "error": error.to_string(),
                "actor": principal.name, "action": action, "target": target, "status": status})
        );
    }
}

/// Serves an authorised route.
async fn serve(
    route: Route,
    id: Option<&str>,
    principal: &Principal,
    req: Request,
    env: &Env,
    config: &Config,
) -> Result<Response, ApiError> {
    if route == Route::Me {
        return ok_json(&Me::from(principal), 200);
    }

    if let Some(answer) = runs_out_of_scope(route, id, &req, &principal.scope)? {
        return Ok(answer);
    }
    if let Some(answer) = api::handle(route, id, &req, env, config).await {
        return answer;
    }
    if let Some(answer) = destinations::handle(route, id, env, config).await {
        return answer;
    }
    let id = id.unwrap_or_default();
    check_id(route, id)?;
    let store = Store {
        db: db::database(env).or_internal()?,
        env,
    };
    check_scope(route, id, &store, &principal.scope).await?;
    dispatch(route, id, req, &store, config, &principal.scope).await
}

/// A scoped caller's event route on another project's event answers as if
/// the event did not exist.
async fn check_scope(
    route: Route,
    id: &str,
    store: &Store<'_>,
    scope: &Scope,
) -> Result<(), ApiError> {
    if *scope == Scope::All || id.is_empty() {
        return Ok(());
    }
    let missing = match route {
        Route::ReplayDeadLetter => ApiError::DeadLetterNotFound,
        _ => ApiError::EventNotFound,
    };
    let rows: Vec<EventRow> = store.rows(&events::event(id)).await?;
    match rows.first() {
        Some(row) if scope.admits(&row.project_code) => Ok(()),
        _ => Err(missing),
    }
}

/// A scoped caller's runs route on another project: an empty page, or
/// `404` for one run, as if it had none. `None`: go on.
fn runs_out_of_scope(
    route: Route,
    id: Option<&str>,
    req: &Request,
    scope: &Scope,
) -> Result<Option<Response>, ApiError> {
    let project = match route {
        Route::GetRun | Route::WaitRun => auth::run_project(id.unwrap_or_default()).to_owned(),
        Route::ListRuns => match req
            .url()
            .or_internal()?
            .query_pairs()
            .find(|(k, _)| k == "project")
        {
            Some((_, project)) => project.into_owned(),
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    if scope.admits(&project) {
        return Ok(None);
    }
    match route {
        Route::ListRuns => {
            let empty = engine::api::answers::RunPage {
                runs: Vec::new(),
                cursor: None,
            };
            ok_json(&empty, 200).map(Some)
        }
        _ => Err(ApiError::RunNotFound),
    }
}

/// The caller: by its bearer token when it sends one (the admin token or a
/// named token), else by the Access identity and the first rule that gives
/// it a role.
fn authenticate(
    req: &Request,
    identity: Option<&Identity>,
    config: &Config,
) -> Result<Principal, ApiError> {
    let presented = req.headers().get("Authorization").or_internal()?;
    if let Some(presented) = presented.as_deref().and_then(params::bearer_token) {
        let admin = config.api.admin_token.as_ref();
        return auth::by_token(presented, admin, &config.api.tokens).ok_or(ApiError::BadToken);
    }
    match identity {
        Some(identity) => {
            auth::by_identity(identity, &config.api.access_roles).ok_or(ApiError::NoRole)
        }
        None => Err(ApiError::BadToken),
    }
}

/// Ids have one documented form; anything else names no stored event
/// (an empty id: the route has none).
fn check_id(route: Route, id: &str) -> Result<(), ApiError> {
    if !id.is_empty() && id.parse::<EventId>().is_err() {
        return Err(match route {
            Route::ReplayDeadLetter => ApiError::DeadLetterNotFound,
            _ => ApiError::EventNotFound,
        });
    }
    Ok(())
}

/// Runs an event or dead-letter route of the D1 event store.
async fn dispatch(
    route: Route,
    id: &str,
    req: Request,
    store: &Store<'_>,
    config: &Config,
    scope: &Scope,
) -> Result<Response, ApiError> {
    let pairs = || -> Result<Vec<(String, String)>, ApiError> {
        Ok(req
            .url()
            .or_internal()?
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect())
    };
    match route {
        Route::ListEvents => {
            let mut query = ListQuery::parse(pairs()?).map_err(param)?;
            query.filter.scope = scope.codes();
            list_events(store, query).await
        }
        Route::GetEvent => get_event(store, config, id).await,
        Route::GetEventBody => get_event_body(store, id).await,
        Route::DeleteEvent => delete_event(store, config, id).await,
        Route::ReplayEvent => replay_event(req, store, config, id).await,
        Route::ListDeadLetters => {
            let mut query = DeadLetterQuery::parse(pairs()?).map_err(param)?;
            query.scope = scope.codes();
            list_dead_letters(store, query).await
        }
        Route::ReplayDeadLetter => {
            let destination = params::dead_letter_destination(pairs()?).map_err(param)?;
            replay_dead_letters(store, config, id, destination).await
        }
        Route::Stats => stats(store, StatsQuery::parse(pairs()?).map_err(param)?, scope).await,
        Route::BulkReplay => bulk_replay(req, store, config, scope).await,
        Route::Export => {
            let mut query = ListQuery::parse_export(pairs()?).map_err(param)?;
            query.filter.scope = scope.codes();
            export(store, query).await
        }
        Route::MigrateKv => migrate_kv(req, store).await,
        Route::ListAudit => list_audit(store, AuditQuery::parse(pairs()?).map_err(param)?).await,
        Route::Ingest
        | Route::Health
        | Route::OpenApi
        | Route::Me
        | Route::ListRuns
        | Route::GetRun
        | Route::WaitRun
        | Route::ListDestinations
        | Route::PauseDestination
        | Route::ResumeDestination
        | Route::Metrics => Err(ApiError::NotFound),
    }
}

fn param(error: ParamError) -> ApiError {
    ApiError::BadParameter(error)
}

fn ok_json(body: &impl Serialize, status: u16) -> Result<Response, ApiError> {
    respond::json(body, status).or_internal()
}

/// A store that failed: `503`, retry (the cause goes to the log).
fn unavailable(what: &str) -> impl FnOnce(worker::Error) -> ApiError + '_ {
    move |error| {
        worker::console_error!("{what} failed: {error}");
        ApiError::StorageUnavailable
    }
}

fn refusal(refusal: ReplayRefusal) -> ApiError {
    match refusal {
        ReplayRefusal::Paused(error) => ApiError::Misconfigured(error),
        ReplayRefusal::NoDestinations => ApiError::NoDestinations,
        ReplayRefusal::UnknownDestination { name } => ApiError::UnknownDestination { name },
    }
}

/// The bindings the API reads and writes.
struct Store<'e> {
    db: D1Database,
    env: &'e Env,
}

impl Store<'_> {
    async fn rows<T: serde::de::DeserializeOwned>(
        &self,
        statement: &Statement,
    ) -> Result<Vec<T>, ApiError> {
        db::rows(&self.db, statement)
            .await
            .map_err(unavailable("D1 query"))
    }

    fn kv(&self) -> Result<KvStore, ApiError> {
        self.env.kv(bindings::EVENTS_KV).or_internal()
    }

    /// The event's row with its body column, or `404`.
    async fn event(&self, id: &str) -> Result<EventRow, ApiError> {
        self.rows::<EventRow>(&events::event(id))
            .await?
            .pop()
            .ok_or(ApiError::EventNotFound)
    }

    /// The exact bytes of a stored event: from its row, or from KV
    /// `event/{id}` when they did not fit a row.
    async fn body(&self, event: &EventRow) -> Result<Vec<u8>, ApiError> {
        if !event.body_in_kv() {
            return event.body.clone().map(String::into_bytes).ok_or_else(|| {
                worker::console_error!("event {} has no body in its row", event.id);
                ApiError::Internal
            });
        }
        let kv = self.kv()?;
        for key in events::body_keys(&event.id, event.outcome) {
            let bytes = kv
                .get(&key)
                .bytes()
                .await
                .map_err(|e| unavailable("KV read")(e.into()))?;
            if let Some(bytes) = bytes {
                return Ok(bytes);
            }
        }
        worker::console_error!("event {}: body not in KV", event.id);
        Err(ApiError::Internal)
    }

    async fn send(&self, batch: Vec<QueuedDelivery>) -> Result<(), ApiError> {
        let messages = batch.iter().map(TaggedDelivery::Delivery);
        queue::send_batch(self.env, bindings::DELIVERIES_QUEUE, messages)
            .await
            .map_err(unavailable("replay send"))
    }
}

/// A stored body as an answer embeds it ([`engine::api::answers::embed_body`]).
fn embedded(body: Vec<u8>) -> Result<Box<RawValue>, ApiError> {
    engine::api::answers::embed_body(&body).ok_or_else(|| {
        worker::console_error!("a stored body is not JSON");
        ApiError::Internal
    })
}

async fn list_events(store: &Store<'_>, query: ListQuery) -> Result<Response, ApiError> {
    let statement = events::list_events(&query.filter, query.cursor.as_ref(), query.limit);
    let rows: Vec<EventRow> = store.rows(&statement).await?;
    let (rows, next) = paging::page(rows, query.limit, EventRow::cursor);
    let page = EventPage {
        events: rows.iter().map(EventSummary::from).collect(),
        cursor: next.as_ref().map(Cursor::encode),
    };
    ok_json(&page, 200)
}

async fn get_event(store: &Store<'_>, config: &Config, id: &str) -> Result<Response, ApiError> {
    let event = store.event(id).await?;
    let deliveries: Vec<DeliveryRow> = store.rows(&events::deliveries(id)).await?;
    let bytes = store.body(&event).await?;
    let description = events::describe(&bytes, &config.delivery.app_url);
    let body = embedded(bytes)?;
    let dead_letters = deliveries
        .iter()
        .filter(|d| d.status == DeliveryStatus::Dead)
        .map(|d| d.destination.clone())
        .collect();
    let detail = EventDetail {
        event: EventSummary::from(&event),
        description: description.map(Into::into),
        deliveries: deliveries.into_iter().map(Into::into).collect(),
        dead_letters,
        body,
    };
    ok_json(&detail, 200)
}

async fn get_event_body(store: &Store<'_>, id: &str) -> Result<Response, ApiError> {
    let event = store.event(id).await?;
    respond::json_bytes(store.body(&event).await?, 200).or_internal()
}

#[derive(serde::Deserialize)]
struct Deleted {
    outcome: EventStatus,
    body_in_kv: u8,
}

async fn delete_event(store: &Store<'_>, config: &Config, id: &str) -> Result<Response, ApiError> {
    let [deliveries, event] = events::delete_event(id);
    // `RETURNING` says what the row held, so that its KV keys go too.
    let event = Statement {
        sql: format!("{} RETURNING outcome, body_in_kv", event.sql).into(),
        params: event.params,
    };
    let statements = [deliveries, event]
        .iter()
        .map(|s| db::prepare(&store.db, s, None))
        .collect::<worker::Result<Vec<_>>>()
        .or_internal()?;
    let results = store
        .db
        .batch(statements)
        .await
        .map_err(unavailable("D1 delete"))?;
    let deleted: Vec<Deleted> = results
        .last()
        .map(|r| r.results())
        .transpose()
        .or_internal()?
        .unwrap_or_default();
    let Some(deleted) = deleted.first() else {
        return Err(ApiError::EventNotFound);
    };
    let keys = events::kv_keys_to_delete(
        id,
        deleted.outcome,
        deleted.body_in_kv != 0,
        config.store.sinks.contains(&Sink::Kv),
    );
    for key in keys {
        // The row is gone: a key left behind expires with the retention.
        store
            .kv()?
            .delete(&key)
            .await
            .map_err(|e| unavailable("KV delete")(e.into()))?;
    }
    respond::empty(204).or_internal()
}

async fn replay_event(
    mut req: Request,
    store: &Store<'_>,
    config: &Config,
    id: &str,
) -> Result<Response, ApiError> {
    let text = req.text().await.map_err(|_| ApiError::BodyUnreadable)?;
    let request = ReplayRequest::parse(&text).map_err(ApiError::BadParameter)?;
    let event = store.event(id).await?;
    let body = event.body.as_deref().filter(|_| !event.body_in_kv());
    let plan = replay::plan(config, &event, body, request).map_err(refusal)?;
    for batch in replay::batches(plan.messages) {
        store.send(batch).await?;
    }
    let replayed = Replayed {
        id: id.to_owned(),
        destinations: plan.destinations,
    };
    ok_json(&replayed, 202)
}

async fn list_dead_letters(
    store: &Store<'_>,
    query: DeadLetterQuery,
) -> Result<Response, ApiError> {
    let rows: Vec<DeadLetterRow> = store.rows(&events::dead_letters(&query)).await?;
    let (dead_letters, next) = paging::page(rows, query.limit, DeadLetterRow::cursor);
    let page = DeadLetterPage {
        dead_letters,
        cursor: next.as_ref().map(Cursor::encode),
    };
    ok_json(&page, 200)
}

async fn replay_dead_letters(
    store: &Store<'_>,
    config: &Config,
    id: &str,
    only: Option<String>,
) -> Result<Response, ApiError> {
    if let Some(problem) = config.problem(Effect::DeliveryPaused) {
        return Err(ApiError::Misconfigured(problem.error.clone()));
    }
    let dead: Vec<DeadLetterToReplay> = store
        .rows(&events::dead_letters_of(id, only.as_deref()))
        .await?;
    if dead.is_empty() {
        return Err(ApiError::DeadLetterNotFound);
    }
    let now = worker::Date::now().as_millis();
    let mut replayed = Vec::new();
    for letter in &dead {
        replayed.extend(replay_dead_letter(store, config, id, letter, now).await?);
    }
    if replayed.is_empty() {
        return Err(if dead.is_empty() {
            ApiError::DeadLetterNotFound
        } else {
            ApiError::NoDestinations
        });
    }
    ok_json(
        &Replayed {
            id: id.to_owned(),
            destinations: replayed,
        },
        202,
    )
}

/// Replays one of an event's dead letters: claims it (of two replays at
/// once, one sends it), then queues its messages, restoring it when they
/// cannot be queued. The destinations it was replayed to; none when it has
/// nothing to replay or another replay claimed it.
async fn replay_dead_letter(
    store: &Store<'_>,
    config: &Config,
    id: &str,
    letter: &DeadLetterToReplay,
    now: u64,
) -> Result<Vec<String>, ApiError> {
    let messages = replay::dead_letter_messages(config, id, letter);
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    // Claim it first: of two replays at once, one sends it.
    let claim = events::requeue_dead_letter(id, &letter.destination, now);
    if db::changes(&store.db, &claim, None)
        .await
        .map_err(unavailable("D1 update"))?
        != 1
    {
        return Ok(Vec::new());
    }
    let names: Vec<String> = messages
        .iter()
        .filter_map(|m| m.destination.clone())
        .collect();
    for batch in replay::batches(messages) {
        if let Err(error) = store.send(batch).await {
            let restore = events::restore_dead_letter(id, &letter.destination, now);
            if let Err(e) = db::changes(&store.db, &restore, None).await {
                worker::console_error!("dead letter {id} not restored: {e}");
            }
            return Err(error);
        }
    }
    Ok(names)
}

async fn list_audit(store: &Store<'_>, query: AuditQuery) -> Result<Response, ApiError> {
    let rows = store.rows(&query.statement()).await?;
    ok_json(&query.page(rows), 200)
}

async fn stats(
    store: &Store<'_>,
    mut query: StatsQuery,
    scope: &Scope,
) -> Result<Response, ApiError> {
    query.scope = scope.codes();
    let names: Vec<NameCount> = store.rows(&events::stats_by_name(&query)).await?;
    let hours: Vec<HourCount> = store.rows(&events::stats_by_hour(&query)).await?;
    ok_json(&events::stats(&query, &names, &hours), 200)
}

/// A page of events chosen within `budget`, and the bodies held in their
/// rows, by id.
struct Chosen {
    rows: Vec<EventRow>,
    bodies: HashMap<String, String>,
    /// Rows fetched, including those past the budget and the one extra.
    fetched: usize,
}

async fn choose(
    store: &Store<'_>,
    filter: &EventFilter,
    cursor: Option<&Cursor>,
    limit: usize,
    budget: paging::BodyBudget,
    kv_bodies: bool,
) -> Result<Chosen, ApiError> {
    let mut rows: Vec<EventRow> = store
        .rows(&events::list_events(filter, cursor, limit))
        .await?;
    let fetched = rows.len();
    rows.truncate(paging::fit(&rows, limit, budget, kv_bodies));
    let mut bodies = HashMap::new();
    if let Some(last) = rows.last().filter(|_| rows.iter().any(|r| !r.body_in_kv())) {
        let found: Vec<BodyRow> = store
            .rows(&events::event_bodies(filter, cursor, &last.cursor()))
            .await?;
        bodies.extend(found.into_iter().filter_map(|r| Some((r.id, r.body?))));
    }
    Ok(Chosen {
        rows,
        bodies,
        fetched,
    })
}

async fn bulk_replay(
    mut req: Request,
    store: &Store<'_>,
    config: &Config,
    scope: &Scope,
) -> Result<Response, ApiError> {
    let text = req.text().await.map_err(|_| ApiError::BodyUnreadable)?;
    let mut request = BulkReplayRequest::parse(&text).map_err(param)?;
    request.filter.scope = scope.codes();
    let targets = request.targets();
    let destinations = targets.as_deref();
    if request.dry_run {
        let counts: Vec<RouteCount> = store
            .rows(&events::count_by_route(
                &request.filter,
                request.cursor.as_ref(),
            ))
            .await?;
        let answer = replay::dry_run(config, &counts, destinations).map_err(refusal)?;
        return ok_json(&answer, 200);
    }
    // Refuse before reading anything when nothing could be sent.
    replay::plan_bulk(config, &[], &HashMap::new(), destinations).map_err(refusal)?;
    let chosen = choose(
        store,
        &request.filter,
        request.cursor.as_ref(),
        request.limit,
        BULK_REPLAY_BUDGET,
        false,
    )
    .await?;
    let plan =
        replay::plan_bulk(config, &chosen.rows, &chosen.bodies, destinations).map_err(refusal)?;
    for batch in plan.batches {
        store.send(batch).await?;
    }
    let cursor = (plan.consumed < chosen.fetched)
        .then(|| plan.consumed.checked_sub(1))
        .flatten()
        .map(|last| chosen.rows[last].cursor().encode());
    let answer = BulkReplayed {
        events: plan.events as u64,
        messages: plan.messages as u64,
        skipped: plan.skipped as u64,
        cursor,
    };
    ok_json(&answer, 202)
}

async fn export(store: &Store<'_>, query: ListQuery) -> Result<Response, ApiError> {
    let chosen = choose(
        store,
        &query.filter,
        query.cursor.as_ref(),
        query.limit,
        EXPORT_BUDGET,
        true,
    )
    .await?;
    let mut out = Vec::new();
    for row in &chosen.rows {
        let body = match chosen.bodies.get(&row.id) {
            Some(body) => body.clone().into_bytes(),
            None if row.body_in_kv() => store.body(row).await?,
            // Deleted between the two queries.
            None => continue,
        };
        let line = ExportLine {
            event: EventSummary::from(row),
            body: embedded(body)?,
        };
        serde_json::to_writer(&mut out, &line).map_err(|_| ApiError::Internal)?;
        out.push(b'\n');
    }
    let cursor = (chosen.rows.len() < chosen.fetched)
        .then(|| chosen.rows.last().map(|r| r.cursor().encode()))
        .flatten();
    ndjson(out, cursor.as_deref()).or_internal()
}

/// An NDJSON response, with the continuation cursor in
/// [`NEXT_CURSOR_HEADER`] when more follow.
fn ndjson(mut body: Vec<u8>, cursor: Option<&str>) -> worker::Result<Response> {
    let headers = Headers::new()?;
    headers.set("Content-Type", "application/x-ndjson")?;
    headers.set("Cache-Control", "no-store")?;
    if let Some(cursor) = cursor {
        headers.set(NEXT_CURSOR_HEADER, cursor)?;
    }
    let init = ResponseInit::new();
    init.set_status(200);
    init.set_headers(&headers);
    Ok(Response::new_with_opt_u8_array_and_init(
        Some(&mut body),
        &init,
    )?)
}

#[derive(serde::Deserialize)]
struct IdRow {
    id: String,
}

/// Bytes of bodies one D1 batch of the migration binds at most.
const MIGRATION_BATCH_BYTES: usize = 8 * 1024 * 1024;

/// A statement of the migration and the body it binds.
type MigrationWrite = (Statement, Option<Vec<u8>>);

/// `POST /api/migrate-kv`: one KV list page of the old layout into D1
/// (see [`engine::store::migrate_kv`]).
async fn migrate_kv(mut req: Request, store: &Store<'_>) -> Result<Response, ApiError> {
    let text = req.text().await.map_err(|_| ApiError::BodyUnreadable)?;
    let cursor = migrate_kv::parse_request(&text).map_err(param)?;
    let (prefix, kind) = cursor.phase();
    let kv = store.kv()?;
    let page = list_page(&kv, prefix, kind, &cursor).await?;
    let mut answer = Migrated {
        keys: page.keys.len(),
        ..Migrated::default()
    };
    let (writes, skipped) = match kind {
        Kind::Event => event_writes(store, &kv, prefix, &page.keys).await?,
        Kind::Delivery | Kind::Dead => child_writes(prefix, kind, &page.keys),
    };
    answer.skipped = skipped;
    let changed = write_in_batches(store, writes).await?;
    match kind {
        Kind::Event => answer.events = changed,
        Kind::Delivery | Kind::Dead => answer.deliveries = changed,
    }
    let next = (!page.list_complete).then_some(page.cursor).flatten();
    answer.cursor = cursor.after(next).map(|c| c.encode());
    ok_json(&answer, 200)
}

/// The KV list page the migration's cursor points at.
async fn list_page(
    kv: &KvStore,
    prefix: &str,
    kind: Kind,
    cursor: &MigrationCursor,
) -> Result<ListResponse, ApiError> {
    let mut list = kv
        .list()
        .prefix(prefix.to_owned())
        .limit(migrate_kv::page_size(kind));
    if let Some(kv_cursor) = cursor.kv.clone() {
        list = list.cursor(kv_cursor);
    }
    list.execute()
        .await
        .map_err(|e| unavailable("KV list")(e.into()))
}

/// The inserts of a page of event keys, with the bodies read from KV, and
/// how many keys were skipped (no readable metadata or body, or the event
/// already in D1).
async fn event_writes(
    store: &Store<'_>,
    kv: &KvStore,
    prefix: &str,
    keys: &[Key],
) -> Result<(Vec<MigrationWrite>, usize), ApiError> {
    let candidates: Vec<(&str, &str, EventMetadata)> = keys
        .iter()
        .filter_map(|key| {
            let id = migrate_kv::event_key_id(prefix, &key.name)?;
            let metadata = serde_json::from_value(key.metadata.clone()?).ok()?;
            Some((key.name.as_str(), id, metadata))
        })
        .collect();
    let mut skipped = keys.len() - candidates.len();
    let ids: Vec<&str> = candidates.iter().map(|(_, id, _)| *id).collect();
    let have: Vec<IdRow> = if ids.is_empty() {
        Vec::new()
    } else {
        store.rows(&migrate_kv::existing(&ids)).await?
    };
    let mut writes = Vec::new();
    for (key, id, metadata) in &candidates {
        if have.iter().any(|row| row.id == *id) {
            continue;
        }
        let bytes = kv
            .get(key)
            .bytes()
            .await
            .map_err(|e| unavailable("KV read")(e.into()))?;
        match bytes.and_then(|b| Some((migrate_kv::event_insert(id, metadata, &b)?, b))) {
            Some((statement, body)) => writes.push((statement, Some(body))),
            None => skipped += 1,
        }
    }
    Ok((writes, skipped))
}

/// The inserts of a page of delivery or dead-letter keys, and how many
/// keys were skipped (no readable name or metadata).
fn child_writes(prefix: &str, kind: Kind, keys: &[Key]) -> (Vec<MigrationWrite>, usize) {
    let mut writes = Vec::new();
    let mut skipped = 0;
    for key in keys {
        let write = layout::event_child(prefix, &key.name).and_then(|(id, destination)| {
            let metadata = key.metadata.clone()?;
            Some(match kind {
                Kind::Dead => {
                    let dead: DeadLetterMetadata = serde_json::from_value(metadata).ok()?;
                    migrate_kv::dead_letter_insert(id, &destination, &dead)
                }
                _ => {
                    let state: DeliveryState = serde_json::from_value(metadata).ok()?;
                    migrate_kv::delivery_insert(id, &destination, &state)
                }
            })
        });
        match write {
            Some(statement) => writes.push((statement, None)),
            None => skipped += 1,
        }
    }
    (writes, skipped)
}

/// Runs the writes in D1 batches that bind at most
/// [`MIGRATION_BATCH_BYTES`] of bodies (one larger body alone); the rows
/// they changed.
async fn write_in_batches(
    store: &Store<'_>,
    writes: Vec<MigrationWrite>,
) -> Result<usize, ApiError> {
    let mut changed = 0;
    let mut batch = Vec::new();
    let mut bytes = 0;
    let mut writes = writes.into_iter().peekable();
    while let Some((statement, body)) = writes.next() {
        bytes += body.as_ref().map_or(0, Vec::len);
        batch.push(db::prepare(&store.db, &statement, body.as_deref()).or_internal()?);
        let full = writes.peek().is_none_or(|(_, next)| {
            bytes + next.as_ref().map_or(0, Vec::len) > MIGRATION_BATCH_BYTES
        });
        if full {
            let results = store
                .db
                .batch(std::mem::take(&mut batch))
                .await
                .map_err(unavailable("D1 insert"))?;
            changed += results
                .iter()
                .map(|r| r.meta().ok().flatten().and_then(|m| m.changes).unwrap_or(0))
                .sum::<usize>();
            bytes = 0;
        }
    }
    Ok(changed)
}
