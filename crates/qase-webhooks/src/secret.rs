//! The `X-Qase-Secret` check: Qase's only authentication is a shared secret
//! sent verbatim in that header.
//!
//! Secrets are compared as SHA-256 digests with a constant-time equality, so
//! the comparison leaks neither the content nor the length of a configured
//! secret, and every configured secret is compared on every request, so the
//! time does not tell which one matched. A missing header and a wrong one
//! give the same [`Unauthorized`].
//!
//! The check has two steps, because a per-project secret can only be
//! checked once the envelope names the project:
//! [`SecretPolicy::authenticate`] (the header, before the body is read) and
//! [`Credential::admit`] (the body). Only `admit` makes a
//! [`VerifiedDelivery`], the type sinks accept.

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};
use thiserror::Error;

use crate::envelope::Envelope;
use crate::error::EnvelopeError;
use crate::event_id::EventId;

/// A configured secret. Its `Debug` never shows it; only its digest is kept.
#[derive(Clone)]
pub struct Secret {
    digest: [u8; 32],
}

/// A secret that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SecretError {
    /// An empty secret would accept a missing or empty header.
    #[error("a secret must not be empty")]
    Empty,
}

impl Secret {
    /// Makes a secret from its value, as typed into Qase's form. Surrounding
    /// spaces and tabs are not part of it, as they are not part of the
    /// header it is compared with (see [`trim_header_value`]).
    ///
    /// ```
    /// use qase_webhooks::{Secret, SecretError};
    ///
    /// let secret = Secret::new("s3cret").unwrap();
    /// assert_eq!(format!("{secret:?}"), "Secret([redacted])");
    /// assert_eq!(Secret::new("").unwrap_err(), SecretError::Empty);
    /// ```
    pub fn new(value: impl AsRef<[u8]>) -> Result<Secret, SecretError> {
        let value = trim_header_value(value.as_ref());
        if value.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Secret {
            digest: Sha256::digest(value).into(),
        })
    }

    /// A secret known only by its SHA-256 digest, as a token kept hashed in
    /// configuration is: [`Secret::verify`] then accepts the value whose
    /// digest this is (after the same trimming as [`Secret::new`]).
    ///
    /// ```
    /// use qase_webhooks::Secret;
    ///
    /// let digest = [0x2c, 0xf2, 0x4d, 0xba, 0x5f, 0xb0, 0xa3, 0x0e, 0x26, 0xe8, 0x3b, 0x2a,
    ///     0xc5, 0xb9, 0xe2, 0x9e, 0x1b, 0x16, 0x1e, 0x5c, 0x1f, 0xa7, 0x42, 0x5e, 0x73, 0x04,
    ///     0x33, 0x62, 0x93, 0x8b, 0x98, 0x24]; // SHA-256 of "hello"
    /// assert!(Secret::from_sha256(digest).verify(b"hello"));
    /// assert!(!Secret::from_sha256(digest).verify(b"hell"));
    /// ```
    pub fn from_sha256(digest: [u8; 32]) -> Secret {
        Secret { digest }
    }

    fn matches(&self, presented: &[u8; 32]) -> Choice {
        self.digest.ct_eq(presented)
    }

    /// Whether `presented` is this secret, compared in constant time (as
    /// digests, so neither content nor length leaks). For bearer tokens and
    /// other single-secret checks.
    ///
    /// ```
    /// use qase_webhooks::Secret;
    ///
    /// let token = Secret::new("a-long-admin-token").unwrap();
    /// assert!(token.verify(b"a-long-admin-token"));
    /// assert!(!token.verify(b"a-long-admin-toke"));
    /// ```
    pub fn verify(&self, presented: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(trim_header_value(presented)).into();
        bool::from(self.matches(&digest))
    }
}

