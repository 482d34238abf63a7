//! One delivery to a GitHub destination, as steps inside its lane of the
//! delivery machine ([`GithubSync`]): what the lane's single attempt is for
//! any other destination. Its end is one attempt's result, which the lane
//! then treats as for every destination (the delivery state, the retry or
//! the dead letter, the breaker).
//!
//! 1. The run's state and this destination's record, from the run's object.
//! 2. The run's commit from its tags; none: skipped, and the delivery
//!    state says why.
//! 3. The commit status, unless the same one was posted last; once posted,
//!    kept in the record. If the run changed meanwhile (a final state
//!    recorded by another delivery while this one posted "pending"), the
//!    status of the state the object answers is posted once more, so that
//!    the last one posted is never stale.
//! 4. With a `pr:` tag, the comment: edited in place when the record has
//!    its id (not at all when its body is unchanged); otherwise reserved in
//!    the object, found among the pull request's comments by its marker (a
//!    lost id), or created, and its id kept. Written again, once, when the
//!    state the object answers has moved on meanwhile, as for the status.
//!    An edit answered `404` (someone deleted the comment) forgets the id
//!    and makes the comment again, once per delivery; if the pull request
//!    or the repository is what is missing, the listing that comes first
//!    answers `404` too, and that is the dead letter.

use std::time::Duration;

use qase_webhooks::retry::AttemptResult;
use qase_webhooks::EventId;
use serde::Deserialize;

use super::answer::{classify, Reply};
use super::record::{CommentSlot, GithubAnswer, GithubChange, GithubRecord};
use super::render;
use super::settings::GithubSettings;
use super::tags::{self, Target};
use crate::delivery::machine::{Op, OpResult};
use crate::delivery::messages::QueuedDelivery;
use crate::delivery::settings::Destination;
use crate::http::outbound::{Answer, Method, Request, USER_AGENT};
use crate::runs::report::RunKey;
use crate::runs::state::RunState;

/// Pages of a pull request's comments read to find a lost comment (100 each).
pub const MAX_COMMENT_PAGES: u32 = 5;
/// Times a delivery waits for another one creating the comment.
const RESERVE_TRIES: u32 = 5;
/// How long each of those waits.
const RESERVE_WAIT: Duration = Duration::from_secs(2);
/// Bytes read of an answer to a write (an id, or GitHub's error message).
const WRITE_READ_LIMIT: usize = 64 * 1024;
/// Bytes read of a page of comments (100 comments of up to 65536 characters
/// would be more; a page cut short is retried rather than misread).
const LIST_READ_LIMIT: usize = 4 * 1024 * 1024;

/// What the lane does next.
// Short-lived: its operation moves straight into the lane's step.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum SyncStep {
    /// Carry this out and feed its result.
    Op(Op),
    /// Done: the attempt's result and its words.
    Finished(AttemptResult, String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Stage {
    Read,
    Status(String),
    StatusRecorded(String),
    Reserve(u32),
    Waited(u32),
    List(u32),
    Create,
    Patch(u64),
    Forgot,
    Commented,
}

/// One delivery to a GitHub destination (see the module's documentation).
#[derive(Debug)]
pub struct GithubSync<'c> {
    destination: &'c Destination,
    settings: &'c GithubSettings,
    app_url: String,
    key: RunKey,
    /// This delivery's reservation token.
    by: String,
    now: u64,
    stage: Stage,
    state: Option<RunState>,
    record: GithubRecord,
    target: Option<Target>,
    reposted: bool,
    /// Whether the comment was written again for a state that moved on.
    recommented: bool,
    /// Whether a comment found deleted was forgotten, to be made again.
    forgot: bool,
    /// The comment's body and its digest, once rendered.
    comment: Option<(String, String)>,
}

/// The run a GitHub delivery is about: a report's `project` and `run`, the
/// running run's message (`{"project", "run"}`), or the run of an event of
/// the run an operator replayed to the destination.
fn run_of(message: &QueuedDelivery, body: &[u8]) -> Option<RunKey> {
    if let Ok(key) = serde_json::from_slice::<RunKey>(body) {
        return Some(key);
    }
    let fact = crate::runs::state::fact_of(&message.id, body)?;
    Some(RunKey {
        project: fact.project,
        run: fact.run,
    })
}

