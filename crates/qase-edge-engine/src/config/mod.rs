//! The Worker's configuration: read from `[vars]` and secrets once, parsed
//! into types and validated, with an error that names the key at fault.
//!
//! Pure Rust over a lookup function, so it is tested on the host.

pub mod bindings;

use std::fmt;

use std::time::Duration;

use qase_webhooks::retry::RetryPolicy;
use qase_webhooks::routing::{Filter, Routes};
use qase_webhooks::signing::SigningSecret;
use qase_webhooks::{ChatFormat, Secret, SecretPolicy};
use serde::{Deserialize, Serialize};

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

/// Default retention: 30 days.
pub const DEFAULT_RETENTION_SECONDS: u64 = 30 * 86_400;
/// Default of `QASE_REDRIVE_AFTER_SECONDS`: far above the queue's usual
/// delay, so that the sweep rarely sends what is only slow (harmless when it
/// does: the consumer's claim forwards one of the two).
pub const DEFAULT_REDRIVE_AFTER_SECONDS: u64 = 300;

/// Default duplicate window: a day.
pub const DEFAULT_DEDUPE_SECONDS: u64 = 86_400;

/// KV's smallest expiration TTL, so the smallest non-zero duplicate window.
pub const MIN_DEDUPE_SECONDS: u64 = 60;

/// Where accepted deliveries are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sink {
    /// The D1 event store, binding `QASE_DB` (see [`crate::store::d1`]).
    D1,
    /// Workers KV, binding `QASE_EVENTS`: the raw bytes, one key per event.
    Kv,
    /// Cloudflare Queues, binding `QASE_DELIVERIES`.
    Queue,
}

impl Sink {
    /// Every sink, in write order.
    pub const ALL: [Sink; 3] = [Sink::D1, Sink::Kv, Sink::Queue];

    /// The name used in `QASE_SINKS` and `QASE_ROUTES`.
    pub fn name(self) -> &'static str {
        match self {
            Sink::D1 => "d1",
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

/// Default time a destination has to answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default name of the dead-letter queue (as in wrangler.toml).
pub const DEFAULT_DEAD_LETTER_QUEUE: &str = "qase-deliveries-dlq";

/// Longest delay a queue message can be given (Cloudflare Queues: 12 hours).
pub const MAX_RETRY_SECONDS: u64 = 43_200;

/// A downstream service that accepted events are forwarded to.
#[derive(Debug, Clone)]
pub struct Destination {
    /// A short unique name, used in logs, dead letters and replays.
    pub name: String,
    /// Where to `POST` (from configuration only, never from an event).
    pub url: String,
    /// Which events and projects it receives.
    pub filter: Filter,
    /// Extra static headers.
    pub headers: Vec<(String, String)>,
    /// How long it has to answer.
    pub timeout: Duration,
    /// The Standard Webhooks secret to sign with, if any.
    pub signing: Option<SigningSecret>,
    /// Whether it receives events at all.
    pub enabled: bool,
    /// What it is sent: the exact bytes, or a chat message.
    pub format: Format,
    /// The least time between two posts to it (chat services throttle);
    /// `None`: not paced.
    pub pace: Option<Duration>,
    /// Whether it gets one report per finished run (`"reports": true`;
    /// see [`crate::runs::report`]).
    pub reports: bool,
    /// Whether it gets alerts (`"alerts": true`, chat formats only): other
    /// destinations paused or resumed, watched projects quiet or back.
    pub alerts: bool,
}

/// What a destination is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The exact bytes Qase sent, with Standard Webhooks headers.
    Standard,
    /// A message for a chat service's incoming webhook, made from the event.
    Chat(ChatFormat),
}

impl Format {
    /// The format named in `QASE_DESTINATIONS`.
    fn parse(name: &str) -> Option<Format> {
        match name {
            "standard" => Some(Format::Standard),
            other => ChatFormat::parse(other).map(Format::Chat),
        }
    }

