//! `GET /metrics` (issue #32): the figures operators alert on, in the
//! Prometheus text format. [`aggregate`] holds the D1 statements a scrape
//! runs, [`families`] the rules from their rows and the breakers' and
//! watchdog's views to metric families, [`exposition`] the text format.
//! Pure; `qase_edge::metrics` reads the stores and answers.

pub mod aggregate;
pub mod exposition;
pub mod families;

#[cfg(test)]
mod tests;

use crate::config::Config;
use exposition::ExpositionError;
use families::Figures;

/// The scrape's text for `figures`.
pub fn scrape(config: &Config, figures: &Figures) -> Result<String, ExpositionError> {
    exposition::render(&families::families(config, figures))
}
