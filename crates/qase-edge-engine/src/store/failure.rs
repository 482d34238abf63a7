//! What a failed write to a store means for the caller: try again later, or
//! never. Pure, so it is tested on the host.
//!
//! The layout keeps every key, value and metadata record within the stores'
//! limits by construction ([`crate::store::layout`]); this is the second line: a
//! write refused for its size or shape fails the same way on every retry, so
//! it must not be answered with "retry later" (`503`), which would make Qase
//! or an operator send it again forever.

/// Why a write failed, as far as the caller's answer goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreFailure {
    /// The store is unavailable or overloaded: a retry may succeed.
    Transient,
    /// The store refused this write itself (too large, a bad key): a retry
    /// fails the same way.
    Permanent,
}

impl StoreFailure {
    /// Classifies a binding's error message. Workers KV and Miniflare say
    /// `KV PUT failed: 413 Metadata length of N exceeds limit of 1024.`,
    /// `414 UTF-8 encoded length of N exceeds key length limit of 512.`,
    /// `400 Key names must not be empty`; Queues refuse oversized messages
    /// as too large; D1 says `string or blob too big: SQLITE_TOOBIG`, and a
    /// statement that breaks the schema's constraints fails every time.
    /// Anything else (network, rate limits, `5xx`, a missing table that an
    /// operator's `d1 migrations apply` fixes) is transient.
    pub fn classify(message: &str) -> StoreFailure {
        let lower = message.to_ascii_lowercase();
        let refused_status = ["failed: 400", "failed: 413", "failed: 414"]
            .iter()
            .any(|status| lower.contains(status));
        let refused_shape = [
            "exceeds",
            "too large",
            "too long",
            "illegal key",
            "must not be empty",
            "too big",
            "sqlite_toobig",
            "sqlite_constraint",
        ]
        .iter()
        .any(|phrase| lower.contains(phrase));
        if refused_status || refused_shape {
            StoreFailure::Permanent
        } else {
            StoreFailure::Transient
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_and_key_refusals_are_permanent() {
        for message in [
            "KV PUT failed: 413 Metadata length of 1290 exceeds limit of 1024.",
            "KV PUT failed: 414 UTF-8 encoded length of 600 exceeds key length limit of 512.",
            "KV PUT failed: 413 Value length of 30000000 exceeds limit of 26214400.",
            "KV PUT failed: 400 Key names must not be empty",
            "Error: Queue send failed: message too large",
            "D1_ERROR: string or blob too big: SQLITE_TOOBIG",
            "D1_ERROR: CHECK constraint failed: outcome IN ('accepted', 'quarantined'): SQLITE_CONSTRAINT",
        ] {
            assert_eq!(
                StoreFailure::classify(message),
                StoreFailure::Permanent,
                "{message}"
            );
        }
    }

    #[test]
    fn outages_and_rate_limits_are_transient() {
        for message in [
            "KV PUT failed: 500 Internal Server Error",
            "KV PUT failed: 429 Too Many Requests",
            "Queue send failed: Network connection lost.",
            "TypeError: Cannot read properties of undefined (reading 'put')",
            "",
        ] {
            assert_eq!(
                StoreFailure::classify(message),
                StoreFailure::Transient,
                "{message}"
            );
        }
    }
}
