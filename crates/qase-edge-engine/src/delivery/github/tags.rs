//! Which commit and pull request a run names, read from its Qase tags: a
//! CI job tags its run `sha:<40 hex digits>` and, on a pull request,
//! `pr:<number>` (`QASE_TESTOPS_RUN_TAGS`, see the README). The prefixes
//! are the destination's (`"tags": {"sha": "commit=", "pr": "pull="}`):
//! plain prefixes, compared without case, so the Worker needs no regex.
//! With `"title": true` the run's title is read too, word by word, after
//! its tags (`"CI sha:<40 hex> pr:12"`), for CI jobs that set the run's
//! title rather than its tags. Either way the run is shown once its details
//! are read from Qase's API (`QASE_API_TOKEN`), which is when its running
//! status is queued.

/// The prefixes a destination reads tags with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagPrefixes {
    /// The prefix of the commit's tag (`sha:` by default).
    pub sha: String,
    /// The prefix of the pull request's tag (`pr:` by default).
    pub pr: String,
    /// Whether the run's title is read too, word by word.
    pub title: bool,
}

impl Default for TagPrefixes {
    fn default() -> Self {
        TagPrefixes {
            sha: "sha:".to_owned(),
            pr: "pr:".to_owned(),
            title: false,
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

/// The commit and pull request `tags` name (and, with
/// [`TagPrefixes::title`], the words of `title`, after the tags); `None`
/// without a valid commit. Of several of one kind the first valid one counts.
pub fn target(tags: &[String], title: Option<&str>, prefixes: &TagPrefixes) -> Option<Target> {
    let words = title.filter(|_| prefixes.title).unwrap_or_default();
    let all = || {
        tags.iter()
            .map(String::as_str)
            .chain(words.split_whitespace())
    };
    let sha = all().find_map(|tag| after(tag, &prefixes.sha).and_then(commit))?;
    let pr = all().find_map(|tag| after(tag, &prefixes.pr).and_then(pull_request));
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
            None,
            &TagPrefixes::default(),
        );
        let found = found.unwrap();
        assert_eq!(found.sha, SHA.to_ascii_lowercase());
        assert_eq!(found.pr, Some(42));
        let upper = target(
            &tags(&[&format!("SHA: {SHA}"), "PR:#7"]),
            None,
            &TagPrefixes::default(),
        );
        assert_eq!(upper.unwrap().pr, Some(7));
    }

    #[test]
    fn a_run_without_a_whole_commit_id_names_nothing() {
        let prefixes = TagPrefixes::default();
        assert_eq!(target(&tags(&["pr:42"]), None, &prefixes), None);
        let short = target(&tags(&["sha:0123abc"]), None, &prefixes);
        assert_eq!(short, None, "short");
        let not_hex = format!("sha:{}", "g".repeat(40));
        assert_eq!(target(&tags(&[&not_hex]), None, &prefixes), None);
        assert_eq!(target(&[], None, &prefixes), None);
    }

    #[test]
    fn a_bad_pull_request_tag_leaves_the_commit() {
        let prefixes = TagPrefixes::default();
        for bad in ["pr:", "pr:0", "pr:12a", "pr:12345678901", "pr:-3"] {
            let found = target(&tags(&[&format!("sha:{SHA}"), bad]), None, &prefixes).unwrap();
            assert_eq!(found.pr, None, "{bad}");
        }
        let later = target(
            &tags(&[&format!("sha:{SHA}"), "pr:x", "pr:9"]),
            None,
            &prefixes,
        );
        assert_eq!(later.unwrap().pr, Some(9), "the first valid one");
    }

    #[test]
    fn the_prefixes_are_the_destinations() {
        let prefixes = TagPrefixes {
            sha: "commit=".into(),
            pr: "pull=".into(),
            title: false,
        };
        let found = target(
            &tags(&[&format!("commit={SHA}"), "pull=5", "pr:6"]),
            None,
            &prefixes,
        );
        assert_eq!(found.unwrap().pr, Some(5));
        let default = target(&tags(&[&format!("sha:{SHA}")]), None, &prefixes);
        assert_eq!(default, None);
    }

    #[test]
    fn the_title_is_read_only_when_the_destination_says_so() {
        let title = format!("CI build pr:12 sha:{SHA}");
        let tags_only = TagPrefixes::default();
        assert_eq!(target(&[], Some(&title), &tags_only), None);
        let with_title = TagPrefixes {
            title: true,
            ..TagPrefixes::default()
        };
        let found = target(&[], Some(&title), &with_title).unwrap();
        assert_eq!(
            (found.sha.as_str(), found.pr),
            (SHA.to_ascii_lowercase().as_str(), Some(12))
        );
        let tagged = target(&tags(&["pr:3"]), Some(&title), &with_title).unwrap();
        assert_eq!(tagged.pr, Some(3), "the tags come first");
        assert_eq!(target(&[], Some("no commit here"), &with_title), None);
    }
}
