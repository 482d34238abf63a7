//! The imperative shell: Cloudflare bindings, KV and queue calls, `fetch`,
//! and turning the [`crate::engine`]'s decisions into `Response`s. Each
//! module executes decisions made in the engine and decides nothing itself.

pub mod alerts;
pub mod api;
pub mod breaker;
pub mod console;
pub mod db;
pub mod dead_letters;
pub mod delivery;
pub mod error;
pub mod guard_api;
pub mod health;
pub mod hot_path;
pub mod ingest;
pub mod log;
pub mod pacer;
pub mod respond;
pub mod run_reports;
pub mod run_watch;
pub mod runs_api;
pub mod settings;
pub mod sinks;
pub mod sweep;
