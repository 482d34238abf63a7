-- The reconcile pass (issue #29): one row per reconciled project, its
-- cursor between cron passes (crates/qase-edge-engine/src/runs/reconcile/cursor.rs:
-- change both together). D1 rather than KV: the cursor is read and
-- written at every cron pass (every 5 minutes), and KV's eventual consistency (up to a minute)
-- could hand a pass the cursor before its last write; D1 reads its own
-- writes, and the statements run against SQLite in the host tests.
--
-- Rows written per pass: one per reconciled project whose cursor moved.
CREATE TABLE reconcile_state (
  project_code    TEXT    NOT NULL PRIMARY KEY,
  checked_until   INTEGER,                    -- runs that ended before this (Unix seconds, less a slack) were checked
  pass_from       INTEGER,                    -- the pass under way: its from_start_time (Unix seconds) ...
  pass_offset     INTEGER NOT NULL DEFAULT 0, -- ... the offset of its first run not yet checked ...
  pass_started_at INTEGER,                    -- ... and when it listed its first page (Unix seconds)
  not_before      INTEGER,                    -- no listing before this (Unix seconds): Qase's Retry-After
  updated_at      INTEGER NOT NULL            -- Unix milliseconds
) WITHOUT ROWID;
