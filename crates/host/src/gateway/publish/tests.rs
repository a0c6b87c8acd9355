use super::*;

fn with_authorization(value: &'static str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, HeaderValue::from_static(value));
    headers
}

#[test]
fn only_the_exact_bearer_token_is_authorized() {
    assert!(authorized(&with_authorization("Bearer t0k3n"), "t0k3n"));
    assert!(authorized(&with_authorization("bearer t0k3n"), "t0k3n"));
    for wrong in [
        "Bearer t0k3",
        "Bearer t0k3n2",
        "Bearer ",
        "Basic t0k3n",
        "t0k3n",
        "",
    ] {
        assert!(
            !authorized(&with_authorization(wrong), "t0k3n"),
            "{wrong:?}"
        );
    }
    assert!(!authorized(&HeaderMap::new(), "t0k3n"));
}

// Property tests (issue 21): the publish endpoint's `Authorization` header.
use proptest::prelude::*;

fn token() -> impl Strategy<Value = String> {
    "[!-~]{1,40}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// `Bearer <token>` (the scheme in any case, one space) is authorized; any other given
    /// value, scheme or spacing is not; any header bytes: never a panic.
    #[test]
    fn prop_only_the_exact_bearer_token_is_authorized(
        token in token(),
        scheme_mask in any::<u8>(),
        other in token(),
        bytes in proptest::collection::vec(prop_oneof![0x20u8..0x7f, 0x80u8..=0xff, Just(b'\t')], 0..48),
    ) {
        let scheme: String = "Bearer"
            .chars()
            .enumerate()
            .map(|(i, c)| if scheme_mask >> i & 1 == 1 { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
            .collect();
        let header = |value: &[u8]| {
            let mut headers = HeaderMap::new();
            headers.insert(AUTHORIZATION, HeaderValue::from_bytes(value).unwrap());
            headers
        };
        let right = format!("{scheme} {token}");
        prop_assert!(authorized(&header(right.as_bytes()), &token), "{}", right);
        for wrong in [
            format!("{scheme} {other}"),
            format!("{scheme}  {token}"),
            format!("{scheme} {token} "),
            format!("Basic {token}"),
            format!("{scheme}{token}"),
            token.clone(),
        ] {
            if wrong != right {
                prop_assert!(!authorized(&header(wrong.as_bytes()), &token), "{}", wrong);
            }
        }
        let expected = bytes.len() >= 7
            && bytes[..7].eq_ignore_ascii_case(b"bearer ")
            && bytes[7..] == *token.as_bytes();
        prop_assert_eq!(authorized(&header(&bytes), &token), expected);
    }
}
