//! The operator API's queries over the event store (D1, see
//! [`crate::store::d1`] for the tables), built as [`Statement`] values from the
//! parsed parameters, and the rows they return. Pure, so every query's text
//! and parameters are tested on the host; the end-to-end tests run them on
//! D1.
//!
//! Every value a client sends is bound as a parameter (`?N`), never written
//! into the SQL text: the text is made only of the fragments below, chosen
//! by which filters are set.
//!
//! Pages are keyset pages in the order `received_at DESC, id DESC` (dead
//! letters: `updated_at DESC, event_id DESC, destination DESC`): a page
//! asks for one row more than it returns, to know whether another page
//! follows, and its [`Cursor`] is its last row. The next page starts
//! strictly after that row, so events that arrive meanwhile (newer, so
//! before the cursor) cause neither a repeat nor a gap; an event recorded
//! late with an older `received_at` (the consumer's or the sweep's insert
//! after a D1 failure at ingest) shows up on the pages still to come if it
//! sorts after the cursor.

use std::borrow::Cow;
use std::collections::BTreeMap;

use qase_webhooks::chat::{self, Message};
use qase_webhooks::Envelope;
use serde::{Deserialize, Serialize};

use crate::api::params::{sqlite_glob, Cursor, DeadLetterQuery, EventFilter, StatsQuery};
use crate::store::d1::{Param, Statement};
use crate::store::layout::{self, DeliveryStatus};
use crate::store::types::{EventStatus, Forward};

/// An event's columns as the API shows them: all but the body.
const EVENT_COLUMNS: &str = "id, event_name, entity, action, project_code, team_member_id, \
     received_at, outcome, reason, duplicates, last_duplicate_at, run_id, case_id, defect_id, \
     plan_id, milestone_id, forward, size, body_in_kv";

const NEWEST_FIRST: &str = " ORDER BY received_at DESC, id DESC";

const MS_PER_HOUR: u64 = 3_600_000;

/// A statement being built: text from fixed fragments, values bound.
struct Sql {
    text: String,
    params: Vec<Param>,
    conditions: Vec<String>,
}

impl Sql {
    fn new(text: &str) -> Sql {
        Sql {
            text: text.to_owned(),
            params: Vec::new(),
            conditions: Vec::new(),
        }
    }

    /// Binds a value; its placeholder.
    fn bind(&mut self, param: impl Into<Param>) -> String {
        self.params.push(param.into());
        format!("?{}", self.params.len())
    }

    /// Adds a `WHERE` condition.
    fn when(&mut self, condition: String) {
        self.conditions.push(condition);
    }

    /// Appends the `WHERE` clause made so far, then `rest`.
    fn finish(mut self, rest: &str) -> Statement {
        if !self.conditions.is_empty() {
            self.text.push_str(" WHERE ");
            self.text.push_str(&self.conditions.join(" AND "));
        }
        self.text.push_str(rest);
        Statement {
            sql: Cow::Owned(self.text),
            params: self.params,
        }
    }

    fn limit(&mut self, rows: usize) -> String {
        format!(" LIMIT {}", self.bind(rows as u64))
    }
}

/// `column IN (the scope's codes)`, when the caller is scoped.
fn within_scope(sql: &mut Sql, column: &str, scope: Option<&[String]>) {
    if let Some(codes) = scope {
        let bound: Vec<String> = codes.iter().map(|c| sql.bind(c.as_str())).collect();
        sql.when(format!("{column} IN ({})", bound.join(", ")));
    }
}

/// The filter's conditions on `events`.
fn filter_events(sql: &mut Sql, filter: &EventFilter) {
    within_scope(sql, "project_code", filter.scope.as_deref());
    if let Some(project) = &filter.project {
        let p = sql.bind(project.as_str());
        sql.when(format!("project_code = {p}"));
    }
    if let Some(event) = &filter.event {
        if event.contains('*') {
            let p = sql.bind(Param::Text(sqlite_glob(event)));
            sql.when(format!("event_name GLOB {p}"));
        } else {
            let p = sql.bind(event.as_str());
            sql.when(format!("event_name = {p}"));
        }
    }
    if let Some(outcome) = filter.outcome {
        let p = sql.bind(outcome.as_str());
        sql.when(format!("outcome = {p}"));
    }
    if let Some(since) = filter.since {
        let p = sql.bind(since);
        sql.when(format!("received_at >= {p}"));
    }
    if let Some(until) = filter.until {
        let p = sql.bind(until);
        sql.when(format!("received_at < {p}"));
    }
    let s = &filter.subjects;
    for (column, value) in [
        ("run_id", s.run),
        ("case_id", s.case),
        ("defect_id", s.defect),
        ("plan_id", s.plan),
        ("milestone_id", s.milestone),
    ] {
        if let Some(value) = value {
            let p = sql.bind(value);
            sql.when(format!("{column} = {p}"));
        }
    }
    if filter.destination.is_some() || filter.state.is_some() {
        let mut exists =
            String::from("EXISTS (SELECT 1 FROM deliveries AS d WHERE d.event_id = events.id");
        if let Some(destination) = &filter.destination {
            let p = sql.bind(destination.as_str());
            exists.push_str(&format!(" AND d.destination = {p}"));
        }
        if let Some(state) = filter.state {
            let p = sql.bind(state.as_str());
            exists.push_str(&format!(" AND d.status = {p}"));
        }
        exists.push(')');
        sql.when(exists);
    }
}

