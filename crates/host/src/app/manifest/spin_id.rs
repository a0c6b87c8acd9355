//! Spin's identifier rule, which Spin 3.6 and 4 apply while reading spin.toml and so refuse to
//! start on: an id is one or more words joined by one separator (`-` for kebab-case, `_` for
//! snake_case); every word starts with an ASCII letter, holds only ASCII letters and digits, and is
//! all lowercase or all UPPERCASE. "Lower" ids (variable names, WIT package names) take no
//! UPPERCASE word.
//!
//! Where Spin applies which rule: application `[variables]` names and component `variables` keys
//! are lower snake_case; component ids, `component = "…"` references (triggers and
//! `{ component = … }` dependencies), plain dependency names and the interface of a dependency's
//! package name are kebab-case; a dependency's WIT namespace and package are lower kebab-case;
//! `key_value_stores` and `sqlite_databases` labels are kebab-case or snake_case. Runtime-config
//! labels (`[key_value_store.<label>]`) are not checked by Spin, so not here either.

/// What is wrong with an identifier, worded so that a message naming the field and the id says
/// what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("must not be empty")]
    Empty,
    #[error("words must be separated with '{expected}', not '{found}'")]
    WrongSeparator { expected: char, found: char },
    #[error("'{separator}'-separated words must not be empty")]
    EmptyWord { separator: char },
    #[error("'{separator}'-separated words must start with an ASCII letter; got '{first}'")]
    WordStartsWithNonLetter { separator: char, first: char },
    #[error(
        "'{separator}'-separated words may contain only ASCII letters and digits; got '{found}'"
    )]
    NonAlphanumeric { separator: char, found: char },
    #[error("'{separator}'-separated words must be all lowercase or all UPPERCASE; got `{word}`")]
    MixedCaseWord { separator: char, word: String },
    #[error("must be all lowercase; got the UPPERCASE word `{word}`")]
    UppercaseWord { word: String },
    /// A label fails both rules a label may follow; each says why.
    #[error("neither kebab-case ({kebab}) nor snake_case ({snake})")]
    NeitherKebabNorSnake {
        kebab: Box<IdError>,
        snake: Box<IdError>,
    },
}

/// One form of Spin identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRule {
    separator: char,
    lowercase_only: bool,
}

impl IdRule {
    /// Component ids and references, plain dependency names, dependency interfaces.
    pub const KEBAB: IdRule = IdRule {
        separator: '-',
        lowercase_only: false,
    };
    /// WIT namespaces and package names in a dependency key (wasm-pkg's label rule, which accepts
    /// exactly what a lower kebab id does).
    pub const LOWER_KEBAB: IdRule = IdRule {
        separator: '-',
        lowercase_only: true,
    };
    /// Store and database labels written with underscores.
    pub const SNAKE: IdRule = IdRule {
        separator: '_',
        lowercase_only: false,
    };
    /// Application and component variable names.
    pub const LOWER_SNAKE: IdRule = IdRule {
        separator: '_',
        lowercase_only: true,
    };

    /// The separator the other form uses, which Spin reports as a wrong separator.
    fn other_separator(self) -> char {
        if self.separator == '-' { '_' } else { '-' }
    }

    pub fn check(self, id: &str) -> Result<(), IdError> {
        if id.is_empty() {
            return Err(IdError::Empty);
        }
        let wrong = self.other_separator();
        if id.contains(wrong) {
            return Err(IdError::WrongSeparator {
                expected: self.separator,
                found: wrong,
            });
        }
        id.split(self.separator)
            .try_for_each(|word| self.check_word(word))
    }

    fn check_word(self, word: &str) -> Result<(), IdError> {
        let separator = self.separator;
        let mut chars = word.chars();
        let Some(first) = chars.next() else {
            return Err(IdError::EmptyWord { separator });
        };
        if !first.is_ascii_alphabetic() {
            return Err(IdError::WordStartsWithNonLetter { separator, first });
        }
        let uppercase = first.is_ascii_uppercase();
        for found in chars {
            if found.is_ascii_digit() {
                continue;
            }
            if !found.is_ascii_alphanumeric() {
                return Err(IdError::NonAlphanumeric { separator, found });
            }
            if found.is_ascii_uppercase() != uppercase {
                return Err(IdError::MixedCaseWord {
                    separator,
                    word: word.to_string(),
                });
            }
        }
        if self.lowercase_only && uppercase {
            return Err(IdError::UppercaseWord {
                word: word.to_string(),
            });
        }
        Ok(())
    }
}

/// A `key_value_stores` or `sqlite_databases` label: kebab-case or snake_case.
pub fn check_label(label: &str) -> Result<(), IdError> {
    let kebab = match IdRule::KEBAB.check(label) {
        Ok(()) => return Ok(()),
        Err(problem) => problem,
    };
    let snake = match IdRule::SNAKE.check(label) {
        Ok(()) => return Ok(()),
        Err(problem) => problem,
    };
    if label.is_empty() {
        return Err(IdError::Empty);
    }
    Err(IdError::NeitherKebabNorSnake {
        kebab: Box::new(kebab),
        snake: Box::new(snake),
    })
}

#[cfg(test)]
mod tests;
