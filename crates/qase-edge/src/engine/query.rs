//! Query parameters of the operator API, parsed strictly: an unknown or
//! malformed parameter is a `400` naming it. Pure, so tested on the host.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use qase_webhooks::routing::Pattern;
use qase_webhooks::{MAX_EVENT_NAME_LEN, MAX_PROJECT_CODE_LEN};
use serde::{Deserialize, Serialize};

use crate::engine::layout::EventStatus;

/// Default page size.
pub const DEFAULT_LIMIT: usize = 50;
/// Largest page size (KV lists at most 1000 keys a call).
pub const MAX_LIMIT: usize = 1000;

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

/// Where a listing resumes: the KV cursor of the page it stopped in, and
/// how many keys of that page were already read. Opaque to clients.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Cursor {
    /// The KV cursor of the page (`None`: the first page).
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    pub kv: Option<String>,
    /// Keys of that page already read.
    #[serde(rename = "s", default)]
    pub skip: usize,
    /// Ids the last page returned that the next may repeat (see
    /// [`super::listing`]).
    #[serde(rename = "r", default, skip_serializing_if = "Vec::is_empty")]
    pub recent: Vec<String>,
}

impl Cursor {
    /// The cursor as the API hands it out.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).expect("cursors serialise"))
    }

    fn decode(text: &str) -> Option<Cursor> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

/// `GET /api/events` parameters.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// Only this project (exact code).
    pub project: Option<String>,
    /// Only events matching this pattern (globs as in routing).
    pub event: Option<Pattern>,
    /// Only events received at or after, in Unix milliseconds.
    pub since: Option<u64>,
    /// Only events received before, in Unix milliseconds.
    pub until: Option<u64>,
    /// Only events with this status.
    pub status: Option<EventStatus>,
    /// Page size.
    pub limit: usize,
    /// Where to resume.
    pub cursor: Cursor,
}

fn seconds_to_millis(param: &str, value: &str) -> Result<u64, ParamError> {
    value
        .parse::<u64>()
        .ok()
        .and_then(|s| s.checked_mul(1000))
        .ok_or_else(|| bad(param, "must be a Unix time in seconds"))
}

fn limit(value: &str) -> Result<usize, ParamError> {
    match value.parse::<usize>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(bad(
            "limit",
            format!("must be a whole number from 1 to {MAX_LIMIT}"),
        )),
    }
}

/// A project code as the envelope admits it: 1 to 64 characters.
fn project(value: String) -> Result<String, ParamError> {
    let length = value.chars().count();
    if !(1..=MAX_PROJECT_CODE_LEN).contains(&length) {
        return Err(bad(
            "project",
            format!("must be a project code of 1 to {MAX_PROJECT_CODE_LEN} characters"),
        ));
    }
    Ok(value)
}

/// An event name or glob, no longer than an event name may be.
fn event_pattern(value: &str) -> Result<Pattern, ParamError> {
    if value.chars().count() > MAX_EVENT_NAME_LEN {
        return Err(bad(
            "event",
            format!("must be at most {MAX_EVENT_NAME_LEN} characters"),
        ));
    }
    Pattern::new(value).ok_or_else(|| bad("event", "must not be empty"))
}

fn cursor(value: &str) -> Result<Cursor, ParamError> {
    Cursor::decode(value).ok_or_else(|| bad("cursor", "is not a cursor this API handed out"))
}

impl ListQuery {
    /// Parses the query string's pairs.
    pub fn parse(
        pairs: impl IntoIterator<Item = (String, String)>,
    ) -> Result<ListQuery, ParamError> {
        let mut query = ListQuery {
            limit: DEFAULT_LIMIT,
            ..ListQuery::default()
        };
        for (name, value) in pairs {
            match name.as_str() {
                "project" => query.project = Some(project(value)?),
                "event" => query.event = Some(event_pattern(&value)?),
                "since" => query.since = Some(seconds_to_millis("since", &value)?),
                "until" => query.until = Some(seconds_to_millis("until", &value)?),
                "status" => {
                    query.status = Some(match value.as_str() {
                        "accepted" => EventStatus::Accepted,
                        "quarantined" => EventStatus::Quarantined,
                        _ => return Err(bad("status", "must be `accepted` or `quarantined`")),
                    })
                }
                "limit" => query.limit = limit(&value)?,
                "cursor" => query.cursor = cursor(&value)?,
                other => {
                    return Err(bad(
                        other,
                        "unknown parameter (known: project, event, since, until, status, limit, cursor)",
                    ))
                }
            }
        }
        if let (Some(since), Some(until)) = (query.since, query.until) {
            if since >= until {
                return Err(bad("since", "must be before `until`"));
            }
        }
        Ok(query)
    }
}

