//! Property tests.
//! 1. No input makes parsing panic: arbitrary bytes, and mutations of valid
//!    deliveries (byte flips, truncations, insertions).
//! 2. The secret check accepts exactly the configured secrets.
//! 3. Event ids are equal exactly when the bytes are.
//! 4. Every input in tests/regressions/ (from fuzzing and hostile cases)
//!    parses to a result, never a panic.

use proptest::prelude::*;
use qase_webhooks::{Envelope, EventId, Secret, SecretPolicy};

fn parse_fully(bytes: &[u8]) {
    if let Ok(envelope) = Envelope::parse(bytes) {
        let _ = envelope.event();
    }
}

fn valid_bodies() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut bodies: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|entry| {
            let path = entry.unwrap().path();
            path.is_file().then(|| std::fs::read(path).unwrap())
        })
        .collect();
    bodies.sort();
    bodies
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        parse_fully(&bytes);
    }

    #[test]
    fn mutated_deliveries_never_panic(
        index in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8),
    ) {
        let bodies = valid_bodies();
        let mut body = bodies[index.index(bodies.len())].clone();
        for (at, byte, kind) in edits {
            if body.is_empty() { break; }
            let at = at.index(body.len());
            match kind {
                0 => body[at] = byte,
                1 => body.truncate(at),
                _ => body.insert(at, byte),
            }
        }
        parse_fully(&body);
    }

    #[test]
    fn the_secret_check_accepts_exactly_the_configured_secrets(
        secrets in proptest::collection::vec("[ \t]{0,2}[!-~][ -~]{0,10}[ \t]{0,2}", 1..4),
        candidate in "[ \t]{0,2}[ -~]{0,12}[ \t]{0,2}",
    ) {
        // The oracle: equal once the spaces and tabs around each value are
        // dropped (RFC 9110's optional whitespace), byte for byte otherwise.
        let trim = |s: &str| s.trim_matches([' ', '\t']).to_owned();
        let policy = SecretPolicy::new(secrets.iter().map(|s| Secret::new(s).unwrap()));
        let accepted = policy.authenticate(Some(candidate.as_bytes())).is_ok();
        let expected = !trim(&candidate).is_empty()
            && secrets.iter().any(|s| trim(s) == trim(&candidate));
        prop_assert_eq!(accepted, expected);
        for secret in &secrets {
            prop_assert!(policy.authenticate(Some(secret.as_bytes())).is_ok());
        }
    }

    #[test]
    fn event_ids_are_equal_exactly_when_bytes_are(a in any::<Vec<u8>>(), b in any::<Vec<u8>>()) {
        prop_assert_eq!(EventId::of(&a) == EventId::of(&b), a == b);
    }
}

#[test]
fn regression_inputs_never_panic() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "json") {
            parse_fully(&std::fs::read(&path).unwrap());
            count += 1;
        }
    }
    assert!(count >= 4, "regression inputs missing");
}
