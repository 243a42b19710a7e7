//! Validated names: accounts, units, groups, servers and templates.
//!
//! Every name that a user types or that travels between crates is one of these newtypes, so a
//! value that exists has already been checked. This module owns the naming rules and nothing else;
//! it must not look anything up (whether a name is *taken* is the manager's question).
//!
//! # Rules
//!
//! | kind | characters | length | reserved |
//! |---|---|---|---|
//! | account  | `a-z 0-9 - _` | 1..=32 | `all`, `none`, `default` |
//! | unit     | `a-z 0-9 - _` | 1..=32 | `all`, `none`, `default` |
//! | group    | `a-z 0-9 - _` | 1..=32 | `all`, `none`, `default` |
//! | server   | `a-z 0-9 -`   | 1..=63 | `all`, `none`, `default`, `localhost` |
//! | template | `a-z 0-9 - _` | 1..=63 | `all`, `none`, `default` |
//!
//! Every name starts with a lowercase letter and ends with a letter or digit. Server names leave
//! out `_` because they double as host names (RFC 1123 labels, at most 63 characters).
//! Reserved words are refused because the command line and the API use them as selectors.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which kind of name a [`NameError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum NameKind {
    /// An [`AccountName`].
    Account,
    /// A [`UnitName`].
    Unit,
    /// A [`GroupName`].
    Group,
    /// A [`ServerName`].
    Server,
    /// A [`TemplateName`].
    Template,
}

impl NameKind {
    /// The rules for this kind of name, as one sentence for error messages.
    pub fn rules(self) -> &'static str {
        match self {
            NameKind::Server => {
                "1 to 63 characters: lowercase letters a-z, digits and '-', starting with a letter and ending with a letter or digit"
            }
            NameKind::Template => {
                "1 to 63 characters: lowercase letters a-z, digits, '-' and '_', starting with a letter and ending with a letter or digit"
            }
            NameKind::Account | NameKind::Unit | NameKind::Group => {
                "1 to 32 characters: lowercase letters a-z, digits, '-' and '_', starting with a letter and ending with a letter or digit"
            }
        }
    }

    /// The longest allowed name of this kind, in bytes (all allowed characters are ASCII).
    pub fn max_len(self) -> usize {
        match self {
            NameKind::Server | NameKind::Template => 63,
            NameKind::Account | NameKind::Unit | NameKind::Group => 32,
        }
    }

    /// Words that are not allowed as a name of this kind.
    pub fn reserved(self) -> &'static [&'static str] {
        match self {
            NameKind::Server => &["all", "none", "default", "localhost"],
            _ => &["all", "none", "default"],
        }
    }

    fn allows_underscore(self) -> bool {
        !matches!(self, NameKind::Server)
    }
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameKind::Account => "account",
            NameKind::Unit => "unit",
            NameKind::Group => "group",
            NameKind::Server => "server",
            NameKind::Template => "template",
        })
    }
}

/// What exactly is wrong with a refused name.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameProblem {
    /// The name is the empty string.
    Empty,
    /// The name is longer than allowed.
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The longest allowed.
        max: usize,
    },
    /// The first character is not a lowercase ASCII letter.
    BadStart,
    /// The last character is `-` or `_`.
    BadEnd,
    /// A character that is not allowed, at a byte offset.
    BadChar {
        /// The offending character.
        ch: char,
        /// Its byte offset in the name.
        at: usize,
    },
    /// The name is a reserved word.
    Reserved,
}

impl fmt::Display for NameProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameProblem::Empty => f.write_str("it is empty"),
            NameProblem::TooLong { len, max } => {
                write!(f, "it is {len} characters long, at most {max} are allowed")
            }
            NameProblem::BadStart => f.write_str("it must start with a lowercase letter a-z"),
            NameProblem::BadEnd => f.write_str("it must end with a letter or digit"),
            NameProblem::BadChar { ch, at } => {
                write!(f, "character {ch:?} at position {} is not allowed", at + 1)
            }
            NameProblem::Reserved => f.write_str("it is a reserved word"),
        }
    }
}

