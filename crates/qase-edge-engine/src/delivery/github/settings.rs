//! A `github` destination's own settings, read from its entry in
//! `QASE_DESTINATIONS`: `repository` (`owner/repo`), `token_secret` (the
//! name of the secret holding the token), `thresholds` (the `qase-hook
//! wait` rule, [`Thresholds`]), `tags` (the prefixes, [`TagPrefixes`]) and
//! `context` (the status's name, `qase/<project>` by default). Its `url`
//! is GitHub's API base (`https://api.github.com`, or GitHub Enterprise
//! Server's `https://host/api/v3`).

use std::fmt;

use qase_webhooks::run_report::Thresholds;
use serde::Deserialize;

use super::tags::TagPrefixes;
use crate::config::lookup::Lookup;

/// A GitHub token; its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct GithubToken(String);

impl GithubToken {
    /// The token, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A token for tests.
    #[cfg(test)]
    pub(crate) fn new(token: &str) -> Self {
        GithubToken(token.to_owned())
    }
}

impl fmt::Debug for GithubToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// What a `github` destination needs beyond a destination's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct GithubSettings {
    /// `owner/repo`.
    pub repository: String,
    /// The token.
    pub token: GithubToken,
    /// When a finished run is a success.
    pub thresholds: Thresholds,
    /// How the run's tags name its commit and pull request.
    pub tags: TagPrefixes,
    /// The status's context; `None`: `qase/<project>`.
    pub context: Option<String>,
}

/// `thresholds` as written in `QASE_DESTINATIONS`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawThresholds {
    #[serde(default)]
    max_failed: Option<u64>,
    #[serde(default)]
    max_blocked: Option<u64>,
    #[serde(default)]
    min_pass_rate: Option<f64>,
    #[serde(default)]
    allow_aborted: bool,
}

/// `tags` as written in `QASE_DESTINATIONS`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTags {
    #[serde(default)]
    sha: Option<String>,
    #[serde(default)]
    pr: Option<String>,
    #[serde(default)]
    title: bool,
}

/// The GitHub keys of a destination's entry.
#[derive(Debug, Clone, Default)]
pub struct RawGithub {
    /// `repository`.
    pub repository: Option<String>,
    /// `token_secret`.
    pub token_secret: Option<String>,
    /// `thresholds`.
    pub thresholds: Option<RawThresholds>,
    /// `tags`.
    pub tags: Option<RawTags>,
    /// `context`.
    pub context: Option<String>,
}

impl RawGithub {
    /// Whether any GitHub key is set (they belong to `format: "github"` only).
    pub fn any(&self) -> bool {
        self.repository.is_some()
            || self.token_secret.is_some()
            || self.thresholds.is_some()
            || self.tags.is_some()
            || self.context.is_some()
    }
}

