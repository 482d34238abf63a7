//! Parameters of the operator API, parsed strictly: an unknown or malformed
//! parameter is a `400` naming it. Pure, so tested on the host.
//!
//! One filter ([`EventFilter`]) serves the listing, the export and the bulk
//! replay (whose JSON body takes the same names); the SQL it becomes is
//! [`crate::api::events`]'s. Pages are keyset pages: a [`Cursor`] is the last
//! row handed out, so rows that arrive meanwhile never shift a page.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use qase_webhooks::routing::Pattern;
use qase_webhooks::{EventId, Subjects, MAX_EVENT_NAME_LEN, MAX_PROJECT_CODE_LEN};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::store::layout::DeliveryStatus;
use crate::store::types::EventStatus;
use crate::text::must_be;

/// Default page size.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest page size.
pub const MAX_LIMIT: usize = 1000;
/// Default number of events an export call returns.
pub const DEFAULT_EXPORT_LIMIT: usize = 100;
/// Longest range `GET /api/stats` counts over, in seconds (31 days: 744
/// hourly buckets per entity at most).
pub const MAX_STATS_RANGE_SECONDS: u64 = 31 * 24 * 3600;
/// Largest id a filter takes: JavaScript's largest safe integer, since
/// parameters reach D1 as JavaScript numbers.
pub const MAX_ID: u64 = (1 << 53) - 1;

/// A parameter that is unknown or malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError {
    /// The parameter.
    pub param: String,
    /// What is wrong with it.
    pub problem: String,
}

fn bad(param: &str, problem: impl Into<String>) -> ParamError {
    ParamError {
        param: param.to_owned(),
        problem: problem.into(),
    }
}

/// Where a page ends: the sort key of the last row it returned. The next
/// page starts strictly after it, so rows that arrive meanwhile (newer, so
/// before it in newest-first order) neither repeat nor push a row out of
/// the next page. Opaque to clients: base64url of its JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cursor {
    /// The last row's time, in Unix milliseconds (`received_at`, or a dead
    /// letter's `updated_at`).
    #[serde(rename = "t")]
    pub at: u64,
    /// The last row's event id.
    #[serde(rename = "i")]
    pub id: String,
    /// The last row's destination (dead-letter pages only).
    #[serde(rename = "d", default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<String>,
}

/// Every cursor of the API in its one form: base64url (unpadded) of the
/// JSON of the last row's sort key. Opaque to clients.
pub fn encode_cursor<T: Serialize>(position: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(position).expect("cursors serialise"))
}

/// The sort key of a cursor [`encode_cursor`] made, or `None`; the caller
/// checks its parts.
pub fn decode_cursor<T: DeserializeOwned>(text: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    serde_json::from_slice(&bytes).ok()
}

impl Cursor {
    /// The cursor as the API hands it out.
    pub fn encode(&self) -> String {
        encode_cursor(self)
    }

    /// A cursor this API handed out, or `None`. Its parts are checked as
    /// strictly as parameters, since they are bound into queries.
    pub fn decode(text: &str) -> Option<Cursor> {
        let cursor: Cursor = decode_cursor(text)?;
        let fits = cursor.at <= MAX_ID
            && cursor.id.parse::<EventId>().is_ok()
            && cursor
                .destination
                .as_deref()
                .is_none_or(is_destination_or_all);
        fits.then_some(cursor)
    }
}

fn is_destination_or_all(name: &str) -> bool {
    crate::delivery::settings::is_destination_name(name)
        || name == crate::delivery::attempt::ALL_DESTINATIONS
}

/// Which events: every field narrows; none set is every event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only this project (exact code).
    pub project: Option<String>,
    /// Only events whose name matches this name or glob (`*` any run of
    /// characters, as in routing).
    pub event: Option<String>,
    /// Only accepted, or only quarantined, events.
    pub outcome: Option<EventStatus>,
    /// Received at or after, in Unix milliseconds.
    pub since: Option<u64>,
    /// Received before, in Unix milliseconds.
    pub until: Option<u64>,
    /// Only events whose payload names these ids (run, case, defect, plan,
    /// milestone).
    pub subjects: Subjects,
    /// Only events with a delivery to this destination.
    pub destination: Option<String>,
    /// Only events with a delivery in this state (to `destination`, if set).
    pub state: Option<DeliveryStatus>,
    /// Only the caller's projects ([`crate::api::auth::Scope`]): set by the
    /// shell from the credential, never from a parameter.
    pub scope: Option<Vec<String>>,
}

