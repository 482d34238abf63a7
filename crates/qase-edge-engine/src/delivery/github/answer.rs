//! What GitHub's answers mean (its REST API's documented statuses):
//! - `2xx`: done, with the body (a created comment's id, a listing);
//! - a rate limit, primary or secondary: `403` or `429` with `Retry-After`,
//!   or with `x-ratelimit-remaining: 0` and `x-ratelimit-reset` (the shell
//!   turns the reset time into the same number of seconds,
//!   [`crate::http::outbound::wait_seconds`]), or whose message says
//!   "rate limit": waited out, within the retry limits; GitHub asks for at
//!   least a minute when it gives no time;
//! - `401` (the token), `403` (its permissions), `404` (the repository,
//!   the commit or the pull request, as this token sees them) and `422`
//!   (a commit GitHub does not know): refused for good, a dead letter with
//!   the reason in words;
//! - `5xx`, a timeout, no connection: retried with the backoff.

use qase_webhooks::retry::AttemptResult;
use serde::Deserialize;

use crate::http::outbound::Answer;

/// Seconds to wait for a rate limit that gives no time (GitHub: "wait for
/// at least one minute before retrying").
pub const RATE_LIMIT_WAIT: u64 = 60;

/// What one answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `2xx`, with its body.
    Done(Vec<u8>),
    /// Not done; what the attempt counts as (for the retry policy and the
    /// breaker), and why in words.
    Failed {
        /// How the lane's retry rule reads it: a rate limit is a `429` with
        /// the wait, a refusal its own `4xx`.
        result: AttemptResult,
        /// Why, in words (the delivery state's and the dead letter's).
        words: String,
    },
}

/// GitHub's error body: `{"message": "...", "documentation_url": "..."}`.
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: String,
}

/// GitHub's `message`, at most 200 characters, on one line.
fn message(body: &[u8]) -> String {
    let message = serde_json::from_slice::<ErrorBody>(body)
        .map(|error| error.message)
        .unwrap_or_default();
    message
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(200)
        .collect()
}

/// What `answer` means for a request about `repository` (`what`: the
/// request, in words: "the commit status", "the comment").
pub fn classify(answer: Answer, repository: &str, what: &str) -> Reply {
    let (status, retry_after, body) = match answer {
        Answer::Status {
            status,
            retry_after,
            body,
            ..
        } => (status, retry_after, body),
        other => {
            let (result, words) = other.attempt();
            return Reply::Failed {
                result,
                words: format!("{what}: {words}"),
            };
        }
    };
    if (200..300).contains(&status) {
        return Reply::Done(body);
    }
    let said = message(&body);
    let rate_limited = matches!(status, 403 | 429)
        && (retry_after.is_some() || said.to_ascii_lowercase().contains("rate limit"));
    if rate_limited {
        let wait = retry_after.unwrap_or(RATE_LIMIT_WAIT);
        return Reply::Failed {
            result: AttemptResult::Status {
                status: 429,
                retry_after: Some(wait),
            },
            words: format!("{what}: HTTP {status}, GitHub's rate limit; waited out ({wait} s)"),
        };
    }
    let reason = match status {
        401 => "GitHub refused the token (wrong, expired or revoked)".to_owned(),
        403 => format!("the token may not write to `{repository}` (it needs Commit statuses: write and Pull requests: write)"),
        404 => format!("`{repository}` is not there for this token, or the commit or pull request is not"),
        422 => format!("GitHub refused the request ({said})"),
        _ => match said.is_empty() {
            true => "GitHub's answer".to_owned(),
            false => format!("GitHub said: {said}"),
        },
    };
    Reply::Failed {
        result: AttemptResult::Status {
            status,
            retry_after: None,
        },
        words: format!("{what}: HTTP {status}: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn answer(status: u16, retry_after: Option<u64>, body: &str) -> Answer {
        Answer::Status {
            status,
            retry_after,
            body: body.as_bytes().to_vec(),
            truncated: false,
        }
    }

    fn failed(reply: Reply) -> (AttemptResult, String) {
        match reply {
            Reply::Failed { result, words } => (result, words),
            Reply::Done(_) => panic!("done"),
        }
    }

    fn verdict(result: AttemptResult) -> qase_webhooks::retry::Verdict {
        qase_webhooks::retry::RetryPolicy::default().verdict(result, 1, 0.5)
    }

    #[test]
    fn a_2xx_is_done_with_its_body() {
        let reply = classify(answer(201, None, r#"{"id":7}"#), "o/r", "the comment");
        assert_eq!(reply, Reply::Done(br#"{"id":7}"#.to_vec()));
    }

    #[test]
    fn a_rate_limit_is_waited_out_for_as_long_as_github_says() {
        use qase_webhooks::retry::Verdict;
        // A secondary rate limit: 403 with Retry-After.
        let (result, words) = failed(classify(answer(403, Some(3), "{}"), "o/r", "the status"));
        assert_eq!(verdict(result), Verdict::Retry(Duration::from_secs(3)));
        assert!(words.contains("rate limit"), "{words}");
        // The primary one (the shell made the reset time a number of seconds).
        let (result, _) = failed(classify(answer(429, Some(120), ""), "o/r", "x"));
        assert_eq!(verdict(result), Verdict::Retry(Duration::from_secs(120)));
        // No time given: a minute, as GitHub asks.
        let body = r#"{"message":"You have exceeded a secondary rate limit."}"#;
        let (result, _) = failed(classify(answer(403, None, body), "o/r", "x"));
        assert_eq!(verdict(result), Verdict::Retry(Duration::from_secs(60)));
    }

    #[test]
    fn a_wrong_token_or_repository_is_refused_with_the_reason_in_words() {
        use qase_webhooks::retry::Verdict;
        for (status, words) in [
            (401, "refused the token"),
            (403, "may not write to `o/r`"),
            (404, "`o/r` is not there"),
            (422, "No commit found for SHA"),
        ] {
            let body = r#"{"message":"No commit found for SHA: abc"}"#;
            let (result, said) = failed(classify(answer(status, None, body), "o/r", "the status"));
            assert_eq!(verdict(result), Verdict::Rejected, "{status}");
            assert!(said.contains(words), "{said}");
            assert!(
                said.starts_with(&format!("the status: HTTP {status}")),
                "{said}"
            );
        }
    }

    #[test]
    fn a_server_error_or_no_answer_is_retried() {
        use qase_webhooks::retry::Verdict;
        let (result, _) = failed(classify(answer(502, None, ""), "o/r", "x"));
        assert!(matches!(verdict(result), Verdict::Retry(_)));
        let timeout = Answer::Timeout(Duration::from_secs(10));
        let (result, words) = failed(classify(timeout, "o/r", "the comment"));
        assert_eq!(result, AttemptResult::Timeout);
        assert!(words.starts_with("the comment: no answer"), "{words}");
    }
}
