//! Who may do what on the operator API: the two roles, the credentials that
//! carry one (the admin token, named API tokens from `QASE_API_TOKENS`,
//! Cloudflare Access identities through `QASE_ACCESS_ROLES`), and the role
//! every route needs ([`need`], one typed table). The shell finds the
//! [`Principal`] and asks [`authorize`]; it decides nothing itself.

use qase_webhooks::Secret;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::access::Identity;
use crate::config::bindings;
use crate::config::lookup::Lookup;
use crate::config::problems::{invalid, ConfigError};
use crate::http::routes::Route;

/// What a caller may do. `Operator` may do all a `Viewer` may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything in its scope.
    Viewer,
    /// Also replays, pauses and resumes, deletes and migrates.
    Operator,
}

impl Role {
    /// The role's name, as in the settings and answers.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
        }
    }

    fn parse(text: &str) -> Option<Role> {
        match text {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            _ => None,
        }
    }
}

/// Which projects a caller sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every project.
    All,
    /// These project codes only.
    Projects(Vec<String>),
}

impl Scope {
    /// The codes to narrow every query to; `None`: every project.
    pub fn codes(&self) -> Option<Vec<String>> {
        match self {
            Scope::All => None,
            Scope::Projects(codes) => Some(codes.clone()),
        }
    }

    /// Whether an event or run of `project` is in scope: one outside it is
    /// answered as if it did not exist (`404`).
    pub fn admits(&self, project: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Projects(codes) => codes.iter().any(|code| code == project),
        }
    }
}

/// The project of a run route's `{project}/{id}`.
pub fn run_project(id: &str) -> &str {
    id.split_once('/').map_or(id, |(project, _)| project)
}

/// Which kind of credential a caller came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Credential {
    /// `QASE_ADMIN_TOKEN` as bearer token.
    AdminToken,
    /// A named token of `QASE_API_TOKENS` as bearer token.
    ApiToken,
    /// A Cloudflare Access user (its email).
    AccessUser,
    /// A Cloudflare Access service token (its common name).
    AccessService,
}

/// `GET /api/me`: who is calling, as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    /// [`Principal::name`].
    pub name: String,
    /// [`Principal::credential`].
    pub credential: Credential,
    /// [`Principal::role`].
    pub role: Role,
    /// The project codes in scope; `None`: every project.
    pub projects: Option<Vec<String>>,
}

impl From<&Principal> for Me {
    fn from(principal: &Principal) -> Me {
        Me {
            name: principal.name.clone(),
            credential: principal.credential,
            role: principal.role,
            projects: match &principal.scope {
                Scope::All => None,
                Scope::Projects(codes) => Some(codes.clone()),
            },
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Who: `admin`, the token's name, the email or the common name.
    pub name: String,
    /// Through what.
    pub credential: Credential,
    /// With which role.
    pub role: Role,
    /// Over which projects.
    pub scope: Scope,
}

/// A named API token: only its SHA-256 is configured, never its value.
#[derive(Debug, Clone)]
pub struct NamedToken {
    /// Its name (in the audit log and `GET /api/me`).
    pub name: String,
    /// The token, as its digest.
    pub secret: Secret,
    /// Its role.
    pub role: Role,
    /// Its projects.
    pub scope: Scope,
}

/// What an Access rule matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matcher {
    /// A user's email, in any letter case; `*@example.com` matches a domain.
    Email(String),
    /// A group the identity provider passed on.
    Group(String),
    /// A service token's common name (its client id).
    Service(String),
}

/// One rule of `QASE_ACCESS_ROLES`: the first that matches gives the role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessRule {
    /// Whom it is for.
    pub matcher: Matcher,
    /// The role it gives.
    pub role: Role,
    /// The projects it gives.
    pub scope: Scope,
}

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    /// The least role.
    pub role: Role,
    /// Whether a project-scoped caller is refused: the route reaches across
    /// projects (destinations, pause and resume, the KV migration).
    pub unscoped: bool,
}

const fn need_of(role: Role, unscoped: bool) -> Option<Need> {
    Some(Need { role, unscoped })
}

