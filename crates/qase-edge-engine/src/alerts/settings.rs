//! The alert settings: the least time between two alerts of one kind about
//! one subject (`QASE_ALERT_INTERVAL_SECONDS`), the watched projects
//! (`QASE_WATCH`) and the grace before a webhook is suspected disabled
//! (`QASE_DISABLED_GRACE`). Read and validated here; composed into
//! [`crate::config::Config`].

use crate::alerts::watch::{parse_duration, parse_watch, Watched};
use crate::config::bindings;
use crate::config::lookup::Lookup;
use crate::config::problems::{invalid, ConfigError};

/// Default of `QASE_ALERT_INTERVAL_SECONDS`: a quarter of an hour.
pub const DEFAULT_ALERT_INTERVAL_SECONDS: u64 = 900;

/// Default of `QASE_DISABLED_GRACE`: half an hour, far above a delivery's
/// few seconds and any clock difference, below a watch window.
pub const DEFAULT_DISABLED_GRACE_SECONDS: u64 = 1_800;

/// What the alerts need to know.
#[derive(Debug, Clone)]
pub struct AlertSettings {
    /// The least time between two alerts of one kind about one subject, in ms.
    pub interval_ms: u64,
    /// The watched projects (`QASE_WATCH`).
    pub watch: Vec<Watched>,
    /// How long a run Qase's API shows may go untold by any delivery before
    /// the project's webhook is suspected disabled, in seconds
    /// (`QASE_DISABLED_GRACE`).
    pub disabled_grace_seconds: u64,
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

/// `QASE_DISABLED_GRACE`: a duration as `QASE_WATCH` writes them (`30m`,
/// `2h`), up to a week.
pub fn disabled_grace(lookup: &Lookup) -> Result<u64, ConfigError> {
    let Some(text) = lookup.get(bindings::DISABLED_GRACE) else {
        return Ok(DEFAULT_DISABLED_GRACE_SECONDS);
    };
    match parse_duration(&text) {
        Some(seconds) if seconds <= 7 * 86_400 => Ok(seconds),
        _ => Err(invalid(
            bindings::DISABLED_GRACE,
            "must be a duration up to 7d, like \"45s\", \"30m\" or \"2h\"",
        )),
    }
}

#[cfg(test)]
mod tests {
    use crate::config::bindings::DISABLED_GRACE;
    use crate::config::test_support::{config, problem};
    use crate::config::Effect;

    #[test]
    fn the_disabled_grace_reads_as_a_duration_and_falls_back_to_its_default() {
        let grace = |value: &str| {
            config(&[("QASE_WEBHOOK_SECRET", "s"), (DISABLED_GRACE, value)])
                .unwrap()
                .alerts
                .disabled_grace_seconds
        };
        assert_eq!(grace("2h"), 7_200);
        assert_eq!(grace("45s"), 45);
        assert_eq!(grace(""), super::DEFAULT_DISABLED_GRACE_SECONDS);
        for bad in ["soon", "0m", "8d"] {
            let problem = problem(&[("QASE_WEBHOOK_SECRET", "s"), (DISABLED_GRACE, bad)]);
            assert_eq!(problem.error.key, DISABLED_GRACE, "{bad}");
            assert_eq!(problem.effect, Effect::DefaultUsed, "{bad}");
        }
    }
}
