//! `GET /api/destinations` (issue #19): each configured destination with
//! its breaker's state and its last 24 hours from the `deliveries` rows.
//! Pure: the statements, and the view from what they and the breaker
//! objects answered.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::delivery::breaker::Phase;
use crate::delivery::settings::DeliverySettings;
use crate::store::d1::Statement;

/// A day, in milliseconds.
pub const DAY_MS: u64 = 86_400_000;

/// Per destination, the rows updated since `since` by status, and the
/// latest success. A `retrying` row whose last attempt was held by a paused
/// breaker (or failed as its probe) waits for the breaker, not for a retry:
/// it is in the breaker's `held`, not counted as failed, so a pause does
/// not read as fifty failures.
pub fn day_counts(since: u64) -> Statement {
    Statement {
        sql: Cow::Borrowed(
            "SELECT destination, \
             SUM(CASE WHEN status = 'delivered' THEN 1 ELSE 0 END) AS delivered, \
             SUM(CASE WHEN status = 'retrying' AND COALESCE(json_extract(attempts_log, '$[#-1].result'), '') \
             NOT IN ('held_while_paused', 'probe') THEN 1 ELSE 0 END) AS failed, \
             SUM(CASE WHEN status = 'dead' THEN 1 ELSE 0 END) AS dead, \
             MAX(CASE WHEN status = 'delivered' THEN updated_at END) AS last_success_at \
             FROM deliveries WHERE updated_at >= ?1 GROUP BY destination",
        ),
        params: vec![since.into()],
    }
}

/// A row of [`day_counts`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DayCounts {
    /// The destination.
    pub destination: String,
    /// Delivered rows.
    pub delivered: Option<u64>,
    /// Rows waiting for a retry (not those the breaker holds).
    pub failed: Option<u64>,
    /// Dead letters.
    pub dead: Option<u64>,
    /// The latest delivery, Unix ms.
    pub last_success_at: Option<u64>,
}

/// Per destination, its latest failure (SQLite gives the bare columns of
/// the row that holds the `MAX`).
pub fn last_errors() -> Statement {
    Statement {
        sql: Cow::Borrowed(
            "SELECT destination, last_error, MAX(updated_at) AS at FROM deliveries \
             WHERE status IN ('retrying', 'dead') AND last_error IS NOT NULL GROUP BY destination",
        ),
        params: Vec::new(),
    }
}

/// A row of [`last_errors`].
#[derive(Debug, Clone, Deserialize)]
pub struct LastError {
    /// The destination.
    pub destination: String,
    /// The failure, in words.
    pub last_error: Option<String>,
    /// When, Unix ms.
    pub at: Option<u64>,
}

/// The last 24 hours of a destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Day {
    /// Delivered.
    pub delivered: u64,
    /// Failed and waiting for a retry (not those the breaker holds).
    pub failed: u64,
    /// Dead letters.
    pub dead: u64,
    /// Delivered over all three, from 0 to 1; `None` with none.
    #[serde(deserialize_with = "crate::wire::present")]
    pub success_rate: Option<f64>,
}

/// What a breaker object said (`None`: it could not be reached).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BreakerFacts {
    /// The phase.
    pub state: Option<Phase>,
    /// Since when, Unix ms.
    pub since: Option<u64>,
    /// Why paused.
    pub reason: Option<String>,
    /// By an operator.
    pub paused_by_operator: bool,
    /// Failures in a row.
    pub consecutive_failures: u32,
    /// Events held.
    pub held: u64,
    /// The next probe, Unix ms.
    pub next_probe_at: Option<u64>,
}

/// One destination as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DestinationView {
    /// Its name.
    pub name: String,
    /// `standard`, `slack`, `teams`, `discord`, `google_chat` or `github`.
    pub format: String,
    /// Whether it receives events.
    pub enabled: bool,
    /// Whether it receives alerts.
    pub alerts: bool,
    /// Whether it receives run reports.
    pub reports: bool,
    /// Its breaker.
    #[serde(flatten)]
    pub breaker: BreakerFacts,
    /// The last 24 hours.
    pub last_24h: Day,
    /// Its latest failure.
    #[serde(deserialize_with = "crate::wire::present")]
    pub last_error: Option<String>,
    /// When.
    #[serde(deserialize_with = "crate::wire::present")]
    pub last_error_at: Option<u64>,
    /// Its latest delivery.
    #[serde(deserialize_with = "crate::wire::present")]
    pub last_success_at: Option<u64>,
}

