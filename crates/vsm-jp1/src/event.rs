//! JP1 events: the checked [`Jp1Event`] (event ID, message, extended attributes) and the limits
//! JP1/Base puts on them.
//!
//! Every limit `jevsend` documents is checked here in pure code, before anything is sent: event ID
//! ranges, message size, attribute names, count and total size. A message that is too long is
//! cut at a UTF-8 character boundary (the only limit that may be repaired rather than refused).
//! This module knows nothing about vsm's own events (see [`crate::mapping`]) and does no IO.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::shorten::floor_char_boundary;

/// Longest `-m` message `jevsend` accepts, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 1023;
/// Longest extended attribute name, in bytes.
pub const MAX_ATTR_NAME_BYTES: usize = 32;
/// Most extended attributes one event may carry.
pub const MAX_ATTRS: usize = 100;
/// Most bytes all extended attribute values of one event may hold together (and so one value).
pub const MAX_ATTR_VALUES_TOTAL_BYTES: usize = 10_000;
/// What a cut message ends with, so a reader can tell it was cut.
const CUT_MARK: &str = "...";

/// The event IDs user applications may use: `0x0`–`0x1FFF` and `0x7FFF8000`–`0x7FFFFFFF`.
pub const USER_EVENT_ID_RANGES: [(u32, u32); 2] = [(0x0, 0x1FFF), (0x7FFF_8000, 0x7FFF_FFFF)];

/// A JP1 event ID from the user-application range (the basic part; the extended part is 0).
///
/// `Display` writes upper-case hex without `0x`, the form `jevsend -i` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct EventId(u32);

impl EventId {
    /// Checks that `id` is in a user range ([`USER_EVENT_ID_RANGES`]).
    pub const fn new(id: u32) -> Result<Self, Jp1EventError> {
        if (id <= 0x1FFF) || (id >= 0x7FFF_8000 && id <= 0x7FFF_FFFF) {
            Ok(EventId(id))
        } else {
            Err(Jp1EventError::IdOutOfRange { id })
        }
    }

    /// An ID from vsm's own event table, which a test keeps inside the user ranges.
    pub(crate) const fn from_table(id: u32) -> Self {
        EventId(id)
    }

    /// The numeric ID.
    pub const fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u32> for EventId {
    type Error = Jp1EventError;
    fn try_from(id: u32) -> Result<Self, Self::Error> {
        EventId::new(id)
    }
}

impl From<EventId> for u32 {
    fn from(id: EventId) -> u32 {
        id.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}", self.0)
    }
}

/// The `SEVERITY` extended attribute, most severe first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Severity {
    /// `Emergency`.
    Emergency,
    /// `Alert`.
    Alert,
    /// `Critical`.
    Critical,
    /// `Error`.
    Error,
    /// `Warning`.
    Warning,
    /// `Notice`.
    Notice,
    /// `Information`.
    Information,
    /// `Debug`.
    Debug,
}

impl Severity {
    /// The attribute value, spelled as JP1 expects (first letter upper case).
    pub const fn as_str(self) -> &'static str {
        match self {
            Severity::Emergency => "Emergency",
            Severity::Alert => "Alert",
            Severity::Critical => "Critical",
            Severity::Error => "Error",
            Severity::Warning => "Warning",
            Severity::Notice => "Notice",
            Severity::Information => "Information",
            Severity::Debug => "Debug",
        }
    }

    /// The fixed token written into log-file-trap lines for this severity.
    pub const fn trap_token(self) -> &'static str {
        match self {
            Severity::Emergency => "EMERG",
            Severity::Alert => "ALERT",
            Severity::Critical => "CRIT",
            Severity::Error => "ERROR",
            Severity::Warning => "WARN",
            Severity::Notice => "NOTICE",
            Severity::Information => "INFO",
            Severity::Debug => "DEBUG",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an event cannot be sent as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Jp1EventError {
    /// The event ID is outside the ranges open to user applications.
    #[error(
        "event ID 0x{id:X} is outside the user ranges 0x0-0x1FFF and 0x7FFF8000-0x7FFFFFFF; pick an ID from those ranges"
    )]
    IdOutOfRange {
        /// The refused ID.
        id: u32,
    },
    /// An extended attribute name breaks the naming rule.
    #[error(
        "extended attribute name {name:?} is invalid: use 1 to 32 bytes of A-Z, 0-9 and '_', starting with a letter"
    )]
    BadAttrName {
        /// The refused name.
        name: String,
    },
    /// The same extended attribute is given twice.
    #[error("extended attribute {name} is given twice; give each attribute once")]
    DuplicateAttr {
        /// The repeated name.
        name: String,
    },
    /// More extended attributes than JP1/Base accepts.
    #[error("{count} extended attributes given, at most 100 are allowed; drop some")]
    TooManyAttrs {
        /// How many were given.
        count: usize,
    },
    /// The attribute values are too large together.
    #[error(
        "extended attribute values total {total} bytes, at most 10000 are allowed; shorten them"
    )]
    AttrValuesTooLarge {
        /// Their total size in bytes.
        total: usize,
    },
    /// A value contains a NUL byte, which cannot travel in a command line.
    #[error("extended attribute {name} contains a NUL byte; remove it")]
    NulInValue {
        /// The attribute holding it.
        name: String,
    },
    /// `PRODUCT_NAME` is not of the form `/company/product` or `/company/series/product`.
    #[error(
        "product name {value:?} is invalid: use /COMPANY/PRODUCT or /COMPANY/SERIES/PRODUCT with letters and digits, and not the reserved company HITACHI"
    )]
    BadProductName {
        /// The refused value.
        value: String,
    },
}

