//! Alerts (issue #19): a destination paused or resumed by its breaker, a
//! watched Qase project gone quiet or back, a project's webhook suspected
//! disabled or delivering again (issue #29). Said as a [`Message`] and
//! rendered by the same Slack, Teams, Discord and Google Chat formatters
//! as events, so an alert looks like the rest of the channel.

use serde::{Deserialize, Serialize};

use super::message::{Fact, Message, Tone};
use super::text;

/// What an alert is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Alert {
    /// A destination's breaker paused it: its events are held, not lost.
    DestinationPaused {
        /// The destination's name.
        destination: String,
        /// Why, in words (`10 failures in a row (last: HTTP 503)`).
        reason: String,
        /// Whether an operator paused it.
        by_operator: bool,
    },
    /// A paused destination delivers again; what was held follows in order.
    DestinationResumed {
        /// The destination's name.
        destination: String,
        /// Events held while it was paused, now being delivered.
        held: u64,
        /// Whether an operator resumed it.
        by_operator: bool,
    },
    /// A watched project sent nothing for longer than its window.
    ProjectQuiet {
        /// The project code.
        project: String,
        /// The longest silence normal for it, in seconds.
        window_seconds: u64,
        /// The last delivery from it, Unix milliseconds (`None`: none seen).
        last_delivery_at: Option<u64>,
    },
    /// A quiet project delivers again.
    ProjectBack {
        /// The project code.
        project: String,
    },
    /// Qase's API shows runs in a project that no delivery told of: its
    /// webhook is most likely disabled (Qase switches off a failing one
    /// and tells only its owner).
    WebhookSuspectedDisabled {
        /// The project code.
        project: String,
        /// The last delivery from it, Unix milliseconds (`None`: none seen).
        last_delivery_at: Option<u64>,
        /// How long a run may go untold before this is said, in seconds.
        grace_seconds: u64,
        /// Runs Qase shows started since the last delivery (at least 1).
        runs: u64,
        /// One of them: its id ...
        run: u64,
        /// ... and its title, when Qase gave one.
        run_title: Option<String>,
    },
    /// A project suspected of a disabled webhook delivers again.
    WebhookResumed {
        /// The project code.
        project: String,
    },
}

impl Alert {
    /// The subject the alert is about (a destination name or a project code).
    pub fn subject(&self) -> &str {
        match self {
            Alert::DestinationPaused { destination, .. }
            | Alert::DestinationResumed { destination, .. } => destination,
            Alert::ProjectQuiet { project, .. }
            | Alert::ProjectBack { project }
            | Alert::WebhookSuspectedDisabled { project, .. }
            | Alert::WebhookResumed { project } => project,
        }
    }

    /// The kind, as in its serde form (`destination_paused`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Alert::DestinationPaused { .. } => "destination_paused",
            Alert::DestinationResumed { .. } => "destination_resumed",
            Alert::ProjectQuiet { .. } => "project_quiet",
            Alert::ProjectBack { .. } => "project_back",
            Alert::WebhookSuspectedDisabled { .. } => "webhook_suspected_disabled",
            Alert::WebhookResumed { .. } => "webhook_resumed",
        }
    }
}

