//! The KV layout, in one place. Pure, so it is tested on the host.
//!
//! | Key | Value | Metadata |
//! |---|---|---|
//! | `event/{id}` | the exact bytes received | [`EventMetadata`] |
//! | `quarantine/{id}` | the exact bytes received | [`EventMetadata`] with `reason` |
//! | `idx/{rev}/{id}` | empty | [`EventMetadata`]: every event, newest first |
//! | `idxp/{project}/{rev}/{id}` | empty | [`EventMetadata`]: one project's events, newest first |
//! | `seen/{id}` | empty | none; expires after the duplicate window |
//! | `delivery/{id}/{destination}` | empty | [`DeliveryState`] |
//! | `dead/{id}/{destination}` | the exact bytes received | dead-letter metadata |
//!
//! `{rev}` is `9999999999999 - received_at_ms`, zero-padded to 13 digits, so
//! that KV's ascending key order lists the newest first. Listings read only
//! keys and metadata, never values. Each key is written once per event (and
//! per attempt for `delivery/`, attempts being seconds apart), within KV's
//! one write per second per key. Every key but `seen/` carries the retention TTL.

use serde::{Deserialize, Serialize};

/// Prefix of accepted deliveries.
pub const EVENT: &str = "event/";
/// Prefix of quarantined deliveries.
pub const QUARANTINE: &str = "quarantine/";
/// Prefix of the all-projects index.
pub const INDEX: &str = "idx/";
/// Prefix of the per-project indexes.
pub const PROJECT_INDEX: &str = "idxp/";
/// Prefix of duplicate markers.
pub const SEEN: &str = "seen/";
/// Prefix of per-destination delivery states.
pub const DELIVERY: &str = "delivery/";
/// Prefix of dead letters.
pub const DEAD: &str = "dead/";

const REV_BASE: u64 = 9_999_999_999_999;

/// Metadata of stored events and index entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMetadata {
    /// The event name.
    pub event_name: String,
    /// The project code.
    pub project_code: String,
    /// When the Worker received it, in Unix milliseconds.
    pub received_at: u64,
    /// `accepted` or `quarantined`.
    pub status: String,
    /// Why it was quarantined (quarantine only, truncated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The state of an event's delivery to one destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryState {
    /// `delivered`, `retrying` or `dead`.
    pub status: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// The last HTTP status, if any.
    pub last_status: Option<u16>,
    /// The last failure, in words (truncated).
    pub last_error: Option<String>,
    /// When this state was recorded, in Unix milliseconds.
    pub at: u64,
}

fn rev(received_at: u64) -> String {
    format!("{:013}", REV_BASE.saturating_sub(received_at))
}

/// `event/{id}`.
pub fn event_key(id: &str) -> String {
    format!("{EVENT}{id}")
}

/// `quarantine/{id}`.
pub fn quarantine_key(id: &str) -> String {
    format!("{QUARANTINE}{id}")
}

/// `idx/{rev}/{id}`.
pub fn index_key(received_at: u64, id: &str) -> String {
    format!("{INDEX}{}/{id}", rev(received_at))
}

/// `idxp/{project}/{rev}/{id}`.
pub fn project_index_key(project: &str, received_at: u64, id: &str) -> String {
    format!("{PROJECT_INDEX}{project}/{}/{id}", rev(received_at))
}

/// The prefix listing one project's index.
pub fn project_index_prefix(project: &str) -> String {
    format!("{PROJECT_INDEX}{project}/")
}

/// `seen/{id}`.
pub fn seen_key(id: &str) -> String {
    format!("{SEEN}{id}")
}

/// `delivery/{id}/{destination}`.
pub fn delivery_key(id: &str, destination: &str) -> String {
    format!("{DELIVERY}{id}/{destination}")
}

/// `dead/{id}/{destination}`.
pub fn dead_key(id: &str, destination: &str) -> String {
    format!("{DEAD}{id}/{destination}")
}

/// The event id at the end of an index key, dead-letter key or delivery key.
pub fn id_in(key: &str) -> Option<&str> {
    key.split('/')
        .find(|part| part.starts_with(qase_webhooks::EVENT_ID_PREFIX))
}

/// The destination at the end of a `dead/` or `delivery/` key.
pub fn destination_in(key: &str) -> Option<&str> {
    key.rsplit_once('/').map(|(_, destination)| destination)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "evt_0123456789abcdef0123456789abcdef";

    #[test]
    fn index_keys_sort_newest_first() {
        let older = index_key(1_700_000_000_000, ID);
        let newer = index_key(1_700_000_000_001, ID);
        assert!(newer < older);
        let p_older = project_index_key("WEB", 5, ID);
        let p_newer = project_index_key("WEB", 6, ID);
        assert!(p_newer < p_older);
        assert!(p_newer.starts_with(&project_index_prefix("WEB")));
        assert!(!p_newer.starts_with(&project_index_prefix("WE")));
    }

    #[test]
    fn ids_and_destinations_are_read_back() {
        assert_eq!(id_in(&index_key(1, ID)), Some(ID));
        assert_eq!(id_in(&project_index_key("A/B", 1, ID)), Some(ID));
        assert_eq!(id_in(&dead_key(ID, "ci")), Some(ID));
        assert_eq!(destination_in(&dead_key(ID, "ci")), Some("ci"));
        assert_eq!(destination_in(&delivery_key(ID, "chat")), Some("chat"));
    }

    #[test]
    fn keys_stay_far_below_kvs_512_byte_limit() {
        let project = "P".repeat(qase_webhooks::MAX_PROJECT_CODE_LEN);
        assert!(project_index_key(&project, u64::MAX, ID).len() < 200);
        assert!(dead_key(ID, &"d".repeat(64)).len() < 200);
    }
}