/// Rows strictly after `cursor` in newest-first order. Written as a range
/// on `received_at` plus a tie-break, which SQLite serves from the
/// `(…, received_at, id)` indexes.
fn after(sql: &mut Sql, cursor: &Cursor) {
    let t = sql.bind(cursor.at);
    let i = sql.bind(cursor.id.as_str());
    sql.when(format!(
        "received_at <= {t} AND (received_at < {t} OR id < {i})"
    ));
}

/// Rows up to and including `cursor` in newest-first order.
fn through(sql: &mut Sql, cursor: &Cursor) {
    let t = sql.bind(cursor.at);
    let i = sql.bind(cursor.id.as_str());
    sql.when(format!(
        "received_at >= {t} AND (received_at > {t} OR id >= {i})"
    ));
}

/// A page of events: `limit + 1` rows (the last only says that more
/// follow; see [`crate::api::paging::page`]), newest first, after `cursor`.
pub fn list_events(filter: &EventFilter, cursor: Option<&Cursor>, limit: usize) -> Statement {
    let mut sql = Sql::new(&format!("SELECT {EVENT_COLUMNS} FROM events"));
    filter_events(&mut sql, filter);
    if let Some(cursor) = cursor {
        after(&mut sql, cursor);
    }
    let limit = sql.limit(limit + 1);
    sql.finish(&format!("{NEWEST_FIRST}{limit}"))
}

/// The bodies of the events a page chose ([`crate::api::paging::fit`]): those of `filter`
/// after `cursor` up to and including `last`. Only bodies held in the row
/// are selected: the others are in KV.
pub fn event_bodies(filter: &EventFilter, cursor: Option<&Cursor>, last: &Cursor) -> Statement {
    let mut sql = Sql::new("SELECT id, body FROM events");
    filter_events(&mut sql, filter);
    if let Some(cursor) = cursor {
        after(&mut sql, cursor);
    }
    through(&mut sql, last);
    sql.when("body_in_kv = 0".to_owned());
    sql.finish(NEWEST_FIRST)
}

/// How many events of `filter` (after `cursor`) each event name and project
/// has: a bulk replay's dry run works out the destinations from these.
pub fn count_by_route(filter: &EventFilter, cursor: Option<&Cursor>) -> Statement {
    let mut sql = Sql::new("SELECT event_name, project_code, COUNT(*) AS count FROM events");
    filter_events(&mut sql, filter);
    if let Some(cursor) = cursor {
        after(&mut sql, cursor);
    }
    sql.finish(" GROUP BY event_name, project_code ORDER BY event_name, project_code")
}

/// One event with its body column.
pub fn event(id: &str) -> Statement {
    Statement {
        sql: Cow::Owned(format!(
            "SELECT {EVENT_COLUMNS}, body FROM events WHERE id = ?1"
        )),
        params: vec![id.into()],
    }
}

/// An event's delivery states, by destination.
pub fn deliveries(id: &str) -> Statement {
    Statement {
        sql: Cow::Borrowed(
            "SELECT destination, status, attempts, last_status, last_error, reason, updated_at, \
             attempts_log FROM deliveries WHERE event_id = ?1 ORDER BY destination",
        ),
        params: vec![id.into()],
    }
}

/// Deletes an event: its delivery states, then its row (run as one batch,
/// so both or neither).
pub fn delete_event(id: &str) -> [Statement; 2] {
    [
        Statement {
            sql: Cow::Borrowed("DELETE FROM deliveries WHERE event_id = ?1"),
            params: vec![id.into()],
        },
        Statement {
            sql: Cow::Borrowed("DELETE FROM events WHERE id = ?1"),
            params: vec![id.into()],
        },
    ]
}

/// A page of dead letters (`deliveries` rows with status `dead`), most
/// recently given up first, `limit + 1` rows.
pub fn dead_letters(query: &DeadLetterQuery) -> Statement {
    let mut sql = Sql::new(
        "SELECT d.event_id AS id, d.destination, e.event_name, e.project_code, e.received_at, \
         d.attempts, d.last_status, d.last_error, d.reason, d.updated_at AS dead_at \
         FROM deliveries AS d JOIN events AS e ON e.id = d.event_id",
    );
    sql.when(format!("d.status = '{}'", DeliveryStatus::Dead.as_str()));
    if let Some(destination) = &query.destination {
        let p = sql.bind(destination.as_str());
        sql.when(format!("d.destination = {p}"));
    }
    within_scope(&mut sql, "e.project_code", query.scope.as_deref());
    if let Some(project) = &query.project {
        let p = sql.bind(project.as_str());
        sql.when(format!("e.project_code = {p}"));
    }
    if let Some(since) = query.since {
        let p = sql.bind(since);
        sql.when(format!("d.updated_at >= {p}"));
    }
    if let Some(until) = query.until {
        let p = sql.bind(until);
        sql.when(format!("d.updated_at < {p}"));
    }
    if let Some(cursor) = &query.cursor {
        let t = sql.bind(cursor.at);
        let i = sql.bind(cursor.id.as_str());
        let d = sql.bind(cursor.destination.as_deref().unwrap_or_default());
        sql.when(format!(
            "d.updated_at <= {t} AND (d.updated_at < {t} OR d.event_id < {i} \
             OR (d.event_id = {i} AND d.destination < {d}))"
        ));
    }
    let limit = sql.limit(query.limit + 1);
    sql.finish(&format!(
        " ORDER BY d.updated_at DESC, d.event_id DESC, d.destination DESC{limit}"
    ))
}

