//! One test per rule Spin's loader and composer apply to dependencies (see the module header).

use super::*;
use crate::app::manifest::Manifest;

const APP: &str = r#"
spin_manifest_version = 2
[application]
name = "t"
[variables]
greeting = { default = "hi" }
[[trigger.http]]
route = "/a/..."
component = "a"
[component.a]
source = "a.wasm"
variables = { g = "{{ greeting }}" }
key_value_stores = ["default"]
"#;

fn with(extra: &str) -> Result<Manifest, ManifestError> {
    Manifest::parse(&format!("{APP}{extra}"), PathBuf::from("."))
}

fn refusal(extra: &str) -> String {
    with(extra).unwrap_err().to_string()
}

fn inherits(manifest: &Manifest, key: &str) -> BTreeSet<Capability> {
    manifest.components["a"]
        .resolved_dependencies
        .iter()
        .find(|d| d.key == key)
        .unwrap()
        .inherits
        .clone()
}

#[test]
fn the_portable_form_inherits_everything_from_the_component_level_flag() {
    let manifest = with(
        "dependencies_inherit_configuration = true\n[component.a.dependencies]\n\"x:auth/auth@0.1.0\" = { path = \"auth.wasm\" }\n\"x:limit/limit@0.1.0\" = { path = \"limit.wasm\" }\n",
    )
    .unwrap();
    assert_eq!(
        inherits(&manifest, "x:auth/auth@0.1.0").len(),
        Capability::ALL.len()
    );
    let without =
        with("[component.a.dependencies]\n\"x:auth/auth@0.1.0\" = { path = \"auth.wasm\" }\n")
            .unwrap();
    assert!(inherits(&without, "x:auth/auth@0.1.0").is_empty());
}

#[test]
fn spin_4_per_dependency_inheritance_is_accepted() {
    let manifest = with(
        "[component.a.dependencies]\n\"x:auth/auth@0.1.0\" = { path = \"auth.wasm\", inherit_configuration = [\"variables\", \"environment\"] }\n",
    )
    .unwrap();
    assert_eq!(
        inherits(&manifest, "x:auth/auth@0.1.0"),
        BTreeSet::from([Capability::Variables, Capability::Environment])
    );
}

#[test]
fn two_dependencies_from_one_wit_package_are_refused() {
    let error = refusal(
        "[component.a.dependencies]\n\"x:sync/auth@0.1.0\" = { path = \"auth.wasm\" }\n\"x:sync/limit@0.1.0\" = { path = \"limit.wasm\" }\n",
    );
    assert!(
        error.contains("both come from WIT package `x:sync`"),
        "{error}"
    );
    assert!(error.contains("package of its own"), "{error}");
}

#[test]
fn component_level_and_per_dependency_inheritance_together_are_refused() {
    let error = refusal(
        "dependencies_inherit_configuration = true\n[component.a.dependencies]\n\"x:auth/auth@0.1.0\" = { path = \"auth.wasm\", inherit_configuration = [\"variables\"] }\n",
    );
    assert!(
        error.contains("Keep only dependencies_inherit_configuration"),
        "{error}"
    );
    // Even `false` at the component level conflicts, as on Spin.
    let error = refusal(
        "dependencies_inherit_configuration = false\n[component.a.dependencies]\n\"x:auth/auth@0.1.0\" = { path = \"auth.wasm\", inherit_configuration = true }\n",
    );
    assert!(error.contains("refuses the two together"), "{error}");
}

#[test]
fn a_dependency_component_with_its_own_resources_is_refused_naming_them() {
    let error = refusal(
        "[component.a.dependencies]\n\"x:auth/auth@0.1.0\" = { component = \"b\" }\n[component.b]\nsource = \"b.wasm\"\nkey_value_stores = [\"default\"]\nallowed_outbound_hosts = [\"https://example.com\"]\n",
    );
    assert!(
        error.contains("may not have their own resources"),
        "{error}"
    );
    assert!(
        error.contains("key_value_stores, allowed_outbound_hosts"),
        "{error}"
    );
    assert!(
        error.contains("dependencies_inherit_configuration = true"),
        "{error}"
    );
}

#[test]
fn a_dependency_on_a_missing_component_is_refused() {
    let error =
        refusal("[component.a.dependencies]\n\"x:auth/auth@0.1.0\" = { component = \"nope\" }\n");
    assert!(error.contains("no component `nope`"), "{error}");
}

#[test]
fn a_whole_package_key_cannot_pick_an_export() {
    let error = refusal(
        "[component.a.dependencies]\n\"x:auth@0.1.0\" = { path = \"auth.wasm\", export = \"x:auth/other@0.1.0\" }\n",
    );
    assert!(error.contains("name the interface in the key"), "{error}");
}

#[test]
fn a_malformed_key_is_refused() {
    for key in ["x:Auth/auth", "x:auth/auth@one", "not a name", "x:/auth"] {
        let error = refusal(&format!(
            "[component.a.dependencies]\n\"{key}\" = {{ path = \"auth.wasm\" }}\n"
        ));
        assert!(
            error.contains("the key must be a plain name"),
            "{key}: {error}"
        );
    }
}

#[test]
fn registry_and_url_forms_are_refused_as_not_implemented() {
    let error = refusal("[component.a.dependencies]\n\"x:auth/auth@0.1.0\" = \"^0.1\"\n");
    assert!(error.contains("not implemented"), "{error}");
    let error = refusal(
        "[component.a.dependencies]\n\"x:auth/auth@0.1.0\" = { url = \"https://example.com/a.wasm\", digest = \"sha256:00\" }\n",
    );
    assert!(error.contains("not implemented"), "{error}");
}

