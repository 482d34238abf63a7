//! The operator API's settings: its bearer token (`QASE_ADMIN_TOKEN`;
//! without one the API is off), and the read-only token of `GET /metrics`
//! (`QASE_METRICS_TOKEN`). Read and validated here; composed into
//! [`crate::config::Config`].

use qase_webhooks::Secret;

use crate::access::settings::AccessGate;
use crate::api::auth::{AccessRule, NamedToken};

use crate::config::bindings;
use crate::config::lookup::{secret, Lookup};
use crate::config::problems::{invalid, ConfigError};

/// What the operator API needs to know.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// The operator API's token; `None` turns the API off.
    pub admin_token: Option<Secret>,
    /// A token that reads `GET /metrics` and nothing else.
    pub metrics_token: Option<Secret>,
    /// Whether Cloudflare Access guards `/api` and `/console`.
    pub access: AccessGate,
    /// Named API tokens (`QASE_API_TOKENS`).
    pub tokens: Vec<NamedToken>,
    /// The roles of Access identities (`QASE_ACCESS_ROLES`).
    pub access_roles: Vec<AccessRule>,
}

impl ApiSettings {
    /// Whether the operator API is on: some credential can open it (the
    /// admin token, a named token, or an Access rule behind Access).
    pub fn enabled(&self) -> bool {
        let by_access =
            matches!(self.access, AccessGate::Required(_)) && !self.access_roles.is_empty();
        self.admin_token.is_some() || !self.tokens.is_empty() || by_access
    }

    /// Whether `GET /metrics` is served: some token can read it.
    pub fn metrics_enabled(&self) -> bool {
        self.admin_token.is_some() || self.metrics_token.is_some()
    }

    /// Whether `presented` may read `GET /metrics`: the admin token or the
    /// metrics token (each compared in constant time).
    pub fn may_read_metrics(&self, presented: &str) -> bool {
        [&self.admin_token, &self.metrics_token]
            .into_iter()
            .flatten()
            .any(|token| token.verify(presented.as_bytes()))
    }
}

/// The operator API's token: at least 16 characters, or unset.
pub fn admin_token(lookup: &Lookup) -> Result<Option<Secret>, ConfigError> {
    token(lookup, bindings::ADMIN_TOKEN)
}

/// The metrics token: at least 16 characters, or unset.
pub fn metrics_token(lookup: &Lookup) -> Result<Option<Secret>, ConfigError> {
    token(lookup, bindings::METRICS_TOKEN)
}

fn token(lookup: &Lookup, key: &'static str) -> Result<Option<Secret>, ConfigError> {
    match lookup.get(key) {
        None => Ok(None),
        Some(token) if token.trim().len() < 16 => Err(invalid(
            key,
            "must be at least 16 characters (e.g. `openssl rand -hex 32`)",
        )),
        Some(token) => Ok(Some(secret(key, &token)?)),
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

    #[test]
    fn the_metrics_token_reads_metrics_and_the_admin_token_too() {
        let (admin, metrics) = ("0123456789abcdef0123", "fedcba9876543210fedc");
        let off = config(&[]).unwrap().api;
        assert!(!off.metrics_enabled());
        assert!(!off.may_read_metrics(admin));
        let both = config(&[
            (bindings::ADMIN_TOKEN, admin),
            (bindings::METRICS_TOKEN, metrics),
        ])
        .unwrap()
        .api;
        assert!(both.metrics_enabled());
        assert!(both.may_read_metrics(admin) && both.may_read_metrics(metrics));
        assert!(!both.may_read_metrics("fedcba9876543210fed"), "a prefix");
        assert!(!both.may_read_metrics(""));
        let only = config(&[(bindings::METRICS_TOKEN, metrics)]).unwrap().api;
        assert!(only.metrics_enabled() && only.admin_token.is_none());
        let broken = problem(&[(bindings::METRICS_TOKEN, "short")]);
        assert_eq!(
            (broken.error.key, broken.effect),
            (bindings::METRICS_TOKEN, Effect::MetricsTokenOff)
        );
    }
}
