//! Names of every binding, variable and secret the Worker reads, in one
//! place. The README's configuration table documents each of them.

/// KV namespace holding accepted deliveries (and the duplicate markers).
pub const EVENTS_KV: &str = "QASE_EVENTS";
/// D1 database: the event store (events, delivery states, dead letters).
pub const DB: &str = "QASE_DB";
/// Queue producer for accepted deliveries (consumed by this Worker).
pub const DELIVERIES_QUEUE: &str = "QASE_DELIVERIES";
/// Workers Static Assets: the operator console's files (`console/`).
pub const ASSETS: &str = "QASE_ASSETS";

/// Secret: the `X-Qase-Secret` value typed into Qase's webhook form.
pub const WEBHOOK_SECRET: &str = "QASE_WEBHOOK_SECRET";
/// Secret: a second accepted value, for rotating `QASE_WEBHOOK_SECRET`.
pub const WEBHOOK_SECRET_NEXT: &str = "QASE_WEBHOOK_SECRET_NEXT";
/// Secret: JSON object of project code to that project's own secret.
pub const PROJECT_SECRETS: &str = "QASE_PROJECT_SECRETS";

/// Variable: `required` (default) or `disabled` (local experiments only).
pub const AUTH: &str = "QASE_AUTH";
/// Variable: the largest accepted body, in bytes (default 1 MiB).
pub const MAX_BODY_BYTES: &str = "QASE_MAX_BODY_BYTES";
/// Variable: which sinks accepted deliveries go to, e.g. `kv,queue`
/// (default: every sink whose binding exists).
pub const SINKS: &str = "QASE_SINKS";
/// Variable: JSON routing rules over events and projects to sinks.
pub const ROUTES: &str = "QASE_ROUTES";
/// Variable: `quarantine` (default) or `reject`, for payloads that do not
/// fit their event's model and for unknown events.
pub const PAYLOAD_POLICY: &str = "QASE_PAYLOAD_POLICY";
/// Variable: the duplicate window in seconds (default 86400; 0 turns it off).
pub const DEDUPE_SECONDS: &str = "QASE_DEDUPE_SECONDS";

/// Queue producer for events whose delivery failed for good.
pub const DEAD_LETTERS_QUEUE: &str = "QASE_DEAD_LETTERS";
/// Variable: the name of the dead-letter queue, so the consumer can tell
/// its batches apart (default `qase-deliveries-dlq`).
pub const DEAD_LETTER_QUEUE_NAME: &str = "QASE_DEAD_LETTER_QUEUE";
/// Variable: JSON list of downstream destinations.
pub const DESTINATIONS: &str = "QASE_DESTINATIONS";
/// Variable: delay after the first failed delivery attempt, in seconds (default 10).
pub const RETRY_BASE_SECONDS: &str = "QASE_RETRY_BASE_SECONDS";
/// Variable: longest delay between attempts, in seconds (default 3600).
pub const RETRY_CAP_SECONDS: &str = "QASE_RETRY_CAP_SECONDS";
/// Variable: delivery attempts per destination, the first included (default 8).
pub const RETRY_MAX_ATTEMPTS: &str = "QASE_RETRY_MAX_ATTEMPTS";
/// Secret: the bearer token of the operator API (`/api/...`); without it the
/// API answers `404`.
pub const ADMIN_TOKEN: &str = "QASE_ADMIN_TOKEN";
/// Secret: a read-only bearer token for `GET /metrics` only (the admin
/// token is accepted there too); without either, `/metrics` answers `404`.
pub const METRICS_TOKEN: &str = "QASE_METRICS_TOKEN";
/// Variable: the Cloudflare Access team domain (`myteam.cloudflareaccess.com`);
/// with [`ACCESS_AUD`], `/api` and `/console` need a valid Access assertion.
pub const ACCESS_TEAM_DOMAIN: &str = "QASE_ACCESS_TEAM_DOMAIN";
/// Variable: the Access application's audience (AUD) tag.
pub const ACCESS_AUD: &str = "QASE_ACCESS_AUD";
/// Variable or secret: JSON rules giving Access identities a role
/// (`[{"email"|"group"|"service", "role", "projects"?}]`).
pub const ACCESS_ROLES: &str = "QASE_ACCESS_ROLES";
/// Secret: named API tokens as SHA-256 hashes
/// (`[{"name", "sha256", "role", "projects"?}]`).
pub const API_TOKENS: &str = "QASE_API_TOKENS";
/// Variable: how long stored events, dead letters and delivery states are
/// kept, in seconds (default 30 days; 0 keeps them until deleted).
pub const RETENTION_SECONDS: &str = "QASE_RETENTION_SECONDS";
/// Variable: how old an event not yet taken by the queue consumer must be
/// before the cron sweep sends it again, in seconds (default 300).
pub const REDRIVE_AFTER_SECONDS: &str = "QASE_REDRIVE_AFTER_SECONDS";
/// Qase's web app, for links in chat messages.
pub const APP_URL: &str = "QASE_APP_URL";
/// The Durable Object namespace that paces chat destinations.
pub const PACER: &str = "QASE_PACER";
/// Optional Workers Analytics Engine dataset: one data point per delivery
/// attempt (`engine::delivery::analytics`).
pub const ANALYTICS: &str = "QASE_ANALYTICS";
/// Which deliveries get a log line: `all`, `refused` or `none`.
pub const LOG_DELIVERIES: &str = "QASE_LOG_DELIVERIES";
/// Test-only: `1` lets the body `panic` make the ingest export panic, for the
/// end-to-end test of recovery after a panic. Never set it in production.
pub const TEST_PANIC: &str = "QASE_TEST_PANIC";