    /// The documented pace of each chat service's incoming webhooks: Slack
    /// about one message per second, Discord 5 per 2 seconds, Google Chat
    /// one per second per space, Teams Workflows a few per second.
    pub fn default_pace(self) -> Option<Duration> {
        match self {
            Format::Standard => None,
            Format::Chat(ChatFormat::Slack | ChatFormat::GoogleChat) => {
                Some(Duration::from_millis(1000))
            }
            Format::Chat(ChatFormat::Discord) => Some(Duration::from_millis(400)),
            Format::Chat(ChatFormat::Teams) => Some(Duration::from_millis(250)),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDestination {
    name: String,
    url: String,
    #[serde(default)]
    events: Vec<String>,
    #[serde(default)]
    projects: Vec<String>,
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    /// The name of the secret holding the `whsec_...` value.
    #[serde(default)]
    signing_secret: Option<String>,
    #[serde(default = "enabled_by_default")]
    enabled: bool,
    /// `standard` (default), `slack`, `teams`, `discord` or `google_chat`.
    #[serde(default)]
    format: Option<String>,
    /// Least milliseconds between two posts (default: the service's pace).
    #[serde(default)]
    pace_ms: Option<u64>,
    /// One report per finished run (default false).
    #[serde(default)]
    reports: bool,
    /// Alerts about the other destinations and watched projects (default false).
    #[serde(default)]
    alerts: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// Whether `name` is a valid destination name: 1 to 64 ASCII letters,
/// digits, `-` or `_` (so it is safe in a KV key and a log line as it is).
pub fn is_destination_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Which deliveries get a log line of their own. Cloudflare's invocation
/// logs (`[observability]` in wrangler.toml) record every request's status
/// either way; the line adds the event id, name, project and outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogDeliveries {
    /// Every delivery (the default).
    All,
    /// Only those not answered `2xx`, and quarantined ones.
    Refused,
    /// None: Workers Logs' invocation records are enough.
    None,
}

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

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Optional settings that are broken, each with what it turned off
    /// (reported by `GET /health` and logged once per isolate).
    pub problems: Vec<ConfigProblem>,
    /// Which secrets are accepted; empty when none is configured.
    pub secrets: SecretPolicy,
    /// Whether authentication is on.
    pub auth: AuthMode,
    /// The largest accepted body, in bytes.
    pub max_body_bytes: usize,
    /// The sinks in use, in write order.
    pub sinks: Vec<Sink>,
    /// Whether KV is bound, in use as a sink or not: it holds what a failed
    /// D1 or queue write left behind (`rescue/{id}`) and bodies too large
    /// for a D1 row.
    pub kv_bound: bool,
    /// Which deliveries go to which sinks.
    pub routes: Routes,
    /// What to do with payloads that do not fit.
    pub payload_policy: PayloadPolicy,
    /// The duplicate window in seconds; `None` when duplicates are not detected.
    pub dedupe_seconds: Option<u64>,
    /// Downstream services, in configuration order.
    pub destinations: Vec<Destination>,
    /// Backoff and attempts for deliveries.
    pub retry: RetryPolicy,
    /// The dead-letter queue's name.
    pub dead_letter_queue: String,
    /// The operator API's token; `None` turns the API off.
    pub admin_token: Option<Secret>,
    /// TTL of stored events, dead letters and delivery states, in seconds.
    pub retention_seconds: Option<u64>,
    /// Which deliveries get a log line.
    pub log_deliveries: LogDeliveries,
    /// Qase's web app, for links in chat messages (`QASE_APP_URL`).
    pub app_url: String,
    /// How old a `pending` row must be before the sweep sends it to the
    /// queue again (`QASE_REDRIVE_AFTER_SECONDS`).
    pub redrive_after_seconds: u64,
    /// Test-only: whether the body `panic` panics the ingest export.
    pub test_panic: bool,
    /// Run reports and Qase's REST API (`QASE_API_TOKEN`, `QASE_API_URL`,
    /// `QASE_RUN_SETTLE_SECONDS`).
    pub runs: crate::runs::report::RunSettings,
    /// The destinations' breaker (`QASE_BREAKER_*`).
    pub breaker: crate::delivery::breaker::BreakerSettings,
    /// The least time between two alerts of one kind about one subject, in ms.
    pub alert_interval_ms: u64,
    /// The watched projects (`QASE_WATCH`).
    pub watch: Vec<crate::alerts::watch::Watched>,
}

impl Config {
    /// The destinations that receive alerts about `subject` (never the
    /// subject itself, and none about an alert destination).
    pub fn alert_destinations(&self, subject: Option<&str>) -> Vec<&Destination> {
        if subject.is_some_and(|name| self.destination(name).is_some_and(|d| d.alerts)) {
            return Vec::new();
        }
        self.destinations
            .iter()
            .filter(|d| d.enabled && d.alerts && Some(d.name.as_str()) != subject)
            .collect()
    }

    /// Whether `sink` is in use.
    pub fn has_sink(&self, sink: Sink) -> bool {
        self.sinks.contains(&sink)
    }

    /// The problem that caused `effect`, if any.
    pub fn problem(&self, effect: Effect) -> Option<&ConfigProblem> {
        self.problems.iter().find(|p| p.effect == effect)
    }

    /// The enabled destinations whose filter matches an event, in
    /// configuration order: the one rule for fan-out and for replay.
    pub fn matching_destinations(&self, event_name: &str, project_code: &str) -> Vec<&Destination> {
        self.destinations
            .iter()
            .filter(|d| d.enabled && d.filter.matches(event_name, project_code))
            .collect()
    }

    /// The destination called `name`.
    pub fn destination(&self, name: &str) -> Option<&Destination> {
        self.destinations.iter().find(|d| d.name == name)
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

        let max_body_bytes = number(
            &get,
            bindings::MAX_BODY_BYTES,
            DEFAULT_MAX_BODY_BYTES as u64,
            (1, MAX_MAX_BODY_BYTES as u64),
        )? as usize;

        let secrets = secret_policy(&get, &lookup, auth)?;

        let sinks = sinks_setting(&get, bound)?;
        if sinks.contains(&Sink::D1)
            && max_body_bytes > crate::store::d1::D1_BODY_LIMIT
            && !bound.contains(&Sink::Kv)
        {
            return Err(invalid(
                bindings::MAX_BODY_BYTES,
                format!(
                    "bodies over {} bytes do not fit a D1 row and are kept in KV: bind QASE_EVENTS or lower it",
                    crate::store::d1::D1_BODY_LIMIT
                ),
            ));
        }

        let sink_names: Vec<&str> = sinks.iter().map(|sink| sink.name()).collect();
        let routes = match get(bindings::ROUTES) {
            None => Routes::everything_to(sink_names.iter().map(|name| name.to_string())),
            Some(json) => Routes::parse(&json, &sink_names)
                .map_err(|err| invalid(bindings::ROUTES, err.to_string()))?,
        };

        let payload_policy = payload_policy(&get, &sinks)?;

        let optional = OptionalSettings::read(&get, &lookup, &sinks);
        Ok(Config {
            kv_bound: bound.contains(&Sink::Kv),
            problems: optional.problems,
            admin_token: optional.admin_token,
            retention_seconds: optional.retention_seconds,
            secrets,
            auth,
            max_body_bytes,
            sinks,
            routes,
            payload_policy,
            dedupe_seconds: optional.dedupe_seconds,
            destinations: optional.destinations,
            retry: optional.retry,
            log_deliveries: optional.log_deliveries,
            app_url: optional.app_url,
            redrive_after_seconds: optional.redrive_after_seconds,
            test_panic: get(bindings::TEST_PANIC).as_deref() == Some("1"),
            runs: optional.runs,
            breaker: optional.breaker,
            alert_interval_ms: optional.alert_interval_seconds * 1000,
            watch: optional.watch,
            dead_letter_queue: get(bindings::DEAD_LETTER_QUEUE_NAME)
                .unwrap_or_else(|| DEFAULT_DEAD_LETTER_QUEUE.to_owned()),
        })
    }
}

/// The settings whose failure turns only their own feature off.
struct OptionalSettings {
    problems: Vec<ConfigProblem>,
    dedupe_seconds: Option<u64>,
    destinations: Vec<Destination>,
    retry: RetryPolicy,
    admin_token: Option<Secret>,
    retention_seconds: Option<u64>,
    log_deliveries: LogDeliveries,
    app_url: String,
    redrive_after_seconds: u64,
    runs: crate::runs::report::RunSettings,
    breaker: crate::delivery::breaker::BreakerSettings,
    alert_interval_seconds: u64,
    watch: Vec<crate::alerts::watch::Watched>,
}

impl OptionalSettings {
    fn read(
        get: &impl Fn(&str) -> Option<String>,
        lookup: &impl Fn(&str) -> Option<String>,
        sinks: &[Sink],
    ) -> OptionalSettings {
        // Ingestion is configured: from here on, a bad setting turns its own
        // feature off (or back to its default) and is reported, while
        // deliveries keep being accepted and stored. Qase documents no
        // retries, so refusing them over an operator-API typo loses events.
        let mut problems = Vec::new();

        let dedupe_seconds = optional(
            &mut problems,
            dedupe_window(get, sinks),
            Effect::DuplicatesNotDetected,
            None,
        );

        let destinations = optional(
            &mut problems,
            destinations_setting(get, lookup, sinks),
            Effect::DeliveryPaused,
            Vec::new(),
        );

        let retry = optional(
            &mut problems,
            retry_policy(get),
            Effect::DefaultUsed,
            RetryPolicy::default(),
        );

        let admin_token = optional(
            &mut problems,
            admin_token(lookup),
            Effect::OperatorApiOff,
            None,
        );

        let retention_seconds = optional(
            &mut problems,
            ttl(
                get,
                bindings::RETENTION_SECONDS,
                DEFAULT_RETENTION_SECONDS,
                "keep",
            ),
            Effect::DefaultUsed,
            Some(DEFAULT_RETENTION_SECONDS),
        );
        let log_deliveries = optional(
            &mut problems,
            log_deliveries(get),
            Effect::DefaultUsed,
            LogDeliveries::All,
        );
        let app_url = optional(
            &mut problems,
            app_url(get),
            Effect::DefaultUsed,
            qase_webhooks::chat::DEFAULT_APP_URL.to_owned(),
        );
        let redrive_after_seconds = optional(
            &mut problems,
            number(
                get,
                bindings::REDRIVE_AFTER_SECONDS,
                DEFAULT_REDRIVE_AFTER_SECONDS,
                (0, 86_400),
            ),
            Effect::DefaultUsed,
            DEFAULT_REDRIVE_AFTER_SECONDS,
        );
        let runs = optional(
            &mut problems,
            crate::runs::report::RunSettings::read(get),
            Effect::DefaultUsed,
            crate::runs::report::RunSettings::default(),
        );
        let breaker = optional(
            &mut problems,
            breaker_settings(get),
            Effect::DefaultUsed,
            crate::delivery::breaker::BreakerSettings::default(),
        );
        let alert_interval_seconds = optional(
            &mut problems,
            number(
                get,
                bindings::ALERT_INTERVAL_SECONDS,
                DEFAULT_ALERT_INTERVAL_SECONDS,
                (0, 7 * 86_400),
            ),
            Effect::DefaultUsed,
            DEFAULT_ALERT_INTERVAL_SECONDS,
        );
        let watch = optional(
            &mut problems,
            match get(bindings::WATCH) {
                None => Ok(Vec::new()),
                Some(json) => crate::alerts::watch::parse_watch(&json)
                    .map_err(|problem| invalid(bindings::WATCH, problem)),
            },
            Effect::WatchOff,
            Vec::new(),
        );
        OptionalSettings {
            breaker,
            alert_interval_seconds,
            watch,
            runs,
            redrive_after_seconds,
            app_url,
            log_deliveries,
            problems,
            dedupe_seconds,
            destinations,
            retry,
            admin_token,
            retention_seconds,
        }
    }
}

/// `QASE_APP_URL`: Qase's web app (the EU region and self-hosted
/// installations have their own); `https://app.qase.io` by default.
fn app_url(get: &impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    match get(bindings::APP_URL) {
        None => Ok(qase_webhooks::chat::DEFAULT_APP_URL.to_owned()),
        Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
            Ok(url.trim().trim_end_matches('/').to_owned())
        }
        Some(_) => Err(invalid(
            bindings::APP_URL,
            "must be an http:// or https:// URL",
        )),
    }
}

/// `QASE_LOG_DELIVERIES`: `all` (default), `refused` or `none`.
fn log_deliveries(get: &impl Fn(&str) -> Option<String>) -> Result<LogDeliveries, ConfigError> {
    match get(bindings::LOG_DELIVERIES).as_deref().map(str::trim) {
        None | Some("all") => Ok(LogDeliveries::All),
        Some("refused") => Ok(LogDeliveries::Refused),
        Some("none") => Ok(LogDeliveries::None),
        Some(_) => Err(invalid(
            bindings::LOG_DELIVERIES,
            "must be `all`, `refused` or `none`",
        )),
    }
}

/// `QASE_DEDUPE_SECONDS`: the window of KV's duplicate markers. With the
/// d1 sink duplicates are exact for as long as events are kept, and the
/// window is not used (`0` still turns detection off).
fn dedupe_window(
    get: &impl Fn(&str) -> Option<String>,
    sinks: &[Sink],
) -> Result<Option<u64>, ConfigError> {
    match ttl(get, bindings::DEDUPE_SECONDS, DEFAULT_DEDUPE_SECONDS, "off")? {
        Some(_) if !sinks.contains(&Sink::Kv) && !sinks.contains(&Sink::D1) => Err(invalid(
            bindings::DEDUPE_SECONDS,
            "duplicate detection needs the d1 sink (or KV markers: the kv sink), or set 0",
        )),
        window => Ok(window),
    }
}

/// The accepted secrets: none when authentication is disabled.
fn secret_policy(
    get: &impl Fn(&str) -> Option<String>,
    lookup: &impl Fn(&str) -> Option<String>,
    auth: AuthMode,
) -> Result<SecretPolicy, ConfigError> {
    if auth == AuthMode::Disabled {
        return Ok(SecretPolicy::disabled());
    }
    let mut global = Vec::new();
    for key in [bindings::WEBHOOK_SECRET, bindings::WEBHOOK_SECRET_NEXT] {
        if let Some(value) = lookup(key).filter(|v| !v.is_empty()) {
            global.push(secret(key, &value)?);
        }
    }
    let mut policy = SecretPolicy::new(global);
    if let Some(json) = get(bindings::PROJECT_SECRETS) {
        for (project, value) in project_secrets(&json)? {
            let value = secret(bindings::PROJECT_SECRETS, &value)?;
            policy = policy.with_project_secret(&project, value);
        }
    }
    Ok(policy)
}

/// `QASE_SINKS`: by default D1 and the queue when D1 is bound (KV only when
/// asked for: it costs a write per event and D1 holds the bytes), else every
/// bound sink; each named one must be bound.
fn sinks_setting(
    get: &impl Fn(&str) -> Option<String>,
    bound: &[Sink],
) -> Result<Vec<Sink>, ConfigError> {
    let mut sinks = Vec::new();
    match get(bindings::SINKS) {
        None if bound.contains(&Sink::D1) => {
            sinks.extend(bound.iter().filter(|sink| **sink != Sink::Kv));
        }
        None => sinks.extend_from_slice(bound),
        Some(list) => {
            for name in list.split(',').map(str::trim) {
                let sink = Sink::from_name(name).ok_or_else(|| {
                    invalid(
                        bindings::SINKS,
                        format!("unknown sink `{name}` (known: d1, kv, queue)"),
                    )
                })?;
                if !bound.contains(&sink) {
                    let problem = format!("sink `{name}` has no binding in wrangler.toml");
                    return Err(invalid(bindings::SINKS, problem));
                }
                if !sinks.contains(&sink) {
                    sinks.push(sink);
                }
            }
            sinks.sort();
        }
    }
    if sinks.is_empty() {
        return Err(invalid(
            bindings::SINKS,
            "no sink: bind QASE_DB (D1), QASE_EVENTS (KV) or QASE_DELIVERIES (queue) in wrangler.toml",
        ));
    }
    Ok(sinks)
}

/// `QASE_PAYLOAD_POLICY`; quarantine needs a store for the bytes (d1 or kv).
fn payload_policy(
    get: &impl Fn(&str) -> Option<String>,
    sinks: &[Sink],
) -> Result<PayloadPolicy, ConfigError> {
    let policy = match get(bindings::PAYLOAD_POLICY).as_deref() {
        None | Some("quarantine") => PayloadPolicy::Quarantine,
        Some("reject") => PayloadPolicy::Reject,
        Some(_) => {
            let problem = "must be `quarantine` or `reject`";
            return Err(invalid(bindings::PAYLOAD_POLICY, problem));
        }
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

/// The value of an optional setting, or `fallback` with the problem recorded.
fn optional<T>(
    problems: &mut Vec<ConfigProblem>,
    result: Result<T, ConfigError>,
    effect: Effect,
    fallback: T,
) -> T {
    result.unwrap_or_else(|error| {
        problems.push(ConfigProblem { error, effect });
        fallback
    })
}

/// A time-to-live in seconds: `0` turns the feature off; otherwise at least
/// KV's smallest expiration TTL.
fn ttl(
    get: &impl Fn(&str) -> Option<String>,
    key: &'static str,
    default: u64,
    zero_means: &str,
) -> Result<Option<u64>, ConfigError> {
    match get(key) {
        None => Ok(Some(default)),
        Some(text) => match text.trim().parse::<u64>() {
            Ok(0) => Ok(None),
            Ok(n) if n >= MIN_DEDUPE_SECONDS => Ok(Some(n)),
            _ => Err(invalid(
                key,
                format!(
                    "must be 0 ({zero_means}) or a whole number of seconds >= {MIN_DEDUPE_SECONDS}"
                ),
            )),
        },
    }
}

/// A whole number from `min` to `max`, `default` when unset.
fn number(
    get: &impl Fn(&str) -> Option<String>,
    key: &'static str,
    default: u64,
    (min, max): (u64, u64),
) -> Result<u64, ConfigError> {
    match get(key) {
        None => Ok(default),
        Some(text) => match text.trim().parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(invalid(
                key,
                format!("must be a whole number from {min} to {max}"),
            )),
        },
    }
}

/// Default of `QASE_ALERT_INTERVAL_SECONDS`: a quarter of an hour.
pub const DEFAULT_ALERT_INTERVAL_SECONDS: u64 = 900;

/// `QASE_BREAKER_FAILURES`, `_WINDOW`, `_RATIO` and `_PROBE_SECONDS`.
fn breaker_settings(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<crate::delivery::breaker::BreakerSettings, ConfigError> {
    use crate::delivery::breaker::{BreakerSettings, DEFAULT_FAILURES, DEFAULT_PROBE_SECONDS};
    let default = BreakerSettings::default();
    let ratio = match get(bindings::BREAKER_RATIO) {
        None => default.ratio,
        Some(text) => match text.trim().parse::<f64>() {
            Ok(r) if r > 0.0 && r <= 1.0 => r,
            _ => {
                return Err(invalid(
                    bindings::BREAKER_RATIO,
                    "must be a number above 0 and at most 1",
                ))
            }
        },
    };
    Ok(BreakerSettings {
        failures: number(
            get,
            bindings::BREAKER_FAILURES,
            u64::from(DEFAULT_FAILURES),
            (0, 1000),
        )? as u32,
        window: number(get, bindings::BREAKER_WINDOW, 0, (0, 1000))? as u32,
        ratio,
        probe_ms: number(
            get,
            bindings::BREAKER_PROBE_SECONDS,
            DEFAULT_PROBE_SECONDS,
            (1, 3600),
        )? * 1000,
    })
}

/// The backoff settings; each default is [`RetryPolicy::default`]'s.
fn retry_policy(get: &impl Fn(&str) -> Option<String>) -> Result<RetryPolicy, ConfigError> {
    let default = RetryPolicy::default();
    let delay = (1, MAX_RETRY_SECONDS);
    let retry = RetryPolicy {
        base: Duration::from_secs(number(
            get,
            bindings::RETRY_BASE_SECONDS,
            default.base.as_secs(),
            delay,
        )?),
        cap: Duration::from_secs(number(
            get,
            bindings::RETRY_CAP_SECONDS,
            default.cap.as_secs(),
            delay,
        )?),
        max_attempts: number(
            get,
            bindings::RETRY_MAX_ATTEMPTS,
            u64::from(default.max_attempts),
            (1, 100),
        )? as u32,
    };
    if retry.cap < retry.base {
        return Err(invalid(
            bindings::RETRY_CAP_SECONDS,
            "must not be smaller than QASE_RETRY_BASE_SECONDS",
        ));
    }
    Ok(retry)
}

/// The operator API's token: at least 16 characters, or unset.
fn admin_token(lookup: &impl Fn(&str) -> Option<String>) -> Result<Option<Secret>, ConfigError> {
    match lookup(bindings::ADMIN_TOKEN).filter(|v| !v.trim().is_empty()) {
        None => Ok(None),
        Some(token) if token.trim().len() < 16 => Err(invalid(
            bindings::ADMIN_TOKEN,
            "must be at least 16 characters (e.g. `openssl rand -hex 32`)",
        )),
        Some(token) => Ok(Some(secret(bindings::ADMIN_TOKEN, &token)?)),
    }
}

/// `QASE_DESTINATIONS`, which needs the queue to deliver from and D1 for
/// delivery states and dead letters.
fn destinations_setting(
    get: &impl Fn(&str) -> Option<String>,
    lookup: &impl Fn(&str) -> Option<String>,
    sinks: &[Sink],
) -> Result<Vec<Destination>, ConfigError> {
    let destinations = match get(bindings::DESTINATIONS) {
        None => Vec::new(),
        Some(json) => destinations(&json, lookup)?,
    };
    let can_deliver = sinks.contains(&Sink::Queue) && sinks.contains(&Sink::D1);
    if !destinations.is_empty() && !can_deliver {
        return Err(invalid(
            bindings::DESTINATIONS,
            "destinations need the queue sink to deliver from and the d1 sink for delivery states and dead letters",
        ));
    }
    Ok(destinations)
}

fn destinations(
    json: &str,
    lookup: &impl Fn(&str) -> Option<String>,
) -> Result<Vec<Destination>, ConfigError> {
    let key = bindings::DESTINATIONS;
    let raw: Vec<RawDestination> = serde_json::from_str(json).map_err(|err| {
        let reason = err.to_string();
        let reason = reason.split(" at line ").next().unwrap_or_default();
        invalid(
            key,
            format!("must be a JSON array of {{\"name\", \"url\", ...}} objects ({reason})"),
        )
    })?;
    let mut destinations: Vec<Destination> = Vec::new();
    for raw in raw {
        let name = raw.name;
        let fail = |problem: String| invalid(key, format!("destination `{name}`: {problem}"));
        if !is_destination_name(&name) {
            return Err(fail("a name is 1 to 64 letters, digits, `-` or `_`".into()));
        }
        if destinations.iter().any(|d| d.name == name) {
            return Err(fail("the name is used twice".into()));
        }
        if !(raw.url.starts_with("https://") || raw.url.starts_with("http://")) {
            return Err(fail("`url` must be an http:// or https:// URL".into()));
        }
        let filter = Filter::new(&raw.events, &raw.projects).map_err(fail)?;
        let signing = match &raw.signing_secret {
            None => None,
            Some(secret_name) => {
                let value = lookup(secret_name).ok_or_else(|| {
                    fail(format!("signing secret `{secret_name}` is not set (wrangler secret put {secret_name})"))
                })?;
                Some(
                    SigningSecret::parse(&value)
                        .map_err(|err| fail(format!("signing secret `{secret_name}`: {err}")))?,
                )
            }
        };
        let timeout = match raw.timeout_ms {
            None => DEFAULT_TIMEOUT,
            Some(ms) if (1..=300_000).contains(&ms) => Duration::from_millis(ms),
            Some(_) => return Err(fail("`timeout_ms` must be from 1 to 300000".into())),
        };
        let format = match raw.format.as_deref() {
            None => Format::Standard,
            Some(name) => Format::parse(name).ok_or_else(|| {
                fail(format!(
                    "unknown `format` `{name}` (known: standard, slack, teams, discord, google_chat)"
                ))
            })?,
        };
        let pace = match raw.pace_ms {
            None => format.default_pace(),
            Some(0) => None,
            Some(ms) if ms <= 60_000 => Some(Duration::from_millis(ms)),
            Some(_) => return Err(fail("`pace_ms` must be from 0 to 60000".into())),
        };
        if raw.alerts && format == Format::Standard {
            return Err(fail(
                "`alerts` needs a chat `format` (slack, teams, discord, google_chat)".into(),
            ));
        }
        destinations.push(Destination {
            format,
            pace,
            alerts: raw.alerts,
            reports: raw.reports,
            url: raw.url,
            filter,
            headers: raw.headers.into_iter().collect(),
            timeout,
            signing,
            enabled: raw.enabled,
            name,
        });
    }
    Ok(destinations)
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

    /// The one problem a broken optional setting leaves in an otherwise
    /// working configuration.
    fn problem(pairs: &[(&str, &str)]) -> ConfigProblem {
        let config = config(pairs).expect("an optional setting never stops ingestion");
        assert_eq!(config.problems.len(), 1, "{:?}", config.problems);
        config.problems[0].clone()
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
    fn sinks_default_to_d1_and_the_queue_and_must_be_bound() {
        // KV costs a write per event and D1 holds the bytes: KV only when asked.
        assert_eq!(config(&[]).unwrap().sinks, [Sink::D1, Sink::Queue]);
        let without_d1 = Config::from_lookup(|_| None, &[Sink::Kv, Sink::Queue]);
        assert_eq!(without_d1.unwrap().sinks, [Sink::Kv, Sink::Queue]);
        assert_eq!(
            config(&[(bindings::SINKS, "kv, d1 ,queue")]).unwrap().sinks,
            [Sink::D1, Sink::Kv, Sink::Queue]
        );
        // Bodies too large for a D1 row go to KV, which must then be bound.
        let large = |bound: &[Sink]| {
            Config::from_lookup(
                |key| (key == bindings::MAX_BODY_BYTES).then(|| "5000000".to_owned()),
                bound,
            )
        };
        assert!(large(&Sink::ALL).is_ok());
        let error = large(&[Sink::D1, Sink::Queue]).unwrap_err();
        assert_eq!(error.key, bindings::MAX_BODY_BYTES, "{error}");
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
        let broken = problem(&[(bindings::DEDUPE_SECONDS, "30")]);
        assert_eq!(
            (broken.error.key, broken.effect),
            (bindings::DEDUPE_SECONDS, Effect::DuplicatesNotDetected)
        );
        let off = config(&[(bindings::DEDUPE_SECONDS, "30")]).unwrap();
        assert_eq!(off.dedupe_seconds, None);
    }

    #[test]
    fn a_destination_format_is_standard_or_a_chat_service_with_its_pace() {
        let config = config(&[(
            bindings::DESTINATIONS,
            r#"[{"name":"a","url":"https://x"},{"name":"s","url":"https://x","format":"slack"},
                {"name":"d","url":"https://x","format":"discord","pace_ms":50},
                {"name":"t","url":"https://x","format":"teams","pace_ms":0}]"#,
        )])
        .unwrap();
        let d = |name: &str| config.destination(name).unwrap();
        assert_eq!((d("a").format, d("a").pace), (Format::Standard, None));
        assert_eq!(d("s").format, Format::Chat(ChatFormat::Slack));
        assert_eq!(d("s").pace, Some(Duration::from_secs(1)));
        assert_eq!(d("d").pace, Some(Duration::from_millis(50)));
        assert_eq!(d("t").pace, None);
        for bad in [
            r#"[{"name":"a","url":"https://x","format":"mattermost"}]"#,
            r#"[{"name":"a","url":"https://x","format":"slack","pace_ms":600000}]"#,
        ] {
            let broken = problem(&[(bindings::DESTINATIONS, bad)]);
            assert_eq!(broken.error.key, bindings::DESTINATIONS, "{bad}");
        }
        assert_eq!(config.app_url, qase_webhooks::chat::DEFAULT_APP_URL);
        let eu = super::tests::config(&[(bindings::APP_URL, "https://app.qase.eu/")]).unwrap();
        assert_eq!(eu.app_url, "https://app.qase.eu");
        assert_eq!(
            problem(&[(bindings::APP_URL, "javascript:x")]).error.key,
            bindings::APP_URL
        );
    }

    #[test]
    fn destinations_are_validated_and_resolve_their_signing_secret() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let config = config(&[
            (
                bindings::DESTINATIONS,
                r#"[{"name":"ci","url":"https://ci.example/hook","events":["run.*"],
                     "headers":{"X-Team":"qa"},"timeout_ms":2500,"signing_secret":"CI_SIGNING"},
                    {"name":"chat","url":"http://localhost:9/x","enabled":false}]"#,
            ),
            ("CI_SIGNING", secret),
        ])
        .unwrap();
        let ci = config.destination("ci").unwrap();
        assert!(ci.filter.matches("run.completed", "ANY"));
        assert!(!ci.filter.matches("case.created", "ANY"));
        assert_eq!(ci.timeout, Duration::from_millis(2500));
        assert_eq!(ci.headers, [("X-Team".to_owned(), "qa".to_owned())]);
        assert!(ci.signing.is_some());
        assert!(!config.destination("chat").unwrap().enabled);

        for bad in [
            r#"[{"name":"a","url":"ftp://x"}]"#,
            r#"[{"name":"a b","url":"https://x"}]"#,
            r#"[{"name":"a","url":"https://x"},{"name":"a","url":"https://y"}]"#,
            r#"[{"name":"a","url":"https://x","signing_secret":"MISSING"}]"#,
            r#"[{"name":"a","url":"https://x","timeout_ms":0}]"#,
            r#"[{"name":"a","url":"https://x","evnts":["x"]}]"#,
        ] {
            let broken = problem(&[(bindings::DESTINATIONS, bad)]);
            assert_eq!(broken.error.key, bindings::DESTINATIONS, "{bad}");
            assert_eq!(broken.effect, Effect::DeliveryPaused);
        }
        let broken = problem(&[
            (
                bindings::DESTINATIONS,
                r#"[{"name":"a","url":"https://x","signing_secret":"S"}]"#,
            ),
            ("S", "whsec_tooshort"),
        ]);
        assert!(
            !broken.error.problem.contains("tooshort"),
            "{}",
            broken.error
        );
    }

