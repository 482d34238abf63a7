//! The envelope every Qase delivery shares, parsed strictly from the raw
//! bytes, with errors that name the field and the problem.
//!
//! The payload is kept as raw JSON here; [`Envelope::event`] is the second
//! step that types it by `event_name` (see [`crate::payload`]).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::error::{strip_position, EnvelopeError, JsonKind};
use crate::event_name::EventName;
use crate::payload::{Event, PayloadError};

/// The largest integer accepted for `timestamp` and `team_member_id`:
/// JavaScript's `Number.MAX_SAFE_INTEGER`, so that no consumer of the stored
/// JSON (a Worker, a browser, jq) silently rounds it.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// Longest accepted `event_name`, in characters (Unicode scalar values, as
/// JSON Schema's `maxLength` counts). Qase's longest is 30; the bound keeps
/// storage keys and log lines small whatever a caller sends.
pub const MAX_EVENT_NAME_LEN: usize = 128;

/// Longest accepted `project_code`, in characters (Unicode scalar values, as
/// JSON Schema's `maxLength` counts), so at most 4 × 64 = 256 bytes of UTF-8.
/// Qase's codes are 2 to 10 characters; the bound keeps storage keys well
/// under KV's 512-byte limit.
pub const MAX_PROJECT_CODE_LEN: usize = 64;

/// The envelope's keys. A key that equals one of these only when letter case
/// is ignored (`PROJECT_CODE`) is refused: decoders that match keys without
/// regard to case (Go's `encoding/json`) would read it instead of, or as well
/// as, the real one.
pub const ENVELOPE_KEYS: [&str; 5] = [
    "event_name",
    "timestamp",
    "payload",
    "team_member_id",
    "project_code",
];

/// A Qase delivery's envelope, borrowing its payload from the raw body.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    /// The event, e.g. `run.completed`; unknown names are kept verbatim.
    pub event_name: EventName,
    /// When the event happened, in Unix seconds (as in every Qase example).
    pub timestamp: u64,
    /// The event's payload, a JSON object, exactly as sent.
    pub payload: &'a RawValue,
    /// Who triggered the event; `0` for a non-member such as an automation token.
    pub team_member_id: u64,
    /// The project the event happened in, e.g. `DEMO`.
    pub project_code: String,
}

/// The envelope fields as raw JSON, so each can be checked with its own error.
/// Unknown fields are ignored: Qase may add some. `None` means absent; an
/// explicit `null` is kept as a value so that it can be reported as such.
/// The first problem with the keys themselves (a repeated key, or one that
/// differs from an envelope key only in case) is kept apart from serde's
/// errors, so that it is reported as a typed [`EnvelopeError`].
#[derive(Default)]
struct RawEnvelope<'a> {
    fields: [Option<&'a RawValue>; 5],
    key_problem: Option<EnvelopeError>,
}

impl<'a> RawEnvelope<'a> {
    fn get(&self, key: &str) -> Option<&'a RawValue> {
        let index = ENVELOPE_KEYS.iter().position(|k| *k == key)?;
        self.fields[index]
    }
}

impl<'de> Deserialize<'de> for RawEnvelope<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(EnvelopeVisitor)
    }
}

struct EnvelopeVisitor;

impl<'de> serde::de::Visitor<'de> for EnvelopeVisitor {
    type Value = RawEnvelope<'de>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
        let mut raw = RawEnvelope::default();
        // Keys are read as `Cow` so that an escaped key (`"project\u005fcode"`)
        // is compared by its value, as every decoder downstream will read it.
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match ENVELOPE_KEYS.iter().position(|k| *k == key) {
                Some(index) => {
                    let value = map.next_value::<&'de RawValue>()?;
                    if raw.fields[index].replace(value).is_some() {
                        raw.key_problem
                            .get_or_insert(EnvelopeError::DuplicateField {
                                field: ENVELOPE_KEYS[index].to_owned(),
                            });
                    }
                }
                None => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                    if let Some(known) = case_variant_of(&key) {
                        raw.key_problem
                            .get_or_insert(EnvelopeError::CaseVariantKey { field: known });
                    }
                }
            }
        }
        Ok(raw)
    }
}

