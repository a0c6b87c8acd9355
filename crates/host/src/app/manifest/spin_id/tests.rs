//! Each clause of Spin's identifier rule, for each form (see the module header).

use super::*;

#[test]
fn well_formed_ids_of_each_form_pass() {
    for id in [
        "a",
        "auth",
        "rate-limit",
        "v2-api",
        "FOO",
        "foo-BAR",
        "x9-y8z",
    ] {
        assert_eq!(IdRule::KEBAB.check(id), Ok(()), "{id}");
    }
    for id in ["a", "grip_publish_url", "url_second", "v2", "a1_b2"] {
        assert_eq!(IdRule::LOWER_SNAKE.check(id), Ok(()), "{id}");
    }
    for id in ["MY_STORE", "my_STORE", "cache"] {
        assert_eq!(IdRule::SNAKE.check(id), Ok(()), "{id}");
    }
    for id in ["mirubato", "rate-limit", "wasi2"] {
        assert_eq!(IdRule::LOWER_KEBAB.check(id), Ok(()), "{id}");
    }
}

#[test]
fn an_empty_id_is_refused() {
    for rule in [
        IdRule::KEBAB,
        IdRule::LOWER_KEBAB,
        IdRule::SNAKE,
        IdRule::LOWER_SNAKE,
    ] {
        assert_eq!(rule.check(""), Err(IdError::Empty));
    }
    assert_eq!(check_label(""), Err(IdError::Empty));
}

#[test]
fn the_other_forms_separator_is_a_wrong_separator_anywhere() {
    assert_eq!(
        IdRule::LOWER_SNAKE.check("grip-url"),
        Err(IdError::WrongSeparator {
            expected: '_',
            found: '-'
        })
    );
    // Reported before any word is looked at, even when a word is also wrong.
    assert_eq!(
        IdRule::KEBAB.check("2-foo_bar"),
        Err(IdError::WrongSeparator {
            expected: '-',
            found: '_'
        })
    );
}

#[test]
fn an_empty_word_is_refused() {
    for id in ["a__b", "a_", "_a"] {
        assert_eq!(
            IdRule::LOWER_SNAKE.check(id),
            Err(IdError::EmptyWord { separator: '_' }),
            "{id}"
        );
    }
    assert_eq!(
        IdRule::KEBAB.check("a--b"),
        Err(IdError::EmptyWord { separator: '-' })
    );
}

#[test]
fn every_word_must_start_with_a_letter_not_only_the_first() {
    let error = IdRule::LOWER_SNAKE.check("grip_publish_url_2").unwrap_err();
    assert_eq!(
        error,
        IdError::WordStartsWithNonLetter {
            separator: '_',
            first: '2'
        }
    );
    assert_eq!(
        error.to_string(),
        "'_'-separated words must start with an ASCII letter; got '2'"
    );
    assert!(IdRule::LOWER_SNAKE.check("a_2b").is_err());
    assert!(IdRule::KEBAB.check("foo-2").is_err());
    assert!(IdRule::KEBAB.check("2fa").is_err());
}

#[test]
fn non_ascii_and_punctuation_are_refused() {
    assert_eq!(
        IdRule::LOWER_SNAKE.check("café"),
        Err(IdError::NonAlphanumeric {
            separator: '_',
            found: 'é'
        })
    );
    assert_eq!(
        IdRule::KEBAB.check("émoji"),
        Err(IdError::WordStartsWithNonLetter {
            separator: '-',
            first: 'é'
        })
    );
    assert_eq!(
        IdRule::KEBAB.check("a.b"),
        Err(IdError::NonAlphanumeric {
            separator: '-',
            found: '.'
        })
    );
}

#[test]
fn a_word_is_all_lowercase_or_all_uppercase() {
    assert_eq!(
        IdRule::KEBAB.check("Foo"),
        Err(IdError::MixedCaseWord {
            separator: '-',
            word: "Foo".into()
        })
    );
    assert!(IdRule::KEBAB.check("foo-bAR").is_err());
    // Digits belong to either case.
    assert_eq!(IdRule::KEBAB.check("V2-x1"), Ok(()));
}

#[test]
fn lower_ids_take_no_uppercase_word() {
    assert_eq!(
        IdRule::LOWER_SNAKE.check("api_URL"),
        Err(IdError::UppercaseWord { word: "URL".into() })
    );
    assert_eq!(
        IdRule::LOWER_KEBAB.check("WASI"),
        Err(IdError::UppercaseWord {
            word: "WASI".into()
        })
    );
    // A mixed-case word is reported as such, as Spin does, before its case is.
    assert_eq!(
        IdRule::LOWER_SNAKE.check("Foo"),
        Err(IdError::MixedCaseWord {
            separator: '_',
            word: "Foo".into()
        })
    );
}

#[test]
fn a_label_may_be_kebab_or_snake_and_says_why_it_is_neither() {
    for label in ["default", "my-store", "my_store", "CACHE", "MY_STORE"] {
        assert_eq!(check_label(label), Ok(()), "{label}");
    }
    let error = check_label("store_2").unwrap_err();
    assert_eq!(
        error.to_string(),
        "neither kebab-case (words must be separated with '-', not '_') nor snake_case ('_'-separated words must start with an ASCII letter; got '2')"
    );
    assert!(check_label("my_store-2").is_err());
    assert!(check_label("Cache").is_err());
    assert!(check_label("b@dlabel").is_err());
}
