-- "Webhook suspected disabled" (issue #29): one row per project the
-- reconcile pass covers (QASE_RECONCILE, QASE_WATCH), its state between
-- cron passes (crates/qase-edge-engine/src/alerts/disabled.rs: change both
-- together). Written before its alert is raised, so a pass repeated finds
-- the suspicion and alerts no more.
--
-- Rows written per pass: one per project asked about (Qase's API) or whose
-- state changed; none for a project that delivers.
CREATE TABLE disabled_state (
  project_code     TEXT    NOT NULL PRIMARY KEY,
  first_checked_at INTEGER NOT NULL,          -- Unix ms: the silence of a project never heard from counts from here
  suspected        INTEGER NOT NULL DEFAULT 0, -- 1: Qase's API shows runs no delivery told of
  suspected_at     INTEGER,                   -- Unix ms: when the suspicion began
  alerted_at       INTEGER,                   -- Unix ms: the last alert about it
  last_delivery_at INTEGER,                   -- Unix ms: the delivery the state was judged on; a later one clears it
  runs             INTEGER,                   -- the runs untold (while suspected) ...
  run              INTEGER,                   -- ... one of them ...
  run_title        TEXT,                      -- ... and its title
  checked_at       INTEGER,                   -- Unix ms: the last question to Qase's API
  not_before       INTEGER,                   -- Unix seconds: no question before this (Qase's Retry-After)
  updated_at       INTEGER NOT NULL           -- Unix ms
) WITHOUT ROWID;
