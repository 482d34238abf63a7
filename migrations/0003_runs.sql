-- Test runs (issue #20): one row per Qase run, the state its events built
-- (crates/qase-edge-engine/src/runs/state.rs), written by the run's Durable Object
-- (RunWatch) after each event that changed it. The Rust side of this table
-- is crates/qase-edge-engine/src/runs/ (sql.rs): change both together.
--
-- Rows written per change: the row and its one index entry.
CREATE TABLE runs (
  project_code  TEXT    NOT NULL,
  run_id        INTEGER NOT NULL,
  status        TEXT    NOT NULL CHECK (status IN ('unknown', 'started', 'completed', 'aborted')),
  last_event_at INTEGER NOT NULL,          -- Qase's timestamp of the run's latest event, Unix seconds
  version       INTEGER NOT NULL,          -- bumped by every change; an older write never replaces a newer one
  state         TEXT    NOT NULL,          -- the state as JSON (RunState)
  updated_at    INTEGER NOT NULL,          -- Unix milliseconds
  PRIMARY KEY (project_code, run_id)
) WITHOUT ROWID;

-- GET /api/runs?project=: a project's runs, most recent event first.
CREATE INDEX runs_by_project ON runs (project_code, last_event_at, run_id);
