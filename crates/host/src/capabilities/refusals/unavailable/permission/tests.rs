//! Spin's answers, as Spin 3.6.3 and 4.0.2 gave them to `tests/components/unprovided` (loopback
//! port 9, no grants), and the fall-through to "not provided" once the address is granted.

use super::*;

struct Grants(AllowedHosts);

impl OutboundGrant for Grants {
    fn allowed_outbound_hosts(&self) -> &AllowedHosts {
        &self.0
    }
}

fn grants(entries: &[&str]) -> Grants {
    Grants(AllowedHosts::parse(entries.iter().copied()).unwrap())
}

fn answer(grants: &Grants, interface: &str, function: &str, first: &str) -> Option<ErrorCase> {
    refusal_before_use(grants, interface, function, &[Val::String(first.into())])
}

fn failed(message: &str) -> Option<ErrorCase> {
    Some(connection_failed(message.into()))
}

#[test]
fn without_a_grant_each_open_gets_spins_refusal() {
    let none = grants(&[]);
    assert_eq!(
        answer(&none, REDIS, OPEN, "redis://127.0.0.1:9"),
        Some(ErrorCase {
            case: "invalid-address",
            message: None
        })
    );
    assert_eq!(
        answer(&none, MQTT, OPEN, "mqtt://127.0.0.1:9"),
        failed("address mqtt://127.0.0.1:9 is not permitted")
    );
    assert_eq!(
        answer(&none, POSTGRES, OPEN, "postgres://127.0.0.1:9/db"),
        failed("address postgres://127.0.0.1:9 is not permitted")
    );
    assert_eq!(
        answer(&none, MYSQL, OPEN, "mysql://127.0.0.1:9/db"),
        failed("address mysql://127.0.0.1:9/db is not permitted")
    );
}

#[test]
fn the_conformance_tests_mqtt_address_is_refused_as_spin_refuses_it() {
    // fermyon/conformance-tests `outbound-mqtt-no-permission`.
    assert_eq!(
        answer(
            &grants(&[]),
            MQTT,
            OPEN,
            "mqtt://localhost:1883?client_id=spintest"
        ),
        failed("address mqtt://localhost:1883?client_id=spintest is not permitted")
    );
    assert_eq!(
        answer(
            &grants(&["mqtt://localhost:1883"]),
            MQTT,
            OPEN,
            "mqtt://localhost:1883?client_id=spintest"
        ),
        None
    );
}

#[test]
fn a_granted_address_falls_through_to_not_provided() {
    let granted = grants(&[
        "redis://127.0.0.1:9",
        "mqtt://127.0.0.1:9",
        "postgres://127.0.0.1:9",
        "mysql://127.0.0.1:9",
    ]);
    assert_eq!(answer(&granted, REDIS, OPEN, "redis://127.0.0.1:9"), None);
    assert_eq!(answer(&granted, MQTT, OPEN, "mqtt://127.0.0.1:9"), None);
    assert_eq!(
        answer(&granted, POSTGRES, OPEN, "postgres://127.0.0.1:9/db"),
        None
    );
    assert_eq!(
        answer(&granted, MYSQL, OPEN, "mysql://user:pw@127.0.0.1:9/db"),
        None
    );
}

#[test]
fn addresses_are_matched_with_the_interfaces_scheme_and_default_port() {
    let redis = grants(&["redis://cache.internal"]);
    assert_eq!(answer(&redis, REDIS, OPEN, "redis://cache.internal"), None);
    assert_eq!(answer(&redis, REDIS, OPEN, "cache.internal:6379"), None);
    assert!(answer(&redis, REDIS, OPEN, "redis://cache.internal:6380").is_some());
    // A grant for another scheme does not permit the connection.
    assert!(
        answer(
            &grants(&["http://cache.internal:6379"]),
            REDIS,
            OPEN,
            "redis://cache.internal"
        )
        .is_some()
    );
    // Nor does anything permit an address Spin cannot read, even with the scheme put in front.
    let everything = grants(&["*://*:*"]);
    assert!(answer(&everything, MQTT, OPEN, "host:port").is_some());
    assert_eq!(answer(&everything, MQTT, OPEN, "host:1"), None);
    // An empty address is `mqtt://`, whose empty host only `*` permits.
    assert_eq!(answer(&everything, MQTT, OPEN, ""), None);
    assert!(answer(&grants(&["mqtt://broker"]), MQTT, OPEN, "").is_some());
}

#[test]
fn every_postgres_host_must_be_permitted() {
    let one = grants(&["postgres://db-a:5432"]);
    assert_eq!(answer(&one, POSTGRES, OPEN, "postgres://db-a/app"), None);
    assert_eq!(
        answer(&one, POSTGRES, OPEN, "postgresql://u:p@db-a,db-b:5433/app"),
        failed("address postgres://db-b:5433 is not permitted")
    );
    assert_eq!(
        answer(&one, POSTGRES, OPEN, "host=db-a,db-b port=5432 dbname=app"),
        failed("address postgres://db-b:5432 is not permitted")
    );
    // Several ports pair with the hosts by position.
    assert_eq!(
        answer(&grants(&[]), POSTGRES, OPEN, "host=db-a,db-b port=1,2,3"),
        failed("address postgres://db-a:1 is not permitted")
    );
    // No port: Spin names the host alone (and matches it on the default port).
    assert_eq!(
        answer(&grants(&[]), POSTGRES, OPEN, "host=db-a"),
        failed("address postgres://db-a is not permitted")
    );
    assert_eq!(
        answer(
            &grants(&["*://*:*"]),
            POSTGRES,
            OPEN,
            "host=/var/run/postgresql"
        ),
        failed("Unix sockets are not supported on WebAssembly")
    );
    assert_eq!(
        answer(
            &grants(&["*://*:*"]),
            POSTGRES,
            OPEN,
            "postgres://db-a:x/app"
        ),
        failed("invalid configuration: invalid value for option `port`")
    );
}

#[test]
fn no_component_has_an_ai_model_so_every_llm_call_is_refused() {
    let all = grants(&["*://*:*"]);
    for function in ["infer", "generate-embeddings"] {
        assert_eq!(
            answer(&all, LLM, function, "llama2-chat"),
            Some(ErrorCase {
                case: "invalid-input",
                message: Some("The component does not have access to use 'llama2-chat'. To give the component access, add 'llama2-chat' to the 'ai_models' key for the component in your spin.toml manifest".into()),
            })
        );
    }
}

#[test]
fn calls_on_a_connection_are_left_to_not_provided() {
    // Without an open connection there is nothing to check; the resource argument is no address.
    let none = grants(&[]);
    assert_eq!(
        refusal_before_use(&none, MQTT, "[method]connection.publish", &[Val::U64(1)]),
        None
    );
    assert_eq!(
        answer(&none, MQTT, "[method]connection.publish", "topic"),
        None
    );
}
