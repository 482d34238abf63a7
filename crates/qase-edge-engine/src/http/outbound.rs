//! Every request qase-edge makes of another service (a destination, an
//! alert's chat service, Qase's REST API), and what came back. The shell
//! (`qase_edge::http::outbound`) makes each one the same way: the timeout
//! covers the answer and the reading of its body, the request is aborted
//! when it runs out, no redirect is followed (one could point anywhere, so
//! it is an answer like any other), and no more of the body is read than
//! [`Request::read_limit`].

use std::time::Duration;

use qase_webhooks::retry::AttemptResult;

/// The `User-Agent` of every request qase-edge makes.
pub const USER_AGENT: &str = concat!("qase-edge/", env!("CARGO_PKG_VERSION"));

/// The request's method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET` (Qase's API).
    Get,
    /// `POST` (deliveries and alerts).
    Post,
    /// `PATCH` (a GitHub comment edited in place).
    Patch,
}

/// One outbound request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Its method.
    pub method: Method,
    /// Where it goes.
    pub url: String,
    /// The headers, in the order to set them.
    pub headers: Vec<(String, String)>,
    /// The body (empty for a `GET`).
    pub body: Vec<u8>,
    /// How long to wait for the answer, its body included.
    pub timeout: Duration,
    /// The most of the answer's body to read; `0`: the status is enough,
    /// and the body is not read at all.
    pub read_limit: usize,
}

impl Request {
    /// A `POST` of `body` whose answer's status is all that counts.
    pub fn post(
        url: &str,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Self {
        Request {
            method: Method::Post,
            url: url.to_owned(),
            headers,
            body,
            timeout,
            read_limit: 0,
        }
    }

    /// A `GET` whose answer's body is read, up to `read_limit` bytes.
    pub fn get(
        url: &str,
        headers: Vec<(String, String)>,
        timeout: Duration,
        read_limit: usize,
    ) -> Self {
        Request {
            method: Method::Get,
            url: url.to_owned(),
            headers,
            body: Vec::new(),
            timeout,
            read_limit,
        }
    }
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// An HTTP answer.
    Status {
        /// Its status.
        status: u16,
        /// `Retry-After`, when it was a number of seconds.
        retry_after: Option<u64>,
        /// Its body, up to the request's `read_limit`.
        body: Vec<u8>,
        /// The body was longer than the limit (what was read is cut).
        truncated: bool,
    },
    /// No answer (or not all of its body) within the timeout.
    Timeout(Duration),
    /// The request could not be made, in words.
    NetworkError(String),
}

impl Answer {
    /// The answer as an attempt counts it, and in words (`HTTP 503`, a
    /// timeout, a network error).
    pub fn attempt(&self) -> (AttemptResult, String) {
        match self {
            Answer::Status {
                status,
                retry_after,
                ..
            } => {
                let result = AttemptResult::Status {
                    status: *status,
                    retry_after: *retry_after,
                };
                (result, format!("HTTP {status}"))
            }
            Answer::Timeout(timeout) => {
                let ms = timeout.as_millis();
                (AttemptResult::Timeout, format!("no answer within {ms} ms"))
            }
            Answer::NetworkError(error) => (
                AttemptResult::NetworkError,
                format!("network error: {error}"),
            ),
        }
    }

    /// The body of a `200` that was read whole; otherwise what went wrong,
    /// in words.
    pub fn ok_body(self) -> Result<Vec<u8>, String> {
        match self {
            Answer::Status {
                status: 200,
                body,
                truncated: false,
                ..
            } => Ok(body),
            Answer::Status {
                status: 200, body, ..
            } => Err(format!("the answer is over {} bytes", body.len())),
            other => Err(other.attempt().1),
        }
    }
}

/// A `Retry-After` header's value as a number of seconds (the date form
/// is not used by the services qase-edge calls, and counts as absent).
pub fn retry_after(value: &str) -> Option<u64> {
    value.trim().parse().ok()
}

/// How many seconds an answer asks to be left alone: its `Retry-After`
/// (a number of seconds), else, when it says no requests remain
/// (`x-ratelimit-remaining: 0`, GitHub's primary rate limit), until its
/// `x-ratelimit-reset` (Unix seconds), at least 1; `now` in Unix seconds.
pub fn wait_seconds(
    retry_after_header: Option<&str>,
    remaining: Option<&str>,
    reset: Option<&str>,
    now: u64,
) -> Option<u64> {
    if let Some(seconds) = retry_after_header.and_then(retry_after) {
        return Some(seconds);
    }
    if remaining.map(str::trim) != Some("0") {
        return None;
    }
    let reset: u64 = reset?.trim().parse().ok()?;
    Some(reset.saturating_sub(now).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limit_says_how_long_to_wait() {
        assert_eq!(
            wait_seconds(Some("30"), Some("0"), Some("999"), 900),
            Some(30)
        );
        assert_eq!(wait_seconds(None, Some("0"), Some("960"), 900), Some(60));
        assert_eq!(
            wait_seconds(None, Some("0"), Some("800"), 900),
            Some(1),
            "reset passed"
        );
        assert_eq!(
            wait_seconds(None, Some("12"), Some("960"), 900),
            None,
            "requests remain"
        );
        assert_eq!(wait_seconds(None, Some("0"), None, 900), None);
        assert_eq!(wait_seconds(None, None, None, 900), None);
    }

    fn status(status: u16, body: &[u8], truncated: bool) -> Answer {
        Answer::Status {
            status,
            retry_after: None,
            body: body.to_vec(),
            truncated,
        }
    }

    #[test]
    fn an_answer_counts_as_an_attempt_and_says_so() {
        let (result, words) = status(503, b"", false).attempt();
        assert_eq!(
            result,
            AttemptResult::Status {
                status: 503,
                retry_after: None
            }
        );
        assert_eq!(words, "HTTP 503");
        let (result, words) = Answer::Timeout(Duration::from_millis(1500)).attempt();
        assert_eq!(
            (result, words.as_str()),
            (AttemptResult::Timeout, "no answer within 1500 ms")
        );
        let (result, words) = Answer::NetworkError("refused".into()).attempt();
        assert_eq!(
            (result, words.as_str()),
            (AttemptResult::NetworkError, "network error: refused")
        );
    }

    #[test]
    fn only_a_whole_200_has_a_body() {
        assert_eq!(status(200, b"{}", false).ok_body(), Ok(b"{}".to_vec()));
        assert_eq!(
            status(200, b"abc", true).ok_body(),
            Err("the answer is over 3 bytes".into())
        );
        assert_eq!(status(429, b"{}", false).ok_body(), Err("HTTP 429".into()));
        assert_eq!(
            Answer::Timeout(Duration::from_secs(10)).ok_body(),
            Err("no answer within 10000 ms".into())
        );
    }

    #[test]
    fn retry_after_is_a_number_of_seconds() {
        assert_eq!(retry_after(" 30 "), Some(30));
        assert_eq!(retry_after("Wed, 21 Oct 2026 07:28:00 GMT"), None);
        assert_eq!(retry_after("-1"), None);
    }

    #[test]
    fn a_post_reads_no_body_and_a_get_reads_up_to_its_limit() {
        let post = Request::post("https://x", vec![], b"{}".to_vec(), Duration::from_secs(1));
        assert_eq!((post.method, post.read_limit), (Method::Post, 0));
        let get = Request::get("https://x", vec![], Duration::from_secs(1), 1024);
        assert_eq!(
            (get.method, get.read_limit, get.body.len()),
            (Method::Get, 1024, 0)
        );
    }
}
