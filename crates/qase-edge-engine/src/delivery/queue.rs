//! What a message on either queue is, decided once.
//!
//! On the delivery queue: a delivery, an alert or a run's report due.
//! Messages carry their kind (`{"kind": "delivery", ...}`); the untagged
//! shapes that version 0.x queued are still read, in the order its
//! consumer tried them (a report due, an alert, a delivery), so nothing
//! already queued is misread.
//!
//! On the dead-letter queue: our own dead letters, told apart by their
//! `delivery` field (no delivery-queue message has one), or a
//! delivery-queue message the platform moved there after the consumer
//! failed on it `max_retries` times.

use serde::{Deserialize, Serialize};

use crate::delivery::messages::{DeadLetter, QueuedAlert, QueuedDelivery};
use crate::runs::report::{RunDetailsDue, RunReportDue};

/// A message on the delivery queue (`QASE_DELIVERIES`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum QueueMessage {
    /// An event for its destinations, or a retry for one.
    Delivery(QueuedDelivery),
    /// An alert for one alert destination.
    Alert(QueuedAlert),
    /// A run's report, due after the settle time.
    RunReport(RunReportDue),
    /// A run's details to fetch from Qase's API (always tagged: no
    /// untagged shape of it was ever queued).
    RunDetails(RunDetailsDue),
}

impl QueueMessage {
    /// Reads a queue message: tagged, or one of the untagged shapes (the
    /// error is the delivery's, the last shape tried).
    pub fn decode(value: serde_json::Value) -> Result<QueueMessage, serde_json::Error> {
        if value.get("kind").is_some() {
            return serde_json::from_value(value);
        }
        if let Ok(due) = RunReportDue::deserialize(&value) {
            return Ok(QueueMessage::RunReport(due));
        }
        if let Ok(alert) = QueuedAlert::deserialize(&value) {
            return Ok(QueueMessage::Alert(alert));
        }
        QueuedDelivery::deserialize(&value).map(QueueMessage::Delivery)
    }
}

/// A delivery message as [`QueueMessage::Delivery`] sends it, borrowed:
/// what ingest, the sweep and replays send, without copying the body.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TaggedDelivery<'a> {
    /// The delivery.
    Delivery(&'a QueuedDelivery),
}

/// A message on the dead-letter queue (`QASE_DEAD_LETTERS`).
#[derive(Debug, Clone)]
pub enum DeadLetterQueueMessage {
    /// Sent by the delivery consumer: a delivery to one destination that
    /// failed for good.
    DeadLetter(DeadLetter),
    /// Moved by the platform from the delivery queue.
    Moved(QueueMessage),
}

impl DeadLetterQueueMessage {
    /// Reads a dead-letter queue message (see the module's documentation).
    pub fn decode(value: serde_json::Value) -> Result<Self, serde_json::Error> {
        match value.get("delivery") {
            Some(_) => serde_json::from_value(value).map(DeadLetterQueueMessage::DeadLetter),
            None => QueueMessage::decode(value).map(DeadLetterQueueMessage::Moved),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn delivery() -> QueuedDelivery {
        QueuedDelivery::new(
            "evt_1".into(),
            "run.completed".into(),
            "WEB".into(),
            5,
            b"{}",
            false,
        )
    }

    #[test]
    fn the_untagged_shapes_queued_today_are_read_as_their_kind() {
        let old = serde_json::to_value(delivery()).unwrap();
        assert!(matches!(
            QueueMessage::decode(old),
            Ok(QueueMessage::Delivery(d)) if d.id == "evt_1"
        ));
        let due = json!({"run_report": {"project": "WEB", "run": 7}});
        assert!(matches!(
            QueueMessage::decode(due),
            Ok(QueueMessage::RunReport(d)) if d.run_report.run == 7
        ));
        let alert = serde_json::to_value(QueuedAlert {
            alert_to: "ops".into(),
            alert: qase_webhooks::chat::Alert::ProjectBack {
                project: "WEB".into(),
            },
            at: 1,
            attempts: 0,
            not_before: None,
        })
        .unwrap();
        assert!(matches!(
            QueueMessage::decode(alert),
            Ok(QueueMessage::Alert(a)) if a.alert_to == "ops"
        ));
    }

    #[test]
    fn a_tagged_message_reads_back_and_a_foreign_one_is_not_ours() {
        let tagged = serde_json::to_value(QueueMessage::Delivery(delivery())).unwrap();
        assert_eq!(tagged["kind"], "delivery");
        assert!(matches!(
            QueueMessage::decode(tagged),
            Ok(QueueMessage::Delivery(d)) if d.received_at == 5
        ));
        assert!(QueueMessage::decode(json!({"hello": 1})).is_err());
        assert!(QueueMessage::decode(json!({"kind": "other"})).is_err());
    }

    #[test]
    fn a_borrowed_delivery_is_sent_as_the_tagged_message() {
        let message = delivery();
        assert_eq!(
            serde_json::to_value(TaggedDelivery::Delivery(&message)).unwrap(),
            serde_json::to_value(QueueMessage::Delivery(message)).unwrap()
        );
    }

    #[test]
    fn the_dead_letter_queue_tells_our_dead_letters_from_moved_messages() {
        let dead = DeadLetter {
            delivery: delivery(),
            destination: "ops".into(),
            reason: "rejected by the destination".into(),
            dead_at: 9,
        };
        let ours = serde_json::to_value(&dead).unwrap();
        assert!(matches!(
            DeadLetterQueueMessage::decode(ours),
            Ok(DeadLetterQueueMessage::DeadLetter(d)) if d.destination == "ops" && d.dead_at == 9
        ));
        for moved in [
            serde_json::to_value(QueueMessage::Delivery(delivery())).unwrap(),
            serde_json::to_value(delivery()).unwrap(),
        ] {
            assert!(matches!(
                DeadLetterQueueMessage::decode(moved),
                Ok(DeadLetterQueueMessage::Moved(QueueMessage::Delivery(d))) if d.id == "evt_1"
            ));
        }
        let report = json!({"kind": "run_report", "run_report": {"project": "WEB", "run": 7}});
        assert!(matches!(
            DeadLetterQueueMessage::decode(report),
            Ok(DeadLetterQueueMessage::Moved(QueueMessage::RunReport(_)))
        ));
        // A dead letter that lost its fields is not read as something else.
        assert!(DeadLetterQueueMessage::decode(json!({"delivery": {}})).is_err());
    }
}
