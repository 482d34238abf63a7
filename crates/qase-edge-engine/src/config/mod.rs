//! The Worker's configuration, composed: each capability reads and
//! validates its own settings in its `settings.rs` (`ingest`, `store`,
//! `delivery`, `alerts`, `runs`, `api`), and [`Config`] holds them, read
//! once from `[vars]` and secrets. What stays here is what they share: how
//! settings are looked up ([`lookup`]), what can be wrong with one
//! ([`problems`]), and every binding's name ([`bindings`]).
//!
//! Pure Rust over a lookup function, so it is tested on the host.

pub mod bindings;
pub mod lookup;
pub mod problems;

pub use problems::{ConfigError, ConfigProblem, Effect};

use crate::access::settings::{self as access, AccessGate};
use crate::alerts::settings::{self as alerts, AlertSettings};
use crate::api::auth;
use crate::api::settings::{self as api, ApiSettings};
use crate::config::lookup::Lookup;
use crate::config::problems::Problems;
use crate::delivery::breaker::BreakerSettings;
use crate::delivery::settings::{self as delivery, DeliverySettings, Destination};
use crate::ingest::settings::{self as ingest, Access, IngestSettings, LogDeliveries};
use crate::runs::settings::RunSettings;
use crate::store::settings::{
    self as store, Sink, StoreSettings, DEFAULT_REDRIVE_AFTER_SECONDS, DEFAULT_RETENTION_SECONDS,
};
use qase_webhooks::retry::RetryPolicy;
use qase_webhooks::Secret;

/// The validated configuration, one part per capability.
#[derive(Debug, Clone)]
pub struct Config {
    /// Optional settings that are broken, each with what it turned off
    /// (reported by `GET /health` and logged once per isolate).
    pub problems: Vec<ConfigProblem>,
    /// Who may deliver, body limit, routes, payload policy, duplicates, logs.
    pub ingest: IngestSettings,
    /// Sinks, retention and the sweep's re-drive.
    pub store: StoreSettings,
    /// Destinations, retries, the dead-letter queue, the breaker, links.
    pub delivery: DeliverySettings,
    /// The alert interval and the watched projects.
    pub alerts: AlertSettings,
    /// Run reports and Qase's REST API (`QASE_API_TOKEN`, `QASE_API_URL`,
    /// `QASE_RUN_SETTLE_SECONDS`).
    pub runs: RunSettings,
    /// The operator API's token.
    pub api: ApiSettings,
}

impl Config {
    /// The problem that caused `effect`, if any.
    pub fn problem(&self, effect: Effect) -> Option<&ConfigProblem> {
        self.problems.iter().find(|p| p.effect == effect)
    }

    /// Reads and validates the configuration. `lookup` returns a variable's
    /// or secret's value, `None` when it is not set; `bound` lists the sinks
    /// whose bindings exist.
    ///
    /// The settings without which no delivery can be taken (authentication,
    /// body limit, sinks, routes, payload policy) stop here with an error;
    /// every other one turns only its own feature off (or back to its
    /// default) and is reported, while deliveries keep being accepted and
    /// stored: Qase documents no retries, so refusing them over an
    /// operator-API typo loses events.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
        bound: &[Sink],
    ) -> Result<Config, ConfigError> {
        let lookup = Lookup::new(&lookup);
        let access = Access::read(&lookup)?;
        let sinks = store::sinks(&lookup, bound, access.max_body_bytes)?;
        let routes = ingest::routes(&lookup, &sinks)?;
        let payload_policy = ingest::payload_policy(&lookup, &sinks)?;
        let optional = Optional::read(&lookup, &sinks);
        Ok(Config {
            ingest: IngestSettings {
                secrets: access.secrets,
                auth: access.auth,
                max_body_bytes: access.max_body_bytes,
                routes,
                payload_policy,
                dedupe_seconds: optional.dedupe_seconds,
                log_deliveries: optional.log_deliveries,
                test_panic: ingest::test_panic(&lookup),
            },
            store: StoreSettings {
                sinks,
                kv_bound: bound.contains(&Sink::Kv),
                retention_seconds: optional.retention_seconds,
                redrive_after_seconds: optional.redrive_after_seconds,
            },
            delivery: DeliverySettings {
                destinations: optional.destinations,
                retry: optional.retry,
                dead_letter_queue: delivery::dead_letter_queue(&lookup),
                breaker: optional.breaker,
                app_url: optional.app_url,
            },
            alerts: AlertSettings {
                interval_ms: optional.alert_interval_seconds * 1000,
                watch: optional.watch,
                disabled_grace_seconds: optional.disabled_grace_seconds,
            },
            runs: RunSettings {
                reconcile: optional.reconcile,
                ..optional.runs
            },
            api: ApiSettings {
                admin_token: optional.admin_token,
                metrics_token: optional.metrics_token,
                access: optional.access,
                tokens: optional.tokens,
                access_roles: optional.access_roles,
            },
            problems: optional.problems.into_vec(),
        })
    }
}

/// The settings whose failure turns only their own feature off, whatever
/// capability each belongs to.
struct Optional {
    problems: Problems,
    dedupe_seconds: Option<u64>,
    destinations: Vec<Destination>,
    retry: RetryPolicy,
    admin_token: Option<Secret>,
    metrics_token: Option<Secret>,
    access: AccessGate,
    tokens: Vec<crate::api::auth::NamedToken>,
    access_roles: Vec<crate::api::auth::AccessRule>,
    retention_seconds: Option<u64>,
    log_deliveries: LogDeliveries,
    app_url: String,
    redrive_after_seconds: u64,
    runs: RunSettings,
    breaker: BreakerSettings,
    alert_interval_seconds: u64,
    watch: Vec<crate::alerts::watch::Watched>,
    reconcile: Vec<String>,
    disabled_grace_seconds: u64,
}

