//! The app's spin.toml and the fixture manifests keep to what both Spin 3.6 (inside SpinKube's
//! shim) and Spin 4 accept, so a later edit cannot silently lose SpinKube. Facts, measured on Spin
//! 3.6.3 and 4.0.2 and read from Spin's manifest schema:
//! - Spin 3.6 takes a dependency only as a version, a registry package, a local `path` or an HTTP
//!   `url`, and inheritance only per component (`dependencies_inherit_configuration = true`); a
//!   per-dependency `inherit_configuration` fails to parse. This project uses `path` only (and no
//!   `{ component = … }`), pointing at the built wasm.
//! - Spin's composer registers each dependency under its WIT package name: two dependencies of a
//!   component from one package cannot be composed.
//! - `spin build` runs each component's build command, so the command of a component with
//!   dependencies must build what their paths name (fixture wasm is built by
//!   scripts/build-components instead).

use e2e::workspace_root;
use std::collections::BTreeSet;
use std::path::Path;

/// Every manifest the project ships or tests with.
fn manifests() -> Vec<std::path::PathBuf> {
    let mut manifests = vec![workspace_root().join("spin.toml")];
    let fixtures = workspace_root().join("tests/fixtures");
    for entry in std::fs::read_dir(&fixtures).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            manifests.push(path);
        }
    }
    assert!(manifests.len() >= 2, "{manifests:?}");
    manifests
}

/// `-p <crate>` for the wasm file `<crate with _>.wasm`.
fn package_flag(wasm: &Path) -> String {
    let stem = wasm
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .replace('_', "-");
    format!("-p {stem}")
}

fn problems_of(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let manifest: toml::Table = toml::from_str(&text).unwrap();
    let is_app = path.ends_with("spin.toml") && path.parent() == Some(&workspace_root());
    let fixture_builds = std::fs::read_to_string(workspace_root().join("scripts/build-components"))
        .unwrap()
        .replace("\\\n", " ");
    let mut problems = Vec::new();
    let components = manifest
        .get("component")
        .and_then(toml::Value::as_table)
        .cloned()
        .unwrap_or_default();
    for (id, component) in &components {
        let component = component.as_table().unwrap();
        if let Some(flag) = component.get("dependencies_inherit_configuration")
            && !flag.is_bool()
        {
            problems.push(format!(
                "{id}: dependencies_inherit_configuration must be a boolean"
            ));
        }
        let Some(dependencies) = component
            .get("dependencies")
            .and_then(toml::Value::as_table)
        else {
            continue;
        };
        let mut packages = BTreeSet::new();
        for (key, dependency) in dependencies {
            let what = format!("{id}: dependency \"{key}\"");
            // `ns:pkg`, `ns:pkg/interface`, either with `@version`: the package is what Spin
            // registers the dependency under.
            let package = key.split('@').next().unwrap_or(key);
            let package = package.split('/').next().unwrap_or(package);
            if !packages.insert(package.to_string()) {
                problems.push(format!("{what}: a second dependency from WIT package `{package}`; Spin cannot compose both"));
            }
            let Some(table) = dependency.as_table() else {
                problems.push(format!("{what}: use {{ path = \"…\" }}"));
                continue;
            };
            for field in table.keys() {
                match field.as_str() {
                    "path" | "export" => {}
                    "inherit_configuration" => problems.push(format!(
                        "{what}: per-dependency inherit_configuration is Spin 4 only (Spin 3.6 cannot parse it); set dependencies_inherit_configuration = true on `{id}`"
                    )),
                    "component" => problems.push(format!(
                        "{what}: {{ component = … }} is not this project's form; point `path` at the built wasm"
                    )),
                    other => problems.push(format!("{what}: `{other}` is not a local dependency field")),
                }
            }
            let Some(wasm) = table.get("path").and_then(toml::Value::as_str) else {
                problems.push(format!("{what}: no `path`"));
                continue;
            };
            let wasm = Path::new(wasm);
            if !wasm
                .to_string_lossy()
                .contains("target/wasm32-wasip2/release/")
            {
                problems.push(format!(
                    "{what}: {} is not a built wasm under target/wasm32-wasip2/release",
                    wasm.display()
                ));
            }
            let flag = package_flag(wasm);
            let builds = if is_app {
                component
                    .get("build")
                    .and_then(|b| b.get("command"))
                    .and_then(toml::Value::as_str)
                    .is_some_and(|command| {
                        command
                            .split_whitespace()
                            .collect::<Vec<_>>()
                            .join(" ")
                            .contains(&flag)
                    })
            } else {
                fixture_builds
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .contains(&flag)
            };
            if !builds {
                problems.push(format!(
                    "{what}: nothing builds {} ({flag} missing from {})",
                    wasm.display(),
                    if is_app {
                        "the component's build command"
                    } else {
                        "scripts/build-components"
                    }
                ));
            }
        }
    }
    problems
}

#[test]
fn manifests_use_only_dependency_forms_spin_3_6_and_4_both_accept() {
    let mut problems = Vec::new();
    for manifest in manifests() {
        for problem in problems_of(&manifest) {
            problems.push(format!("{}: {problem}", manifest.display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checks_catch_each_spin_4_only_or_unbuildable_form() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(
        &path,
        r#"spin_manifest_version = 2
[application]
name = "bad"
[component.a]
source = "a.wasm"
dependencies_inherit_configuration = "yes"
[component.a.dependencies]
"x:sync/auth@0.1.0" = { component = "auth", inherit_configuration = ["variables"] }
"x:sync/limit@0.1.0" = { path = "target/wasm32-wasip2/release/never_built.wasm" }
"x:other@0.1.0" = "^0.1"
"x:remote/thing@0.1.0" = { url = "https://example.com/thing.wasm", digest = "sha256:00" }
"#,
    )
    .unwrap();
    let problems = problems_of(&path).join("\n");
    for expected in [
        "must be a boolean",
        "Spin 4 only",
        "{ component = … }",
        "a second dependency from WIT package `x:sync`",
        "nothing builds target/wasm32-wasip2/release/never_built.wasm",
        "\"x:other@0.1.0\": use { path",
        "`url` is not a local dependency field",
    ] {
        assert!(
            problems.contains(expected),
            "missing {expected:?} in:\n{problems}"
        );
    }
}
