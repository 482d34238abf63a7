//! One structured JSON log line per delivery: what happened, never the
//! secret and never payload content (only the envelope's name and project).

use serde::Serialize;

use engine::config::{Config, ConfigError};
use engine::ingest::Outcome;

/// The fields of a delivery's log line, filled in as the request proceeds.
#[derive(Debug, Default, Serialize)]
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

impl DeliveryLog {
    /// Sets the answer (`outcome` is `accepted` or an error code) and writes
    /// the line if the configuration asks for it; the duration is read from
    /// the clock only then.
    pub fn finish(
        mut self,
        config: &Result<Config, ConfigError>,
        outcome: &'static str,
        status: u16,
        started: u64,
    ) {
        self.outcome = outcome;
        self.status = status;
        if self.wanted(config) {
            self.duration_ms = crate::ingest::now_millis().saturating_sub(started);
            self.emit();
        }
    }

    /// Writes the line if the configuration asks for it (always when the
    /// configuration is broken).
    pub fn emit_for(&self, config: &Result<Config, ConfigError>) {
        if self.wanted(config) {
            self.emit();
        }
    }

    fn wanted(&self, config: &Result<Config, ConfigError>) -> bool {
        config.as_ref().map_or(true, |config| {
            config
                .ingest
                .log_deliveries
                .logs(self.status, self.outcome == Outcome::Quarantined.as_str())
        })
    }

    /// Writes the line to the Worker's log.
    pub fn emit(&self) {
        match serde_json::to_string(self) {
            Ok(line) if self.status >= 500 => worker::console_error!("{line}"),
            Ok(line) => worker::web_sys::console::log_1(&line.into()),
            Err(_) => worker::console_error!("could not serialise a delivery log line"),
        }
    }
}
