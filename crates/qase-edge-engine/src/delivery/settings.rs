//! The delivery settings: the destinations (`QASE_DESTINATIONS`, with their
//! signing secrets), the retry backoff (`QASE_RETRY_*`), the dead-letter
//! queue's name, the breaker (`QASE_BREAKER_*`) and Qase's web app for the
//! links in chat messages (`QASE_APP_URL`). Read and validated here;
//! composed into [`crate::config::Config`].

use std::time::Duration;

use qase_webhooks::retry::RetryPolicy;
use qase_webhooks::routing::Filter;
use qase_webhooks::signing::SigningSecret;
use qase_webhooks::ChatFormat;
use serde::Deserialize;

use crate::config::bindings;
use crate::config::lookup::Lookup;
use crate::config::problems::{invalid, ConfigError};
use crate::delivery::breaker::{BreakerSettings, DEFAULT_FAILURES, DEFAULT_PROBE_SECONDS};
use crate::delivery::github::settings::{self as github, GithubSettings, RawGithub};
use crate::store::settings::Sink;

/// Default time a destination has to answer.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default name of the dead-letter queue (as in wrangler.toml).
pub const DEFAULT_DEAD_LETTER_QUEUE: &str = "qase-deliveries-dlq";

/// Longest delay a queue message can be given (Cloudflare Queues: 12 hours).
pub const MAX_RETRY_SECONDS: u64 = 43_200;

/// What delivery needs to know.
#[derive(Debug, Clone)]
pub struct DeliverySettings {
    /// Downstream services, in configuration order.
    pub destinations: Vec<Destination>,
    /// Backoff and attempts for deliveries.
    pub retry: RetryPolicy,
    /// The dead-letter queue's name.
    pub dead_letter_queue: String,
    /// The destinations' breaker (`QASE_BREAKER_*`).
    pub breaker: BreakerSettings,
    /// Qase's web app, for links in chat messages (`QASE_APP_URL`).
    pub app_url: String,
}

impl DeliverySettings {
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

    /// The enabled destinations whose filter matches an event, in
    /// configuration order: the one rule for fan-out and for replay.
    pub fn matching_destinations(&self, event_name: &str, project_code: &str) -> Vec<&Destination> {
        self.destinations
            .iter()
            // A GitHub destination is sent runs only (their status, their report).
            .filter(|d| d.enabled && d.format != Format::Github)
            .filter(|d| d.filter.matches(event_name, project_code))
            .collect()
    }

    /// The destination called `name`.
    pub fn destination(&self, name: &str) -> Option<&Destination> {
        self.destinations.iter().find(|d| d.name == name)
    }
}

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
    /// A `github` destination's settings (`Some` for that format only).
    pub github: Option<Box<GithubSettings>>,
}

/// What a destination is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The exact bytes Qase sent, with Standard Webhooks headers.
    Standard,
    /// A message for a chat service's incoming webhook, made from the event.
    Chat(ChatFormat),
    /// A run's commit status and pull-request comment on GitHub
    /// ([`crate::delivery::github`]).
    Github,
}

impl Format {
    /// The name of the standard format in `QASE_DESTINATIONS`; a chat
    /// format's is its [`ChatFormat`]'s.
    pub const STANDARD: &'static str = "standard";
    /// The name of the GitHub format in `QASE_DESTINATIONS`.
    pub const GITHUB: &'static str = "github";