/// The role every route needs; `None` for routes outside the operator
/// API's authorization (ingest, health, metrics and the OpenAPI document
/// have their own or none).
pub const fn need(route: Route) -> Option<Need> {
    use Role::{Operator, Viewer};
    match route {
        Route::Ingest | Route::Health | Route::Metrics | Route::OpenApi => None,
        Route::Me => need_of(Viewer, false),
        // Each narrowed to the caller's projects (an event, dead letter or
        // run of another project is answered `404`).
        Route::ListEvents
        | Route::GetEvent
        | Route::GetEventBody
        | Route::ListDeadLetters
        | Route::Stats
        | Route::Export
        | Route::ListRuns
        | Route::GetRun
        | Route::WaitRun => need_of(Viewer, false),
        Route::ReplayEvent | Route::DeleteEvent | Route::ReplayDeadLetter | Route::BulkReplay => {
            need_of(Operator, false)
        }
        // Across projects: for callers with every project only.
        Route::ListDestinations => need_of(Viewer, true),
        Route::ListAudit
        | Route::PauseDestination
        | Route::ResumeDestination
        | Route::MigrateKv => need_of(Operator, true),
    }
}

/// Why a caller may not take a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Forbidden {
    /// The role the route needs.
    pub needed: Role,
    /// The caller's role.
    pub held: Role,
    /// The route needs a caller with every project.
    pub unscoped: bool,
}

/// Whether `principal` may take `route`.
pub fn authorize(principal: &Principal, route: Route) -> Result<(), Forbidden> {
    let Some(need) = need(route) else {
        return Ok(());
    };
    let scoped = principal.scope != Scope::All;
    if principal.role < need.role || (need.unscoped && scoped) {
        return Err(Forbidden {
            needed: need.role,
            held: principal.role,
            unscoped: need.unscoped && scoped,
        });
    }
    Ok(())
}

/// The caller a bearer token names: the admin token (operator, every
/// project) or a named token. Every named token is compared (in constant
/// time), so how long it takes does not tell which matched.
pub fn by_token(
    presented: &str,
    admin: Option<&Secret>,
    tokens: &[NamedToken],
) -> Option<Principal> {
    if admin.is_some_and(|admin| admin.verify(presented.as_bytes())) {
        return Some(Principal {
            name: "admin".into(),
            credential: Credential::AdminToken,
            role: Role::Operator,
            scope: Scope::All,
        });
    }
    let mut found = None;
    for token in tokens {
        if token.secret.verify(presented.as_bytes()) && found.is_none() {
            found = Some(Principal {
                name: token.name.clone(),
                credential: Credential::ApiToken,
                role: token.role,
                scope: token.scope.clone(),
            });
        }
    }
    found
}

/// The caller an Access identity is, by the first rule that matches it;
/// `None`: no rule gives it a role.
pub fn by_identity(identity: &Identity, rules: &[AccessRule]) -> Option<Principal> {
    let rule = rules.iter().find(|rule| matches(&rule.matcher, identity))?;
    let credential = match identity {
        Identity::User { .. } => Credential::AccessUser,
        Identity::Service { .. } => Credential::AccessService,
    };
    Some(Principal {
        name: identity.name().to_owned(),
        credential,
        role: rule.role,
        scope: rule.scope.clone(),
    })
}

fn matches(matcher: &Matcher, identity: &Identity) -> bool {
    match (matcher, identity) {
        (Matcher::Email(want), Identity::User { email, .. }) => {
            let email = email.to_ascii_lowercase();
            match want.strip_prefix('*') {
                Some(domain) => email.ends_with(domain),
                None => email == *want,
            }
        }
        (Matcher::Group(want), Identity::User { groups, .. }) => groups.contains(want),
        (Matcher::Service(want), Identity::Service { common_name }) => common_name == want,
        _ => false,
    }
}

