//! Configuration parsing: `KEY=VALUE` lines of any text, never a panic, and
//! an error always names a key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qase_edge_engine::config::Config;
use qase_edge_engine::store::settings::Sink;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let vars: Vec<(&str, &str)> = text.lines().filter_map(|line| line.split_once('=')).collect();
    let lookup = |key: &str| vars.iter().find(|(k, _)| *k == key).map(|(_, v)| v.to_string());
    if let Err(error) = Config::from_lookup(lookup, &Sink::ALL) {
        assert!(error.key.starts_with("QASE_") || vars.iter().any(|(k, _)| *k == error.key));
    }
});
