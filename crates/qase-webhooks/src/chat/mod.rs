//! Chat messages: a Qase event as the JSON body to post to a Slack,
//! Microsoft Teams, Discord or Google Chat incoming webhook.
//!
//! [`render`] is a pure function of the envelope, the typed event and the
//! Qase app's address: the caller posts what it returns. Each message says
//! what happened in a headline, names the object (its title when Qase sends
//! one), gives the numbers (a run's counts, pass rate and duration, coloured
//! by outcome), and links to the object in Qase. Events without a message
//! of their own get a short generic one; no payload makes `render` panic.
//!
//! Text from Qase is user input. Each format escapes it for its own markup
//! (Slack `mrkdwn` entities, Discord and Teams Markdown, Google Chat HTML),
//! breaks up `@everyone`, `@here` and `@channel`, cuts it to the service's
//! limits with an ellipsis, and Discord's messages allow no mentions at all.
//! A case titled `<!channel> @everyone` pings nobody.
//!
//! Run durations are read as milliseconds, as Qase's user docs say since
//! 2024-10 (its developer docs say seconds; every example is `0`).

mod alert;
mod discord;
mod google_chat;
// `pub(crate)` so that `run_report` builds its links here, not through
// this module, which renders its reports (a loop otherwise).
pub(crate) mod links;
mod message;
mod slack;
mod teams;
mod text;

pub use alert::{span, webhook_settings_link, Alert};
pub use links::{case_link, path_segment, run_link, DEFAULT_APP_URL};
pub use message::{Fact, Message, Tone};

use std::fmt;

use serde_json::Value;

use crate::{Envelope, Event};

/// The chat services a destination can post to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChatFormat {
    /// A Slack incoming webhook: Block Kit `blocks` and a `text` fallback.
    Slack,
    /// A Microsoft Teams Workflows webhook: a message with an Adaptive Card.
    Teams,
    /// A Discord webhook: one embed, no mentions allowed.
    Discord,
    /// A Google Chat incoming webhook: one card in `cardsV2`.
    GoogleChat,
}

impl ChatFormat {
    /// Every format, in the order of [`ChatFormat::as_str`]'s documentation.
    pub const ALL: [ChatFormat; 4] = [
        ChatFormat::Slack,
        ChatFormat::Teams,
        ChatFormat::Discord,
        ChatFormat::GoogleChat,
    ];

    /// The format's name in configuration: `slack`, `teams`, `discord` or
    /// `google_chat` (the same as its serde form).
    pub fn as_str(self) -> &'static str {
        match self {
            ChatFormat::Slack => "slack",
            ChatFormat::Teams => "teams",
            ChatFormat::Discord => "discord",
            ChatFormat::GoogleChat => "google_chat",
        }
    }

    /// The format named `name` (exactly as [`ChatFormat::as_str`] writes
    /// it), or `None`.
    ///
    /// ```
    /// use qase_webhooks::ChatFormat;
    ///
    /// assert_eq!(ChatFormat::parse("google_chat"), Some(ChatFormat::GoogleChat));
    /// assert_eq!(ChatFormat::parse("Slack"), None);
    /// ```
    pub fn parse(name: &str) -> Option<ChatFormat> {
        ChatFormat::ALL
            .into_iter()
            .find(|format| format.as_str() == name)
    }
}

