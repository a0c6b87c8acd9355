//! Test strategy shared by the gateway's property tests: a token one edit away from a given one.

use proptest::prelude::*;
use proptest::sample::Index;

/// `token` with one character of `alphabet` (a proptest regex class) replaced, inserted or
/// removed; never equal to `token` in any case or with surrounding blanks.
pub(super) fn near_miss(
    token: &'static str,
    alphabet: &'static str,
) -> impl Strategy<Value = String> {
    (any::<Index>(), alphabet, 0u8..3).prop_filter_map("same token", move |(at, c, how)| {
        let mut chars: Vec<char> = token.chars().collect();
        let at = at.index(chars.len());
        let c = c.chars().next().unwrap_or('x');
        match how {
            0 => chars[at] = c,
            1 => chars.insert(at, c),
            _ => {
                chars.remove(at);
            }
        }
        let miss: String = chars.into_iter().collect();
        (!miss.trim().eq_ignore_ascii_case(token)).then_some(miss)
    })
}