#[test]
fn an_unknown_inherit_key_is_named() {
    let error = refusal(
        "[component.a.dependencies]\n\"x:auth/auth@0.1.0\" = { path = \"auth.wasm\", inherit_configuration = [\"varibles\"] }\n",
    );
    assert!(error.contains("varibles"), "{error}");
}

#[test]
fn names_match_imports_as_spin_matches_them() {
    let name = |key: &str| DependencyName::parse(key).unwrap();
    for (key, imports) in [
        ("foo:bar/baz@0.1.0", &["foo:bar/baz@0.1.0"][..]),
        ("foo:bar/baz", &["foo:bar/baz@0.1.0", "foo:bar/baz"]),
        ("foo:bar", &["foo:bar/baz@0.1.0", "foo:bar/baz"]),
        ("foo:bar@0.1.0", &["foo:bar/baz@0.1.0"]),
        ("foo-bar", &["foo-bar"]),
    ] {
        for import in imports {
            assert!(name(key).matches(import), "{key} should match {import}");
        }
    }
    for (key, imports) in [
        (
            "foo:bar/baz@0.1.0",
            &["foo:bar/baz", "foo:bar/baz@0.2.0"][..],
        ),
        (
            "foo:bar/baz",
            &["foo:bar/bub", "foo:bar/baz-bub", "foo-bar"],
        ),
        ("foo:bar", &["foo:bub/bib"]),
        ("foo:bar@0.1.0", &["foo:bar/baz"]),
    ] {
        for import in imports {
            assert!(
                !name(key).matches(import),
                "{key} should not match {import}"
            );
        }
    }
}

/// The refusal of a dependency `key` (with a path source).
fn key_refusal(key: &str) -> String {
    refusal(&format!(
        "[component.a.dependencies]\n\"{key}\" = {{ path = \"auth.wasm\" }}\n"
    ))
}

#[test]
fn keys_follow_spins_identifier_rules_part_by_part() {
    // Spin reads a plain name and an interface as kebab ids, which may be UPPERCASE words.
    for key in ["auth-client", "AUTH", "x:auth/AUTH", "x:auth/auth-v2@0.1.0"] {
        assert!(
            with(&format!(
                "[component.a.dependencies]\n\"{key}\" = {{ path = \"auth.wasm\" }}\n"
            ))
            .is_ok(),
            "{key}"
        );
    }
    for (key, expected) in [
        // Plain names.
        (
            "auth--client",
            "the plain name is not kebab-case: '-'-separated words must not be empty",
        ),
        (
            "auth-2",
            "the plain name is not kebab-case: '-'-separated words must start with an ASCII letter; got '2'",
        ),
        (
            "auth_client",
            "the plain name is not kebab-case: words must be separated with '-', not '_'",
        ),
        (
            "Auth",
            "the plain name is not kebab-case: '-'-separated words must be all lowercase or all UPPERCASE; got `Auth`",
        ),
        (
            "authé",
            "the plain name is not kebab-case: '-'-separated words may contain only ASCII letters and digits; got 'é'",
        ),
        // Interfaces.
        (
            "x:auth/auth--v2",
            "the interface `auth--v2` is not kebab-case: '-'-separated words must not be empty",
        ),
        (
            "x:auth/auth-2",
            "the interface `auth-2` is not kebab-case: '-'-separated words must start with an ASCII letter",
        ),
        (
            "x:auth/auth_v2",
            "the interface `auth_v2` is not kebab-case: words must be separated with '-', not '_'",
        ),
        (
            "x:auth/Auth",
            "the interface `Auth` is not kebab-case: '-'-separated words must be all lowercase or all UPPERCASE",
        ),
        (
            "x:auth/",
            "the interface `` is not kebab-case: must not be empty",
        ),
        // Namespaces and packages: lower kebab, as WIT labels are.
        (
            "X:auth/auth",
            "the WIT namespace `X` is not lower kebab-case: must be all lowercase; got the UPPERCASE word `X`",
        ),
        (
            "x:AUTH/auth",
            "the WIT package `AUTH` is not lower kebab-case: must be all lowercase",
        ),
        (
            "x:auth-2/auth",
            "the WIT package `auth-2` is not lower kebab-case: '-'-separated words must start with an ASCII letter",
        ),
        (
            "x:auth_2/auth",
            "the WIT package `auth_2` is not lower kebab-case: words must be separated with '-', not '_'",
        ),
        (
            "x:a:b/auth",
            "the WIT package `a:b` is not lower kebab-case: '-'-separated words may contain only ASCII letters and digits; got ':'",
        ),
        ("auth/auth", "no `:` between the WIT namespace and package"),
        ("x:auth/auth@latest", "the version `latest` is not semver"),
    ] {
        let error = key_refusal(key);
        assert!(
            error.contains(&format!("component.a.dependencies.\"{key}\": {expected}")),
            "{key}: {error}"
        );
    }
}

#[test]
fn a_component_reference_follows_spins_kebab_rule() {
    for (id, expected) in [
        ("Other", "must be all lowercase or all UPPERCASE"),
        ("other_2", "words must be separated with '-', not '_'"),
        ("other-2", "must start with an ASCII letter"),
    ] {
        let error = refusal(&format!(
            "[component.a.dependencies]\n\"x:auth/auth\" = {{ component = \"{id}\" }}\n"
        ));
        assert!(
            error.contains(&format!(
                "component.a.dependencies.\"x:auth/auth\".component: `{id}`: "
            )) && error.contains(expected),
            "{id}: {error}"
        );
    }
}
