//! The operator console (`/console/`): which requests are the console's,
//! and the headers every console response carries.
//!
//! The console is static files (built from `console/` into Workers Static
//! Assets, `[assets]` in wrangler.toml). The Worker runs first for every
//! request (`run_worker_first`), so `/webhooks/qase`, `/health` and `/api`
//! are always the Worker's, and an asset can never shadow them; requests
//! under `/console/` are handed to the assets binding, and their responses
//! get the headers below. The console then talks to the operator API with
//! the token the operator types in.

/// What to do with a request, by its method and path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleRequest {
    /// Not under `/console`: the API router's.
    NotConsole,
    /// `/console`: redirect to `/console/`, so the page's relative URLs
    /// (`app.js`, `app.css`) resolve under it.
    Redirect,
    /// A file of the console, from the assets binding.
    Asset,
    /// A console path with a method other than `GET` or `HEAD`.
    WrongMethod,
}

/// Where the console lives.
pub const CONSOLE_PATH: &str = "/console/";

/// Where the build (`scripts/build-console`) puts a copy of the committed
/// `crates/qase-edge/openapi.json` in the assets, for `GET /api/openapi.json`
/// to answer with. Only the Worker reaches it (`run_worker_first`), through
/// the binding: served from there rather than embedded in the Wasm, whose
/// every byte is compiled at each cold start.
pub const OPENAPI_ASSET_PATH: &str = "/api/openapi.json";

/// `Allow` for [`ConsoleRequest::WrongMethod`].
pub const ALLOW: &str = "GET, HEAD";

/// Classifies a request (`path` as [`crate::http::routes::path_of`] gives it).
pub fn classify(method: &str, path: &str) -> ConsoleRequest {
    let console = path == "/console" || path.starts_with(CONSOLE_PATH);
    if !console {
        return ConsoleRequest::NotConsole;
    }
    if method != "GET" && method != "HEAD" {
        return ConsoleRequest::WrongMethod;
    }
    if path == "/console" {
        ConsoleRequest::Redirect
    } else {
        ConsoleRequest::Asset
    }
}

/// The Content-Security-Policy of every console response: scripts, styles
/// and API calls from this origin only, no inline script or style, no
/// plugins, no framing, no other origin at all. The console renders every
/// string from Qase as text (never as HTML), and this policy is the second
/// line: even a string that did become markup could run no script.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The headers set (replacing the assets binding's) on console responses.
///
/// `Cache-Control: no-cache`: the files keep their names from one deploy to
/// the next, so a browser revalidates each (an ETag round trip, answered
/// `304`) and always runs the console that was deployed, never a stale
/// script against a newer API.
pub fn security_headers() -> [(&'static str, &'static str); 6] {
    [
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cache-Control", "no-cache"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_under_console_are_the_consoles() {
        assert_eq!(classify("GET", "/console"), ConsoleRequest::Redirect);
        assert_eq!(classify("GET", "/console/"), ConsoleRequest::Asset);
        assert_eq!(classify("HEAD", "/console/app.js"), ConsoleRequest::Asset);
        assert_eq!(classify("POST", "/console/"), ConsoleRequest::WrongMethod);
        assert_eq!(classify("DELETE", "/console"), ConsoleRequest::WrongMethod);
        for path in ["/", "/consoles", "/console.js", "/api/console/", "/health"] {
            assert_eq!(classify("GET", path), ConsoleRequest::NotConsole, "{path}");
        }
    }

    #[test]
    fn the_policy_allows_no_inline_script_and_no_other_origin() {
        let directives: Vec<&str> = CONTENT_SECURITY_POLICY.split("; ").collect();
        assert!(directives.contains(&"default-src 'none'"));
        assert!(directives.contains(&"script-src 'self'"));
        assert!(directives.contains(&"connect-src 'self'"));
        assert!(directives.contains(&"frame-ancestors 'none'"));
        for directive in &directives {
            assert!(!directive.contains("unsafe"), "{directive}");
            assert!(!directive.contains("http"), "{directive}");
            assert!(!directive.contains('*'), "{directive}");
        }
        let names: Vec<&str> = security_headers().iter().map(|(name, _)| *name).collect();
        assert!(names.contains(&"Content-Security-Policy"));
        assert!(names.contains(&"X-Content-Type-Options"));
    }
}
