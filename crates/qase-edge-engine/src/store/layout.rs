//! The KV layout, in one place: keys, the metadata records stored with them,
//! and the store's limits, respected by construction. Pure, so it is tested
//! on the host. The history lives in D1 ([`crate::store::d1`]); KV holds bytes.
//!
//! | Key | Value | Metadata |
//! |---|---|---|
//! | `event/{id}` | the exact bytes received | [`EventMetadata`]: the kv sink, or a body too large for a D1 row |
//! | `quarantine/{id}` | the exact bytes received | [`EventMetadata`] with `reason` |
//! | `seen/{id}` | empty | none; expires after the duplicate window (without D1) |
//! | `rescue/{id}` | the exact bytes received | [`RescueMetadata`]: what a failed D1 write (or, without D1, a failed queue send) left for the sweep |
//!
//! Written by versions before D1, read only by [`crate::store::migrate_kv`] (they
//! expire with their TTL): `delivery/{id}/{destination}` with a
//! [`DeliveryState`], `dead/{id}/{destination}` with the bytes and a
//! [`DeadLetterMetadata`] (the destination percent-encoded, [`key_segment`]),
//! and the listing indexes `idx/…`, `idxp/…`, which nothing reads any more.
//! Keys are read back by position ([`event_child`]), never by searching for
//! a shape. Every key but `seen/` and `rescue/` carries the retention TTL.
//!
//! Limits: KV keys are at most 512 bytes and metadata at most
//! [`KV_METADATA_LIMIT`] bytes of JSON. Every key is far below the first (its
//! parts are bounded: ids have a fixed length, project codes at most 64
//! characters, destination names 64 ASCII bytes); every metadata record is
//! made through [`fit`], which cuts its free-text fields, measured as they
//! will be written (after JSON escaping), on a character boundary.

use std::borrow::Cow;

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet};
use serde::{Deserialize, Serialize};

use crate::store::types::{EventStatus, Forward};
use crate::text::text_form;

/// Prefix of accepted deliveries.
pub const EVENT: &str = "event/";
/// Prefix of quarantined deliveries.
pub const QUARANTINE: &str = "quarantine/";
/// Prefix of duplicate markers.
pub const SEEN: &str = "seen/";
/// Prefix of events waiting for the sweep.
pub const RESCUE: &str = "rescue/";
/// Prefix of per-destination delivery states.
pub const DELIVERY: &str = "delivery/";
/// Prefix of dead letters.
pub const DEAD: &str = "dead/";

/// Workers KV's largest metadata, in bytes of serialised JSON.
pub const KV_METADATA_LIMIT: usize = 1024;

/// Metadata of events stored in KV.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMetadata {
    /// The event name.
    pub event_name: String,
    /// The project code.
    pub project_code: String,
    /// When the Worker received it, in Unix milliseconds.
    pub received_at: u64,
    /// Accepted or quarantined.
    pub status: EventStatus,
    /// Why it was quarantined (quarantine only, cut to fit; the log has its kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl EventMetadata {
    /// The metadata of an event, `reason` cut to fit KV's limit.
    pub fn new(
        event_name: &str,
        project_code: &str,
        received_at: u64,
        reason: Option<&str>,
    ) -> EventMetadata {
        fit(EventMetadata {
            event_name: event_name.to_owned(),
            project_code: project_code.to_owned(),
            received_at,
            status: match reason {
                Some(_) => EventStatus::Quarantined,
                None => EventStatus::Accepted,
            },
            reason: reason.map(str::to_owned),
        })
    }
}

/// What the sweep needs, besides the body (which has the envelope), to
/// record an event found under `rescue/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RescueMetadata {
    /// When the Worker received it, in Unix milliseconds.
    pub received_at: u64,
    /// `pending` when its routes send it to the queue (the sweep records it
    /// so and sends it; the consumer's claim keeps a second copy from being
    /// forwarded), else `none`.
    pub forward: Forward,
    /// Why it was quarantined (cut to fit), if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl RescueMetadata {
    /// The record, `reason` cut to fit KV's limit.
    pub fn new(received_at: u64, forward: Forward, reason: Option<&str>) -> RescueMetadata {
        fit(RescueMetadata {
            received_at,
            forward,
            reason: reason.map(str::to_owned),
        })
    }
}

