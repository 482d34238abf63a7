//! The watchdog (issue #19): Qase disables a webhook whose endpoint keeps
//! failing and tells only its owner, by e-mail, so a silent project may be
//! a broken webhook. `QASE_WATCH` names each project with the longest
//! silence normal for it; the cron sweep asks [`check`] about each, with the
//! last delivery from D1 (`MAX(received_at)` over the `events_by_project`
//! index: no write per ingest), and stores the result in `watch_state`.
//! Pure; `qase_edge::store::sweep` runs it.

use std::borrow::Cow;

use qase_webhooks::chat::Alert;
use serde::{Deserialize, Serialize};

use crate::store::d1::Statement;

/// A watched project and the longest silence normal for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watched {
    /// The project code.
    pub project: String,
    /// The window, in seconds.
    pub window_seconds: u64,
}

/// A duration: a whole number with `s`, `m`, `h` or `d` (`30m`, `24h`,
/// `7d`), or bare seconds.
pub fn parse_duration(text: &str) -> Option<u64> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last()? {
        (at, c) if c.is_ascii_alphabetic() => (&text[..at], c),
        _ => (text, 's'),
    };
    let n: u64 = number.trim().parse().ok()?;
    let seconds = match unit {
        's' => n,
        'm' => n.checked_mul(60)?,
        'h' => n.checked_mul(3_600)?,
        'd' => n.checked_mul(86_400)?,
        _ => return None,
    };
    (seconds > 0).then_some(seconds)
}

/// `QASE_WATCH`: a JSON object of project code to duration, e.g.
/// `{"WEB": "24h", "MOBILE": "7d"}`. The problem in words when it is not.
pub fn parse_watch(json: &str) -> Result<Vec<Watched>, String> {
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(json).map_err(|_| {
            "must be a JSON object of project code to a duration such as \"24h\"".to_owned()
        })?;
    let mut watched = Vec::new();
    for (project, value) in map {
        let window = value.as_str().and_then(parse_duration).ok_or_else(|| {
            format!("project `{project}`: the duration must be like \"45s\", \"30m\", \"24h\" or \"7d\"")
        })?;
        if project.is_empty() || project.len() > qase_webhooks::MAX_PROJECT_CODE_LEN {
            return Err(format!("project `{project}` is no project code"));
        }
        watched.push(Watched {
            project,
            window_seconds: window,
        });
    }
    Ok(watched)
}

/// A `watch_state` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchRow {
    /// The project code.
    pub project_code: String,
    /// The last delivery seen, Unix ms.
    pub last_delivery_at: Option<u64>,
    /// `1` while quiet.
    pub quiet: u8,
    /// The last quiet alert, Unix ms.
    pub alerted_at: Option<u64>,
    /// When the watch on it began (the silence of a project never heard
    /// from counts from here).
    pub watched_since: u64,
}

/// What the watchdog decided about one project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The row to store (`None`: unchanged).
    pub row: Option<WatchRow>,
    /// The alert to send, if any.
    pub alert: Option<Alert>,
}

/// Checks `watched` at `now` (Unix ms), given its stored row and its last
/// delivery in D1. A quiet project is alerted about once per window (and at
/// most once per `alert_interval_ms`); the first delivery after that clears
/// it, with one "back" alert.
pub fn check(
    watched: &Watched,
    stored: Option<&WatchRow>,
    last_delivery_at: Option<u64>,
    alert_interval_ms: u64,
    now: u64,
) -> Checked {
    let mut row = stored.cloned().unwrap_or(WatchRow {
        project_code: watched.project.clone(),
        last_delivery_at: None,
        quiet: 0,
        alerted_at: None,
        watched_since: now,
    });
    row.last_delivery_at = last_delivery_at.max(row.last_delivery_at);
    let window_ms = watched.window_seconds * 1000;
    let silent_since = row.last_delivery_at.unwrap_or(row.watched_since);
    let silent = now.saturating_sub(silent_since) >= window_ms;
    let mut alert = None;
    if silent {
        let due = match row.alerted_at {
            Some(at) if row.quiet == 1 => {
                now.saturating_sub(at) >= window_ms.max(alert_interval_ms)
            }
            _ => true,
        };
        if due {
            row.quiet = 1;
            row.alerted_at = Some(now);
            alert = Some(Alert::ProjectQuiet {
                project: watched.project.clone(),
                window_seconds: watched.window_seconds,
                last_delivery_at: row.last_delivery_at,
            });
        }
    } else if row.quiet == 1 {
        row.quiet = 0;
        alert = Some(Alert::ProjectBack {
            project: watched.project.clone(),
        });
    }
    Checked {
        row: (stored != Some(&row)).then_some(row),
        alert,
    }
}

