//! Fixture dependency: exports `fixture:greeter/greet`, which uses Spin variables and key-value so
//! tests can see which capabilities the importing component's manifest entry passes on, and
//! `fixture:greeter/farewell`, which uses none.

wit_bindgen::generate!({ path: "../wit", world: "greeter" });

use exports::fixture::greeter::greet::Guest;
use spin_sdk::{key_value, variables};

struct Greeter;

impl Guest for Greeter {
    fn hello(name: String) -> String {
        match variables::get("greeting") {
            Ok(greeting) => format!("{greeting}, {name}!"),
            Err(e) => format!("variables unavailable: {e:?}"),
        }
    }

    fn count_call() -> Result<u64, String> {
        let store = key_value::Store::open_default().map_err(|e| format!("{e:?}"))?;
        let current = store
            .get("greeter-calls")
            .map_err(|e| format!("{e:?}"))?
            .and_then(|bytes| String::from_utf8(bytes).ok()?.parse::<u64>().ok())
            .unwrap_or(0);
        let next = current + 1;
        store
            .set("greeter-calls", next.to_string().as_bytes())
            .map_err(|e| format!("{e:?}"))?;
        Ok(next)
    }
}

impl exports::fixture::greeter::farewell::Guest for Greeter {
    fn goodbye(name: String) -> String {
        format!("Goodbye, {name}!")
    }
}

export!(Greeter);
