//! The routing glob matcher agrees with a naive reference matcher: the
//! input is split at its first 0 byte into pattern and value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qase_webhooks::routing::Pattern;

/// Textbook recursive glob matching (`*` only), exponential but obviously right.
fn reference(pattern: &[u8], value: &[u8]) -> bool {
    match pattern.split_first() {
        None => value.is_empty(),
        Some((b'*', rest)) => (0..=value.len()).any(|skip| reference(rest, &value[skip..])),
        Some((c, rest)) => value.first() == Some(c) && reference(rest, &value[1..]),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some(split) = data.iter().position(|&b| b == 0) else { return };
    let (Ok(pattern), Ok(value)) = (std::str::from_utf8(&data[..split]), std::str::from_utf8(&data[split + 1..])) else {
        return;
    };
    // Keep the reference matcher's exponential cost bounded.
    if pattern.len() > 24 || value.len() > 64 || pattern.matches('*').count() > 5 {
        return;
    }
    let Some(glob) = Pattern::new(pattern) else {
        assert!(pattern.is_empty());
        return;
    };
    assert_eq!(glob.matches(value), reference(pattern.as_bytes(), value.as_bytes()), "{pattern:?} {value:?}");
});