/// The envelope key that `key` equals when case is ignored, by the simple
/// case folding Go's `encoding/json` uses (so `ſ`, the long s, folds to `s`
/// and the Kelvin sign `K` to `k`). `None` for an exact envelope key and for
/// every other key.
fn case_variant_of(key: &str) -> Option<&'static str> {
    fn fold(c: char) -> char {
        match c {
            '\u{17F}' => 's',
            '\u{212A}' => 'k',
            // Simple folding: a character whose lower case is one character.
            c => {
                let mut lower = c.to_lowercase();
                match (lower.next(), lower.next()) {
                    (Some(single), None) => single,
                    _ => c,
                }
            }
        }
    }
    ENVELOPE_KEYS.iter().copied().find(|known| {
        key != *known
            && key.chars().count() == known.len()
            && key.chars().map(fold).eq(known.chars())
    })
}

impl<'a> Envelope<'a> {
    /// Parses and validates an envelope from a delivery's raw body.
    ///
    /// Rejects invalid UTF-8 and malformed JSON (with line and column), a
    /// body that is not an object, duplicate envelope keys, and any envelope
    /// field that is missing, of the wrong type, empty or out of range.
    ///
    /// This does not check the secret: a receiver calls it through
    /// [`Credential::admit`](crate::Credential::admit), which does.
    ///
    /// ```
    /// use qase_webhooks::{Envelope, EnvelopeError};
    ///
    /// let body = br#"{"event_name":"run.completed","timestamp":1700000000,
    ///     "payload":{"id":7,"cases":3,"passed":3,"failed":0,"blocked":0,"duration":42},
    ///     "team_member_id":12,"project_code":"DEMO"}"#;
    /// let envelope = Envelope::parse(body).unwrap();
    /// assert_eq!(envelope.project_code, "DEMO");
    /// let payload = r#"{"id":7,"cases":3,"passed":3,"failed":0,"blocked":0,"duration":42}"#;
    /// assert_eq!(envelope.payload.get(), payload); // exactly as sent
    ///
    /// let error = Envelope::parse(br#"{"event_name":"run.completed"}"#).unwrap_err();
    /// assert_eq!(error.field(), Some("timestamp"));
    /// assert!(matches!(error, EnvelopeError::Missing { .. }));
    /// ```
    pub fn parse(body: &'a [u8]) -> Result<Envelope<'a>, EnvelopeError> {
        let text = std::str::from_utf8(body).map_err(|err| EnvelopeError::InvalidUtf8 {
            byte_offset: err.valid_up_to(),
        })?;
        let mut raw: RawEnvelope<'a> =
            serde_json::from_str(text).map_err(|err| classify(text, err))?;
        // serde also reads a struct from an array, so check the root explicitly.
        if !is_object(text) {
            return Err(EnvelopeError::NotAnObject);
        }

        if let Some(problem) = raw.key_problem.take() {
            return Err(problem);
        }

        let event_name = string_field("event_name", raw.get("event_name"), MAX_EVENT_NAME_LEN)?;
        let timestamp = integer_field("timestamp", raw.get("timestamp"))?;
        let payload = required("payload", raw.get("payload"))?;
        if JsonKind::of(payload) != JsonKind::Object {
            return Err(EnvelopeError::WrongType {
                field: "payload",
                expected: "an object",
                found: JsonKind::of(payload),
            });
        }
        let team_member_id = integer_field("team_member_id", raw.get("team_member_id"))?;
        let project_code = string_field(
            "project_code",
            raw.get("project_code"),
            MAX_PROJECT_CODE_LEN,
        )?;

        Ok(Envelope {
            event_name: EventName::parse(&event_name),
            timestamp,
            payload,
            team_member_id,
            project_code: project_code.into_owned(),
        })
    }

    /// Types the payload by `event_name` (the second step of the dispatch).
    ///
    /// ```
    /// use qase_webhooks::{Envelope, Event};
    ///
    /// let body = br#"{"event_name":"run.completed","timestamp":1700000000,
    ///     "payload":{"id":7,"cases":3,"passed":3,"failed":0,"blocked":0,"duration":42},
    ///     "team_member_id":12,"project_code":"DEMO"}"#;
    /// let envelope = Envelope::parse(body).unwrap();
    /// let Event::RunCompleted(run) = envelope.event().unwrap() else { panic!() };
    /// assert_eq!((run.id, run.passed), (7, 3));
    ///
    /// // An event this version does not know is a value, not an error.
    /// let later = Envelope::parse(br#"{"event_name":"run.exploded","timestamp":1,
    ///     "payload":{"id":1},"team_member_id":0,"project_code":"DEMO"}"#).unwrap();
    /// assert!(matches!(later.event(), Ok(Event::Unknown { name, .. }) if name == "run.exploded"));
    ///
    /// // A known event whose payload does not fit names the field.
    /// let broken = Envelope::parse(br#"{"event_name":"run.completed","timestamp":1,
    ///     "payload":{"id":"seven"},"team_member_id":0,"project_code":"DEMO"}"#).unwrap();
    /// assert_eq!(broken.event().unwrap_err().field, "id");
    /// ```
    pub fn event(&self) -> Result<Event, PayloadError> {
        Event::parse(&self.event_name, self.payload)
    }
}

/// Splits serde_json's errors into "not JSON" and "JSON, but not an envelope".
fn classify(text: &str, err: serde_json::Error) -> EnvelopeError {
    use serde_json::error::Category;
    match err.classify() {
        Category::Syntax | Category::Eof | Category::Io => EnvelopeError::Syntax {
            line: err.line(),
            column: err.column(),
            reason: strip_position(&err.to_string()),
        },
        Category::Data => {
            // The raw fields accept any JSON value and key problems are kept
            // apart, so a data error is a root that is not an object; the
            // object visitor stops at its first byte, so whether the rest is
            // JSON at all is asked apart (`[[[` unclosed is a syntax error).
            if !is_object(text) {
                return match serde_json::from_str::<&RawValue>(text) {
                    Ok(_) => EnvelopeError::NotAnObject,
                    Err(err) => EnvelopeError::Syntax {
                        line: err.line(),
                        column: err.column(),
                        reason: strip_position(&err.to_string()),
                    },
                };
            }
            EnvelopeError::Syntax {
                line: err.line(),
                column: err.column(),
                reason: strip_position(&err.to_string()),
            }
        }
    }
}

/// Whether valid JSON text is an object (JSON whitespace is these four).
fn is_object(text: &str) -> bool {
    text.trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{')
}

fn required<'a>(
    field: &'static str,
    value: Option<&'a RawValue>,
) -> Result<&'a RawValue, EnvelopeError> {
    value.ok_or(EnvelopeError::Missing { field })
}

