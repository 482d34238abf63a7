//! stub
pub const SCENARIOS: &[fn()] = &[];
