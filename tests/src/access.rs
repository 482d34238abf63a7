//! A Cloudflare Access team standing in for the real one: it serves its
//! signing keys at `/cdn-cgi/access/certs` (counting the fetches) and signs
//! assertions for the tests, as Access does for the requests it lets
//! through. The keys are fixed test keys (`tests/fixtures/access/*.pk8`,
//! PKCS#8, made with `openssl genpkey -algorithm RSA`), never used anywhere
//! else; `ring` signs with them.

use crate::http::{read_request, Request};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::rsa::PublicKeyComponents;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;

use crate::WorkerOptions;

/// The audience tag of the test application.
pub const AUD: &str = "e2e-access-audience-tag";

/// The `kid` the team publishes its key under.
pub const KID: &str = "e2e-team-key";

const TEAM_KEY: &[u8] = include_bytes!("../fixtures/access/team-key.pk8");
const OTHER_KEY: &[u8] = include_bytes!("../fixtures/access/other-key.pk8");

/// Which key signs an assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    /// The key the team publishes.
    Team,
    /// A key the team does not publish (a forger's).
    Other,
}

/// The running team.
pub struct Team {
    port: u16,
    certs_fetches: Arc<AtomicUsize>,
}

impl Team {
    /// Starts the team on a free loopback port.
    pub fn start() -> Team {
        let certs_fetches = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&certs_fetches);
        let jwks = Arc::new(jwks().to_string());
        let port = crate::serve_on_loopback(move |stream| {
            serve(stream, Arc::clone(&counter), Arc::clone(&jwks))
        });
        Team {
            port,
            certs_fetches,
        }
    }

    /// The team's origin: `QASE_ACCESS_TEAM_DOMAIN` and the `iss` of its
    /// assertions.
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `options` with Access on for this team and [`AUD`].
    pub fn configure(&self, options: WorkerOptions) -> WorkerOptions {
        options
            .var("QASE_ACCESS_TEAM_DOMAIN", &self.origin())
            .var("QASE_ACCESS_AUD", AUD)
    }

    /// How often the certs were fetched.
    pub fn certs_fetches(&self) -> usize {
        self.certs_fetches.load(Ordering::SeqCst)
    }

    /// Good claims for a user with `email`, valid for ten minutes.
    pub fn user_claims(&self, email: &str) -> Value {
        let now = now();
        json!({
            "aud": [AUD], "iss": self.origin(), "email": email, "type": "app",
            "iat": now, "nbf": now, "exp": now + 600, "sub": "e2e-user", "country": "XX"
        })
    }

    /// Good claims for the service token with client id `common_name`.
    pub fn service_claims(&self, common_name: &str) -> Value {
        let now = now();
        json!({
            "aud": [AUD], "iss": self.origin(), "common_name": common_name, "sub": "",
            "type": "app", "iat": now, "nbf": now, "exp": now + 600
        })
    }

    /// A user's assertion as Access would add it.
    pub fn user_assertion(&self, email: &str) -> String {
        sign(&rs256(KID), &self.user_claims(email), Signer::Team)
    }
}

/// Access's edge in front of a Worker, for clients with a service token:
/// a request with the right `CF-Access-Client-Id` and
/// `CF-Access-Client-Secret` is passed on to the Worker without them and
/// with the team's assertion for that token (its client id as
/// `common_name`, as Access signs it); any other gets Access's own `403`
/// page, never reaching the Worker.
pub struct Edge {
    port: u16,
}

impl Edge {
    /// An edge for `team` in front of `upstream` (the Worker's origin),
    /// letting the service token `client_id`/`client_secret` through.
    pub fn start(team: &Team, upstream: &str, client_id: &str, client_secret: &str) -> Edge {
        let pass = Arc::new(Pass {
            upstream: upstream.trim_end_matches('/').to_owned(),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            assertion: sign(&rs256(KID), &team.service_claims(client_id), Signer::Team),
        });
        let port = crate::serve_on_loopback(move |stream| edge(stream, Arc::clone(&pass)));
        Edge { port }
    }