impl Fit for RescueMetadata {
    fn texts(&mut self) -> Vec<&mut String> {
        self.reason.iter_mut().collect()
    }
}

/// Where an event's delivery to one destination stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// The destination answered `2xx`.
    Delivered,
    /// An attempt failed; another is scheduled.
    Retrying,
    /// Failed for good; a dead letter holds it.
    Dead,
}

// Also the `deliveries.status` column value.
text_form!(DeliveryStatus {
    Delivered => "delivered",
    Retrying => "retrying",
    Dead => "dead",
});

/// The state of an event's delivery to one destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryState {
    /// Delivered, retrying or dead.
    pub status: DeliveryStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// The last HTTP status, if any.
    pub last_status: Option<u16>,
    /// The last failure, in words (cut to fit).
    pub last_error: Option<String>,
    /// When this state was recorded, in Unix milliseconds.
    pub at: u64,
}

impl DeliveryState {
    /// A delivery state, `last_error` cut to fit KV's limit.
    pub fn new(
        status: DeliveryStatus,
        attempts: u32,
        last_status: Option<u16>,
        last_error: Option<&str>,
        at: u64,
    ) -> DeliveryState {
        fit(DeliveryState {
            status,
            attempts,
            last_status,
            last_error: last_error.map(str::to_owned),
            at,
        })
    }
}

/// What a dead letter's KV metadata records; written by the dead-letter
/// consumer, read by the operator API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterMetadata {
    /// The event name (cut to fit only in the extreme case of a long
    /// unknown name; the stored body has it whole).
    pub event_name: String,
    /// The project code.
    pub project_code: String,
    /// When the event was received, in Unix milliseconds.
    pub received_at: u64,
    /// The destination it failed to reach.
    pub destination: String,
    /// Attempts made.
    pub attempts: u32,
    /// The last HTTP status, if any.
    pub last_status: Option<u16>,
    /// The last failure, in words (cut to fit).
    pub last_error: Option<String>,
    /// Why it was given up (cut to fit).
    pub reason: String,
    /// When it was given up, in Unix milliseconds.
    pub dead_at: u64,
}

impl DeadLetterMetadata {
    /// The record, its texts cut to fit KV's limit.
    pub fn fitted(self) -> DeadLetterMetadata {
        fit(self)
    }
}

/// A metadata record whose free-text fields can be cut to fit.
pub trait Fit: Serialize {
    /// The texts that may be cut, the first to be cut first.
    fn texts(&mut self) -> Vec<&mut String>;
}

impl Fit for EventMetadata {
    fn texts(&mut self) -> Vec<&mut String> {
        self.reason.iter_mut().collect()
    }
}

impl Fit for DeliveryState {
    fn texts(&mut self) -> Vec<&mut String> {
        self.last_error.iter_mut().collect()
    }
}

impl Fit for DeadLetterMetadata {
    fn texts(&mut self) -> Vec<&mut String> {
        let mut texts: Vec<&mut String> = self.last_error.iter_mut().collect();
        texts.push(&mut self.reason);
        texts.push(&mut self.event_name);
        texts
    }
}

/// Serialised length of `value`, as KV will measure it.
pub fn json_len(value: &impl Serialize) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |bytes| bytes.len())
}

/// `value` with its texts cut, first ones first, until its JSON fits in
/// [`KV_METADATA_LIMIT`]. The bounds on every other field (see the module
/// docs) leave room for that; a test checks the worst cases.
pub fn fit<T: Fit>(mut value: T) -> T {
    loop {
        let len = json_len(&value);
        if len <= KV_METADATA_LIMIT {
            return value;
        }
        let excess = len - KV_METADATA_LIMIT;
        let mut texts = value.texts();
        let Some(text) = texts.iter_mut().find(|text| !text.is_empty()) else {
            return value;
        };
        cut_escaped(text, excess);
    }
}

