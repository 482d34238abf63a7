//! Whether a payload can be read by any strict JSON parser downstream.
//!
//! JSON's grammar allows values that common parsers refuse: numbers outside
//! an `f64` (`1e400`), strings with a lone surrogate escape (`"\ud800"`,
//! no Unicode text), and nesting deeper than their recursion limit (128 in
//! serde_json). A payload with any of these would be forwarded only to end
//! in dead letters, so it does not fit, whatever its event: the check covers
//! every value, including the fields the typed models ignore.
//!
//! The walk allocates nothing: strings and keys are validated by the parser
//! as it reads them and then dropped; numbers are read as `f64`/`u64`/`i64`,
//! which fails for those out of range.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// Why a payload is not portable, without quoting any of its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotPortable {
    /// A number no `f64` can hold.
    NumberOutOfRange,
    /// A string or key with a lone surrogate escape.
    LoneSurrogate,
    /// Nesting deeper than strict parsers accept.
    TooDeep,
}

impl NotPortable {
    /// What is wrong, in words.
    pub fn reason(self) -> &'static str {
        match self {
            NotPortable::NumberOutOfRange => {
                "a number outside the range of a 64-bit float, which strict parsers refuse"
            }
            NotPortable::LoneSurrogate => {
                "a string with a lone surrogate escape (not Unicode text), which strict parsers refuse"
            }
            NotPortable::TooDeep => "nested deeper than 128 levels, which strict parsers refuse",
        }
    }
}

/// The first non-portable value in `payload`: its path (as
/// [`crate::PayloadError::field`] writes paths) and what is wrong.
pub(crate) fn check(payload: &RawValue) -> Result<(), (String, NotPortable)> {
    // The plain walk is the hot path; only a failure pays for the second
    // walk that tracks the path.
    if AnyValue
        .deserialize(&mut serde_json::Deserializer::from_str(payload.get()))
        .is_ok()
    {
        return Ok(());
    }
    locate(payload)
}

#[cold]
fn locate(payload: &RawValue) -> Result<(), (String, NotPortable)> {
    let mut deserializer = serde_json::Deserializer::from_str(payload.get());
    let mut track = serde_path_to_error::Track::new();
    let wrapped = serde_path_to_error::Deserializer::new(&mut deserializer, &mut track);
    let Err(error) = AnyValue.deserialize(wrapped) else {
        return Ok(());
    };
    let path = track.path().to_string();
    // serde_json's error codes, read off its stable messages.
    let message = error.to_string();
    let kind = if message.starts_with("number out of range") {
        NotPortable::NumberOutOfRange
    } else if message.starts_with("recursion limit exceeded") {
        NotPortable::TooDeep
    } else {
        NotPortable::LoneSurrogate
    };
    Err((path, kind))
}

/// Accepts any JSON value and keeps nothing of it.
#[derive(Clone, Copy)]
struct AnyValue;

impl<'de> DeserializeSeed<'de> for AnyValue {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

/// Keys: validated by the parser, then dropped.
struct AnyKey;

impl<'de> DeserializeSeed<'de> for AnyKey {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_str(AnyValue)
    }
}

impl<'de> Visitor<'de> for AnyValue {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(AnyValue)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(AnyKey)?.is_some() {
            map.next_value_seed(AnyValue)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(json: &str) -> Result<(), (String, NotPortable)> {
        check(&serde_json::from_str::<Box<RawValue>>(json).unwrap())
    }

    #[test]
    fn ordinary_payloads_are_portable() {
        for json in [
            r#"{"id":1,"title":"a \"quoted\" \u00e9 \ud83d\ude00","n":-5,"f":1.5e300}"#,
            r#"{"nested":{"list":[1,[2,[3]],null,true,{"k":"v"}]}}"#,
            r#"{"big":18446744073709551615,"neg":-9223372036854775808,"more":1e308}"#,
        ] {
            assert_eq!(verdict(json), Ok(()), "{json}");
        }
    }

    #[test]
    fn out_of_range_numbers_are_named_with_their_path() {
        assert_eq!(
            verdict(r#"{"id":1,"steps":[{"x":1},{"x":1e400}]}"#),
            Err(("steps[1].x".to_owned(), NotPortable::NumberOutOfRange))
        );
        let huge_integer = format!(r#"{{"n":{}}}"#, "9".repeat(400));
        assert_eq!(
            verdict(&huge_integer),
            Err(("n".to_owned(), NotPortable::NumberOutOfRange))
        );
    }

    #[test]
    fn lone_surrogates_in_values_and_keys_are_named() {
        assert_eq!(
            verdict(r#"{"a":{"title":"x\ud800y"}}"#),
            Err(("a.title".to_owned(), NotPortable::LoneSurrogate))
        );
        assert_eq!(
            verdict(r#"{"a":["\udc00"]}"#),
            Err(("a[0]".to_owned(), NotPortable::LoneSurrogate))
        );
        assert!(matches!(
            verdict(r#"{"k\ud800":1}"#),
            Err((_, NotPortable::LoneSurrogate))
        ));
    }

    #[test]
    fn nesting_past_strict_parsers_limits_is_named() {
        let deep = format!(r#"{{"a":{}{}}}"#, "[".repeat(200), "]".repeat(200));
        assert!(matches!(verdict(&deep), Err((_, NotPortable::TooDeep))));
        let fine = format!(r#"{{"a":{}{}}}"#, "[".repeat(100), "]".repeat(100));
        assert_eq!(verdict(&fine), Ok(()));
    }
}
