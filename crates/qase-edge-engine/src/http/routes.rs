//! Every route of the HTTP surface, in one table that the router matches
//! against and that a test compares with the committed OpenAPI document.

/// What a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /webhooks/qase`
    Ingest,
    /// `GET /health`
    Health,
    /// `GET /api/openapi.json`
    OpenApi,
    /// `GET /api/me`
    Me,
    /// `GET /api/events`
    ListEvents,
    /// `GET /api/events/{id}`
    GetEvent,
    /// `GET /api/events/{id}/body`
    GetEventBody,
    /// `DELETE /api/events/{id}`
    DeleteEvent,
    /// `POST /api/events/{id}/replay`
    ReplayEvent,
    /// `GET /api/dead-letters`
    ListDeadLetters,
    /// `POST /api/dead-letters/{id}/replay`
    ReplayDeadLetter,
    /// `GET /api/stats`
    Stats,
    /// `POST /api/replay`
    BulkReplay,
    /// `GET /api/export`
    Export,
    /// `POST /api/migrate-kv`
    MigrateKv,
    /// `GET /api/runs`
    ListRuns,
    /// `GET /api/runs/{project}/{id}`
    GetRun,
    /// `GET /api/runs/{project}/{id}/wait`
    WaitRun,
    /// `GET /api/destinations`
    ListDestinations,
    /// `POST /api/destinations/{name}/pause`
    PauseDestination,
    /// `POST /api/destinations/{name}/resume`
    ResumeDestination,
    /// `GET /api/audit`
    ListAudit,
    /// `GET /metrics`
    Metrics,
}

/// (method, path template, route). `{id}` matches one path segment.
pub const ROUTES: &[(&str, &str, Route)] = &[
    ("POST", "/webhooks/qase", Route::Ingest),
    ("GET", "/health", Route::Health),
    ("GET", "/api/openapi.json", Route::OpenApi),
    ("GET", "/api/me", Route::Me),
    ("GET", "/api/events", Route::ListEvents),
    ("GET", "/api/events/{id}", Route::GetEvent),
    ("DELETE", "/api/events/{id}", Route::DeleteEvent),
    ("GET", "/api/events/{id}/body", Route::GetEventBody),
    ("POST", "/api/events/{id}/replay", Route::ReplayEvent),
    ("GET", "/api/dead-letters", Route::ListDeadLetters),
    (
        "POST",
        "/api/dead-letters/{id}/replay",
        Route::ReplayDeadLetter,
    ),
    ("GET", "/api/stats", Route::Stats),
    ("POST", "/api/replay", Route::BulkReplay),
    ("GET", "/api/export", Route::Export),
    ("POST", "/api/migrate-kv", Route::MigrateKv),
    ("GET", "/api/runs", Route::ListRuns),
    ("GET", "/api/runs/{project}/{id}", Route::GetRun),
    ("GET", "/api/runs/{project}/{id}/wait", Route::WaitRun),
    ("GET", "/api/destinations", Route::ListDestinations),
    (
        "POST",
        "/api/destinations/{name}/pause",
        Route::PauseDestination,
    ),
    (
        "POST",
        "/api/destinations/{name}/resume",
        Route::ResumeDestination,
    ),
    ("GET", "/api/audit", Route::ListAudit),
    ("GET", "/metrics", Route::Metrics),
];

/// The outcome of matching a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Matched<'p> {
    /// A route, with the `{id}` segment if the template has one.
    Route(Route, Option<&'p str>),
    /// The path exists, but not for this method; the `Allow` value.
    WrongMethod(String),
    /// No such path.
    NotFound,
}

/// Whether `path` fits `template`, and its parameters: the `{...}`
/// segments as one slice of the path (`evt_1`; `WEB/42` for `{project}/{id}`).
fn fits<'p>(template: &str, path: &'p str) -> Option<Option<&'p str>> {
    let mut span: Option<(usize, usize)> = None;
    let mut parts = path.split('/');
    let mut offset = 0;
    for expected in template.split('/') {
        let part = parts.next()?;
        if expected.starts_with('{') {
            if part.is_empty() {
                return None;
            }
            let start = span.map_or(offset, |(start, _)| start);
            span = Some((start, offset + part.len()));
        } else if expected != part {
            return None;
        }
        offset += part.len() + 1;
    }
    parts
        .next()
        .is_none()
        .then(|| span.map(|(start, end)| &path[start..end]))
}

/// Matches a method (as in `ROUTES`, e.g. `GET`) and a path. `HEAD` is
/// served as `GET`.
pub fn match_route<'p>(method: &str, path: &'p str) -> Matched<'p> {
    let method = if method == "HEAD" { "GET" } else { method };
    let mut allowed = Vec::new();
    for (route_method, template, route) in ROUTES {
        if let Some(id) = fits(template, path) {
            if *route_method == method {
                return Matched::Route(*route, id);
            }
            allowed.push(*route_method);
        }
    }
    if allowed.is_empty() {
        Matched::NotFound
    } else {
        Matched::WrongMethod(allowed.join(", "))
    }
}

