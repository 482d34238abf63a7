//! The alert settings: the least time between two alerts of one kind about
//! one subject (`QASE_ALERT_INTERVAL_SECONDS`) and the watched projects
//! (`QASE_WATCH`). Read and validated here; composed into
//! [`crate::config::Config`].

use crate::alerts::watch::{parse_watch, Watched};
use crate::config::bindings;
use crate::config::lookup::Lookup;
use crate::config::problems::{invalid, ConfigError};

/// Default of `QASE_ALERT_INTERVAL_SECONDS`: a quarter of an hour.
pub const DEFAULT_ALERT_INTERVAL_SECONDS: u64 = 900;

/// What the alerts need to know.
#[derive(Debug, Clone)]
pub struct AlertSettings {
    /// The least time between two alerts of one kind about one subject, in ms.
    pub interval_ms: u64,
    /// The watched projects (`QASE_WATCH`).
    pub watch: Vec<Watched>,
}

/// `QASE_ALERT_INTERVAL_SECONDS`, in seconds: up to a week.
pub fn interval_seconds(lookup: &Lookup) -> Result<u64, ConfigError> {
    lookup.number(
        bindings::ALERT_INTERVAL_SECONDS,
        DEFAULT_ALERT_INTERVAL_SECONDS,
        (0, 7 * 86_400),
    )
}

/// `QASE_WATCH`: no project by default.
pub fn watch(lookup: &Lookup) -> Result<Vec<Watched>, ConfigError> {
    match lookup.get(bindings::WATCH) {
        None => Ok(Vec::new()),
        Some(json) => parse_watch(&json).map_err(|problem| invalid(bindings::WATCH, problem)),
    }
}