/// The view of every configured destination, in configuration order.
/// `breakers` is in the same order.
pub fn views(
    delivery: &DeliverySettings,
    breakers: Vec<Option<BreakerFacts>>,
    counts: &[DayCounts],
    errors: &[LastError],
) -> Vec<DestinationView> {
    delivery
        .destinations
        .iter()
        .zip(breakers)
        .map(|(destination, breaker)| {
            let count = counts
                .iter()
                .find(|c| c.destination == destination.name)
                .cloned()
                .unwrap_or_default();
            let error = errors.iter().find(|e| e.destination == destination.name);
            let (delivered, failed, dead) = (
                count.delivered.unwrap_or(0),
                count.failed.unwrap_or(0),
                count.dead.unwrap_or(0),
            );
            let attempted = delivered + failed + dead;
            DestinationView {
                name: destination.name.clone(),
                format: destination.format.as_str().to_owned(),
                enabled: destination.enabled,
                alerts: destination.alerts,
                reports: destination.reports,
                breaker: breaker.unwrap_or_default(),
                last_24h: Day {
                    delivered,
                    failed,
                    dead,
                    success_rate: (attempted > 0).then(|| delivered as f64 / attempted as f64),
                },
                last_error: error.and_then(|e| e.last_error.clone()),
                last_error_at: error.and_then(|e| e.at),
                last_success_at: count.last_success_at,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::bindings;
    use crate::config::for_tests;
    use crate::delivery::records::AttemptResultKind;
    use crate::store::d1::{literals, placeholders_match};
    use crate::store::layout::DeliveryStatus;

    #[test]
    fn the_status_literals_are_delivery_statuses_and_attempt_kinds_text() {
        let kind = |kind: AttemptResultKind| serde_json::to_value(kind).unwrap();
        let (held, probe) = (
            kind(AttemptResultKind::HeldWhilePaused),
            kind(AttemptResultKind::Probe),
        );
        let (delivered, retrying, dead) = (
            DeliveryStatus::Delivered.as_str(),
            DeliveryStatus::Retrying.as_str(),
            DeliveryStatus::Dead.as_str(),
        );
        assert_eq!(
            literals(&day_counts(0)),
            [
                delivered,
                retrying,
                "$[#-1].result",
                "",
                held.as_str().unwrap(),
                probe.as_str().unwrap(),
                dead,
                delivered
            ]
        );
        assert_eq!(literals(&last_errors()), [retrying, dead]);
    }

    #[test]
    fn each_destination_gets_its_counts_its_last_error_and_its_breaker() {
        let config = for_tests(&[(
            bindings::DESTINATIONS,
            r#"[{"name":"ci","url":"https://ci.example"},{"name":"chat","url":"https://chat.example","format":"slack","alerts":true}]"#,
        )])
        .unwrap();
        let counts = vec![DayCounts {
            destination: "ci".into(),
            delivered: Some(3),
            failed: Some(0),
            dead: Some(1),
            last_success_at: Some(9),
        }];
        let errors = vec![LastError {
            destination: "ci".into(),
            last_error: Some("HTTP 400".into()),
            at: Some(8),
        }];
        let breakers = vec![
            Some(BreakerFacts {
                state: Some(Phase::Active),
                ..BreakerFacts::default()
            }),
            None,
        ];
        let views = views(&config.delivery, breakers, &counts, &errors);
        assert_eq!(views[0].last_24h.success_rate, Some(0.75));
        assert_eq!(views[0].last_error.as_deref(), Some("HTTP 400"));
        assert_eq!(views[1].last_24h.success_rate, None);
        assert_eq!(views[1].format, "slack");
        assert!(views[1].alerts);
        let json = serde_json::to_value(&views[1]).unwrap();
        assert_eq!(
            json["state"],
            serde_json::Value::Null,
            "unreachable breaker"
        );
        assert_eq!(serde_json::to_value(&views[0]).unwrap()["state"], "active");
        placeholders_match(&day_counts(0));
        placeholders_match(&last_errors());
    }
}