/// `QASE_API_TOKENS`: a JSON list of `{"name", "sha256", "role",
/// "projects"?}`, `sha256` the hex digest of the token (`printf %s "$TOKEN"
/// | sha256sum`). Unset: none.
pub fn api_tokens(lookup: &Lookup) -> Result<Vec<NamedToken>, ConfigError> {
    let key = bindings::API_TOKENS;
    let Some(text) = lookup.get(key) else {
        return Ok(Vec::new());
    };
    let items = json_list(key, &text)?;
    let mut tokens: Vec<NamedToken> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = |problem: &str| invalid(key, format!("entry {i}: {problem}"));
        let name = item
            .get("name")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|n| !n.is_empty() && n.len() <= 64)
            .ok_or_else(|| at("`name` must be a string of 1 to 64 characters"))?;
        if tokens.iter().any(|t| t.name == name) {
            return Err(at("`name` is used twice"));
        }
        let digest = item
            .get("sha256")
            .and_then(Value::as_str)
            .and_then(hex_digest)
            .ok_or_else(|| at("`sha256` must be the 64 hex digits of the token's SHA-256 (never the token itself)"))?;
        let (role, scope) = role_and_scope(item).map_err(|problem| at(&problem))?;
        tokens.push(NamedToken {
            name: name.to_owned(),
            secret: Secret::from_sha256(digest),
            role,
            scope,
        });
    }
    Ok(tokens)
}

/// `QASE_ACCESS_ROLES`: a JSON list of rules, each with one of `"email"`
/// (`*@example.com` for a domain), `"group"` or `"service"`, a `"role"`
/// and optional `"projects"`. Unset: no Access identity has a role.
pub fn access_roles(lookup: &Lookup) -> Result<Vec<AccessRule>, ConfigError> {
    let key = bindings::ACCESS_ROLES;
    let Some(text) = lookup.get(key) else {
        return Ok(Vec::new());
    };
    let items = json_list(key, &text)?;
    let mut rules = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = |problem: &str| invalid(key, format!("entry {i}: {problem}"));
        let text = |name: &str| {
            item.get(name)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        let matcher = match (text("email"), text("group"), text("service")) {
            (Some(email), None, None) => Matcher::Email(email.to_ascii_lowercase()),
            (None, Some(group), None) => Matcher::Group(group.to_owned()),
            (None, None, Some(service)) => Matcher::Service(service.to_owned()),
            _ => return Err(at("needs exactly one of `email`, `group` or `service`")),
        };
        if let Matcher::Email(email) = &matcher {
            if email.starts_with('*') && !email.starts_with("*@") {
                return Err(at("a wildcard `email` is `*@domain`"));
            }
        }
        let (role, scope) = role_and_scope(item).map_err(|problem| at(&problem))?;
        rules.push(AccessRule {
            matcher,
            role,
            scope,
        });
    }
    Ok(rules)
}

fn json_list(key: &'static str, text: &str) -> Result<Vec<Value>, ConfigError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => Ok(items),
        _ => Err(invalid(key, "must be a JSON list of objects")),
    }
}

fn role_and_scope(item: &Value) -> Result<(Role, Scope), String> {
    let role = item
        .get("role")
        .and_then(Value::as_str)
        .and_then(Role::parse)
        .ok_or("`role` must be `viewer` or `operator`")?;
    let scope = match item.get("projects") {
        None | Some(Value::Null) => Scope::All,
        Some(Value::Array(codes)) if !codes.is_empty() => Scope::Projects(
            codes
                .iter()
                .map(|c| {
                    c.as_str()
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .map(str::to_owned)
                })
                .collect::<Option<Vec<_>>>()
                .ok_or("`projects` must be a list of project codes")?,
        ),
        Some(_) => return Err(
            "`projects` must be a non-empty list of project codes (leave it out for every project)"
                .into(),
        ),
    };
    Ok((role, scope))
}