    /// Its name in `QASE_DESTINATIONS` and the operator API.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Standard => Format::STANDARD,
            Format::Github => Format::GITHUB,
            Format::Chat(format) => format.as_str(),
        }
    }

    /// The format named in `QASE_DESTINATIONS`.
    fn parse(name: &str) -> Option<Format> {
        match name {
            Format::STANDARD => Some(Format::Standard),
            Format::GITHUB => Some(Format::Github),
            other => ChatFormat::parse(other).map(Format::Chat),
        }
    }

    /// The documented pace of each chat service's incoming webhooks: Slack
    /// about one message per second, Discord 5 per 2 seconds, Google Chat
    /// one per second per space, Teams Workflows a few per second.
    pub fn default_pace(self) -> Option<Duration> {
        match self {
            Format::Standard => None,
            // GitHub's secondary limits ask for no more than about one
            // write a second.
            Format::Github => Some(Duration::from_millis(1000)),
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
    /// `github`: `owner/repo`.
    #[serde(default)]
    repository: Option<String>,
    /// `github`: the name of the secret holding the token.
    #[serde(default)]
    token_secret: Option<String>,
    /// `github`: when a finished run is a success.
    #[serde(default)]
    thresholds: Option<github::RawThresholds>,
    /// `github`: the tags' prefixes.
    #[serde(default)]
    tags: Option<github::RawTags>,
    /// `github`: the status's context.
    #[serde(default)]
    context: Option<String>,
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

/// `QASE_DEAD_LETTER_QUEUE`, `qase-deliveries-dlq` by default.
pub fn dead_letter_queue(lookup: &Lookup) -> String {
    lookup
        .get(bindings::DEAD_LETTER_QUEUE_NAME)
        .unwrap_or_else(|| DEFAULT_DEAD_LETTER_QUEUE.to_owned())
}

/// `QASE_APP_URL`: Qase's web app (the EU region and self-hosted
/// installations have their own); `https://app.qase.io` by default.
pub fn app_url(lookup: &Lookup) -> Result<String, ConfigError> {
    lookup.url(bindings::APP_URL, qase_webhooks::chat::DEFAULT_APP_URL)
}

/// `QASE_BREAKER_FAILURES`, `_WINDOW`, `_RATIO` and `_PROBE_SECONDS`.
pub fn breaker_settings(lookup: &Lookup) -> Result<BreakerSettings, ConfigError> {
    let default = BreakerSettings::default();
    let ratio = match lookup.get(bindings::BREAKER_RATIO) {
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
        failures: lookup.number(
            bindings::BREAKER_FAILURES,
            u64::from(DEFAULT_FAILURES),
            (0, 1000),
        )? as u32,
        window: lookup.number(bindings::BREAKER_WINDOW, 0, (0, 1000))? as u32,
        ratio,
        probe_ms: lookup.number(
            bindings::BREAKER_PROBE_SECONDS,
            DEFAULT_PROBE_SECONDS,
            (1, 3600),
        )? * 1000,
    })
}

/// The backoff settings; each default is [`RetryPolicy::default`]'s.
pub fn retry_policy(lookup: &Lookup) -> Result<RetryPolicy, ConfigError> {
    let default = RetryPolicy::default();
    let delay = (1, MAX_RETRY_SECONDS);
    let retry = RetryPolicy {
        base: Duration::from_secs(lookup.number(
            bindings::RETRY_BASE_SECONDS,
            default.base.as_secs(),
            delay,
        )?),
        cap: Duration::from_secs(lookup.number(
            bindings::RETRY_CAP_SECONDS,
            default.cap.as_secs(),
            delay,
        )?),
        max_attempts: lookup.number(
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

/// `QASE_DESTINATIONS`, which needs the queue to deliver from and D1 for
/// delivery states and dead letters.
pub fn destinations_setting(
    lookup: &Lookup,
    sinks: &[Sink],
) -> Result<Vec<Destination>, ConfigError> {
    let destinations = match lookup.get(bindings::DESTINATIONS) {
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

/// Every destination of the JSON list, each validated, names unique.
fn destinations(json: &str, lookup: &Lookup) -> Result<Vec<Destination>, ConfigError> {
    let raw: Vec<RawDestination> = serde_json::from_str(json).map_err(|err| {
        let reason = err.to_string();
        let reason = reason.split(" at line ").next().unwrap_or_default();
        invalid(
            bindings::DESTINATIONS,
            format!("must be a JSON array of {{\"name\", \"url\", ...}} objects ({reason})"),
        )
    })?;
    let mut destinations: Vec<Destination> = Vec::new();
    for raw in raw {
        let destination = destination(raw, &destinations, lookup)?;
        destinations.push(destination);
    }
    Ok(destinations)
}

/// The error about destination `name`.
fn fault(name: &str, problem: String) -> ConfigError {
    invalid(
        bindings::DESTINATIONS,
        format!("destination `{name}`: {problem}"),
    )
}

/// One destination, validated; its name must not be one of `taken`'s.
fn destination(
    raw: RawDestination,
    taken: &[Destination],
    lookup: &Lookup,
) -> Result<Destination, ConfigError> {
    let fail = |problem: String| fault(&raw.name, problem);
    if !is_destination_name(&raw.name) {
        return Err(fail("a name is 1 to 64 letters, digits, `-` or `_`".into()));
    }
    if taken.iter().any(|d| d.name == raw.name) {
        return Err(fail("the name is used twice".into()));
    }
    if !(raw.url.starts_with("https://") || raw.url.starts_with("http://")) {
        return Err(fail("`url` must be an http:// or https:// URL".into()));
    }
    let filter = Filter::new(&raw.events, &raw.projects).map_err(fail)?;
    let signing = match &raw.signing_secret {
        None => None,
        Some(secret_name) => Some(signing_secret(lookup, secret_name).map_err(fail)?),
    };
    let timeout = match raw.timeout_ms {
        None => DEFAULT_TIMEOUT,
        Some(ms) if (1..=300_000).contains(&ms) => Duration::from_millis(ms),
        Some(_) => return Err(fail("`timeout_ms` must be from 1 to 300000".into())),
    };
    let (format, pace) = format_and_pace(&raw).map_err(fail)?;
    let github = github_settings(&raw, format, lookup).map_err(fail)?;
    Ok(Destination {
        format,
        pace,
        github,
        alerts: raw.alerts,
        // A GitHub destination shows each run's end: it takes the reports.
        reports: raw.reports || format == Format::Github,
        url: raw.url,
        filter,
        headers: raw.headers.into_iter().collect(),
        timeout,
        signing,
        enabled: raw.enabled,
        name: raw.name,
    })
}

/// A `github` destination's own settings; its keys on any other format
/// are a mistake, said.
fn github_settings(
    raw: &RawDestination,
    format: Format,
    lookup: &Lookup,
) -> Result<Option<Box<GithubSettings>>, String> {
    let keys = RawGithub {
        repository: raw.repository.clone(),
        token_secret: raw.token_secret.clone(),
        thresholds: raw.thresholds.clone(),
        tags: raw.tags.clone(),
        context: raw.context.clone(),
    };
    match format {
        Format::Github => Ok(Some(Box::new(github::settings(keys, lookup)?))),
        _ if keys.any() => Err("`repository`, `token_secret`, `thresholds`, `tags` and `context` are for `format` `github`".into()),
        _ => Ok(None),
    }
}

/// The signing secret held by the secret `secret_name`.
fn signing_secret(lookup: &Lookup, secret_name: &str) -> Result<SigningSecret, String> {
    let value = lookup.raw(secret_name).ok_or_else(|| {
        format!("signing secret `{secret_name}` is not set (wrangler secret put {secret_name})")
    })?;
    SigningSecret::parse(&value).map_err(|err| format!("signing secret `{secret_name}`: {err}"))
}

/// A destination's `format`, its `pace_ms`, and whether `alerts` fits the format.
fn format_and_pace(raw: &RawDestination) -> Result<(Format, Option<Duration>), String> {
    let format = match raw.format.as_deref() {
        None => Format::Standard,
        Some(name) => Format::parse(name).ok_or_else(|| {
            format!(
                "unknown `format` `{name}` (known: standard, slack, teams, discord, google_chat, github)"
            )
        })?,
    };
    let pace = match raw.pace_ms {
        None => format.default_pace(),
        Some(0) => None,
        Some(ms) if ms <= 60_000 => Some(Duration::from_millis(ms)),
        Some(_) => return Err("`pace_ms` must be from 0 to 60000".into()),
    };
    if raw.alerts && matches!(format, Format::Standard | Format::Github) {
        return Err("`alerts` needs a chat `format` (slack, teams, discord, google_chat)".into());
    }
    Ok((format, pace))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::problems::Effect;
    use crate::config::test_support::{config, problem};

    #[test]
    fn a_destination_format_is_standard_or_a_chat_service_with_its_pace() {
        let config = config(&[(
            bindings::DESTINATIONS,
            r#"[{"name":"a","url":"https://x"},{"name":"s","url":"https://x","format":"slack"},
                {"name":"d","url":"https://x","format":"discord","pace_ms":50},
                {"name":"t","url":"https://x","format":"teams","pace_ms":0}]"#,
        )])
        .unwrap();
        let d = |name: &str| config.delivery.destination(name).unwrap();
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
        assert_eq!(
            config.delivery.app_url,
            qase_webhooks::chat::DEFAULT_APP_URL
        );
        let eu =
            crate::config::test_support::config(&[(bindings::APP_URL, "https://app.qase.eu/")])
                .unwrap();
        assert_eq!(eu.delivery.app_url, "https://app.qase.eu");
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
        let ci = config.delivery.destination("ci").unwrap();
        assert!(ci.filter.matches("run.completed", "ANY"));
        assert!(!ci.filter.matches("case.created", "ANY"));
        assert_eq!(ci.timeout, Duration::from_millis(2500));
        assert_eq!(ci.headers, [("X-Team".to_owned(), "qa".to_owned())]);
        assert!(ci.signing.is_some());
        assert!(!config.delivery.destination("chat").unwrap().enabled);

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
        assert_eq!(config.delivery.retry, RetryPolicy::default());
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
            let config = crate::config::test_support::config(&[(key, value)]).unwrap();
            assert_eq!(config.delivery.retry, RetryPolicy::default());
        }
        let broken = problem(&[
            (bindings::RETRY_BASE_SECONDS, "100"),
            (bindings::RETRY_CAP_SECONDS, "10"),
        ]);
        assert_eq!(broken.error.key, bindings::RETRY_CAP_SECONDS);
    }

    #[test]
    fn the_guard_settings_default_and_fail_open() {
        let defaults = config(&[]).unwrap();
        assert_eq!(defaults.delivery.breaker.failures, 10);
        assert_eq!(defaults.delivery.breaker.window, 0);
        assert_eq!(defaults.delivery.breaker.probe_ms, 30_000);
        assert_eq!(defaults.alerts.interval_ms, 900_000);
        assert!(defaults.alerts.watch.is_empty());
        let tuned = config(&[
            (bindings::BREAKER_FAILURES, "0"),
            (bindings::BREAKER_WINDOW, "20"),
            (bindings::BREAKER_RATIO, "0.25"),
            (bindings::BREAKER_PROBE_SECONDS, "5"),
            (bindings::ALERT_INTERVAL_SECONDS, "0"),
            (bindings::WATCH, r#"{"WEB": "30m"}"#),
        ])
        .unwrap();
        assert!(!tuned.delivery.breaker.enabled(), "0 turns the breaker off");
        assert_eq!(tuned.delivery.breaker.window, 20);
        assert_eq!(tuned.delivery.breaker.ratio, 0.25);
        assert_eq!(tuned.delivery.breaker.probe_ms, 5_000);
        assert_eq!(tuned.alerts.interval_ms, 0);
        assert_eq!(tuned.alerts.watch[0].window_seconds, 1800);
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
        assert!(config(&[(bindings::WATCH, "[")])
            .unwrap()
            .alerts
            .watch
            .is_empty());
    }

    #[test]
    fn a_github_destination_has_its_own_keys_and_no_other_format_does() {
        let config = config(&[
            (
                bindings::DESTINATIONS,
                r#"[{"name":"gh","url":"https://api.github.com","format":"github",
                     "repository":"octo/web","token_secret":"GH","thresholds":{"max_failed":0}}]"#,
            ),
            ("GH", "ghp_x"),
        ])
        .unwrap();
        let gh = config.delivery.destination("gh").unwrap();
        assert_eq!(gh.format, Format::Github);
        assert!(gh.reports, "a GitHub destination takes the reports");
        let github = gh.github.as_deref().unwrap();
        assert_eq!(github.repository, "octo/web");
        assert_eq!(github.thresholds.max_failed, Some(0));
        for (bad, words) in [
            (
                r#"[{"name":"a","url":"https://x","repository":"o/r"}]"#,
                "are for `format` `github`",
            ),
            (
                r#"[{"name":"a","url":"https://x","format":"github","repository":"o/r","token_secret":"GH","alerts":true}]"#,
                "`alerts` needs a chat",
            ),
            (
                r#"[{"name":"a","url":"https://x","format":"github","token_secret":"GH"}]"#,
                "needs `repository`",
            ),
            (
                r#"[{"name":"a","url":"https://x","format":"github","repository":"o/r","token_secret":"NOT_SET"}]"#,
                "`NOT_SET` is not set",
            ),
        ] {
            let broken = problem(&[(bindings::DESTINATIONS, bad), ("GH", "ghp_x")]);
            assert!(
                broken.error.problem.contains(words),
                "{bad}: {}",
                broken.error
            );
            assert!(!broken.error.problem.contains("ghp_x"));
        }
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
                .delivery
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
