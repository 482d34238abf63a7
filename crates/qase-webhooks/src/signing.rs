//! Standard Webhooks signatures (<https://www.standardwebhooks.com>), which
//! qase-edge adds to every forwarded delivery: Qase itself signs nothing.
//!
//! A signing secret is `whsec_` followed by the base64 of at least 24 random
//! bytes. The signature of a message is
//! `v1,` + base64(HMAC-SHA256(key, "{webhook-id}.{webhook-timestamp}.{body}")),
//! sent in `webhook-signature` (several, space-separated, during rotation)
//! beside `webhook-id` and `webhook-timestamp` (Unix seconds).

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use thiserror::Error;

/// The prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// Shortest accepted key, in bytes (the specification asks for 24 to 64).
pub const MIN_KEY_BYTES: usize = 24;

/// A signing secret. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct SigningSecret {
    key: Vec<u8>,
}

/// Why a signing secret or a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SigningError {
    /// The secret does not start with `whsec_`.
    #[error("a signing secret must start with `whsec_`")]
    MissingPrefix,
    /// The part after `whsec_` is not base64.
    #[error("a signing secret must be `whsec_` followed by base64")]
    NotBase64,
    /// The key is too short.
    #[error("a signing secret's key must be at least {MIN_KEY_BYTES} bytes")]
    TooShort,
    /// A header is missing or malformed.
    #[error("missing or malformed `{0}` header")]
    BadHeader(&'static str),
    /// The timestamp is outside the tolerance.
    #[error("timestamp is {0} seconds away from now, outside the tolerance")]
    Stale(u64),
    /// No signature matches.
    #[error("no signature matches")]
    Mismatch,
}

impl SigningSecret {
    /// Parses a `whsec_...` secret.
    ///
    /// ```
    /// use qase_webhooks::signing::{SigningError, SigningSecret};
    ///
    /// // 24 bytes of key, base64.
    /// let secret = SigningSecret::parse("whsec_MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1u").unwrap();
    /// let signature = secret.sign("evt_1", 1_700_000_000, b"{}");
    /// assert!(signature.starts_with("v1,"));
    /// let now = 1_700_000_010;
    /// assert_eq!(secret.verify("evt_1", "1700000000", &signature, b"{}", now, 300), Ok(()));
    /// assert_eq!(
    ///     secret.verify("evt_1", "1700000000", &signature, b"{ }", now, 300),
    ///     Err(SigningError::Mismatch),
    /// );
    /// assert_eq!(SigningSecret::parse("MDEy").unwrap_err(), SigningError::MissingPrefix);
    /// ```
    pub fn parse(secret: &str) -> Result<SigningSecret, SigningError> {
        let encoded = secret
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SigningError::MissingPrefix)?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| SigningError::NotBase64)?;
        if key.len() < MIN_KEY_BYTES {
            return Err(SigningError::TooShort);
        }
        Ok(SigningSecret { key })
    }

    /// The secret as `whsec_...` (to hand to a receiver).
    pub fn expose(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.key))
    }

    /// The `webhook-signature` value for a message: `v1,<base64>`.
    pub fn sign(&self, id: &str, timestamp: u64, body: &[u8]) -> String {
        format!("v1,{}", STANDARD.encode(self.mac(id, timestamp, body)))
    }

    fn mac(&self, id: &str, timestamp: u64, body: &[u8]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }

    /// Verifies a signed message: `signatures` is the `webhook-signature`
    /// header; `now` and `tolerance` are Unix seconds (this crate reads no
    /// clock). Comparison is constant-time.
    pub fn verify(
        &self,
        id: &str,
        timestamp: &str,
        signatures: &str,
        body: &[u8],
        now: u64,
        tolerance: u64,
    ) -> Result<(), SigningError> {
        if id.is_empty() {
            return Err(SigningError::BadHeader("webhook-id"));
        }
        let timestamp: u64 = timestamp
            .trim()
            .parse()
            .map_err(|_| SigningError::BadHeader("webhook-timestamp"))?;
        let skew = now.abs_diff(timestamp);
        if skew > tolerance {
            return Err(SigningError::Stale(skew));
        }
        let expected = self.mac(id, timestamp, body);
        let mut matched = subtle::Choice::from(0);
        for signature in signatures.split(' ') {
            let Some(encoded) = signature.strip_prefix("v1,") else {
                continue;
            };
            if let Ok(candidate) = STANDARD.decode(encoded) {
                if candidate.len() == expected.len() {
                    matched |= candidate.ct_eq(&expected);
                }
            }
        }
        if bool::from(matched) {
            Ok(())
        } else {
            Err(SigningError::Mismatch)
        }
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The example of the Standard Webhooks specification's reference tests.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TIMESTAMP: u64 = 1614265330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn signs_like_the_specification() {
        let secret = SigningSecret::parse(SPEC_SECRET).unwrap();
        assert_eq!(
            secret.sign(SPEC_ID, SPEC_TIMESTAMP, SPEC_BODY),
            SPEC_SIGNATURE
        );
    }

    #[test]
    fn verifies_its_own_signatures_and_refuses_tampering() {
        let secret = SigningSecret::parse(SPEC_SECRET).unwrap();
        let signature = secret.sign("evt_1", 1000, b"{}");
        let verify = |id: &str, ts: &str, sig: &str, body: &[u8]| {
            secret.verify(id, ts, sig, body, 1000, 300)
        };
        assert_eq!(verify("evt_1", "1000", &signature, b"{}"), Ok(()));
        assert_eq!(
            verify("evt_1", "1000", &format!("v1,bad {signature}"), b"{}"),
            Ok(())
        );
        assert_eq!(
            verify("evt_1", "1000", &signature, b"{ }"),
            Err(SigningError::Mismatch)
        );
        assert_eq!(
            verify("evt_2", "1000", &signature, b"{}"),
            Err(SigningError::Mismatch)
        );
        assert_eq!(
            verify("evt_1", "1001", &signature, b"{}"),
            Err(SigningError::Mismatch)
        );
        assert_eq!(
            verify("evt_1", "2000", &signature, b"{}"),
            Err(SigningError::Stale(1000))
        );
        assert_eq!(
            verify("evt_1", "x", &signature, b"{}"),
            Err(SigningError::BadHeader("webhook-timestamp"))
        );
        assert_eq!(
            verify("evt_1", "1000", "v2,abc", b"{}"),
            Err(SigningError::Mismatch)
        );
    }

    #[test]
    fn secrets_must_be_whsec_base64_of_enough_bytes() {
        assert_eq!(
            SigningSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_err(),
            SigningError::MissingPrefix
        );
        assert_eq!(
            SigningSecret::parse("whsec_!!!").unwrap_err(),
            SigningError::NotBase64
        );
        assert_eq!(
            SigningSecret::parse("whsec_c2hvcnQ=").unwrap_err(),
            SigningError::TooShort
        );
        let secret = SigningSecret::parse(SPEC_SECRET).unwrap();
        assert_eq!(secret.expose(), SPEC_SECRET);
        assert!(!format!("{secret:?}").contains("MfKQ"));
    }
}
