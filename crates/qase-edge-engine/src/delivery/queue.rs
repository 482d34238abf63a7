//! What a message on the delivery queue is, decided once: a delivery, an
//! alert or a run's report due. New messages can carry their kind
//! (`{"kind": "delivery", ...}`); the untagged shapes the current version
//! queues are still read, in the order its consumer tried them (a report
//! due, an alert, a delivery), so nothing already queued is misread.

use serde::{Deserialize, Serialize};

use crate::delivery::messages::{QueuedAlert, QueuedDelivery};
use crate::runs::report::RunReportDue;

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
}