/// Whether `name` is an owner or a repository name GitHub allows: letters,
/// digits, `-`, `_` and `.`, at most 100, not `.` or `..`.
fn is_repo_part(name: &str) -> bool {
    (1..=100).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A tag prefix: 1 to 32 characters, no whitespace.
fn prefix(raw: Option<String>, default: String, key: &str) -> Result<String, String> {
    match raw {
        None => Ok(default),
        Some(p) if (1..=32).contains(&p.len()) && !p.contains(char::is_whitespace) => Ok(p),
        Some(_) => Err(format!(
            "`tags.{key}` must be 1 to 32 characters without spaces"
        )),
    }
}

fn thresholds(raw: Option<RawThresholds>) -> Result<Thresholds, String> {
    let raw = raw.unwrap_or_default();
    if raw
        .min_pass_rate
        .is_some_and(|rate| !(0.0..=100.0).contains(&rate))
    {
        return Err("`thresholds.min_pass_rate` must be from 0 to 100".into());
    }
    Ok(Thresholds {
        max_failed: raw.max_failed,
        max_blocked: raw.max_blocked,
        min_pass_rate: raw.min_pass_rate,
        allow_aborted: raw.allow_aborted,
    })
}

/// The settings of a `github` destination, validated; the problem in words.
pub fn settings(raw: RawGithub, lookup: &Lookup) -> Result<GithubSettings, String> {
    let repository = raw
        .repository
        .ok_or("`format` `github` needs `repository` (`owner/repo`)")?;
    let valid = repository
        .split_once('/')
        .is_some_and(|(owner, repo)| is_repo_part(owner) && is_repo_part(repo));
    if !valid {
        return Err(format!("`repository` `{repository}` is not `owner/repo`"));
    }
    let secret = raw
        .token_secret
        .ok_or("`format` `github` needs `token_secret` (the secret holding the token)")?;
    let token = lookup
        .get(&secret)
        .map(|token| GithubToken(token.trim().to_owned()))
        .ok_or_else(|| {
            format!("token secret `{secret}` is not set (wrangler secret put {secret})")
        })?;
    let defaults = TagPrefixes::default();
    let tags = match raw.tags {
        None => defaults,
        Some(tags) => TagPrefixes {
            sha: prefix(tags.sha, defaults.sha, "sha")?,
            pr: prefix(tags.pr, defaults.pr, "pr")?,
            title: tags.title,
        },
    };
    if let Some(context) = &raw.context {
        if !(1..=100).contains(&context.len()) {
            return Err("`context` must be 1 to 100 characters".into());
        }
    }
    Ok(GithubSettings {
        repository,
        token,
        thresholds: thresholds(raw.thresholds)?,
        tags,
        context: raw.context,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(raw: RawGithub) -> Result<GithubSettings, String> {
        let vars = |key: &str| (key == "GITHUB_TOKEN").then(|| " ghp_secret ".to_owned());
        settings(raw, &Lookup::new(&vars))
    }

    fn raw(repository: &str) -> RawGithub {
        RawGithub {
            repository: Some(repository.into()),
            token_secret: Some("GITHUB_TOKEN".into()),
            ..RawGithub::default()
        }
    }

    #[test]
    fn a_github_destination_names_its_repository_and_its_tokens_secret() {
        let read = read(raw("octo-org/web.app")).unwrap();
        assert_eq!(read.repository, "octo-org/web.app");
        assert_eq!(read.token.expose(), "ghp_secret");
        assert_eq!(format!("{:?}", read.token), "[redacted]");
        assert!(!format!("{read:?}").contains("ghp_secret"));
        assert_eq!(read.tags, TagPrefixes::default());
        assert_eq!(read.thresholds, Thresholds::default());
    }

    #[test]
    fn a_github_destination_without_its_keys_says_which() {
        for (raw, words) in [
            (RawGithub::default(), "needs `repository`"),
            (raw("octo"), "not `owner/repo`"),
            (raw("octo/a/b"), "not `owner/repo`"),
            (raw("octo/.."), "not `owner/repo`"),
            (
                RawGithub {
                    token_secret: None,
                    ..raw("o/r")
                },
                "needs `token_secret`",
            ),
            (
                RawGithub {
                    token_secret: Some("NOPE".into()),
                    ..raw("o/r")
                },
                "`NOPE` is not set",
            ),
        ] {
            let error = read(raw).unwrap_err();
            assert!(error.contains(words), "{error}");
        }
    }

    #[test]
    fn thresholds_and_prefixes_are_the_destinations() {
        let tuned = RawGithub {
            thresholds: Some(
                serde_json::from_str(
                    r#"{"max_failed": 2, "min_pass_rate": 90, "allow_aborted": true}"#,
                )
                .unwrap(),
            ),
            tags: Some(serde_json::from_str(r#"{"sha": "commit=", "title": true}"#).unwrap()),
            context: Some("qase/e2e".into()),
            ..raw("o/r")
        };
        let read = read(tuned).unwrap();
        assert_eq!(read.thresholds.max_failed, Some(2));
        assert_eq!(read.thresholds.min_pass_rate, Some(90.0));
        assert!(read.thresholds.allow_aborted);
        assert_eq!(
            (
                read.tags.sha.as_str(),
                read.tags.pr.as_str(),
                read.tags.title
            ),
            ("commit=", "pr:", true)
        );
        let bad_rate = RawGithub {
            thresholds: Some(serde_json::from_str(r#"{"min_pass_rate": 101}"#).unwrap()),
            ..raw("o/r")
        };
        assert!(super::settings(bad_rate, &Lookup::new(&|_| Some("t".into()))).is_err());
        let bad_prefix = RawGithub {
            tags: Some(serde_json::from_str(r#"{"pr": "p r"}"#).unwrap()),
            ..raw("o/r")
        };
        assert!(read_err(bad_prefix).contains("tags.pr"));
        assert!(serde_json::from_str::<RawThresholds>(r#"{"max_fail": 1}"#).is_err());
    }

    fn read_err(raw: RawGithub) -> String {
        read(raw).unwrap_err()
    }
}
