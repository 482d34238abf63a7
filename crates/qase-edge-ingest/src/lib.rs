//! The Worker's ingest module: `POST /webhooks/qase` with a declared
//! `Content-Length`, the request Qase sends, served from a Wasm module of
//! its own.
//!
//! ```text
//!  Qase ──POST──▶ js/entry.mjs ──▶ decision::qase_begin ─┬─ engine::ingest::check_headers  (answer before the body)
//!                     │              qase_ingest ────────┼─ engine::ingest::admit / plan
//!                     │              qase_feed (rounds) ─┴─ engine::ingest::Ingest
//!                     └── any other route, a queue batch, the cron, a Durable Object
//!                             ──▶ import("./index.js"): the shell (crates/qase-edge), loaded on first use
//! ```
//!
//! Why a module of its own: a fresh isolate instantiates every Wasm module
//! it imports and runs its start before the first answer, in proportion to
//! its size (it also compiles every module of the bundle, imported or not,
//! which only a second Worker would spare). The shell's module holds
//! everything else (delivery, the operator API, the console, the Durable
//! Objects: about 1.9 MB); this one holds the
//! ingest rules and the typed parse of every event (BENCHMARKS.md has both
//! sizes and what a cold start costs with each). The entry instantiates this
//! one when the isolate starts and imports the shell only when a request,
//! batch or alarm needs it.
//!
//! No `worker` crate: the environment is read through `js_sys::Reflect`
//! (`config.rs`) and the log through `console` (`console.rs`).

mod config;
mod console;
mod decision;
mod log;

use std::sync::atomic::{AtomicU64, Ordering};

use wasm_bindgen::prelude::wasm_bindgen;

pub use decision::{qase_answer_headers, qase_begin, qase_feed, qase_ingest, Decision, Step};

/// Deliveries no routing rule matched since this module was instantiated.
/// A local hint, as the shell's own count (`GET /health` adds the two):
/// the durable count is the log.
static IGNORED: AtomicU64 = AtomicU64::new(0);

/// The count of ignored deliveries, for the shell's `GET /health` (through the entry).
#[wasm_bindgen]
pub fn qase_ignored_since_start() -> f64 {
    IGNORED.load(Ordering::Relaxed) as f64
}

/// Runs when the module is instantiated: a panic's message goes to the log
/// (the entry then starts a new instance for the next request).
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}
