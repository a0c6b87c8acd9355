use super::*;

fn value(text: String) -> Value {
    serde_json::from_str(&text).unwrap()
}

const T: &str = "2026-11-24T00:00:00.000Z";

#[test]
fn welcome_carries_compat_message_and_ext_fields() {
    let w = Welcome {
        connection_id: "c1",
        epoch: "e1",
        head_seq: 5,
        token_expires_at: 99,
    };
    assert_eq!(
        value(welcome(&w, T)),
        json!({"type": "WELCOME", "message": "Connected to Mirubato sync", "epoch": "e1", "headSeq": 5,
               "connectionId": "c1", "tokenExpiresAt": 99, "timestamp": T})
    );
}

#[test]
fn ack_marks_only_duplicates() {
    let first = value(mutation_ack(3, Some("ev"), false, T));
    assert_eq!(
        first,
        json!({"type": "SYNC_RESPONSE", "message": "Mutation applied", "streamSeq": 3, "eventId": "ev", "timestamp": T})
    );
    assert_eq!(value(mutation_ack(3, None, true, T))["duplicate"], true);
}

#[test]
fn error_omits_absent_extensions() {
    assert_eq!(
        value(error("Invalid JSON format", "INVALID_JSON", None, T)),
        json!({"type": "ERROR", "error": "Invalid JSON format", "code": "INVALID_JSON", "timestamp": T})
    );
    assert_eq!(
        value(error(RATE_LIMIT_EXCEEDED, "RATE_LIMITED", Some(250), T))["retryAfterMs"],
        250
    );
}

#[test]
fn a_write_failure_is_the_compat_error_with_its_code() {
    assert_eq!(
        value(write_failed("STORAGE_UNAVAILABLE", T)),
        json!({"type": "ERROR", "error": "Sync write failed", "code": "STORAGE_UNAVAILABLE", "timestamp": T})
    );
}

#[test]
fn conflict_and_resync() {
    let c = value(conflict(
        EntityType::Piece,
        "s1",
        &json!({"scoreId": "s1"}),
        4,
        T,
    ));
    assert_eq!(
        (c["entityType"].as_str(), c["current"]["scoreId"].as_str()),
        (Some("piece"), Some("s1"))
    );
    let r = value(resync_required(10, "e2", T));
    assert_eq!(
        (r["message"].as_str(), r["recovered"].as_bool()),
        (Some(RESYNC_REQUIRED), Some(false))
    );
}

/// What the Mirubato client reads as its cursor (docs/protocol.md §8): `max(seq, lastSeq)`.
fn cursor_of(frame: &Value) -> Option<u64> {
    ["seq", "lastSeq"]
        .iter()
        .filter_map(|key| frame.get(*key).and_then(Value::as_u64))
        .max()
}

#[test]
fn frames_sent_outside_a_catch_up_never_move_the_clients_cursor() {
    let w = Welcome {
        connection_id: "c1",
        epoch: "e1",
        head_seq: 41,
        token_expires_at: 99,
    };
    let outside_catch_up = [
        welcome(&w, T),
        mutation_ack(41, Some("ev"), false, T),
        mutation_ack(41, Some("ev"), true, T),
        conflict(EntityType::Entry, "e", &json!({"id": "e"}), 41, T),
        resync_required(41, "e2", T),
    ];
    for text in outside_catch_up {
        let frame = value(text);
        assert_eq!(cursor_of(&frame), None, "{frame}");
        assert!(
            frame.to_string().contains("41"),
            "the seq is kept as an ext field: {frame}"
        );
    }
    assert_eq!(
        cursor_of(&value(sync_response(SYNC_COMPLETE, 41, T))),
        Some(41)
    );
}