/// The filter's parameter names, for "unknown parameter" messages.
pub const FILTER_PARAMS: &str = "project, event, outcome (or status), since, until, run, case, \
                                 defect, plan, milestone, destination, state";

fn seconds_to_millis(param: &str, value: &str) -> Result<u64, ParamError> {
    value
        .parse::<u64>()
        .ok()
        .filter(|s| s.checked_mul(1000).is_some_and(|ms| ms <= MAX_ID))
        .map(|s| s * 1000)
        .ok_or_else(|| bad(param, "must be a Unix time in seconds"))
}

fn limit(value: &str, max: usize) -> Result<usize, ParamError> {
    match value.parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(bad(
            "limit",
            format!("must be a whole number from 1 to {max}"),
        )),
    }
}

/// A project code as the envelope admits it: 1 to 64 characters.
fn project(value: &str) -> Result<String, ParamError> {
    let length = value.chars().count();
    if !(1..=MAX_PROJECT_CODE_LEN).contains(&length) {
        return Err(bad(
            "project",
            format!("must be a project code of 1 to {MAX_PROJECT_CODE_LEN} characters"),
        ));
    }
    Ok(value.to_owned())
}

/// The longest `GLOB` pattern D1 runs: it refuses longer ones (as it
/// does `LIKE` patterns), so a longer glob could never be answered.
pub const MAX_GLOB_BYTES: usize = 50;

/// A routing glob (`*` any run of characters) as an SQLite `GLOB`
/// pattern: a run of `*` is one (it matches the same), and the other
/// special characters (`?`, `[`) are made literal. Both are
/// case-sensitive, as routing is.
pub fn sqlite_glob(pattern: &str) -> String {
    let mut glob = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        match c {
            '*' if glob.ends_with('*') => {}
            '?' => glob.push_str("[?]"),
            '[' => glob.push_str("[[]"),
            c => glob.push(c),
        }
    }
    glob
}

/// An event name or glob: a name no longer than an event name may be, a
/// glob (with `*`) no longer than D1 runs ([`MAX_GLOB_BYTES`]).
fn event_pattern(value: &str) -> Result<String, ParamError> {
    if value.chars().count() > MAX_EVENT_NAME_LEN {
        return Err(bad(
            "event",
            format!("must be at most {MAX_EVENT_NAME_LEN} characters"),
        ));
    }
    Pattern::new(value).ok_or_else(|| bad("event", "must not be empty"))?;
    if value.contains('*') && sqlite_glob(value).len() > MAX_GLOB_BYTES {
        return Err(bad(
            "event",
            format!(
                "a glob (with `*`) must be at most {MAX_GLOB_BYTES} bytes, with a run of `*` \
                 counted once and each `?` or `[` as 3 (D1's limit on patterns); an exact \
                 name may have up to {MAX_EVENT_NAME_LEN} characters"
            ),
        ));
    }
    Ok(value.to_owned())
}

fn id(param: &str, value: &str) -> Result<u64, ParamError> {
    value
        .parse::<u64>()
        .ok()
        .filter(|n| *n <= MAX_ID)
        .ok_or_else(|| bad(param, format!("must be a whole number from 0 to {MAX_ID}")))
}

fn destination(param: &str, value: &str) -> Result<String, ParamError> {
    if !is_destination_or_all(value) {
        return Err(bad(
            param,
            "must be a destination name: 1 to 64 letters, digits, `-` or `_`",
        ));
    }
    Ok(value.to_owned())
}

fn cursor(value: &str) -> Result<Cursor, ParamError> {
    Cursor::decode(value).ok_or_else(|| bad("cursor", "is not a cursor this API handed out"))
}

fn since_before_until(since: Option<u64>, until: Option<u64>) -> Result<(), ParamError> {
    match (since, until) {
        (Some(since), Some(until)) if since >= until => Err(bad("since", "must be before `until`")),
        _ => Ok(()),
    }
}