/// An event's dead letters (one destination's, if given), with what a
/// replay message needs.
pub fn dead_letters_of(id: &str, destination: Option<&str>) -> Statement {
    let mut sql = Sql::new(
        "SELECT d.destination, e.event_name, e.project_code, e.received_at, e.body_in_kv, e.body \
         FROM deliveries AS d JOIN events AS e ON e.id = d.event_id",
    );
    let p = sql.bind(id);
    sql.when(format!("d.event_id = {p}"));
    sql.when(format!("d.status = '{}'", DeliveryStatus::Dead.as_str()));
    if let Some(destination) = destination {
        let p = sql.bind(destination);
        sql.when(format!("d.destination = {p}"));
    }
    sql.finish(" ORDER BY d.destination")
}

/// Takes a dead letter off the dead-letter list for its replay: the row
/// becomes `retrying` with attempts starting over (the consumer records
/// what follows), or, for the platform's `_all`, which names no real
/// destination, goes. Conditional on it still being dead, so that two
/// replays at once send it once: replay only when it changed one row.
pub fn requeue_dead_letter(id: &str, destination: &str, now: u64) -> Statement {
    if destination == crate::delivery::attempt::ALL_DESTINATIONS {
        return Statement {
            sql: Cow::Borrowed(
                "DELETE FROM deliveries WHERE event_id = ?1 AND destination = ?2 \
                 AND status = 'dead'",
            ),
            params: vec![id.into(), destination.into()],
        };
    }
    Statement {
        sql: Cow::Borrowed(
            "UPDATE deliveries SET status = 'retrying', attempts = 0, reason = NULL, \
             updated_at = ?3 WHERE event_id = ?1 AND destination = ?2 AND status = 'dead'",
        ),
        params: vec![id.into(), destination.into(), now.into()],
    }
}

/// Puts a dead letter back when its replay could not be queued.
pub fn restore_dead_letter(id: &str, destination: &str, now: u64) -> Statement {
    Statement {
        sql: Cow::Borrowed(
            "UPDATE deliveries SET status = 'dead', reason = 'replay not queued', \
             updated_at = ?3 WHERE event_id = ?1 AND destination = ?2 AND status = 'retrying' \
             AND attempts = 0",
        ),
        params: vec![id.into(), destination.into(), now.into()],
    }
}

fn stats_range(sql: &mut Sql, query: &StatsQuery) {
    let since = sql.bind(query.since);
    let until = sql.bind(query.until);
    sql.when(format!("received_at >= {since} AND received_at < {until}"));
    within_scope(sql, "project_code", query.scope.as_deref());
    if let Some(project) = &query.project {
        let p = sql.bind(project.as_str());
        sql.when(format!("project_code = {p}"));
    }
}

/// Counts per event name and outcome over the range ([`NameCount`]).
pub fn stats_by_name(query: &StatsQuery) -> Statement {
    let mut sql = Sql::new(
        "SELECT event_name, outcome, COUNT(*) AS count, SUM(duplicates) AS duplicates FROM events",
    );
    stats_range(&mut sql, query);
    sql.finish(" GROUP BY event_name, outcome ORDER BY event_name, outcome")
}

/// Counts per UTC hour and entity over the range ([`HourCount`]).
pub fn stats_by_hour(query: &StatsQuery) -> Statement {
    let mut sql = Sql::new(&format!(
        "SELECT received_at / {MS_PER_HOUR} AS hour, entity, COUNT(*) AS count FROM events"
    ));
    stats_range(&mut sql, query);
    sql.finish(" GROUP BY hour, entity ORDER BY hour, entity")
}

/// Where KV may hold the bytes of an event whose row says `body_in_kv`,
/// in the order to read them: ingest writes a quarantined event under
/// `quarantine/{id}` and an accepted one under `event/{id}`.
pub fn body_keys(id: &str, outcome: EventStatus) -> Vec<String> {
    match outcome {
        EventStatus::Accepted => vec![layout::event_key(id)],
        EventStatus::Quarantined => vec![layout::quarantine_key(id), layout::event_key(id)],
    }
}

/// The KV keys to delete with an event's row: its bytes when they were
/// too large for the row, and the kv sink's copy when that sink is on.
pub fn kv_keys_to_delete(
    id: &str,
    outcome: EventStatus,
    body_in_kv: bool,
    kv_sink: bool,
) -> Vec<String> {
    if body_in_kv || kv_sink {
        body_keys(id, outcome)
    } else {
        Vec::new()
    }
}