/// A finished delivery that did its work.
fn done(words: String) -> SyncStep {
    let result = AttemptResult::Status {
        status: 200,
        retry_after: None,
    };
    SyncStep::Finished(result, words)
}

#[derive(Deserialize)]
struct Comment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
}

impl<'c> GithubSync<'c> {
    /// Starts on `message` (whose `body` names the run) at `now`.
    pub fn start(
        destination: &'c Destination,
        settings: &'c GithubSettings,
        app_url: &str,
        (message, body): (&QueuedDelivery, &[u8]),
        now: u64,
    ) -> (Self, SyncStep) {
        let key = run_of(message, body).unwrap_or(RunKey {
            project: message.project_code.clone(),
            run: 0,
        });
        let mut sync = GithubSync {
            destination,
            settings,
            app_url: app_url.to_owned(),
            by: format!("{}#{}@{now}", message.id, message.attempts),
            key,
            now,
            stage: Stage::Read,
            state: None,
            record: GithubRecord::default(),
            target: None,
            reposted: false,
            recommented: false,
            forgot: false,
            comment: None,
        };
        if sync.key.run == 0 {
            let result = AttemptResult::Status {
                status: 400,
                retry_after: None,
            };
            let words = "the message names no run".to_owned();
            return (sync, SyncStep::Finished(result, words));
        }
        let step = sync.object(Stage::Read, GithubChange::Read);
        (sync, step)
    }

    /// Feeds the last operation's result, at `now`.
    pub fn feed(&mut self, result: OpResult, now: u64) -> SyncStep {
        self.now = now;
        match std::mem::replace(&mut self.stage, Stage::Read) {
            Stage::Read => self.after_object(result, |sync, _| sync.after_read()),
            Stage::Status(posted) => self.after_status(result, posted),
            Stage::StatusRecorded(posted) => {
                self.after_object(result, |sync, _| sync.after_status_recorded(&posted))
            }
            Stage::Reserve(tries) => {
                self.after_object(result, |sync, granted| sync.after_reserve(tries, granted))
            }
            Stage::Waited(tries) => self.reserve(tries + 1),
            Stage::List(page) => self.after_list(result, page),
            Stage::Create => self.after_create(result),
            Stage::Patch(id) => self.after_patch(result, id),
            Stage::Forgot => self.after_object(result, |sync, _| sync.reserve(1)),
            Stage::Commented => self.after_object(result, |sync, _| sync.after_commented()),
        }
    }

    fn object(&mut self, stage: Stage, change: GithubChange) -> SyncStep {
        self.stage = stage;
        SyncStep::Op(Op::Github {
            key: self.key.clone(),
            destination: self.destination.name.clone(),
            change,
        })
    }

    /// The object's answer kept, then `next` (told whether a reservation
    /// was granted); an object that failed: retried.
    fn after_object(
        &mut self,
        result: OpResult,
        next: impl FnOnce(&mut Self, bool) -> SyncStep,
    ) -> SyncStep {
        match result {
            OpResult::Github(answer) => {
                let GithubAnswer {
                    state,
                    record,
                    granted,
                } = *answer;
                self.state = Some(state);
                self.record = record;
                next(self, granted)
            }
            other => SyncStep::Finished(
                AttemptResult::NetworkError,
                format!("the run's object failed: {other:?}"),
            ),
        }
    }

    fn state(&self) -> &RunState {
        self.state.as_ref().expect("read before anything is posted")
    }

    /// A request of GitHub's API at `path` (after the destination's base).
    fn request(&self, method: Method, path: &str, body: Vec<u8>, read_limit: usize) -> Op {
        let base = self.destination.url.trim_end_matches('/');
        let mut headers = self.destination.headers.clone();
        let token = self.settings.token.expose();
        headers.extend(
            [
                ("Accept", "application/vnd.github+json".to_owned()),
                ("Authorization", format!("Bearer {token}")),
                ("X-GitHub-Api-Version", "2022-11-28".to_owned()),
                ("User-Agent", USER_AGENT.to_owned()),
                ("Content-Type", "application/json".to_owned()),
            ]
            .map(|(name, value)| (name.to_owned(), value)),
        );
        Op::Fetch(Request {
            method,
            url: format!("{base}/repos/{}{path}", self.settings.repository),
            headers,
            body,
            timeout: self.destination.timeout,
            read_limit,
        })
    }

    fn fetch(&mut self, stage: Stage, op: Op) -> SyncStep {
        self.stage = stage;
        SyncStep::Op(op)
    }