    /// The origin clients call instead of the Worker's.
    pub fn origin(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

struct Pass {
    upstream: String,
    client_id: String,
    client_secret: String,
    assertion: String,
}

/// The page Access answers a request it does not let through.
const ACCESS_FORBIDDEN: &str =
    "<!DOCTYPE html><title>Forbidden</title><p>You don't have permission to view this app. e2e.cloudflareaccess.com</p>";

async fn edge(mut stream: tokio::net::TcpStream, pass: Arc<Pass>) {
    let http = reqwest::Client::new();
    while let Some(request) = read_request(&mut stream).await {
        let header = |name: &str| request.headers.get(name).map(String::as_str);
        let admitted = header("cf-access-client-id") == Some(pass.client_id.as_str())
            && header("cf-access-client-secret") == Some(pass.client_secret.as_str());
        let (status, content_type, extra, body) = if admitted {
            forward(&http, &pass, &request).await
        } else {
            (
                403,
                "text/html".to_owned(),
                String::new(),
                ACCESS_FORBIDDEN.as_bytes().to_vec(),
            )
        };
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\n{extra}Content-Length: {}\r\n\r\n",
            body.len()
        );
        if stream.write_all(head.as_bytes()).await.is_err()
            || stream.write_all(&body).await.is_err()
        {
            return;
        }
    }
}

/// The request headers the edge does not pass on: the connection's own,
/// and the service token, which Access swaps for its assertion.
const NOT_PASSED_ON: [&str; 5] = [
    "host",
    "content-length",
    "connection",
    "cf-access-client-id",
    "cf-access-client-secret",
];

/// `request` passed on to the Worker with the assertion in place of the
/// service token: its status, content type, cursor header and body.
async fn forward(
    http: &reqwest::Client,
    pass: &Pass,
    request: &Request,
) -> (u16, String, String, Vec<u8>) {
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).unwrap();
    let mut outgoing = http
        .request(method, format!("{}{}", pass.upstream, request.target))
        .header("Cf-Access-Jwt-Assertion", &pass.assertion)
        .body(request.body.clone());
    for (name, value) in &request.headers {
        if !NOT_PASSED_ON.contains(&name.as_str()) {
            outgoing = outgoing.header(name, value);
        }
    }
    let response = outgoing.send().await.expect("the Worker answers the edge");
    let status = response.status().as_u16();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let content_type =
        header("content-type").unwrap_or_else(|| "application/octet-stream".to_owned());
    let extra = header("x-next-cursor")
        .map(|c| format!("x-next-cursor: {c}\r\n"))
        .unwrap_or_default();
    (
        status,
        content_type,
        extra,
        response.bytes().await.unwrap_or_default().to_vec(),
    )
}

/// Unix seconds now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An RS256 header naming `kid`.
pub fn rs256(kid: &str) -> Value {
    json!({"alg": "RS256", "kid": kid, "typ": "JWT"})
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

fn key_pair(signer: Signer) -> RsaKeyPair {
    let der = match signer {
        Signer::Team => TEAM_KEY,
        Signer::Other => OTHER_KEY,
    };
    RsaKeyPair::from_pkcs8(der).expect("the fixture is a PKCS#8 RSA key")
}

/// `header.claims` signed with RS256 by `signer`, whatever the header says.
pub fn sign(header: &Value, claims: &Value, signer: Signer) -> String {
    let input = format!("{}.{}", b64(header), b64(claims));
    let pair = key_pair(signer);
    let mut signature = vec![0; pair.public().modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// An unsigned `alg: none` token.
pub fn unsigned(claims: &Value) -> String {
    format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": KID})),
        b64(claims)
    )
}

/// An HS256 token keyed with the team's public key (the JWKS JSON), the
/// classic confusion attack on verifiers that trust the header's `alg`.
pub fn hs256_with_public_key(claims: &Value) -> String {
    use hmac::{Hmac, Mac};
    let input = format!(
        "{}.{}",
        b64(&json!({"alg": "HS256", "kid": KID})),
        b64(claims)
    );
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(jwks().to_string().as_bytes()).unwrap();
    mac.update(input.as_bytes());
    let signature = mac.finalize().into_bytes();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// The team's certs document, as Access publishes it.
fn jwks() -> Value {
    let public: PublicKeyComponents<Vec<u8>> = key_pair(Signer::Team).public().into();
    json!({"keys": [{
        "kid": KID, "kty": "RSA", "alg": "RS256", "use": "sig",
        "n": URL_SAFE_NO_PAD.encode(&public.n), "e": URL_SAFE_NO_PAD.encode(&public.e)
    }], "public_cert": {"kid": KID, "cert": "-----BEGIN CERTIFICATE-----\n..."}})
}

async fn serve(mut stream: tokio::net::TcpStream, fetches: Arc<AtomicUsize>, jwks: Arc<String>) {
    loop {
        let Some(Request { target, .. }) = read_request(&mut stream).await else {
            return;
        };
        let (status, body) = if target == "/cdn-cgi/access/certs" {
            fetches.fetch_add(1, Ordering::SeqCst);
            (200, jwks.as_str())
        } else {
            (404, "{}")
        };
        let response = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if stream.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}