/// `value` without the spaces and tabs around it: RFC 9110 §5.5 makes that
/// optional whitespace no part of a header's value. Its running time depends
/// only on how much whitespace there is, never on the secret.
///
/// ```
/// use qase_webhooks::trim_header_value;
///
/// assert_eq!(trim_header_value(b" \ts3cret \t"), b"s3cret");
/// assert_eq!(trim_header_value(b"a b"), b"a b");
/// ```
pub fn trim_header_value(value: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = value.iter().position(|b| !is_ows(b)).unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    &value[start..end]
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// The request is not authenticated. Deliberately carries no detail: a
/// missing header and a wrong secret must look the same to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("missing or wrong X-Qase-Secret")]
pub struct Unauthorized;

/// Which secrets a receiver accepts.
///
/// Global secrets (several at once, for rotation) cover every project that
/// has no secrets of its own; a project with its own secrets accepts only
/// those.
#[derive(Debug, Clone, Default)]
pub struct SecretPolicy {
    global: Vec<Secret>,
    projects: Vec<(String, Vec<Secret>)>,
    disabled: bool,
}

impl SecretPolicy {
    /// A policy accepting any of `secrets` for every project.
    ///
    /// Two secrets at once let the secret be rotated without refusing a
    /// delivery:
    ///
    /// ```
    /// use qase_webhooks::{Secret, SecretPolicy};
    ///
    /// let policy = SecretPolicy::new([
    ///     Secret::new("current").unwrap(),
    ///     Secret::new("next").unwrap(),
    /// ]);
    /// assert!(policy.authenticate(Some(b"current")).is_ok());
    /// assert!(policy.authenticate(Some(b"next")).is_ok());
    /// assert!(policy.authenticate(Some(b"previous")).is_err());
    /// ```
    pub fn new(secrets: impl IntoIterator<Item = Secret>) -> SecretPolicy {
        SecretPolicy {
            global: secrets.into_iter().collect(),
            ..SecretPolicy::default()
        }
    }

    /// A policy that accepts every request without a secret. For local
    /// experiments only; [`Credential::is_authenticated`] is then `false`.
    ///
    /// ```
    /// use qase_webhooks::SecretPolicy;
    ///
    /// let policy = SecretPolicy::disabled();
    /// let credential = policy.authenticate(None).unwrap();
    /// assert!(!credential.is_authenticated());
    /// ```
    pub fn disabled() -> SecretPolicy {
        SecretPolicy {
            disabled: true,
            ..SecretPolicy::default()
        }
    }

    /// Adds a secret for `project_code` only. Once a project has a secret of
    /// its own, the global secrets no longer cover it.
    ///
    /// ```
    /// use qase_webhooks::{AdmitError, Secret, SecretPolicy};
    ///
    /// let policy = SecretPolicy::new([Secret::new("global").unwrap()])
    ///     .with_project_secret("SHOP", Secret::new("shop-only").unwrap());
    /// let shop = br#"{"event_name":"run.deleted","timestamp":1,"payload":{"id":1},
    ///     "team_member_id":0,"project_code":"SHOP"}"#;
    ///
    /// let global = policy.authenticate(Some(b"global")).unwrap();
    /// assert!(matches!(global.admit(shop), Err(AdmitError::Unauthorized(_))));
    /// let own = policy.authenticate(Some(b"shop-only")).unwrap();
    /// assert!(own.admit(shop).is_ok());
    /// ```
    pub fn with_project_secret(mut self, project_code: &str, secret: Secret) -> SecretPolicy {
        match self
            .projects
            .iter_mut()
            .find(|(code, _)| code == project_code)
        {
            Some((_, secrets)) => secrets.push(secret),
            None => self.projects.push((project_code.to_owned(), vec![secret])),
        }
        self
    }

    /// Whether the policy has no secret at all (and is not disabled), so it
    /// would refuse every request.
    pub fn is_empty(&self) -> bool {
        !self.disabled && self.global.is_empty() && self.projects.is_empty()
    }

    /// Whether authentication is turned off.
    pub fn is_disabled(&self) -> bool {
        self.disabled
    }

    /// How many secrets are configured, global and per project.
    pub fn secret_count(&self) -> usize {
        self.global.len() + self.projects.iter().map(|(_, s)| s.len()).sum::<usize>()
    }

    /// Checks the `X-Qase-Secret` header (`None` when it is absent).
    ///
    /// Call it before reading the body. A missing header, an empty one and a
    /// wrong one all give the same [`Unauthorized`]; spaces and tabs around
    /// the value are ignored (see [`trim_header_value`]).
    ///
    /// ```
    /// use qase_webhooks::{Secret, SecretPolicy, Unauthorized};
    ///
    /// let policy = SecretPolicy::new([Secret::new("s3cret").unwrap()]);
    /// assert!(policy.authenticate(Some(b" s3cret ")).is_ok());
    /// assert_eq!(policy.authenticate(None).unwrap_err(), Unauthorized);
    /// assert_eq!(policy.authenticate(Some(b"s3cre")).unwrap_err(), Unauthorized);
    /// ```
    pub fn authenticate(&self, header: Option<&[u8]>) -> Result<Credential<'_>, Unauthorized> {
        if self.disabled {
            return Ok(Credential {
                policy: self,
                global: true,
                projects: Vec::new(),
            });
        }
        // Hash even a missing header, so that both paths do the same work.
        let header = trim_header_value(header.unwrap_or_default());
        let presented: [u8; 32] = Sha256::digest(header).into();
        let any_of = |secrets: &[Secret]| {
            secrets
                .iter()
                .fold(Choice::from(0), |found, s| found | s.matches(&presented))
        };
        let global = any_of(&self.global);
        let projects: Vec<Choice> = self.projects.iter().map(|(_, s)| any_of(s)).collect();
        let any = projects.iter().fold(global, |found, &p| found | p);
        // An empty header never matches: secrets are non-empty, and SHA-256
        // of "" equals no other value's digest.
        if !bool::from(any) {
            return Err(Unauthorized);
        }
        Ok(Credential {
            policy: self,
            global: bool::from(global),
            projects: projects.into_iter().map(bool::from).collect(),
        })
    }
}