/// The path of an absolute URL as the runtime gives it
/// (`https://host/path?query`), still percent-encoded, without query or
/// fragment.
///
/// Scans bytes rather than using `str::find` with a pattern: it runs on
/// every request, and the pattern searchers' set-up cost more than the scan
/// (the V8 profile of the hot path, BENCHMARKS.md). Every byte it cuts at is
/// ASCII, so the cuts are on character boundaries.
pub fn path_of(url: &str) -> &str {
    let bytes = url.as_bytes();
    let start = bytes
        .windows(3)
        .position(|window| window == b"://")
        .map_or(0, |at| at + 3);
    let rest = &bytes[start..];
    let end = rest
        .iter()
        .position(|&byte| byte == b'?' || byte == b'#')
        .unwrap_or(rest.len());
    match rest[..end].iter().position(|&byte| byte == b'/') {
        Some(at) => &url[start + at..start + end],
        None => "/",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The committed OpenAPI document of this surface (served by the shell).
    const OPENAPI: &str = include_str!("../../../qase-edge/openapi.json");

    #[test]
    fn paths_match_with_their_id() {
        assert_eq!(
            match_route("POST", "/webhooks/qase"),
            Matched::Route(Route::Ingest, None)
        );
        assert_eq!(
            match_route("GET", "/api/events/evt_1"),
            Matched::Route(Route::GetEvent, Some("evt_1"))
        );
        assert_eq!(
            match_route("POST", "/api/events/evt_1/replay"),
            Matched::Route(Route::ReplayEvent, Some("evt_1"))
        );
        assert_eq!(
            match_route("HEAD", "/health"),
            Matched::Route(Route::Health, None)
        );
        assert_eq!(
            match_route("GET", "/webhooks/qase"),
            Matched::WrongMethod("POST".into())
        );
        assert_eq!(
            match_route("PUT", "/api/events/x"),
            Matched::WrongMethod("GET, DELETE".into())
        );
        assert_eq!(
            match_route("POST", "/api/replay"),
            Matched::Route(Route::BulkReplay, None)
        );
        assert_eq!(
            match_route("GET", "/api/replay"),
            Matched::WrongMethod("POST".into())
        );
        assert_eq!(
            match_route("GET", "/api/runs/WEB/42/wait"),
            Matched::Route(Route::WaitRun, Some("WEB/42"))
        );
        assert_eq!(
            match_route("GET", "/api/runs/WEB/42"),
            Matched::Route(Route::GetRun, Some("WEB/42"))
        );
        assert_eq!(
            match_route("GET", "/metrics"),
            Matched::Route(Route::Metrics, None)
        );
        assert_eq!(match_route("GET", "/api/runs/WEB"), Matched::NotFound);
        assert_eq!(match_route("GET", "/api/runs//42"), Matched::NotFound);
        assert_eq!(match_route("GET", "/api/events/"), Matched::NotFound);
        assert_eq!(match_route("GET", "/api/events/x/y"), Matched::NotFound);
        assert_eq!(match_route("GET", "/webhooks/qase/"), Matched::NotFound);
    }

    #[test]
    fn the_path_is_cut_out_of_the_url() {
        assert_eq!(
            path_of("https://edge.example/webhooks/qase"),
            "/webhooks/qase"
        );
        assert_eq!(
            path_of("http://127.0.0.1:8787/api/events?limit=5#x"),
            "/api/events"
        );
        assert_eq!(path_of("https://edge.example/a%2Fb/c#frag?x"), "/a%2Fb/c");
        assert_eq!(path_of("https://edge.example"), "/");
        assert_eq!(path_of("https://edge.example?x=/y"), "/");
        assert_eq!(path_of("https://édge.example/ünï/cödé?q=ü"), "/ünï/cödé");
        assert_eq!(path_of("/relative/path?x"), "/relative/path");
        assert_eq!(path_of("https://edge.example#/not-a-path"), "/");
        assert_eq!(path_of(""), "/");
    }

    /// The obvious version, with `str` patterns, that `path_of` replaced.
    fn path_of_reference(url: &str) -> &str {
        let after_scheme = url.find("://").map_or(url, |at| &url[at + 3..]);
        let without_query = after_scheme.split(['?', '#']).next().unwrap_or("");
        without_query
            .find('/')
            .map_or("/", |at| &without_query[at..])
    }

    #[test]
    fn the_byte_scan_agrees_with_the_plain_version() {
        let pieces = [
            "https",
            "http",
            "://",
            ":/",
            "/",
            "//",
            "?",
            "#",
            "a",
            "é",
            "%2F",
            "host:8787",
            "",
        ];
        // Every string of up to four pieces: 13^4 cases.
        let mut checked = 0;
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    for d in pieces {
                        let url = format!("{a}{b}{c}{d}");
                        assert_eq!(path_of(&url), path_of_reference(&url), "{url:?}");
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 13 * 13 * 13 * 13);
    }

    #[test]
    fn the_openapi_document_describes_exactly_these_routes() {
        let document: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        assert_eq!(document["openapi"], "3.1.0");
        let mut documented = BTreeSet::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if method != "parameters" {
                    documented.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        let routed: BTreeSet<_> = ROUTES
            .iter()
            .map(|(method, path, _)| (method.to_string(), path.to_string()))
            .collect();
        assert_eq!(documented, routed, "openapi.json and ROUTES drifted apart");
    }
}