/// An event's row as the API lists it: every column but the body, which
/// only [`event`] selects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRow {
    /// `evt_...`.
    pub id: String,
    /// The event name as sent.
    pub event_name: String,
    /// The name before its first dot.
    pub entity: String,
    /// The name after it.
    pub action: String,
    /// The project code.
    pub project_code: String,
    /// Who triggered it.
    pub team_member_id: Option<u64>,
    /// When the Worker received it, in Unix milliseconds.
    pub received_at: u64,
    /// Accepted or quarantined.
    pub outcome: EventStatus,
    /// Why it was quarantined.
    pub reason: Option<String>,
    /// Copies received after the first.
    pub duplicates: u64,
    /// When the last copy arrived, in Unix milliseconds.
    pub last_duplicate_at: Option<u64>,
    /// The run the payload names.
    pub run_id: Option<u64>,
    /// The case the payload names.
    pub case_id: Option<u64>,
    /// The defect the payload names.
    pub defect_id: Option<u64>,
    /// The plan the payload names.
    pub plan_id: Option<u64>,
    /// The milestone the payload names.
    pub milestone_id: Option<u64>,
    /// Where it stands with the delivery queue.
    pub forward: Forward,
    /// The body's size in bytes.
    pub size: u64,
    /// 1: the body is in KV `event/{id}`, not in the row.
    #[serde(skip_serializing)]
    pub body_in_kv: u8,
    /// The body, when selected ([`event`]) and held in the row.
    #[serde(default, skip_serializing)]
    pub body: Option<String>,
}

impl EventRow {
    /// Where a page that ends with this row resumes.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            at: self.received_at,
            id: self.id.clone(),
            destination: None,
        }
    }

    /// The body is in KV, not in the row.
    pub fn body_in_kv(&self) -> bool {
        self.body_in_kv != 0
    }
}

/// A `deliveries` row as [`deliveries`] selects it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRow {
    /// The destination's name.
    pub destination: String,
    /// Delivered, retrying or dead.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// The last HTTP status, if any.
    pub last_status: Option<u16>,
    /// The last failure, in words.
    pub last_error: Option<String>,
    /// Why it was given up (dead only).
    pub reason: Option<String>,
    /// When this state was recorded, in Unix milliseconds.
    pub updated_at: u64,
    /// The latest attempts (issue #19): the column's JSON text, shown as
    /// the array it holds (`[]` for rows written before it existed).
    #[serde(default, serialize_with = "json_array")]
    pub attempts_log: Option<String>,
}

fn json_array<S: serde::Serializer>(
    text: &Option<String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let value = text
        .as_deref()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
        .filter(serde_json::Value::is_array)
        .unwrap_or_else(|| serde_json::Value::Array(Vec::new()));
    value.serialize(serializer)
}

/// A dead letter as [`dead_letters`] selects it (the fields of the KV
/// dead letters before D1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterRow {
    /// The event id.
    pub id: String,
    /// The destination it failed to reach.
    pub destination: String,
    /// The event name.
    pub event_name: String,
    /// The project code.
    pub project_code: String,
    /// When the event was received, in Unix milliseconds.
    pub received_at: u64,
    /// Attempts made.
    pub attempts: u32,
    /// The last HTTP status, if any.
    pub last_status: Option<u16>,
    /// The last failure, in words.
    pub last_error: Option<String>,
    /// Why it was given up.
    pub reason: Option<String>,
    /// When it was given up, in Unix milliseconds.
    pub dead_at: u64,
}

impl DeadLetterRow {
    /// Where a page that ends with this row resumes.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            at: self.dead_at,
            id: self.id.clone(),
            destination: Some(self.destination.clone()),
        }
    }
}

/// A dead letter to replay, as [`dead_letters_of`] selects it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct DeadLetterToReplay {
    /// The destination it failed to reach (or `_all`).
    pub destination: String,
    /// The event name.
    pub event_name: String,
    /// The project code.
    pub project_code: String,
    /// When the event was received, in Unix milliseconds.
    pub received_at: u64,
    /// 1: the body is in KV.
    pub body_in_kv: u8,
    /// The body, unless it is in KV.
    pub body: Option<String>,
}

/// A body as [`event_bodies`] selects it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BodyRow {
    /// The event id.
    pub id: String,
    /// The exact bytes received, as text.
    pub body: Option<String>,
}

/// A row of [`count_by_route`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RouteCount {
    /// The event name.
    pub event_name: String,
    /// The project code.
    pub project_code: String,
    /// Events with both.
    pub count: u64,
}

/// The event detail's summary in plain words (`description`): what a chat
/// message would say. `None` when the bytes are not an event of the typed
/// model (a quarantined delivery can be anything; its `reason` says why).
pub fn describe(body: &[u8], app_url: &str) -> Option<Message> {
    let envelope = Envelope::parse(body).ok()?;
    let event = envelope.event().ok()?;
    Some(chat::describe(&envelope, &event, app_url))
}

/// A row of [`stats_by_name`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NameCount {
    /// The event name.
    pub event_name: String,
    /// Accepted or quarantined.
    pub outcome: EventStatus,
    /// Events.
    pub count: u64,
    /// Copies received after the first, over those events.
    pub duplicates: u64,
}

