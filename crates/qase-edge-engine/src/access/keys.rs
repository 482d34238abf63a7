//! The team's signing keys: the certs document parsed ([`parse_jwks`]) and
//! the cache rule ([`KeyCache`]). Keys are kept for [`MAX_AGE_MS`]; an
//! unknown `kid` fetches them again (Access rotates its keys), but at most
//! once per [`REFETCH_FLOOR_MS`], so a flood of made-up `kid`s cannot
//! hammer the team's certs endpoint: within the floor they are refused
//! without a fetch.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

use crate::access::settings::AccessSettings;
use crate::access::AccessError;
use crate::http::outbound::{Request, USER_AGENT};

/// How long fetched keys are used before they are fetched again.
pub const MAX_AGE_MS: u64 = 60 * 60 * 1000;

/// The least time between two fetches of the keys.
pub const REFETCH_FLOOR_MS: u64 = 30 * 1000;

/// The smallest RSA modulus accepted, in bytes (2048 bits).
pub const MIN_MODULUS_BYTES: usize = 256;

/// The most of the certs document read.
const CERTS_READ_LIMIT: usize = 64 * 1024;

/// How long the certs fetch may take.
const CERTS_TIMEOUT: Duration = Duration::from_secs(5);

/// One RSA signing key of the team.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// Its id (the assertion header's `kid`).
    pub kid: String,
    /// The JWK to hand to `crypto.subtle.importKey("jwk", ...)`: only
    /// `kty`, `n`, `e` and `alg`, so nothing else of the document reaches
    /// the import.
    pub jwk: String,
}

/// The GET of the team's certs.
pub fn certs_request(settings: &AccessSettings) -> Request {
    Request::get(
        &settings.certs_url(),
        vec![("User-Agent".into(), USER_AGENT.into())],
        CERTS_TIMEOUT,
        CERTS_READ_LIMIT,
    )
}

/// The RSA signing keys of a certs document (`{"keys": [JWK, ...]}`);
/// keys of another type or algorithm, for encryption, without a `kid`, or
/// shorter than 2048 bits are left out. `None`: not such a document, or no
/// usable key in it.
pub fn parse_jwks(body: &[u8]) -> Option<Vec<PublicKey>> {
    // Read as a `Value`, not derived: see `token::Claims`.
    let jwks: Value = serde_json::from_slice(body).ok()?;
    let keys: Vec<PublicKey> = jwks
        .get("keys")?
        .as_array()?
        .iter()
        .filter_map(usable)
        .collect();
    (!keys.is_empty()).then_some(keys)
}

fn usable(jwk: &Value) -> Option<PublicKey> {
    let field = |key: &str| jwk.get(key).and_then(Value::as_str);
    if field("kty") != Some("RSA")
        || field("alg").is_some_and(|alg| alg != "RS256")
        || field("use").is_some_and(|usage| usage != "sig")
    {
        return None;
    }
    let (kid, n, e) = (
        field("kid").filter(|k| !k.is_empty())?,
        field("n")?,
        field("e")?,
    );
    let modulus = URL_SAFE_NO_PAD.decode(n).ok()?;
    let significant = modulus.iter().skip_while(|b| **b == 0).count();
    URL_SAFE_NO_PAD.decode(e).ok().filter(|e| !e.is_empty())?;
    if significant < MIN_MODULUS_BYTES {
        return None;
    }
    let jwk = serde_json::json!({"kty": "RSA", "n": n, "e": e, "alg": "RS256", "ext": true});
    Some(PublicKey {
        kid: kid.to_owned(),
        jwk: jwk.to_string(),
    })
}

/// What to do for a `kid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyLookup {
    /// Verify with this key.
    Found(PublicKey),
    /// Fetch the keys ([`certs_request`]), [`KeyCache::store`] them, and
    /// look again.
    Fetch,
    /// Refuse: the answer for the assertion.
    Refuse(AccessError),
}

/// An isolate's keys, when they were fetched, and when a fetch was last
/// begun (a fetch that failed counts: the floor holds either way).
#[derive(Debug, Clone, Default)]
pub struct KeyCache {
    keys: Vec<PublicKey>,
    fetched_at: Option<u64>,
    attempted_at: Option<u64>,
}

impl KeyCache {
    /// The key for `kid` at `now` (Unix ms). A [`KeyLookup::Fetch`] marks
    /// the fetch as begun, so concurrent lookups do not all fetch.
    pub fn lookup(&mut self, kid: &str, now: u64) -> KeyLookup {
        let cached = self.keys.iter().find(|key| key.kid == kid).cloned();
        let fresh = self
            .fetched_at
            .is_some_and(|at| now.saturating_sub(at) < MAX_AGE_MS);
        let floor_holds = self
            .attempted_at
            .is_some_and(|at| now.saturating_sub(at) < REFETCH_FLOOR_MS);
        match cached {
            Some(key) if fresh || floor_holds => KeyLookup::Found(key),
            _ if floor_holds => KeyLookup::Refuse(match self.fetched_at {
                Some(_) => AccessError::UnknownKey,
                None => AccessError::KeysUnavailable,
            }),
            _ => {
                self.attempted_at = Some(now);
                KeyLookup::Fetch
            }
        }
    }

