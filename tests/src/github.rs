//! A local server speaking the documented shapes of GitHub's REST API
//! (<https://docs.github.com/en/rest>, `Authorization: Bearer <token>`,
//! `X-GitHub-Api-Version: 2022-11-28`), for the `github` destinations.
//! It serves what qase-edge calls:
//! - "Create a commit status", `POST /repos/{owner}/{repo}/statuses/{sha}`
//!   with `{"state", "target_url", "description", "context"}`: `201` and
//!   the status (`id`, `state`, `context`, ...);
//! - "List issue comments", `GET /repos/{owner}/{repo}/issues/{n}/comments?per_page=&page=`:
//!   `200` and the comments (`id`, `body`, `user`, ...), oldest first;
//! - "Create an issue comment", `POST /repos/{owner}/{repo}/issues/{n}/comments`
//!   with `{"body"}`: `201` and the comment;
//! - "Update an issue comment", `PATCH /repos/{owner}/{repo}/issues/comments/{id}`
//!   with `{"body"}`: `200` and the comment, or `404`.
//!
//! A request without the token is answered `401` `{"message": "Bad
//! credentials"}`, one for a repository it does not hold `404` `{"message":
//! "Not Found"}`, as GitHub does. The next requests can be refused
//! ([`Github::refuse_next`]), e.g. with a secondary rate limit: `403`,
//! `Retry-After` and GitHub's message. Every request is recorded.

use crate::http::{read_request, Request};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

/// A commit status GitHub holds.
#[derive(Debug, Clone)]
pub struct Status {
    /// `owner/repo`.
    pub repository: String,
    /// The commit.
    pub sha: String,
    /// What was posted.
    pub body: Value,
}

/// An issue comment GitHub holds.
#[derive(Debug, Clone)]
pub struct Comment {
    /// `owner/repo`.
    pub repository: String,
    /// The pull request.
    pub pr: u64,
    /// Its id.
    pub id: u64,
    /// Its body, as last written.
    pub body: String,
    /// How many times it was edited.
    pub edits: u32,
}

/// A refusal to play.
#[derive(Debug, Clone)]
pub struct Refusal {
    /// The status.
    pub status: u16,
    /// Its headers.
    pub headers: Vec<(String, String)>,
    /// Its body.
    pub body: String,
}

#[derive(Default)]
struct State {
    repositories: Vec<String>,
    statuses: Vec<Status>,
    comments: Vec<Comment>,
    refusals: VecDeque<Refusal>,
    /// Comments made so far, deleted ones too (ids are never reused).
    made: u64,
    /// Request lines (`POST /repos/...`) and the status answered.
    requests: Vec<(String, u16)>,
}

/// The running server.
pub struct Github {
    port: u16,
    state: Arc<Mutex<State>>,
}

impl Github {
    /// Starts it on a free loopback port, holding `repositories`, accepting `token`.
    pub fn start(token: &str, repositories: &[&str]) -> Github {
        let state = Arc::new(Mutex::new(State {
            repositories: repositories.iter().map(|r| r.to_string()).collect(),
            ..State::default()
        }));
        let shared = Arc::clone(&state);
        let expected = format!("Bearer {token}");
        let port = crate::serve_on_loopback(move |stream| {
            serve(stream, Arc::clone(&shared), expected.clone())
        });
        Github { port, state }
    }

    /// The API base to configure as the destination's `url`.
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Answers the next request with `refusal` (in order, after earlier ones).
    pub fn refuse_next(&self, refusal: Refusal) {
        self.state.lock().unwrap().refusals.push_back(refusal);
    }

    /// The statuses posted to `repository`, oldest first.
    pub fn statuses(&self, repository: &str) -> Vec<Status> {
        let state = self.state.lock().unwrap();
        let of = |s: &&Status| s.repository == repository;
        state.statuses.iter().filter(of).cloned().collect()
    }

    /// The comments of `repository`, oldest first.
    pub fn comments(&self, repository: &str) -> Vec<Comment> {
        let state = self.state.lock().unwrap();
        let of = |c: &&Comment| c.repository == repository;
        state.comments.iter().filter(of).cloned().collect()
    }

    /// Deletes `repository`'s comments, as someone on GitHub would.
    pub fn delete_comments(&self, repository: &str) {
        let mut state = self.state.lock().unwrap();
        state.comments.retain(|c| c.repository != repository);
    }

