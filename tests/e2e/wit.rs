//! The `mirubato:sync` WIT package parses, and declares the interfaces and worlds the components use.

use e2e::workspace_root;
use wit_parser::{Resolve, WorldItem, WorldKey};

#[test]
fn wit_package_parses_with_the_expected_interfaces_and_worlds() {
    let mut resolve = Resolve::new();
    let (package, _) = resolve
        .push_dir(workspace_root().join("wit"))
        .expect("wit/ must parse");
    let package = &resolve.packages[package];
    assert_eq!(package.name.to_string(), "mirubato:sync@0.1.0");

    let functions = |interface: &str| -> Vec<String> {
        let id = package.interfaces[interface];
        let mut names: Vec<String> = resolve.interfaces[id].functions.keys().cloned().collect();
        names.sort();
        names
    };
    assert_eq!(
        functions("auth"),
        ["check-configuration", "verify", "verify-broadcast"]
    );
    assert_eq!(functions("rate-limit"), ["check"]);

    let world_interfaces = |world: &str, exports: bool| -> Vec<String> {
        let world = &resolve.worlds[package.worlds[world]];
        let items = if exports {
            &world.exports
        } else {
            &world.imports
        };
        items
            .iter()
            .filter_map(|(key, item)| match (key, item) {
                (WorldKey::Interface(id), WorldItem::Interface { .. }) => {
                    resolve.interfaces[*id].name.clone()
                }
                _ => None,
            })
            .collect()
    };
    assert_eq!(world_interfaces("auth-provider", true), ["auth"]);
    assert_eq!(world_interfaces("rate-limiter", true), ["rate-limit"]);
    assert_eq!(
        world_interfaces("coordinator", false),
        ["auth", "rate-limit"]
    );
    assert_eq!(world_interfaces("health", false), ["auth"]);
}
