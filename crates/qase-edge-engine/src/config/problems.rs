//! What a configuration can be wrong with: [`ConfigError`] (a key and its
//! problem), and the broken optional settings that turn only their own
//! feature off ([`ConfigProblem`], with its [`Effect`]). A leaf, so that
//! every capability's settings can name these without importing `Config`.

use std::fmt;

use serde::Serialize;

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

/// The error for `key` with `problem`.
pub fn invalid(key: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        key,
        problem: problem.into(),
    }
}

/// What a broken optional setting does instead of stopping ingestion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// The operator API is off (`/api` answers `404`).
    OperatorApiOff,
    /// Deliveries to destinations wait in the queue until the setting is
    /// fixed; nothing is delivered, dropped or dead-lettered meanwhile.
    DeliveryPaused,
    /// Duplicates are not detected.
    DuplicatesNotDetected,
    /// The setting's default is used.
    DefaultUsed,
    /// No project is watched (`QASE_WATCH`).
    WatchOff,
    /// `GET /metrics` takes only the admin token (`QASE_METRICS_TOKEN`).
    MetricsTokenOff,
    /// Cloudflare Access is half or wrongly set: `/api` and `/console`
    /// answer `503` until it is fixed, never open without sign-in.
    AccessLocked,
    /// `QASE_API_TOKENS` is broken: no named token is accepted.
    ApiTokensOff,
    /// `QASE_ACCESS_ROLES` is broken: no Access identity has a role.
    AccessRolesOff,
}

/// A broken optional setting: the key and problem, and what it turned off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigProblem {
    /// The key and what is wrong with it.
    #[serde(flatten)]
    pub error: ConfigError,
    /// What the Worker does instead.
    pub effect: Effect,
}

/// The broken optional settings met so far, in the order they were read.
#[derive(Debug, Default)]
pub struct Problems(Vec<ConfigProblem>);

impl Problems {
    /// The value of an optional setting, or `fallback` with the problem
    /// recorded as having `effect`.
    pub fn optional<T>(
        &mut self,
        result: Result<T, ConfigError>,
        effect: Effect,
        fallback: T,
    ) -> T {
        result.unwrap_or_else(|error| {
            self.0.push(ConfigProblem { error, effect });
            fallback
        })
    }

    /// [`Problems::optional`] for a setting whose default is used instead.
    pub fn default_used<T>(&mut self, result: Result<T, ConfigError>, fallback: T) -> T {
        self.optional(result, Effect::DefaultUsed, fallback)
    }

    /// Every problem recorded, in reading order.
    pub fn into_vec(self) -> Vec<ConfigProblem> {
        self.0
    }
}
