use super::*;

#[test]
fn a_client_chosen_close_code_does_not_become_a_label() {
    assert_eq!(close_code(1000), "1000");
    assert_eq!(close_code(1012), "1012");
    assert_eq!(close_code(4002), "4xxx");
    assert_eq!(close_code(4999), "4xxx");
    assert_eq!(close_code(3000), "other");
    assert_eq!(close_code(1015), "other");
}
