//! A local HTTP server standing in for a downstream service: it records
//! every request and answers from a script (fail N times, answer 429 with
//! `Retry-After`, be slow, refuse with 400), then `200`.
//!
//! It runs on its own thread and runtime, so a test that blocks (waiting on
//! logs) never stalls it.

use crate::http::{read_request, Request};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;

use crate::Worker;

/// One scripted answer.
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    /// The status to answer with.
    pub status: u16,
    /// A `Retry-After` header, in seconds.
    pub retry_after: Option<u64>,
    /// How long to wait before answering.
    pub delay: Duration,
}

impl Reply {
    /// A plain status.
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            retry_after: None,
            delay: Duration::ZERO,
        }
    }
}

/// A request the sink received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The request path.
    pub path: String,
    /// Headers, names lowercased.
    pub headers: BTreeMap<String, String>,
    /// The exact body.
    pub body: Vec<u8>,
    /// When it arrived.
    pub at: Instant,
    /// The status the sink answered with.
    pub status: u16,
}

#[derive(Default)]
struct State {
    scripts: BTreeMap<String, VecDeque<Reply>>,
    /// A script each event (`webhook-id`) of a path plays from its start.
    per_event: BTreeMap<String, Vec<Reply>>,
    forever: BTreeMap<String, Reply>,
    received: Vec<Received>,
}

impl State {
    /// The reply to the next request on `path`: its own script first, then
    /// the event's place in the per-event script, then the standing reply.
    fn reply(&mut self, path: &str, headers: &BTreeMap<String, String>) -> Reply {
        if let Some(reply) = self.scripts.get_mut(path).and_then(VecDeque::pop_front) {
            return reply;
        }
        if let (Some(script), Some(id)) = (self.per_event.get(path), headers.get("webhook-id")) {
            let earlier = self
                .received
                .iter()
                .filter(|r| r.path == path && r.headers.get("webhook-id") == Some(id))
                .count();
            if let Some(reply) = script.get(earlier) {
                return *reply;
            }
        }
        self.forever
            .get(path)
            .copied()
            .unwrap_or(Reply::status(200))
    }
}

/// The running sink.
pub struct Sink {
    port: u16,
    state: Arc<Mutex<State>>,
}

impl Sink {
    /// Starts a sink on a free loopback port.
    pub fn start() -> Sink {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let port = crate::serve_on_loopback(move |stream| serve(stream, Arc::clone(&shared)));
        Sink { port, state }
    }

    /// The URL of `path` on the sink.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Answers the next requests to `path` with `replies`, then 200.
    pub fn script(&self, path: &str, replies: Vec<Reply>) {
        self.state
            .lock()
            .unwrap()
            .scripts
            .insert(path.to_owned(), replies.into());
    }

    /// Answers every request to `path` with `reply`.
    /// Answers each event (by its `webhook-id`) on `path` with `replies` in
    /// turn, from the first, then as `always` (or 200) says.
    pub fn script_each_event(&self, path: &str, replies: Vec<Reply>) {
        self.state
            .lock()
            .unwrap()
            .per_event
            .insert(path.to_owned(), replies);
    }

    pub fn always(&self, path: &str, reply: Reply) {
        self.state
            .lock()
            .unwrap()
            .forever
            .insert(path.to_owned(), reply);
    }

    /// The requests received at `path` so far.
    pub fn received(&self, path: &str) -> Vec<Received> {
        let state = self.state.lock().unwrap();
        state
            .received
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Waits until `path` has received at least `count` requests; panics
    /// after `limit`, naming the wait, with `worker`'s last log lines.
    pub async fn wait_for(
        &self,
        worker: &Worker,
        path: &str,
        count: usize,
        limit: Duration,
    ) -> Vec<Received> {
        let what = format!("{count} request(s) at {path}");
        worker
            .wait_until(&what, limit, async || {
                let received = self.received(path);
                (received.len() >= count).then_some(received)
            })
            .await
    }

    /// Asserts that nothing more reaches `path` within `period` (what it has
    /// received so far may be anything); returns what it has received.
    pub async fn assert_quiet_for(&self, path: &str, period: Duration) -> Vec<Received> {
        self.assert_quiet_for_matching(path, period, |_| true).await
    }

    /// [`Sink::assert_quiet_for`], counting only the requests `matches` picks.
    pub async fn assert_quiet_for_matching(
        &self,
        path: &str,
        period: Duration,
        matches: impl Fn(&Received) -> bool,
    ) -> Vec<Received> {
        let picked = || -> Vec<Received> {
            self.received(path)
                .into_iter()
                .filter(|r| matches(r))
                .collect()
        };
        let before = picked().len();
        // Not a wait for something to happen: the quiet period is what is
        // asserted, and only its end can show it.
        tokio::time::sleep(period).await;
        let received = picked();
        let more: Vec<u16> = received[before..].iter().map(|r| r.status).collect();
        assert!(
            more.is_empty(),
            "{path} was not quiet for {period:?}: {} more request(s) after {before} \
             (answered {more:?})",
            more.len()
        );
        received
    }
}

async fn serve(mut stream: tokio::net::TcpStream, state: Arc<Mutex<State>>) {
    loop {
        let Some(Request {
            target: path,
            headers,
            body,
            ..
        }) = read_request(&mut stream).await
        else {
            return;
        };
        let reply = {
            let mut state = state.lock().unwrap();
            let reply = state.reply(&path, &headers);
            state.received.push(Received {
                path: path.clone(),
                headers,
                body,
                at: Instant::now(),
                status: reply.status,
            });
            reply
        };
        tokio::time::sleep(reply.delay).await;
        let retry_after = reply
            .retry_after
            .map(|s| format!("Retry-After: {s}\r\n"))
            .unwrap_or_default();
        let response = format!(
            "HTTP/1.1 {} X\r\nContent-Length: 2\r\n{retry_after}\r\nok",
            reply.status
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}