/// A request whose header matched some configured secret. Which projects it
/// may deliver for is settled by [`Credential::admit`].
#[derive(Debug)]
pub struct Credential<'p> {
    policy: &'p SecretPolicy,
    global: bool,
    /// Parallel to `policy.projects`: whether that project's secrets matched.
    projects: Vec<bool>,
}

/// Why an authenticated request's body was not admitted.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AdmitError {
    /// The body is not a valid envelope.
    #[error(transparent)]
    Envelope(#[from] EnvelopeError),
    /// The secret is not one accepted for the envelope's project.
    #[error(transparent)]
    Unauthorized(#[from] Unauthorized),
}

impl<'p> Credential<'p> {
    /// Whether a secret was actually checked (false when authentication is disabled).
    pub fn is_authenticated(&self) -> bool {
        !self.policy.disabled
    }

    /// Parses the body's envelope and checks that this credential may
    /// deliver for its project.
    ///
    /// ```
    /// use qase_webhooks::{AdmitError, Secret, SecretPolicy};
    ///
    /// let policy = SecretPolicy::new([Secret::new("s3cret").unwrap()]);
    /// let credential = policy.authenticate(Some(b"s3cret")).unwrap();
    ///
    /// let body = br#"{"event_name":"run.completed","timestamp":1700000000,
    ///     "payload":{"id":7,"cases":3,"passed":3,"failed":0,"blocked":0,"duration":42},
    ///     "team_member_id":12,"project_code":"DEMO"}"#;
    /// let delivery = credential.admit(body).unwrap();
    /// assert_eq!(delivery.body(), body); // the exact bytes, to store
    /// assert_eq!(delivery.envelope().event_name.as_str(), "run.completed");
    ///
    /// match credential.admit(b"{not json") {
    ///     Err(AdmitError::Envelope(error)) => assert!(error.is_syntax()),
    ///     other => panic!("{other:?}"),
    /// }
    /// ```
    pub fn admit<'b>(&self, body: &'b [u8]) -> Result<VerifiedDelivery<'b>, AdmitError> {
        let envelope = Envelope::parse(body)?;
        if !self.policy.disabled {
            let own = self
                .policy
                .projects
                .iter()
                .position(|(code, _)| *code == envelope.project_code);
            let allowed = match own {
                Some(index) => self.projects[index],
                None => self.global,
            };
            if !allowed {
                return Err(Unauthorized.into());
            }
        }
        Ok(VerifiedDelivery {
            id: EventId::of(body),
            body,
            envelope,
            authenticated: self.is_authenticated(),
        })
    }
}

/// A delivery whose secret was checked and whose envelope is valid: the only
/// thing a sink should accept. It can only be made by [`Credential::admit`].
#[derive(Debug, Clone)]
pub struct VerifiedDelivery<'b> {
    id: EventId,
    body: &'b [u8],
    envelope: Envelope<'b>,
    authenticated: bool,
}

impl<'b> VerifiedDelivery<'b> {
    /// The delivery's id, derived from its bytes.
    pub fn id(&self) -> EventId {
        self.id
    }

