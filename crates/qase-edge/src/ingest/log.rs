//! Writes a delivery's log line ([`engine::ingest::log::DeliveryLog`]) to
//! the Worker's log, when the configuration asks for it.

use engine::config::{Config, ConfigError};
pub use engine::ingest::log::{quarantine_line, unauthenticated_warning, DeliveryLog};

/// Writes the line if the configuration asks for it (always when the
/// configuration is broken).
pub fn emit_for(log: &DeliveryLog, config: &Result<Config, ConfigError>) {
    if log.wanted(config) {
        emit(log);
    }
}

/// Writes the line to the Worker's log (the error log for a `5xx`).
pub fn emit(log: &DeliveryLog) {
    let line = log.line();
    if log.is_error() {
        worker::console_error!("{line}");
    } else {
        worker::web_sys::console::log_1(&line.into());
    }
}
