//! A GitHub destination's deliveries, through the delivery machine, against
//! a simulated run's object and a simulated GitHub:
//! 1. a running run's status is pending, with one comment; its end makes
//!    the status final and edits that comment in place;
//! 2. a replay, a late pending and a duplicate change nothing on GitHub;
//! 3. a failing threshold makes a failure;
//! 4. a lost comment id is found by the comment's marker, not made twice;
//!    a comment deleted on GitHub is made again, once; a pull request gone
//!    too is a dead letter;
//! 5. a delivery that finds another creating the comment waits, then edits it;
//! 6. a pending posted while the run ended is followed by the final status,
//!    and a comment edited from a state that moved on is edited again;
//! 7. a run without a commit tag is skipped, and its delivery state says why;
//! 8. a rate limit is waited out; a wrong token is a dead letter in words;
//! 9. an operator's replay of one of the run's events renders the run.

use std::collections::VecDeque;

use crate::config::Config;
use crate::delivery::github::due::{self, tests::details};
use crate::delivery::github::record::{self, CommentSlot, GithubAnswer, GithubRecord};
use crate::delivery::github::render::{StatusBody, StatusState};
use crate::delivery::machine::script::{self, Run};
use crate::delivery::machine::{BreakerAnswer, Delivery, Op, OpResult};
use crate::delivery::messages::QueuedDelivery;
use crate::http::outbound::{Answer, Method};
use crate::runs::report::{self, tests::ended_state};
use crate::runs::state::{RunState, RunStatus};
use crate::store::layout::DeliveryStatus;

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

fn config(thresholds: &str) -> Config {
    let destinations = format!(
        r#"[{{"name":"gh","url":"https://api.github.test/","format":"github","repository":"octo/web",
             "token_secret":"GH_TOKEN","pace_ms":0,"thresholds":{thresholds}}}]"#
    );
    report::tests::config(&destinations, &[("GH_TOKEN", "ghp_test")])
}

fn tags(pr: bool) -> Vec<String> {
    let mut tags = vec![format!("sha:{SHA}")];
    if pr {
        tags.push("pr:7".into());
    }
    tags
}

fn running(pr: bool) -> RunState {
    let mut state = ended_state();
    state.status = RunStatus::Started;
    state.end = None;
    state.details = Some(details(&[], false));
    state.details.as_mut().unwrap().tags = tags(pr);
    state
}

fn ended(pr: bool) -> RunState {
    let mut state = ended_state();
    state.details = Some(details(&[], false));
    state.details.as_mut().unwrap().tags = tags(pr);
    state
}

/// A run's object and GitHub, as far as a GitHub delivery sees them.
#[derive(Default)]
struct World {
    state: Option<RunState>,
    record: GithubRecord,
    statuses: Vec<StatusBody>,
    /// Comment ids and bodies, as GitHub holds them.
    comments: Vec<(u64, String)>,
    edits: usize,
    /// Answers GitHub gives before its own (a rate limit, a refusal).
    refusals: VecDeque<Answer>,
    /// Run on the first status posted (the run changes meanwhile).
    on_status: Option<RunState>,
    /// Set on a wait (the other delivery made the comment meanwhile).
    on_wait: Option<GithubRecord>,
    /// Run on the first comment edit (the run changes meanwhile).
    on_edit: Option<RunState>,
}

fn ok(status: u16, body: String) -> Answer {
    Answer::Status {
        status,
        retry_after: None,
        body: body.into_bytes(),
        truncated: false,
    }
}

impl World {
    fn answer(&mut self, op: &Op) -> Option<OpResult> {
        match op {
            Op::AskBreaker { .. } => Some(OpResult::Breaker(BreakerAnswer::Attempt {
                report_success: false,
            })),
            Op::Github { change, .. } => {
                let (changed, granted) = record::change(self.record.clone(), change);
                self.record = changed.clone();
                Some(OpResult::Github(Box::new(GithubAnswer {
                    state: self.state.clone().unwrap(),
                    record: changed,
                    granted,
                })))
            }
            Op::Wait(_) => {
                if let Some(record) = self.on_wait.take() {
                    self.record = record;
                }
                None
            }
            Op::Fetch(request) => {
                if let Some(refusal) = self.refusals.pop_front() {
                    return Some(OpResult::Fetched(refusal));
                }
                Some(OpResult::Fetched(self.github(request)))
            }
            _ => None,
        }
    }