fn string_field<'a>(
    field: &'static str,
    value: Option<&'a RawValue>,
    max_len: usize,
) -> Result<Cow<'a, str>, EnvelopeError> {
    let raw = required(field, value)?;
    // Borrowed when the string has no escapes, which is the usual case.
    let value: Cow<'a, str> = match serde_json::from_str::<&'a str>(raw.get()) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => Cow::Owned(serde_json::from_str::<String>(raw.get()).map_err(|_| {
            match JsonKind::of(raw) {
                // A JSON string that is no Unicode text (a lone surrogate escape).
                JsonKind::String => EnvelopeError::OutOfRange {
                    field,
                    reason: "is not valid Unicode (a lone surrogate escape)".to_owned(),
                },
                found => EnvelopeError::WrongType {
                    field,
                    expected: "a string",
                    found,
                },
            }
        })?),
    };
    if value.trim().is_empty() {
        return Err(EnvelopeError::Empty { field });
    }
    if value.chars().count() > max_len {
        return Err(EnvelopeError::OutOfRange {
            field,
            reason: format!("longer than {max_len} characters"),
        });
    }
    if value.chars().any(char::is_control) {
        return Err(EnvelopeError::OutOfRange {
            field,
            reason: "contains control characters".to_owned(),
        });
    }
    Ok(value)
}