/// Bytes `c` takes once JSON-escaped, as serde_json writes it.
fn escaped_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\u{8}' | '\u{c}' | '\n' | '\r' | '\t' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// Removes characters from the end of `text` until at least `excess` bytes
/// of its escaped form are gone (or it is empty): always on a character
/// boundary, and measured after escaping.
fn cut_escaped(text: &mut String, excess: usize) {
    let mut removed = 0;
    while removed < excess {
        match text.pop() {
            Some(c) => removed += escaped_len(c),
            None => return,
        }
    }
}

/// What [`key_segment`] escapes: `%` and `/` only, as since the first
/// version, so keys already stored keep their bytes. (The crate always
/// escapes non-ASCII bytes too; the segments are destination names, ASCII
/// by [`crate::delivery::settings::is_destination_name`].)
const KEY_SEGMENT: &AsciiSet = &AsciiSet::EMPTY.add(b'%').add(b'/');

/// A user-controlled value as one key segment: `%` and `/` percent-encoded,
/// so it contains no `/` and decodes to exactly one value.
pub fn key_segment(value: &str) -> Cow<'_, str> {
    utf8_percent_encode(value, KEY_SEGMENT).into()
}

/// `event/{id}`.
pub fn event_key(id: &str) -> String {
    format!("{EVENT}{id}")
}

/// `quarantine/{id}`.
pub fn quarantine_key(id: &str) -> String {
    format!("{QUARANTINE}{id}")
}

/// `rescue/{id}`.
pub fn rescue_key(id: &str) -> String {
    format!("{RESCUE}{id}")
}

/// `seen/{id}`.
pub fn seen_key(id: &str) -> String {
    format!("{SEEN}{id}")
}

/// `delivery/{id}/{destination}`.
pub fn delivery_key(id: &str, destination: &str) -> String {
    format!("{}{}", delivery_prefix(id), key_segment(destination))
}

/// The prefix of one event's delivery states: `delivery/{id}/`.
pub fn delivery_prefix(id: &str) -> String {
    format!("{DELIVERY}{id}/")
}

/// `dead/{id}/{destination}`.
pub fn dead_key(id: &str, destination: &str) -> String {
    format!("{}{}", dead_prefix(id), key_segment(destination))
}

/// The prefix of one event's dead letters: `dead/{id}/`.
pub fn dead_prefix(id: &str) -> String {
    format!("{DEAD}{id}/")
}

fn is_event_id(text: &str) -> bool {
    text.parse::<qase_webhooks::EventId>().is_ok()
}

