//! Access's settings: the team domain (`QASE_ACCESS_TEAM_DOMAIN`) and the
//! application's audience tag (`QASE_ACCESS_AUD`), both or neither. A
//! broken pair locks `/api` and `/console` (`503 misconfigured`) rather
//! than opening them: a typo must never turn sign-in off.

use crate::config::bindings;
use crate::config::lookup::Lookup;
use crate::config::problems::{invalid, ConfigError};

/// The path of a team's signing keys, under its origin.
pub const CERTS_PATH: &str = "/cdn-cgi/access/certs";

/// Whether Access guards `/api` and `/console`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessGate {
    /// Not configured: the bearer token alone, as before.
    Off,
    /// Every guarded request needs a valid assertion.
    Required(AccessSettings),
    /// The settings are broken: every guarded request answers `503`.
    Locked,
}

/// A configured Access application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessSettings {
    /// The team's origin, `https://<team>.cloudflareaccess.com` (or a
    /// loopback `http://` origin, for tests); also the expected `iss`.
    pub origin: String,
    /// The application's audience tag, expected in `aud`.
    pub audience: String,
}

impl AccessSettings {
    /// The `iss` an assertion of this team carries.
    pub fn issuer(&self) -> &str {
        &self.origin
    }

    /// Where the team publishes its signing keys.
    pub fn certs_url(&self) -> String {
        format!("{}{CERTS_PATH}", self.origin)
    }
}

/// Reads the pair: `Ok(None)` when neither is set.
pub fn read(lookup: &Lookup) -> Result<Option<AccessSettings>, ConfigError> {
    let team = lookup.get(bindings::ACCESS_TEAM_DOMAIN);
    let audience = lookup.get(bindings::ACCESS_AUD);
    match (team, audience) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(invalid(
            bindings::ACCESS_AUD,
            "must be set with QASE_ACCESS_TEAM_DOMAIN: the Access application's audience (AUD) tag",
        )),
        (None, Some(_)) => Err(invalid(
            bindings::ACCESS_TEAM_DOMAIN,
            "must be set with QASE_ACCESS_AUD: the team domain, e.g. `myteam.cloudflareaccess.com`",
        )),
        (Some(team), Some(audience)) => Ok(Some(AccessSettings {
            origin: origin(team.trim())?,
            audience: audience.trim().to_owned(),
        })),
    }
}

/// The team's origin from `myteam.cloudflareaccess.com`,
/// `https://myteam.cloudflareaccess.com`, or (tests only) a loopback
/// `http://127.0.0.1:<port>` / `http://localhost:<port>`.
fn origin(team: &str) -> Result<String, ConfigError> {
    let team = team.trim_end_matches('/');
    let (scheme, host) = match team.split_once("://") {
        None => ("https", team),
        Some((scheme @ ("https" | "http"), host)) => (scheme, host),
        Some(_) => return Err(bad_team("use a host name or an https:// origin")),
    };
    let (name, port) = host.split_once(':').unwrap_or((host, ""));
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    let port_ok = port.is_empty() || port.parse::<u16>().is_ok();
    if !name_ok || !port_ok {
        return Err(bad_team(
            "must be a host name such as `myteam.cloudflareaccess.com`, with no path",
        ));
    }
    if scheme == "http" && !matches!(name, "127.0.0.1" | "localhost") {
        return Err(bad_team(
            "http:// is for a local test server only (127.0.0.1 or localhost)",
        ));
    }
    Ok(format!("{scheme}://{host}"))
}

fn bad_team(problem: &str) -> ConfigError {
    invalid(bindings::ACCESS_TEAM_DOMAIN, problem)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_pairs(pairs: &[(&str, &str)]) -> Result<Option<AccessSettings>, ConfigError> {
        let raw = |key: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
        };
        read(&Lookup::new(&raw))
    }

    fn team(value: &str) -> Result<Option<AccessSettings>, ConfigError> {
        read_pairs(&[
            (bindings::ACCESS_TEAM_DOMAIN, value),
            (bindings::ACCESS_AUD, "aud-tag"),
        ])
    }

    #[test]
    fn a_broken_pair_locks_rather_than_opens() {
        use crate::config::test_support::{config, problem};
        use crate::config::Effect;
        let secret = (bindings::WEBHOOK_SECRET, "s3cret");
        let off = config(&[secret]).unwrap();
        assert_eq!(off.api.access, AccessGate::Off);
        let on = config(&[
            secret,
            (bindings::ACCESS_TEAM_DOMAIN, "t.cloudflareaccess.com"),
            (bindings::ACCESS_AUD, "tag"),
        ])
        .unwrap();
        assert!(matches!(on.api.access, AccessGate::Required(ref s) if s.audience == "tag"));
        let half = [
            secret,
            (bindings::ACCESS_TEAM_DOMAIN, "t.cloudflareaccess.com"),
        ];
        assert_eq!(problem(&half).effect, Effect::AccessLocked);
        assert_eq!(config(&half).unwrap().api.access, AccessGate::Locked);
    }

    #[test]
    fn unset_is_off_and_half_set_names_the_missing_key() {
        assert_eq!(read_pairs(&[]), Ok(None));
        let only_team = read_pairs(&[(bindings::ACCESS_TEAM_DOMAIN, "t.cloudflareaccess.com")]);
        assert_eq!(only_team.unwrap_err().key, bindings::ACCESS_AUD);
        let only_aud = read_pairs(&[(bindings::ACCESS_AUD, "x")]);
        assert_eq!(only_aud.unwrap_err().key, bindings::ACCESS_TEAM_DOMAIN);
    }

    #[test]
    fn a_team_domain_becomes_its_https_origin() {
        for value in [
            "myteam.cloudflareaccess.com",
            "https://myteam.cloudflareaccess.com",
            "https://myteam.cloudflareaccess.com/",
        ] {
            let settings = team(value).unwrap().unwrap();
            assert_eq!(settings.issuer(), "https://myteam.cloudflareaccess.com");
            assert_eq!(
                settings.certs_url(),
                "https://myteam.cloudflareaccess.com/cdn-cgi/access/certs"
            );
            assert_eq!(settings.audience, "aud-tag");
        }
    }

    #[test]
    fn plain_http_is_for_a_loopback_test_server_only() {
        let local = team("http://127.0.0.1:8787").unwrap().unwrap();
        assert_eq!(local.issuer(), "http://127.0.0.1:8787");
        for value in [
            "http://myteam.cloudflareaccess.com",
            "ftp://x",
            "https://t.cloudflareaccess.com/path",
            "https://t:notaport",
            "a b",
        ] {
            assert_eq!(
                team(value).unwrap_err().key,
                bindings::ACCESS_TEAM_DOMAIN,
                "{value}"
            );
        }
    }
}