    /// The exact bytes Qase sent: store and forward these, never a re-serialisation.
    pub fn body(&self) -> &'b [u8] {
        self.body
    }

    /// The parsed envelope.
    pub fn envelope(&self) -> &Envelope<'b> {
        &self.envelope
    }

    /// Whether a secret was checked (false when authentication is disabled).
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(project: &str) -> Vec<u8> {
        format!(
            r#"{{"event_name":"run.deleted","timestamp":1,"payload":{{"id":1}},"team_member_id":0,"project_code":"{project}"}}"#
        )
        .into_bytes()
    }

    fn secret(value: &str) -> Secret {
        Secret::new(value).unwrap()
    }

    #[test]
    fn a_single_secret_verifies_only_itself() {
        let token = secret("a-long-admin-token");
        assert!(token.verify(b"a-long-admin-token"));
        assert!(!token.verify(b"a-long-admin-toke"));
        assert!(!token.verify(b""));
    }

    #[test]
    fn empty_secrets_cannot_be_made() {
        assert_eq!(Secret::new("").unwrap_err(), SecretError::Empty);
        assert_eq!(Secret::new(" \t ").unwrap_err(), SecretError::Empty);
    }

    #[test]
    fn whitespace_around_the_header_value_is_not_part_of_it() {
        let policy = SecretPolicy::new([secret("s3cret-value")]);
        for presented in ["s3cret-value ", " s3cret-value", "\ts3cret-value \t "] {
            assert!(
                policy.authenticate(Some(presented.as_bytes())).is_ok(),
                "{presented:?}"
            );
        }
        // Configured with stray spaces, the secret is the same one.
        assert!(secret("  s3cret-value\t").verify(b"s3cret-value"));
        assert!(secret("s3cret-value").verify(b" s3cret-value "));
        assert_eq!(trim_header_value(b"  "), b"");
        assert_eq!(trim_header_value(b" a b "), b"a b");
    }

    #[test]
    fn debug_shows_neither_the_secret_nor_its_digest() {
        // Only the digest is kept, so the risk is a derived `Debug` printing
        // it (enough for an offline guess): the output is fixed text.
        assert_eq!(format!("{:?}", secret("hunter2")), "Secret([redacted])");
        let policy = SecretPolicy::new([secret("hunter2")]).with_project_secret("P", secret("s3"));
        let shown = format!("{policy:?}");
        assert_eq!(shown.matches("Secret([redacted])").count(), 2, "{shown}");
        assert!(!shown.chars().any(|c| c.is_ascii_digit()), "{shown}");
    }

    #[test]
    fn the_configured_secret_is_accepted() {
        let policy = SecretPolicy::new([secret("right")]);
        let credential = policy.authenticate(Some(b"right")).unwrap();
        let body = body("DEMO");
        let delivery = credential.admit(&body).unwrap();
        assert!(delivery.is_authenticated());
        assert_eq!(delivery.envelope().project_code, "DEMO");
    }

    #[test]
    fn near_misses_are_refused() {
        let policy = SecretPolicy::new([secret("s3cret-value")]);
        for presented in [
            "",
            "s3cret-valu",
            // Only spaces and tabs around the value are optional whitespace.
            "s3cret-value\n",
            "\u{a0}s3cret-value",
            "s3cret -value",
            "S3CRET-VALUE",
            "s3cret-value2",
            "xs3cret-value",
            "s3cret-value,s3cret-value",
        ] {
            assert_eq!(
                policy.authenticate(Some(presented.as_bytes())).unwrap_err(),
                Unauthorized,
                "{presented:?}"
            );
        }
        assert_eq!(policy.authenticate(None).unwrap_err(), Unauthorized);
    }

    #[test]
    fn rotation_accepts_every_configured_secret() {
        let policy = SecretPolicy::new([secret("old"), secret("new")]);
        assert!(policy.authenticate(Some(b"old")).is_ok());
        assert!(policy.authenticate(Some(b"new")).is_ok());
        assert!(policy.authenticate(Some(b"other")).is_err());
    }

    #[test]
    fn a_project_with_its_own_secret_accepts_only_that() {
        let policy =
            SecretPolicy::new([secret("global")]).with_project_secret("PRIV", secret("private"));
        let global = policy.authenticate(Some(b"global")).unwrap();
        assert!(global.admit(&body("OPEN")).is_ok());
        assert_eq!(
            global.admit(&body("PRIV")).unwrap_err(),
            AdmitError::Unauthorized(Unauthorized)
        );
        let private = policy.authenticate(Some(b"private")).unwrap();
        assert!(private.admit(&body("PRIV")).is_ok());
        assert_eq!(
            private.admit(&body("OPEN")).unwrap_err(),
            AdmitError::Unauthorized(Unauthorized)
        );
    }

    #[test]
    fn an_empty_policy_refuses_everything() {
        let policy = SecretPolicy::new([]);
        assert!(policy.is_empty());
        assert!(policy.authenticate(None).is_err());
        assert!(policy.authenticate(Some(b"")).is_err());
    }

    #[test]
    fn a_disabled_policy_admits_without_a_secret_but_says_so() {
        let policy = SecretPolicy::disabled();
        let credential = policy.authenticate(None).unwrap();
        let body = body("ANY");
        let delivery = credential.admit(&body).unwrap();
        assert!(!delivery.is_authenticated());
    }

    #[test]
    fn envelope_errors_come_after_authentication() {
        let policy = SecretPolicy::new([secret("right")]);
        let credential = policy.authenticate(Some(b"right")).unwrap();
        assert!(matches!(
            credential.admit(b"{").unwrap_err(),
            AdmitError::Envelope(EnvelopeError::Syntax { .. })
        ));
    }
}
