//! The runs' settings: Qase's REST API (`QASE_API_TOKEN`, `QASE_API_URL`),
//! for the failed cases of a run, the settle time between a run's end
//! and its report (`QASE_RUN_SETTLE_SECONDS`), and the projects the cron
//! reconciles with the API (`QASE_RECONCILE`). Read and validated here;
//! composed into [`crate::config::Config`].

use crate::config::bindings;
use crate::config::lookup::Lookup;
use crate::config::problems::{invalid, ConfigError};
use crate::delivery::settings::MAX_RETRY_SECONDS;

/// Qase's REST API, v1, as documented (api.qase.io; the EU region and
/// self-hosted installations have their own host).
pub const DEFAULT_API_URL: &str = "https://api.qase.io/v1";

/// Seconds between a run's end and its report by default: Qase sends the
/// run's last result events around `run.completed`, in any order.
pub const DEFAULT_SETTLE_SECONDS: u64 = 60;

/// Seconds a request to Qase's REST API may take by default: a Qase API
/// that holds a connection open holds up its run's report this long, and
/// nothing else (the report is a queue message of its own).
pub const DEFAULT_API_TIMEOUT_SECONDS: u64 = 10;
/// The longest a request to Qase's REST API may be allowed to take.
pub const MAX_API_TIMEOUT_SECONDS: u64 = 60;

/// Run reports and Qase's REST API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSettings {
    /// Qase's REST API, when a token is set.
    pub api: Option<QaseApi>,
    /// Seconds between a run's end and its report.
    pub settle_seconds: u64,
    /// The projects `QASE_RECONCILE` names (the watched ones are reconciled
    /// too: [`crate::runs::reconcile::projects`]).
    pub reconcile: Vec<String>,
}

impl Default for RunSettings {
    fn default() -> RunSettings {
        RunSettings {
            api: None,
            settle_seconds: DEFAULT_SETTLE_SECONDS,
            reconcile: Vec::new(),
        }
    }
}

/// Reads `QASE_RECONCILE` (none: no project of its own). The composed
/// [`crate::config::Config`] reads it on its own, so that a broken list
/// turns off reconciliation only.
pub fn reconcile(lookup: &Lookup) -> Result<Vec<String>, ConfigError> {
    match lookup.get(bindings::RECONCILE) {
        None => Ok(Vec::new()),
        Some(json) => {
            parse_reconcile(&json).map_err(|problem| invalid(bindings::RECONCILE, problem))
        }
    }
}

/// `QASE_RECONCILE`: a JSON list of project codes (`["WEB", "MOBILE"]`).
pub fn parse_reconcile(json: &str) -> Result<Vec<String>, String> {
    let codes: Vec<String> = serde_json::from_str(json)
        .map_err(|_| "must be a JSON list of project codes, e.g. [\"WEB\"]".to_owned())?;
    let mut projects: Vec<String> = Vec::new();
    for code in codes {
        let code = code.trim().to_owned();
        if code.is_empty() || code.len() > qase_webhooks::MAX_PROJECT_CODE_LEN {
            return Err(format!("`{code}` is no project code"));
        }
        if !projects.contains(&code) {
            projects.push(code);
        }
    }
    Ok(projects)
}

/// Where and how to call Qase's REST API.
#[derive(Clone, PartialEq, Eq)]
pub struct QaseApi {
    /// The base URL, without a trailing slash (`https://api.qase.io/v1`).
    pub base_url: String,
    /// The API token (`Token` header).
    pub token: String,
    /// How long one request may take, its answer read (`QASE_API_TIMEOUT_SECONDS`).
    pub timeout: std::time::Duration,
}

