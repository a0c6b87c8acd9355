//! Spin's HTTP routing rules: `/a/b` matches exactly that path, `/a/...` matches `/a` and
//! everything below it, `/...` matches everything; the most specific route wins, and an exact
//! route beats a wildcard of the same prefix.

/// A route with the component it runs.
#[derive(Debug, Clone)]
pub struct RouteEntry {
    /// As written in spin.toml, e.g. `/sync/...`.
    pub raw: String,
    /// The matched prefix without the wildcard, e.g. `/sync` (`` for `/...`).
    prefix: String,
    wildcard: bool,
    pub component: String,
}

/// What a request path resolved to, with the values of Spin's routing headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch<'a> {
    pub component: &'a str,
    /// `spin-matched-route` / `spin-raw-component-route`.
    pub raw_route: &'a str,
    /// `spin-component-route`: the route without its wildcard.
    pub component_route: &'a str,
    /// `spin-path-info`: what the wildcard matched (empty for exact routes).
    pub path_info: String,
}

/// Removes a trailing slash (but keeps `/`), so `/a/` and `/a` are the same route.
pub fn normalize(route: &str) -> String {
    let trimmed = route.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_string()
    } else {
        trimmed.to_string()
    }
}

#[derive(Debug, Default)]
pub struct Router {
    routes: Vec<RouteEntry>,
}

impl Router {
    pub fn new(routes: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut routes: Vec<RouteEntry> = routes
            .into_iter()
            .map(|(raw, component)| {
                let (prefix, wildcard) = match raw.strip_suffix("/...") {
                    Some(prefix) => (prefix.to_string(), true),
                    None => (normalize(&raw), false),
                };
                RouteEntry {
                    raw,
                    prefix,
                    wildcard,
                    component,
                }
            })
            .collect();
        // Most specific first: longer prefixes, then exact before wildcard.
        routes.sort_by(|a, b| {
            b.prefix
                .len()
                .cmp(&a.prefix.len())
                .then(a.wildcard.cmp(&b.wildcard))
        });
        Self { routes }
    }

    pub fn routes(&self) -> impl Iterator<Item = &RouteEntry> {
        self.routes.iter()
    }

    pub fn route(&self, path: &str) -> Option<RouteMatch<'_>> {
        let path = normalize(path);
        self.routes.iter().find_map(|entry| {
            let path_info = if entry.wildcard {
                let rest = path.strip_prefix(entry.prefix.as_str())?;
                if !(rest.is_empty() || rest.starts_with('/') || entry.prefix.is_empty()) {
                    return None;
                }
                rest.to_string()
            } else if path == entry.prefix {
                String::new()
            } else {
                return None;
            };
            Some(RouteMatch {
                component: &entry.component,
                raw_route: &entry.raw,
                component_route: &entry.prefix,
                path_info,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        Router::new(
            [
                ("/health", "health"),
                ("/sync/...", "sync"),
                ("/sync/special", "special"),
                ("/...", "fallback"),
            ]
            .map(|(r, c)| (r.to_string(), c.to_string())),
        )
    }

    #[test]
    fn exact_route() {
        let r = router();
        let m = r.route("/health").unwrap();
        assert_eq!((m.component, m.path_info.as_str()), ("health", ""));
        assert_eq!(r.route("/health/").unwrap().component, "health");
        // Not a prefix match: falls through to the catch-all.
        assert_eq!(r.route("/health/x").unwrap().component, "fallback");
        assert_eq!(r.route("/healthz").unwrap().component, "fallback");
    }

    #[test]
    fn wildcard_route_and_path_info() {
        let r = router();
        let m = r.route("/sync/ws").unwrap();
        assert_eq!(m.component, "sync");
        assert_eq!(m.path_info, "/ws");
        assert_eq!(m.component_route, "/sync");
        assert_eq!(m.raw_route, "/sync/...");
        assert_eq!(r.route("/sync").unwrap().path_info, "");
        assert_eq!(r.route("/syncx").unwrap().component, "fallback");
    }

    #[test]
    fn most_specific_wins() {
        let r = router();
        assert_eq!(r.route("/sync/special").unwrap().component, "special");
        assert_eq!(r.route("/sync/special/x").unwrap().component, "sync");
    }

    #[test]
    fn catch_all_and_no_match() {
        assert_eq!(router().route("/").unwrap().component, "fallback");
        assert_eq!(
            router().route("/anything/else").unwrap().path_info,
            "/anything/else"
        );
        let only_health = Router::new([("/health".to_string(), "h".to_string())]);
        assert!(only_health.route("/nope").is_none());
    }
}