    #[test]
    fn retry_settings_are_bounded() {
        let config = config(&[]).unwrap();
        assert_eq!(config.retry, RetryPolicy::default());
        for (key, value) in [
            (bindings::RETRY_BASE_SECONDS, "0"),
            (bindings::RETRY_CAP_SECONDS, "50000"),
            (bindings::RETRY_MAX_ATTEMPTS, "0"),
        ] {
            let broken = problem(&[(key, value)]);
            assert_eq!(
                (broken.error.key, broken.effect),
                (key, Effect::DefaultUsed)
            );
            let config = super::tests::config(&[(key, value)]).unwrap();
            assert_eq!(config.retry, RetryPolicy::default());
        }
        let broken = problem(&[
            (bindings::RETRY_BASE_SECONDS, "100"),
            (bindings::RETRY_CAP_SECONDS, "10"),
        ]);
        assert_eq!(broken.error.key, bindings::RETRY_CAP_SECONDS);
    }

    #[test]
    fn delivery_log_lines_are_all_or_only_refused_ones() {
        assert_eq!(config(&[]).unwrap().log_deliveries, LogDeliveries::All);
        let refused = config(&[(bindings::LOG_DELIVERIES, "refused")]).unwrap();
        assert_eq!(refused.log_deliveries, LogDeliveries::Refused);
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
        assert!(!config(&[]).unwrap().test_panic);
    }

