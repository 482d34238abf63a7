//! Which commit and pull request a run names, read from its Qase tags: a
//! CI job tags its run `sha:<40 hex digits>` and, on a pull request,
//! `pr:<number>` (`QASE_TESTOPS_RUN_TAGS`, see the README). The prefixes
//! are the destination's (`"tags": {"sha": "commit=", "pr": "pull="}`):
//! plain prefixes, compared without case, so the Worker needs no regex.

/// The prefixes a destination reads tags with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagPrefixes {
    /// The prefix of the commit's tag (`sha:` by default).
    pub sha: String,
    /// The prefix of the pull request's tag (`pr:` by default).
    pub pr: String,
}

impl Default for TagPrefixes {
    fn default() -> Self {
        TagPrefixes {
            sha: "sha:".to_owned(),
            pr: "pr:".to_owned(),
        }
    }
}

/// What a run is shown on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The commit, 40 lowercase hex digits.
    pub sha: String,
    /// The pull request's number, if the run names one.
    pub pr: Option<u64>,
}

/// The rest of `tag` after `prefix` (compared without case), trimmed.
fn after<'t>(tag: &'t str, prefix: &str) -> Option<&'t str> {
    let head = tag.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| tag[prefix.len()..].trim())
}

/// A commit id: 40 hex digits (a full SHA-1: GitHub's statuses need the
/// whole id), lowercased.
fn commit(text: &str) -> Option<String> {
    (text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| text.to_ascii_lowercase())
}

/// A pull request's number: 1 to 10 digits, not 0 (`#` allowed before it).
fn pull_request(text: &str) -> Option<u64> {
    let digits = text.strip_prefix('#').unwrap_or(text);
    if digits.is_empty() || digits.len() > 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|n| *n > 0)
}

/// The commit and pull request `tags` name; `None` without a valid commit
/// tag. Of several tags of one kind the first valid one counts.
pub fn target(tags: &[String], prefixes: &TagPrefixes) -> Option<Target> {
    let sha = tags
        .iter()
        .find_map(|tag| after(tag, &prefixes.sha).and_then(commit))?;
    let pr = tags
        .iter()
        .find_map(|tag| after(tag, &prefixes.pr).and_then(pull_request));
    Some(Target { sha, pr })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789ABCDEF01234567";

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn a_run_names_its_commit_and_pull_request() {
        let found = target(
            &tags(&["nightly", &format!("sha:{SHA}"), "pr:42"]),
            &TagPrefixes::default(),
        );
        let found = found.unwrap();
        assert_eq!(found.sha, SHA.to_ascii_lowercase());
        assert_eq!(found.pr, Some(42));
        let upper = target(
            &tags(&[&format!("SHA: {SHA}"), "PR:#7"]),
            &TagPrefixes::default(),
        );
        assert_eq!(upper.unwrap().pr, Some(7));
    }

    #[test]
    fn a_run_without_a_whole_commit_id_names_nothing() {
        let prefixes = TagPrefixes::default();
        assert_eq!(target(&tags(&["pr:42"]), &prefixes), None);
        assert_eq!(target(&tags(&["sha:0123abc"]), &prefixes), None, "short");
        let not_hex = format!("sha:{}", "g".repeat(40));
        assert_eq!(target(&tags(&[&not_hex]), &prefixes), None);
        assert_eq!(target(&[], &prefixes), None);
    }

    #[test]
    fn a_bad_pull_request_tag_leaves_the_commit() {
        let prefixes = TagPrefixes::default();
        for bad in ["pr:", "pr:0", "pr:12a", "pr:12345678901", "pr:-3"] {
            let found = target(&tags(&[&format!("sha:{SHA}"), bad]), &prefixes).unwrap();
            assert_eq!(found.pr, None, "{bad}");
        }
        let later = target(&tags(&[&format!("sha:{SHA}"), "pr:x", "pr:9"]), &prefixes);
        assert_eq!(later.unwrap().pr, Some(9), "the first valid one");
    }

    #[test]
    fn the_prefixes_are_the_destinations() {
        let prefixes = TagPrefixes {
            sha: "commit=".into(),
            pr: "pull=".into(),
        };
        let found = target(
            &tags(&[&format!("commit={SHA}"), "pull=5", "pr:6"]),
            &prefixes,
        );
        assert_eq!(found.unwrap().pr, Some(5));
        assert_eq!(target(&tags(&[&format!("sha:{SHA}")]), &prefixes), None);
    }
}
