//! What a message on either queue is, decided once.
//!
//! On the delivery queue: a delivery, an alert, a run's report due or a
//! run's details to fetch. Messages carry their kind (`{"kind":
//! "delivery", ...}`); the untagged shapes that version 0.1 queued are
//! still read, told apart by the field each has (a report due's
//! `run_report`, an alert's `alert_to`, else a delivery), so nothing
//! already queued is misread.
//!
//! On the dead-letter queue: our own dead letters, told apart by their
//! `delivery` field (no delivery-queue message has one), or a
//! delivery-queue message the platform moved there after the consumer
//! failed on it `max_retries` times.
//!
//! A message is read from its JSON text in two passes: a `Shape` reads the
//! fields that say what it is and skips the rest, then the one type it is
//! reads it. No shape is tried and thrown away, and no `serde_json::Value`
//! is built on the way.

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

use crate::delivery::messages::{DeadLetter, QueuedAlert, QueuedDelivery};
use crate::runs::report::{RunDetailsDue, RunReportDue};

/// A message on the delivery queue (`QASE_DELIVERIES`).
#[derive(Debug, Clone, Serialize)]
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

/// The `kind` of a tagged [`QueueMessage`].
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Delivery,
    Alert,
    RunReport,
    RunDetails,
}

/// The fields that say what a message is; every other field is skipped.
#[derive(Deserialize)]
#[serde(rename = "queue message")]
struct Shape {
    kind: Option<Kind>,
    run_report: Option<IgnoredAny>,
    alert_to: Option<IgnoredAny>,
    delivery: Option<IgnoredAny>,
}

impl Shape {
    fn of(text: &str) -> Result<Shape, serde_json::Error> {
        serde_json::from_str(text)
    }
}

impl QueueMessage {
    /// Reads a queue message from its JSON text: tagged, or one of the
    /// untagged shapes of version 0.1 (see the module's documentation).
    pub fn decode(text: &str) -> Result<QueueMessage, serde_json::Error> {
        QueueMessage::decode_shaped(&Shape::of(text)?, text)
    }

    fn decode_shaped(shape: &Shape, text: &str) -> Result<QueueMessage, serde_json::Error> {
        let kind = match (&shape.kind, &shape.run_report, &shape.alert_to) {
            (Some(kind), _, _) => kind,
            (None, Some(_), _) => &Kind::RunReport,
            (None, None, Some(_)) => &Kind::Alert,
            (None, None, None) => &Kind::Delivery,
        };
        Ok(match kind {
            Kind::Delivery => QueueMessage::Delivery(serde_json::from_str(text)?),
            Kind::Alert => QueueMessage::Alert(serde_json::from_str(text)?),
            Kind::RunReport => QueueMessage::RunReport(serde_json::from_str(text)?),
            Kind::RunDetails => QueueMessage::RunDetails(serde_json::from_str(text)?),
        })
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
    /// Reads a dead-letter queue message from its JSON text (see the
    /// module's documentation).
    pub fn decode(text: &str) -> Result<Self, serde_json::Error> {
        let shape = Shape::of(text)?;
        match shape.delivery {
            Some(_) => serde_json::from_str(text).map(DeadLetterQueueMessage::DeadLetter),
            None => QueueMessage::decode_shaped(&shape, text).map(DeadLetterQueueMessage::Moved),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::messages::sample_alert;
    use crate::runs::report::RunKey;
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
            QueueMessage::decode(&old.to_string()),
            Ok(QueueMessage::Delivery(d)) if d.id == "evt_1"
        ));
        let due = json!({"run_report": {"project": "WEB", "run": 7}});
        assert!(matches!(
            QueueMessage::decode(&due.to_string()),
            Ok(QueueMessage::RunReport(d)) if d.run_report.run == 7
        ));
        let alert = serde_json::to_value(sample_alert(0)).unwrap();
        assert!(matches!(
            QueueMessage::decode(&alert.to_string()),
            Ok(QueueMessage::Alert(a)) if a.alert_to == "ops"
        ));
    }

    #[test]
    fn a_tagged_message_reads_back_and_a_foreign_one_is_not_ours() {
        let tagged = serde_json::to_value(QueueMessage::Delivery(delivery())).unwrap();
        assert_eq!(tagged["kind"], "delivery");
        assert!(matches!(
            QueueMessage::decode(&tagged.to_string()),
            Ok(QueueMessage::Delivery(d)) if d.received_at == 5
        ));
        assert!(QueueMessage::decode(&json!({"hello": 1}).to_string()).is_err());
        assert!(QueueMessage::decode(&json!({"kind": "other"}).to_string()).is_err());
    }

    #[test]
    fn every_kind_reads_back_from_the_text_it_is_sent_as() {
        let key = || RunKey {
            project: "WEB".into(),
            run: 7,
        };
        let alert = QueuedAlert {
            not_before: Some(3),
            ..sample_alert(2)
        };
        for message in [
            QueueMessage::Delivery(delivery()),
            QueueMessage::Alert(alert),
            QueueMessage::RunReport(RunReportDue { run_report: key() }),
            QueueMessage::RunDetails(RunDetailsDue { run_details: key() }),
        ] {
            let text = serde_json::to_string(&message).unwrap();
            let back = QueueMessage::decode(&text).unwrap();
            assert_eq!(serde_json::to_string(&back).unwrap(), text);
        }
    }

    #[test]
    fn a_message_of_a_known_shape_that_does_not_fit_it_says_why() {
        // A report due without its run is not tried as an alert or a delivery.
        let error = QueueMessage::decode(r#"{"run_report": {"project": "WEB"}}"#).unwrap_err();
        assert!(error.to_string().contains("missing field `run`"), "{error}");
        let error = QueueMessage::decode(r#"{"kind": "other"}"#).unwrap_err();
        assert!(
            error.to_string().contains("unknown variant `other`"),
            "{error}"
        );
        assert!(QueueMessage::decode("[1]").is_err());
        assert!(QueueMessage::decode("\"text\"").is_err());
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
            DeadLetterQueueMessage::decode(&ours.to_string()),
            Ok(DeadLetterQueueMessage::DeadLetter(d)) if d.destination == "ops" && d.dead_at == 9
        ));
        for moved in [
            serde_json::to_value(QueueMessage::Delivery(delivery())).unwrap(),
            serde_json::to_value(delivery()).unwrap(),
        ] {
            assert!(matches!(
                DeadLetterQueueMessage::decode(&moved.to_string()),
                Ok(DeadLetterQueueMessage::Moved(QueueMessage::Delivery(d))) if d.id == "evt_1"
            ));
        }
        let report = json!({"kind": "run_report", "run_report": {"project": "WEB", "run": 7}});
        assert!(matches!(
            DeadLetterQueueMessage::decode(&report.to_string()),
            Ok(DeadLetterQueueMessage::Moved(QueueMessage::RunReport(_)))
        ));
        // A dead letter that lost its fields is not read as something else.
        assert!(DeadLetterQueueMessage::decode(&json!({"delivery": {}}).to_string()).is_err());
    }
}
