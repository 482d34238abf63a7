//! When a run's status goes to its GitHub destinations while it runs: once
//! its details (its tags, from Qase's REST API) are applied to a run that
//! has not ended and name a commit for a destination, one
//! [`super::RUN_STATUS_EVENT`] delivery per such destination
//! ([`status_messages`]). Its end goes with its report (a GitHub
//! destination takes the reports), so these carry only the run's key: the
//! delivery renders from the run's state as it is then.

use crate::delivery::messages::QueuedDelivery;
use crate::delivery::settings::{DeliverySettings, Format};
use crate::runs::report::RunKey;
use crate::runs::state::RunState;
use qase_webhooks::{EventId, EVENT_ID_PREFIX};

use super::tags::{self, TagPrefixes};
use super::RUN_STATUS_EVENT;

/// The enabled GitHub destinations of `project`: their names and prefixes.
pub fn destinations(delivery: &DeliverySettings, project: &str) -> Vec<(String, TagPrefixes)> {
    delivery
        .destinations
        .iter()
        .filter(|d| d.enabled && d.format == Format::Github && d.filter.matches_project(project))
        .filter_map(|d| Some((d.name.clone(), d.github.as_ref()?.tags.clone())))
        .collect()
}

/// The id of a run's status deliveries, stable for the run: `rst_` and 32
/// hex digits (beside its report's `rpt_`).
pub fn status_id(project: &str, run: u64) -> String {
    let id = EventId::of(format!("run-status:{project}/{run}").as_bytes()).to_string();
    format!("rst_{}", &id[EVENT_ID_PREFIX.len()..])
}

/// One status delivery per destination of `github` (see [`destinations`])
/// whose tags name a commit in `state`, while the run has not ended.
pub fn status_messages(
    github: &[(String, TagPrefixes)],
    state: &RunState,
    now: u64,
) -> Vec<QueuedDelivery> {
    let Some(details) = state.details.as_ref().filter(|_| !state.status.is_final()) else {
        return Vec::new();
    };
    let key = RunKey {
        project: state.project.clone(),
        run: state.run,
    };
    let body = serde_json::to_vec(&key).expect("a run's key serialises");
    github
        .iter()
        .filter(|(_, prefixes)| {
            tags::target(&details.tags, state.title.as_deref(), prefixes).is_some()
        })
        .map(|(name, _)| QueuedDelivery {
            destination: Some(name.clone()),
            ..QueuedDelivery::new(
                status_id(&state.project, state.run),
                RUN_STATUS_EVENT.to_owned(),
                state.project.clone(),
                now,
                &body,
                false,
            )
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::runs::report::tests::config;
    use crate::runs::state::{self, RunStatus};

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    pub(crate) fn details(tags: &[&str], finished: bool) -> crate::runs::details::RunDetails {
        crate::runs::details::RunDetails {
            finished,
            stats: Default::default(),
            elapsed_ms: None,
            time_spent_ms: None,
            environment: None,
            milestone: None,
            plan_id: None,
            tags: tags.iter().map(|t| t.to_string()).collect(),
            public: false,
        }
    }

    fn running(tags: &[&str]) -> RunState {
        let mut state = state::empty("WEB", 42);
        state.status = RunStatus::Started;
        state.details = Some(details(tags, false));
        state
    }

    #[test]
    fn a_running_run_tagged_with_a_commit_goes_to_each_github_destination() {
        let config = config(
            r#"[{"name":"gh","url":"https://api.github.com","format":"github","repository":"o/r","token_secret":"T"},
                {"name":"api","url":"https://api.github.com","format":"github","repository":"o/r","token_secret":"T","projects":["API"]},
                {"name":"hook","url":"https://x","reports":true}]"#,
            &[("T", "ghp_x")],
        );
        let github = destinations(&config.delivery, "WEB");
        assert_eq!(github.len(), 1);
        let messages = status_messages(&github, &running(&[&format!("sha:{SHA}")]), 7);
        assert_eq!(messages.len(), 1);
        let message = &messages[0];
        assert_eq!(message.destination.as_deref(), Some("gh"));
        assert_eq!(message.event_name, RUN_STATUS_EVENT);
        assert_eq!(message.id, status_id("WEB", 42));
        assert!(message.id.starts_with("rst_") && message.id.len() == 36);
        let key: RunKey = serde_json::from_str(message.body.as_deref().unwrap()).unwrap();
        assert_eq!((key.project.as_str(), key.run), ("WEB", 42));
        // No commit, no details, or an ended run: nothing.
        assert!(status_messages(&github, &running(&["pr:1"]), 7).is_empty());
        let mut ended = running(&[&format!("sha:{SHA}")]);
        ended.status = RunStatus::Completed;
        assert!(status_messages(&github, &ended, 7).is_empty());
        assert!(status_messages(&github, &state::empty("WEB", 42), 7).is_empty());
    }

    #[test]
    fn a_github_destination_takes_reports_and_no_events() {
        let config = config(
            r#"[{"name":"gh","url":"https://api.github.com","format":"github","repository":"o/r","token_secret":"T"}]"#,
            &[("T", "ghp_x")],
        );
        let names = |list: Vec<&crate::delivery::settings::Destination>| {
            list.iter().map(|d| d.name.clone()).collect::<Vec<_>>()
        };
        assert_eq!(
            names(crate::runs::report::report_destinations(
                &config.delivery,
                "WEB"
            )),
            ["gh"]
        );
        assert!(config
            .delivery
            .matching_destinations("run.started", "WEB")
            .is_empty());
        assert!(config
            .delivery
            .matching_destinations("case.created", "WEB")
            .is_empty());
    }
}
