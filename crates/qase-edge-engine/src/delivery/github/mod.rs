//! The `github` destination format (issue 30): a Qase run shown on the
//! commit and the pull request it was tagged with, as a commit status and
//! one pull-request comment, kept up to date.
//!
//! Why commit statuses rather than check runs: check runs can only be made
//! by a GitHub App (an installation token), while a commit status needs an
//! ordinary fine-grained token with "Commit statuses: write"; a status
//! carries all a run needs (a state, 140 characters, a link to the run in
//! Qase), and branch protection can require it like a check.
//!
//! The rules, each in its module:
//! - [`settings`]: the destination's `repository`, `token_secret`,
//!   `thresholds`, `tags` and `context`, validated once;
//! - [`tags`]: which commit and pull request a run names (`sha:<40 hex>`,
//!   `pr:<n>`, prefixes configurable);
//! - [`render`]: the status and the comment, made from the run's current
//!   state, Markdown in titles escaped;
//! - [`answer`]: what each of GitHub's answers means (done, wait out a rate
//!   limit, retry, a dead letter with the reason in words);
//! - [`record`]: what the run's object keeps per GitHub destination (the
//!   comment's id, what was last posted), and the reservation that lets
//!   only one delivery create the comment;
//! - [`sync`]: the steps of one delivery, run inside its destination's lane
//!   of the delivery machine, so that the breaker, retries, dead letters
//!   and delivery states are those of every destination.
//!
//! Every delivery renders from the run's state as its object holds it when
//! the delivery runs, never from the message: a late or replayed "pending"
//! after the run's end posts the final state, and a delivery that would
//! post what was last posted posts nothing, so duplicates and replays
//! change nothing.

pub mod answer;
pub mod due;
pub mod record;
pub mod render;
pub mod settings;
pub mod sync;
pub mod tags;

/// The `event_name` of the delivery message that brings a run's status to
/// its GitHub destinations while it runs (its end comes with its report,
/// [`qase_webhooks::run_report::RUN_REPORT_EVENT`]).
pub const RUN_STATUS_EVENT: &str = "run.status";
