use super::*;
use serde_json::json;

#[test]
fn piece_id_precedence() {
    assert_eq!(
        piece_id(&json!({"id": "rep_01", "scoreId": "s-1"})),
        Some("s-1")
    );
    assert_eq!(
        piece_id(&json!({"id": "rep_01", "score_id": "s-2"})),
        Some("s-2")
    );
    assert_eq!(piece_id(&json!({"id": "rep_01"})), Some("rep_01"));
    assert_eq!(
        piece_id(&json!({"scoreId": "", "id": "rep_01"})),
        Some("rep_01")
    );
    assert_eq!(piece_id(&json!({"scoreId": 5})), None);
}

#[test]
fn ids_must_be_short_non_empty_strings() {
    assert_eq!(valid_id(Some(&json!("a"))), Some("a"));
    assert_eq!(valid_id(Some(&json!("  "))), None);
    assert_eq!(valid_id(Some(&json!("x".repeat(MAX_ID_BYTES + 1)))), None);
    assert_eq!(valid_id(Some(&json!(1))), None);
    assert_eq!(valid_id(None), None);
}

#[test]
fn updated_at_as_an_instant() {
    assert_eq!(
        updated_at_millis(&json!({"updatedAt": "1970-01-01T00:00:01.000Z"})),
        Some(1000)
    );
    assert_eq!(
        updated_at_millis(&json!({"updatedAt": 1_728_561_606_000_i64})),
        Some(1_728_561_606_000)
    );
    assert_eq!(updated_at_millis(&json!({"updatedAt": "soon"})), None);
    assert_eq!(updated_at_millis(&json!({})), None);
}