fn hex_digest(text: &str) -> Option<[u8; 32]> {
    let text = text.trim().as_bytes();
    if text.len() != 64 || !text.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let mut digest = [0u8; 32];
    for (i, pair) in text.chunks(2).enumerate() {
        let pair = std::str::from_utf8(pair).ok()?;
        digest[i] = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::routes::ROUTES;

    /// SHA-256 of "hello".
    const HELLO: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    fn read<T>(
        key: &str,
        value: &str,
        f: fn(&Lookup) -> Result<T, ConfigError>,
    ) -> Result<T, ConfigError> {
        let raw = |k: &str| (k == key).then(|| value.to_owned());
        f(&Lookup::new(&raw))
    }

    fn principal(role: Role, scope: Scope) -> Principal {
        Principal {
            name: "p".into(),
            credential: Credential::ApiToken,
            role,
            scope,
        }
    }

    #[test]
    fn every_api_route_needs_a_role_and_only_reads_are_for_viewers() {
        for (method, path, route) in ROUTES {
            let api = path.starts_with("/api/") && *path != "/api/openapi.json";
            let Some(need) = need(*route) else {
                assert!(!api, "{method} {path} has no role");
                continue;
            };
            assert!(api, "{path}");
            // The audit log is the operators' own.
            let reads = *method == "GET" && *route != Route::ListAudit;
            assert_eq!(need.role == Role::Viewer, reads, "{method} {path}");
        }
    }

    #[test]
    fn a_viewer_reads_but_may_not_write_and_an_operator_may() {
        let viewer = principal(Role::Viewer, Scope::All);
        let operator = principal(Role::Operator, Scope::All);
        assert_eq!(authorize(&viewer, Route::ListEvents), Ok(()));
        assert_eq!(
            authorize(&viewer, Route::ReplayEvent),
            Err(Forbidden {
                needed: Role::Operator,
                held: Role::Viewer,
                unscoped: false
            })
        );
        for route in [
            Route::ReplayEvent,
            Route::DeleteEvent,
            Route::BulkReplay,
            Route::PauseDestination,
            Route::MigrateKv,
        ] {
            assert!(authorize(&viewer, route).is_err(), "{route:?}");
            assert_eq!(authorize(&operator, route), Ok(()), "{route:?}");
        }
        assert_eq!(authorize(&viewer, Route::Ingest), Ok(()));
    }

    #[test]
    fn a_scoped_caller_may_not_reach_across_projects() {
        let scoped = principal(Role::Operator, Scope::Projects(vec!["WEB".into()]));
        for route in [
            Route::PauseDestination,
            Route::ResumeDestination,
            Route::ListDestinations,
            Route::MigrateKv,
            Route::ListAudit,
        ] {
            assert!(authorize(&scoped, route).unwrap_err().unscoped, "{route:?}");
        }
        for route in [
            Route::Me,
            Route::ListEvents,
            Route::BulkReplay,
            Route::WaitRun,
        ] {
            assert_eq!(authorize(&scoped, route), Ok(()), "{route:?}");
        }
        let scope = Scope::Projects(vec!["WEB".into()]);
        assert!(scope.admits("WEB") && !scope.admits("MOB") && !scope.admits("web"));
        assert!(Scope::All.admits("MOB"));
        assert_eq!(run_project("WEB/42"), "WEB");
    }

    #[test]
    fn the_admin_token_is_an_operator_of_every_project_and_named_tokens_carry_theirs() {
        let admin = Secret::new("the-admin-token-0123").unwrap();
        let tokens = read(
            bindings::API_TOKENS,
            &format!(r#"[{{"name":"ci","sha256":"{HELLO}","role":"viewer","projects":["WEB"]}}]"#),
            api_tokens,
        )
        .unwrap();
        let by_admin = by_token("the-admin-token-0123", Some(&admin), &tokens).unwrap();
        assert_eq!(
            (by_admin.credential, by_admin.role, by_admin.scope),
            (Credential::AdminToken, Role::Operator, Scope::All)
        );
        let ci = by_token("hello", Some(&admin), &tokens).unwrap();
        assert_eq!(ci.name, "ci");
        assert_eq!(
            (ci.credential, ci.role),
            (Credential::ApiToken, Role::Viewer)
        );
        assert_eq!(ci.scope, Scope::Projects(vec!["WEB".into()]));
        for wrong in ["hell", "hello!", HELLO, ""] {
            assert_eq!(by_token(wrong, Some(&admin), &tokens), None, "{wrong}");
        }
        assert_eq!(by_token("the-admin-token-0123", None, &tokens), None);
    }

    #[test]
    fn api_tokens_are_hashes_with_a_name_and_a_role() {
        let entry = |body: &str| {
            read(bindings::API_TOKENS, &format!("[{body}]"), api_tokens).map(|t| t.len())
        };
        assert_eq!(
            read(bindings::API_TOKENS, "[]", api_tokens).unwrap().len(),
            0
        );
        assert_eq!(
            entry(&format!(
                r#"{{"name":"a","sha256":"{}","role":"operator"}}"#,
                HELLO.to_uppercase()
            )),
            Ok(1)
        );
        for bad in [
            format!(r#"{{"sha256":"{HELLO}","role":"operator"}}"#),
            r#"{"name":"a","sha256":"hello","role":"operator"}"#.to_string(),
            format!(
                r#"{{"name":"a","sha256":"+{}","role":"operator"}}"#,
                &HELLO[1..]
            ),
            format!(r#"{{"name":"a","sha256":"{HELLO}","role":"admin"}}"#),
            format!(r#"{{"name":"a","sha256":"{HELLO}","role":"viewer","projects":[]}}"#),
            format!(r#"{{"name":"a","sha256":"{HELLO}","role":"viewer","projects":"WEB"}}"#),
            format!(
                r#"{{"name":"a","sha256":"{HELLO}","role":"viewer"}},{{"name":"a","sha256":"{HELLO}","role":"viewer"}}"#
            ),
        ] {
            let error = entry(&bad).unwrap_err();
            assert_eq!(error.key, bindings::API_TOKENS, "{bad}");
            assert!(
                !error.problem.contains("hello"),
                "never echo a value: {}",
                error.problem
            );
        }
        assert!(read(bindings::API_TOKENS, "{}", api_tokens).is_err());
    }

    #[test]
    fn access_rules_match_emails_domains_groups_and_service_tokens_first_match_wins() {
        let rules = read(
            bindings::ACCESS_ROLES,
            r#"[{"email":"Ana@Example.com","role":"operator"},
                {"group":"qa","role":"viewer","projects":["WEB"]},
                {"email":"*@example.com","role":"viewer"},
                {"service":"ci.access","role":"operator"}]"#,
            access_roles,
        )
        .unwrap();
        let user = |email: &str, groups: &[&str]| Identity::User {
            email: email.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        };
        let role = |identity: &Identity| by_identity(identity, &rules).map(|p| (p.role, p.scope));
        assert_eq!(
            role(&user("ana@example.com", &["qa"])),
            Some((Role::Operator, Scope::All))
        );
        assert_eq!(
            role(&user("bo@other.org", &["qa"])),
            Some((Role::Viewer, Scope::Projects(vec!["WEB".into()])))
        );
        assert_eq!(
            role(&user("cy@example.com", &[])),
            Some((Role::Viewer, Scope::All))
        );
        assert_eq!(role(&user("cy@example.com.evil", &[])), None);
        assert_eq!(role(&user("ci.access", &[])), None);
        let service = Identity::Service {
            common_name: "ci.access".into(),
        };
        let principal = by_identity(&service, &rules).unwrap();
        assert_eq!(
            (principal.credential, principal.role),
            (Credential::AccessService, Role::Operator)
        );
        for bad in [
            r#"[{"role":"viewer"}]"#,
            r#"[{"email":"a@b","group":"g","role":"viewer"}]"#,
            r#"[{"email":"*example.com","role":"viewer"}]"#,
            r#"[{"email":"a@b","role":"root"}]"#,
            r#"{"a@b":"viewer"}"#,
        ] {
            assert_eq!(
                read(bindings::ACCESS_ROLES, bad, access_roles)
                    .unwrap_err()
                    .key,
                bindings::ACCESS_ROLES,
                "{bad}"
            );
        }
    }
}