    fn github(&mut self, request: &crate::http::outbound::Request) -> Answer {
        let path = request
            .url
            .strip_prefix("https://api.github.test/repos/octo/web")
            .unwrap();
        assert!(request
            .headers
            .contains(&("Authorization".into(), "Bearer ghp_test".into())));
        let body = || serde_json::from_slice::<serde_json::Value>(&request.body).unwrap();
        match (request.method, path) {
            (Method::Post, path) if path == format!("/statuses/{SHA}") => {
                self.statuses
                    .push(serde_json::from_slice(&request.body).unwrap());
                if let Some(state) = self.on_status.take() {
                    self.state = Some(state);
                }
                ok(201, "{}".into())
            }
            (Method::Get, "/issues/7/comments?per_page=100&page=1") => {
                let list: Vec<_> = self
                    .comments
                    .iter()
                    .map(|(id, body)| serde_json::json!({"id": id, "body": body}))
                    .collect();
                ok(200, serde_json::to_string(&list).unwrap())
            }
            (Method::Post, "/issues/7/comments") => {
                let id = 1000 + self.comments.len() as u64;
                self.comments
                    .push((id, body()["body"].as_str().unwrap().to_owned()));
                ok(201, format!(r#"{{"id":{id}}}"#))
            }
            (Method::Patch, path) => {
                let id: u64 = path
                    .strip_prefix("/issues/comments/")
                    .unwrap()
                    .parse()
                    .unwrap();
                let Some(comment) = self.comments.iter_mut().find(|(i, _)| *i == id) else {
                    return ok(404, r#"{"message":"Not Found"}"#.into());
                };
                comment.1 = body()["body"].as_str().unwrap().to_owned();
                self.edits += 1;
                if let Some(state) = self.on_edit.take() {
                    self.state = Some(state);
                }
                ok(200, "{}".into())
            }
            other => panic!("not GitHub: {other:?}"),
        }
    }

    /// A delivery of `message` carried out against this world.
    fn deliver(&mut self, config: &Config, message: QueuedDelivery) -> Run {
        let (mut delivery, next) = Delivery::start(config, message, 1_000_000);
        script::run(&mut delivery, next, 1_000_000, |op| self.answer(op))
    }

    fn states(&self) -> Vec<StatusState> {
        self.statuses.iter().map(|status| status.state).collect()
    }
}

fn pending(config: &Config, state: &RunState) -> QueuedDelivery {
    let github = due::destinations(&config.delivery, "WEB");
    due::status_messages(&github, state, 5).remove(0)
}

fn final_message(config: &Config, state: &RunState) -> QueuedDelivery {
    let report = report::report(state, "https://app.qase.io").unwrap();
    let destinations = report::report_destinations(&config.delivery, "WEB");
    report::report_messages(&report, &destinations, 9).remove(0)
}

/// The delivery state a run recorded.
fn recorded(run: &Run) -> (DeliveryStatus, Option<String>) {
    run.ops
        .iter()
        .find_map(|op| match op {
            Op::Record { row: Some(row), .. } => {
                Some((row.state.status, row.state.last_error.clone()))
            }
            _ => None,
        })
        .expect("a delivery state")
}

#[test]
fn a_run_is_pending_then_final_with_one_comment_edited_in_place() {
    let config = config("{}");
    let mut world = World {
        state: Some(running(true)),
        ..World::default()
    };
    let first = world.deliver(&config, pending(&config, &running(true)));
    assert_eq!(
        recorded(&first).0,
        DeliveryStatus::Delivered,
        "{:?}",
        first.notes
    );
    assert_eq!(world.states(), [StatusState::Pending]);
    assert_eq!(world.comments.len(), 1);
    assert!(world.comments[0].1.contains("running"));
    assert_eq!(world.record.comment, CommentSlot::Posted { id: 1000 });

    world.state = Some(ended(true));
    world.deliver(&config, final_message(&config, &ended(true)));
    assert_eq!(world.states(), [StatusState::Pending, StatusState::Success]);
    assert_eq!(world.comments.len(), 1, "edited, not made again");
    assert_eq!(world.edits, 1);
    assert!(
        world.comments[0].1.contains("Qase run WEB/42: passed"),
        "{}",
        world.comments[0].1
    );
    assert!(world.statuses[1]
        .description
        .starts_with("2 passed, 1 failed"));
}

#[test]
fn a_replay_a_late_pending_and_a_duplicate_change_nothing() {
    let config = config("{}");
    let mut world = World {
        state: Some(ended(true)),
        ..World::default()
    };
    world.deliver(&config, final_message(&config, &ended(true)));
    assert_eq!(world.states(), [StatusState::Success]);
    let before = (world.statuses.len(), world.comments.clone(), world.edits);
    for message in [
        final_message(&config, &ended(true)),
        pending(&config, &running(true)),
        final_message(&config, &ended(true)),
    ] {
        let run = world.deliver(&config, message);
        assert!(
            script::names(&run.ops).iter().all(|name| *name != "fetch"),
            "{:?}",
            run.ops
        );
        assert_eq!(recorded(&run).0, DeliveryStatus::Delivered);
    }
    assert_eq!(
        (world.statuses.len(), world.comments.clone(), world.edits),
        before
    );
}

#[test]
fn a_failing_threshold_makes_a_failure() {
    let config = config(r#"{"max_failed": 0}"#);
    let mut world = World {
        state: Some(ended(true)),
        ..World::default()
    };
    world.deliver(&config, final_message(&config, &ended(true)));
    assert_eq!(world.states(), [StatusState::Failure]);
    assert!(world.comments[0].1.contains("Qase run WEB/42: failed"));
    assert!(world.statuses[0].description.contains("at most 0 allowed"));
}

#[test]
fn a_lost_comment_id_is_found_by_its_marker() {
    let config = config("{}");
    let mut world = World {
        state: Some(running(true)),
        ..World::default()
    };
    world.comments.push((5, "someone else's".into()));
    world.deliver(&config, pending(&config, &running(true)));
    world.record = GithubRecord::default();
    world.state = Some(ended(true));
    world.deliver(&config, final_message(&config, &ended(true)));
    assert_eq!(world.comments.len(), 2, "ours found again, not made twice");
    assert!(world.comments[1].1.contains("passed"));
    assert_eq!(world.comments[0].1, "someone else's");
    assert_eq!(world.record.comment, CommentSlot::Posted { id: 1001 });
}

#[test]
fn a_comment_deleted_on_github_is_made_again_once() {
    let config = config("{}");
    let mut world = World {
        state: Some(running(true)),
        ..World::default()
    };
    world.deliver(&config, pending(&config, &running(true)));
    assert_eq!(world.record.comment, CommentSlot::Posted { id: 1000 });
    // Someone deletes it; another comment is there meanwhile.
    world.comments = vec![(5, "someone else's".into())];
    world.state = Some(ended(true));
    let run = world.deliver(&config, final_message(&config, &ended(true)));
    assert_eq!(
        recorded(&run).0,
        DeliveryStatus::Delivered,
        "{:?}",
        run.notes
    );
    assert_eq!(world.comments.len(), 2, "made again, once");
    assert!(world.comments[1].1.contains("passed"));
    assert_eq!(world.record.comment, CommentSlot::Posted { id: 1001 });
    assert_eq!(world.edits, 0, "the deleted one was not edited");
}

#[test]
fn a_comment_whose_pull_request_is_gone_too_is_a_dead_letter() {
    let config = config("{}");
    let mut world = World {
        state: Some(running(true)),
        ..World::default()
    };
    world.deliver(&config, pending(&config, &running(true)));
    world.state = Some(ended(true));
    let not_found = || ok(404, r#"{"message":"Not Found"}"#.into());
    world
        .refusals
        .extend([ok(201, "{}".into()), not_found(), not_found()]);
    let run = world.deliver(&config, final_message(&config, &ended(true)));
    let dead = run.ops.iter().find_map(|op| match op {
        Op::SendDeadLetter(dead) => Some(dead.clone()),
        _ => None,
    });
    let words = dead.expect("a dead letter").delivery.last_error.unwrap();
    assert!(words.contains("HTTP 404"), "{words}");
    assert!(words.contains("comments"), "the listing's words: {words}");
    assert_eq!(world.comments.len(), 1, "nothing made");
    assert!(
        !matches!(world.record.comment, CommentSlot::Posted { .. }),
        "the deleted id forgotten: {:?}",
        world.record.comment
    );
}

#[test]
fn a_delivery_waits_for_another_creating_the_comment_then_edits_it() {
    let config = config("{}");
    let mut world = World {
        state: Some(ended(true)),
        ..World::default()
    };
    world
        .comments
        .push((77, "<!-- qase-edge:run:WEB/42 --> old".into()));
    world.record.comment = CommentSlot::Reserved {
        by: "another".into(),
        until: u64::MAX,
    };
    world.on_wait = Some(GithubRecord {
        comment: CommentSlot::Posted { id: 77 },
        ..GithubRecord::default()
    });
    let run = world.deliver(&config, final_message(&config, &ended(true)));
    assert!(script::names(&run.ops).contains(&"wait"));
    assert_eq!(world.comments.len(), 1);
    assert!(world.comments[0].1.contains("passed"));
}

#[test]
fn a_pending_posted_as_the_run_ended_is_followed_by_the_final_status() {
    let config = config("{}");
    let mut world = World {
        state: Some(running(false)),
        on_status: Some(ended(false)),
        ..World::default()
    };
    world.deliver(&config, pending(&config, &running(false)));
    assert_eq!(world.states(), [StatusState::Pending, StatusState::Success]);
    assert!(world.comments.is_empty(), "no pull request, no comment");
}

#[test]
fn a_run_without_a_commit_tag_is_skipped_and_says_why() {
    let config = config("{}");
    let mut state = ended(true);
    state.details.as_mut().unwrap().tags = vec!["pr:7".into()];
    let mut world = World {
        state: Some(state.clone()),
        ..World::default()
    };
    let run = world.deliver(&config, final_message(&config, &state));
    let (status, words) = recorded(&run);
    assert_eq!(status, DeliveryStatus::Delivered);
    assert!(words.unwrap().contains("skipped: run WEB/42 has no `sha:"));
    assert!(world.statuses.is_empty());
}

#[test]
fn a_destination_reading_titles_shows_a_run_named_by_its_title() {
    let destinations = r#"[{"name":"gh","url":"https://api.github.test/","format":"github","repository":"octo/web",
         "token_secret":"GH_TOKEN","pace_ms":0,"tags":{"title":true}}]"#;
    let config = report::tests::config(destinations, &[("GH_TOKEN", "ghp_test")]);
    let mut state = ended(true);
    state.details.as_mut().unwrap().tags = vec!["nightly".into()];
    state.title = Some(format!("CI sha:{SHA} pr:7"));
    let mut world = World {
        state: Some(state.clone()),
        ..World::default()
    };
    world.deliver(&config, final_message(&config, &state));
    assert_eq!(world.states(), [StatusState::Success]);
    assert_eq!(world.comments.len(), 1, "on pull request 7");

    let mut tags_only = World {
        state: Some(state.clone()),
        ..World::default()
    };
    let run = tags_only.deliver(
        &self::config("{}"),
        final_message(&self::config("{}"), &state),
    );
    assert!(recorded(&run).1.unwrap().contains("skipped"));
    assert!(
        tags_only.statuses.is_empty(),
        "titles are not read by default"
    );
}

#[test]
fn a_rate_limit_is_waited_out_and_a_wrong_token_is_a_dead_letter() {
    let config = config("{}");
    let mut world = World {
        state: Some(ended(true)),
        ..World::default()
    };
    world.refusals.push_back(Answer::Status {
        status: 403,
        retry_after: Some(7),
        body: br#"{"message":"You have exceeded a secondary rate limit."}"#.to_vec(),
        truncated: false,
    });
    let run = world.deliver(&config, final_message(&config, &ended(true)));
    let requeued = run.ops.iter().find_map(|op| match op {
        Op::Requeue {
            delay_seconds,
            message,
        } => Some((*delay_seconds, message.clone())),
        _ => None,
    });
    let (delay, again) = requeued.expect("retried");
    assert_eq!(delay, 7, "as long as GitHub said");
    assert!(world.statuses.is_empty());
    world.deliver(&config, again);
    assert_eq!(world.states(), [StatusState::Success]);

    let mut refused = World {
        state: Some(ended(true)),
        ..World::default()
    };
    refused
        .refusals
        .push_back(ok(401, r#"{"message":"Bad credentials"}"#.into()));
    let run = refused.deliver(&config, final_message(&config, &ended(true)));
    let dead = run.ops.iter().find_map(|op| match op {
        Op::SendDeadLetter(dead) => Some(dead.clone()),
        _ => None,
    });
    let dead = dead.expect("a dead letter");
    let words = dead.delivery.last_error.unwrap();
    assert!(
        words.contains("HTTP 401: GitHub refused the token"),
        "{words}"
    );
}

#[test]
fn a_replayed_event_of_the_run_renders_the_run_and_changes_nothing() {
    let config = config("{}");
    let mut world = World {
        state: Some(ended(true)),
        ..World::default()
    };
    world.deliver(&config, final_message(&config, &ended(true)));
    let before = (world.statuses.len(), world.comments.clone());
    let event = crate::runs::state::tests::run_events().remove(0);
    let replayed = QueuedDelivery {
        destination: Some("gh".into()),
        ..QueuedDelivery::new(
            event.0,
            "run.started".into(),
            "WEB".into(),
            5,
            &event.1,
            false,
        )
    };
    let run = world.deliver(&config, replayed);
    assert_eq!(
        recorded(&run).0,
        DeliveryStatus::Delivered,
        "{:?}",
        run.notes
    );
    assert!(
        script::names(&run.ops).contains(&"github"),
        "the run was read"
    );
    assert_eq!((world.statuses.len(), world.comments.clone()), before);
}

#[test]
fn a_comment_edited_as_the_run_ended_is_edited_again_with_the_end() {
    let config = config("{}");
    let mut world = World {
        state: Some(running(true)),
        ..World::default()
    };
    world.deliver(&config, pending(&config, &running(true)));
    // A late pending, edited as the final delivery ended the run.
    world.record.comment_body = None;
    world.on_edit = Some(ended(true));
    world.deliver(&config, pending(&config, &running(true)));
    assert_eq!(world.comments.len(), 1);
    assert!(
        world.comments[0].1.contains("passed"),
        "{}",
        world.comments[0].1
    );
    assert_eq!(world.edits, 2);
}