/// `GET /api/dead-letters` parameters.
#[derive(Debug, Clone, Default)]
pub struct PageQuery {
    /// Page size.
    pub limit: usize,
    /// Where to resume.
    pub cursor: Cursor,
}

impl PageQuery {
    /// Parses the query string's pairs.
    pub fn parse(
        pairs: impl IntoIterator<Item = (String, String)>,
    ) -> Result<PageQuery, ParamError> {
        let mut query = PageQuery {
            limit: DEFAULT_LIMIT,
            ..PageQuery::default()
        };
        for (name, value) in pairs {
            match name.as_str() {
                "limit" => query.limit = limit(&value)?,
                "cursor" => query.cursor = cursor(&value)?,
                other => return Err(bad(other, "unknown parameter (known: limit, cursor)")),
            }
        }
        Ok(query)
    }
}

/// The token of an `Authorization: Bearer <token>` value. The scheme is
/// case-insensitive (RFC 9110 §11.1) and whitespace around the token is not
/// part of it.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once([' ', '\t'])?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_matches([' ', '\t']))
}

/// The `destination` parameter of a dead-letter replay: a destination name
/// or the platform's `_all`; any other parameter is refused.
pub fn dead_letter_destination(pairs: Vec<(String, String)>) -> Result<Option<String>, ParamError> {
    let mut destination = None;
    for (name, value) in pairs {
        if name != "destination" {
            return Err(ParamError {
                param: name,
                problem: "unknown parameter (known: destination)".into(),
            });
        }
        if !(super::config::is_destination_name(&value)
            || value == super::delivery::ALL_DESTINATIONS)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &[(&str, &str)]) -> Result<ListQuery, ParamError> {
        ListQuery::parse(query.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn filters_combine() {
        let query = parse(&[
            ("project", "WEB"),
            ("event", "run.*"),
            ("since", "1700000000"),
            ("until", "1800000000"),
            ("status", "quarantined"),
            ("limit", "10"),
        ])
        .unwrap();
        assert_eq!(query.project.as_deref(), Some("WEB"));
        assert!(query.event.unwrap().matches("run.completed"));
        assert_eq!(query.since, Some(1_700_000_000_000));
        assert_eq!(query.status, Some(EventStatus::Quarantined));
        assert_eq!(query.limit, 10);
    }

    #[test]
    fn bad_parameters_are_named() {
        for (query, param) in [
            (vec![("limit", "0")], "limit"),
            (vec![("limit", "5000")], "limit"),
            (vec![("since", "yesterday")], "since"),
            (vec![("since", "20"), ("until", "10")], "since"),
            (vec![("status", "lost")], "status"),
            (vec![("cursor", "!!")], "cursor"),
            (vec![("event", "")], "event"),
            (vec![("projct", "WEB")], "projct"),
            (vec![("project", "")], "project"),
            // Regression: a 1,000-character project answered 500.
            (vec![("project", &"P".repeat(1000))], "project"),
            (vec![("event", &"e".repeat(129))], "event"),
        ] {
            assert_eq!(parse(&query).unwrap_err().param, param, "{query:?}");
        }
    }

    #[test]
    fn cursors_round_trip() {
        let cursor = Cursor {
            kv: Some("abc".into()),
            skip: 7,
            recent: vec!["evt_0123456789abcdef0123456789abcdef".into()],
        };
        let text = cursor.encode();
        assert_eq!(parse(&[("cursor", &text)]).unwrap().cursor, cursor);
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
