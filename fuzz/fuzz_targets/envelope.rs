//! Envelope and payload parsing: any bytes, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qase_webhooks::Envelope;

fuzz_target!(|data: &[u8]| {
    if let Ok(envelope) = Envelope::parse(data) {
        let _ = envelope.event();
    }
});