impl fmt::Display for ChatFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The JSON body to POST to the service's incoming webhook for this event.
///
/// `app_url` is the Qase app's address, [`DEFAULT_APP_URL`] unless the
/// workspace is in another region or self-hosted; a trailing slash is
/// ignored, and an address that is not `http(s)://` is replaced by the
/// default. Links use Qase's own URL forms, with the project code
/// percent-encoded as one path segment.
///
/// ```
/// use qase_webhooks::chat::{render, ChatFormat, DEFAULT_APP_URL};
/// use qase_webhooks::Envelope;
///
/// let body = br#"{"event_name":"run.completed","timestamp":1700000000,
///     "payload":{"id":7,"cases":12,"passed":11,"failed":1,"blocked":0,"duration":184000},
///     "team_member_id":12,"project_code":"DEMO"}"#;
/// let envelope = Envelope::parse(body).unwrap();
/// let event = envelope.event().unwrap();
///
/// let slack = render(ChatFormat::Slack, &envelope, &event, DEFAULT_APP_URL);
/// assert!(slack["text"].as_str().unwrap().contains("Test run completed"));
/// let section = slack["blocks"][1]["text"]["text"].as_str().unwrap();
/// assert!(section.contains("<https://app.qase.io/run/DEMO/dashboard/7|Run #7>"));
///
/// let discord = render(ChatFormat::Discord, &envelope, &event, "https://eu.qase.example/");
/// assert_eq!(discord["embeds"][0]["url"], "https://eu.qase.example/run/DEMO/dashboard/7");
/// assert_eq!(discord["allowed_mentions"]["parse"], serde_json::json!([]));
/// ```
pub fn render(format: ChatFormat, envelope: &Envelope<'_>, event: &Event, app_url: &str) -> Value {
    let message = message::message(envelope, event, app_url);
    match format {
        ChatFormat::Slack => slack::render(&message),
        ChatFormat::Teams => teams::render(&message),
        ChatFormat::Discord => discord::render(&message),
        ChatFormat::GoogleChat => google_chat::render(&message),
    }
}

/// The chat message of a run report (see [`crate::run_report`]): the
/// outcome, the counts and pass rate, and the cases that did not pass,
/// listed up to [`REPORT_LISTED_FAILURES`] ("and N more" for the rest).
///
/// ```
/// use qase_webhooks::chat::{render_report, ChatFormat};
/// use qase_webhooks::run_report::*;
///
/// let report = RunReport {
///     kind: RUN_REPORT_EVENT.into(), version: RUN_REPORT_VERSION, id: "rpt_1".into(),
///     project: "DEMO".into(), run: 7, outcome: RunOutcome::Completed,
///     title: Some("Nightly".into()), plan_id: None, started_by: Some(3),
///     counts: RunCounts { cases: 3, passed: 2, failed: 1, blocked: 0, skipped: None, untested: None, duration: 0 },
///     pass_rate: Some(66.7), duration_ms: 0, first_event_at: 1, last_event_at: 2, results_received: 0,
///     failures: Failures { source: FailureSource::QaseApi, more: 0, items: vec![Failure {
///         case_id: 12, title: Some("Login fails".into()), status: FailureStatus::Failed,
///         url: case_url("https://app.qase.io", "DEMO", 12) }] },
///     url: run_url("https://app.qase.io", "DEMO", 7),
/// };
/// let slack = render_report(ChatFormat::Slack, &report);
/// let section = slack["blocks"][1]["text"]["text"].as_str().unwrap();
/// assert!(section.contains("DEMO-12 Login fails"), "{section}");
/// ```
pub fn render_report(format: ChatFormat, report: &crate::run_report::RunReport) -> Value {
    let message = message::report(report);
    match format {
        ChatFormat::Slack => slack::render(&message),
        ChatFormat::Teams => teams::render(&message),
        ChatFormat::Discord => discord::render(&message),
        ChatFormat::GoogleChat => google_chat::render(&message),
    }
}

/// An alert (a destination paused or resumed, a watched project quiet or
/// back) as the body to post to a chat service; `now` in Unix milliseconds.
pub fn render_alert(format: ChatFormat, alert: &Alert, app_url: &str, now: u64) -> Value {
    let message = alert::message(alert, app_url, now);
    match format {
        ChatFormat::Slack => slack::render(&message),
        ChatFormat::Teams => teams::render(&message),
        ChatFormat::Discord => discord::render(&message),
        ChatFormat::GoogleChat => google_chat::render(&message),
    }
}

/// How many failed or blocked cases a report's chat message names.
pub const REPORT_LISTED_FAILURES: usize = 5;

