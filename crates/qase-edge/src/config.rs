//! The Worker's configuration: read from `[vars]` and secrets once, parsed
//! into types and validated, with an error that names the key at fault.
//!
//! Pure Rust over a lookup function, so it is tested on the host.

use std::fmt;

use qase_webhooks::routing::Routes;
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

/// Default duplicate window: a day.
pub const DEFAULT_DEDUPE_SECONDS: u64 = 86_400;

/// KV's smallest expiration TTL, so the smallest non-zero duplicate window.
pub const MIN_DEDUPE_SECONDS: u64 = 60;

/// Where accepted deliveries are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sink {
    /// Workers KV, binding `QASE_EVENTS`.
    Kv,
    /// Cloudflare Queues, binding `QASE_DELIVERIES`.
    Queue,
}

impl Sink {
    /// Every sink, in write order.
    pub const ALL: [Sink; 2] = [Sink::Kv, Sink::Queue];

    /// The name used in `QASE_SINKS` and `QASE_ROUTES`.
    pub fn name(self) -> &'static str {
        match self {
            Sink::Kv => "kv",
            Sink::Queue => "queue",
        }
    }

    fn from_name(name: &str) -> Option<Sink> {
        Sink::ALL.into_iter().find(|sink| sink.name() == name)
    }
}

/// What happens to a delivery whose payload does not fit its event's model,
/// or whose event is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PayloadPolicy {
    /// Store it apart (KV `quarantine/{id}`) with the reason, answer `202`.
    Quarantine,
    /// Answer `422` and store nothing.
    Reject,
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
    /// The sinks in use, in write order.
    pub sinks: Vec<Sink>,
    /// Which deliveries go to which sinks.
    pub routes: Routes,
    /// What to do with payloads that do not fit.
    pub payload_policy: PayloadPolicy,
    /// The duplicate window in seconds; `None` when duplicates are not detected.
    pub dedupe_seconds: Option<u64>,
}

impl Config {
    /// Whether `sink` is in use.
    pub fn has_sink(&self, sink: Sink) -> bool {
        self.sinks.contains(&sink)
    }
}