/// The event id and destination of a `{prefix}{id}/{destination}` key
/// (`prefix` [`DEAD`] or [`DELIVERY`]), read by position.
pub fn event_child<'k>(prefix: &str, key: &'k str) -> Option<(&'k str, String)> {
    let rest = key.strip_prefix(prefix)?;
    let (id, destination) = rest.split_once('/')?;
    if !is_event_id(id) || destination.is_empty() || destination.contains('/') {
        return None;
    }
    let destination = percent_decode_str(destination).decode_utf8_lossy();
    Some((id, destination.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "evt_0123456789abcdef0123456789abcdef";
    /// Workers KV's largest key, in bytes.
    const KV_KEY_LIMIT: usize = 512;

    /// The hand-written escape of the first versions, which wrote the keys
    /// already stored.
    fn old_key_segment(value: &str) -> String {
        value.replace('%', "%25").replace('/', "%2F")
    }

    #[test]
    fn key_segments_keep_the_bytes_of_old_keys_and_old_keys_decode() {
        let ascii: String = (0u8..128).map(char::from).collect();
        for value in [ascii.as_str(), "ci", "a/b%", "%2F", "%25", "/%/", ""] {
            assert_eq!(key_segment(value), old_key_segment(value), "{value:?}");
            let old = format!("{DEAD}{ID}/{}", old_key_segment(value));
            if !value.is_empty() {
                assert_eq!(event_child(DEAD, &old), Some((ID, value.to_owned())));
            }
        }
    }

    #[test]
    fn destinations_are_read_back_by_position() {
        assert_eq!(
            event_child(DEAD, &dead_key(ID, "ci")),
            Some((ID, "ci".to_owned()))
        );
        assert_eq!(
            event_child(DELIVERY, &delivery_key(ID, "a/b%")),
            Some((ID, "a/b%".to_owned()))
        );
        assert!(dead_key(ID, "ci").starts_with(&dead_prefix(ID)));
        assert_eq!(event_child(DEAD, &delivery_key(ID, "ci")), None);
        assert_eq!(event_child(DEAD, "dead/evt_1/ci"), None);
    }

    #[test]
    fn keys_stay_below_kvs_limit_in_the_worst_case() {
        // Only ids (fixed length) and destination names (64 ASCII bytes at
        // most, each at most 3 bytes once encoded) go into keys.
        assert!(dead_key(ID, &"/".repeat(64)).len() < KV_KEY_LIMIT);
        assert!(rescue_key(ID).len() < KV_KEY_LIMIT);
        assert!(dead_key(ID, &"d".repeat(64)).len() < 200);
    }

    /// The widest values the envelope admits: names of 4-byte characters,
    /// and project codes of characters JSON escapes.
    fn widest_name() -> String {
        "\u{1F600}".repeat(qase_webhooks::MAX_EVENT_NAME_LEN)
    }

    fn widest_project() -> String {
        "\u{1F600}".repeat(qase_webhooks::MAX_PROJECT_CODE_LEN)
    }

    #[test]
    fn a_reason_that_grows_when_escaped_is_cut_to_fit() {
        // Regression: 300 `"` in a value made a 600-byte reason that escaping
        // pushed past 1,024 bytes, and every retry was answered 503.
        let reason = format!("invalid type: string {:?}", "\"".repeat(300));
        for (name, project) in [
            ("run.deleted".to_owned(), "DEMO".to_owned()),
            (widest_name(), widest_project()),
            (widest_name(), "\"".repeat(64)),
        ] {
            let metadata = EventMetadata::new(&name, &project, u64::MAX, Some(&reason));
            assert!(json_len(&metadata) <= KV_METADATA_LIMIT);
            let kept = metadata.reason.unwrap();
            assert!(reason.starts_with(&kept) && !kept.is_empty());
            assert_eq!(metadata.event_name, name, "names are never cut here");
            assert_eq!(metadata.status, EventStatus::Quarantined);
        }
        // Control characters escape to six bytes each.
        let controls = "\u{1}".repeat(2000);
        let metadata = EventMetadata::new("x", "P", 0, Some(&controls));
        assert!(json_len(&metadata) <= KV_METADATA_LIMIT);
        assert!(json_len(&metadata) > KV_METADATA_LIMIT - 6);
        // A short reason is kept whole.
        let metadata = EventMetadata::new("x", "P", 0, Some("short"));
        assert_eq!(metadata.reason.as_deref(), Some("short"));
    }

    #[test]
    fn delivery_states_and_dead_letters_fit_in_the_worst_case() {
        let error = "é\"\n".repeat(2000);
        let state = DeliveryState::new(
            DeliveryStatus::Dead,
            u32::MAX,
            Some(599),
            Some(&error),
            u64::MAX,
        );
        assert!(json_len(&state) <= KV_METADATA_LIMIT);
        let dead = DeadLetterMetadata {
            event_name: widest_name(),
            project_code: widest_project(),
            received_at: u64::MAX,
            destination: "d".repeat(64),
            attempts: u32::MAX,
            last_status: Some(599),
            last_error: Some(error.clone()),
            reason: error,
            dead_at: u64::MAX,
        }
        .fitted();
        assert!(json_len(&dead) <= KV_METADATA_LIMIT, "{}", json_len(&dead));
        assert_eq!(dead.project_code, widest_project());
        // Ordinary names are kept whole: only the texts are cut.
        let dead = DeadLetterMetadata {
            event_name: "run.completed".into(),
            project_code: "DEMO".into(),
            received_at: 1,
            destination: "ci".into(),
            attempts: 5,
            last_status: Some(500),
            last_error: Some("x".repeat(5000)),
            reason: "retries exhausted".into(),
            dead_at: 2,
        }
        .fitted();
        assert_eq!(dead.event_name, "run.completed");
        assert_eq!(dead.reason, "retries exhausted");
        assert!(json_len(&dead) <= KV_METADATA_LIMIT);
    }
}
