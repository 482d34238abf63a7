-- The audit log (issue #31): one row per state-changing call of the
-- operator API (replay, delete, pause, resume, migrate), refused ones
-- included, written after the call with its answer's status. Append-only:
-- no route deletes a row; the cron sweep deletes rows older than the
-- event retention (QASE_RETENTION_SECONDS), never younger, so the log is
-- kept at least as long as the events it is about.
-- crates/qase-edge-engine/src/api/audit.rs builds every statement: change
-- both together.
CREATE TABLE audit (
  id         INTEGER PRIMARY KEY AUTOINCREMENT, -- the order of the calls; the page cursor
  at         INTEGER NOT NULL,                  -- Unix milliseconds
  actor      TEXT    NOT NULL,                  -- `admin`, the token's name, the email or the common name
  credential TEXT    NOT NULL CHECK (credential IN ('admin_token', 'api_token', 'access_user', 'access_service')),
  role       TEXT    NOT NULL CHECK (role IN ('viewer', 'operator')),
  action     TEXT    NOT NULL,                  -- engine::api::audit::Action
  target     TEXT    NOT NULL,                  -- the id or name, the query and the body (cut to 1 KiB)
  status     INTEGER NOT NULL                   -- the HTTP status answered
);
CREATE INDEX audit_at ON audit (at);