    #[test]
    fn the_admin_token_is_optional_but_long_and_retention_bounded() {
        assert!(config(&[]).unwrap().admin_token.is_none());
        let token = "0123456789abcdef0123";
        assert!(config(&[(bindings::ADMIN_TOKEN, token)])
            .unwrap()
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
        assert!(with_short_token.admin_token.is_none());
        assert!(!with_short_token.secrets.is_empty());
        assert_eq!(
            config(&[]).unwrap().retention_seconds,
            Some(DEFAULT_RETENTION_SECONDS)
        );
        assert_eq!(
            config(&[(bindings::RETENTION_SECONDS, "0")])
                .unwrap()
                .retention_seconds,
            None
        );
        let broken = problem(&[(bindings::RETENTION_SECONDS, "5")]);
        assert_eq!(broken.effect, Effect::DefaultUsed);
        let retention = config(&[(bindings::RETENTION_SECONDS, "5")]).unwrap();
        assert_eq!(retention.retention_seconds, Some(DEFAULT_RETENTION_SECONDS));
        assert!(config(&[]).unwrap().problems.is_empty());
    }

    #[test]
    fn authentication_can_be_turned_off_explicitly() {
        let config = config(&[(bindings::AUTH, "disabled")]).unwrap();
        assert_eq!(config.auth, AuthMode::Disabled);
        assert!(config.secrets.authenticate(None).is_ok());
    }

    #[test]
    fn the_guard_settings_default_and_fail_open() {
        let defaults = config(&[]).unwrap();
        assert_eq!(defaults.breaker.failures, 10);
        assert_eq!(defaults.breaker.window, 0);
        assert_eq!(defaults.breaker.probe_ms, 30_000);
        assert_eq!(defaults.alert_interval_ms, 900_000);
        assert!(defaults.watch.is_empty());
        let tuned = config(&[
            (bindings::BREAKER_FAILURES, "0"),
            (bindings::BREAKER_WINDOW, "20"),
            (bindings::BREAKER_RATIO, "0.25"),
            (bindings::BREAKER_PROBE_SECONDS, "5"),
            (bindings::ALERT_INTERVAL_SECONDS, "0"),
            (bindings::WATCH, r#"{"WEB": "30m"}"#),
        ])
        .unwrap();
        assert!(!tuned.breaker.enabled(), "0 turns the breaker off");
        assert_eq!(tuned.breaker.window, 20);
        assert_eq!(tuned.breaker.ratio, 0.25);
        assert_eq!(tuned.breaker.probe_ms, 5_000);
        assert_eq!(tuned.alert_interval_ms, 0);
        assert_eq!(tuned.watch[0].window_seconds, 1800);
        for (key, value) in [
            (bindings::BREAKER_RATIO, "2"),
            (bindings::BREAKER_FAILURES, "many"),
            (bindings::BREAKER_PROBE_SECONDS, "0"),
        ] {
            let broken = problem(&[(key, value)]);
            assert_eq!(
                (broken.error.key, broken.effect),
                (key, Effect::DefaultUsed)
            );
        }
        let broken = problem(&[(bindings::WATCH, r#"{"WEB": "soon"}"#)]);
        assert_eq!(
            (broken.error.key, broken.effect),
            (bindings::WATCH, Effect::WatchOff)
        );
        assert!(config(&[(bindings::WATCH, "[")]).unwrap().watch.is_empty());
    }

    #[test]
    fn alerts_go_to_chat_destinations_and_never_about_themselves() {
        let destinations = r#"[
            {"name":"ci","url":"https://ci.example"},
            {"name":"ops","url":"https://ops.example","format":"slack","alerts":true},
            {"name":"team","url":"https://team.example","format":"teams","alerts":true}
        ]"#;
        let config = config(&[(bindings::DESTINATIONS, destinations)]).unwrap();
        let names = |subject| {
            config
                .alert_destinations(subject)
                .iter()
                .map(|d| d.name.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(names(Some("ci")), ["ops", "team"]);
        assert_eq!(names(None), ["ops", "team"], "a watched project");
        assert!(
            names(Some("ops")).is_empty(),
            "nothing about an alert destination"
        );
        let standard = problem(&[(
            bindings::DESTINATIONS,
            r#"[{"name":"x","url":"https://x.example","alerts":true}]"#,
        )]);
        assert!(standard.error.problem.contains("chat"), "{standard:?}");
    }
}
