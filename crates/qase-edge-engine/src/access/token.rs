//! A `Cf-Access-Jwt-Assertion`, checked: split into its three base64url
//! parts ([`parse`]), the header held to RS256 with a `kid`, and the claims
//! held to this application and team and to their time window ([`check`]).
//! The signature itself is verified by the shell with WebCrypto, over
//! [`Assertion::signing_input`] with the key [`super::keys`] chose.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;

use crate::access::settings::AccessSettings;
use crate::access::{AccessError, Identity};

/// The longest assertion read (Access's are about 1 KB; more is not one).
pub const MAX_ASSERTION_BYTES: usize = 16 * 1024;

/// Seconds of clock difference allowed on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECONDS: u64 = 60;

/// The only signing algorithm accepted: Access signs with RS256, and a
/// verifier that takes the header's word for anything else can be fooled
/// (`none`, or HS256 keyed with the public key).
pub const ALGORITHM: &str = "RS256";

/// An assertion split into its parts, its header already checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    /// The signing key's id.
    pub kid: String,
    /// The claims, decoded.
    pub claims: Claims,
    /// `<header>.<payload>`, the bytes the signature covers.
    pub signing_input: Vec<u8>,
    /// The signature's bytes.
    pub signature: Vec<u8>,
}

/// The claims read from an assertion. Read from a `serde_json::Value`
/// rather than derived: each derived struct adds its own deserializer to
/// the Wasm, and `Value`'s is there already.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    /// The audience tags (`aud`, a string or a list).
    pub aud: Vec<String>,
    /// The issuer.
    pub iss: String,
    /// Expiry, Unix seconds (required).
    pub exp: Option<u64>,
    /// Not before, Unix seconds.
    pub nbf: Option<u64>,
    /// Issued at, Unix seconds.
    pub iat: Option<u64>,
    /// A user's email.
    pub email: Option<String>,
    /// A service token's client id.
    pub common_name: Option<String>,
    /// Groups, when the identity provider passes them on: `groups`, then
    /// `custom.groups`.
    pub groups: Vec<String>,
}

impl Claims {
    /// The claims of a decoded payload; `None` when it is not an object or
    /// a claim has the wrong type.
    pub fn from_json(value: &Value) -> Option<Claims> {
        let object = value.as_object()?;
        let text = |key: &str| match object.get(key) {
            None | Some(Value::Null) => Some(None),
            Some(value) => value.as_str().map(|s| Some(s.to_owned())),
        };
        let seconds = |key: &str| match object.get(key) {
            None | Some(Value::Null) => Some(None),
            Some(value) => value.as_u64().map(Some),
        };
        let mut groups = strings(object.get("groups"))?;
        groups.extend(strings(value.pointer("/custom/groups"))?);
        Some(Claims {
            aud: strings(object.get("aud"))?,
            iss: text("iss")?.unwrap_or_default(),
            exp: seconds("exp")?,
            nbf: seconds("nbf")?,
            iat: seconds("iat")?,
            email: text("email")?,
            common_name: text("common_name")?,
            groups,
        })
    }
}

/// A string or a list of strings as a list (absent: empty); `None` for
/// anything else.
fn strings(value: Option<&Value>) -> Option<Vec<String>> {
    match value {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::String(one)) => Some(vec![one.clone()]),
        Some(Value::Array(many)) => many.iter().map(|v| v.as_str().map(str::to_owned)).collect(),
        Some(_) => None,
    }
}

/// Splits and decodes an assertion, and checks its header: exactly three
/// unpadded base64url parts, JSON header and claims, `alg` RS256, a `kid`.
pub fn parse(token: &str) -> Result<Assertion, AccessError> {
    let token = token.trim();
    if token.len() > MAX_ASSERTION_BYTES {
        return Err(AccessError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AccessError::Malformed);
    };
    let json = |part: &str| {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| AccessError::Malformed)?;
        serde_json::from_slice::<Value>(&bytes).map_err(|_| AccessError::Malformed)
    };
    let header = json(header)?;
    if !header.is_object() {
        return Err(AccessError::Malformed);
    }
    if header.get("alg").and_then(Value::as_str) != Some(ALGORITHM) {
        return Err(AccessError::Algorithm);
    }
    let kid = header
        .get("kid")
        .and_then(Value::as_str)
        .filter(|kid| !kid.is_empty())
        .ok_or(AccessError::Algorithm)?
        .to_owned();
    let claims = Claims::from_json(&json(payload)?).ok_or(AccessError::Malformed)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| AccessError::Malformed)?;
    if signature.is_empty() {
        return Err(AccessError::Malformed);
    }
    let signed = token.len() - token.rsplit('.').next().map_or(0, str::len) - 1;
    Ok(Assertion {
        kid,
        claims,
        signing_input: token.as_bytes()[..signed].to_vec(),
        signature,
    })
}