/// A row of [`stats_by_hour`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct HourCount {
    /// Hours since the Unix epoch (UTC).
    pub hour: u64,
    /// The entity (`run`, `case`, ...).
    pub entity: String,
    /// Events.
    pub count: u64,
}

/// `GET /api/stats`' answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// The range's start, in Unix seconds.
    pub since: u64,
    /// The range's end (excluded), in Unix seconds.
    pub until: u64,
    /// The project counted, if only one.
    #[serde(deserialize_with = "crate::wire::present")]
    pub project: Option<String>,
    /// Totals over the range.
    pub totals: Totals,
    /// Per event name, most frequent first.
    pub by_event: Vec<NameTotals>,
    /// Every UTC hour the range touches, as Unix seconds of its start.
    pub hours: Vec<u64>,
    /// Events per hour, aligned with `hours`.
    pub by_hour: Vec<u64>,
    /// Events per hour of each entity (`run`, `case`, ...), aligned with `hours`.
    pub by_entity_hour: BTreeMap<String, Vec<u64>>,
}

/// Counts per outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Events.
    pub events: u64,
    /// Accepted events.
    pub accepted: u64,
    /// Quarantined events.
    pub quarantined: u64,
    /// Copies received after the first (answered `duplicate`).
    pub duplicates: u64,
}

/// One event name's counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameTotals {
    /// The event name.
    pub event_name: String,
    /// Its counts.
    #[serde(flatten)]
    pub totals: Totals,
}

impl Totals {
    fn add(&mut self, row: &NameCount) {
        self.events += row.count;
        self.duplicates += row.duplicates;
        match row.outcome {
            EventStatus::Accepted => self.accepted += row.count,
            EventStatus::Quarantined => self.quarantined += row.count,
        }
    }
}

/// The stats from [`stats_by_name`]'s and [`stats_by_hour`]'s rows.
pub fn stats(query: &StatsQuery, names: &[NameCount], hours: &[HourCount]) -> Stats {
    let mut totals = Totals::default();
    let mut by_name: BTreeMap<&str, Totals> = BTreeMap::new();
    for row in names {
        totals.add(row);
        by_name.entry(&row.event_name).or_default().add(row);
    }
    let mut by_event: Vec<NameTotals> = by_name
        .into_iter()
        .map(|(name, totals)| NameTotals {
            event_name: name.to_owned(),
            totals,
        })
        .collect();
    by_event.sort_by_key(|e| std::cmp::Reverse(e.totals.events));

    let first = query.since / MS_PER_HOUR;
    let last = (query.until - 1) / MS_PER_HOUR;
    let slots = (last - first + 1) as usize;
    let mut by_hour = vec![0; slots];
    let mut by_entity_hour: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for row in hours {
        let Some(slot) = row
            .hour
            .checked_sub(first)
            .map(|s| s as usize)
            .filter(|s| *s < slots)
        else {
            continue;
        };
        by_hour[slot] += row.count;
        by_entity_hour
            .entry(row.entity.clone())
            .or_insert_with(|| vec![0; slots])[slot] += row.count;
    }
    Stats {
        since: query.since / 1000,
        until: query.until / 1000,
        project: query.project.clone(),
        totals,
        by_event,
        hours: (first..=last).map(|h| h * 3600).collect(),
        by_hour,
        by_entity_hour,
    }
}

/// Test support: row `n` (run `n`), received at `received_at`.
#[cfg(test)]
pub fn row(n: u64, received_at: u64, size: u64, body_in_kv: bool) -> EventRow {
    EventRow {
        id: format!("evt_{n:032x}"),
        event_name: "run.completed".into(),
        entity: "run".into(),
        action: "completed".into(),
        project_code: "WEB".into(),
        team_member_id: Some(1),
        received_at,
        outcome: EventStatus::Accepted,
        reason: None,
        duplicates: 0,
        last_duplicate_at: None,
        run_id: Some(n),
        case_id: None,
        defect_id: None,
        plan_id: None,
        milestone_id: None,
        forward: Forward::Queued,
        size,
        body_in_kv: u8::from(body_in_kv),
        body: None,
    }
}

#[cfg(test)]
mod tests {
    use qase_webhooks::Subjects;

    use super::*;
    use crate::api::params::ListQuery;
    use crate::store::d1::{literals, placeholders_match};

    #[test]
    fn the_dead_letter_literals_are_delivery_statuses_text() {
        let (retrying, dead) = (
            DeliveryStatus::Retrying.as_str(),
            DeliveryStatus::Dead.as_str(),
        );
        let platform = crate::delivery::attempt::ALL_DESTINATIONS;
        assert_eq!(literals(&requeue_dead_letter(ID, platform, 1)), [dead]);
        assert_eq!(
            literals(&requeue_dead_letter(ID, "ci", 1)),
            [retrying, dead]
        );
        assert_eq!(
            literals(&restore_dead_letter(ID, "ci", 1)),
            [dead, "replay not queued", retrying]
        );
    }

    const ID: &str = "evt_0123456789abcdef0123456789abcdef";