impl EventFilter {
    /// Takes `name = value` if `name` is a filter parameter: `Ok(false)`
    /// when it is not one, an error naming it when its value is wrong.
    pub fn take(&mut self, name: &str, value: &str) -> Result<bool, ParamError> {
        match name {
            "project" => self.project = Some(project(value)?),
            "event" => self.event = Some(event_pattern(value)?),
            // `status` is the name this parameter had before D1.
            "outcome" | "status" => {
                let outcome = EventStatus::parse(value);
                self.outcome =
                    Some(outcome.ok_or_else(|| bad(name, must_be(&EventStatus::NAMES)))?);
            }
            "since" => self.since = Some(seconds_to_millis(name, value)?),
            "until" => self.until = Some(seconds_to_millis(name, value)?),
            "run" => self.subjects.run = Some(id(name, value)?),
            "case" => self.subjects.case = Some(id(name, value)?),
            "defect" => self.subjects.defect = Some(id(name, value)?),
            "plan" => self.subjects.plan = Some(id(name, value)?),
            "milestone" => self.subjects.milestone = Some(id(name, value)?),
            "destination" => self.destination = Some(destination(name, value)?),
            "state" => {
                let state = DeliveryStatus::parse(value);
                self.state = Some(state.ok_or_else(|| bad(name, must_be(&DeliveryStatus::NAMES)))?);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Checks what no single parameter can: the range is not empty.
    pub fn check(&self) -> Result<(), ParamError> {
        since_before_until(self.since, self.until)
    }
}

/// `GET /api/events` and `GET /api/export` parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    /// Which events.
    pub filter: EventFilter,
    /// Page size.
    pub limit: usize,
    /// Where the previous page ended.
    pub cursor: Option<Cursor>,
}

impl ListQuery {
    /// Parses `GET /api/events`' query string pairs.
    pub fn parse(
        pairs: impl IntoIterator<Item = (String, String)>,
    ) -> Result<ListQuery, ParamError> {
        ListQuery::parse_with(pairs, DEFAULT_LIMIT)
    }

    /// Parses `GET /api/export`'s query string pairs.
    pub fn parse_export(
        pairs: impl IntoIterator<Item = (String, String)>,
    ) -> Result<ListQuery, ParamError> {
        ListQuery::parse_with(pairs, DEFAULT_EXPORT_LIMIT)
    }

    fn parse_with(
        pairs: impl IntoIterator<Item = (String, String)>,
        default_limit: usize,
    ) -> Result<ListQuery, ParamError> {
        let mut query = ListQuery {
            limit: default_limit,
            ..ListQuery::default()
        };
        for (name, value) in pairs {
            match name.as_str() {
                "limit" => query.limit = limit(&value, MAX_LIMIT)?,
                "cursor" => query.cursor = Some(cursor(&value)?),
                other => {
                    if !query.filter.take(other, &value)? {
                        return Err(bad(
                            other,
                            format!("unknown parameter (known: {FILTER_PARAMS}, limit, cursor)"),
                        ));
                    }
                }
            }
        }
        query.filter.check()?;
        Ok(query)
    }
}

/// `GET /api/dead-letters` parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetterQuery {
    /// Only dead letters of this destination.
    pub destination: Option<String>,
    /// Only dead letters of this project's events.
    pub project: Option<String>,
    /// Given up at or after, in Unix milliseconds.
    pub since: Option<u64>,
    /// Given up before, in Unix milliseconds.
    pub until: Option<u64>,
    /// Page size.
    pub limit: usize,
    /// Where the previous page ended.
    pub cursor: Option<Cursor>,
    /// Only the caller's projects (see [`EventFilter::scope`]).
    pub scope: Option<Vec<String>>,
}

impl DeadLetterQuery {
    /// Parses the query string's pairs.
    pub fn parse(
        pairs: impl IntoIterator<Item = (String, String)>,
    ) -> Result<DeadLetterQuery, ParamError> {
        let mut query = DeadLetterQuery {
            limit: DEFAULT_LIMIT,
            ..DeadLetterQuery::default()
        };
        for (name, value) in pairs {
            match name.as_str() {
                "destination" => query.destination = Some(destination(&name, &value)?),
                "project" => query.project = Some(project(&value)?),
                "since" => query.since = Some(seconds_to_millis(&name, &value)?),
                "until" => query.until = Some(seconds_to_millis(&name, &value)?),
                "limit" => query.limit = limit(&value, MAX_LIMIT)?,
                "cursor" => {
                    let cursor = cursor(&value)?;
                    if cursor.destination.is_none() {
                        return Err(bad("cursor", "is not a cursor of this listing"));
                    }
                    query.cursor = Some(cursor);
                }
                other => return Err(bad(
                    other,
                    "unknown parameter (known: destination, project, since, until, limit, cursor)",
                )),
            }
        }
        since_before_until(query.since, query.until)?;
        Ok(query)
    }
}

/// `GET /api/stats` parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsQuery {
    /// Received at or after, in Unix milliseconds.
    pub since: u64,
    /// Received before, in Unix milliseconds.
    pub until: u64,
    /// Only this project.
    pub project: Option<String>,
    /// Only the caller's projects (see [`EventFilter::scope`]).
    pub scope: Option<Vec<String>>,
}

