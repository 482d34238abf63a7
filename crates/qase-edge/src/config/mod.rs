//! Loads the [`Config`] from the Worker's environment once per isolate.
//!
//! Variables, secrets and bindings cannot change while an isolate lives (a
//! new deployment or secret starts new isolates), so parsing them on every
//! request would be wasted work on the hot path.

use std::sync::OnceLock;

use worker::Env;

use engine::config::bindings;
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
        match &config {
            Err(error) => worker::console_error!(
                "{}",
                serde_json::json!({ "event": "config_error", "key": error.key, "problem": error.problem })
            ),
            Ok(config) => {
                for problem in &config.problems {
                    worker::console_error!(
                        "{}",
                        serde_json::json!({
                            "event": "config_problem",
                            "key": problem.error.key,
                            "problem": problem.error.problem,
                            "effect": problem.effect,
                        })
                    );
                }
            }
        }
        config
    })
}

/// The sinks whose bindings exist in this deployment.
pub fn bound_sinks(env: &Env) -> Vec<Sink> {
    let mut bound = Vec::new();
    if env.d1(bindings::DB).is_ok() {
        bound.push(Sink::D1);
    }
    if env.kv(bindings::EVENTS_KV).is_ok() {
        bound.push(Sink::Kv);
    }
    if env.queue(bindings::DELIVERIES_QUEUE).is_ok() {
        bound.push(Sink::Queue);
    }
    bound
}
