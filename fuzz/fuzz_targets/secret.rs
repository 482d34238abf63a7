//! The secret check accepts exactly the configured secret, spaces and tabs
//! around either value aside (RFC 9110's optional whitespace): the input is
//! split at its first 0 byte into the configured and the presented value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qase_webhooks::{Secret, SecretPolicy};

/// The reference: `value` without leading and trailing spaces and tabs.
fn trimmed(value: &[u8]) -> &[u8] {
    let mut value = value;
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

fuzz_target!(|data: &[u8]| {
    let Some(split) = data.iter().position(|&b| b == 0) else { return };
    let (configured, presented) = (&data[..split], &data[split + 1..]);
    let Ok(secret) = Secret::new(configured) else {
        assert!(trimmed(configured).is_empty());
        return;
    };
    let policy = SecretPolicy::new([secret]);
    let accepted = policy.authenticate(Some(presented)).is_ok();
    assert_eq!(accepted, trimmed(configured) == trimmed(presented));
});
