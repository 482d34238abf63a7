//! The alarm of a run's object: when it forgets the run (retention), and
//! what it does when the alarm rings (a pending D1 write first). Carried
//! out by `qase_edge::runs::run_watch`.

use crate::store::settings::StoreSettings;

/// When a run's object forgets the run (its storage deleted by an alarm):
/// `QASE_RETENTION_SECONDS` after its first event or its end, whichever is
/// later; `None` when runs are kept until deleted.
pub fn forget_at(store: &StoreSettings, now: u64) -> Option<u64> {
    Some(now.saturating_add(store.retention_seconds?.saturating_mul(1000)))
}

/// How long a run's object waits before it writes its state into D1 again
/// after D1 refused it (D1 down must not hold up delivery, nor leave the
/// `runs` row stale once D1 is back).
pub const MIRROR_RETRY_MS: u64 = 60_000;

/// What a run's object does when its alarm rings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlarmStep {
    /// Write the state into D1 again (a write failed); on success, set the
    /// alarm to the forgetting time, if any; on failure, retry later.
    RetryMirror,
    /// The retention has passed: delete the run's storage.
    Forget,
    /// Not yet: set the alarm again for this time (Unix ms).
    Rearm(u64),
    /// Nothing to do.
    Nothing,
}

/// The alarm's step: a pending D1 write first, then the retention.
pub fn alarm_step(mirror_pending: bool, forget_at: Option<u64>, now: u64) -> AlarmStep {
    match (mirror_pending, forget_at) {
        (true, _) => AlarmStep::RetryMirror,
        (false, Some(at)) if at > now => AlarmStep::Rearm(at),
        (false, Some(_)) => AlarmStep::Forget,
        (false, None) => AlarmStep::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::report::tests::config;
    use crate::runs::sql::delete_expired;
    use crate::store::d1::Param;

    #[test]
    fn the_alarm_retries_a_pending_d1_write_before_it_forgets() {
        assert_eq!(alarm_step(true, Some(10), 50), AlarmStep::RetryMirror);
        assert_eq!(alarm_step(true, None, 50), AlarmStep::RetryMirror);
        assert_eq!(alarm_step(false, Some(100), 50), AlarmStep::Rearm(100));
        assert_eq!(alarm_step(false, Some(50), 50), AlarmStep::Forget);
        assert_eq!(alarm_step(false, None, 50), AlarmStep::Nothing);
    }

    #[test]
    fn runs_expire_with_the_events_retention() {
        let [deliveries, runs] = delete_expired(5_000);
        assert!(
            deliveries.sql.contains("rpt"),
            "only reports' delivery states"
        );
        assert_eq!(runs.params, [Param::Int(5_000)]);
        let config = config("[]", &[("QASE_RETENTION_SECONDS", "60")]);
        assert_eq!(forget_at(&config.store, 1_000), Some(61_000));
        let forever = self::config("[]", &[("QASE_RETENTION_SECONDS", "0")]);
        assert_eq!(forget_at(&forever.store, 1_000), None);
    }
}