/// A duration in seconds as its largest whole unit: `45 s`, `30 min`, `24 h`, `7 d`.
pub fn span(seconds: u64) -> String {
    match seconds {
        s if s % 86_400 == 0 && s > 0 => format!("{} d", s / 86_400),
        s if s % 3_600 == 0 && s > 0 => format!("{} h", s / 3_600),
        s if s % 60 == 0 && s > 0 => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// Qase's webhook settings of `project`, where a disabled webhook is turned back on.
pub fn webhook_settings_link(app_url: &str, project: &str) -> String {
    format!(
        "{}/project/{}/settings/webhooks",
        app_url.trim_end_matches('/'),
        text::clean(project)
    )
}

/// The alert said for people. `now` is Unix milliseconds.
pub(crate) fn message(alert: &Alert, app_url: &str, now: u64) -> Message {
    let said = match alert {
        Alert::DestinationPaused {
            destination,
            reason,
            by_operator,
        } => destination_paused(destination, reason, *by_operator, app_url),
        Alert::DestinationResumed {
            destination,
            held,
            by_operator,
        } => destination_resumed(destination, *held, *by_operator, app_url),
        Alert::ProjectQuiet {
            project,
            window_seconds,
            last_delivery_at,
        } => project_quiet(project, *window_seconds, *last_delivery_at, app_url, now),
        Alert::ProjectBack { project } => project_back(project, app_url),
        Alert::WebhookSuspectedDisabled { .. } => suspected_disabled(alert, app_url, now),
        Alert::WebhookResumed { project } => webhook_resumed(project, app_url),
    };
    Message {
        tone: said.tone,
        headline: said.headline,
        title: None,
        label: said.label,
        url: said.url,
        status: said.status,
        facts: said.facts,
        summary: None,
        project: said.project,
        event: alert.kind().to_owned(),
        timestamp: now / 1000,
    }
}

/// What one kind of alert says; [`message`] adds what every alert shares.
struct Said {
    tone: Tone,
    headline: String,
    label: String,
    url: String,
    status: Option<String>,
    facts: Vec<Fact>,
    /// The project code, empty for a destination's alert.
    project: String,
}

/// ` by an operator` when an operator acted, empty when the breaker did.
fn by_whom(by_operator: bool) -> &'static str {
    if by_operator {
        " by an operator"
    } else {
        ""
    }
}

fn destination_paused(destination: &str, reason: &str, by_operator: bool, app_url: &str) -> Said {
    Said {
        tone: Tone::Bad,
        headline: format!(
            "Destination {} paused{}",
            text::clean(destination),
            by_whom(by_operator)
        ),
        label: "qase-edge".to_owned(),
        url: app_url.to_owned(),
        status: Some(
            "Its events are held, not attempted and not dead-lettered; a probe tries one at growing intervals."
                .to_owned(),
        ),
        facts: vec![Fact {
            label: "Reason",
            value: text::clean(reason),
        }],
        project: String::new(),
    }
}

fn destination_resumed(destination: &str, held: u64, by_operator: bool, app_url: &str) -> Said {
    Said {
        tone: Tone::Good,
        headline: format!(
            "Destination {} resumed{}",
            text::clean(destination),
            by_whom(by_operator)
        ),
        label: "qase-edge".to_owned(),
        url: app_url.to_owned(),
        status: Some("What was held is delivered in order of arrival.".to_owned()),
        facts: vec![Fact {
            label: "Held events",
            value: held.to_string(),
        }],
        project: String::new(),
    }
}

fn project_quiet(
    project: &str,
    window_seconds: u64,
    last_delivery_at: Option<u64>,
    app_url: &str,
    now: u64,
) -> Said {
    let last_delivery = match last_delivery_at {
        Some(at) => format!("{} ago", span(now.saturating_sub(at) / 1000)),
        None => "none seen".to_owned(),
    };
    Said {
        tone: Tone::Warning,
        headline: format!("Project {} is quiet", text::clean(project)),
        label: "Webhook settings in Qase".to_owned(),
        url: webhook_settings_link(app_url, project),
        status: Some(
            "Qase disables a webhook that keeps failing and tells only its owner by e-mail: check project settings → Webhooks."
                .to_owned(),
        ),
        facts: vec![
            Fact {
                label: "Normal silence",
                value: span(window_seconds),
            },
            Fact {
                label: "Last delivery",
                value: last_delivery,
            },
        ],
        project: project.to_owned(),
    }
}

fn project_back(project: &str, app_url: &str) -> Said {
    Said {
        tone: Tone::Good,
        headline: format!("Project {} delivers again", text::clean(project)),
        label: "Webhook settings in Qase".to_owned(),
        url: webhook_settings_link(app_url, project),
        status: None,
        facts: Vec::new(),
        project: project.to_owned(),
    }
}

/// A ` "title"` after a run id, when there is a title.
fn titled(title: Option<&str>) -> String {
    title.map_or_else(String::new, |title| format!(" \"{}\"", text::clean(title)))
}

fn suspected_disabled(alert: &Alert, app_url: &str, now: u64) -> Said {
    let Alert::WebhookSuspectedDisabled {
        project,
        last_delivery_at,
        grace_seconds,
        runs,
        run,
        run_title,
    } = alert
    else {
        unreachable!("called for a suspected disabled webhook only")
    };
    let last_delivery = match last_delivery_at {
        Some(at) => format!("{} ago", span(now.saturating_sub(*at) / 1000)),
        None => "none seen".to_owned(),
    };
    Said {
        tone: Tone::Bad,
        headline: format!(
            "Webhook of project {} suspected disabled",
            text::clean(project)
        ),
        label: "Webhook settings in Qase".to_owned(),
        url: webhook_settings_link(app_url, project),
        status: Some(format!(
            "Qase's API shows runs that no webhook delivery told of for over {}. Qase switches off a webhook that keeps failing and tells only its owner by e-mail. In Qase, open the project's Settings → Webhooks: re-enable the webhook, and check its endpoint URL and its secret.",
            span(*grace_seconds)
        )),
        facts: vec![
            Fact {
                label: "Runs untold",
                value: format!("{runs} (run {run}{})", titled(run_title.as_deref())),
            },
            Fact {
                label: "Last delivery",
                value: last_delivery,
            },
        ],
        project: project.to_owned(),
    }
}

fn webhook_resumed(project: &str, app_url: &str) -> Said {
    Said {
        tone: Tone::Good,
        headline: format!("Webhook of project {} delivers again", text::clean(project)),
        label: "Webhook settings in Qase".to_owned(),
        url: webhook_settings_link(app_url, project),
        status: Some("No longer suspected disabled.".to_owned()),
        facts: Vec::new(),
        project: project.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_read_as_their_largest_whole_unit() {
        assert_eq!(span(45), "45 s");
        assert_eq!(span(1800), "30 min");
        assert_eq!(span(86_400), "1 d");
        assert_eq!(span(7 * 86_400), "7 d");
        assert_eq!(span(90), "90 s");
    }

    #[test]
    fn a_quiet_project_points_to_its_webhook_settings() {
        let alert = Alert::ProjectQuiet {
            project: "WEB".into(),
            window_seconds: 86_400,
            last_delivery_at: Some(0),
        };
        let message = message(&alert, "https://app.qase.io/", 2 * 86_400_000);
        assert_eq!(
            message.url,
            "https://app.qase.io/project/WEB/settings/webhooks"
        );
        assert_eq!(message.tone, Tone::Warning);
        assert!(message.headline.contains("WEB"));
        assert_eq!(message.facts[1].value, "2 d ago");
        assert_eq!(alert.subject(), "WEB");
        assert_eq!(alert.kind(), "project_quiet");
    }

    #[test]
    fn a_suspected_disabled_webhook_says_what_to_do_in_qase() {
        let alert = Alert::WebhookSuspectedDisabled {
            project: "WEB".into(),
            last_delivery_at: Some(0),
            grace_seconds: 1800,
            runs: 2,
            run: 42,
            run_title: Some("Nightly\n@here".into()),
        };
        let message = message(&alert, "https://app.qase.io", 3_600_000);
        assert_eq!(
            message.url,
            "https://app.qase.io/project/WEB/settings/webhooks"
        );
        assert_eq!(message.tone, Tone::Bad);
        assert!(message.headline.contains("suspected disabled"));
        let status = message.status.unwrap();
        for words in [
            "Settings → Webhooks",
            "re-enable",
            "endpoint URL",
            "secret",
            "30 min",
        ] {
            assert!(status.contains(words), "{words}: {status}");
        }
        assert!(message.facts[0].value.starts_with("2 (run 42 \"Nightly"));
        assert!(!message.facts[0].value.contains('\n'));
        assert_eq!(message.facts[1].value, "1 h ago");
        assert_eq!(alert.kind(), "webhook_suspected_disabled");
        let resumed = Alert::WebhookResumed {
            project: "WEB".into(),
        };
        assert_eq!(message_kind(&resumed), "webhook_resumed");
    }

    fn message_kind(alert: &Alert) -> String {
        message(alert, "https://app.qase.io", 0).event
    }

    #[test]
    fn a_hostile_destination_name_is_one_clean_line() {
        let alert = Alert::DestinationPaused {
            destination: "ci\n@everyone".into(),
            reason: "10 failures in a row".into(),
            by_operator: false,
        };
        let message = message(&alert, "https://app.qase.io", 0);
        assert!(!message.headline.contains('\n'), "{}", message.headline);
        assert_eq!(message.tone, Tone::Bad);
    }

    #[test]
    fn alerts_round_trip_through_json_with_their_kind() {
        let alert = Alert::DestinationResumed {
            destination: "ci".into(),
            held: 3,
            by_operator: true,
        };
        let json = serde_json::to_value(&alert).unwrap();
        assert_eq!(json["kind"], "destination_resumed");
        assert_eq!(serde_json::from_value::<Alert>(json).unwrap(), alert);
    }
}