    fn filter(pairs: &[(&str, &str)]) -> EventFilter {
        ListQuery::parse(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
            .unwrap()
            .filter
    }

    fn cursor(at: u64) -> Cursor {
        Cursor {
            at,
            id: ID.into(),
            destination: None,
        }
    }

    #[test]
    fn no_filter_lists_everything_newest_first() {
        let statement = list_events(&EventFilter::default(), None, 50);
        assert_eq!(
            statement.sql,
            format!(
                "SELECT {EVENT_COLUMNS} FROM events ORDER BY received_at DESC, id DESC LIMIT ?1"
            )
        );
        assert_eq!(statement.params, vec![Param::Int(51)], "one row more");
    }

    #[test]
    fn every_filter_is_a_bound_condition() {
        let every = filter(&[
            ("project", "WEB"),
            ("event", "run.*"),
            ("outcome", "accepted"),
            ("since", "1700000000"),
            ("until", "1800000000"),
            ("run", "42"),
            ("case", "7"),
            ("defect", "8"),
            ("plan", "9"),
            ("milestone", "10"),
            ("destination", "ci"),
            ("state", "dead"),
        ]);
        let statement = list_events(&every, Some(&cursor(1_750_000_000_000)), 2);
        placeholders_match(&statement);
        let sql = &statement.sql;
        for fragment in [
            "project_code = ?1",
            "event_name GLOB ?2",
            "outcome = ?3",
            "received_at >= ?4",
            "received_at < ?5",
            "run_id = ?6",
            "case_id = ?7",
            "defect_id = ?8",
            "plan_id = ?9",
            "milestone_id = ?10",
            "EXISTS (SELECT 1 FROM deliveries AS d WHERE d.event_id = events.id \
             AND d.destination = ?11 AND d.status = ?12)",
            "received_at <= ?13 AND (received_at < ?13 OR id < ?14)",
            "ORDER BY received_at DESC, id DESC LIMIT ?15",
        ] {
            assert!(sql.contains(fragment), "{fragment} not in {sql}");
        }
        assert_eq!(
            statement.params,
            vec![
                Param::Text("WEB".into()),
                Param::Text("run.*".into()),
                Param::Text("accepted".into()),
                Param::Int(1_700_000_000_000),
                Param::Int(1_800_000_000_000),
                Param::Int(42),
                Param::Int(7),
                Param::Int(8),
                Param::Int(9),
                Param::Int(10),
                Param::Text("ci".into()),
                Param::Text("dead".into()),
                Param::Int(1_750_000_000_000),
                Param::Text(ID.into()),
                Param::Int(3),
            ]
        );
    }

    #[test]
    fn a_state_without_a_destination_is_any_destination() {
        let statement = list_events(&filter(&[("state", "retrying")]), None, 5);
        placeholders_match(&statement);
        assert!(statement.sql.contains(
            "EXISTS (SELECT 1 FROM deliveries AS d WHERE d.event_id = events.id AND d.status = ?1)"
        ));
        let statement = list_events(&filter(&[("destination", "ci")]), None, 5);
        assert!(statement
            .sql
            .contains("WHERE d.event_id = events.id AND d.destination = ?1)"));
    }

    #[test]
    fn no_value_from_a_client_reaches_the_sql_text() {
        let hostile = "x' OR 1=1; DROP TABLE events; --";
        let mut every = filter(&[("project", hostile), ("event", "a'*\"b")]);
        every.destination = Some("evil".into());
        let statements = [
            list_events(&every, Some(&cursor(5)), 10),
            event_bodies(&every, Some(&cursor(5)), &cursor(1)),
            count_by_route(&every, None),
            event(hostile),
            deliveries(hostile),
            requeue_dead_letter(hostile, hostile, 1),
            restore_dead_letter(hostile, hostile, 1),
            dead_letters(&DeadLetterQuery {
                project: Some(hostile.into()),
                destination: Some("evil".into()),
                limit: 1,
                ..DeadLetterQuery::default()
            }),
            dead_letters_of(hostile, Some(hostile)),
            stats_by_name(&StatsQuery {
                since: 0,
                until: 1,
                project: Some(hostile.into()),
                scope: Some(vec![hostile.into(), "evil".into()]),
            }),
        ];
        for statement in statements.iter().chain(&delete_event(hostile)) {
            placeholders_match(statement);
            for value in [hostile, "evil", "a'", "DROP", ID] {
                assert!(
                    !statement.sql.contains(value),
                    "{value} in {}",
                    statement.sql
                );
            }
            assert!(!statement.sql.contains('\''.to_string().repeat(2).as_str()));
        }
    }

    #[test]
    fn globs_become_sqlite_globs_with_only_star_special() {
        assert_eq!(sqlite_glob("run.*"), "run.*");
        assert_eq!(sqlite_glob("*.deleted"), "*.deleted");
        assert_eq!(sqlite_glob("a?b[c]*"), "a[?]b[[]c]*");
        // An exact name is compared with `=`, not GLOB.
        let exact = list_events(&filter(&[("event", "run[1]?")]), None, 1);
        assert!(exact.sql.contains("event_name = ?1"));
        assert_eq!(exact.params[0], Param::Text("run[1]?".into()));
        let glob = list_events(&filter(&[("event", "run?*")]), None, 1);
        assert_eq!(glob.params[0], Param::Text("run[?]*".into()));
    }

    #[test]
    fn bodies_are_fetched_for_exactly_the_chosen_rows() {
        let statement = event_bodies(&filter(&[("run", "4")]), Some(&cursor(9)), &cursor(3));
        placeholders_match(&statement);
        assert!(statement
            .sql
            .starts_with("SELECT id, body FROM events WHERE run_id = ?1"));
        assert!(statement
            .sql
            .contains("received_at >= ?4 AND (received_at > ?4 OR id >= ?5) AND body_in_kv = 0"));
    }

    #[test]
    fn a_scope_narrows_every_query_to_its_projects() {
        let scoped = EventFilter {
            scope: Some(vec!["WEB".into(), "API".into()]),
            ..EventFilter::default()
        };
        for statement in [
            list_events(&scoped, None, 10),
            count_by_route(&scoped, None),
        ] {
            assert!(
                statement.sql.contains("project_code IN (?1, ?2)"),
                "{}",
                statement.sql
            );
            assert_eq!(
                &statement.params[..2],
                &[Param::from("WEB"), Param::from("API")]
            );
        }
        let dead = dead_letters(&DeadLetterQuery {
            scope: Some(vec!["WEB".into()]),
            limit: 1,
            ..DeadLetterQuery::default()
        });
        assert!(dead.sql.contains("e.project_code IN (?1)"), "{}", dead.sql);
        let stats = StatsQuery {
            scope: Some(vec!["WEB".into()]),
            ..stats_query(None)
        };
        assert!(stats_by_hour(&stats).sql.contains("project_code IN (?3)"));
        assert!(!list_events(&EventFilter::default(), None, 1)
            .sql
            .contains(" IN ("));
    }

    #[test]
    fn dead_letters_page_by_their_own_keyset() {
        let query = DeadLetterQuery {
            destination: Some("ci".into()),
            project: Some("WEB".into()),
            since: Some(1),
            until: Some(2),
            limit: 2,
            cursor: Some(Cursor {
                at: 5,
                id: ID.into(),
                destination: Some("ci".into()),
            }),
            scope: None,
        };
        let statement = dead_letters(&query);
        placeholders_match(&statement);
        for fragment in [
            "d.status = 'dead'",
            "d.destination = ?1",
            "e.project_code = ?2",
            "d.updated_at >= ?3",
            "d.updated_at < ?4",
            "d.updated_at <= ?5 AND (d.updated_at < ?5 OR d.event_id < ?6 \
             OR (d.event_id = ?6 AND d.destination < ?7))",
            "ORDER BY d.updated_at DESC, d.event_id DESC, d.destination DESC LIMIT ?8",
        ] {
            assert!(
                statement.sql.contains(fragment),
                "{fragment}: {}",
                statement.sql
            );
        }
        assert_eq!(statement.params[7], Param::Int(3));
        let bare = dead_letters(&DeadLetterQuery {
            limit: 50,
            ..DeadLetterQuery::default()
        });
        placeholders_match(&bare);
        assert_eq!(bare.params, vec![Param::Int(51)]);
    }

    #[test]
    fn a_dead_letter_replay_claims_the_row() {
        let one = dead_letters_of(ID, Some("ci"));
        placeholders_match(&one);
        assert!(one
            .sql
            .contains("d.event_id = ?1 AND d.status = 'dead' AND d.destination = ?2"));
        let all = dead_letters_of(ID, None);
        placeholders_match(&all);
        assert!(!all.sql.contains("d.destination ="));
        let claim = requeue_dead_letter(ID, "ci", 7);
        placeholders_match(&claim);
        assert!(claim
            .sql
            .starts_with("UPDATE deliveries SET status = 'retrying', attempts = 0"));
        assert!(claim.sql.ends_with("AND status = 'dead'"));
        let platform = requeue_dead_letter(ID, "_all", 7);
        assert!(platform.sql.starts_with("DELETE FROM deliveries"));
        assert!(platform.sql.ends_with("AND status = 'dead'"));
        placeholders_match(&restore_dead_letter(ID, "ci", 7));
    }

    #[test]
    fn bodies_in_kv_are_read_and_deleted_under_the_outcomes_key() {
        assert_eq!(
            body_keys(ID, EventStatus::Accepted),
            [layout::event_key(ID)]
        );
        assert_eq!(
            body_keys(ID, EventStatus::Quarantined),
            [layout::quarantine_key(ID), layout::event_key(ID)]
        );
        assert!(kv_keys_to_delete(ID, EventStatus::Accepted, false, false).is_empty());
        assert_eq!(
            kv_keys_to_delete(ID, EventStatus::Accepted, true, false),
            [layout::event_key(ID)]
        );
        assert_eq!(
            kv_keys_to_delete(ID, EventStatus::Quarantined, false, true),
            [layout::quarantine_key(ID), layout::event_key(ID)]
        );
    }

    #[test]
    fn event_statements_bind_the_id() {
        for statement in [event(ID), deliveries(ID)] {
            placeholders_match(&statement);
            assert_eq!(statement.params, vec![Param::Text(ID.into())]);
        }
        let [deliveries_first, then_event] = delete_event(ID);
        assert!(deliveries_first.sql.starts_with("DELETE FROM deliveries"));
        assert!(then_event.sql.starts_with("DELETE FROM events"));
        assert!(event(ID).sql.contains(", body FROM events"));
        let count = count_by_route(&filter(&[("outcome", "quarantined")]), Some(&cursor(1)));
        placeholders_match(&count);
        assert!(count.sql.contains("GROUP BY event_name, project_code"));
    }

    fn stats_query(project: Option<&str>) -> StatsQuery {
        StatsQuery {
            since: 1_700_000_000_000,
            until: 1_700_010_800_000,
            project: project.map(str::to_owned),
            scope: None,
        }
    }

    #[test]
    fn stats_queries_bucket_by_utc_hour() {
        let by_hour = stats_by_hour(&stats_query(Some("WEB")));
        placeholders_match(&by_hour);
        assert_eq!(
            by_hour.sql,
            "SELECT received_at / 3600000 AS hour, entity, COUNT(*) AS count FROM events \
             WHERE received_at >= ?1 AND received_at < ?2 AND project_code = ?3 \
             GROUP BY hour, entity ORDER BY hour, entity"
        );
        let by_name = stats_by_name(&stats_query(None));
        placeholders_match(&by_name);
        assert_eq!(by_name.params.len(), 2);
        assert!(by_name.sql.contains("GROUP BY event_name, outcome"));
    }

    #[test]
    fn stats_add_up_and_align_hours() {
        // 1_700_000_000 s is 22:13:20 UTC: the range touches 4 hours.
        let query = stats_query(None);
        let first = 1_700_000_000_000 / MS_PER_HOUR;
        let names = [
            NameCount {
                event_name: "run.completed".into(),
                outcome: EventStatus::Accepted,
                count: 3,
                duplicates: 2,
            },
            NameCount {
                event_name: "case.created".into(),
                outcome: EventStatus::Accepted,
                count: 4,
                duplicates: 0,
            },
            NameCount {
                event_name: "case.created".into(),
                outcome: EventStatus::Quarantined,
                count: 1,
                duplicates: 0,
            },
        ];
        let hours = [
            HourCount {
                hour: first,
                entity: "case".into(),
                count: 5,
            },
            HourCount {
                hour: first + 2,
                entity: "run".into(),
                count: 3,
            },
            // Outside the range (cannot happen): ignored, not a panic.
            HourCount {
                hour: first + 99,
                entity: "run".into(),
                count: 1,
            },
        ];
        let stats = stats(&query, &names, &hours);
        assert_eq!(
            stats.totals,
            Totals {
                events: 8,
                accepted: 7,
                quarantined: 1,
                duplicates: 2
            }
        );
        assert_eq!(stats.by_event[0].event_name, "case.created");
        assert_eq!(stats.by_event[0].totals.events, 5);
        assert_eq!(stats.by_event[1].totals.duplicates, 2);
        assert_eq!(stats.hours.len(), 4);
        assert_eq!(stats.hours[0], first * 3600);
        assert_eq!(stats.hours[0] % 3600, 0);
        assert_eq!(stats.by_hour, vec![5, 0, 3, 0]);
        assert_eq!(stats.by_entity_hour["case"], vec![5, 0, 0, 0]);
        assert_eq!(stats.by_entity_hour["run"], vec![0, 0, 3, 0]);
        assert_eq!((stats.since, stats.until), (1_700_000_000, 1_700_010_800));
        let json = serde_json::to_value(&stats).unwrap();
        assert_eq!(json["by_event"][0]["events"], 5);
        assert_eq!(json["totals"]["quarantined"], 1);
    }

    #[test]
    fn a_listed_event_has_every_column_but_the_body_and_its_old_status_name() {
        let mut event = row(1, 5, 10, false);
        event.body = Some("{}".into());
        let json = serde_json::to_value(crate::api::answers::EventSummary::from(&event)).unwrap();
        assert_eq!(json["status"], "accepted");
        assert_eq!(json["outcome"], "accepted");
        assert_eq!(json["run_id"], 1);
        assert_eq!(json["forward"], "queued");
        assert!(json.get("body").is_none());
        assert!(json.get("body_in_kv").is_none());
        assert_eq!(
            Subjects::default(),
            filter(&[]).subjects,
            "no id filter by default"
        );
    }

    #[test]
    fn an_event_is_described_in_words_and_anything_else_is_not() {
        let body = br#"{"event_name":"case.created","timestamp":1700000000,"payload":{"id":5,"title":"<img src=x onerror=alert(1)>"},"team_member_id":1,"project_code":"WEB"}"#;
        let described = describe(body, qase_webhooks::chat::DEFAULT_APP_URL).unwrap();
        assert_eq!(
            described.title.as_deref(),
            Some("<img src=x onerror=alert(1)>")
        );
        assert!(!described.headline.is_empty());
        assert_eq!(describe(b"not json", "https://app.qase.io"), None);
        assert_eq!(
            describe(br#"{"event_name":"case.created"}"#, "https://app.qase.io"),
            None
        );
    }
}
