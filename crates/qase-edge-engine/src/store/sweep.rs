//! The cron sweep (`[triggers] crons` in wrangler.toml): what brings every
//! acknowledged delivery back to where it belongs after a store failed.
//! Pure; `qase_edge::store::sweep` carries it out.
//!
//! 1. **Rescue.** A `rescue/{id}` KV key holds what a failed D1 write (or,
//!    without D1, a failed queue send) left behind. With D1 it is inserted
//!    ([`d1::rescue_insert`], a no-op when the consumer recorded it
//!    first) and, when its routes send it to the queue (`pending`), sent:
//!    the queue may have taken the ingest's own message too, and the
//!    consumer's claim forwards whichever comes first. Without D1 it is
//!    sent. Then the key is deleted.
//! 2. **Re-drive.** Rows still `pending` after `QASE_REDRIVE_AFTER_SECONDS`
//!    were not taken by the consumer (the queue send failed): sent again,
//!    in one batch. The consumer's claim makes a late original harmless.
//! 3. **Retention.** Rows older than `QASE_RETENTION_SECONDS`, their
//!    delivery states, and the KV copies of bodies too large for a row.

use qase_webhooks::{Envelope, Subjects};

use crate::delivery::messages::QueuedDelivery;
use crate::store::d1::{self, NewEvent, UnforwardedRow, D1_BODY_LIMIT};
use crate::store::layout::{self, RescueMetadata};
use crate::store::settings::{Sink, StoreSettings};
use crate::store::types::{EventStatus, Forward};

/// Rescue keys handled per run: each costs a KV read, a D1 insert, a queue
/// send and a KV delete, within the 50 subrequests of a Free plan
/// invocation.
pub const RESCUE_BATCH: usize = 10;

/// What to do with one `rescue/{id}` key.
#[derive(Debug, Clone)]
pub struct Rescue {
    /// The row to insert (with D1).
    pub insert: Option<NewEvent>,
    /// Whether the body must be put in KV `event/{id}` before the row
    /// points to it (too large for a row).
    pub body_to_kv: bool,
    /// The message to send: with D1 only when the insert changed a row,
    /// since otherwise the consumer or an earlier sweep already has it.
    pub message: Option<QueuedDelivery>,
}

/// The plan for the rescue key of event `id`. `None` when the bytes are not
/// an envelope (they passed the check before they were stored, so this is
/// a corrupted key: it is logged and left for an operator).
pub fn rescue(
    store: &StoreSettings,
    id: &str,
    metadata: &RescueMetadata,
    body: &[u8],
) -> Option<Rescue> {
    let envelope = Envelope::parse(body).ok()?;
    let with_d1 = store.has_sink(Sink::D1);
    let body_in_kv = with_d1 && body.len() > D1_BODY_LIMIT;
    let insert = with_d1.then(|| NewEvent {
        id: id.to_owned(),
        event_name: envelope.event_name.to_string(),
        project_code: envelope.project_code.clone(),
        team_member_id: envelope.team_member_id,
        received_at: metadata.received_at,
        outcome: match metadata.reason {
            Some(_) => EventStatus::Quarantined,
            None => EventStatus::Accepted,
        },
        reason: metadata.reason.clone(),
        subjects: Subjects::of(envelope.event_name.as_str(), envelope.payload),
        forward: metadata.forward,
        size: body.len(),
        body_in_kv,
    });
    let message = (metadata.forward == Forward::Pending).then(|| {
        QueuedDelivery::new(
            id.to_owned(),
            envelope.event_name.to_string(),
            envelope.project_code.clone(),
            metadata.received_at,
            body,
            with_d1,
        )
    });
    Some(Rescue {
        insert,
        body_to_kv: body_in_kv,
        message,
    })
}

/// Whether to send the rescue's message, given how many rows its insert
/// changed (`None` without D1).
pub fn send_after_insert(changes: Option<usize>) -> bool {
    changes.is_none_or(|changes| changes == 1)
}

/// The id in a `rescue/{id}` key.
pub fn rescued_id(key: &str) -> Option<&str> {
    key.strip_prefix(layout::RESCUE).filter(|id| !id.is_empty())
}

/// The re-drive query: `pending` rows older than the configured delay.
pub fn unforwarded(store: &StoreSettings, now: u64) -> d1::Statement {
    d1::unforwarded(now.saturating_sub(store.redrive_after_seconds * 1000))
}