    /// Keeps freshly fetched keys (replacing the old: a key the team no
    /// longer publishes is no longer trusted).
    pub fn store(&mut self, keys: Vec<PublicKey>, now: u64) {
        self.keys = keys;
        self.fetched_at = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn modulus(bytes: usize) -> String {
        URL_SAFE_NO_PAD.encode(vec![0xC5; bytes])
    }

    fn key(kid: &str) -> serde_json::Value {
        json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": modulus(256), "e": "AQAB"})
    }

    fn keys(kids: &[&str]) -> Vec<PublicKey> {
        let doc = json!({"keys": kids.iter().map(|k| key(k)).collect::<Vec<_>>()});
        parse_jwks(doc.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn the_certs_document_gives_its_rsa_signing_keys_only() {
        let mut no_alg = key("d");
        no_alg.as_object_mut().unwrap().remove("alg");
        let doc = json!({"keys": [
            key("a"),
            {"kty": "EC", "kid": "b", "crv": "P-256", "x": "AA", "y": "AA"},
            {"kty": "RSA", "kid": "c", "alg": "RS512", "n": modulus(256), "e": "AQAB"},
            no_alg,
            {"kty": "RSA", "kid": "e", "use": "enc", "n": modulus(256), "e": "AQAB"},
            {"kty": "RSA", "kid": "f", "n": modulus(128), "e": "AQAB"},
            {"kty": "RSA", "n": modulus(256), "e": "AQAB"},
            {"kty": "RSA", "kid": "g", "n": "not base64!", "e": "AQAB"},
        ], "public_cert": {"kid": "a", "cert": "..."}});
        let parsed = parse_jwks(doc.to_string().as_bytes()).unwrap();
        let kids: Vec<&str> = parsed.iter().map(|k| k.kid.as_str()).collect();
        assert_eq!(kids, ["a", "d"]);
        let jwk: serde_json::Value = serde_json::from_str(&parsed[0].jwk).unwrap();
        assert_eq!(
            jwk,
            json!({"kty": "RSA", "n": modulus(256), "e": "AQAB", "alg": "RS256", "ext": true})
        );
        assert_eq!(parse_jwks(b"{\"keys\": []}"), None);
        assert_eq!(parse_jwks(b"<html>"), None);
    }

    #[test]
    fn a_cold_cache_fetches_then_finds() {
        let mut cache = KeyCache::default();
        assert_eq!(cache.lookup("a", 0), KeyLookup::Fetch);
        cache.store(keys(&["a"]), 0);
        assert!(matches!(cache.lookup("a", 1), KeyLookup::Found(k) if k.kid == "a"));
    }

    #[test]
    fn an_unknown_kid_refetches_but_not_within_the_floor() {
        let mut cache = KeyCache::default();
        assert_eq!(cache.lookup("a", 0), KeyLookup::Fetch);
        cache.store(keys(&["a"]), 0);
        // Within the floor of that fetch: refused, no fetch.
        assert_eq!(
            cache.lookup("rotated", REFETCH_FLOOR_MS - 1),
            KeyLookup::Refuse(AccessError::UnknownKey)
        );
        // Past it: one fetch, and the floor holds for the next unknown kids.
        assert_eq!(cache.lookup("rotated", REFETCH_FLOOR_MS), KeyLookup::Fetch);
        for kid in ["x1", "x2", "x3"] {
            assert_eq!(
                cache.lookup(kid, REFETCH_FLOOR_MS + 1),
                KeyLookup::Refuse(AccessError::UnknownKey)
            );
        }
        cache.store(keys(&["rotated"]), REFETCH_FLOOR_MS + 2);
        assert!(matches!(
            cache.lookup("rotated", REFETCH_FLOOR_MS + 3),
            KeyLookup::Found(_)
        ));
        // The key the team no longer publishes is gone.
        assert_eq!(
            cache.lookup("a", REFETCH_FLOOR_MS + 3),
            KeyLookup::Refuse(AccessError::UnknownKey)
        );
    }

    #[test]
    fn stale_keys_are_fetched_again_and_used_while_a_fetch_fails() {
        let mut cache = KeyCache::default();
        assert_eq!(cache.lookup("a", 0), KeyLookup::Fetch);
        cache.store(keys(&["a"]), 0);
        assert!(matches!(
            cache.lookup("a", MAX_AGE_MS - 1),
            KeyLookup::Found(_)
        ));
        assert_eq!(cache.lookup("a", MAX_AGE_MS), KeyLookup::Fetch);
        // The fetch failed (nothing stored): the stale key serves until the
        // floor passes and a fetch is tried again.
        assert!(matches!(
            cache.lookup("a", MAX_AGE_MS + 1),
            KeyLookup::Found(_)
        ));
        assert_eq!(
            cache.lookup("a", MAX_AGE_MS + REFETCH_FLOOR_MS),
            KeyLookup::Fetch
        );
    }

    #[test]
    fn with_no_keys_ever_fetched_a_failed_fetch_is_unavailable() {
        let mut cache = KeyCache::default();
        assert_eq!(cache.lookup("a", 0), KeyLookup::Fetch);
        assert_eq!(
            cache.lookup("a", 1),
            KeyLookup::Refuse(AccessError::KeysUnavailable)
        );
        assert_eq!(cache.lookup("a", REFETCH_FLOOR_MS), KeyLookup::Fetch);
    }

    #[test]
    fn the_certs_request_goes_to_the_teams_origin() {
        let settings = AccessSettings {
            origin: "https://team.cloudflareaccess.com".into(),
            audience: "x".into(),
        };
        assert_eq!(
            certs_request(&settings).url,
            "https://team.cloudflareaccess.com/cdn-cgi/access/certs"
        );
    }
}