impl Optional {
    /// Reads each optional setting, each with its effect and fallback. The
    /// order is the order of `config_problems` in `GET /health`, kept as it
    /// was before the settings were split by capability.
    fn read(lookup: &Lookup, sinks: &[Sink]) -> Optional {
        let mut problems = Problems::default();
        let p = &mut problems;
        // A struct literal evaluates its fields in the order written.
        Optional {
            dedupe_seconds: p.optional(
                ingest::dedupe_window(lookup, sinks),
                Effect::DuplicatesNotDetected,
                None,
            ),
            destinations: p.optional(
                delivery::destinations_setting(lookup, sinks),
                Effect::DeliveryPaused,
                Vec::new(),
            ),
            retry: p.default_used(delivery::retry_policy(lookup), RetryPolicy::default()),
            admin_token: p.optional(api::admin_token(lookup), Effect::OperatorApiOff, None),
            retention_seconds: p
                .default_used(store::retention(lookup), Some(DEFAULT_RETENTION_SECONDS)),
            log_deliveries: p.default_used(ingest::log_deliveries(lookup), LogDeliveries::Refused),
            app_url: p.default_used(
                delivery::app_url(lookup),
                qase_webhooks::chat::DEFAULT_APP_URL.to_owned(),
            ),
            redrive_after_seconds: p
                .default_used(store::redrive_after(lookup), DEFAULT_REDRIVE_AFTER_SECONDS),
            runs: p.default_used(RunSettings::read(lookup), RunSettings::default()),
            breaker: p.default_used(
                delivery::breaker_settings(lookup),
                BreakerSettings::default(),
            ),
            alert_interval_seconds: p.default_used(
                alerts::interval_seconds(lookup),
                alerts::DEFAULT_ALERT_INTERVAL_SECONDS,
            ),
            watch: p.optional(alerts::watch(lookup), Effect::WatchOff, Vec::new()),
            metrics_token: p.optional(api::metrics_token(lookup), Effect::MetricsTokenOff, None),
            // Read on its own: a broken list must not cost the API token.
            reconcile: p.default_used(crate::runs::settings::reconcile(lookup), Vec::new()),
            disabled_grace_seconds: p.default_used(
                alerts::disabled_grace(lookup),
                alerts::DEFAULT_DISABLED_GRACE_SECONDS,
            ),
            // Broken: locked, never open.
            access: p.optional(
                access::read(lookup).map(|read| read.map_or(AccessGate::Off, AccessGate::Required)),
                Effect::AccessLocked,
                AccessGate::Locked,
            ),
            tokens: p.optional(auth::api_tokens(lookup), Effect::ApiTokensOff, Vec::new()),
            access_roles: p.optional(
                auth::access_roles(lookup),
                Effect::AccessRolesOff,
                Vec::new(),
            ),
            problems,
        }
    }
}

/// The log lines a loaded configuration calls for, written once per isolate
/// by each module that loads it: the error that stops ingestion, or each
/// broken optional setting and what it turned off. Keys and problems only,
/// never a value.
pub fn log_lines(config: &Result<Config, ConfigError>) -> Vec<String> {
    match config {
        Err(error) => vec![serde_json::json!({
            "event": "config_error",
            "key": error.key,
            "problem": error.problem,
        })
        .to_string()],
        Ok(config) => config
            .problems
            .iter()
            .map(|problem| {
                serde_json::json!({
                    "event": "config_problem",
                    "key": problem.error.key,
                    "problem": problem.error.problem,
                    "effect": problem.effect,
                })
                .to_string()
            })
            .collect(),
    }
}

/// Test support: a configuration with the secret `s3cret`, every sink bound,
/// and `pairs` (the last value of a key wins).
#[cfg(test)]
pub fn for_tests(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut vars: Vec<(String, String)> = vec![(bindings::WEBHOOK_SECRET.into(), "s3cret".into())];
    vars.extend(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    Config::from_lookup(
        |key| {
            vars.iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        },
        &Sink::ALL,
    )
}

/// Test support for the settings' tests: exactly `pairs`, every sink bound.
#[cfg(test)]
pub mod test_support {
    use std::collections::HashMap;

    use super::{Config, ConfigError, ConfigProblem, Sink};

    /// The configuration of exactly `pairs`, every sink bound.
    pub fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|key| vars.get(key).cloned(), &Sink::ALL)
    }

    /// The one problem a broken optional setting leaves in an otherwise
    /// working configuration.
    pub fn problem(pairs: &[(&str, &str)]) -> ConfigProblem {
        let config = config(pairs).expect("an optional setting never stops ingestion");
        assert_eq!(config.problems.len(), 1, "{:?}", config.problems);
        config.problems[0].clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_optional_setting_is_one_line_with_its_key_problem_and_effect() {
        let config = for_tests(&[(bindings::ADMIN_TOKEN, "14-characters!")]);
        let lines = log_lines(&config);
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(line["event"], "config_problem");
        assert_eq!(line["key"], bindings::ADMIN_TOKEN);
        assert_eq!(line["effect"], "operator_api_off");
        assert!(line["problem"].as_str().is_some_and(|p| !p.is_empty()));
        assert!(
            !lines[0].contains("14-characters!"),
            "never the value: {}",
            lines[0]
        );
    }

    #[test]
    fn a_broken_configuration_is_one_config_error_line_and_a_sound_one_none() {
        let broken = Err(problems::invalid(bindings::WEBHOOK_SECRET, "is empty"));
        assert_eq!(
            log_lines(&broken),
            [r#"{"event":"config_error","key":"QASE_WEBHOOK_SECRET","problem":"is empty"}"#]
        );
        assert!(log_lines(&for_tests(&[])).is_empty());
    }
}