    /// Every request line with the status it was answered.
    pub fn requests(&self) -> Vec<(String, u16)> {
        self.state.lock().unwrap().requests.clone()
    }
}

fn comment_json(comment: &Comment) -> Value {
    json!({
        "id": comment.id, "node_id": format!("IC_{}", comment.id), "body": comment.body,
        "user": {"login": "qase-bot", "id": 1, "type": "User"},
        "html_url": format!("https://github.test/{}/pull/{}#issuecomment-{}", comment.repository, comment.pr, comment.id),
        "created_at": "2026-12-04T00:00:00Z", "updated_at": "2026-12-04T00:00:00Z",
        "author_association": "NONE"
    })
}

fn not_found() -> (u16, Value) {
    (
        404,
        json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}),
    )
}

/// What GitHub answers `method` `target` with `body`.
fn answer(state: &mut State, method: &str, target: &str, body: &[u8]) -> (u16, Value) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let ["repos", owner, repo, rest @ ..] = parts.as_slice() else {
        return not_found();
    };
    let repository = format!("{owner}/{repo}");
    if !state.repositories.contains(&repository) {
        return not_found();
    }
    let sent: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    match (method, rest) {
        ("POST", ["statuses", sha]) => {
            let id = state.statuses.len() as u64 + 1;
            state.statuses.push(Status {
                repository,
                sha: sha.to_string(),
                body: sent.clone(),
            });
            (
                201,
                json!({"id": id, "state": sent["state"], "description": sent["description"],
                "target_url": sent["target_url"], "context": sent["context"]}),
            )
        }
        ("GET", ["issues", pr, "comments"]) => {
            let pr: u64 = pr.parse().unwrap_or(0);
            let params: BTreeMap<&str, &str> =
                query.split('&').filter_map(|p| p.split_once('=')).collect();
            let per_page: usize = params
                .get("per_page")
                .and_then(|v| v.parse().ok())
                .unwrap_or(30);
            let page: usize = params.get("page").and_then(|v| v.parse().ok()).unwrap_or(1);
            let listed: Vec<Value> = state
                .comments
                .iter()
                .filter(|c| c.repository == repository && c.pr == pr)
                .skip(per_page * page.saturating_sub(1))
                .take(per_page)
                .map(comment_json)
                .collect();
            (200, Value::Array(listed))
        }
        ("POST", ["issues", pr, "comments"]) => {
            let id = 9_000 + state.made;
            state.made += 1;
            let comment = Comment {
                repository,
                pr: pr.parse().unwrap_or(0),
                id,
                body: sent["body"].as_str().unwrap_or_default().to_owned(),
                edits: 0,
            };
            let json = comment_json(&comment);
            state.comments.push(comment);
            (201, json)
        }
        ("PATCH", ["issues", "comments", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            let found = state
                .comments
                .iter_mut()
                .find(|c| c.repository == repository && c.id == id);
            match found {
                Some(comment) => {
                    comment.body = sent["body"].as_str().unwrap_or_default().to_owned();
                    comment.edits += 1;
                    (200, comment_json(comment))
                }
                None => not_found(),
            }
        }
        _ => not_found(),
    }
}

async fn serve(mut stream: tokio::net::TcpStream, state: Arc<Mutex<State>>, expected: String) {
    loop {
        let Some(Request {
            method,
            target,
            headers,
            body,
        }) = read_request(&mut stream).await
        else {
            return;
        };
        let (status, extra, json) = {
            let mut state = state.lock().unwrap();
            let (status, extra, json) = if headers.get("authorization") != Some(&expected) {
                let json = json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"});
                (401, Vec::new(), json.to_string())
            } else if let Some(refusal) = state.refusals.pop_front() {
                (refusal.status, refusal.headers, refusal.body)
            } else {
                let (status, json) = answer(&mut state, &method, &target, &body);
                (status, Vec::new(), json.to_string())
            };
            state.requests.push((format!("{method} {target}"), status));
            (status, extra, json)
        };
        let extra: String = extra
            .iter()
            .map(|(name, value)| format!("{name}: {value}\r\n"))
            .collect();
        let response = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n{extra}\r\n{json}",
            json.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}
