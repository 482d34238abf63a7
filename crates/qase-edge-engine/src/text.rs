//! The text form of the engine's enums (states, outcomes, policies, sinks),
//! written once on each type with `text_form!`: its `as_str`, the `ALL`
//! and `NAMES` that parsing and error messages use, and its serde form,
//! which goes through them and writes and reads what `#[derive]` with
//! `rename_all = "snake_case"` did, with the same error messages.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, EnumAccess, VariantAccess, Visitor};
use serde::{Deserializer, Serializer};

/// Implements, for a fieldless enum, `ALL` (every variant, in the order
/// listed), `NAMES` (their texts, in that order), `as_str`, `parse` and
/// serde through them. The variants are listed as `Variant => "text"`;
/// the compiler checks the match covers every variant.
macro_rules! text_form {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $name {
            /// Every variant, in the order of [`Self::NAMES`].
            pub const ALL: [$name; [$($text),+].len()] = [$($name::$variant),+];
            /// Each variant's text, in the order of [`Self::ALL`].
            pub const NAMES: [&'static str; [$($text),+].len()] = [$($text),+];

            /// The text form: in stored rows and records, answers, log
            /// lines, settings and parameters.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The variant whose text is `text`.
            pub fn parse(text: &str) -> Option<$name> {
                $crate::text::parse(&Self::ALL, &Self::NAMES, text)
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                $crate::text::serialize(serializer, stringify!($name), &Self::NAMES, self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                $crate::text::deserialize(deserializer, stringify!($name), &Self::ALL, &Self::NAMES)
            }
        }
    };
}
pub(crate) use text_form;

/// The value of `all` whose text in `names` is `text`.
pub fn parse<T: Copy>(all: &[T], names: &[&str], text: &str) -> Option<T> {
    names.iter().position(|name| *name == text).map(|i| all[i])
}

/// The texts as a setting's or parameter's problem lists them: `` `a` ``,
/// `` `a` or `b` ``, `` `a`, `b` or `c` ``.
pub fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// The problem of a setting or parameter that is none of `names`.
pub fn must_be(names: &[&str]) -> String {
    format!("must be {}", one_of(names))
}

/// A unit variant, as `#[derive(Serialize)]` writes it.
pub fn serialize<S: Serializer>(
    serializer: S,
    name: &'static str,
    names: &'static [&'static str],
    text: &'static str,
) -> Result<S::Ok, S::Error> {
    let index = names.iter().position(|n| *n == text).unwrap_or(0);
    serializer.serialize_unit_variant(name, index as u32, text)
}

/// A unit variant, read as `#[derive(Deserialize)]` reads it: an enum
/// whose variant identifier is one of `names` (else serde's
/// `unknown variant` error).
pub fn deserialize<'de, D: Deserializer<'de>, T: Copy + 'static>(
    deserializer: D,
    name: &'static str,
    all: &'static [T],
    names: &'static [&'static str],
) -> Result<T, D::Error> {
    deserializer.deserialize_enum(name, names, Variant { name, all, names })
}

/// The visitor of the enum and the seed of its variant identifier.
struct Variant<T: 'static> {
    name: &'static str,
    all: &'static [T],
    names: &'static [&'static str],
}

impl<T> Clone for Variant<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Variant<T> {}

impl<'de, T: Copy> Visitor<'de> for Variant<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "enum {}", self.name)
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<T, A::Error> {
        let (value, variant) = data.variant_seed(Identifier(self, PhantomData))?;
        variant.unit_variant()?;
        Ok(value)
    }
}

/// The variant identifier of a [`Variant`].
struct Identifier<T: 'static>(Variant<T>, PhantomData<T>);

impl<'de, T: Copy> DeserializeSeed<'de> for Identifier<T> {
    type Value = T;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        deserializer.deserialize_identifier(self)
    }
}

