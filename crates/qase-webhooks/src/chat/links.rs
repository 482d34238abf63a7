//! Links into Qase, in the URL forms its web app uses.
//!
//! Forms seen in public use of Qase's app (Qase documents no URL scheme):
//! `{base}/run/{CODE}/dashboard/{id}` (a run), `{base}/case/{CODE}-{id}` (a
//! case), `{base}/plan/{CODE}/{id}` (a plan), `{base}/project/{CODE}?suite={id}`
//! (a suite in the repository), `{base}/project/{CODE}` (the repository) and
//! `{base}/defect/{CODE}` (the defects). A defect's own page is linked as
//! `{base}/defect/{CODE}/{id}`, the form the issue (#17) gives; milestones,
//! reviews without a case, shared steps and custom fields have no known
//! page of their own and link to the project. Deleted objects link to the
//! project too, never to a page that no longer exists.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// The Qase app's address when none is configured.
pub const DEFAULT_APP_URL: &str = "https://app.qase.io";

/// The longest base URL used as given; a longer one is replaced by
/// [`DEFAULT_APP_URL`] so that links stay within every service's limits.
const MAX_BASE_LEN: usize = 512;

/// The page of run `run` of `project` in the Qase app at `app_url`.
pub fn run_link(app_url: &str, project: &str, run: u64) -> String {
    Links::new(app_url, project).run(run)
}

/// The page of case `case` of `project` in the Qase app at `app_url`.
pub fn case_link(app_url: &str, project: &str, case: u64) -> String {
    Links::new(app_url, project).case(case)
}

/// Builds the links of one project.
#[derive(Debug, Clone)]
pub(crate) struct Links {
    base: String,
    code: String,
}

impl Links {
    /// Links into `project` of the Qase app at `app_url`.
    ///
    /// `app_url` is normalised: spaces and trailing slashes are trimmed, and
    /// any character that could end a link in a chat service's markup (`<`,
    /// `>`, `|`, `(`, `)`, quotes, spaces, non-ASCII) is percent-encoded. An
    /// address that is not `http(s)://`, or is longer than 512 bytes, is
    /// replaced by [`DEFAULT_APP_URL`]: a chat message must never carry a
    /// `javascript:` link, whatever the configuration says.
    pub(crate) fn new(app_url: &str, project: &str) -> Links {
        let trimmed = app_url.trim().trim_end_matches('/');
        let lower = trimmed.to_ascii_lowercase();
        let web = (lower.starts_with("https://") || lower.starts_with("http://"))
            && trimmed.len() <= MAX_BASE_LEN
            && trimmed
                .split_once("://")
                .is_some_and(|(_, host)| !host.is_empty());
        let base = if web {
            utf8_percent_encode(trimmed, BASE_ENCODED).to_string()
        } else {
            DEFAULT_APP_URL.to_owned()
        };
        Links {
            base,
            code: segment(project),
        }
    }

    /// The project's repository.
    pub(crate) fn project(&self) -> String {
        format!("{}/project/{}", self.base, self.code)
    }

    /// A run's dashboard.
    pub(crate) fn run(&self, id: u64) -> String {
        format!("{}/run/{}/dashboard/{id}", self.base, self.code)
    }

    /// A test case.
    pub(crate) fn case(&self, id: u64) -> String {
        format!("{}/case/{}-{id}", self.base, self.code)
    }

    /// A test plan.
    pub(crate) fn plan(&self, id: u64) -> String {
        format!("{}/plan/{}/{id}", self.base, self.code)
    }

    /// A suite, opened in the repository.
    pub(crate) fn suite(&self, id: u64) -> String {
        format!("{}/project/{}?suite={id}", self.base, self.code)
    }

    /// A defect.
    pub(crate) fn defect(&self, id: u64) -> String {
        format!("{}/defect/{}/{id}", self.base, self.code)
    }
}

/// What the base address keeps as it is: RFC 3986's unreserved characters
/// and the delimiters a web address is made of (and `%`, so an address that
/// is already encoded stays as it is). Everything else, non-ASCII included,
/// is percent-encoded.
const BASE_ENCODED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b':')
    .remove(b'/')
    .remove(b'?')
    .remove(b'#')
    .remove(b'@')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'*')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b'%');

/// What a path segment keeps: RFC 3986's unreserved characters only.
const SEGMENT_ENCODED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `text` as one URL path segment: everything but RFC 3986's unreserved
/// characters is percent-encoded, so a project code such as `a/../b?x`
/// stays one segment (for links into Qase, calls to its REST API, or any
/// URL built from a project code).
pub fn path_segment(text: &str) -> String {
    utf8_percent_encode(text, SEGMENT_ENCODED).to_string()
}

/// A project code as a link's segment: [`path_segment`], and `_` for an
/// empty code, so that no link has an empty segment.
fn segment(text: &str) -> String {
    if text.is_empty() {
        return "_".to_owned();
    }
    path_segment(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_ascii_byte_is_kept_or_encoded_as_the_sets_say() {
        for byte in 0u8..=127 {
            let text = char::from(byte).to_string();
            let base_keeps = byte.is_ascii_alphanumeric() || b"-._~:/?#@!$&'*+,;=%".contains(&byte);
            let segment_keeps = byte.is_ascii_alphanumeric() || b"-._~".contains(&byte);
            let encoded = format!("%{byte:02X}");
            let base = utf8_percent_encode(&text, BASE_ENCODED).to_string();
            assert_eq!(
                base,
                if base_keeps {
                    text.clone()
                } else {
                    encoded.clone()
                }
            );
            let one = segment(&text);
            assert_eq!(one, if segment_keeps { text.clone() } else { encoded });
        }
    }

    #[test]
    fn the_base_is_normalised() {
        let links = Links::new("https://qase.example.com/", "DEMO");
        assert_eq!(
            links.run(7),
            "https://qase.example.com/run/DEMO/dashboard/7"
        );
        assert_eq!(
            Links::new(" https://a.io// ", "D").case(3),
            "https://a.io/case/D-3"
        );
        assert_eq!(
            Links::new("https://a.io/q|<x> (y)", "D").project(),
            "https://a.io/q%7C%3Cx%3E%20%28y%29/project/D"
        );
    }

    #[test]
    fn anything_but_a_web_address_is_replaced_by_the_default() {
        for bad in [
            "",
            "javascript:alert(1)",
            "ftp://x",
            "https://",
            "app.qase.io",
        ] {
            assert_eq!(
                Links::new(bad, "D").plan(1),
                "https://app.qase.io/plan/D/1",
                "{bad}"
            );
        }
        let long = format!("https://{}", "a".repeat(MAX_BASE_LEN));
        assert!(Links::new(&long, "D")
            .project()
            .starts_with(DEFAULT_APP_URL));
    }

    #[test]
    fn project_codes_are_one_encoded_segment() {
        let links = Links::new(DEFAULT_APP_URL, "a/../b?x=<1>");
        assert_eq!(
            links.defect(2),
            "https://app.qase.io/defect/a%2F..%2Fb%3Fx%3D%3C1%3E/2"
        );
        assert_eq!(
            Links::new(DEFAULT_APP_URL, "").suite(4),
            "https://app.qase.io/project/_?suite=4"
        );
        assert_eq!(
            Links::new(DEFAULT_APP_URL, "ÄB").case(1),
            "https://app.qase.io/case/%C3%84B-1"
        );
    }
}
