//! One structured JSON log line per delivery: what happened, never the
//! secret and never payload content (only the envelope's name and project).
//! Which deliveries get one is `QASE_LOG_DELIVERIES` ([`LogDeliveries`]);
//! the shells write the line ([`DeliveryLog::line`]) to the Worker's log.
//!
//! [`LogDeliveries`]: crate::ingest::settings::LogDeliveries

use serde::Serialize;

use crate::config::{bindings, Config, ConfigError};
use crate::ingest::{Outcome, Quarantine};

/// The fields of a delivery's log line, filled in as the request proceeds.
#[derive(Debug, Serialize)]
pub struct DeliveryLog {
    /// Always `delivery`, so log queries can pick these lines out.
    pub event: &'static str,
    /// The event id, once the body is parsed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The event name, once the envelope is parsed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_name: Option<String>,
    /// The project, once the envelope is parsed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_code: Option<String>,
    /// `accepted`, or the error code answered.
    pub outcome: &'static str,
    /// The HTTP status answered.
    pub status: u16,
    /// Time spent in the Worker, in milliseconds.
    pub duration_ms: u64,
    /// Set when the delivery was let in without a secret check.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unauthenticated: bool,
}

impl Default for DeliveryLog {
    fn default() -> Self {
        DeliveryLog {
            event: "delivery",
            id: None,
            event_name: None,
            project_code: None,
            outcome: "",
            status: 0,
            duration_ms: 0,
            unauthenticated: false,
        }
    }
}

impl DeliveryLog {
    /// Whether the configuration asks for this line (always when the
    /// configuration is broken: the line says what was answered).
    pub fn wanted(&self, config: &Result<Config, ConfigError>) -> bool {
        config.as_ref().map_or(true, |config| {
            config
                .ingest
                .log_deliveries
                .logs(self.status, self.outcome == Outcome::Quarantined.as_str())
        })
    }

    /// Whether the line goes to the error log (a `5xx` answer).
    pub fn is_error(&self) -> bool {
        self.status >= 500
    }

    /// The line, as one JSON object.
    pub fn line(&self) -> String {
        serde_json::to_string(self).expect("a delivery log line serialises")
    }
}

/// The warning every delivery let in without a secret check gets, loudly.
pub fn unauthenticated_warning() -> String {
    format!(
        "{} is `disabled`: this request is let in without checking its secret",
        bindings::AUTH
    )
}

/// The line of a quarantined delivery: its id, the field and the kind of
/// mismatch, never a value (SECURITY.md).
pub fn quarantine_line(id: &str, quarantine: &Quarantine) -> String {
    serde_json::json!({
        "event": "quarantine",
        "id": id,
        "field": quarantine.field,
        "kind": quarantine.kind,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::settings::Sink;

    fn config(log: &str) -> Result<Config, ConfigError> {
        Config::from_lookup(
            |key| match key {
                "QASE_WEBHOOK_SECRET" => Some("s3cret-s3cret".to_owned()),
                "QASE_LOG_DELIVERIES" => Some(log.to_owned()),
                _ => None,
            },
            &[Sink::Kv],
        )
    }

    #[test]
    fn a_line_names_what_happened_and_nothing_of_the_payload() {
        let log = DeliveryLog {
            id: Some("abc".into()),
            event_name: Some("run.completed".into()),
            project_code: Some("DEMO".into()),
            outcome: "accepted",
            status: 202,
            duration_ms: 3,
            ..DeliveryLog::default()
        };
        assert_eq!(
            log.line(),
            r#"{"event":"delivery","id":"abc","event_name":"run.completed","project_code":"DEMO","outcome":"accepted","status":202,"duration_ms":3}"#
        );
    }

    #[test]
    fn the_default_logs_refusals_and_quarantines_only() {
        let config = config("refused");
        let mut log = DeliveryLog {
            outcome: "accepted",
            status: 202,
            ..DeliveryLog::default()
        };
        assert!(!log.wanted(&config));
        log.outcome = Outcome::Quarantined.as_str();
        assert!(log.wanted(&config));
        log.outcome = "unauthorized";
        log.status = 401;
        assert!(log.wanted(&config));
        assert!(!log.wanted(&self::config("none")));
        let broken = Err(ConfigError {
            key: "QASE_WEBHOOK_SECRET",
            problem: "broken".into(),
        });
        log.outcome = "accepted";
        log.status = 202;
        assert!(
            log.wanted(&broken),
            "a broken configuration logs every line"
        );
    }

    #[test]
    fn a_quarantine_line_names_the_field_and_kind_but_not_the_reason() {
        let quarantine = Quarantine {
            reason: "invalid type: string \"s3cret value\"".into(),
            field: "payload.id".into(),
            kind: "invalid type".into(),
        };
        assert_eq!(
            quarantine_line("evt_1", &quarantine),
            r#"{"event":"quarantine","field":"payload.id","id":"evt_1","kind":"invalid type"}"#
        );
    }

    #[test]
    fn the_unauthenticated_warning_names_the_setting() {
        assert!(unauthenticated_warning().starts_with("QASE_AUTH is `disabled`"));
    }
}
