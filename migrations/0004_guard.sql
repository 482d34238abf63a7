-- Guard (issue #19): the watchdog's state per watched project, and each
-- delivery's latest attempts. See crates/qase-edge-engine/src/alerts/watch.rs and
-- engine/deliveries.rs. The breakers' own state (paused destinations and
-- their held events) lives in each destination's Durable Object, not here.

-- One row per project named in QASE_WATCH, written by the cron watchdog
-- only when something changed (never on ingest: the last delivery is
-- MAX(received_at) over events_by_project).
CREATE TABLE watch_state (
  project_code     TEXT    PRIMARY KEY,
  last_delivery_at INTEGER,                -- Unix milliseconds
  quiet            INTEGER NOT NULL DEFAULT 0, -- 1: silent past its window
  alerted_at       INTEGER,                -- the last "quiet" alert
  watched_since    INTEGER NOT NULL        -- silence of a project never heard from counts from here
) WITHOUT ROWID;

-- The last 20 attempts of a delivery, oldest first, as a JSON array of
-- {n, at, result, status, latency_ms, error, next_at}; written with the row.
ALTER TABLE deliveries ADD COLUMN attempts_log TEXT;