/// What a chat message would say about this event, as plain text, for a
/// page or a log (the console's event summary). Text from Qase is in it as
/// Qase sent it (cleaned of control characters, not escaped): whoever shows
/// it must show it as text.
///
/// ```
/// use qase_webhooks::chat::{describe, Tone, DEFAULT_APP_URL};
/// use qase_webhooks::Envelope;
///
/// let body = br#"{"event_name":"run.completed","timestamp":1700000000,
///     "payload":{"id":7,"cases":12,"passed":11,"failed":1,"blocked":0,"duration":0},
///     "team_member_id":12,"project_code":"DEMO"}"#;
/// let envelope = Envelope::parse(body).unwrap();
/// let described = describe(&envelope, &envelope.event().unwrap(), DEFAULT_APP_URL);
/// assert_eq!(described.headline, "Test run completed");
/// assert_eq!(described.tone, Tone::Bad);
/// assert_eq!(described.url, "https://app.qase.io/run/DEMO/dashboard/7");
/// ```
pub fn describe(envelope: &Envelope<'_>, event: &Event, app_url: &str) -> Message {
    message::message(envelope, event, app_url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run_report::*;

    #[test]
    fn names_round_trip_and_match_serde() {
        for format in ChatFormat::ALL {
            assert_eq!(ChatFormat::parse(format.as_str()), Some(format));
            assert_eq!(
                serde_json::to_value(format).unwrap(),
                Value::from(format.as_str())
            );
            assert_eq!(format.to_string(), format.as_str());
        }
        assert_eq!(ChatFormat::parse("standard"), None);
        assert_eq!(ChatFormat::parse("googlechat"), None);
    }

    fn report(failures: Vec<(u64, &str)>, more: u64, source: FailureSource) -> RunReport {
        RunReport {
            kind: RUN_REPORT_EVENT.into(),
            version: RUN_REPORT_VERSION,
            id: "rpt_1".into(),
            project: "DEMO".into(),
            run: 7,
            outcome: RunOutcome::Completed,
            title: Some("Nightly <!channel>".into()),
            plan_id: None,
            started_by: None,
            counts: RunCounts {
                cases: 20,
                passed: 12,
                failed: 7,
                blocked: 1,
                skipped: None,
                untested: None,
                duration: 65_000,
            },
            pass_rate: Some(60.0),
            duration_ms: 65_000,
            first_event_at: 1_700_000_000,
            last_event_at: 1_700_000_100,
            results_received: 20,
            failures: Failures {
                source,
                items: failures
                    .into_iter()
                    .map(|(case_id, title)| Failure {
                        case_id,
                        title: Some(title.to_owned()),
                        status: FailureStatus::Failed,
                        url: String::new(),
                    })
                    .collect(),
                more,
            },
            tags: Vec::new(),
            url: run_link(DEFAULT_APP_URL, "DEMO", 7),
        }
    }

    #[test]
    fn a_report_lists_five_failures_then_says_how_many_more_in_every_format() {
        let failures: Vec<(u64, &str)> = (1..=7).map(|case| (case, "Login @everyone")).collect();
        let report = report(failures, 1, FailureSource::QaseApi);
        for format in ChatFormat::ALL {
            let body = render_report(format, &report).to_string();
            assert!(body.contains("DEMO-5 Login"), "{format}: {body}");
            assert!(
                !body.contains("DEMO-6 Login"),
                "{format}: only five listed: {body}"
            );
            assert!(body.contains("and 3 more"), "{format}: {body}");
            assert!(body.contains("60%"), "{format}: the pass rate: {body}");
            assert!(body.contains("/run/DEMO/dashboard/7"), "{format}: {body}");
            assert!(
                !body.contains("@everyone") && !body.contains("<!channel>"),
                "{format}: {body}"
            );
        }
    }

    #[test]
    fn a_report_without_fetched_failures_has_the_counts_only() {
        let report = report(Vec::new(), 0, FailureSource::None);
        let slack = render_report(ChatFormat::Slack, &report).to_string();
        assert!(!slack.contains("Not passed"), "{slack}");
        assert!(slack.contains("12 of 20 passed"), "{slack}");
    }
}
