//! The one `bindgen!` of the host: Spin 2.0's key-value, SQLite and variables interfaces, with
//! their resources mapped to the capability modules' own types.

wasmtime::component::bindgen!({
    path: "wit",
    world: "host",
    imports: { default: trappable },
    with: {
        "fermyon:spin/key-value.store": crate::capabilities::key_value::OpenStore,
        "fermyon:spin/sqlite.connection": crate::capabilities::sqlite::OpenConnection,
    },
});
