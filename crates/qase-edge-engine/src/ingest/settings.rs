//! The ingest settings: who may deliver (`QASE_AUTH`, the webhook and
//! project secrets), how large a body may be, where each delivery is
//! routed, what happens to payloads that do not fit, the duplicate window
//! and which deliveries get a log line. Read and validated here; composed
//! into [`crate::config::Config`].

use qase_webhooks::routing::Routes;
use qase_webhooks::SecretPolicy;

use crate::config::bindings;
use crate::config::lookup::{secret, Lookup, MIN_TTL_SECONDS};
use crate::config::problems::{invalid, ConfigError};
use crate::store::settings::Sink;
use crate::text::{must_be, text_form};

/// Default largest accepted body: 1 MiB. Qase's largest documented payloads
/// (a test case with many steps) are a few kilobytes.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// Largest `QASE_MAX_BODY_BYTES` accepted: Workers' own request limit on
/// the smallest plans is 100 MB, and KV values are capped at 25 MiB.
pub const MAX_MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

/// Default duplicate window: a day.
pub const DEFAULT_DEDUPE_SECONDS: u64 = 86_400;

/// KV's smallest expiration TTL, so the smallest non-zero duplicate window.
pub const MIN_DEDUPE_SECONDS: u64 = MIN_TTL_SECONDS;

/// How deliveries are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// `X-Qase-Secret` must match a configured secret.
    Required,
    /// Every delivery is accepted without a secret (local experiments).
    Disabled,
}

// `QASE_AUTH`.
text_form!(AuthMode {
    Required => "required",
    Disabled => "disabled",
});

/// What happens to a delivery whose payload does not fit its event's model,
/// or whose event is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadPolicy {
    /// Store it apart (KV `quarantine/{id}`) with the reason, answer `202`.
    Quarantine,
    /// Answer `422` and store nothing.
    Reject,
}

// `QASE_PAYLOAD_POLICY`.
text_form!(PayloadPolicy {
    Quarantine => "quarantine",
    Reject => "reject",
});

/// Which deliveries get a log line of their own. Cloudflare's invocation
/// logs (`[observability]` in wrangler.toml) record every request's status
/// either way; the line adds the event id, name, project and outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogDeliveries {
    /// Every delivery.
    All,
    /// Only those not answered `2xx`, and quarantined ones (the default:
    /// a `console.log` line costs the runtime more than the whole
    /// validation, and Workers Logs and the D1 event store already record
    /// every accepted delivery; BENCHMARKS.md, issue 28).
    Refused,
    /// None: Workers Logs' invocation records are enough.
    None,
}

// `QASE_LOG_DELIVERIES`.
text_form!(LogDeliveries {
    All => "all",
    Refused => "refused",
    None => "none",
});

impl LogDeliveries {
    /// Whether a delivery answered `status` (`quarantined` when it was) gets a line.
    pub fn logs(self, status: u16, quarantined: bool) -> bool {
        match self {
            LogDeliveries::All => true,
            LogDeliveries::Refused => !(200..300).contains(&status) || quarantined,
            LogDeliveries::None => false,
        }
    }
}

/// What ingestion needs to know.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    /// Which secrets are accepted; empty when none is configured.
    pub secrets: SecretPolicy,
    /// Whether authentication is on.
    pub auth: AuthMode,
    /// The largest accepted body, in bytes.
    pub max_body_bytes: usize,
    /// Which deliveries go to which sinks.
    pub routes: Routes,
    /// What to do with payloads that do not fit.
    pub payload_policy: PayloadPolicy,
    /// The duplicate window in seconds; `None` when duplicates are not detected.
    pub dedupe_seconds: Option<u64>,
    /// Which deliveries get a log line.
    pub log_deliveries: LogDeliveries,
    /// Test-only: whether the body `panic` panics the ingest export.
    pub test_panic: bool,
}

/// The settings every delivery is checked against first, read before the
/// sinks: `QASE_AUTH`, `QASE_MAX_BODY_BYTES` and the secrets.
pub struct Access {
    /// Whether authentication is on.
    pub auth: AuthMode,
    /// The largest accepted body, in bytes.
    pub max_body_bytes: usize,
    /// Which secrets are accepted.
    pub secrets: SecretPolicy,
}