/// Checks the claims against the application and the time (`now`, Unix
/// seconds): `aud` contains the audience tag, `iss` is the team's origin,
/// `exp` is required and not past, `nbf` and `iat` not ahead (each with
/// [`LEEWAY_SECONDS`]); the identity is the email, or else the service
/// token's common name.
pub fn check(
    claims: &Claims,
    settings: &AccessSettings,
    now: u64,
) -> Result<Identity, AccessError> {
    if !claims.aud.contains(&settings.audience) {
        return Err(AccessError::Audience);
    }
    if claims.iss != settings.issuer() {
        return Err(AccessError::Issuer);
    }
    let exp = claims.exp.ok_or(AccessError::Expired)?;
    if now > exp.saturating_add(LEEWAY_SECONDS) {
        return Err(AccessError::Expired);
    }
    let ahead = |at: Option<u64>| at.is_some_and(|at| at > now.saturating_add(LEEWAY_SECONDS));
    if ahead(claims.nbf) || ahead(claims.iat) {
        return Err(AccessError::NotYetValid);
    }
    identity(claims)
}

fn identity(claims: &Claims) -> Result<Identity, AccessError> {
    let present = |value: &Option<String>| value.clone().filter(|v| !v.trim().is_empty());
    if let Some(email) = present(&claims.email) {
        let groups = claims.groups.clone();
        return Ok(Identity::User { email, groups });
    }
    present(&claims.common_name)
        .map(|common_name| Identity::Service { common_name })
        .ok_or(AccessError::NoIdentity)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn settings() -> AccessSettings {
        AccessSettings {
            origin: "https://team.cloudflareaccess.com".into(),
            audience: "aud-tag".into(),
        }
    }

    fn b64(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
    }

    fn token(header: Value, claims: Value) -> String {
        format!(
            "{}.{}.{}",
            b64(&header),
            b64(&claims),
            URL_SAFE_NO_PAD.encode(b"sig")
        )
    }

    fn good_claims() -> Value {
        json!({
            "aud": ["aud-tag"], "iss": "https://team.cloudflareaccess.com",
            "exp": NOW + 600, "nbf": NOW - 10, "iat": NOW - 10,
            "email": "ana@example.com", "type": "app"
        })
    }

    fn rs256() -> Value {
        json!({"alg": "RS256", "kid": "k1", "typ": "JWT"})
    }

    fn checked(claims: Value) -> Result<Identity, AccessError> {
        let assertion = parse(&token(rs256(), claims))?;
        check(&assertion.claims, &settings(), NOW)
    }

    fn with(mut claims: Value, key: &str, value: Value) -> Value {
        claims[key] = value;
        claims
    }

    #[test]
    fn a_good_assertion_splits_into_its_parts() {
        let text = token(rs256(), good_claims());
        let assertion = parse(&text).unwrap();
        assert_eq!(assertion.kid, "k1");
        assert_eq!(assertion.signature, b"sig");
        let dot = text.rfind('.').unwrap();
        assert_eq!(assertion.signing_input, text.as_bytes()[..dot]);
        assert_eq!(
            checked(good_claims()),
            Ok(Identity::User {
                email: "ana@example.com".into(),
                groups: vec![]
            })
        );
    }

    #[test]
    fn only_rs256_with_a_kid_is_accepted() {
        for header in [
            json!({"alg": "none", "kid": "k1"}),
            json!({"alg": "HS256", "kid": "k1"}),
            json!({"alg": "RS512", "kid": "k1"}),
            json!({"alg": "rs256", "kid": "k1"}),
            json!({"alg": "RS256"}),
            json!({"alg": "RS256", "kid": ""}),
        ] {
            assert_eq!(
                parse(&token(header.clone(), good_claims())),
                Err(AccessError::Algorithm),
                "{header}"
            );
        }
    }

    #[test]
    fn anything_but_three_base64url_json_parts_is_malformed() {
        let good = token(rs256(), good_claims());
        let unsigned = good.rsplit_once('.').unwrap().0.to_owned();
        let padded = format!("{good}=");
        let long = "a".repeat(MAX_ASSERTION_BYTES + 1);
        for bad in [
            "",
            "abc",
            "a.b",
            unsigned.as_str(),
            &format!("{unsigned}."),
            &format!("{good}.x"),
            padded.as_str(),
            &format!(
                "{}.{}.c2ln",
                b64(&rs256()),
                URL_SAFE_NO_PAD.encode("not json")
            ),
            &format!(
                "{}.{}.c2ln",
                URL_SAFE_NO_PAD.encode("{"),
                b64(&good_claims())
            ),
            long.as_str(),
        ] {
            assert_eq!(parse(bad), Err(AccessError::Malformed), "{bad}");
        }
    }

    #[test]
    fn a_claim_of_the_wrong_type_is_malformed() {
        for (key, value) in [
            ("exp", json!("soon")),
            ("exp", json!(-1)),
            ("aud", json!(7)),
            ("aud", json!(["aud-tag", 7])),
            ("email", json!(["a@b"])),
            ("groups", json!({"a": 1})),
        ] {
            let claims = with(good_claims(), key, value.clone());
            assert_eq!(
                parse(&token(rs256(), claims)),
                Err(AccessError::Malformed),
                "{key}: {value}"
            );
        }
        assert_eq!(
            parse(&token(rs256(), json!(["not", "an", "object"]))),
            Err(AccessError::Malformed)
        );
    }

    #[test]
    fn the_audience_may_be_a_string_or_a_list_but_must_be_ours() {
        assert!(checked(with(good_claims(), "aud", json!("aud-tag"))).is_ok());
        assert!(checked(with(good_claims(), "aud", json!(["other", "aud-tag"]))).is_ok());
        for aud in [json!("other"), json!([]), json!(["aud-ta"]), json!(null)] {
            let claims = with(good_claims(), "aud", aud.clone());
            let result =
                parse(&token(rs256(), claims)).and_then(|a| check(&a.claims, &settings(), NOW));
            assert!(
                matches!(result, Err(AccessError::Audience | AccessError::Malformed)),
                "{aud}: {result:?}"
            );
        }
        let mut missing = good_claims();
        missing.as_object_mut().unwrap().remove("aud");
        assert_eq!(checked(missing), Err(AccessError::Audience));
    }

    #[test]
    fn the_issuer_must_be_the_teams_origin() {
        for iss in [
            "https://other.cloudflareaccess.com",
            "https://team.cloudflareaccess.com/",
            "http://team.cloudflareaccess.com",
            "",
        ] {
            assert_eq!(
                checked(with(good_claims(), "iss", json!(iss))),
                Err(AccessError::Issuer),
                "{iss}"
            );
        }
    }

    #[test]
    fn the_time_window_has_a_small_leeway_either_side() {
        let at = |key: &str, value: u64| checked(with(good_claims(), key, json!(value)));
        assert!(at("exp", NOW - LEEWAY_SECONDS).is_ok());
        assert_eq!(
            at("exp", NOW - LEEWAY_SECONDS - 1),
            Err(AccessError::Expired)
        );
        assert!(at("nbf", NOW + LEEWAY_SECONDS).is_ok());
        assert_eq!(
            at("nbf", NOW + LEEWAY_SECONDS + 1),
            Err(AccessError::NotYetValid)
        );
        assert!(at("iat", NOW + LEEWAY_SECONDS).is_ok());
        assert_eq!(
            at("iat", NOW + LEEWAY_SECONDS + 1),
            Err(AccessError::NotYetValid)
        );
        let mut no_exp = good_claims();
        no_exp.as_object_mut().unwrap().remove("exp");
        assert_eq!(checked(no_exp), Err(AccessError::Expired));
    }

    #[test]
    fn a_service_token_is_named_by_its_common_name_and_groups_are_read() {
        let mut service = good_claims();
        service.as_object_mut().unwrap().remove("email");
        service["common_name"] = json!("abc123.access");
        assert_eq!(
            checked(service.clone()),
            Ok(Identity::Service {
                common_name: "abc123.access".into()
            })
        );
        service["common_name"] = json!(" ");
        assert_eq!(checked(service), Err(AccessError::NoIdentity));
        let grouped = with(good_claims(), "groups", json!(["ops"]));
        let grouped = with(grouped, "custom", json!({"groups": ["qa"]}));
        assert_eq!(
            checked(grouped),
            Ok(Identity::User {
                email: "ana@example.com".into(),
                groups: vec!["ops".into(), "qa".into()]
            })
        );
    }
}
