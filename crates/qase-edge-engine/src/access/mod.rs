//! Cloudflare Access in front of the operator API and the console: which
//! paths it guards ([`covers`]), its settings ([`settings`]), the checks of
//! a `Cf-Access-Jwt-Assertion` ([`token`]) and the team's signing keys with
//! their cache rule ([`keys`]).
//!
//! Every rule is here and host-tested; the shell only reads the header,
//! fetches the certs when [`keys::KeyCache::lookup`] says so, and verifies
//! the RS256 signature with WebCrypto (`crypto.subtle.verify`), so that no
//! RSA code is compiled into the Worker's Wasm.

pub mod keys;
pub mod settings;
pub mod token;

use std::fmt;

/// The request header Access adds to every request it lets through.
pub const ASSERTION_HEADER: &str = "Cf-Access-Jwt-Assertion";

/// Whether Access guards `path` (as [`crate::http::routes::path_of`] gives
/// it): `/api` and `/console`, with everything under them. Never the
/// ingest route, `/health` or `/metrics`: Qase and scrapers cannot sign in.
pub fn covers(path: &str) -> bool {
    ["/api", "/console"]
        .iter()
        .any(|prefix| path == *prefix || path.starts_with(&format!("{prefix}/")))
}

/// Who a valid assertion says is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// A person who signed in: their email and the groups the identity
    /// provider passed on (empty when it passes none).
    User {
        /// The `email` claim.
        email: String,
        /// The `groups` claim (top level or under `custom`).
        groups: Vec<String>,
    },
    /// An Access service token, by its `common_name` (the client id).
    Service {
        /// The `common_name` claim.
        common_name: String,
    },
}

impl Identity {
    /// How the identity is named in logs and the audit log.
    pub fn name(&self) -> &str {
        match self {
            Identity::User { email, .. } => email,
            Identity::Service { common_name } => common_name,
        }
    }
}

/// Why an assertion was refused. Every one answers `401`, except
/// [`AccessError::KeysUnavailable`] (`503`: the team's keys could not be
/// fetched, retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessError {
    /// No `Cf-Access-Jwt-Assertion` header.
    Missing,
    /// Not three base64url parts of JSON, or too long.
    Malformed,
    /// An `alg` other than `RS256` (`none`, `HS256`, ...), or no `kid`.
    Algorithm,
    /// `aud` does not contain this application's audience tag.
    Audience,
    /// `iss` is not the team's origin.
    Issuer,
    /// Past `exp` (beyond the leeway).
    Expired,
    /// Before `nbf` or `iat` (beyond the leeway).
    NotYetValid,
    /// Neither an `email` nor a `common_name`.
    NoIdentity,
    /// No key of the team has this `kid`, even after fetching them again.
    UnknownKey,
    /// The signature does not verify with the key.
    Signature,
    /// The team's keys could not be fetched and none are cached.
    KeysUnavailable,
}

impl AccessError {
    /// What is wrong, for the caller: says which check failed, never a
    /// claim's value.
    pub fn reason(self) -> &'static str {
        match self {
            AccessError::Missing => {
                "no Cf-Access-Jwt-Assertion header: sign in through Cloudflare Access"
            }
            AccessError::Malformed => "the Access assertion is not a well-formed JWT",
            AccessError::Algorithm => {
                "the Access assertion must be signed with RS256 and name its key (kid)"
            }
            AccessError::Audience => "the Access assertion is for another application (aud)",
            AccessError::Issuer => "the Access assertion is from another team (iss)",
            AccessError::Expired => "the Access assertion has expired: sign in again",
            AccessError::NotYetValid => "the Access assertion is not valid yet (nbf/iat)",
            AccessError::NoIdentity => "the Access assertion names no email and no service token",
            AccessError::UnknownKey => {
                "the Access assertion is signed with a key the team does not publish"
            }
            AccessError::Signature => "the Access assertion's signature does not verify",
            AccessError::KeysUnavailable => {
                "the Access team's signing keys could not be fetched; retry later"
            }
        }
    }
}

impl fmt::Display for AccessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

impl std::error::Error for AccessError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_covers_the_api_and_the_console_only() {
        for path in [
            "/api",
            "/api/events",
            "/api/openapi.json",
            "/console",
            "/console/app.js",
        ] {
            assert!(covers(path), "{path}");
        }
        for path in [
            "/webhooks/qase",
            "/health",
            "/metrics",
            "/",
            "/apis",
            "/consoles",
            "/x/api",
        ] {
            assert!(!covers(path), "{path}");
        }
    }

    #[test]
    fn an_identity_is_named_by_its_email_or_common_name() {
        let user = Identity::User {
            email: "ana@example.com".into(),
            groups: vec![],
        };
        let service = Identity::Service {
            common_name: "abc.access".into(),
        };
        assert_eq!(user.name(), "ana@example.com");
        assert_eq!(service.name(), "abc.access");
    }
}
