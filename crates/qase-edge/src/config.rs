//! The Worker's configuration: read from `[vars]` and secrets once, parsed
//! into types and validated, with an error that names the key at fault.
//!
//! Pure Rust over a lookup function, so it is tested on the host.

use std::fmt;

use qase_webhooks::{Secret, SecretPolicy};
use serde::Serialize;

use crate::bindings;

/// Default largest accepted body: 1 MiB. Qase's largest documented payloads
/// (a test case with many steps) are a few kilobytes.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Largest `QASE_MAX_BODY_BYTES` accepted: Workers' own request limit on
/// the smallest plans is 100 MB, and KV values are capped at 25 MiB.
pub const MAX_MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// A configuration key that is missing or wrong. Its `Display` names the key
/// and the problem, never the value (which may be a secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigError {
    /// The variable or secret at fault.
    pub key: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.problem)
    }
}

impl std::error::Error for ConfigError {}

fn invalid(key: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        key,
        problem: problem.into(),
    }
}

/// How deliveries are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMode {
    /// `X-Qase-Secret` must match a configured secret.
    Required,
    /// Every delivery is accepted without a secret (local experiments).
    Disabled,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Which secrets are accepted; empty when none is configured.
    pub secrets: SecretPolicy,
    /// Whether authentication is on.
    pub auth: AuthMode,
    /// The largest accepted body, in bytes.
    pub max_body_bytes: usize,
}

impl Config {
    /// Reads and validates the configuration. `lookup` returns a variable's
    /// or secret's value, `None` when it is not set.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        // An empty value is treated as unset: `wrangler secret put` and
        // `.dev.vars` make it easy to leave one blank by accident.
        let get = |key: &str| lookup(key).filter(|value| !value.trim().is_empty());

        let auth = match get(bindings::AUTH).as_deref() {
            None | Some("required") => AuthMode::Required,
            Some("disabled") => AuthMode::Disabled,
            Some(_) => return Err(invalid(bindings::AUTH, "must be `required` or `disabled`")),
        };

        let max_body_bytes = match get(bindings::MAX_BODY_BYTES) {
            None => DEFAULT_MAX_BODY_BYTES,
            Some(text) => match text.trim().parse::<usize>() {
                Ok(n) if (1..=MAX_MAX_BODY_BYTES).contains(&n) => n,
                _ => {
                    return Err(invalid(
                        bindings::MAX_BODY_BYTES,
                        format!("must be a whole number of bytes from 1 to {MAX_MAX_BODY_BYTES}"),
                    ))
                }
            },
        };

        let secrets = match auth {
            AuthMode::Disabled => SecretPolicy::disabled(),
            AuthMode::Required => {
                let mut global = Vec::new();
                for key in [bindings::WEBHOOK_SECRET, bindings::WEBHOOK_SECRET_NEXT] {
                    if let Some(value) = lookup(key).filter(|v| !v.is_empty()) {
                        global.push(secret(key, &value)?);
                    }
                }
                let mut policy = SecretPolicy::new(global);
                if let Some(json) = get(bindings::PROJECT_SECRETS) {
                    for (project, value) in project_secrets(&json)? {
                        policy = policy.with_project_secret(
                            &project,
                            secret(bindings::PROJECT_SECRETS, &value)?,
                        );
                    }
                }
                policy
            }
        };

        Ok(Config {
            secrets,
            auth,
            max_body_bytes,
        })
    }
}

fn secret(key: &'static str, value: &str) -> Result<Secret, ConfigError> {
    Secret::new(value).map_err(|err| invalid(key, err.to_string()))
}

fn project_secrets(json: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let key = bindings::PROJECT_SECRETS;
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json)
        .map_err(|_| invalid(key, "must be a JSON object of project code to secret"))?;
    map.into_iter()
        .map(|(project, value)| match value {
            serde_json::Value::String(secret) if !secret.is_empty() && !project.is_empty() => {
                Ok((project, secret))
            }
            _ => Err(invalid(
                key,
                format!("project `{project}` must map to a non-empty string"),
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|key| vars.get(key).cloned())
    }

    #[test]
    fn defaults_need_nothing_but_refuse_everything() {
        let config = config(&[]).unwrap();
        assert_eq!(config.auth, AuthMode::Required);
        assert_eq!(config.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert!(config.secrets.is_empty());
    }

    #[test]
    fn both_rotation_secrets_and_project_secrets_are_read() {
        let config = config(&[
            (bindings::WEBHOOK_SECRET, "a"),
            (bindings::WEBHOOK_SECRET_NEXT, "b"),
            (bindings::PROJECT_SECRETS, r#"{"P1":"c","P2":"d"}"#),
        ])
        .unwrap();
        assert_eq!(config.secrets.secret_count(), 4);
        assert!(config.secrets.authenticate(Some(b"b")).is_ok());
    }

    #[test]
    fn bad_values_name_the_key_and_never_the_value() {
        let cases = [
            (bindings::AUTH, "off"),
            (bindings::MAX_BODY_BYTES, "0"),
            (bindings::MAX_BODY_BYTES, "lots"),
            (bindings::MAX_BODY_BYTES, "999999999999"),
            (bindings::PROJECT_SECRETS, "not json sekrit-value"),
            (bindings::PROJECT_SECRETS, r#"{"P":""}"#),
            (bindings::PROJECT_SECRETS, r#"{"P":["sekrit-value"]}"#),
        ];
        for (key, value) in cases {
            let error = config(&[(key, value)]).unwrap_err();
            assert_eq!(error.key, key, "{key}={value}");
            assert!(!error.to_string().contains("sekrit"), "{error}");
        }
    }

    #[test]
    fn authentication_can_be_turned_off_explicitly() {
        let config = config(&[(bindings::AUTH, "disabled")]).unwrap();
        assert_eq!(config.auth, AuthMode::Disabled);
        assert!(config.secrets.authenticate(None).is_ok());
    }
}
