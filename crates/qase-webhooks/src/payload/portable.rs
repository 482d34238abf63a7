//! Whether a payload can be read by any strict JSON parser downstream.
//!
//! JSON's grammar allows values that common parsers refuse: numbers outside
//! an `f64` (`1e400`), strings with a lone surrogate escape (`"\ud800"`,
//! no Unicode text), and nesting deeper than their recursion limit (128 in
//! serde_json). A payload with any of these would be forwarded only to end
//! in dead letters, so it does not fit, whatever its event: the check covers
//! every value, including the fields the typed models ignore.
//!
//! Most payloads are told portable from their bytes alone, in one scan
//! ([`surely_portable`]); the others are walked. The walk allocates
//! nothing: strings and keys are validated by the parser as it reads them
//! and then dropped; numbers are read as `f64`/`u64`/`i64`, which fails for
//! those out of range.

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
    if surely_portable(payload.get()) {
        return Ok(());
    }
    // Then the plain walk; only a failure pays for the second walk, which
    // tracks the path.
    if AnyValue
        .deserialize(&mut serde_json::Deserializer::from_str(payload.get()))
        .is_ok()
    {
        return Ok(());
    }
    locate(payload)
}

/// More digits in a row than this send a payload to the walk. Without an
/// exponent, a number whose integer part has at most this many digits is
/// below 10^300, well inside an `f64` (about 1.8 × 10^308).
const FAST_MAX_DIGITS: usize = 300;

/// More opening brackets than this send a payload to the walk: with at most
/// this many in all, nothing nests 128 levels deep.
const FAST_MAX_OPENERS: usize = 100;

/// Whether the payload's text (JSON: the envelope's parse has checked its
/// syntax, and it is UTF-8) surely holds none of what [`NotPortable`]
/// names, from its bytes alone, in one pass and without parsing:
///
/// - no `\u` escape: a lone surrogate can only be written as one, since
///   UTF-8 text holds no surrogates;
/// - no `e` or `E` after a digit (no number has an exponent), and no run of
///   more than [`FAST_MAX_DIGITS`] digits: every number is then in range;
/// - at most [`FAST_MAX_OPENERS`] `{` and `[` in all: nothing nests too deep.
///
/// It is conservative: bytes inside strings count too, so a title reading
/// `1e5` or `\\u`, or one full of brackets, only sends the payload to the
/// walk, which decides. `false` never means "not portable".
fn surely_portable(text: &str) -> bool {
    let mut openers = 0;
    let mut digits = 0;
    let mut previous = 0u8;
    for &byte in text.as_bytes() {
        match byte {
            b'0'..=b'9' => {
                digits += 1;
                if digits > FAST_MAX_DIGITS {
                    return false;
                }
            }
            b'e' | b'E' if previous.is_ascii_digit() => return false,
            b'u' if previous == b'\\' => return false,
            b'{' | b'[' => {
                openers += 1;
                if openers > FAST_MAX_OPENERS {
                    return false;
                }
                digits = 0;
            }
            _ => digits = 0,
        }
        previous = byte;
    }
    true
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

    /// What the walk alone says, without the scan.
    fn walked(json: &str) -> bool {
        AnyValue
            .deserialize(&mut serde_json::Deserializer::from_str(json))
            .is_ok()
    }

    #[test]
    fn ordinary_payloads_are_told_portable_without_a_walk() {
        let case = r#"{"id":12,"title":"Sign in","steps":[{"position":1,"action":"Open [the] page {x}","data":null}],"tags":["auth"],"priority":{"id":2,"title":"Medium"},"custom_fields":[],"created_at":"2026-11-28T10:00:00+00:00","ratio":0.75,"n":-3}"#;
        assert!(surely_portable(case));
        assert!(surely_portable(r#"{"id":1,"cases":3,"duration":1200}"#));
    }

    #[test]
    fn the_scan_leaves_every_suspect_payload_to_the_walk() {
        let long_number = format!(r#"{{"n":{}}}"#, "9".repeat(FAST_MAX_DIGITS + 1));
        let many_brackets = format!(
            r#"{{"a":{}{}}}"#,
            "[".repeat(FAST_MAX_OPENERS),
            "]".repeat(FAST_MAX_OPENERS)
        );
        for json in [
            r#"{"f":1e400}"#,
            r#"{"f":1.5E3}"#,
            r#"{"f":-2e-5}"#,
            r#"{"title":"x\ud800y"}"#,
            r#"{"k\udc00":1}"#,
            r#"{"title":"a\\u0041 backslash then u"}"#,
            &long_number,
            &many_brackets,
        ] {
            assert!(!surely_portable(json), "{json}");
        }
        let at_the_limits = format!(
            r#"{{"n":{},"a":{}{}}}"#,
            "9".repeat(FAST_MAX_DIGITS),
            "[".repeat(FAST_MAX_OPENERS - 1),
            "]".repeat(FAST_MAX_OPENERS - 1)
        );
        assert!(surely_portable(&at_the_limits));
        assert!(walked(&at_the_limits));
    }

    /// JSON text of every kind, with long digit runs, exponents, escapes
    /// and nesting: what the scan says "surely" of, the walk must accept.
    fn json_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let number = prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| format!("{f:?}")),
            (1usize..400).prop_map(|n| "9".repeat(n)),
            (1u32..999, any::<bool>())
                .prop_map(|(e, upper)| format!("1{}{e}", if upper { 'E' } else { 'e' })),
        ];
        let string = prop_oneof![
            "[a-z {}\\[\\]0-9eE.]{0,12}".prop_map(|s| format!("\"{s}\"")),
            prop_oneof![
                Just("\\ud800"),
                Just("\\u00e9"),
                Just("\\\\u"),
                Just("\\ud83d\\ude00")
            ]
            .prop_map(|e| format!("\"x{e}y\"")),
        ];
        let deep = (100usize..200).prop_map(|n| format!("{}{}", "[".repeat(n), "]".repeat(n)));
        let leaf = prop_oneof![
            number,
            string,
            deep,
            Just("null".to_owned()),
            Just("true".to_owned())
        ];
        leaf.prop_recursive(40, 400, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4)
                    .prop_map(|items| format!("[{}]", items.join(","))),
                proptest::collection::vec(("[a-z]{1,4}", inner), 0..4).prop_map(|fields| {
                    let fields: Vec<String> = fields
                        .into_iter()
                        .map(|(k, v)| format!("\"{k}\":{v}"))
                        .collect();
                    format!("{{{}}}", fields.join(","))
                }),
            ]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]
        #[test]
        fn what_the_scan_calls_portable_the_walk_accepts(json in json_text()) {
            if surely_portable(&json) {
                proptest::prop_assert!(walked(&json), "{}", json);
            }
        }
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
