use super::first_inexact_integer;

#[test]
fn integers_beyond_64_bits_are_found_outside_strings_only() {
    assert_eq!(first_inexact_integer(r#"{"n":9007199254740993}"#), None);
    assert_eq!(first_inexact_integer(r#"{"n":18446744073709551615}"#), None);
    assert_eq!(first_inexact_integer(r#"{"n":-9223372036854775808}"#), None);
    assert_eq!(
        first_inexact_integer(r#"{"n":18446744073709551616}"#),
        Some("18446744073709551616")
    );
    assert_eq!(
        first_inexact_integer(r#"{"a":[1,-9223372036854775809]}"#),
        Some("-9223372036854775809")
    );
    // Floats are the sender's choice; digits inside strings are text.
    assert_eq!(
        first_inexact_integer(r#"{"n":1.8446744073709552e19}"#),
        None
    );
    assert_eq!(
        first_inexact_integer(r#"{"s":"123456789012345678901234","t":"\"99999999999999999999"}"#),
        None
    );
}

// Property tests (issue 21): JSON documents built with known integer literals (of any
// length, at the 64-bit edges), floats, and strings full of digits, quotes and escapes.
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::Value;

/// A JSON document, kept as what was written.
#[derive(Debug, Clone)]
enum Node {
    Integer(String),
    Float(String),
    Text(String),
    Word(&'static str),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

/// Whether a canonical integer literal lies within `i64::MIN..=u64::MAX`, by its digits.
fn fits(literal: &str) -> bool {
    let (digits, limit) = match literal.strip_prefix('-') {
        Some(digits) => (digits, "9223372036854775808"),
        None => (literal, "18446744073709551615"),
    };
    (digits.len(), digits) <= (limit.len(), limit)
}

impl Node {
    fn render(&self, space: &str, out: &mut String) {
        match self {
            Node::Integer(s) | Node::Float(s) => out.push_str(s),
            Node::Text(s) => out.push_str(&Value::String(s.clone()).to_string()),
            Node::Word(w) => out.push_str(w),
            Node::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(space);
                    item.render(space, out);
                }
                out.push(']');
            }
            Node::Object(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(space);
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push_str(space);
                    out.push(':');
                    out.push_str(space);
                    value.render(space, out);
                }
                out.push_str(space);
                out.push('}');
            }
        }
    }

    /// The first integer literal beyond 64 bits, in document order.
    fn first_wide(&self) -> Option<&str> {
        match self {
            Node::Integer(s) if !fits(s) => Some(s),
            Node::Array(items) => items.iter().find_map(Node::first_wide),
            Node::Object(fields) => fields.iter().find_map(|(_, v)| v.first_wide()),
            _ => None,
        }
    }

    /// Checks serde_json's reading against what was written: integers within 64 bits
    /// exactly, wider ones only as floats (what the function exists to catch).
    fn check(&self, value: &Value) {
        match (self, value) {
            // serde_json reads `-0` as the float -0.0: the same number, not a rounding.
            (Node::Integer(s), Value::Number(n)) if s == "-0" => {
                assert_eq!(n.as_f64(), Some(0.0))
            }
            (Node::Integer(s), Value::Number(n)) if fits(s) => assert_eq!(&n.to_string(), s),
            (Node::Integer(_), Value::Number(n)) => assert!(n.is_f64(), "{n}"),
            (Node::Array(items), Value::Array(values)) => items
                .iter()
                .zip(values)
                .for_each(|(item, value)| item.check(value)),
            (Node::Object(fields), Value::Object(map)) => {
                for (key, node) in fields {
                    node.check(&map[key]);
                }
            }
            (Node::Float(_) | Node::Text(_) | Node::Word(_), _) => {}
            (node, value) => panic!("{node:?} read as {value}"),
        }
    }
}

fn integer() -> impl Strategy<Value = String> {
    let edge = |base: i128| (-1000i128..1000).prop_map(move |d| (base + d).to_string());
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        edge(i128::from(u64::MAX)),
        edge(i128::from(i64::MIN)),
        Just("0".to_string()),
        Just("-0".to_string()),
        "-?[1-9][0-9]{0,45}",
    ]
}

fn float() -> impl Strategy<Value = String> {
    prop_oneof![
        "-?(0|[1-9][0-9]{0,30})\\.[0-9]{1,30}",
        // Exponents stay small: serde_json refuses a float beyond f64 (`1e400`) outright.
        "-?(0|[1-9][0-9]{0,30})(\\.[0-9]{1,5})?[eE][+\\-]?[0-9]{1,2}",
    ]
}

fn document() -> impl Strategy<Value = Node> {
    let text = prop_oneof!["[0-9\\-\"\\\\eE.+ ]{0,30}", "\\PC{0,16}", integer(),];
    let leaf = prop_oneof![
        3 => integer().prop_map(Node::Integer),
        1 => float().prop_map(Node::Float),
        2 => text.clone().prop_map(Node::Text),
        1 => proptest::sample::select(vec!["true", "false", "null"]).prop_map(Node::Word),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Node::Array),
            // Keys numbered, so each is unique; they are strings full of digits too.
            vec((text.clone(), inner), 0..6).prop_map(|fields| Node::Object(
                fields
                    .into_iter()
                    .enumerate()
                    .map(|(i, (key, value))| (format!("{i}{key}"), value))
                    .collect()
            )),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// In any JSON document, the first integer literal outside strings that does not fit
    /// in 64 bits is found (and only such a literal); serde_json reads every other integer
    /// exactly.
    #[test]
    fn prop_finds_the_first_integer_beyond_64_bits(
        document in document(),
        spaced in any::<bool>(),
    ) {
        let mut json = String::new();
        document.render(if spaced { " \n\t" } else { "" }, &mut json);
        prop_assert_eq!(first_inexact_integer(&json), document.first_wide());
        let value: Value = serde_json::from_str(&json).unwrap();
        document.check(&value);
    }

    /// Any text of any size (up to ~400 KiB): never a panic, linear time, and whatever is
    /// reported is an integer literal of the text that fits in no 64-bit integer.
    #[test]
    fn prop_arbitrary_text_never_panics(
        chunk in prop_oneof![
            "\\PC{0,64}",
            "[0-9\\-\"\\\\eE.+ ,:\\[\\]{}]{0,64}",
            any::<String>(),
        ],
        repeat in prop_oneof![3 => 1usize..4, 1 => 1usize..6400],
    ) {
        let text = chunk.repeat(repeat);
        if let Some(literal) = first_inexact_integer(&text) {
            let start = literal.as_ptr() as usize - text.as_ptr() as usize;
            prop_assert!(start + literal.len() <= text.len());
            prop_assert!(literal.starts_with(|c: char| c == '-' || c.is_ascii_digit()));
            prop_assert!(literal.chars().all(|c| c.is_ascii_digit() || c == '-' || c == '+'));
            prop_assert!(literal.parse::<i64>().is_err() && literal.parse::<u64>().is_err());
        }
    }
}
