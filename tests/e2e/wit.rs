//! The WIT contract parses: one package per exported interface (`mirubato:auth`,
//! `mirubato:rate-limit`, so Spin can compose both into one component) and the worlds the
//! components use (`mirubato:sync`).

use e2e::workspace_root;
use wit_parser::{Resolve, WorldItem, WorldKey};

#[test]
fn each_interface_has_a_package_of_its_own_and_the_worlds_use_them() {
    let mut resolve = Resolve::new();
    let (worlds_package, _) = resolve
        .push_dir(workspace_root().join("wit"))
        .expect("wit/ must parse");
    assert_eq!(
        resolve.packages[worlds_package].name.to_string(),
        "mirubato:sync@0.1.0"
    );
    assert!(
        resolve.packages[worlds_package].interfaces.is_empty(),
        "the worlds' package exports no interface of its own"
    );

    let package_of = |interface: &str| -> String {
        let id = resolve
            .interfaces
            .iter()
            .find(|(_, i)| i.name.as_deref() == Some(interface))
            .map(|(id, _)| id)
            .unwrap_or_else(|| panic!("no interface {interface}"));
        let package = resolve.interfaces[id].package.unwrap();
        resolve.packages[package].name.to_string()
    };
    assert_eq!(package_of("auth"), "mirubato:auth@0.1.0");
    assert_eq!(package_of("rate-limit"), "mirubato:rate-limit@0.1.0");

    let functions = |interface: &str| -> Vec<String> {
        let (_, iface) = resolve
            .interfaces
            .iter()
            .find(|(_, i)| i.name.as_deref() == Some(interface))
            .unwrap();
        let mut names: Vec<String> = iface.functions.keys().cloned().collect();
        names.sort();
        names
    };
    assert_eq!(
        functions("auth"),
        ["check-configuration", "verify", "verify-broadcast"]
    );
    assert_eq!(functions("rate-limit"), ["check", "decide"]);

    let world_interfaces = |world: &str, exports: bool| -> Vec<String> {
        let world = &resolve.worlds[resolve.packages[worlds_package].worlds[world]];
        let items = if exports {
            &world.exports
        } else {
            &world.imports
        };
        items
            .iter()
            .filter_map(|(key, item)| match (key, item) {
                (WorldKey::Interface(id), WorldItem::Interface { .. }) => {
                    Some(resolve.id_of(*id).unwrap())
                }
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        world_interfaces("auth-provider", true),
        ["mirubato:auth/auth@0.1.0"]
    );
    assert_eq!(
        world_interfaces("rate-limiter", true),
        ["mirubato:rate-limit/rate-limit@0.1.0"]
    );
    assert_eq!(
        world_interfaces("coordinator", false),
        [
            "mirubato:auth/auth@0.1.0",
            "mirubato:rate-limit/rate-limit@0.1.0"
        ]
    );
    assert_eq!(
        world_interfaces("health", false),
        ["mirubato:auth/auth@0.1.0"]
    );
}
