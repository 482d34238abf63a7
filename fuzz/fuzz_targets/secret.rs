//! The secret check accepts exactly the configured secret: the input is
//! split at its first 0 byte into the configured and the presented value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qase_webhooks::{Secret, SecretPolicy};

fuzz_target!(|data: &[u8]| {
    let Some(split) = data.iter().position(|&b| b == 0) else { return };
    let (configured, presented) = (&data[..split], &data[split + 1..]);
    let Ok(secret) = Secret::new(configured) else {
        assert!(configured.is_empty());
        return;
    };
    let policy = SecretPolicy::new([secret]);
    let accepted = policy.authenticate(Some(presented)).is_ok();
    assert_eq!(accepted, configured == presented);
});
