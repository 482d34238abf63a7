//! Every response the Worker sends, built directly as the runtime's
//! `Response`.
//!
//! Why not `worker::Response`: it keeps its own body and `Headers`, then
//! converts to the runtime's `Response` on the way out, one JavaScript call
//! per header and per field, on every delivery. Here a response is one
//! `ResponseInit` and one copy of the body, and the two headers every JSON
//! answer carries come from one `Headers` object made once per isolate (the
//! runtime copies init headers into each new response, so sharing it is
//! safe). BENCHMARKS.md has what this saves: less than the machine's noise;
//! what bounds the ingest path is elsewhere.

use serde::Serialize;
use worker::web_sys::{Headers, ReadableStream, Response, ResponseInit};
use worker::Result;

use engine::http::JSON_HEADER_PAIRS;

thread_local! {
    /// [`JSON_HEADER_PAIRS`], as one `Headers` object.
    static JSON_HEADERS: Headers = json_headers().expect("Headers can be built");
}

fn json_headers() -> Result<Headers> {
    let headers = Headers::new()?;
    for (name, value) in JSON_HEADER_PAIRS {
        headers.set(name, value)?;
    }
    Ok(headers)
}

/// A JSON response: `body` serialised, with the JSON headers.
pub fn json(body: &impl Serialize, status: u16) -> Result<Response> {
    let mut bytes = serde_json::to_vec(body)?;
    JSON_HEADERS.with(|headers| build(Some(&mut bytes), status, headers))
}

/// JSON bytes with one more header (`Allow`, `Retry-After`, ...).
pub fn json_bytes_with_header(
    mut bytes: Vec<u8>,
    status: u16,
    name: &str,
    value: &str,
) -> Result<Response> {
    let headers = JSON_HEADERS.with(Headers::new_with_headers)?;
    headers.set(name, value)?;
    build(Some(&mut bytes), status, &headers)
}

/// Bytes that already are JSON (a stored event, the OpenAPI document).
pub fn json_bytes(mut bytes: Vec<u8>, status: u16) -> Result<Response> {
    JSON_HEADERS.with(|headers| build(Some(&mut bytes), status, headers))
}

/// A body that already is JSON, passed through as a stream (the OpenAPI
/// document from the assets binding).
pub fn json_stream(body: Option<&ReadableStream>, status: u16) -> Result<Response> {
    JSON_HEADERS.with(|headers| {
        let init = ResponseInit::new();
        init.set_status(status);
        init.set_headers(headers);
        Ok(Response::new_with_opt_readable_stream_and_init(
            body, &init,
        )?)
    })
}

/// A text response of `content_type` (the metrics' exposition format).
pub fn text(mut bytes: Vec<u8>, content_type: &str, status: u16) -> Result<Response> {
    let headers = Headers::new()?;
    headers.set("Content-Type", content_type)?;
    headers.set("Cache-Control", "no-store")?;
    build(Some(&mut bytes), status, &headers)
}

/// A response without a body (`204`).
pub fn empty(status: u16) -> Result<Response> {
    build(None, status, &Headers::new()?)
}

/// `body` is `&mut` only because of web-sys's signature: the runtime copies
/// the bytes and leaves them as they are.
fn build(body: Option<&mut [u8]>, status: u16, headers: &Headers) -> Result<Response> {
    let init = ResponseInit::new();
    init.set_status(status);
    init.set_headers(headers);
    Ok(Response::new_with_opt_u8_array_and_init(body, &init)?)
}
