use super::*;

fn view_test(allowed: &[&str], f: impl FnOnce(&mut KeyValueView<'_>)) {
    let dir = tempfile::tempdir().unwrap();
    let app = Arc::new(AppState::with_default_file(dir.path().join("kv.db")));
    let state = InstanceState {
        app,
        allowed: Arc::new(allowed.iter().map(|s| s.to_string()).collect()),
    };
    let mut table = ResourceTable::new();
    f(&mut KeyValueView {
        state: &state,
        table: &mut table,
    });
}

#[test]
fn set_get_delete_roundtrip() {
    view_test(&["default"], |view| {
        let store = view.open("default".into()).unwrap().unwrap();
        let again = Resource::<OpenStore>::new_borrow(store.rep());
        view.set(again, "k".into(), b"v".to_vec()).unwrap().unwrap();
        let again = Resource::<OpenStore>::new_borrow(store.rep());
        assert_eq!(
            view.get(again, "k".into()).unwrap().unwrap(),
            Some(b"v".to_vec())
        );
        let again = Resource::<OpenStore>::new_borrow(store.rep());
        assert_eq!(
            view.get_keys(again).unwrap().unwrap(),
            vec!["k".to_string()]
        );
        let again = Resource::<OpenStore>::new_borrow(store.rep());
        view.delete(again, "k".into()).unwrap().unwrap();
        let again = Resource::<OpenStore>::new_borrow(store.rep());
        assert!(!view.exists(again, "k".into()).unwrap().unwrap());
    });
}

#[test]
fn ungranted_label_is_access_denied() {
    view_test(&[], |view| {
        assert!(matches!(
            view.open("default".into()).unwrap(),
            Err(Error::AccessDenied)
        ));
    });
}

#[test]
fn granted_but_unconfigured_label_is_no_such_store() {
    view_test(&["other"], |view| {
        assert!(matches!(
            view.open("other".into()).unwrap(),
            Err(Error::NoSuchStore)
        ));
    });
}

#[test]
fn a_runtime_config_adds_labels_and_moves_default() {
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("shared.db");
    let labels = BTreeMap::from([
        (
            "default".to_string(),
            KeyValueBackend::Spin {
                path: Some(shared.clone()),
            },
        ),
        (
            "other".to_string(),
            KeyValueBackend::Spin {
                path: Some(shared.clone()),
            },
        ),
        ("memory".to_string(), KeyValueBackend::Spin { path: None }),
    ]);
    let app =
        AppState::configure(&labels, &dir.path().join("unused.db"), &Default::default()).unwrap();
    app.stores["default"].set("k", b"default").unwrap();
    app.stores["other"].set("k", b"other").unwrap();
    app.stores["memory"].set("k", b"memory").unwrap();
    // Two labels on one file keep their keys apart; the memory store keeps its own.
    assert_eq!(
        app.stores["default"].get("k").unwrap(),
        Some(b"default".to_vec())
    );
    assert_eq!(
        app.stores["other"].get("k").unwrap(),
        Some(b"other".to_vec())
    );
    assert_eq!(
        app.stores["memory"].get("k").unwrap(),
        Some(b"memory".to_vec())
    );
    assert!(shared.exists());
    assert!(!dir.path().join("unused.db").exists(), "default was moved");
    assert!(!app.has("missing"));
}

#[test]
fn a_malformed_redis_url_is_refused_without_repeating_it() {
    let labels = BTreeMap::from([(
        "default".to_string(),
        KeyValueBackend::Redis {
            url: "rediss//:hunter2@cache".into(),
        },
    )]);
    let error = AppState::configure(&labels, Path::new("unused.db"), &Default::default())
        .err()
        .unwrap()
        .to_string();
    assert!(
        error.contains("[key_value_store.default]: invalid Redis URL"),
        "{error}"
    );
    assert!(!error.contains("hunter2"), "{error}");
}

#[test]
fn unusable_file_is_a_guest_error_not_a_trap() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the database file should be: SQLite cannot open it.
    std::fs::create_dir(dir.path().join("kv.db")).unwrap();
    let store = sqlite_store::SqliteStore {
        label: "default".into(),
        file: SqliteFile::new(dir.path().join("kv.db")),
    };
    assert!(store.get("k").is_err());
}
