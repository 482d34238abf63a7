//! A delivery's log line ([`DeliveryLog`]) and the unauthenticated warning,
//! written as the shell writes them (crates/qase-edge/src/ingest).

use engine::config::{Config, ConfigError};
use engine::ingest::log::{self, DeliveryLog};

use crate::console;

/// Sets the answer (`outcome` is `accepted` or an error code) and writes
/// the line if the configuration asks for it; the duration is read from
/// the clock only then.
pub fn finish(
    mut log: DeliveryLog,
    config: &Result<Config, ConfigError>,
    outcome: &'static str,
    status: u16,
    started: u64,
) {
    log.outcome = outcome;
    log.status = status;
    if !log.wanted(config) {
        return;
    }
    log.duration_ms = (js_sys::Date::now() as u64).saturating_sub(started);
    let line = log.line();
    if log.is_error() {
        console::error(&line);
    } else {
        console::log(&line);
    }
}

/// Every delivery let in without a secret check says so, loudly.
pub fn warn_unauthenticated() {
    console::warn(&log::unauthenticated_warning());
}
