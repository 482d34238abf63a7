//! What to do after a delivery attempt to a downstream service: the
//! classification of its answer and the backoff schedule. Pure: the caller
//! supplies the clock-free inputs (attempt number, a random number).

use std::time::Duration;

/// The result of one attempt to deliver to a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    /// The destination answered with this HTTP status.
    Status {
        /// The status code.
        status: u16,
        /// `Retry-After` in seconds, when it was sent as a number.
        retry_after: Option<u64>,
    },
    /// No answer within the destination's timeout.
    Timeout,
    /// The request could not be made (DNS, connection, TLS).
    NetworkError,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Delivered: never call this destination again for this event.
    Delivered,
    /// Try again after this long (or give up if attempts are exhausted).
    Retry(Duration),
    /// The destination refused the event for good (a 4xx other than 408 and
    /// 429, or a redirect, which is not followed): stop and dead-letter it.
    Rejected,
}

/// Backoff settings: exponential from `base`, capped at `cap`, with jitter,
/// for at most `max_attempts` attempts in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The delay after the first failed attempt (before jitter).
    pub base: Duration,
    /// The longest delay.
    pub cap: Duration,
    /// Attempts in all, the first included.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    /// 10 s, 20 s, 40 s, ... capped at an hour, 8 attempts (about 2 hours).
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_secs(10),
            cap: Duration::from_secs(3600),
            max_attempts: 8,
        }
    }
}

impl RetryPolicy {
    /// The delay after failed attempt number `attempt` (1-based), given a
    /// uniform random number in `[0, 1)`: "equal jitter", so the delay is
    /// between half and all of the exponential step, which spreads retries
    /// of many events without ever retrying immediately.
    pub fn backoff(&self, attempt: u32, random: f64) -> Duration {
        let exponent = attempt.saturating_sub(1).min(32);
        let step = self
            .base
            .saturating_mul(1u32 << exponent.min(31))
            .min(self.cap);
        let half = step / 2;
        half + half.mul_f64(random.clamp(0.0, 1.0))
    }

    /// Whether another attempt is allowed after `attempts` attempts.
    pub fn may_retry(&self, attempts: u32) -> bool {
        attempts < self.max_attempts
    }

    /// Classifies an attempt's result. `429` and `503` honour `Retry-After`
    /// (capped at `cap`); other `5xx`, `408`, timeouts and network errors
    /// back off; other `4xx` and `3xx` are final.
    ///
    /// ```
    /// use std::time::Duration;
    /// use qase_webhooks::retry::{AttemptResult, RetryPolicy, Verdict};
    ///
    /// let policy = RetryPolicy::default();
    /// let status = |status| AttemptResult::Status { status, retry_after: None };
    /// assert_eq!(policy.verdict(status(204), 1, 0.5), Verdict::Delivered);
    /// assert_eq!(policy.verdict(status(404), 1, 0.5), Verdict::Rejected);
    /// // The third attempt failed: 40 s, with "equal jitter" between 20 and 40 s.
    /// assert_eq!(policy.verdict(status(502), 3, 0.0), Verdict::Retry(Duration::from_secs(20)));
    /// assert_eq!(
    ///     policy.verdict(AttemptResult::Status { status: 429, retry_after: Some(30) }, 1, 0.5),
    ///     Verdict::Retry(Duration::from_secs(30)),
    /// );
    /// assert!(!policy.may_retry(policy.max_attempts));
    /// ```
    pub fn verdict(&self, result: AttemptResult, attempt: u32, random: f64) -> Verdict {
        match result {
            AttemptResult::Status { status, .. } if (200..300).contains(&status) => {
                Verdict::Delivered
            }
            AttemptResult::Status {
                status: 429 | 503,
                retry_after: Some(seconds),
            } => Verdict::Retry(Duration::from_secs(seconds).min(self.cap)),
            AttemptResult::Status { status, .. }
                if status >= 500 || status == 408 || status == 429 =>
            {
                Verdict::Retry(self.backoff(attempt, random))
            }
            AttemptResult::Status { .. } => Verdict::Rejected,
            AttemptResult::Timeout | AttemptResult::NetworkError => {
                Verdict::Retry(self.backoff(attempt, random))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_secs(10),
            cap: Duration::from_secs(60),
            max_attempts: 5,
        }
    }

    fn status(status: u16, retry_after: Option<u64>) -> AttemptResult {
        AttemptResult::Status {
            status,
            retry_after,
        }
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let p = policy();
        assert_eq!(p.backoff(1, 0.0), Duration::from_secs(5));
        assert_eq!(
            p.backoff(1, 0.999_999),
            Duration::from_secs(10) - Duration::from_nanos(5_000)
        );
        assert_eq!(p.backoff(2, 0.0), Duration::from_secs(10));
        assert_eq!(p.backoff(3, 0.5), Duration::from_secs(30));
        assert_eq!(p.backoff(9, 0.0), Duration::from_secs(30));
        assert_eq!(p.backoff(100, 1.0), Duration::from_secs(60));
    }

    #[test]
    fn answers_are_classified() {
        let p = policy();
        assert_eq!(p.verdict(status(200, None), 1, 0.0), Verdict::Delivered);
        assert_eq!(p.verdict(status(204, None), 1, 0.0), Verdict::Delivered);
        assert_eq!(
            p.verdict(status(429, Some(7)), 1, 0.0),
            Verdict::Retry(Duration::from_secs(7))
        );
        assert_eq!(
            p.verdict(status(503, Some(999)), 1, 0.0),
            Verdict::Retry(Duration::from_secs(60))
        );
        assert_eq!(
            p.verdict(status(429, None), 1, 0.0),
            Verdict::Retry(Duration::from_secs(5))
        );
        assert_eq!(
            p.verdict(status(500, Some(7)), 2, 0.0),
            Verdict::Retry(Duration::from_secs(10))
        );
        assert_eq!(
            p.verdict(status(408, None), 1, 0.0),
            Verdict::Retry(Duration::from_secs(5))
        );
        assert_eq!(
            p.verdict(AttemptResult::Timeout, 1, 0.0),
            Verdict::Retry(Duration::from_secs(5))
        );
        assert_eq!(
            p.verdict(AttemptResult::NetworkError, 1, 0.0),
            Verdict::Retry(Duration::from_secs(5))
        );
        assert_eq!(p.verdict(status(400, None), 1, 0.0), Verdict::Rejected);
        assert_eq!(p.verdict(status(410, None), 1, 0.0), Verdict::Rejected);
        assert_eq!(p.verdict(status(302, None), 1, 0.0), Verdict::Rejected);
    }

    #[test]
    fn attempts_are_bounded() {
        assert!(policy().may_retry(4));
        assert!(!policy().may_retry(5));
    }
}