/// The Durable Object binding of the runs' watchers (class `RunWatch`).
pub const RUN_WATCH: &str = "QASE_RUN_WATCH";
/// Qase's REST API token (a secret), for the failed cases of a run.
pub const API_TOKEN: &str = "QASE_API_TOKEN";
/// Qase's REST API base URL (`https://api.qase.io/v1`).
pub const API_URL: &str = "QASE_API_URL";
/// Seconds between a run's end and its report.
pub const RUN_SETTLE_SECONDS: &str = "QASE_RUN_SETTLE_SECONDS";
/// Seconds a request to Qase's REST API may take, its answer read (default 10).
pub const API_TIMEOUT_SECONDS: &str = "QASE_API_TIMEOUT_SECONDS";
/// JSON list of project codes the cron reconciles with Qase's REST API (`["WEB"]`).
pub const RECONCILE: &str = "QASE_RECONCILE";

/// The Durable Object binding of the destinations' breakers (class `Breaker`, issue #19).
pub const BREAKER: &str = "QASE_BREAKER";
/// Variable: failures in a row that pause a destination (default 10; 0 turns the breaker off).
pub const BREAKER_FAILURES: &str = "QASE_BREAKER_FAILURES";
/// Variable: attempts in the failure-ratio window (default 0: no ratio).
pub const BREAKER_WINDOW: &str = "QASE_BREAKER_WINDOW";
/// Variable: the failure ratio over a full window that pauses (default 0.5).
pub const BREAKER_RATIO: &str = "QASE_BREAKER_RATIO";
/// Variable: the first probe interval of a paused destination, in seconds (default 30).
pub const BREAKER_PROBE_SECONDS: &str = "QASE_BREAKER_PROBE_SECONDS";
/// Variable: the least time between two alerts of one kind about one subject, in seconds (default 900).
pub const ALERT_INTERVAL_SECONDS: &str = "QASE_ALERT_INTERVAL_SECONDS";
/// Variable: JSON object of project code to its longest normal silence (`{"WEB": "24h"}`).
pub const WATCH: &str = "QASE_WATCH";
/// Variable: how long a run Qase's API shows may go without a delivery
/// before the project's webhook is suspected disabled (`30m`, `2h`; default `30m`).
pub const DISABLED_GRACE: &str = "QASE_DISABLED_GRACE";
