//! A run's full facts from Qase's REST API ([`RunDetails`]): every status
//! count, the times, the environment, the milestone, the plan and the
//! tags. The webhooks carry only part of this (`run.completed` has no
//! tags, no retest or invalid counts), and CI conventions live in the
//! tags (`sha:<commit>`, `pr:<number>`), so one `GET /run/{code}/{id}`
//! when a run ends ([`crate::runs::qase_api::run_request`], the
//! [`FetchDetails`] machine) and the reconcile pass's listing (the same
//! `Run` schema) fill them in.
//!
//! [`FetchDetails`]: crate::runs::fetch::FetchDetails

use std::collections::BTreeMap;

use qase_webhooks::run_report::RunCounts;
use serde::{Deserialize, Serialize};

/// The most tags kept of a run, and the longest tag kept: a run's tags are
/// read by people and matched by destinations, not stored without bound.
pub const MAX_TAGS: usize = 50;
/// See [`MAX_TAGS`] (bytes; a longer tag is cut at a character boundary).
pub const MAX_TAG_BYTES: usize = 200;

/// A run's counts as Qase counts them (`stats.total`, `stats.statuses`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QaseStats {
    /// Cases in the run.
    pub total: u64,
    /// Passed.
    pub passed: u64,
    /// Failed.
    pub failed: u64,
    /// Blocked.
    pub blocked: u64,
    /// Skipped.
    pub skipped: u64,
    /// Marked for retest.
    pub retest: u64,
    /// Invalid.
    pub invalid: u64,
    /// Not tested yet.
    pub untested: u64,
    /// In progress.
    pub in_progress: u64,
}

/// A run's milestone, as Qase's `Run` schema gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Milestone {
    /// Its id, when Qase gives one.
    #[serde(default)]
    pub id: Option<u64>,
    /// Its title.
    pub title: String,
}

/// A run's full facts, from Qase's `Run` schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunDetails {
    /// Whether Qase showed the run finished when these were read (an
    /// `end_time`, or a finished `status_text`: passed, failed, aborted):
    /// the counts of a run read at its start are not its result.
    pub finished: bool,
    /// Every status count.
    pub stats: QaseStats,
    /// Wall-clock time from start to end, in milliseconds (`elapsed_time`).
    pub elapsed_ms: Option<u64>,
    /// Time spent on the results, in milliseconds (`time_spent`).
    pub time_spent_ms: Option<u64>,
    /// The environment's title (or its slug).
    pub environment: Option<String>,
    /// The milestone.
    pub milestone: Option<Milestone>,
    /// The plan it was started from.
    pub plan_id: Option<u64>,
    /// Its tags, as Qase lists them (see [`MAX_TAGS`]).
    pub tags: Vec<String>,
    /// Whether its public link is on.
    pub public: bool,
}

impl RunDetails {
    /// The counts of a run's report and CI gate from these stats: what
    /// Qase counts, `duration` being the elapsed milliseconds
    /// (`fallback_duration`, the end event's, when Qase gave none). Only
    /// for details read once the run [`finished`](Self::finished).
    pub fn counts(&self, fallback_duration: u64) -> RunCounts {
        let stats = &self.stats;
        RunCounts {
            cases: stats.total,
            passed: stats.passed,
            failed: stats.failed,
            blocked: stats.blocked,
            skipped: Some(stats.skipped),
            untested: Some(stats.untested),
            duration: self.elapsed_ms.unwrap_or(fallback_duration),
        }
    }
}

/// Qase's `Run` schema, the fields [`RunDetails`] reads, each optional and
/// loosely typed, so that one odd field never loses the others.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct RunEntity {
    #[serde(default)]
    pub(crate) status_text: Option<String>,
    #[serde(default)]
    pub(crate) end_time: Option<String>,
    #[serde(default)]
    pub(crate) stats: Option<EntityStats>,
    #[serde(default)]
    pub(crate) elapsed_time: Option<u64>,
    #[serde(default)]
    time_spent: Option<u64>,
    #[serde(default)]
    environment: Option<serde_json::Value>,
    #[serde(default)]
    milestone: Option<serde_json::Value>,
    #[serde(default)]
    plan_id: Option<u64>,
    #[serde(default)]
    tags: Option<Vec<serde_json::Value>>,
    #[serde(default)]
    public: Option<bool>,
}

