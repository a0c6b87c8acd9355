//! Spin's HTTP routing rules. A route is a sequence of path segments: literals, `:name` parameters
//! (one non-empty segment, reported in `spin-path-match-<name>`) and an optional trailing wildcard
//! (`/...`, or `/*` as Spin also accepts) that matches the rest of the path, empty included.
//!
//! Most specific wins, decided as Spin's router does: compare two routes segment by segment from
//! the start; at the first position where they differ in kind, a literal beats a parameter and a
//! parameter beats the wildcard; if one is a prefix of the other, the shorter wins; routes of equal
//! rank keep manifest order. Leading and trailing slashes of the request path do not matter.

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("route `{route}`: {why}")]
pub struct RouteError {
    route: String,
    why: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
    Wildcard,
}

impl Segment {
    /// Specificity of one segment: literal > parameter > wildcard.
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 2,
            Segment::Param(_) => 1,
            Segment::Wildcard => 0,
        }
    }
}

/// What a matching path filled in: each `:name` with its value, and the wildcard's part (if the
/// route has one).
type Captures<'p> = (Vec<(String, &'p str)>, Option<&'p str>);

/// A parsed route pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    segments: Vec<Segment>,
}

impl RoutePattern {
    pub fn parse(route: &str) -> Result<Self, RouteError> {
        let error = |why| RouteError {
            route: route.to_string(),
            why,
        };
        // Spin reads a route without a leading `/` as if it had one.
        let absolute = format!("/{}", route.trim_start_matches('/'));
        let (body, wildcard) = match absolute
            .strip_suffix("/...")
            .or_else(|| absolute.strip_suffix("/*"))
        {
            Some(prefix) => (prefix, true),
            None => (absolute.as_str(), false),
        };
        let mut segments = Vec::new();
        for part in body.split('/').filter(|part| !part.is_empty()) {
            segments.push(if let Some(name) = part.strip_prefix(':') {
                if name.is_empty() {
                    return Err(error("a `:` parameter needs a name"));
                }
                if name.contains(['.', ':']) {
                    return Err(error(
                        "a `:` parameter must fill its whole segment (sync-host does not split segments at `.`)",
                    ));
                }
                Segment::Param(name.to_string())
            } else if part == "..." || part.starts_with('*') {
                return Err(error("a wildcard may only end the route, as `/...`"));
            } else {
                Segment::Literal(part.to_string())
            });
        }
        if wildcard {
            segments.push(Segment::Wildcard);
        }
        Ok(Self { segments })
    }

    /// `Less` when `self` is more specific than `other`.
    fn specificity(&self, other: &Self) -> Ordering {
        for (mine, theirs) in self.segments.iter().zip(&other.segments) {
            match theirs.rank().cmp(&mine.rank()) {
                Ordering::Equal => continue,
                decided => return decided,
            }
        }
        self.segments.len().cmp(&other.segments.len())
    }

    /// Matches `path`, returning the named parameters and the wildcard's part of the path.
    fn matches<'p>(&self, path: &'p str) -> Option<Captures<'p>> {
        let trimmed = path.trim_matches('/');
        let mut rest = trimmed;
        let mut params = Vec::new();
        for segment in &self.segments {
            if let Segment::Wildcard = segment {
                return Some((params, Some(rest)));
            }
            if rest.is_empty() {
                return None;
            }
            let (head, tail) = rest.split_once('/').unwrap_or((rest, ""));
            match segment {
                Segment::Literal(literal) if literal == head => {}
                Segment::Param(name) if !head.is_empty() => params.push((name.clone(), head)),
                _ => return None,
            }
            rest = tail;
        }
        rest.is_empty().then_some((params, None))
    }
}

/// Spin's value for `spin-path-info`: what the wildcard matched, with the leading slash and the
/// request's own trailing slash (Spin keeps it, although matching ignores it).
fn path_info(captured: Option<&str>, path: &str) -> String {
    let Some(captured) = captured else {
        return String::new();
    };
    match (captured.is_empty(), path.ends_with('/')) {
        (true, false) => String::new(),
        (true, true) => "/".to_string(),
        (false, false) => format!("/{captured}"),
        (false, true) => format!("/{captured}/"),
    }
}

/// A route with the component it runs.
#[derive(Debug, Clone)]
pub struct RouteEntry {
    /// As written in spin.toml, e.g. `/sync/...`.
    pub raw: String,
    pattern: RoutePattern,
    pub component: String,
}

/// What a request path resolved to, with the values of Spin's routing headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch<'a> {
    pub component: &'a str,
    /// `spin-raw-component-route`: the route as written.
    pub raw_route: &'a str,
    /// `spin-matched-route`: the route with the base path `/` applied (one trailing `/` dropped).
    pub matched_route: String,
    /// `spin-component-route`: the route without its `/...` wildcard.
    pub component_route: &'a str,
    /// `spin-path-info`: what the wildcard matched (empty for routes without one).
    pub path_info: String,
    /// `spin-path-match-<name>`: each `:name` parameter's value.
    pub params: Vec<(String, String)>,
}

#[derive(Debug, Default)]
pub struct Router {
    /// Most specific first.
    routes: Vec<RouteEntry>,
}

impl Router {
    /// Builds the router; routes are validated by the manifest, so an unparsable one is an error
    /// here only if the manifest check was bypassed.
    pub fn new(routes: impl IntoIterator<Item = (String, String)>) -> Result<Self, RouteError> {
        let mut routes = routes
            .into_iter()
            .map(|(raw, component)| {
                Ok(RouteEntry {
                    pattern: RoutePattern::parse(&raw)?,
                    raw,
                    component,
                })
            })
            .collect::<Result<Vec<_>, RouteError>>()?;
        // A stable sort: routes of equal specificity keep manifest order, as on Spin.
        routes.sort_by(|a, b| a.pattern.specificity(&b.pattern));
        Ok(Self { routes })
    }

    pub fn routes(&self) -> impl Iterator<Item = &RouteEntry> {
        self.routes.iter()
    }

    pub fn route(&self, path: &str) -> Option<RouteMatch<'_>> {
        self.routes.iter().find_map(|entry| {
            let (params, captured) = entry.pattern.matches(path)?;
            let absolute = if entry.raw.starts_with('/') {
                entry.raw.clone()
            } else {
                format!("/{}", entry.raw)
            };
            Some(RouteMatch {
                component: &entry.component,
                raw_route: &entry.raw,
                matched_route: absolute
                    .strip_suffix('/')
                    .map(str::to_string)
                    .unwrap_or(absolute),
                component_route: entry.raw.strip_suffix("/...").unwrap_or(&entry.raw),
                path_info: path_info(captured, path),
                params: params
                    .into_iter()
                    .map(|(name, value)| (name, value.to_string()))
                    .collect(),
            })
        })
    }
}

#[cfg(test)]
mod tests;
