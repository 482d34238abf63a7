//! Carries out Cloudflare Access's checks ([`engine::access`]) for `/api`
//! and `/console`: reads the `Cf-Access-Jwt-Assertion` header, fetches the
//! team's keys when the cache rule says so, and verifies the RS256
//! signature with WebCrypto, so that the Worker's Wasm holds no RSA code.

use std::cell::RefCell;

use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::Headers;
use worker::{js_sys, Env};

use crate::config;
use crate::http::error::ApiError;
use crate::http::outbound;
use engine::access::keys::{self, KeyCache, KeyLookup, PublicKey};
use engine::access::settings::{AccessGate, AccessSettings};
use engine::access::token::{self, Assertion};
use engine::access::{AccessError, Identity, ASSERTION_HEADER};
use engine::config::Effect;
use engine::http::outbound::Answer;

thread_local! {
    /// The isolate's copy of the team's keys (an isolate runs one request
    /// at a time on one thread).
    static KEYS: RefCell<KeyCache> = RefCell::new(KeyCache::default());
}

/// WebCrypto's RSASSA-PKCS1-v1_5 with SHA-256, which is what RS256 is.
const ALGORITHM: &str = r#"{"name":"RSASSA-PKCS1-v1_5","hash":"SHA-256"}"#;

#[wasm_bindgen]
extern "C" {
    /// `crypto.subtle`.
    type Subtle;

    #[wasm_bindgen(method, catch, js_name = importKey)]
    fn import_key(
        this: &Subtle,
        format: &str,
        key: &JsValue,
        algorithm: &JsValue,
        extractable: bool,
        usages: &js_sys::Array,
    ) -> Result<js_sys::Promise, JsValue>;

    #[wasm_bindgen(method, catch)]
    fn verify(
        this: &Subtle,
        algorithm: &JsValue,
        key: &JsValue,
        signature: &[u8],
        data: &[u8],
    ) -> Result<js_sys::Promise, JsValue>;
}

/// Admits a request to a path Access covers ([`engine::access::covers`]):
/// `None` when Access is off, the caller's identity when its assertion is
/// valid, the error to answer otherwise.
pub async fn admit(headers: &Headers, env: &Env) -> Result<Option<Identity>, ApiError> {
    let config = config::load(env)
        .as_ref()
        .map_err(|error| ApiError::Misconfigured(error.clone()))?;
    let settings = match &config.api.access {
        AccessGate::Off => return Ok(None),
        AccessGate::Required(settings) => settings,
        AccessGate::Locked => {
            let problem = config.problem(Effect::AccessLocked);
            return Err(problem.map_or(ApiError::Internal, |p| {
                ApiError::Misconfigured(p.error.clone())
            }));
        }
    };
    let assertion = headers
        .get(ASSERTION_HEADER)
        .ok()
        .flatten()
        .ok_or(AccessError::Missing)
        .and_then(|text| token::parse(&text))
        .map_err(ApiError::AccessDenied)?;
    let now = worker::Date::now().as_millis();
    let identity =
        token::check(&assertion.claims, settings, now / 1000).map_err(ApiError::AccessDenied)?;
    let key = key_for(settings, &assertion.kid, now).await?;
    if !verified(&key, &assertion).await {
        return Err(ApiError::AccessDenied(AccessError::Signature));
    }
    Ok(Some(identity))
}

/// The team's key named `kid`, fetched when the cache says so.
async fn key_for(settings: &AccessSettings, kid: &str, now: u64) -> Result<PublicKey, ApiError> {
    // The cache is never borrowed across the fetch's await.
    if KEYS.with_borrow_mut(|cache| cache.lookup(kid, now)) == KeyLookup::Fetch {
        match outbound::send(&keys::certs_request(settings)).await {
            Answer::Status {
                status: 200,
                body,
                truncated: false,
                ..
            } => match keys::parse_jwks(&body) {
                Some(found) => KEYS.with_borrow_mut(|cache| cache.store(found, now)),
                None => worker::console_error!("access: the team's certs hold no RSA signing key"),
            },
            Answer::Status { status, .. } => {
                worker::console_error!("access: certs fetch answered {status}")
            }
            Answer::Timeout(_) => worker::console_error!("access: certs fetch timed out"),
            Answer::NetworkError(error) => {
                worker::console_error!("access: certs fetch failed: {error}")
            }
        }
    }
    match KEYS.with_borrow_mut(|cache| cache.lookup(kid, now)) {
        KeyLookup::Found(key) => Ok(key),
        KeyLookup::Refuse(error) => Err(ApiError::AccessDenied(error)),
        // Only after the floor passed, which it cannot have within one request.
        KeyLookup::Fetch => Err(ApiError::AccessDenied(AccessError::KeysUnavailable)),
    }
}

/// Whether the signature verifies with the key (WebCrypto); a key that
/// cannot be imported verifies nothing.
async fn verified(key: &PublicKey, assertion: &Assertion) -> bool {
    match verify_with(key, assertion).await {
        Ok(valid) => valid,
        Err(error) => {
            worker::console_error!("access: signature check failed: {error:?}");
            false
        }
    }
}

async fn verify_with(key: &PublicKey, assertion: &Assertion) -> Result<bool, JsValue> {
    let crypto = js_sys::Reflect::get(&js_sys::global(), &"crypto".into())?;
    let subtle: Subtle = js_sys::Reflect::get(&crypto, &"subtle".into())?.unchecked_into();
    let algorithm = js_sys::JSON::parse(ALGORITHM)?;
    let jwk = js_sys::JSON::parse(&key.jwk)?;
    let usages = js_sys::Array::of1(&"verify".into());
    let imported =
        JsFuture::from(subtle.import_key("jwk", &jwk, &algorithm, false, &usages)?).await?;
    let valid = JsFuture::from(subtle.verify(
        &algorithm,
        &imported,
        &assertion.signature,
        &assertion.signing_input,
    )?)
    .await?;
    Ok(valid.as_bool() == Some(true))
}