/// A refused name: which kind, the value given, what is wrong and what would be allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} name {value:?}: {problem}; use {}", kind.rules())]
#[non_exhaustive]
pub struct NameError {
    /// The kind of name that was being checked.
    pub kind: NameKind,
    /// The refused value, as given.
    pub value: String,
    /// What is wrong with it.
    pub problem: NameProblem,
}

/// Checks `value` against the rules of `kind`.
pub fn validate_name(kind: NameKind, value: &str) -> Result<(), NameError> {
    let problem = find_problem(kind, value);
    match problem {
        None => Ok(()),
        Some(problem) => Err(NameError {
            kind,
            value: value.to_owned(),
            problem,
        }),
    }
}

fn find_problem(kind: NameKind, value: &str) -> Option<NameProblem> {
    let Some(first) = value.chars().next() else {
        return Some(NameProblem::Empty);
    };
    if !first.is_ascii_lowercase() {
        return Some(NameProblem::BadStart);
    }
    for (at, ch) in value.char_indices() {
        let ok = ch.is_ascii_lowercase()
            || ch.is_ascii_digit()
            || ch == '-'
            || (ch == '_' && kind.allows_underscore());
        if !ok {
            return Some(NameProblem::BadChar { ch, at });
        }
    }
    if value.len() > kind.max_len() {
        return Some(NameProblem::TooLong {
            len: value.len(),
            max: kind.max_len(),
        });
    }
    if value.ends_with(['-', '_']) {
        return Some(NameProblem::BadEnd);
    }
    if kind.reserved().contains(&value) {
        return Some(NameProblem::Reserved);
    }
    None
}

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, $kind:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $ty(String);

        impl $ty {
            /// The kind of name this type holds.
            pub const KIND: NameKind = $kind;

            /// Checks `value` and wraps it.
            pub fn new(value: impl Into<String>) -> Result<Self, NameError> {
                let value = value.into();
                validate_name(Self::KIND, &value)?;
                Ok(Self(value))
            }

            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The name as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $ty {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $ty {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $ty {
            type Error = NameError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = NameError;
            fn try_from(value: &str) -> Result<Self, Self::Error> {
                Self::new(value)
            }
        }

        impl From<$ty> for String {
            fn from(value: $ty) -> String {
                value.0
            }
        }

        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

name_type!(
    /// The name of an account (administrator or system builder), e.g. `alice`.
    AccountName,
    NameKind::Account
);
name_type!(
    /// The name of a management unit, e.g. `shop`.
    UnitName,
    NameKind::Unit
);
name_type!(
    /// The name of a virtual server group inside a unit, e.g. `web`.
    GroupName,
    NameKind::Group
);
name_type!(
    /// The name of a virtual server, unique inside its unit, e.g. `web-3`; usable as a host name.
    ServerName,
    NameKind::Server
);
name_type!(
    /// The name of a server template, e.g. `websrv`.
    TemplateName,
    NameKind::Template
);

#[cfg(any(test, feature = "proptest"))]
pub mod arb {
    //! proptest generators for valid names (test-only).
    use super::*;
    use proptest::prelude::*;

    /// A strategy for valid names of `kind` (short, so collisions happen in tests).
    pub fn name_string(kind: NameKind) -> impl Strategy<Value = String> {
        let re = if kind.allows_underscore() {
            "[a-z]([a-z0-9_-]{0,6}[a-z0-9])?"
        } else {
            "[a-z]([a-z0-9-]{0,6}[a-z0-9])?"
        };
        re.prop_filter("reserved", move |s| !kind.reserved().contains(&s.as_str()))
    }

    macro_rules! arb_impl {
        ($ty:ident) => {
            impl Arbitrary for $ty {
                type Parameters = ();
                type Strategy = BoxedStrategy<$ty>;
                fn arbitrary_with(_: ()) -> Self::Strategy {
                    name_string($ty::KIND)
                        .prop_map(|s| $ty::new(s).expect("generator yields valid names"))
                        .boxed()
                }
            }
        };
    }
    arb_impl!(AccountName);
    arb_impl!(UnitName);
    arb_impl!(GroupName);
    arb_impl!(ServerName);
    arb_impl!(TemplateName);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(kind: NameKind, input: &str, expect: &str) {
        let got = match validate_name(kind, input) {
            Ok(()) => "ok".to_owned(),
            Err(e) => e.to_string(),
        };
        assert_eq!(got, expect, "{kind} name {input:?}");
    }

    #[test]
    fn accepts_good_names() {
        check(NameKind::Unit, "shop", "ok");
        check(NameKind::Unit, "a", "ok");
        check(NameKind::Group, "web_front-2", "ok");
        check(NameKind::Server, "web-10", "ok");
        check(NameKind::Account, &"a".repeat(32), "ok");
        check(NameKind::Server, &"a".repeat(63), "ok");
    }

    #[test]
    fn refuses_bad_names_and_says_why() {
        check(
            NameKind::Unit,
            "",
            "invalid unit name \"\": it is empty; use 1 to 32 characters: lowercase letters a-z, digits, '-' and '_', starting with a letter and ending with a letter or digit",
        );
        check(
            NameKind::Unit,
            "Shop",
            "invalid unit name \"Shop\": it must start with a lowercase letter a-z; use 1 to 32 characters: lowercase letters a-z, digits, '-' and '_', starting with a letter and ending with a letter or digit",
        );
        check(
            NameKind::Server,
            "web_1",
            "invalid server name \"web_1\": character '_' at position 4 is not allowed; use 1 to 63 characters: lowercase letters a-z, digits and '-', starting with a letter and ending with a letter or digit",
        );
        check(
            NameKind::Group,
            "all",
            "invalid group name \"all\": it is a reserved word; use 1 to 32 characters: lowercase letters a-z, digits, '-' and '_', starting with a letter and ending with a letter or digit",
        );
        check(
            NameKind::Account,
            &"a".repeat(33),
            &format!(
                "invalid account name \"{}\": it is 33 characters long, at most 32 are allowed; use {}",
                "a".repeat(33),
                NameKind::Account.rules()
            ),
        );
        assert!(matches!(
            validate_name(NameKind::Template, "base-").map_err(|e| e.problem),
            Err(NameProblem::BadEnd)
        ));
        assert!(matches!(
            validate_name(NameKind::Template, "1base").map_err(|e| e.problem),
            Err(NameProblem::BadStart)
        ));
        assert!(matches!(
            validate_name(NameKind::Server, "localhost").map_err(|e| e.problem),
            Err(NameProblem::Reserved)
        ));
        assert!(matches!(
            validate_name(NameKind::Unit, "shöp").map_err(|e| e.problem),
            Err(NameProblem::BadChar { ch: 'ö', at: 2 })
        ));
    }

    #[test]
    fn newtypes_round_trip_and_compare() {
        let u: UnitName = "shop".parse().expect("valid");
        assert_eq!(u.as_str(), "shop");
        assert_eq!(u.to_string(), "shop");
        assert_eq!(u, "shop");
        assert_eq!(String::from(u.clone()), "shop");
        assert!(UnitName::new("b").expect("valid") > UnitName::new("a").expect("valid"));
        assert!("Bad".parse::<GroupName>().is_err());
        assert_eq!(AccountName::KIND, NameKind::Account);
    }

    proptest! {
        #[test]
        fn generated_names_are_valid_and_display_round_trips(s in arb::name_string(NameKind::Server)) {
            let n = ServerName::new(s.clone()).expect("valid");
            prop_assert_eq!(n.to_string(), s.clone());
            prop_assert_eq!(n.as_str().parse::<ServerName>().expect("valid"), n);
        }

        #[test]
        fn any_string_is_accepted_iff_it_follows_the_rules(s in "\\PC{0,40}") {
            let ok = validate_name(NameKind::Group, &s).is_ok();
            let manual = !s.is_empty()
                && s.len() <= 32
                && s.starts_with(|c: char| c.is_ascii_lowercase())
                && s.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
                && !["all", "none", "default"].contains(&s.as_str());
            prop_assert_eq!(ok, manual);
        }
    }
}
