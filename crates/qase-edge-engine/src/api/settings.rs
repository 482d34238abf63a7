//! The operator API's settings: its bearer token (`QASE_ADMIN_TOKEN`;
//! without one the API is off). Read and validated here; composed into
//! [`crate::config::Config`].

use qase_webhooks::Secret;

use crate::config::bindings;
use crate::config::lookup::{secret, Lookup};
use crate::config::problems::{invalid, ConfigError};

/// What the operator API needs to know.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// The operator API's token; `None` turns the API off.
    pub admin_token: Option<Secret>,
}

/// The operator API's token: at least 16 characters, or unset.
pub fn admin_token(lookup: &Lookup) -> Result<Option<Secret>, ConfigError> {
    match lookup.get(bindings::ADMIN_TOKEN) {
        None => Ok(None),
        Some(token) if token.trim().len() < 16 => Err(invalid(
            bindings::ADMIN_TOKEN,
            "must be at least 16 characters (e.g. `openssl rand -hex 32`)",
        )),
        Some(token) => Ok(Some(secret(bindings::ADMIN_TOKEN, &token)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::problems::Effect;
    use crate::config::test_support::{config, problem};
    use crate::store::settings::DEFAULT_RETENTION_SECONDS;

    #[test]
    fn the_admin_token_is_optional_but_long_and_retention_bounded() {
        assert!(config(&[]).unwrap().api.admin_token.is_none());
        let token = "0123456789abcdef0123";
        assert!(config(&[(bindings::ADMIN_TOKEN, token)])
            .unwrap()
            .api
            .admin_token
            .unwrap()
            .verify(token.as_bytes()));
        // Regression: a 14-character token stopped all ingestion (503).
        let short = [
            (bindings::ADMIN_TOKEN, "14-characters!"),
            (bindings::WEBHOOK_SECRET, "s"),
        ];
        let broken = problem(&short);
        assert_eq!(
            (broken.error.key, broken.effect),
            (bindings::ADMIN_TOKEN, Effect::OperatorApiOff)
        );
        let with_short_token = config(&short).unwrap();
        assert!(with_short_token.api.admin_token.is_none());
        assert!(!with_short_token.ingest.secrets.is_empty());
        assert_eq!(
            config(&[]).unwrap().store.retention_seconds,
            Some(DEFAULT_RETENTION_SECONDS)
        );
        assert_eq!(
            config(&[(bindings::RETENTION_SECONDS, "0")])
                .unwrap()
                .store
                .retention_seconds,
            None
        );
        let broken = problem(&[(bindings::RETENTION_SECONDS, "5")]);
        assert_eq!(broken.effect, Effect::DefaultUsed);
        let retention = config(&[(bindings::RETENTION_SECONDS, "5")]).unwrap();
        assert_eq!(
            retention.store.retention_seconds,
            Some(DEFAULT_RETENTION_SECONDS)
        );
        assert!(config(&[]).unwrap().problems.is_empty());
    }
}
