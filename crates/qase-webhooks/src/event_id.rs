//! Deterministic event ids derived from a delivery's raw bytes.
//!
//! Qase sends no delivery id, and a re-sent delivery is byte-identical, so
//! the bytes themselves are the identity: the id is `evt_` followed by the
//! first 128 bits of the SHA-256 of the raw body, in lowercase hex (36
//! characters in all). Two deliveries get the same id exactly when their
//! bodies are identical, byte for byte (128 bits make an accidental
//! collision negligible). A delivery that differs in anything, whitespace
//! included, is a different event. Use the id as an idempotency key downstream.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};
use thiserror::Error;

/// The id of one delivery. See the module docs for the scheme.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId([u8; 16]);

/// The text before the hex digits of an [`EventId`].
pub const EVENT_ID_PREFIX: &str = "evt_";

impl EventId {
    /// The id of the delivery whose raw body is `body`.
    ///
    /// ```
    /// use qase_webhooks::EventId;
    ///
    /// let id = EventId::of(b"{}");
    /// assert_eq!(id.to_string(), "evt_44136fa355b3678a1146ad16f7e8649e");
    /// assert_eq!(id.to_string().parse::<EventId>(), Ok(id));
    /// assert_ne!(EventId::of(b"{ }"), id); // any byte differs: another event
    /// ```
    pub fn of(body: &[u8]) -> EventId {
        let digest = Sha256::digest(body);
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
        EventId(id)
    }

    /// The id's 16 bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(EVENT_ID_PREFIX)?;
        for byte in self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({self})")
    }
}

/// A string that is not an [`EventId`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("not an event id: expected `evt_` followed by 32 lowercase hex digits")]
pub struct ParseEventIdError;

impl FromStr for EventId {
    type Err = ParseEventIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex = s.strip_prefix(EVENT_ID_PREFIX).ok_or(ParseEventIdError)?;
        if hex.len() != 32 {
            return Err(ParseEventIdError);
        }
        let mut id = [0u8; 16];
        for (byte, pair) in id.iter_mut().zip(hex.as_bytes().chunks(2)) {
            let digit = |c: u8| match c {
                b'0'..=b'9' => Ok(c - b'0'),
                b'a'..=b'f' => Ok(c - b'a' + 10),
                _ => Err(ParseEventIdError),
            };
            *byte = digit(pair[0])? << 4 | digit(pair[1])?;
        }
        Ok(EventId(id))
    }
}

impl serde::Serialize for EventId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_bytes_give_identical_ids() {
        let sent = br#"{"event_name":"run.completed"}"#;
        let resent = String::from_utf8(sent.to_vec()).unwrap();
        assert_eq!(EventId::of(sent), EventId::of(resent.as_bytes()));
    }

    #[test]
    fn any_difference_gives_another_id() {
        assert_ne!(EventId::of(b"{\"a\":1}"), EventId::of(b"{\"a\": 1}"));
    }

    #[test]
    fn the_scheme_is_a_truncated_sha256() {
        // SHA-256("") = e3b0c44298fc1c149afbf4c8996fb924...
        assert_eq!(
            EventId::of(b"").to_string(),
            "evt_e3b0c44298fc1c149afbf4c8996fb924"
        );
    }

    #[test]
    fn display_and_from_str_round_trip() {
        let id = EventId::of(b"hello");
        assert_eq!(id.to_string().parse::<EventId>(), Ok(id));
        assert_eq!(id.to_string().len(), 36);
    }

    #[test]
    fn malformed_ids_are_refused() {
        for text in [
            "",
            "evt_",
            "evt_zz",
            "e3b0c44298fc1c149afbf4c8996fb924",
            "evt_E3B0C44298FC1C149AFBF4C8996FB924",
            "evt_e3b0c44298fc1c149afbf4c8996fb9240",
        ] {
            assert_eq!(text.parse::<EventId>(), Err(ParseEventIdError), "{text}");
        }
    }
}
