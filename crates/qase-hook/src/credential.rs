//! How `qase-hook api` and `qase-hook wait` prove who they are to
//! qase-edge: a bearer token (QASE_ADMIN_TOKEN or one of QASE_API_TOKENS),
//! a Cloudflare Access service token, or both.
//!
//! An Access service token is not seen by the Worker at all: Access, in
//! front of it, checks `CF-Access-Client-Id` and `CF-Access-Client-Secret`
//! and lets the request through with its own signed assertion
//! (`Cf-Access-Jwt-Assertion`, the token's client id as `common_name`),
//! which the Worker verifies and maps to a role by QASE_ACCESS_ROLES. Both
//! at once is for an Access application whose service token only opens
//! the door, and a named bearer token that carries the role.

use clap::Args;

use crate::Failure;

/// The credential options shared by `api` and `wait`.
#[derive(Args, Clone, Default)]
pub struct CredentialArgs {
    /// A bearer token: the Worker's QASE_ADMIN_TOKEN, or a token of its QASE_API_TOKENS.
    #[arg(long, env = "QASE_ADMIN_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// The client id of a Cloudflare Access service token (with --access-client-secret),
    /// when Access guards the API.
    #[arg(
        long,
        env = "QASE_ACCESS_CLIENT_ID",
        requires = "access_client_secret",
        global = true
    )]
    pub access_client_id: Option<String>,
    /// The client secret of that service token.
    #[arg(
        long,
        env = "QASE_ACCESS_CLIENT_SECRET",
        hide_env_values = true,
        requires = "access_client_id",
        global = true
    )]
    pub access_client_secret: Option<String>,
}

/// What to send on every request: a bearer token, an Access service
/// token, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    bearer: Option<String>,
    access: Option<(String, String)>,
}

impl Credential {
    /// The credential the options give, or a usage error naming both ways
    /// when they give none (or an empty value, which no Worker accepts).
    pub fn from_args(args: &CredentialArgs) -> Result<Credential, Failure> {
        let given = |value: &Option<String>, name: &str| match value.as_deref().map(str::trim) {
            Some("") => Err(Failure::usage(format!("{name} is empty"))),
            Some(value) => Ok(Some(value.to_owned())),
            None => Ok(None),
        };
        let bearer = given(&args.token, "--token (QASE_ADMIN_TOKEN)")?;
        let id = given(&args.access_client_id, "--access-client-id")?;
        let secret = given(&args.access_client_secret, "--access-client-secret")?;
        let access = match (id, secret) {
            (Some(id), Some(secret)) => Some((id, secret)),
            (None, None) => None,
            // clap's `requires` refuses this before; kept for callers that build the args.
            _ => {
                return Err(Failure::usage(
                    "--access-client-id and --access-client-secret go together",
                ))
            }
        };
        if bearer.is_none() && access.is_none() {
            return Err(Failure::usage(
                "no credential: pass --token (or set QASE_ADMIN_TOKEN) with the Worker's QASE_ADMIN_TOKEN \
                 or a token of its QASE_API_TOKENS, or, behind Cloudflare Access, \
                 --access-client-id and --access-client-secret (QASE_ACCESS_CLIENT_ID, QASE_ACCESS_CLIENT_SECRET) \
                 with a service token of the Access application",
            ));
        }
        Ok(Credential { bearer, access })
    }