/// A `PRODUCT_NAME` value: `/company/product` or `/company/series/product`, each part ASCII
/// letters and digits, the company not `HITACHI` (reserved by Hitachi).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProductName(String);

impl ProductName {
    /// vsm's default product name.
    pub const DEFAULT: &'static str = "/VSM/VSM";

    /// Checks `value` and wraps it.
    pub fn new(value: impl Into<String>) -> Result<Self, Jp1EventError> {
        let value = value.into();
        let parts: Vec<&str> = value.split('/').collect();
        let ok = parts.first() == Some(&"")
            && (parts.len() == 3 || parts.len() == 4)
            && parts[1..]
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric()))
            && !parts
                .get(1)
                .is_some_and(|c| c.eq_ignore_ascii_case("HITACHI"));
        if ok {
            Ok(ProductName(value))
        } else {
            Err(Jp1EventError::BadProductName { value })
        }
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for ProductName {
    fn default() -> Self {
        ProductName(Self::DEFAULT.to_owned())
    }
}

impl TryFrom<String> for ProductName {
    type Error = Jp1EventError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        ProductName::new(value)
    }
}

impl From<ProductName> for String {
    fn from(p: ProductName) -> String {
        p.0
    }
}

impl fmt::Display for ProductName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A JP1 event that satisfies every documented `jevsend` limit: build it with [`Jp1Event::new`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawJp1Event", into = "RawJp1Event")]
pub struct Jp1Event {
    id: EventId,
    message: String,
    attrs: Vec<(String, String)>,
}

/// The unchecked shape of a [`Jp1Event`], as stored in outbox files.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RawJp1Event {
    id: EventId,
    message: String,
    attrs: Vec<(String, String)>,
}

impl TryFrom<RawJp1Event> for Jp1Event {
    type Error = Jp1EventError;
    fn try_from(raw: RawJp1Event) -> Result<Self, Self::Error> {
        Jp1Event::new(raw.id, &raw.message, raw.attrs)
    }
}

impl From<Jp1Event> for RawJp1Event {
    fn from(e: Jp1Event) -> Self {
        RawJp1Event {
            id: e.id,
            message: e.message,
            attrs: e.attrs,
        }
    }
}

impl Jp1Event {
    /// Builds an event: control characters in `message` become blanks and a message longer than
    /// [`MAX_MESSAGE_BYTES`] is cut at a character boundary (ending in `...`); the attributes are
    /// checked against every limit and refused with a typed error, never repaired.
    pub fn new(
        id: EventId,
        message: &str,
        attrs: Vec<(String, String)>,
    ) -> Result<Self, Jp1EventError> {
        check_attrs(&attrs)?;
        Ok(Jp1Event {
            id,
            message: fit_message(message, MAX_MESSAGE_BYTES),
            attrs,
        })
    }

    /// The event ID.
    pub fn id(&self) -> EventId {
        self.id
    }

    /// The message (at most [`MAX_MESSAGE_BYTES`], no control characters).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The extended attributes, in the order given.
    pub fn attrs(&self) -> &[(String, String)] {
        &self.attrs
    }

    /// The value of extended attribute `name`, if present.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Replaces control characters with blanks and cuts `message` to at most `max` bytes at a
/// character boundary, ending a cut message in `...`.
pub fn fit_message(message: &str, max: usize) -> String {
    let clean: String = message
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.len() <= max {
        return clean;
    }
    let keep = floor_char_boundary(&clean, max.saturating_sub(CUT_MARK.len()));
    format!("{}{CUT_MARK}", &clean[..keep])
}

/// Whether `name` is a valid extended attribute name.
pub fn is_valid_attr_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_ATTR_NAME_BYTES
        && bytes[0].is_ascii_uppercase()
        && bytes
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
}

