//! Errors of the envelope step, and the JSON-kind vocabulary they use.
//! Payload errors live beside the payload models ([`crate::payload::PayloadError`]).

use std::fmt;

use serde_json::value::RawValue;
use thiserror::Error;

/// Why a body is not a valid Qase envelope.
///
/// The first three variants mean "not JSON at all" (HTTP 400 in the Worker);
/// the rest mean "JSON, but not a Qase envelope" (HTTP 422).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// The body is not UTF-8, which JSON requires.
    #[error("body is not valid UTF-8 (first bad byte at offset {byte_offset})")]
    InvalidUtf8 {
        /// Offset of the first byte that is not valid UTF-8.
        byte_offset: usize,
    },
    /// The body is not well-formed JSON.
    #[error("malformed JSON at line {line}, column {column}: {reason}")]
    Syntax {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// What the parser expected.
        reason: String,
    },
    /// The body is JSON, but its top level is not an object.
    #[error("body must be a JSON object with the Qase envelope fields")]
    NotAnObject,
    /// An envelope key appears twice, so its value would be ambiguous.
    #[error("duplicate field `{field}`")]
    DuplicateField {
        /// The repeated key.
        field: String,
    },
    /// A key equals an envelope key only when letter case is ignored
    /// (`PROJECT_CODE`): decoders that match keys case-insensitively would
    /// read it as that field, so the envelope is ambiguous.
    #[error("a key differs from `{field}` only in letter case; envelope keys are lower case and appear once")]
    CaseVariantKey {
        /// The envelope key it resembles.
        field: &'static str,
    },
    /// A required envelope field is absent.
    #[error("missing field `{field}`")]
    Missing {
        /// The absent field.
        field: &'static str,
    },
    /// An envelope field has the wrong JSON type.
    #[error("field `{field}` must be {expected}, found {found}")]
    WrongType {
        /// The field at fault.
        field: &'static str,
        /// What the field must be, e.g. "an integer".
        expected: &'static str,
        /// What was sent.
        found: JsonKind,
    },
    /// A string field is empty or blank.
    #[error("field `{field}` must not be empty")]
    Empty {
        /// The field at fault.
        field: &'static str,
    },
    /// A field has the right type but an unacceptable value.
    #[error("field `{field}` is out of range: {reason}")]
    OutOfRange {
        /// The field at fault.
        field: &'static str,
        /// Why the value is refused.
        reason: String,
    },
}

impl EnvelopeError {
    /// Whether the body failed before it was even JSON (as opposed to a JSON
    /// body that is not an envelope).
    pub fn is_syntax(&self) -> bool {
        matches!(
            self,
            EnvelopeError::InvalidUtf8 { .. } | EnvelopeError::Syntax { .. }
        )
    }

    /// The envelope field at fault, if there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            EnvelopeError::DuplicateField { field } => Some(field),
            EnvelopeError::Missing { field }
            | EnvelopeError::CaseVariantKey { field }
            | EnvelopeError::WrongType { field, .. }
            | EnvelopeError::Empty { field }
            | EnvelopeError::OutOfRange { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// The kind of a JSON value, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonKind {
    /// `null`
    Null,
    /// `true` or `false`
    Boolean,
    /// An integer literal.
    Number,
    /// A number with a fraction or an exponent.
    Float,
    /// A string.
    String,
    /// An array.
    Array,
    /// An object.
    Object,
}

impl JsonKind {
    /// The kind of an already-validated raw JSON value, read off its first byte.
    pub fn of(raw: &RawValue) -> JsonKind {
        match raw.get().as_bytes().first() {
            Some(b'n') => JsonKind::Null,
            Some(b't' | b'f') => JsonKind::Boolean,
            Some(b'"') => JsonKind::String,
            Some(b'[') => JsonKind::Array,
            Some(b'{') => JsonKind::Object,
            _ => JsonKind::Number,
        }
    }
}

impl fmt::Display for JsonKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            JsonKind::Null => "null",
            JsonKind::Boolean => "a boolean",
            JsonKind::Number => "a number",
            JsonKind::Float => "a non-integer number",
            JsonKind::String => "a string",
            JsonKind::Array => "an array",
            JsonKind::Object => "an object",
        })
    }
}

/// serde_json appends " at line L column C"; the error carries those apart.
pub(crate) fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}
