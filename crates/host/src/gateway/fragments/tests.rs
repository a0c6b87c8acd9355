use super::*;
use proptest::prelude::*;

/// The payloads joined, checking the opcodes and FIN bits of a fragmented text message.
fn reassembled(parts: &[Message]) -> String {
    let mut bytes = Vec::new();
    for (n, part) in parts.iter().enumerate() {
        let Message::Frame(frame) = part else {
            panic!("fragment {n} is not a raw frame");
        };
        let expected = if n == 0 { Data::Text } else { Data::Continue };
        assert_eq!(frame.header().opcode, OpCode::Data(expected));
        assert_eq!(frame.header().is_final, n == parts.len() - 1);
        assert!(frame.payload().len() <= FRAGMENT_BYTES);
        assert!(std::str::from_utf8(frame.payload()).is_ok());
        bytes.extend_from_slice(frame.payload());
    }
    String::from_utf8(bytes).unwrap()
}

#[test]
fn short_messages_and_other_kinds_go_as_they_are() {
    let short = Message::text("x".repeat(FRAGMENT_BYTES));
    assert_eq!(fragments(short.clone()), [short]);
    let binary = Message::binary(vec![0u8; 3 * FRAGMENT_BYTES]);
    assert_eq!(fragments(binary.clone()), [binary]);
}

#[test]
fn a_long_message_goes_in_fragments() {
    let text = "é".repeat(FRAGMENT_BYTES * 3);
    let parts = fragments(Message::text(text.clone()));
    assert!(parts.len() >= 6);
    assert_eq!(reassembled(&parts), text);
}

proptest! {
    #[test]
    fn prop_fragments_reassemble_to_the_message(text in "\\PC{0,12000}") {
        let parts = fragments(Message::text(text.clone()));
        if text.len() <= FRAGMENT_BYTES {
            prop_assert_eq!(parts, vec![Message::text(text)]);
        } else {
            prop_assert_eq!(reassembled(&parts), text);
        }
    }
}