impl Access {
    /// Reads `QASE_AUTH`, `QASE_MAX_BODY_BYTES` and the secrets, in that order.
    pub fn read(lookup: &Lookup) -> Result<Access, ConfigError> {
        let auth = match lookup.get(bindings::AUTH).as_deref() {
            None => AuthMode::Required,
            Some(text) => AuthMode::parse(text)
                .ok_or_else(|| invalid(bindings::AUTH, must_be(&AuthMode::NAMES)))?,
        };
        let max_body_bytes = lookup.number(
            bindings::MAX_BODY_BYTES,
            DEFAULT_MAX_BODY_BYTES as u64,
            (1, MAX_MAX_BODY_BYTES as u64),
        )? as usize;
        let secrets = secret_policy(lookup, auth)?;
        Ok(Access {
            auth,
            max_body_bytes,
            secrets,
        })
    }
}

/// `QASE_ROUTES`: by default everything to every sink in use.
pub fn routes(lookup: &Lookup, sinks: &[Sink]) -> Result<Routes, ConfigError> {
    let sink_names: Vec<&str> = sinks.iter().map(|sink| sink.as_str()).collect();
    match lookup.get(bindings::ROUTES) {
        None => Ok(Routes::everything_to(
            sink_names.iter().map(|name| name.to_string()),
        )),
        Some(json) => Routes::parse(&json, &sink_names)
            .map_err(|err| invalid(bindings::ROUTES, err.to_string())),
    }
}

/// `QASE_LOG_DELIVERIES`: `all`, `refused` (default) or `none`.
pub fn log_deliveries(lookup: &Lookup) -> Result<LogDeliveries, ConfigError> {
    match lookup
        .get(bindings::LOG_DELIVERIES)
        .as_deref()
        .map(str::trim)
    {
        None => Ok(LogDeliveries::Refused),
        Some(text) => LogDeliveries::parse(text)
            .ok_or_else(|| invalid(bindings::LOG_DELIVERIES, must_be(&LogDeliveries::NAMES))),
    }
}

/// `QASE_DEDUPE_SECONDS`: the window of KV's duplicate markers. With the
/// d1 sink duplicates are exact for as long as events are kept, and the
/// window is not used (`0` still turns detection off).
pub fn dedupe_window(lookup: &Lookup, sinks: &[Sink]) -> Result<Option<u64>, ConfigError> {
    match lookup.ttl(bindings::DEDUPE_SECONDS, DEFAULT_DEDUPE_SECONDS, "off")? {
        Some(_) if !sinks.contains(&Sink::Kv) && !sinks.contains(&Sink::D1) => Err(invalid(
            bindings::DEDUPE_SECONDS,
            "duplicate detection needs the d1 sink (or KV markers: the kv sink), or set 0",
        )),
        window => Ok(window),
    }
}

/// `QASE_TEST_PANIC`: `1` only in the end-to-end test of a panic.
pub fn test_panic(lookup: &Lookup) -> bool {
    lookup.get(bindings::TEST_PANIC).as_deref() == Some("1")
}