impl<'de, T: Copy> Visitor<'de> for Identifier<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("variant identifier")
    }

    fn visit_u64<E: de::Error>(self, index: u64) -> Result<T, E> {
        let Variant { all, .. } = self.0;
        match usize::try_from(index).ok().and_then(|i| all.get(i)) {
            Some(value) => Ok(*value),
            None => Err(E::invalid_value(
                de::Unexpected::Unsigned(index),
                &format!("variant index 0 <= i < {}", all.len()).as_str(),
            )),
        }
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<T, E> {
        let Variant { all, names, .. } = self.0;
        parse(all, names, text).ok_or_else(|| E::unknown_variant(text, names))
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<T, E> {
        self.visit_str(&String::from_utf8_lossy(bytes))
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;

    /// What `text_form!` must stay equal to: serde's derive.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Derived {
        First,
        SecondOne,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Written {
        First,
        SecondOne,
    }

    text_form!(Written {
        First => "first",
        SecondOne => "second_one",
    });

    #[test]
    fn text_form_writes_and_reads_what_serde_derive_did() {
        for (written, derived) in [
            (Written::First, Derived::First),
            (Written::SecondOne, Derived::SecondOne),
        ] {
            let text = serde_json::to_string(&derived).unwrap();
            assert_eq!(serde_json::to_string(&written).unwrap(), text);
            assert_eq!(format!("\"{}\"", written.as_str()), text);
            assert_eq!(serde_json::from_str::<Written>(&text).unwrap(), written);
            let value = serde_json::to_value(derived).unwrap();
            assert_eq!(serde_json::from_value::<Written>(value).unwrap(), written);
        }
        for wrong in [
            r#""third""#,
            r#""First""#,
            "1",
            r#"{"first":1}"#,
            "null",
            "",
        ] {
            let derived = serde_json::from_str::<Derived>(wrong).unwrap_err();
            let written = serde_json::from_str::<Written>(wrong).unwrap_err();
            assert_eq!(written.to_string(), derived.to_string(), "{wrong}");
        }
        let value = serde_json::json!("third");
        let derived = serde_json::from_value::<Derived>(value.clone()).unwrap_err();
        let written = serde_json::from_value::<Written>(value).unwrap_err();
        assert_eq!(written.to_string(), derived.to_string());
    }

    #[test]
    fn parse_reads_each_text_and_nothing_else() {
        assert_eq!(Written::ALL.len(), Written::NAMES.len());
        for written in Written::ALL {
            assert_eq!(Written::parse(written.as_str()), Some(written));
        }
        assert_eq!(Written::parse("First"), None);
        assert_eq!(Written::parse(" first"), None);
    }

    #[test]
    fn the_problems_built_from_names_read_as_they_were_written() {
        use crate::ingest::settings::{AuthMode, LogDeliveries, PayloadPolicy};
        use crate::runs::state::RunStatus;
        use crate::store::layout::DeliveryStatus;
        use crate::store::settings::Sink;
        use crate::store::types::EventStatus;
        for (problem, was) in [
            (
                must_be(&AuthMode::NAMES),
                "must be `required` or `disabled`",
            ),
            (
                must_be(&PayloadPolicy::NAMES),
                "must be `quarantine` or `reject`",
            ),
            (
                must_be(&LogDeliveries::NAMES),
                "must be `all`, `refused` or `none`",
            ),
            (
                must_be(&EventStatus::NAMES),
                "must be `accepted` or `quarantined`",
            ),
            (
                must_be(&DeliveryStatus::NAMES),
                "must be `delivered`, `retrying` or `dead`",
            ),
            (
                must_be(&RunStatus::NAMES),
                "must be `unknown`, `started`, `completed` or `aborted`",
            ),
            (Sink::NAMES.join(", "), "d1, kv, queue"),
        ] {
            assert_eq!(problem, was);
        }
    }

    #[test]
    fn one_of_lists_the_texts_as_problems_do() {
        assert_eq!(one_of(&["a"]), "`a`");
        assert_eq!(one_of(&["a", "b"]), "`a` or `b`");
        assert_eq!(one_of(&["a", "b", "c"]), "`a`, `b` or `c`");
        assert_eq!(must_be(&Written::NAMES), "must be `first` or `second_one`");
    }
}