/// The last delivery from each project, `(project_code, at)`.
pub fn last_deliveries(projects: &[&str]) -> Statement {
    let placeholders: Vec<String> = (1..=projects.len()).map(|i| format!("?{i}")).collect();
    Statement {
        sql: Cow::Owned(format!(
            "SELECT project_code, MAX(received_at) AS at FROM events \
             WHERE project_code IN ({}) GROUP BY project_code",
            placeholders.join(", ")
        )),
        params: projects.iter().map(|p| (*p).into()).collect(),
    }
}

/// A row of [`last_deliveries`].
#[derive(Debug, Clone, Deserialize)]
pub struct LastDelivery {
    /// The project code.
    pub project_code: String,
    /// Its latest `received_at`.
    pub at: Option<u64>,
}

/// Every `watch_state` row.
pub fn rows() -> Statement {
    Statement {
        sql: Cow::Borrowed(
            "SELECT project_code, last_delivery_at, quiet, alerted_at, watched_since FROM watch_state",
        ),
        params: Vec::new(),
    }
}

/// Stores a row.
pub fn upsert(row: &WatchRow) -> Statement {
    Statement {
        sql: Cow::Borrowed(
            "INSERT INTO watch_state (project_code, last_delivery_at, quiet, alerted_at, watched_since) \
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (project_code) DO UPDATE SET \
             last_delivery_at = excluded.last_delivery_at, quiet = excluded.quiet, \
             alerted_at = excluded.alerted_at",
        ),
        params: vec![
            row.project_code.as_str().into(),
            row.last_delivery_at.into(),
            u64::from(row.quiet).into(),
            row.alerted_at.into(),
            row.watched_since.into(),
        ],
    }
}

/// What `GET /health` shows about a watched project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchView {
    /// The project code.
    pub project: String,
    /// Its last delivery, Unix ms.
    #[serde(deserialize_with = "crate::wire::present")]
    pub last_delivery_at: Option<u64>,
    /// The longest normal silence.
    pub window_seconds: u64,
    /// Whether it is quiet now.
    pub quiet: bool,
    /// The last quiet alert, Unix ms.
    #[serde(deserialize_with = "crate::wire::present")]
    pub alerted_at: Option<u64>,
}