    /// The headers that carry it, in the order they are sent.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = Vec::new();
        if let Some((id, secret)) = &self.access {
            headers.push(("CF-Access-Client-Id", id.clone()));
            headers.push(("CF-Access-Client-Secret", secret.clone()));
        }
        if let Some(token) = &self.bearer {
            headers.push(("Authorization", format!("Bearer {token}")));
        }
        headers
    }

    /// `request` with the credential's headers.
    pub fn apply(&self, mut request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        for (name, value) in self.headers() {
            request = request.header(name, value);
        }
        request
    }

    /// A hint for an answer that Access, not the Worker, gave: Access
    /// answers a request without a good service token with its own page
    /// (`403`, or a redirect to its sign-in, which ends at `url`), never
    /// with qase-edge's JSON.
    pub fn access_hint(&self, status: u16, url: &str, text: &str) -> Option<&'static str> {
        let from_access = url.contains("/cdn-cgi/access/")
            || text.contains("cloudflareaccess.com")
            || (status == 403 && !text.trim_start().starts_with('{'));
        if !from_access {
            return None;
        }
        Some(match self.access {
            None => "Cloudflare Access guards this Worker: pass --access-client-id and --access-client-secret with a service token of its Access application",
            Some(_) => "Cloudflare Access refused the service token: check --access-client-id and --access-client-secret, and that the application's policy includes the token (a Service Auth rule)",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(token: Option<&str>, id: Option<&str>, secret: Option<&str>) -> CredentialArgs {
        CredentialArgs {
            token: token.map(str::to_owned),
            access_client_id: id.map(str::to_owned),
            access_client_secret: secret.map(str::to_owned),
        }
    }

    fn headers(args: &CredentialArgs) -> Vec<(&'static str, String)> {
        Credential::from_args(args).ok().unwrap().headers()
    }

    #[test]
    fn a_bearer_token_is_an_authorization_header() {
        assert_eq!(
            headers(&args(Some("t0123456789abcdef"), None, None)),
            [("Authorization", "Bearer t0123456789abcdef".to_owned())]
        );
    }

    #[test]
    fn a_service_token_is_accesss_two_headers_and_no_bearer() {
        assert_eq!(
            headers(&args(None, Some("abc.access"), Some("s3cret"))),
            [
                ("CF-Access-Client-Id", "abc.access".to_owned()),
                ("CF-Access-Client-Secret", "s3cret".to_owned()),
            ]
        );
    }

    #[test]
    fn both_are_sent_together() {
        let sent = headers(&args(Some("tok"), Some("abc.access"), Some("s3cret")));
        let names: Vec<_> = sent.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            [
                "CF-Access-Client-Id",
                "CF-Access-Client-Secret",
                "Authorization"
            ]
        );
    }

    #[test]
    fn none_half_or_empty_is_a_usage_error_that_names_the_ways_in() {
        let none = Credential::from_args(&args(None, None, None))
            .err()
            .unwrap();
        assert_eq!(none.code, 2);
        assert!(none.message.contains("--token"), "{}", none.message);
        assert!(
            none.message.contains("--access-client-id"),
            "{}",
            none.message
        );
        let half = Credential::from_args(&args(None, Some("abc"), None))
            .err()
            .unwrap();
        assert!(half.message.contains("go together"), "{}", half.message);
        let empty = Credential::from_args(&args(Some("  "), None, None))
            .err()
            .unwrap();
        assert!(empty.message.contains("empty"), "{}", empty.message);
    }

    #[test]
    fn accesss_own_refusals_get_a_hint_and_the_workers_do_not() {
        let bearer = Credential::from_args(&args(Some("tok"), None, None))
            .ok()
            .unwrap();
        let service = Credential::from_args(&args(None, Some("a"), Some("b")))
            .ok()
            .unwrap();
        let api = "https://edge.example.com/api/events";
        let page = "<html><title>Forbidden</title> https://team.cloudflareaccess.com </html>";
        let hint = bearer.access_hint(403, api, page).unwrap();
        assert!(hint.contains("pass --access-client-id"), "{hint}");
        let hint = service.access_hint(403, api, page).unwrap();
        assert!(hint.contains("refused the service token"), "{hint}");
        assert!(bearer.access_hint(403, api, "Forbidden").is_some());
        // Redirected to Access's sign-in page: a 200 that is not the API's.
        let login = "https://team.cloudflareaccess.com/cdn-cgi/access/login/edge.example.com";
        assert!(bearer.access_hint(200, login, "<html>").is_some());
        // qase-edge's own JSON refusal (a role that cannot) is the Worker's word.
        let ours = r#"{"error":"forbidden","message":"replay needs the operator role"}"#;
        assert_eq!(service.access_hint(403, api, ours), None);
        assert_eq!(
            bearer.access_hint(401, api, r#"{"error":"unauthorized"}"#),
            None
        );
        assert_eq!(bearer.access_hint(200, api, "{}"), None);
    }
}