/// `stats`: `total`, `statuses` (a count per status) and the deprecated
/// flat counts, read when `statuses` lacks one.
#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct EntityStats {
    #[serde(default)]
    pub(crate) total: Option<u64>,
    #[serde(default)]
    statuses: BTreeMap<String, u64>,
    #[serde(flatten)]
    flat: BTreeMap<String, serde_json::Value>,
}

impl EntityStats {
    /// The count of `status`: from `statuses`, else the deprecated flat field.
    pub(crate) fn count(&self, status: &str) -> Option<u64> {
        self.statuses
            .get(status)
            .copied()
            .or_else(|| self.flat.get(status).and_then(serde_json::Value::as_u64))
    }

    fn stats(&self) -> QaseStats {
        let count = |status: &str| self.count(status).unwrap_or(0);
        QaseStats {
            total: self.total.unwrap_or(0),
            passed: count("passed"),
            failed: count("failed"),
            blocked: count("blocked"),
            skipped: count("skipped"),
            retest: count("retest"),
            invalid: count("invalid"),
            untested: count("untested"),
            in_progress: count("in_progress"),
        }
    }
}

/// A tag as Qase lists it: `{"title": ...}` (the documented `Tag` value)
/// or a bare string.
fn tag_text(value: &serde_json::Value) -> Option<String> {
    let text = match value {
        serde_json::Value::String(text) => text.as_str(),
        serde_json::Value::Object(tag) => tag.get("title")?.as_str()?,
        _ => return None,
    };
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut end = text.len().min(MAX_TAG_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Some(text[..end].to_owned())
}

/// A title from an object's `title` (or, for an environment, its `slug`).
fn titled(value: &serde_json::Value, or_key: &str) -> Option<String> {
    let text = value.get("title").and_then(serde_json::Value::as_str);
    let text = text.or_else(|| value.get(or_key).and_then(serde_json::Value::as_str))?;
    (!text.trim().is_empty()).then(|| text.trim().to_owned())
}

impl RunEntity {
    /// Its details (every field Qase left out is empty).
    pub(crate) fn details(&self) -> RunDetails {
        let mut tags: Vec<String> = Vec::new();
        for tag in self.tags.iter().flatten().filter_map(tag_text) {
            if tags.len() < MAX_TAGS && !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        let milestone = self.milestone.as_ref().and_then(|value| {
            Some(Milestone {
                id: value.get("id").and_then(serde_json::Value::as_u64),
                title: titled(value, "title")?,
            })
        });
        let status = self.status_text.as_deref().unwrap_or_default();
        let status = status.trim().to_ascii_lowercase();
        let finished_status = ["pass", "fail", "abort", "complete", "done"]
            .iter()
            .any(|prefix| status.starts_with(prefix));
        // Qase writes `end_time: null` until a run ends.
        let ended = self
            .end_time
            .as_deref()
            .is_some_and(|t| !t.trim().is_empty());
        RunDetails {
            finished: finished_status || ended,
            stats: self
                .stats
                .as_ref()
                .map(EntityStats::stats)
                .unwrap_or_default(),
            elapsed_ms: self.elapsed_time,
            time_spent_ms: self.time_spent,
            environment: self.environment.as_ref().and_then(|e| titled(e, "slug")),
            milestone,
            plan_id: self.plan_id,
            tags,
            public: self.public.unwrap_or(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The details of a `Run` as Qase's answers hold it (`{"result": Run}`).
    fn parse_run(body: &[u8]) -> Option<RunDetails> {
        let answer: serde_json::Value = serde_json::from_slice(body).ok()?;
        let entity: RunEntity = serde_json::from_value(answer.get("result")?.clone()).ok()?;
        Some(entity.details())
    }

    #[test]
    fn a_documented_run_gives_every_count_the_tags_and_the_times() {
        let body = json!({"status": true, "result": {
            "id": 42, "title": "Nightly", "status_text": "passed",
            "stats": {"total": 12, "statuses": {"passed": 6, "failed": 2, "blocked": 1,
                "skipped": 1, "retest": 1, "invalid": 1, "untested": 0, "in_progress": 0}},
            "time_spent": 900, "elapsed_time": 61000,
            "environment": {"title": "Staging", "slug": "staging", "host": "s.example"},
            "milestone": {"id": 3, "title": "v2.1"},
            "plan_id": 7, "public": true,
            "tags": [{"title": "sha:0123456789abcdef0123456789abcdef01234567", "internal_id": 1},
                     {"title": "pr:17", "internal_id": 2}, {"title": "pr:17"}, "nightly", {"title": "  "}, 5]
        }});
        let details = parse_run(body.to_string().as_bytes()).expect("the documented shape");
        assert!(details.finished, "a passed run has finished");
        assert_eq!(
            details.stats,
            QaseStats {
                total: 12,
                passed: 6,
                failed: 2,
                blocked: 1,
                skipped: 1,
                retest: 1,
                invalid: 1,
                untested: 0,
                in_progress: 0
            }
        );
        assert_eq!(
            details.tags,
            [
                "sha:0123456789abcdef0123456789abcdef01234567",
                "pr:17",
                "nightly"
            ]
        );
        assert_eq!(details.elapsed_ms, Some(61000));
        assert_eq!(details.time_spent_ms, Some(900));
        assert_eq!(details.environment.as_deref(), Some("Staging"));
        assert_eq!(
            details.milestone,
            Some(Milestone {
                id: Some(3),
                title: "v2.1".into()
            })
        );
        assert_eq!(details.plan_id, Some(7));
        assert!(details.public);
        let counts = details.counts(5);
        assert_eq!(
            (counts.cases, counts.passed, counts.failed, counts.blocked),
            (12, 6, 2, 1)
        );
        assert_eq!(
            (counts.skipped, counts.untested, counts.duration),
            (Some(1), Some(0), 61000)
        );
    }

    #[test]
    fn the_deprecated_flat_counts_fill_in_and_missing_fields_stay_empty() {
        let body = json!({"status": true, "result": {"id": 1,
            "stats": {"total": 3, "passed": 2, "failed": 1, "statuses": {"passed": 1}},
            "environment": {"slug": "prod"}, "milestone": null, "tags": null}});
        let details = parse_run(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            (
                details.stats.total,
                details.stats.passed,
                details.stats.failed
            ),
            (3, 1, 1)
        );
        assert_eq!(details.environment.as_deref(), Some("prod"));
        assert_eq!(
            (&details.milestone, details.tags.len(), details.public),
            (&None, 0, false)
        );
        assert_eq!(details.counts(5).duration, 5);
        assert!(
            !details.finished,
            "no end time, no status: not known to be finished"
        );
    }

    #[test]
    fn a_run_in_progress_is_not_finished_and_an_end_time_finishes_it() {
        let read = |result: serde_json::Value| {
            parse_run(json!({"result": result}).to_string().as_bytes()).unwrap()
        };
        assert!(!read(json!({"status_text": "in_progress", "end_time": null})).finished);
        assert!(!read(json!({"status_text": "active"})).finished);
        assert!(read(json!({"status_text": "aborted"})).finished);
        assert!(
            read(json!({"status_text": "odd", "end_time": "2021-12-30T19:23:59+00:00"})).finished
        );
        assert!(!read(json!({"status_text": "odd", "end_time": " "})).finished);
    }

    #[test]
    fn tags_are_capped_in_number_and_length() {
        let long = "é".repeat(MAX_TAG_BYTES);
        let tags: Vec<_> = (0..MAX_TAGS + 5)
            .map(|i| json!({"title": format!("t{i}")}))
            .chain([json!(long)])
            .collect();
        let body = json!({"result": {"tags": tags}});
        let details = parse_run(body.to_string().as_bytes()).unwrap();
        assert_eq!(details.tags.len(), MAX_TAGS);
        let body = json!({"result": {"tags": [long]}});
        let tag = &parse_run(body.to_string().as_bytes()).unwrap().tags[0];
        assert!(tag.len() <= MAX_TAG_BYTES && tag.chars().all(|c| c == 'é'));
    }
}