/// The view of each watched project, from its stored row and its last
/// delivery (either may be missing), at `now`.
pub fn view(
    watched: &Watched,
    stored: Option<&WatchRow>,
    last_delivery_at: Option<u64>,
    now: u64,
) -> WatchView {
    let last = last_delivery_at.max(stored.and_then(|row| row.last_delivery_at));
    let since = last.or(stored.map(|row| row.watched_since));
    WatchView {
        project: watched.project.clone(),
        last_delivery_at: last,
        window_seconds: watched.window_seconds,
        quiet: since.is_some_and(|at| now.saturating_sub(at) >= watched.window_seconds * 1000),
        alerted_at: stored.and_then(|row| row.alerted_at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::d1::placeholders_match;

    fn web(seconds: u64) -> Watched {
        Watched {
            project: "WEB".into(),
            window_seconds: seconds,
        }
    }

    #[test]
    fn durations_read_with_their_unit() {
        assert_eq!(parse_duration("30m"), Some(1800));
        assert_eq!(parse_duration("24h"), Some(86_400));
        assert_eq!(parse_duration("7d"), Some(604_800));
        assert_eq!(parse_duration("45s"), Some(45));
        assert_eq!(parse_duration("90"), Some(90));
        for bad in ["", "0h", "h", "1w", "-1h", "1.5h", "99999999999999999999d"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_watch_setting_is_an_object_of_durations() {
        let watched = parse_watch(r#"{"WEB": "24h", "MOBILE": "7d"}"#).unwrap();
        assert_eq!(watched.len(), 2);
        assert!(watched.contains(&Watched {
            project: "MOBILE".into(),
            window_seconds: 604_800
        }));
        assert!(parse_watch(r#"["WEB"]"#).is_err());
        assert!(parse_watch(r#"{"WEB": 24}"#).unwrap_err().contains("WEB"));
        assert!(parse_watch(r#"{"WEB": "soon"}"#).is_err());
    }

    #[test]
    fn a_project_never_heard_from_is_quiet_a_window_after_the_watch_began() {
        let w = web(60);
        let first = check(&w, None, None, 0, 1_000);
        assert_eq!(first.alert, None);
        let row = first.row.unwrap();
        assert_eq!(row.watched_since, 1_000);
        assert_eq!(check(&w, Some(&row), None, 0, 60_999).alert, None);
        let quiet = check(&w, Some(&row), None, 0, 61_000);
        assert!(matches!(
            quiet.alert,
            Some(Alert::ProjectQuiet {
                last_delivery_at: None,
                window_seconds: 60,
                ..
            })
        ));
    }

    #[test]
    fn a_quiet_project_is_alerted_once_per_window_and_a_delivery_brings_it_back_once() {
        let w = web(60);
        let row = WatchRow {
            project_code: "WEB".into(),
            last_delivery_at: Some(0),
            quiet: 0,
            alerted_at: None,
            watched_since: 0,
        };
        let a = check(&w, Some(&row), Some(0), 0, 60_000);
        assert!(matches!(a.alert, Some(Alert::ProjectQuiet { .. })));
        let row = a.row.unwrap();
        assert_eq!(row.quiet, 1);
        let b = check(&w, Some(&row), Some(0), 0, 100_000);
        assert_eq!(b.alert, None, "once per window");
        assert_eq!(b.row, None, "nothing changed");
        let c = check(&w, Some(&row), Some(0), 0, 120_000);
        assert!(
            matches!(c.alert, Some(Alert::ProjectQuiet { .. })),
            "the next window"
        );
        let row = c.row.unwrap();
        let back = check(&w, Some(&row), Some(125_000), 0, 130_000);
        assert_eq!(
            back.alert,
            Some(Alert::ProjectBack {
                project: "WEB".into()
            })
        );
        let row = back.row.unwrap();
        assert_eq!(row.quiet, 0);
        assert_eq!(check(&w, Some(&row), Some(125_000), 0, 131_000).alert, None);
    }

    #[test]
    fn the_alert_interval_spaces_repeated_quiet_alerts() {
        let w = web(60);
        let row = WatchRow {
            project_code: "WEB".into(),
            last_delivery_at: None,
            quiet: 1,
            alerted_at: Some(60_000),
            watched_since: 0,
        };
        assert_eq!(check(&w, Some(&row), None, 300_000, 200_000).alert, None);
        assert!(check(&w, Some(&row), None, 300_000, 360_000)
            .alert
            .is_some());
    }

    #[test]
    fn the_view_shows_the_last_delivery_and_whether_it_is_quiet() {
        let w = web(60);
        let v = view(&w, None, Some(10_000), 20_000);
        assert_eq!(v.last_delivery_at, Some(10_000));
        assert!(!v.quiet);
        assert!(view(&w, None, Some(10_000), 70_000).quiet);
        assert!(!view(&w, None, None, 70_000).quiet, "not watched yet");
    }

    #[test]
    fn statements_bind_what_they_name() {
        placeholders_match(&last_deliveries(&["WEB", "MOBILE"]));
        placeholders_match(&rows());
        placeholders_match(&upsert(&WatchRow {
            project_code: "WEB".into(),
            last_delivery_at: None,
            quiet: 0,
            alerted_at: None,
            watched_since: 1,
        }));
    }
}
