-- qase-edge's event store (D1, binding QASE_DB). Applied with
--   npx wrangler d1 migrations apply qase-edge --local    (scripts/run, tests)
--   npx wrangler d1 migrations apply qase-edge --remote   (deploy, README)
-- The Rust side of this schema is crates/qase-edge-engine/src/store/d1.rs:
-- change both together.
--
-- D1 bills rows written, and every index a row is in is one more row
-- written: the indexes below are the ones the operator API's filters need,
-- partial where most rows are not in them.

-- One row per distinct delivery: the same bytes are one event (the id is
-- their SHA-256), stored and forwarded once. The primary key makes a copy
-- that arrives at the same moment in another isolate a conflict, not a
-- second row.
CREATE TABLE events (
  id             TEXT    PRIMARY KEY,      -- evt_<sha-256 hex>
  event_name     TEXT    NOT NULL,
  entity         TEXT    NOT NULL,         -- event_name before the first dot
  action         TEXT    NOT NULL,         -- event_name after it
  project_code   TEXT    NOT NULL,
  team_member_id INTEGER,
  received_at    INTEGER NOT NULL,         -- Unix milliseconds
  outcome        TEXT    NOT NULL CHECK (outcome IN ('accepted', 'quarantined')),
  reason         TEXT,                     -- why it was quarantined
  duplicates     INTEGER NOT NULL DEFAULT 0, -- copies received after the first
  last_duplicate_at INTEGER,
  -- The ids inside the payload, so "everything about run 42" is one query.
  run_id         INTEGER,
  case_id        INTEGER,
  defect_id      INTEGER,
  plan_id        INTEGER,
  milestone_id   INTEGER,
  -- Forwarding: 'none' (not routed to the queue), 'pending' (sent to the
  -- queue, or to be re-sent by the cron sweep, until the consumer has it),
  -- 'queued' (the consumer has it).
  forward        TEXT    NOT NULL CHECK (forward IN ('none', 'pending', 'queued')),
  size           INTEGER NOT NULL,         -- bytes
  body           TEXT,                     -- the exact bytes received (UTF-8), when they fit a row
  body_in_kv     INTEGER NOT NULL DEFAULT 0 -- 1: the bytes are in KV event/{id} (quarantine/{id}) instead
) WITHOUT ROWID;

CREATE INDEX events_by_time ON events (received_at, id);
CREATE INDEX events_by_project ON events (project_code, received_at, id);
CREATE INDEX events_by_run ON events (run_id, received_at) WHERE run_id IS NOT NULL;
CREATE INDEX events_unforwarded ON events (received_at) WHERE forward = 'pending';

-- Where an event's delivery to one destination stands. A dead letter is a
-- row with status 'dead'.
CREATE TABLE deliveries (
  event_id     TEXT    NOT NULL,
  destination  TEXT    NOT NULL,
  status       TEXT    NOT NULL CHECK (status IN ('delivered', 'retrying', 'dead')),
  attempts     INTEGER NOT NULL,
  last_status  INTEGER,
  last_error   TEXT,
  reason       TEXT,                       -- dead only: rejected, attempts exhausted, ...
  updated_at   INTEGER NOT NULL,           -- Unix milliseconds
  PRIMARY KEY (event_id, destination)
) WITHOUT ROWID;

CREATE INDEX deliveries_by_state ON deliveries (status, destination, updated_at);
