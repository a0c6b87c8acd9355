use super::configuration_error;

#[test]
fn only_a_failed_config_check_is_a_configuration_error() {
    let failed = r#"{"status":"unhealthy","checks":{"config":"error: unknown environment `x`","sqlite":"ok"}}"#;
    assert_eq!(
        configuration_error(failed).as_deref(),
        Some("error: unknown environment `x`")
    );
    let storage = r#"{"status":"unhealthy","checks":{"config":"ok","sqlite":"error: locked"}}"#;
    assert_eq!(configuration_error(storage), None);
    assert_eq!(configuration_error("not json"), None);
}
