use super::*;

fn parse(text: &str) -> Result<RuntimeConfig, String> {
    let bases = Bases {
        key_value: "/etc/app".into(),
        sqlite: "/srv/work".into(),
    };
    RuntimeConfig::parse(text, &bases).map_err(|e| e.to_string())
}

#[test]
fn stores_and_databases_are_read_by_label_with_relative_paths_resolved_as_spin_does() {
    let config = parse(
        r#"
        [key_value_store.default]
        type = "redis"
        url = "redis://127.0.0.1:6379"

        [key_value_store.cache]
        type = "spin"
        path = "data/cache.db"

        [key_value_store.scratch]
        type = "spin"

        [sqlite_database.default]
        type = "spin"
        path = "/var/lib/sync/sqlite_db.db"

        [sqlite_database.audit]
        type = "spin"
        path = "audit.db"
        "#,
    )
    .unwrap();
    assert_eq!(
        config.key_value["default"],
        KeyValueBackend::Redis {
            url: "redis://127.0.0.1:6379".into()
        }
    );
    assert_eq!(
        config.key_value["cache"],
        KeyValueBackend::Spin {
            path: Some("/etc/app/data/cache.db".into())
        }
    );
    assert_eq!(
        config.key_value["scratch"],
        KeyValueBackend::Spin { path: None }
    );
    assert_eq!(
        config.sqlite["default"].file_path().unwrap(),
        Path::new("/var/lib/sync/sqlite_db.db")
    );
    assert_eq!(
        config.sqlite["audit"].file_path().unwrap(),
        Path::new("/srv/work/audit.db")
    );
}

#[test]
fn an_empty_file_configures_nothing() {
    assert_eq!(parse("").unwrap(), RuntimeConfig::default());
}

#[test]
fn each_mistake_is_named() {
    for (text, expected) in [
        (
            "[llm_compute]\ntype = \"spin\"",
            "`llm_compute` (LLM inferencing) is a Spin",
        ),
        (
            "state_dir = \"x\"",
            "`state_dir` (the state directory; use --state-dir)",
        ),
        (
            "[sqlite_database.default]\ntype = \"spin\"",
            "[sqlite_database.default]: needs a `path`",
        ),
        ("[key_value]\n", "unknown table [key_value]"),
        (
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://x\"\npassword = \"p\"",
            "[key_value_store.default]: unknown field `password`, expected `url`",
        ),
        (
            "[key_value_store.default]\ntype = \"memcached\"",
            "[key_value_store.default]: unknown variant `memcached`, expected `spin` or `redis`",
        ),
        (
            "[key_value_store.default]\ntype = \"azure_cosmos\"",
            "type `azure_cosmos` (Azure Cosmos DB) is supported by Spin, not by this host",
        ),
        (
            "[key_value_store.default]\nurl = \"redis://x\"",
            "[key_value_store.default]: missing field `type`",
        ),
        (
            "[key_value_store.default]\ntype = \"redis\"",
            "[key_value_store.default]: missing field `url`",
        ),
        (
            "[key_value_store.default]\ntype = \"spin\"\npath = 3",
            "[key_value_store.default]: invalid type: integer `3`, expected path string",
        ),
        (
            "[sqlite_database.default]\ntype = \"libsql\"\nurl = \"ftp://x.turso.io\"\ntoken = \"t\"",
            "[sqlite_database.default]: `url` must be an http://, https:// or libsql:// URL",
        ),
        (
            "[sqlite_database.default]\ntype = \"libsql\"\nurl = \"https://x.turso.io\"",
            "[sqlite_database.default]: missing field `token`",
        ),
        (
            "[sqlite_database.default]\ntype = \"spin\"\nurl = \"x\"",
            "[sqlite_database.default]: unknown field `url`, expected `path`",
        ),
        (
            "key_value_store = 1",
            "`key_value_store` must be tables named by label",
        ),
        (
            "[key_value_store]\ndefault = 1",
            "[key_value_store.default] must be a table",
        ),
        ("[key_value_store.default\n", "not valid TOML"),
    ] {
        let error = parse(text).unwrap_err();
        assert!(error.contains(expected), "{text:?}: {error}");
    }
}

#[test]
fn a_libsql_database_is_read_with_its_url_and_its_token_kept_out_of_debug_output() {
    let config = parse(
        "[sqlite_database.default]\ntype = \"libsql\"\nurl = \"http://127.0.0.1:24600\"\n\
         token = \"s3cret-token\"",
    )
    .unwrap();
    let SqliteBackend::Libsql { url, token } = &config.sqlite["default"] else {
        panic!("{:?}", config.sqlite);
    };
    assert_eq!(url, "http://127.0.0.1:24600");
    assert_eq!(token.expose(), "s3cret-token");
    let debug = format!("{config:?}");
    assert!(!debug.contains("s3cret-token"), "{debug}");
}

#[test]
fn a_token_in_a_refused_entry_is_not_repeated_in_the_message() {
    let error = parse("[sqlite_database.default]\ntype = \"libsql\"\ntoken = \"s3cret-token\"")
        .unwrap_err();
    assert!(!error.contains("s3cret-token"), "{error}");
}