fn integer_field(field: &'static str, value: Option<&RawValue>) -> Result<u64, EnvelopeError> {
    let raw = required(field, value)?;
    let text = raw.get();
    if JsonKind::of(raw) != JsonKind::Number {
        return Err(EnvelopeError::WrongType {
            field,
            expected: "an integer",
            found: JsonKind::of(raw),
        });
    }
    let is_integer_literal = text.bytes().all(|b| b.is_ascii_digit() || b == b'-');
    if !is_integer_literal {
        return Err(EnvelopeError::WrongType {
            field,
            expected: "an integer",
            found: JsonKind::Float,
        });
    }
    if text.starts_with('-') {
        return Err(EnvelopeError::OutOfRange {
            field,
            reason: "must not be negative".to_owned(),
        });
    }
    match text.parse::<u64>() {
        Ok(n) if n <= MAX_SAFE_INTEGER => Ok(n),
        _ => Err(EnvelopeError::OutOfRange {
            field,
            reason: format!("larger than {MAX_SAFE_INTEGER}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"event_name":"run.completed","timestamp":1700000000,
        "payload":{"id":1},"team_member_id":0,"project_code":"DEMO"}"#;

    fn with(field: &str, value: &str) -> String {
        let mut map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(GOOD).unwrap();
        map.remove(field);
        let mut body = serde_json::to_string(&map).unwrap();
        body.pop();
        format!("{body},\"{field}\":{value}}}")
    }

    fn without(field: &str) -> String {
        let mut map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(GOOD).unwrap();
        map.remove(field);
        serde_json::to_string(&map).unwrap()
    }

    fn err(body: &str) -> EnvelopeError {
        Envelope::parse(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn parses_a_well_formed_envelope_and_keeps_the_payload_bytes() {
        let envelope = Envelope::parse(GOOD.as_bytes()).unwrap();
        assert_eq!(envelope.event_name, EventName::RunCompleted);
        assert_eq!(envelope.timestamp, 1_700_000_000);
        assert_eq!(envelope.payload.get(), r#"{"id":1}"#);
        assert_eq!(envelope.team_member_id, 0);
        assert_eq!(envelope.project_code, "DEMO");
    }

    #[test]
    fn unknown_top_level_fields_are_tolerated() {
        let body = with("extra", r#"{"anything":[1,2]}"#);
        assert!(Envelope::parse(body.as_bytes()).is_ok());
    }

    #[test]
    fn every_field_is_required() {
        for field in [
            "event_name",
            "timestamp",
            "payload",
            "team_member_id",
            "project_code",
        ] {
            assert_eq!(
                err(&without(field)),
                EnvelopeError::Missing { field },
                "{field}"
            );
        }
    }

    #[test]
    fn wrong_types_name_the_field_and_what_was_found() {
        let cases = [
            ("event_name", "1", "a string", JsonKind::Number),
            ("event_name", "null", "a string", JsonKind::Null),
            (
                "timestamp",
                "\"1700000000\"",
                "an integer",
                JsonKind::String,
            ),
            ("timestamp", "1700000000.5", "an integer", JsonKind::Float),
            ("timestamp", "1.7e9", "an integer", JsonKind::Float),
            ("payload", "[]", "an object", JsonKind::Array),
            ("payload", "null", "an object", JsonKind::Null),
            ("team_member_id", "true", "an integer", JsonKind::Boolean),
            ("project_code", "{}", "a string", JsonKind::Object),
        ];
        for (field, value, expected, found) in cases {
            assert_eq!(
                err(&with(field, value)),
                EnvelopeError::WrongType {
                    field,
                    expected,
                    found
                },
                "{field}={value}"
            );
        }
    }

    #[test]
    fn integers_must_be_non_negative_and_safe() {
        for (field, value) in [
            ("timestamp", "-1"),
            ("team_member_id", "-5"),
            ("timestamp", "9007199254740992"),
            ("team_member_id", "18446744073709551616"),
        ] {
            assert!(
                matches!(err(&with(field, value)), EnvelopeError::OutOfRange { field: f, .. } if f == field),
                "{field}={value}"
            );
        }
        assert!(Envelope::parse(with("timestamp", "9007199254740991").as_bytes()).is_ok());
    }

    #[test]
    fn strings_must_be_non_empty_short_and_printable() {
        assert_eq!(
            err(&with("project_code", "\"\"")),
            EnvelopeError::Empty {
                field: "project_code"
            }
        );
        assert_eq!(
            err(&with("event_name", "\"  \"")),
            EnvelopeError::Empty {
                field: "event_name"
            }
        );
        let long = format!("\"{}\"", "A".repeat(MAX_PROJECT_CODE_LEN + 1));
        assert!(matches!(
            err(&with("project_code", &long)),
            EnvelopeError::OutOfRange { .. }
        ));
        assert!(matches!(
            err(&with("project_code", "\"A\\nB\"")),
            EnvelopeError::OutOfRange { .. }
        ));
    }

    #[test]
    fn a_lone_surrogate_escape_is_out_of_range_not_a_wrong_type() {
        assert!(matches!(
            err(&with("event_name", r#""\ud800""#)),
            EnvelopeError::OutOfRange {
                field: "event_name",
                ..
            }
        ));
    }

    #[test]
    fn malformed_json_reports_line_and_column() {
        let error = err("{\n  \"event_name\": \"run.completed\",\n  oops\n}");
        assert!(
            matches!(
                error,
                EnvelopeError::Syntax {
                    line: 3,
                    column: 3,
                    ..
                }
            ),
            "{error:?}"
        );
        assert!(matches!(err(""), EnvelopeError::Syntax { .. }));
        assert!(matches!(err("   "), EnvelopeError::Syntax { .. }));
        assert!(matches!(
            err(&format!("{GOOD} x")),
            EnvelopeError::Syntax { .. }
        ));
    }

    #[test]
    fn a_body_that_is_not_an_object_is_named_so() {
        for body in ["[]", "1", "\"x\"", "null", "true"] {
            assert_eq!(err(body), EnvelopeError::NotAnObject, "{body}");
        }
        // Not JSON at all stays a syntax error, however it starts.
        for body in [
            "[[[",
            "[1,",
            "\"x",
            "nul",
            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
        ] {
            assert!(matches!(err(body), EnvelopeError::Syntax { .. }), "{body}");
        }
    }

    #[test]
    fn duplicate_envelope_keys_are_rejected() {
        let body = with("project_code", "\"A\",\"project_code\":\"B\"");
        assert_eq!(
            err(&body),
            EnvelopeError::DuplicateField {
                field: "project_code".into()
            }
        );
    }

    #[test]
    fn a_key_that_differs_from_an_envelope_key_only_in_case_is_refused() {
        let cases = [
            ("PROJECT_CODE", "project_code"),
            ("Project_Code", "project_code"),
            ("EVENT_NAME", "event_name"),
            ("Payload", "payload"),
            // Go folds the long s and the Kelvin sign too.
            ("time\u{17F}tamp", "timestamp"),
            ("TEAM_MEMBER_ID", "team_member_id"),
        ];
        for (key, field) in cases {
            let body = with(key, "\"B\"");
            assert_eq!(err(&body), EnvelopeError::CaseVariantKey { field }, "{key}");
        }
        // Other keys, even similar ones, are still ignored.
        for key in ["project_codes", "projectcode", "PROJECT"] {
            assert!(Envelope::parse(with(key, "1").as_bytes()).is_ok(), "{key}");
        }
    }

    #[test]
    fn an_escaped_envelope_key_is_the_key_it_spells() {
        // `project\u005fcode` is `project_code`, so beside the real one it is a repeat.
        let body = with("project\\u005fcode", "\"B\"");
        assert_eq!(
            err(&body),
            EnvelopeError::DuplicateField {
                field: "project_code".into()
            }
        );
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        let widest = format!("\"{}\"", "\u{1F600}".repeat(MAX_PROJECT_CODE_LEN));
        let body = with("project_code", &widest);
        let envelope = Envelope::parse(body.as_bytes()).unwrap();
        assert_eq!(envelope.project_code.len(), 4 * MAX_PROJECT_CODE_LEN);
        let too_long = format!("\"{}\"", "\u{e9}".repeat(MAX_PROJECT_CODE_LEN + 1));
        assert!(matches!(
            err(&with("project_code", &too_long)),
            EnvelopeError::OutOfRange {
                field: "project_code",
                ..
            }
        ));
    }

    #[test]
    fn invalid_utf8_reports_the_offset() {
        let mut body = GOOD.as_bytes().to_vec();
        body[20] = 0xff;
        assert_eq!(
            Envelope::parse(&body).unwrap_err(),
            EnvelopeError::InvalidUtf8 { byte_offset: 20 }
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        // At the root: not an object, however deep.
        assert_eq!(err(&deep(100_000)), EnvelopeError::NotAnObject);
        // Inside the payload: the envelope keeps it raw; typing skips the
        // unknown key without recursing and names what is really missing.
        let body = with("payload", &format!("{{\"extra\":{}}}", deep(100_000)));
        let envelope = Envelope::parse(body.as_bytes()).unwrap();
        let error = envelope.event().unwrap_err();
        assert_eq!(error.event, EventName::RunCompleted);
        assert_eq!(error.field, "id", "{error}");
    }
}
