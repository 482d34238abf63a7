//! The functional core of qase-edge: every decision the Worker makes, as
//! pure functions of their inputs (configuration, request facts, bytes, the
//! time, what a store answered), returning what to answer and what to
//! write. Nothing here touches a binding, the network or the clock, and the
//! crate has no `worker`, `js-sys`, `web-sys` or `wasm-bindgen` dependency,
//! so the compiler keeps it that way; all of it is tested on the host with
//! `cargo test`. The shell, crate `qase-edge`, carries it out and has a
//! folder of the same name for each folder here.

pub mod access;
pub mod alerts;
pub mod api;
pub mod config;
pub mod delivery;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod runs;
pub mod store;
pub mod text;
pub mod wire;
