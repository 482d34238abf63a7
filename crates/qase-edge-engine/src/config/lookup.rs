//! How settings are read: [`Lookup`] over the Worker's variables and
//! secrets, and the shared value forms (bounded numbers, time-to-lives,
//! secrets). A leaf, used by every capability's `settings.rs`.

use qase_webhooks::Secret;

use crate::config::problems::{invalid, ConfigError};

/// KV's smallest expiration TTL, so the smallest non-zero time-to-live a
/// setting read by [`Lookup::ttl`] accepts.
pub const MIN_TTL_SECONDS: u64 = 60;

/// The variables and secrets, by name.
#[derive(Clone, Copy)]
pub struct Lookup<'a> {
    raw: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Lookup<'a> {
    /// Reads through `raw`, which returns a value or `None` when unset.
    pub fn new(raw: &'a dyn Fn(&str) -> Option<String>) -> Lookup<'a> {
        Lookup { raw }
    }

    /// A setting's value; `None` when unset or blank (`wrangler secret put`
    /// and `.dev.vars` make it easy to leave one blank by accident).
    pub fn get(&self, key: &str) -> Option<String> {
        (self.raw)(key).filter(|value| !value.trim().is_empty())
    }

    /// A value exactly as set, blank included (secrets are taken as they are).
    pub fn raw(&self, key: &str) -> Option<String> {
        (self.raw)(key)
    }

    /// A whole number from `min` to `max`, `default` when unset.
    pub fn number(
        &self,
        key: &'static str,
        default: u64,
        (min, max): (u64, u64),
    ) -> Result<u64, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(text) => match text.trim().parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(invalid(
                    key,
                    format!("must be a whole number from {min} to {max}"),
                )),
            },
        }
    }

    /// A time-to-live in seconds: `0` turns the feature off; otherwise at
    /// least KV's smallest expiration TTL.
    pub fn ttl(
        &self,
        key: &'static str,
        default: u64,
        zero_means: &str,
    ) -> Result<Option<u64>, ConfigError> {
        match self.get(key) {
            None => Ok(Some(default)),
            Some(text) => match text.trim().parse::<u64>() {
                Ok(0) => Ok(None),
                Ok(n) if n >= MIN_TTL_SECONDS => Ok(Some(n)),
                _ => Err(invalid(
                    key,
                    format!(
                        "must be 0 ({zero_means}) or a whole number of seconds >= {MIN_TTL_SECONDS}"
                    ),
                )),
            },
        }
    }

    /// An `http://` or `https://` URL without its trailing slashes,
    /// `default` when unset.
    pub fn url(&self, key: &'static str, default: &str) -> Result<String, ConfigError> {
        match self.get(key) {
            None => Ok(default.to_owned()),
            Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
                Ok(url.trim().trim_end_matches('/').to_owned())
            }
            Some(_) => Err(invalid(key, "must be an http:// or https:// URL")),
        }
    }
}

/// `value` as the secret held by `key`.
pub fn secret(key: &'static str, value: &str) -> Result<Secret, ConfigError> {
    Secret::new(value).map_err(|err| invalid(key, err.to_string()))
}