    fn after_read(&mut self) -> SyncStep {
        let state = self.state();
        let (project, run, prefix) = (&state.project, state.run, &self.settings.tags.sha);
        let Some(details) = &state.details else {
            return done(format!(
                "skipped: run {project}/{run} has no tags from Qase's API yet (QASE_API_TOKEN)"
            ));
        };
        let title = state.title.as_deref();
        let Some(target) = tags::target(&details.tags, title, &self.settings.tags) else {
            let place = if self.settings.tags.title {
                "tag or title word"
            } else {
                "tag"
            };
            return done(format!(
                "skipped: run {project}/{run} has no `{prefix}<40 hex digits>` {place} in Qase"
            ));
        };
        self.target = Some(target);
        self.post_status()
    }

    fn target(&self) -> &Target {
        self.target
            .as_ref()
            .expect("a target before anything is posted")
    }

    /// The status of the state as it stands, unless it was the last posted.
    fn post_status(&mut self) -> SyncStep {
        let body = render::status(self.state(), self.settings, &self.app_url);
        let json = serde_json::to_string(&body).expect("a status serialises");
        let sha = self.target().sha.clone();
        let fingerprint = format!("{sha} {json}");
        if self.record.status.as_deref() == Some(fingerprint.as_str()) {
            return self.comment();
        }
        let op = self.request(
            Method::Post,
            &format!("/statuses/{sha}"),
            json.into_bytes(),
            WRITE_READ_LIMIT,
        );
        self.fetch(Stage::Status(fingerprint), op)
    }

    fn repository(&self) -> &str {
        &self.settings.repository
    }

    fn after_status(&mut self, result: OpResult, posted: String) -> SyncStep {
        match self.reply(result, "the commit status") {
            Ok(_) => self.object(
                Stage::StatusRecorded(posted.clone()),
                GithubChange::StatusPosted { status: posted },
            ),
            Err((result, words)) => SyncStep::Finished(result, words),
        }
    }

    /// The state the object answered may have moved on while this status
    /// was posted: its own status follows, once.
    fn after_status_recorded(&mut self, posted: &str) -> SyncStep {
        let now = render::status(self.state(), self.settings, &self.app_url);
        let json = serde_json::to_string(&now).expect("a status serialises");
        let current = format!("{} {json}", self.target().sha);
        if current != posted && !self.reposted {
            self.reposted = true;
            return self.post_status();
        }
        self.comment()
    }

    /// What `result` means; `Err`: the attempt's failure, in words.
    fn reply(&self, result: OpResult, what: &str) -> Result<Vec<u8>, (AttemptResult, String)> {
        let answer = match result {
            OpResult::Fetched(answer) => answer,
            other => return Err((AttemptResult::NetworkError, format!("{what}: {other:?}"))),
        };
        match classify(answer, self.repository(), what) {
            Reply::Done(body) => Ok(body),
            Reply::Failed { result, words } => Err((result, words)),
        }
    }

    /// The comment, when the run names a pull request.
    fn comment(&mut self) -> SyncStep {
        if self.target().pr.is_none() {
            return self.finished();
        }
        let body = render::comment(self.state(), self.settings, &self.app_url);
        let digest = EventId::of(body.as_bytes()).to_string();
        let unchanged = self.record.comment_body.as_deref() == Some(digest.as_str());
        self.comment = Some((body, digest));
        match self.record.comment {
            CommentSlot::Posted { .. } if unchanged => self.finished(),
            CommentSlot::Posted { id } => self.patch(id),
            _ => self.reserve(1),
        }
    }

    fn reserve(&mut self, tries: u32) -> SyncStep {
        let change = GithubChange::Reserve {
            by: self.by.clone(),
            now: self.now,
        };
        self.object(Stage::Reserve(tries), change)
    }

    fn after_reserve(&mut self, tries: u32, granted: bool) -> SyncStep {
        if granted {
            return self.list(1);
        }
        if let CommentSlot::Posted { .. } = self.record.comment {
            // Created by the delivery that held the reservation.
            return self.comment();
        }
        if tries < RESERVE_TRIES {
            self.stage = Stage::Waited(tries);
            return SyncStep::Op(Op::Wait(RESERVE_WAIT));
        }
        let words = "the comment is being created by another delivery".to_owned();
        SyncStep::Finished(AttemptResult::Timeout, words)
    }