impl StatsQuery {
    /// Parses the query string's pairs: `since` and `until` are required,
    /// at most [`MAX_STATS_RANGE_SECONDS`] apart.
    pub fn parse(
        pairs: impl IntoIterator<Item = (String, String)>,
    ) -> Result<StatsQuery, ParamError> {
        let (mut since, mut until, mut project_code) = (None, None, None);
        for (name, value) in pairs {
            match name.as_str() {
                "since" => since = Some(seconds_to_millis(&name, &value)?),
                "until" => until = Some(seconds_to_millis(&name, &value)?),
                "project" => project_code = Some(project(&value)?),
                other => {
                    return Err(bad(
                        other,
                        "unknown parameter (known: since, until, project)",
                    ))
                }
            }
        }
        let since = since.ok_or_else(|| bad("since", "is required (Unix seconds)"))?;
        let until = until.ok_or_else(|| bad("until", "is required (Unix seconds)"))?;
        since_before_until(Some(since), Some(until))?;
        if until - since > MAX_STATS_RANGE_SECONDS * 1000 {
            return Err(bad(
                "until",
                format!("must be at most {MAX_STATS_RANGE_SECONDS} seconds after `since`"),
            ));
        }
        Ok(StatsQuery {
            since,
            until,
            project: project_code,
            scope: None,
        })
    }
}

/// The body of `POST /api/replay`: a filter (the listing's names, values as
/// JSON strings or numbers), and what to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BulkReplayRequest {
    /// Which events.
    pub filter: EventFilter,
    /// Only these destinations; `None`: see [`BulkReplayRequest::targets`].
    pub destinations: Option<Vec<String>>,
    /// Count, send nothing.
    pub dry_run: bool,
    /// At most this many events this call.
    pub limit: usize,
    /// Where the previous call ended.
    pub cursor: Option<Cursor>,
}

/// Events a bulk replay call handles at most (and by default).
pub const MAX_BULK_REPLAY_EVENTS: usize = 500;

impl BulkReplayRequest {
    /// Parses the JSON body; an empty body is refused (replaying every
    /// stored event takes at least `{}`).
    pub fn parse(text: &str) -> Result<BulkReplayRequest, ParamError> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| bad("body", format!("must be a JSON object ({e})")))?;
        let serde_json::Value::Object(object) = value else {
            return Err(bad("body", "must be a JSON object"));
        };
        let mut request = BulkReplayRequest {
            limit: MAX_BULK_REPLAY_EVENTS,
            ..BulkReplayRequest::default()
        };
        for (name, value) in object {
            match (name.as_str(), value) {
                ("dry_run", serde_json::Value::Bool(dry_run)) => request.dry_run = dry_run,
                ("dry_run", _) => return Err(bad(&name, "must be true or false")),
                ("destinations", serde_json::Value::Array(items)) => {
                    let names = items
                        .iter()
                        .map(|item| match item.as_str() {
                            Some(text) if crate::delivery::settings::is_destination_name(text) => {
                                Ok(text.to_owned())
                            }
                            _ => Err(bad(&name, "must be a list of destination names")),
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    request.destinations = Some(names);
                }
                ("destinations", _) => {
                    return Err(bad(&name, "must be a list of destination names"))
                }
                (_, value) => {
                    let text = match &value {
                        serde_json::Value::String(text) => text.clone(),
                        serde_json::Value::Number(number) => number.to_string(),
                        _ => return Err(bad(&name, "must be a string or a number")),
                    };
                    match name.as_str() {
                        "limit" => request.limit = limit(&text, MAX_BULK_REPLAY_EVENTS)?,
                        "cursor" => request.cursor = Some(cursor(&text)?),
                        _ => {
                            if !request.filter.take(&name, &text)? {
                                return Err(bad(
                                    &name,
                                    format!(
                                        "unknown field (known: {FILTER_PARAMS}, destinations, \
                                         dry_run, limit, cursor)"
                                    ),
                                ));
                            }
                        }
                    }
                }
            }
        }
        request.filter.check()?;
        Ok(request)
    }

    /// The destinations to replay to: those named, else the filter's
    /// `destination` (replaying "what failed to reach `ci`" goes to `ci`,
    /// not again to the destinations that have it), else `None`: each
    /// event's matching ones.
    pub fn targets(&self) -> Option<Vec<String>> {
        self.destinations.clone().or_else(|| {
            self.filter
                .destination
                .clone()
                .filter(|d| d != crate::delivery::attempt::ALL_DESTINATIONS)
                .map(|d| vec![d])
        })
    }
}