fn check_attrs(attrs: &[(String, String)]) -> Result<(), Jp1EventError> {
    if attrs.len() > MAX_ATTRS {
        return Err(Jp1EventError::TooManyAttrs { count: attrs.len() });
    }
    let mut total = 0usize;
    for (i, (name, value)) in attrs.iter().enumerate() {
        if !is_valid_attr_name(name) {
            return Err(Jp1EventError::BadAttrName { name: name.clone() });
        }
        if attrs[..i].iter().any(|(n, _)| n == name) {
            return Err(Jp1EventError::DuplicateAttr { name: name.clone() });
        }
        if value.contains('\0') {
            return Err(Jp1EventError::NulInValue { name: name.clone() });
        }
        total += value.len();
    }
    if total > MAX_ATTR_VALUES_TOTAL_BYTES {
        return Err(Jp1EventError::AttrValuesTooLarge { total });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn attrs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn id() -> EventId {
        EventId::new(0x7FFF_8001).expect("user range")
    }

    #[test]
    fn event_ids_must_be_in_a_user_range() {
        for ok in [0, 0x1FFF, 0x7FFF_8000, 0x7FFF_FFFF] {
            assert!(EventId::new(ok).is_ok(), "{ok:X}");
        }
        for bad in [
            0x2000,
            0x0001_2050,
            0x0001_2051,
            0x7FFF_7FFF,
            0x8000_0000,
            u32::MAX,
        ] {
            assert_eq!(
                EventId::new(bad),
                Err(Jp1EventError::IdOutOfRange { id: bad }),
                "{bad:X}"
            );
        }
        assert_eq!(id().to_string(), "7FFF8001");
        assert_eq!(EventId::new(0x1A).expect("ok").to_string(), "1A");
    }

    #[test]
    fn attribute_names_follow_the_rule() {
        for ok in ["SEVERITY", "A", "VSM_UNIT", "X1_2", &"A".repeat(32)] {
            assert!(is_valid_attr_name(ok), "{ok}");
        }
        for bad in [
            "",
            "1ABC",
            "_ABC",
            "severity",
            "VSM-UNIT",
            "VSM UNIT",
            &"A".repeat(33),
        ] {
            assert!(!is_valid_attr_name(bad), "{bad}");
            assert_eq!(
                Jp1Event::new(id(), "m", attrs(&[(bad, "v")])),
                Err(Jp1EventError::BadAttrName {
                    name: bad.to_owned()
                })
            );
        }
    }

    #[test]
    fn attribute_count_and_size_are_limited() {
        let hundred: Vec<(String, String)> =
            (0..100).map(|i| (format!("A{i}"), "v".into())).collect();
        assert!(Jp1Event::new(id(), "m", hundred.clone()).is_ok());
        let mut too_many = hundred;
        too_many.push(("A100".into(), "v".into()));
        assert_eq!(
            Jp1Event::new(id(), "m", too_many),
            Err(Jp1EventError::TooManyAttrs { count: 101 })
        );
        let full = attrs(&[("A", &"x".repeat(6000)), ("B", &"y".repeat(4000))]);
        assert!(Jp1Event::new(id(), "m", full).is_ok());
        let over = attrs(&[("A", &"x".repeat(6000)), ("B", &"y".repeat(4001))]);
        assert_eq!(
            Jp1Event::new(id(), "m", over),
            Err(Jp1EventError::AttrValuesTooLarge { total: 10_001 })
        );
        assert_eq!(
            Jp1Event::new(id(), "m", attrs(&[("A", "1"), ("A", "2")])),
            Err(Jp1EventError::DuplicateAttr { name: "A".into() })
        );
        assert_eq!(
            Jp1Event::new(id(), "m", attrs(&[("A", "a\0b")])),
            Err(Jp1EventError::NulInValue { name: "A".into() })
        );
    }

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        let msg = "障".repeat(400); // 1200 bytes
        let e = Jp1Event::new(id(), &msg, vec![]).expect("messages are repaired");
        assert!(e.message().len() <= MAX_MESSAGE_BYTES);
        assert!(e.message().ends_with("..."));
        assert_eq!(e.message().len(), 1020 + 3);
        let e = Jp1Event::new(id(), "line one\nline two\t!", vec![]).expect("ok");
        assert_eq!(e.message(), "line one line two !");
        let exact = "a".repeat(MAX_MESSAGE_BYTES);
        assert_eq!(
            Jp1Event::new(id(), &exact, vec![]).expect("ok").message(),
            exact
        );
    }

    #[test]
    fn product_names() {
        for ok in ["/VSM/VSM", "/ACME/VSM", "/ACME/OPS/VSM"] {
            assert!(ProductName::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "VSM",
            "/VSM",
            "/HITACHI/VSM",
            "/hitachi/JP1/VSM",
            "/A//B",
            "/A/B/C/D",
            "/A B/C",
        ] {
            assert!(ProductName::new(bad).is_err(), "{bad}");
        }
        assert_eq!(ProductName::default().as_str(), "/VSM/VSM");
    }

    #[test]
    fn stored_events_are_checked_again_when_read() {
        let e = Jp1Event::new(id(), "m", attrs(&[("SEVERITY", "Error")])).expect("ok");
        let json = serde_json::to_string(&e).expect("serializes");
        let back: Jp1Event = serde_json::from_str(&json).expect("reads back");
        assert_eq!(back, e);
        let tampered = json.replace("SEVERITY", "severity");
        assert!(serde_json::from_str::<Jp1Event>(&tampered).is_err());
    }

    proptest! {
        #[test]
        fn any_message_fits(msg in "\\PC{0,700}") {
            let e = Jp1Event::new(id(), &msg, vec![]).expect("messages are repaired");
            prop_assert!(e.message().len() <= MAX_MESSAGE_BYTES);
            prop_assert!(!e.message().chars().any(char::is_control));
        }
    }
}
