//! What a run's object keeps for each of its GitHub destinations
//! ([`GithubRecord`], stored beside the run's state under
//! [`storage_key`]), and the one rule that changes it ([`change`]), so that
//! two deliveries racing for one run cannot both create its comment: the
//! first to [`GithubChange::Reserve`] holds the right to create it for
//! [`RESERVATION_MS`]; the other waits, then finds the comment's id.

use serde::{Deserialize, Serialize};

use crate::runs::state::RunState;

/// How long a reservation to create the comment holds: longer than the
/// listing and the creation take, short enough that a delivery that died
/// holding it delays the next by little.
pub const RESERVATION_MS: u64 = 60_000;

/// Where the run's pull-request comment stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "slot", rename_all = "snake_case")]
pub enum CommentSlot {
    /// None made, none being made.
    #[default]
    None,
    /// The delivery `by` may create it, until `until` (Unix ms).
    Reserved {
        /// The delivery's reservation token.
        by: String,
        /// When the reservation lapses.
        until: u64,
    },
    /// It exists: edit it in place.
    Posted {
        /// GitHub's id of the issue comment.
        id: u64,
    },
}

/// What the object keeps for one GitHub destination of the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GithubRecord {
    /// The comment.
    #[serde(default)]
    pub comment: CommentSlot,
    /// The last status posted (its commit and body), so that the same one
    /// is not posted twice.
    #[serde(default)]
    pub status: Option<String>,
    /// The digest of the comment's body as last written.
    #[serde(default)]
    pub comment_body: Option<String>,
}

/// A change to a [`GithubRecord`], asked of the run's object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum GithubChange {
    /// None: the record and the run's state are read.
    Read,
    /// Reserve the right to create the comment, at `now` (Unix ms).
    Reserve {
        /// The delivery's token.
        by: String,
        /// Now.
        now: u64,
    },
    /// This status was posted.
    StatusPosted {
        /// Its fingerprint.
        status: String,
    },
    /// The comment `id` is gone from GitHub (deleted by someone): forget
    /// it, so that the comment is made again. Changes nothing when the
    /// record already holds another comment.
    Gone {
        /// The comment's id.
        id: u64,
    },
    /// The comment `id` now holds the body of this digest.
    Commented {
        /// The comment's id.
        id: u64,
        /// Its body's digest.
        body: String,
    },
}

/// What the object answers a GitHub call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GithubAnswer {
    /// The run's state as the object holds it now.
    pub state: RunState,
    /// The record after the change.
    pub record: GithubRecord,
    /// For a reservation: whether it is the caller's.
    pub granted: bool,
}

/// The object's storage key of destination `destination`'s record.
pub fn storage_key(destination: &str) -> String {
    format!("github/{destination}")
}

/// `record` after `change`, and whether a reservation was granted.
pub fn change(record: GithubRecord, change: &GithubChange) -> (GithubRecord, bool) {
    match change {
        GithubChange::Read => (record, false),
        GithubChange::Reserve { by, now } => {
            let free = match &record.comment {
                CommentSlot::None => true,
                CommentSlot::Reserved { by: holder, until } => holder == by || until <= now,
                CommentSlot::Posted { .. } => false,
            };
            if !free {
                return (record, false);
            }
            let comment = CommentSlot::Reserved {
                by: by.clone(),
                until: now + RESERVATION_MS,
            };
            (GithubRecord { comment, ..record }, true)
        }
        GithubChange::StatusPosted { status } => (
            GithubRecord {
                status: Some(status.clone()),
                ..record
            },
            false,
        ),
        GithubChange::Gone { id } => match record.comment {
            CommentSlot::Posted { id: posted } if posted == *id => (
                GithubRecord {
                    comment: CommentSlot::None,
                    comment_body: None,
                    ..record
                },
                false,
            ),
            _ => (record, false),
        },
        GithubChange::Commented { id, body } => (
            GithubRecord {
                comment: CommentSlot::Posted { id: *id },
                comment_body: Some(body.clone()),
                ..record
            },
            false,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reserve(record: GithubRecord, by: &str, now: u64) -> (GithubRecord, bool) {
        let reserve = GithubChange::Reserve { by: by.into(), now };
        change(record, &reserve)
    }

    #[test]
    fn only_one_delivery_may_create_the_comment() {
        let (first, granted) = reserve(GithubRecord::default(), "a", 1_000);
        assert!(granted);
        let (held, granted) = reserve(first.clone(), "b", 2_000);
        assert!(!granted, "b waits while a holds it");
        assert_eq!(held, first);
        assert!(
            reserve(first.clone(), "a", 2_000).1,
            "a's own retry holds it"
        );
        let lapsed = 1_000 + RESERVATION_MS;
        assert!(
            reserve(first, "b", lapsed).1,
            "a lapsed reservation is free"
        );
    }

    #[test]
    fn a_posted_comment_is_never_reserved_again() {
        let posted = GithubChange::Commented {
            id: 9,
            body: "d1".into(),
        };
        let (record, _) = change(GithubRecord::default(), &posted);
        assert_eq!(record.comment, CommentSlot::Posted { id: 9 });
        assert_eq!(record.comment_body.as_deref(), Some("d1"));
        let (after, granted) = reserve(record.clone(), "a", 5);
        assert!(!granted);
        assert_eq!(after, record);
    }

    #[test]
    fn a_gone_comment_is_forgotten_only_if_it_is_the_one_kept() {
        let posted = GithubChange::Commented {
            id: 9,
            body: "d1".into(),
        };
        let (record, _) = change(GithubRecord::default(), &posted);
        let (other, _) = change(record.clone(), &GithubChange::Gone { id: 8 });
        assert_eq!(other, record, "another id: a newer comment is kept");
        let (gone, granted) = change(record, &GithubChange::Gone { id: 9 });
        assert!(!granted);
        assert_eq!(gone.comment, CommentSlot::None);
        assert_eq!(gone.comment_body, None);
        assert!(reserve(gone, "a", 5).1, "made again by the next delivery");
    }

    #[test]
    fn a_status_posted_is_kept_and_a_read_changes_nothing() {
        let (record, _) = change(
            GithubRecord::default(),
            &GithubChange::StatusPosted { status: "s".into() },
        );
        assert_eq!(record.status.as_deref(), Some("s"));
        assert_eq!(change(record.clone(), &GithubChange::Read), (record, false));
        let text = serde_json::to_value(GithubChange::Reserve {
            by: "a".into(),
            now: 1,
        })
        .unwrap();
        assert_eq!(
            text,
            serde_json::json!({"change": "reserve", "by": "a", "now": 1})
        );
        assert_eq!(storage_key("gh"), "github/gh");
    }
}
