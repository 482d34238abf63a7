//! Alerts (issue #19): queued once per alert destination by whoever saw
//! the change ([`raise`]), then posted by the delivery consumer, which
//! carries out [`engine::alerts::post::AlertPost`].

use qase_webhooks::chat::Alert;
use worker::{Date, Env};

use crate::delivery::ops;
use engine::alerts::post;
use engine::config::Config;

/// Queues `alert` for every alert destination (none about one itself,
/// when `subject_is_destination`). Best effort: an alert that cannot be
/// queued is logged.
pub async fn raise(env: &Env, config: &Config, alert: Alert, subject_is_destination: bool) {
    let messages = post::messages(
        config,
        &alert,
        subject_is_destination,
        Date::now().as_millis(),
    );
    ops::raise(env, &alert, messages).await;
}
