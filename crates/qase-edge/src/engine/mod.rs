//! The functional core: every decision the Worker makes, as pure functions
//! of their inputs (configuration, request facts, bytes, the time, what a
//! store answered), returning what to answer and what to write. Nothing
//! here touches a binding, the network or the clock, so all of it is tested
//! on the host with `cargo test`; the [`crate::shell`] carries it out.

pub mod bindings;
pub mod breaker;
pub mod config;
pub mod console;
pub mod deliveries;
pub mod delivery;
pub mod destinations;
pub mod history;
pub mod ingest;
pub mod layout;
pub mod listing;
pub mod messages;
pub mod migrate_kv;
pub mod pace;
pub mod query;
pub mod replay;
pub mod routes;
pub mod run_report;
pub mod runs;
pub mod store;
pub mod store_failure;
pub mod sweep;
pub mod watch;