/// The token of an `Authorization: Bearer <token>` value. The scheme is
/// case-insensitive (RFC 9110 §11.1), and spaces and tabs around the token
/// are not part of it (HTTP's optional whitespace, §5.6.3); any other
/// character, Unicode spaces included, is.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_matches([' ', '\t']).split_once([' ', '\t'])?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_matches([' ', '\t']))
}

/// The `destination` parameter of a dead-letter replay: a destination name
/// or the platform's `_all`; any other parameter is refused.
pub fn dead_letter_destination(pairs: Vec<(String, String)>) -> Result<Option<String>, ParamError> {
    let mut chosen = None;
    for (name, value) in pairs {
        if name != "destination" {
            return Err(ParamError {
                param: name,
                problem: "unknown parameter (known: destination)".into(),
            });
        }
        chosen = Some(destination(&name, &value)?);
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "evt_0123456789abcdef0123456789abcdef";

    fn pairs(query: &[(&str, &str)]) -> Vec<(String, String)> {
        query
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn parse(query: &[(&str, &str)]) -> Result<ListQuery, ParamError> {
        ListQuery::parse(pairs(query))
    }

    #[test]
    fn an_event_glob_is_refused_past_what_d1_runs_and_a_run_of_stars_is_one() {
        let take = |value: &str| EventFilter::default().take("event", value);
        // 51 stars are one star: the same filter, well within the limit.
        assert_eq!(sqlite_glob(&"*".repeat(51)), "*");
        assert!(take(&"*".repeat(51)).is_ok());
        let at_limit = format!("{}*", "a".repeat(MAX_GLOB_BYTES - 1));
        assert!(take(&at_limit).is_ok());
        let over = format!("{}*", "a".repeat(MAX_GLOB_BYTES));
        let error = take(&over).unwrap_err();
        assert_eq!(error.param, "event");
        assert!(
            error.problem.contains("at most 50 bytes"),
            "{}",
            error.problem
        );
        // Escaping counts: 17 `?` are 51 bytes of pattern.
        assert!(take(&format!("{}*", "?".repeat(17))).is_err());
        assert!(take(&format!("{}*", "?".repeat(16))).is_ok());
        // An exact name is compared with `=`, so the name's own limit holds.
        assert!(take(&"a".repeat(MAX_EVENT_NAME_LEN)).is_ok());
        assert!(take(&"a".repeat(MAX_EVENT_NAME_LEN + 1)).is_err());
    }

    #[test]
    fn filters_combine() {
        let query = parse(&[
            ("project", "WEB"),
            ("event", "run.*"),
            ("since", "1700000000"),
            ("until", "1800000000"),
            ("outcome", "quarantined"),
            ("run", "42"),
            ("case", "7"),
            ("defect", "8"),
            ("plan", "9"),
            ("milestone", "10"),
            ("destination", "ci"),
            ("state", "dead"),
            ("limit", "10"),
        ])
        .unwrap();
        let filter = &query.filter;
        assert_eq!(filter.project.as_deref(), Some("WEB"));
        assert_eq!(filter.event.as_deref(), Some("run.*"));
        assert_eq!(filter.since, Some(1_700_000_000_000));
        assert_eq!(filter.until, Some(1_800_000_000_000));
        assert_eq!(filter.outcome, Some(EventStatus::Quarantined));
        assert_eq!(
            filter.subjects,
            Subjects {
                run: Some(42),
                case: Some(7),
                defect: Some(8),
                plan: Some(9),
                milestone: Some(10),
            }
        );
        assert_eq!(filter.destination.as_deref(), Some("ci"));
        assert_eq!(filter.state, Some(DeliveryStatus::Dead));
        assert_eq!(query.limit, 10);
        assert_eq!(parse(&[]).unwrap().limit, DEFAULT_LIMIT);
        assert_eq!(
            ListQuery::parse_export(pairs(&[])).unwrap().limit,
            DEFAULT_EXPORT_LIMIT
        );
    }

    #[test]
    fn status_is_still_taken_for_outcome() {
        let query = parse(&[("status", "accepted")]).unwrap();
        assert_eq!(query.filter.outcome, Some(EventStatus::Accepted));
    }

    #[test]
    fn bad_parameters_are_named() {
        let long_project = "P".repeat(1000);
        let long_event = "e".repeat(129);
        for (query, param) in [
            (vec![("limit", "0")], "limit"),
            (vec![("limit", "5000")], "limit"),
            (vec![("since", "yesterday")], "since"),
            (vec![("since", "-1")], "since"),
            // Past JavaScript's safe integers once in milliseconds.
            (vec![("until", "9007199254740991")], "until"),
            (vec![("since", "20"), ("until", "10")], "since"),
            (vec![("since", "10"), ("until", "10")], "since"),
            (vec![("status", "lost")], "status"),
            (vec![("outcome", "Accepted")], "outcome"),
            (vec![("cursor", "!!")], "cursor"),
            (vec![("event", "")], "event"),
            (vec![("projct", "WEB")], "projct"),
            (vec![("project", "")], "project"),
            // Regression: a 1,000-character project answered 500.
            (vec![("project", long_project.as_str())], "project"),
            (vec![("event", long_event.as_str())], "event"),
            (vec![("run", "x")], "run"),
            (vec![("run", "-1")], "run"),
            (vec![("case", "1.5")], "case"),
            (vec![("defect", "9007199254740992")], "defect"),
            (vec![("plan", "")], "plan"),
            (vec![("milestone", "1e3")], "milestone"),
            (vec![("destination", "a/b")], "destination"),
            (vec![("destination", "")], "destination"),
            (vec![("state", "failed")], "state"),
        ] {
            assert_eq!(parse(&query).unwrap_err().param, param, "{query:?}");
        }
    }

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let cursor = Cursor {
            at: 1_700_000_000_123,
            id: ID.into(),
            destination: None,
        };
        let text = cursor.encode();
        assert_eq!(
            parse(&[("cursor", &text)]).unwrap().cursor,
            Some(cursor.clone())
        );
        let with_destination = Cursor {
            destination: Some("ci".into()),
            ..cursor
        };
        assert_eq!(
            Cursor::decode(&with_destination.encode()),
            Some(with_destination)
        );
        let forged = |json: &str| URL_SAFE_NO_PAD.encode(json);
        for text in [
            forged(r#"{"t":1,"i":"evt_1"}"#),
            forged(r#"{"t":-1,"i":"evt_0123456789abcdef0123456789abcdef"}"#),
            forged(r#"{"t":1,"i":"evt_0123456789abcdef0123456789abcdef","d":"a/b"}"#),
            forged(r#"{"t":1,"i":"evt_0123456789abcdef0123456789abcdef","x":1}"#),
            forged(r#"{"t":9007199254740992,"i":"evt_0123456789abcdef0123456789abcdef"}"#),
            forged("[]"),
            "evt".into(),
        ] {
            assert_eq!(Cursor::decode(&text), None, "{text}");
        }
    }

    #[test]
    fn dead_letter_parameters() {
        let query = DeadLetterQuery::parse(pairs(&[
            ("destination", "ci"),
            ("project", "WEB"),
            ("since", "10"),
            ("until", "20"),
            ("limit", "2"),
        ]))
        .unwrap();
        assert_eq!(query.destination.as_deref(), Some("ci"));
        assert_eq!(query.project.as_deref(), Some("WEB"));
        assert_eq!((query.since, query.until), (Some(10_000), Some(20_000)));
        assert_eq!(query.limit, 2);
        let events_cursor = Cursor {
            at: 1,
            id: ID.into(),
            destination: None,
        }
        .encode();
        for (query, param) in [
            (vec![("limit", "x")], "limit"),
            (vec![("destination", "a b")], "destination"),
            (vec![("state", "dead")], "state"),
            (vec![("since", "5"), ("until", "4")], "since"),
            (vec![("cursor", events_cursor.as_str())], "cursor"),
        ] {
            assert_eq!(
                DeadLetterQuery::parse(pairs(&query)).unwrap_err().param,
                param,
                "{query:?}"
            );
        }
    }

    #[test]
    fn stats_need_a_bounded_range() {
        let query = StatsQuery::parse(pairs(&[
            ("since", "3600"),
            ("until", "7200"),
            ("project", "W"),
        ]))
        .unwrap();
        assert_eq!(
            query,
            StatsQuery {
                since: 3_600_000,
                until: 7_200_000,
                project: Some("W".into()),
                scope: None,
            }
        );
        let too_long = (MAX_STATS_RANGE_SECONDS + 1).to_string();
        for (query, param) in [
            (vec![("until", "10")], "since"),
            (vec![("since", "10")], "until"),
            (vec![("since", "0"), ("until", too_long.as_str())], "until"),
            (vec![("since", "10"), ("until", "5")], "since"),
            (
                vec![("since", "1"), ("until", "5"), ("event", "x")],
                "event",
            ),
        ] {
            assert_eq!(
                StatsQuery::parse(pairs(&query)).unwrap_err().param,
                param,
                "{query:?}"
            );
        }
    }

    #[test]
    fn a_bulk_replay_body_is_a_filter_and_options() {
        let request = BulkReplayRequest::parse(
            r#"{"run": 42, "event": "run.*", "state": "dead", "destination": "ci",
                "destinations": ["ci"], "dry_run": true, "since": 1700000000, "limit": 3}"#,
        )
        .unwrap();
        assert_eq!(request.filter.subjects.run, Some(42));
        assert_eq!(request.filter.event.as_deref(), Some("run.*"));
        assert_eq!(request.filter.state, Some(DeliveryStatus::Dead));
        assert_eq!(request.filter.since, Some(1_700_000_000_000));
        assert_eq!(request.destinations, Some(vec!["ci".to_owned()]));
        assert!(request.dry_run);
        assert_eq!(request.limit, 3);
        assert_eq!(request.targets(), Some(vec!["ci".to_owned()]));
        let to_the_filters =
            BulkReplayRequest::parse(r#"{"destination": "ci", "state": "dead"}"#).unwrap();
        assert_eq!(to_the_filters.targets(), Some(vec!["ci".to_owned()]));
        let named_win =
            BulkReplayRequest::parse(r#"{"destination": "ci", "destinations": ["chat"]}"#).unwrap();
        assert_eq!(named_win.targets(), Some(vec!["chat".to_owned()]));
        let platform = BulkReplayRequest::parse(r#"{"destination": "_all"}"#).unwrap();
        assert_eq!(platform.targets(), None);
        let all = BulkReplayRequest::parse("{}").unwrap();
        assert_eq!(all.targets(), None);
        assert_eq!(all.filter, EventFilter::default());
        assert!(!all.dry_run);
        assert_eq!(all.limit, MAX_BULK_REPLAY_EVENTS);
        for (body, param) in [
            ("", "body"),
            ("[]", "body"),
            ("null", "body"),
            (r#"{"dry_run": "yes"}"#, "dry_run"),
            (r#"{"destinations": "ci"}"#, "destinations"),
            (r#"{"destinations": ["a/b"]}"#, "destinations"),
            (r#"{"run": "x"}"#, "run"),
            (r#"{"run": 1.5}"#, "run"),
            (r#"{"run": [1]}"#, "run"),
            (r#"{"colour": "red"}"#, "colour"),
            (r#"{"limit": 501}"#, "limit"),
            (r#"{"cursor": "x"}"#, "cursor"),
            (r#"{"since": 5, "until": 4}"#, "since"),
        ] {
            assert_eq!(
                BulkReplayRequest::parse(body).unwrap_err().param,
                param,
                "{body}"
            );
        }
    }

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
        // Only spaces and tabs are HTTP's whitespace: the rest stays.
        assert_eq!(bearer_token("Bearer t0ken\u{a0}"), Some("t0ken\u{a0}"));
        assert_eq!(bearer_token("Bearer t0ken\n"), Some("t0ken\n"));
        assert_eq!(bearer_token("\u{3000}Bearer t0ken"), None);
    }

    #[test]
    fn a_dead_letter_replay_takes_only_a_destination_name() {
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