/// The accepted secrets: none when authentication is disabled.
fn secret_policy(lookup: &Lookup, auth: AuthMode) -> Result<SecretPolicy, ConfigError> {
    if auth == AuthMode::Disabled {
        return Ok(SecretPolicy::disabled());
    }
    let mut global = Vec::new();
    for key in [bindings::WEBHOOK_SECRET, bindings::WEBHOOK_SECRET_NEXT] {
        if let Some(value) = lookup.raw(key).filter(|v| !v.is_empty()) {
            global.push(secret(key, &value)?);
        }
    }
    let mut policy = SecretPolicy::new(global);
    if let Some(json) = lookup.get(bindings::PROJECT_SECRETS) {
        for (project, value) in project_secrets(&json)? {
            let value = secret(bindings::PROJECT_SECRETS, &value)?;
            policy = policy.with_project_secret(&project, value);
        }
    }
    Ok(policy)
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

/// `QASE_PAYLOAD_POLICY`; quarantine needs a store for the bytes (d1 or kv).
pub fn payload_policy(lookup: &Lookup, sinks: &[Sink]) -> Result<PayloadPolicy, ConfigError> {
    let policy = match lookup.get(bindings::PAYLOAD_POLICY).as_deref() {
        None => PayloadPolicy::Quarantine,
        Some(text) => PayloadPolicy::parse(text)
            .ok_or_else(|| invalid(bindings::PAYLOAD_POLICY, must_be(&PayloadPolicy::NAMES)))?,
    };
    if policy == PayloadPolicy::Quarantine
        && !sinks.contains(&Sink::Kv)
        && !sinks.contains(&Sink::D1)
    {
        return Err(invalid(
            bindings::PAYLOAD_POLICY,
            "`quarantine` stores the bytes apart: add the d1 or kv sink, or set `reject`",
        ));
    }
    Ok(policy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::problems::Effect;
    use crate::config::test_support::{config, problem};

    #[test]
    fn defaults_need_nothing_but_refuse_everything() {
        let config = config(&[]).unwrap();
        assert_eq!(config.ingest.auth, AuthMode::Required);
        assert_eq!(config.ingest.max_body_bytes, DEFAULT_MAX_BODY_BYTES);
        assert!(config.ingest.secrets.is_empty());
    }

    #[test]
    fn both_rotation_secrets_and_project_secrets_are_read() {
        let config = config(&[
            (bindings::WEBHOOK_SECRET, "a"),
            (bindings::WEBHOOK_SECRET_NEXT, "b"),
            (bindings::PROJECT_SECRETS, r#"{"P1":"c","P2":"d"}"#),
        ])
        .unwrap();
        assert_eq!(config.ingest.secrets.secret_count(), 4);
        assert!(config.ingest.secrets.authenticate(Some(b"b")).is_ok());
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
    fn routes_default_to_everything_everywhere_and_may_only_name_sinks_in_use() {
        let config = config(&[]).unwrap();
        assert_eq!(
            config.ingest.routes.targets("case.created", "ANY").len(),
            2,
            "default route"
        );
        let routed = crate::config::test_support::config(&[(
            bindings::ROUTES,
            r#"[{"events":["run.*"],"to":["queue"]}]"#,
        )])
        .unwrap();
        assert!(routed.ingest.routes.targets("case.created", "P").is_empty());
        let error = crate::config::test_support::config(&[
            (bindings::SINKS, "kv"),
            (bindings::ROUTES, r#"[{"to":["queue"]}]"#),
        ])
        .unwrap_err();
        assert_eq!(error.key, bindings::ROUTES);
    }

    #[test]
    fn the_dedupe_window_is_off_or_at_least_a_minute() {
        assert_eq!(
            config(&[]).unwrap().ingest.dedupe_seconds,
            Some(DEFAULT_DEDUPE_SECONDS)
        );
        assert_eq!(
            config(&[(bindings::DEDUPE_SECONDS, "0")])
                .unwrap()
                .ingest
                .dedupe_seconds,
            None
        );
        let broken = problem(&[(bindings::DEDUPE_SECONDS, "30")]);
        assert_eq!(
            (broken.error.key, broken.effect),
            (bindings::DEDUPE_SECONDS, Effect::DuplicatesNotDetected)
        );
        let off = config(&[(bindings::DEDUPE_SECONDS, "30")]).unwrap();
        assert_eq!(off.ingest.dedupe_seconds, None);
    }

    #[test]
    fn delivery_log_lines_are_only_refused_ones_unless_all_are_asked_for() {
        assert_eq!(
            config(&[]).unwrap().ingest.log_deliveries,
            LogDeliveries::Refused
        );
        let all = config(&[(bindings::LOG_DELIVERIES, "all")]).unwrap();
        assert_eq!(all.ingest.log_deliveries, LogDeliveries::All);
        assert!(!LogDeliveries::Refused.logs(202, false));
        assert!(!LogDeliveries::Refused.logs(200, false));
        assert!(LogDeliveries::Refused.logs(202, true), "quarantined");
        assert!(LogDeliveries::Refused.logs(401, false));
        assert!(LogDeliveries::Refused.logs(503, false));
        assert!(LogDeliveries::All.logs(202, false));
        assert!(!LogDeliveries::None.logs(503, true));
        let broken = problem(&[(bindings::LOG_DELIVERIES, "some")]);
        assert_eq!(
            (broken.error.key, broken.effect),
            (bindings::LOG_DELIVERIES, Effect::DefaultUsed)
        );
        assert!(!config(&[]).unwrap().ingest.test_panic);
    }

    #[test]
    fn authentication_can_be_turned_off_explicitly() {
        let config = config(&[(bindings::AUTH, "disabled")]).unwrap();
        assert_eq!(config.ingest.auth, AuthMode::Disabled);
        assert!(config.ingest.secrets.authenticate(None).is_ok());
    }
}
