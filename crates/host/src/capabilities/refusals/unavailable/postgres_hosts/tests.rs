use super::*;

fn tcp(host: &str) -> PostgresHost {
    PostgresHost::Tcp(host.into())
}

fn targets(connection_string: &str) -> Vec<(PostgresHost, Option<u16>)> {
    parse(connection_string)
        .unwrap()
        .hosts_with_ports()
        .map(|(host, port)| (host.clone(), port))
        .collect()
}

#[test]
fn a_url_names_each_host_with_its_port_or_5432() {
    assert_eq!(
        targets("postgres://127.0.0.1:9/db"),
        [(tcp("127.0.0.1"), Some(9))]
    );
    assert_eq!(
        targets("postgresql://user:pw@a,b:5433,[::1]/db?sslmode=disable"),
        [
            (tcp("a"), Some(5432)),
            (tcp("b"), Some(5433)),
            (tcp("::1"), Some(5432))
        ]
    );
    assert_eq!(targets("postgres://h%2Dx/db"), [(tcp("h-x"), Some(5432))]);
}

#[test]
fn query_hosts_and_ports_are_added() {
    assert_eq!(
        targets("postgres:///db?host=%2Ftmp&port=6000"),
        [(PostgresHost::Unix, Some(6000))]
    );
    // The URL's host brought the only port, which every host then shares.
    assert_eq!(
        targets("postgres://a/db?host=b"),
        [(tcp("a"), Some(5432)), (tcp("b"), Some(5432))]
    );
}

#[test]
fn key_values_pair_hosts_and_ports_by_position_or_share_one_port() {
    assert_eq!(
        targets("host=a,b port=1,2 user=x"),
        [(tcp("a"), Some(1)), (tcp("b"), Some(2))]
    );
    assert_eq!(targets("host = 'a' port=7"), [(tcp("a"), Some(7))]);
    assert_eq!(
        targets("host=a,b port=7"),
        [(tcp("a"), Some(7)), (tcp("b"), Some(7))]
    );
    assert_eq!(targets("host=a,b"), [(tcp("a"), None), (tcp("b"), None)]);
    assert_eq!(targets("dbname=x"), []);
    assert_eq!(targets(""), []);
}

#[test]
fn malformed_strings_say_what_tokio_postgres_would_refuse() {
    assert_eq!(
        parse("postgres://a:x/db"),
        Err(PostgresAddressError::InvalidValue("port"))
    );
    assert_eq!(
        parse("postgres://[::1/db"),
        Err(PostgresAddressError::InvalidValue("host"))
    );
    assert_eq!(
        parse("postgres://a/db?sslmode"),
        Err(PostgresAddressError::UnterminatedParameter)
    );
    assert_eq!(
        parse("host='a"),
        Err(PostgresAddressError::UnterminatedQuote)
    );
    assert_eq!(
        parse("host"),
        Err(PostgresAddressError::MissingEquals("host".into()))
    );
    assert_eq!(
        parse("port=70000"),
        Err(PostgresAddressError::InvalidValue("port"))
    );
}