    fn pr(&self) -> u64 {
        self.target().pr.expect("a comment needs a pull request")
    }

    /// A page of the pull request's comments, to find one this run made
    /// whose id was lost.
    fn list(&mut self, page: u32) -> SyncStep {
        let path = format!("/issues/{}/comments?per_page=100&page={page}", self.pr());
        let op = self.request(Method::Get, &path, Vec::new(), LIST_READ_LIMIT);
        self.fetch(Stage::List(page), op)
    }

    fn after_list(&mut self, result: OpResult, page: u32) -> SyncStep {
        let body = match self.reply(result, "the pull request's comments") {
            Ok(body) => body,
            Err((result, words)) => return SyncStep::Finished(result, words),
        };
        let Ok(comments) = serde_json::from_slice::<Vec<Comment>>(&body) else {
            let words = "the pull request's comments: not GitHub's list".to_owned();
            return SyncStep::Finished(AttemptResult::NetworkError, words);
        };
        let (project, run) = (&self.key.project, self.key.run);
        let found = comments.iter().find(|comment| {
            comment
                .body
                .as_deref()
                .is_some_and(|body| render::is_the_runs(body, project, run))
        });
        match found {
            Some(comment) => self.patch(comment.id),
            None if comments.len() == 100 && page < MAX_COMMENT_PAGES => self.list(page + 1),
            None => self.create(),
        }
    }

    fn comment_json(&self) -> Vec<u8> {
        let (body, _) = self.comment.as_ref().expect("rendered before it is sent");
        serde_json::to_vec(&serde_json::json!({ "body": body })).expect("a comment serialises")
    }

    fn create(&mut self) -> SyncStep {
        let path = format!("/issues/{}/comments", self.pr());
        let op = self.request(Method::Post, &path, self.comment_json(), WRITE_READ_LIMIT);
        self.fetch(Stage::Create, op)
    }

    fn patch(&mut self, id: u64) -> SyncStep {
        let path = format!("/issues/comments/{id}");
        let op = self.request(Method::Patch, &path, self.comment_json(), WRITE_READ_LIMIT);
        self.fetch(Stage::Patch(id), op)
    }

    fn after_create(&mut self, result: OpResult) -> SyncStep {
        let body = match self.reply(result, "the comment") {
            Ok(body) => body,
            Err((result, words)) => return SyncStep::Finished(result, words),
        };
        match serde_json::from_slice::<Comment>(&body) {
            Ok(comment) => self.commented(comment.id),
            Err(_) => {
                let words = "the comment: created, but GitHub's answer has no id".to_owned();
                SyncStep::Finished(AttemptResult::NetworkError, words)
            }
        }
    }

    fn after_patch(&mut self, result: OpResult, id: u64) -> SyncStep {
        let gone = matches!(
            &result,
            OpResult::Fetched(Answer::Status { status: 404, .. })
        );
        if gone && !self.forgot {
            self.forgot = true;
            return self.object(Stage::Forgot, GithubChange::Gone { id });
        }
        match self.reply(result, "the comment") {
            Ok(_) => self.commented(id),
            Err((result, words)) => SyncStep::Finished(result, words),
        }
    }

    fn commented(&mut self, id: u64) -> SyncStep {
        let (_, digest) = self.comment.clone().expect("rendered before it is sent");
        let change = GithubChange::Commented { id, body: digest };
        self.object(Stage::Commented, change)
    }

    /// As for the status: a comment written from a state that moved on
    /// meanwhile (another delivery wrote the final one) is written again, once.
    fn after_commented(&mut self) -> SyncStep {
        let now = render::comment(self.state(), self.settings, &self.app_url);
        let digest = EventId::of(now.as_bytes()).to_string();
        if self.record.comment_body.as_deref() != Some(digest.as_str()) && !self.recommented {
            self.recommented = true;
            return self.comment();
        }
        self.finished()
    }

    fn finished(&self) -> SyncStep {
        let state = self.state();
        let status = render::status(state, self.settings, &self.app_url).state;
        let sha = &self.target().sha[..7];
        let comment = match (&self.record.comment, self.target().pr) {
            (CommentSlot::Posted { id }, Some(pr)) => format!(", comment {id} on #{pr}"),
            _ => String::new(),
        };
        done(format!("{status:?} on {sha}{comment}").to_lowercase())
    }
}

#[cfg(test)]
mod tests;
