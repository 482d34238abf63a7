//! Benchmark reference: what any Rust Worker built with `worker` and
//! worker-build pays per request before doing any work of its own.
//!
//! It reads the body into Wasm memory and answers `200 {}`, the same steps
//! the JavaScript no-op (`bench/noop/worker.js`) takes, through the same
//! calls qase-edge's ingest uses (the runtime's `Request`, one awaited
//! `arrayBuffer()`, one copy into Wasm, one `Response`). The difference
//! between this and the JavaScript no-op is the cost of crossing into Wasm
//! and of bridging a JavaScript promise to a Rust future; the difference
//! between qase-edge and this is qase-edge's own work.

use worker::js_sys::Uint8Array;
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::{Headers, Request, Response, ResponseInit};
use worker::{event, Context, Env, Result};

#[event(fetch)]
async fn fetch(req: Request, _env: Env, _ctx: Context) -> Result<Response> {
    let buffer = JsFuture::from(req.array_buffer()?).await?;
    let body = Uint8Array::new(&buffer).to_vec();
    // Uses the bytes, so the copy cannot be optimised away.
    let status = if body.is_empty() { 400 } else { 200 };
    let headers = Headers::new()?;
    headers.set("Content-Type", "application/json")?;
    let init = ResponseInit::new();
    init.set_status(status);
    init.set_headers(&headers);
    Ok(Response::new_with_opt_str_and_init(Some("{}"), &init)?)
}
