//! Makes an [`engine::http::outbound::Request`], the one way every request
//! to another service is made (see that module): the timeout covers the
//! answer and its body, the fetch is aborted when it runs out, no redirect
//! is followed, and the body is read up to the request's limit only.

use futures_util::future::{select, Either};
use futures_util::StreamExt;
use worker::{AbortController, Delay, Fetch, Headers, RequestInit, RequestRedirect};

use engine::http::outbound::{self, Answer, Method, Request};

/// Makes `request`; never fails, the answer says what happened.
pub async fn send(request: &Request) -> Answer {
    let built = match build(request) {
        Ok(built) => built,
        Err(error) => return Answer::NetworkError(format!("request not built: {error}")),
    };
    let controller = AbortController::default();
    let signal = controller.signal();
    let limit = request.read_limit;
    let exchange = Box::pin(async move {
        let response = Fetch::Request(built).send_with_signal(&signal).await;
        match response {
            Ok(response) => read(response, limit).await,
            Err(error) => Answer::NetworkError(error.to_string()),
        }
    });
    match select(exchange, Delay::from(request.timeout)).await {
        Either::Left((answer, _)) => answer,
        Either::Right(_) => {
            controller.abort();
            Answer::Timeout(request.timeout)
        }
    }
}

fn build(request: &Request) -> worker::Result<worker::Request> {
    let headers = Headers::new();
    for (name, value) in &request.headers {
        headers.set(name, value)?;
    }
    let mut init = RequestInit::new();
    init.with_headers(headers)
        // A redirect could point anywhere: it is an answer, not followed.
        .with_redirect(RequestRedirect::Manual);
    match request.method {
        Method::Get => init.with_method(worker::Method::Get),
        Method::Post => init
            .with_method(worker::Method::Post)
            .with_body(Some(js_sys::Uint8Array::from(&request.body[..]).into())),
        Method::Patch => init
            .with_method(worker::Method::Patch)
            .with_body(Some(js_sys::Uint8Array::from(&request.body[..]).into())),
    };
    worker::Request::new_with_init(&request.url, &init)
}

/// The answer, with its body read up to `limit` bytes (none for `0`).
async fn read(mut response: worker::Response, limit: usize) -> Answer {
    let status = response.status_code();
    let header = |name: &str| response.headers().get(name).ok().flatten();
    let retry_after = outbound::wait_seconds(
        header("Retry-After").as_deref(),
        header("x-ratelimit-remaining").as_deref(),
        header("x-ratelimit-reset").as_deref(),
        worker::Date::now().as_millis() / 1000,
    );
    let mut body = Vec::new();
    let mut truncated = false;
    if limit > 0 {
        // No stream: an answer without a body.
        if let Ok(mut stream) = response.stream() {
            while let Some(chunk) = stream.next().await {
                match chunk {
                    Ok(chunk) => body.extend_from_slice(&chunk),
                    Err(error) => return Answer::NetworkError(error.to_string()),
                }
                if body.len() > limit {
                    body.truncate(limit);
                    truncated = true;
                    break;
                }
            }
        }
    }
    Answer::Status {
        status,
        retry_after,
        body,
        truncated,
    }
}