impl Config {
    /// Reads and validates the configuration. `lookup` returns a variable's
    /// or secret's value, `None` when it is not set; `bound` lists the sinks
    /// whose bindings exist.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        bound: &[Sink],
    ) -> Result<Config, ConfigError> {
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

        let sinks = match get(bindings::SINKS) {
            None => bound.to_vec(),
            Some(list) => {
                let mut sinks = Vec::new();
                for name in list.split(',').map(str::trim) {
                    let sink = Sink::from_name(name).ok_or_else(|| {
                        invalid(
                            bindings::SINKS,
                            format!("unknown sink `{name}` (known: kv, queue)"),
                        )
                    })?;
                    if !bound.contains(&sink) {
                        return Err(invalid(
                            bindings::SINKS,
                            format!("sink `{name}` has no binding in wrangler.toml"),
                        ));
                    }
                    if !sinks.contains(&sink) {
                        sinks.push(sink);
                    }
                }
                sinks.sort();
                sinks
            }
        };
        if sinks.is_empty() {
            return Err(invalid(
                bindings::SINKS,
                "no sink: bind QASE_EVENTS (KV) or QASE_DELIVERIES (queue) in wrangler.toml",
            ));
        }

        let sink_names: Vec<&str> = sinks.iter().map(|sink| sink.name()).collect();
        let routes = match get(bindings::ROUTES) {
            None => Routes::everything_to(sink_names.iter().map(|name| name.to_string())),
            Some(json) => Routes::parse(&json, &sink_names)
                .map_err(|err| invalid(bindings::ROUTES, err.to_string()))?,
        };

        let payload_policy = match get(bindings::PAYLOAD_POLICY).as_deref() {
            None | Some("quarantine") => PayloadPolicy::Quarantine,
            Some("reject") => PayloadPolicy::Reject,
            Some(_) => {
                return Err(invalid(
                    bindings::PAYLOAD_POLICY,
                    "must be `quarantine` or `reject`",
                ))
            }
        };
        if payload_policy == PayloadPolicy::Quarantine && !sinks.contains(&Sink::Kv) {
            return Err(invalid(
                bindings::PAYLOAD_POLICY,
                "`quarantine` stores in KV: add the kv sink or set `reject`",
            ));
        }

        let dedupe_seconds = match get(bindings::DEDUPE_SECONDS) {
            None => Some(DEFAULT_DEDUPE_SECONDS),
            Some(text) => match text.trim().parse::<u64>() {
                Ok(0) => None,
                Ok(n) if n >= MIN_DEDUPE_SECONDS => Some(n),
                _ => {
                    return Err(invalid(
                        bindings::DEDUPE_SECONDS,
                        format!(
                            "must be 0 (off) or a whole number of seconds >= {MIN_DEDUPE_SECONDS}"
                        ),
                    ))
                }
            },
        };
        if dedupe_seconds.is_some() && !sinks.contains(&Sink::Kv) {
            return Err(invalid(
                bindings::DEDUPE_SECONDS,
                "duplicate detection keeps its markers in KV: add the kv sink or set 0",
            ));
        }

        Ok(Config {
            secrets,
            auth,
            max_body_bytes,
            sinks,
            routes,
            payload_policy,
            dedupe_seconds,
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
        Config::from_lookup(|key| vars.get(key).cloned(), &Sink::ALL)
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
            (bindings::SINKS, "s3"),
            (bindings::ROUTES, "[{]"),
            (bindings::PAYLOAD_POLICY, "drop"),
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
    fn sinks_default_to_every_bound_one_and_must_be_bound() {
        assert_eq!(config(&[]).unwrap().sinks, [Sink::Kv, Sink::Queue]);
        assert_eq!(
            config(&[(bindings::SINKS, "queue")])
                .map_err(|e| e.key)
                .unwrap_err(),
            bindings::PAYLOAD_POLICY,
            "queue alone cannot quarantine"
        );
        let queue_only = config(&[
            (bindings::SINKS, "queue"),
            (bindings::PAYLOAD_POLICY, "reject"),
            (bindings::DEDUPE_SECONDS, "0"),
        ])
        .unwrap();
        assert_eq!(queue_only.sinks, [Sink::Queue]);
        let kv_bound_only = Config::from_lookup(
            |key| (key == bindings::SINKS).then(|| "kv,queue".to_owned()),
            &[Sink::Kv],
        )
        .unwrap_err();
        assert!(
            kv_bound_only.problem.contains("no binding"),
            "{kv_bound_only}"
        );
        assert!(Config::from_lookup(|_| None, &[]).is_err());
    }

    #[test]
    fn routes_default_to_everything_everywhere_and_may_only_name_sinks_in_use() {
        let config = config(&[]).unwrap();
        assert_eq!(
            config.routes.targets("case.created", "ANY").len(),
            2,
            "default route"
        );
        let routed =
            super::tests::config(&[(bindings::ROUTES, r#"[{"events":["run.*"],"to":["queue"]}]"#)])
                .unwrap();
        assert!(routed.routes.targets("case.created", "P").is_empty());
        let error = super::tests::config(&[
            (bindings::SINKS, "kv"),
            (bindings::ROUTES, r#"[{"to":["queue"]}]"#),
        ])
        .unwrap_err();
        assert_eq!(error.key, bindings::ROUTES);
    }

    #[test]
    fn the_dedupe_window_is_off_or_at_least_a_minute() {
        assert_eq!(
            config(&[]).unwrap().dedupe_seconds,
            Some(DEFAULT_DEDUPE_SECONDS)
        );
        assert_eq!(
            config(&[(bindings::DEDUPE_SECONDS, "0")])
                .unwrap()
                .dedupe_seconds,
            None
        );
        assert_eq!(
            config(&[(bindings::DEDUPE_SECONDS, "30")]).unwrap_err().key,
            bindings::DEDUPE_SECONDS
        );
    }

    #[test]
    fn authentication_can_be_turned_off_explicitly() {
        let config = config(&[(bindings::AUTH, "disabled")]).unwrap();
        assert_eq!(config.auth, AuthMode::Disabled);
        assert!(config.secrets.authenticate(None).is_ok());
    }
}