impl std::fmt::Debug for QaseApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QaseApi")
            .field("base_url", &self.base_url)
            .field("token", &"[redacted]")
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl RunSettings {
    /// Reads `QASE_API_TOKEN`, `QASE_API_URL`, `QASE_API_TIMEOUT_SECONDS`
    /// and `QASE_RUN_SETTLE_SECONDS`; `QASE_RECONCILE` is [`reconcile`]'s.
    pub fn read(lookup: &Lookup) -> Result<RunSettings, ConfigError> {
        let base_url = lookup.url(bindings::API_URL, DEFAULT_API_URL)?;
        let settle_seconds = match lookup.get(bindings::RUN_SETTLE_SECONDS) {
            None => DEFAULT_SETTLE_SECONDS,
            Some(text) => text
                .trim()
                .parse()
                .ok()
                .filter(|seconds| *seconds <= MAX_RETRY_SECONDS)
                .ok_or_else(|| {
                    invalid(
                        bindings::RUN_SETTLE_SECONDS,
                        "must be a whole number from 0 to 43200 (the queue's longest delay)",
                    )
                })?,
        };
        let timeout = match lookup.get(bindings::API_TIMEOUT_SECONDS) {
            None => DEFAULT_API_TIMEOUT_SECONDS,
            Some(text) => text
                .trim()
                .parse()
                .ok()
                .filter(|seconds| (1..=MAX_API_TIMEOUT_SECONDS).contains(seconds))
                .ok_or_else(|| {
                    invalid(
                        bindings::API_TIMEOUT_SECONDS,
                        "must be a whole number of seconds from 1 to 60",
                    )
                })?,
        };
        let api = lookup.get(bindings::API_TOKEN).map(|token| QaseApi {
            base_url,
            token: token.trim().to_owned(),
            timeout: std::time::Duration::from_secs(timeout),
        });
        Ok(RunSettings {
            api,
            settle_seconds,
            // Read on its own by the composed Config ([`reconcile`]).
            reconcile: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::store::settings::Sink;

    fn read(get: &dyn Fn(&str) -> Option<String>) -> Result<RunSettings, ConfigError> {
        RunSettings::read(&Lookup::new(get))
    }

    #[test]
    fn settings_default_and_validate() {
        let none = read(&|_| None).unwrap();
        assert_eq!(none, RunSettings::default());
        let set = read(&|key| match key {
            "QASE_API_TOKEN" => Some("tok".into()),
            "QASE_API_URL" => Some("https://api.qase.eu/v1/".into()),
            "QASE_RUN_SETTLE_SECONDS" => Some("5".into()),
            "QASE_API_TIMEOUT_SECONDS" => Some("3".into()),
            _ => None,
        })
        .unwrap();
        let lookup =
            |key: &str| (key == "QASE_RECONCILE").then(|| r#"["WEB", " MOB ", "WEB"]"#.to_owned());
        let listed = reconcile(&Lookup::new(&lookup)).unwrap();
        assert_eq!(listed, ["WEB", "MOB"], "trimmed, each once");
        let api = set.api.clone().unwrap();
        assert_eq!(
            (
                api.base_url.as_str(),
                set.settle_seconds,
                api.timeout.as_secs()
            ),
            ("https://api.qase.eu/v1", 5, 3)
        );
        let token_only = read(&|key| (key == "QASE_API_TOKEN").then(|| "t".into())).unwrap();
        assert_eq!(
            token_only.api.unwrap().timeout.as_secs(),
            DEFAULT_API_TIMEOUT_SECONDS
        );
        assert!(
            !format!("{set:?}").contains("tok\""),
            "the token is redacted"
        );
        for (key, value) in [
            ("QASE_API_URL", "ftp://x"),
            ("QASE_RUN_SETTLE_SECONDS", "43201"),
            ("QASE_API_TIMEOUT_SECONDS", "0"),
            ("QASE_API_TIMEOUT_SECONDS", "61"),
        ] {
            let error = read(&|k| (k == key).then(|| value.to_owned())).unwrap_err();
            assert_eq!(error.key, key);
        }
    }

    #[test]
    fn a_bad_setting_falls_back_and_is_reported() {
        let config = Config::from_lookup(
            |key| match key {
                "QASE_WEBHOOK_SECRET" => Some("a-secret".into()),
                "QASE_RUN_SETTLE_SECONDS" => Some("soon".into()),
                _ => None,
            },
            &[Sink::D1],
        )
        .unwrap();
        assert_eq!(config.runs.settle_seconds, DEFAULT_SETTLE_SECONDS);
        assert_eq!(config.problems[0].error.key, "QASE_RUN_SETTLE_SECONDS");
    }

    #[test]
    fn a_broken_reconcile_list_keeps_the_api_token() {
        let config = Config::from_lookup(
            |key| match key {
                "QASE_WEBHOOK_SECRET" => Some("a-secret".into()),
                "QASE_API_TOKEN" => Some("tok".into()),
                "QASE_RECONCILE" => Some("WEB".into()),
                _ => None,
            },
            &[Sink::D1],
        )
        .unwrap();
        assert!(config.runs.api.is_some(), "the token stays");
        assert!(config.runs.reconcile.is_empty());
        assert_eq!(config.problems[0].error.key, "QASE_RECONCILE");
        let fine = Config::from_lookup(
            |key| match key {
                "QASE_WEBHOOK_SECRET" => Some("a-secret".into()),
                "QASE_RECONCILE" => Some(r#"["WEB"]"#.into()),
                _ => None,
            },
            &[Sink::D1],
        )
        .unwrap();
        assert_eq!(fine.runs.reconcile, ["WEB"]);
        for bad in ["WEB", r#"[""]"#, r#"{"WEB": 1}"#, "[1]"] {
            let lookup = |key: &str| (key == "QASE_RECONCILE").then(|| bad.to_owned());
            assert_eq!(
                reconcile(&Lookup::new(&lookup)).unwrap_err().key,
                "QASE_RECONCILE",
                "{bad}"
            );
        }
    }
}
