//! Loads the [`Config`] from the Worker's environment once per isolate.
//!
//! Variables, secrets and bindings cannot change while an isolate lives (a
//! new deployment or secret starts new isolates), so parsing them on every
//! request would be wasted work on the hot path.

use std::sync::OnceLock;

use worker::Env;

use engine::config::{Config, ConfigError};
use engine::store::settings::Sink;

static CONFIG: OnceLock<Result<Config, ConfigError>> = OnceLock::new();

/// The configuration, parsed on first use; a broken one is logged once with
/// its key and returned as an error on every request.
pub fn load(env: &Env) -> &'static Result<Config, ConfigError> {
    CONFIG.get_or_init(|| {
        let config = Config::from_lookup(
            |key| env.var(key).ok().map(|value| value.to_string()),
            &bound_sinks(env),
        );
        for line in engine::config::log_lines(&config) {
            worker::console_error!("{line}");
        }
        config
    })
}

/// The sinks whose bindings exist in this deployment.
pub fn bound_sinks(env: &Env) -> Vec<Sink> {
    let mut bound = Vec::new();
    if env.d1(Sink::D1.binding()).is_ok() {
        bound.push(Sink::D1);
    }
    if env.kv(Sink::Kv.binding()).is_ok() {
        bound.push(Sink::Kv);
    }
    if env.queue(Sink::Queue.binding()).is_ok() {
        bound.push(Sink::Queue);
    }
    bound
}
