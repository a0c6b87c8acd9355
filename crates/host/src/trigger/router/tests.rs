use super::*;

fn router(routes: &[(&str, &str)]) -> Router {
    Router::new(
        routes
            .iter()
            .map(|(route, component)| (route.to_string(), component.to_string())),
    )
    .unwrap()
}

fn component<'a>(router: &'a Router, path: &str) -> Option<&'a str> {
    router.route(path).map(|m| m.component)
}

#[test]
fn exact_routes_match_only_their_path_with_or_without_a_trailing_slash() {
    let r = router(&[("/health", "health"), ("/", "root")]);
    assert_eq!(component(&r, "/health"), Some("health"));
    assert_eq!(component(&r, "/health/"), Some("health"));
    assert_eq!(component(&r, "/healthz"), None);
    assert_eq!(component(&r, "/health/x"), None);
    assert_eq!(component(&r, "/"), Some("root"));
    assert_eq!(r.route("/health").unwrap().path_info, "");
}

#[test]
fn trailing_wildcard_matches_its_prefix_and_below_and_keeps_the_trailing_slash() {
    let r = router(&[("/test/...", "t")]);
    let info = |path: &str| r.route(path).map(|m| m.path_info);
    assert_eq!(info("/test").as_deref(), Some(""));
    assert_eq!(info("/test/").as_deref(), Some("/"));
    assert_eq!(info("/test/hello").as_deref(), Some("/hello"));
    assert_eq!(info("/test/hello/").as_deref(), Some("/hello/"));
    assert_eq!(info("/test/a/b").as_deref(), Some("/a/b"));
    assert_eq!(info("/testing"), None);
    let m = r.route("/test/a").unwrap();
    assert_eq!(
        (m.raw_route, m.matched_route.as_str(), m.component_route),
        ("/test/...", "/test/...", "/test")
    );
}

#[test]
fn catch_all_matches_everything_and_star_is_the_same_wildcard() {
    let r = router(&[("/...", "all")]);
    for path in ["/", "/a", "/a/b/", "/this/is/captured"] {
        assert_eq!(component(&r, path), Some("all"), "{path}");
    }
    assert_eq!(r.route("/1/2/3").unwrap().path_info, "/1/2/3");
    let r = router(&[("/files/*", "files")]);
    assert_eq!(r.route("/files/a/b").unwrap().path_info, "/a/b");
}

#[test]
fn named_parameters_capture_one_non_empty_segment() {
    let r = router(&[("/1/:two/3", "exact"), ("/a/:b/...", "wild")]);
    let m = r.route("/1/2/3").unwrap();
    assert_eq!(m.params, [("two".to_string(), "2".to_string())]);
    assert_eq!(component(&r, "/1/2/3/4"), None);
    assert_eq!(component(&r, "/1//3"), None);
    let m = r.route("/a/x/y/z").unwrap();
    assert_eq!(
        (m.component, m.params[0].1.as_str(), m.path_info.as_str()),
        ("wild", "x", "/y/z")
    );
    assert_eq!(component(&r, "/a"), None, "a parameter is never empty");
}

#[test]
fn longest_match_wins_regardless_of_manifest_order() {
    let routes = [
        ("/one/...", "one"),
        ("/one/two/...", "two"),
        ("/one/two/three/...", "three"),
    ];
    let forward = router(&routes);
    let mut reversed = routes;
    reversed.reverse();
    let backward = router(&reversed);
    for r in [forward, backward] {
        assert_eq!(component(&r, "/one/two/three/four"), Some("three"));
        assert_eq!(component(&r, "/one/two/x"), Some("two"));
        assert_eq!(component(&r, "/one/x"), Some("one"));
    }
}

#[test]
fn exact_beats_wildcard_and_literal_beats_parameter_beats_wildcard() {
    let r = router(&[
        ("/...", "all"),
        ("/users/:id/...", "user-any"),
        ("/users/:id/items/:item", "item"),
        ("/users/admin", "admin"),
        ("/users/:id", "user"),
        ("/one", "one"),
    ]);
    assert_eq!(component(&r, "/one"), Some("one"));
    assert_eq!(component(&r, "/users/admin"), Some("admin"));
    assert_eq!(component(&r, "/users/ada"), Some("user"));
    assert_eq!(component(&r, "/users/admin/x"), Some("user-any"));
    assert_eq!(component(&r, "/users/ada/items/7"), Some("item"));
    assert_eq!(component(&r, "/users/ada/items/7/x"), Some("user-any"));
    assert_eq!(component(&r, "/users"), Some("all"));
}

#[test]
fn a_literal_prefix_with_a_wildcard_beats_a_parameter_at_that_position() {
    // Spin compares position by position: `/a/...` has a literal where `/:x` has a parameter.
    let r = router(&[("/:x", "param"), ("/a/...", "a")]);
    assert_eq!(component(&r, "/a"), Some("a"));
    assert_eq!(component(&r, "/b"), Some("param"));
}

#[test]
fn equally_specific_routes_keep_manifest_order() {
    let r = router(&[("/:first", "first"), ("/:second", "second")]);
    assert_eq!(component(&r, "/x"), Some("first"));
}

#[test]
fn route_without_leading_slash_is_absolute_and_base_drops_one_trailing_slash() {
    let r = router(&[("foo", "foo"), ("/bar/", "bar"), ("/", "root")]);
    assert_eq!(component(&r, "/foo"), Some("foo"));
    let bar = r.route("/bar").unwrap();
    assert_eq!(
        (bar.raw_route, bar.matched_route.as_str()),
        ("/bar/", "/bar")
    );
    assert_eq!(r.route("/").unwrap().matched_route, "");
}

#[test]
fn malformed_routes_are_refused() {
    for bad in ["/a/:", "/a/:b.json", "/a/.../b", "/a/*name"] {
        assert!(RoutePattern::parse(bad).is_err(), "{bad}");
    }
    for good in ["/a/:b", "/a/b.json", "/a:b", "/...", "/"] {
        assert!(RoutePattern::parse(good).is_ok(), "{good}");
    }
}

#[test]
fn no_match_is_none() {
    let r = router(&[("/health", "h")]);
    assert!(r.route("/nope").is_none());
}
