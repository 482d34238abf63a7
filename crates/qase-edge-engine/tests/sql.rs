//! Every SQL statement the engine builds, run on SQLite (D1 is SQLite)
//! with the schema of `migrations/` and its parameters bound as the shell
//! binds them, and what each returns read with the engine's own row types.
//! Scenarios:
//!
//! 1. `migrations/` applies in order to an empty database (every scenario
//!    starts so).
//! 2. Ingest: the upsert the engine's ingest plan builds stores the exact
//!    bytes once; a copy only counts in `duplicates` and is answered as a
//!    duplicate; a quarantined event and a body kept in KV are stored as
//!    their enums say.
//! 3. The claim: of two messages for one event only the first forwards
//!    (recorded at ingest or not, and against the sweep's rescue insert);
//!    where the consumer finds a body.
//! 4. Delivery states: each status written and read back, `attempts_log`
//!    appended and cut to its last 20, an older state ignored; dead letters
//!    (with the event's row first when ingest did not record it).
//! 5. Dead letters in the API: filters, keyset pages, an event's dead
//!    letters, the replay's requeue (a second one loses), its restore, and
//!    the platform's `_all`.
//! 6. History: every filter of `GET /api/events` (project, event name and
//!    glob with literal `?` and `[`, outcome, time range, payload ids,
//!    destination and state), keyset pages without repeat or gap, the
//!    bodies of a page, counts by route, one event, its deliveries, its
//!    deletion, the stats.
//! 7. `GET /api/destinations`: day counts by status (a held or probing
//!    retry is not a failure) and each destination's last error.
//! 8. Runs: the row upsert (a lower version changes nothing) for every run
//!    status, one run, `RunsQuery` by status and by pages, the retention's
//!    deletes (report delivery rows and old runs only).
//! 9. The watchdog: last deliveries per project, its rows, their upsert;
//!    the reconcile pass's cursors, one row a project, read back.
//! 10. The sweep: the re-drive's selection (`pending`, old enough, oldest
//!     first, at most a batch), expired bodies in KV, the retention's deletes.
//! 11. KV migration: existing ids, old events (`forward = 'none'`, again
//!     changes nothing), delivery states and dead letters (only for a
//!     stored event, only over an older state).
//! 12. Coverage: every public engine function that returns statements was
//!     called, and every SQL text it built was run.
//! 13. `GET /metrics`: events by project, name and outcome with their
//!     copies, deliveries by destination and status with attempts and
//!     retries, runs by status, each project's latest completed run.
//! 14. The audit log: each call's row, pages newest first, the retention's
//!     delete (past it only).
//!
//! Enum text forms: wherever SQL compares with a literal (`'pending'`,
//! `'dead'`, `'held_while_paused'`, ...) or a `CHECK` lists the values, the
//! scenario writes the value through the engine's enum (`Forward`,
//! `DeliveryStatus`, `EventStatus`, `AttemptResultKind`, `RunStatus`) and
//! reads it back with the engine's serde types, so a renamed variant fails
//! here. (No statement depends on the breaker's `Phase`.)
//!
//! How coverage is checked (scenario 12, `sql/coverage.rs`): constructors
//! are called through `built!(module::function(..))`, which notes the
//! function and the SQL texts it returned; the harness notes every SQL
//! text it runs. The coverage test runs every scenario in its own thread,
//! then reads the engine's source (`src/**/*.rs`, outside `mod tests`) for
//! every `pub fn` whose return type names `Statement`, and fails when one
//! of them was not called through `built!`, or when a text built was never
//! run. A new constructor therefore fails it until a scenario runs it. It
//! cannot see a new SQL *shape* of an existing builder (a new filter
//! fragment of `list_events`): the scenarios cover those by name.

// The name the shell and the tools know the engine by.
extern crate qase_edge_engine as engine;

/// Calls a statement constructor (`module::function(args)`, or
/// `module::Type::method(args)`) and notes what it built for the coverage
/// check.
#[macro_export]
macro_rules! built {
    ($($segment:ident)::+ ($($arg:expr),* $(,)?)) => {{
        let value = $($segment)::+($($arg),*);
        $crate::sql::support::note_built(stringify!($($segment)::+), &value);
        value
    }};
}

mod sql {
    // The harness: database, binding, rows, the record of what ran.
    pub mod support;
    // Scenarios 2 to 4: what ingest, the consumer and the dead-letter consumer write.
    pub mod writes;
    // Scenarios 5 and 6: the operator API's history and dead letters.
    pub mod history;
    // Scenario 7: the destinations' last 24 hours.
    pub mod destinations;
    // Scenario 8: the runs table.
    pub mod runs;
    // Scenarios 9 to 11: the cron's watchdog and sweep, and the KV migration.
    pub mod cron;
    // Scenario 13: the metrics' aggregates.
    pub mod metrics;
    // Scenario 14: the audit log.
    pub mod audit;
    // Scenario 12: every statement built is run.
    mod coverage;
}
