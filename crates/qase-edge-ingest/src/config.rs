//! Loads the [`Config`] from the Worker's environment once per instance,
//! as the shell does (crates/qase-edge/src/config): variables and secrets
//! cannot change while an isolate lives.

use std::sync::OnceLock;

use js_sys::Reflect;
use wasm_bindgen::JsValue;

use crate::console;
use engine::config::{Config, ConfigError};
use engine::store::settings::Sink;

static CONFIG: OnceLock<Result<Config, ConfigError>> = OnceLock::new();

/// The configuration, parsed on first use; a broken one is logged once with
/// its key and returned as an error on every request.
pub fn load(env: &JsValue) -> &'static Result<Config, ConfigError> {
    CONFIG.get_or_init(|| {
        let config = Config::from_lookup(|key| binding(env, key)?.as_string(), &bound_sinks(env));
        for line in engine::config::log_lines(&config) {
            console::error(&line);
        }
        config
    })
}

/// The environment's value of `name`, if there is one.
fn binding(env: &JsValue, name: &str) -> Option<JsValue> {
    let value = Reflect::get(env, &JsValue::from_str(name)).ok()?;
    (!value.is_undefined() && !value.is_null()).then_some(value)
}

/// The sinks whose bindings exist in this deployment.
fn bound_sinks(env: &JsValue) -> Vec<Sink> {
    Sink::ALL
        .into_iter()
        .filter(|sink| binding(env, sink.binding()).is_some_and(|value| value.is_object()))
        .collect()
}