/// The message that sends a `pending` row again. Its body stays in D1 (or
/// KV): re-drives go out in one batch, which the queue limits to 256 KB.
pub fn redrive_message(row: &UnforwardedRow) -> QueuedDelivery {
    QueuedDelivery {
        body: None,
        ..QueuedDelivery::new(
            row.id.clone(),
            row.event_name.clone(),
            row.project_code.clone(),
            row.received_at,
            b"",
            true,
        )
    }
}

/// Rows received before this (Unix ms) have outlived the retention; `None`
/// when events are kept until deleted.
pub fn retention_cutoff(store: &StoreSettings, now: u64) -> Option<u64> {
    let keep_ms = store.retention_seconds?.saturating_mul(1000);
    Some(now.saturating_sub(keep_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::bindings;
    use crate::config::Config;
    use crate::config::ConfigError;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        crate::config::for_tests(pairs)
    }

    const BODY: &[u8] = br#"{"event_name":"run.deleted","timestamp":1,"payload":{"id":42},"team_member_id":7,"project_code":"WEB"}"#;

    #[test]
    fn a_rescued_event_is_recorded_as_it_was_received_and_sent_when_new() {
        let config = config(&[]).unwrap();
        let metadata = RescueMetadata::new(1_700_000_000_000, Forward::Pending, None);
        let rescue = rescue(&config.store, "evt_1", &metadata, BODY).unwrap();
        let insert = rescue.insert.unwrap();
        assert_eq!(insert.received_at, 1_700_000_000_000);
        assert_eq!(
            (insert.forward, insert.team_member_id),
            (Forward::Pending, 7)
        );
        assert_eq!(insert.subjects.run, Some(42));
        assert_eq!(insert.outcome, EventStatus::Accepted);
        let message = rescue.message.unwrap();
        assert_eq!(message.body.as_deref().map(str::as_bytes), Some(BODY));
        assert!(send_after_insert(Some(1)));
        assert!(
            !send_after_insert(Some(0)),
            "the consumer recorded it first"
        );
        assert!(
            send_after_insert(None),
            "without D1 the queue is the only way on"
        );
    }

    #[test]
    fn a_rescued_quarantine_keeps_its_reason_and_is_not_sent() {
        let config = config(&[]).unwrap();
        let metadata = RescueMetadata::new(1, Forward::None, Some("payload.id: invalid type"));
        let rescue = rescue(&config.store, "evt_1", &metadata, BODY).unwrap();
        let insert = rescue.insert.unwrap();
        assert_eq!(
            (insert.outcome, insert.forward),
            (EventStatus::Quarantined, Forward::None)
        );
        assert!(rescue.message.is_none());
        assert!(super::rescue(&config.store, "evt_1", &metadata, b"not json").is_none());
    }

    #[test]
    fn without_d1_a_rescue_is_only_sent() {
        let config = config(&[(bindings::SINKS, "kv,queue")]).unwrap();
        let metadata = RescueMetadata::new(1, Forward::Pending, None);
        let rescue = rescue(&config.store, "evt_1", &metadata, BODY).unwrap();
        assert!(rescue.insert.is_none());
        assert!(rescue.message.unwrap().body.is_some());
    }

    #[test]
    fn keys_rows_and_cutoffs() {
        assert_eq!(rescued_id("rescue/evt_1"), Some("evt_1"));
        assert_eq!(rescued_id("rescue/"), None);
        assert_eq!(rescued_id("event/evt_1"), None);
        let config = config(&[(bindings::REDRIVE_AFTER_SECONDS, "60")]).unwrap();
        assert_eq!(
            unforwarded(&config.store, 100_000).params[0],
            d1::Param::Int(40_000)
        );
        let row = UnforwardedRow {
            id: "evt_1".into(),
            event_name: "run.deleted".into(),
            project_code: "WEB".into(),
            received_at: 5,
        };
        let message = redrive_message(&row);
        assert!(message.body.is_none() && message.recorded && message.destination.is_none());
        assert_eq!(
            retention_cutoff(&config.store, 40 * 86_400_000),
            Some(10 * 86_400_000)
        );
        let keep = super::tests::config(&[(bindings::RETENTION_SECONDS, "0")]).unwrap();
        assert_eq!(retention_cutoff(&keep.store, 1), None);
    }
}
