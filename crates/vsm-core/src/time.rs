//! Points in time and small identifiers: [`Timestamp`], [`OperationId`], [`TemplateGeneration`],
//! [`DefinitionVersion`] and [`DefinitionDigest`].
//!
//! The core never reads a clock or generates ids: callers pass these values in. This module only
//! defines the types, their validation and their text forms.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A point in time: milliseconds since the Unix epoch (UTC). Serialized as an integer.
///
/// `Display` renders RFC 3339 in UTC with milliseconds, e.g. `2009-08-10T06:01:23.000Z`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch, 1970-01-01T00:00:00Z.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// A timestamp from milliseconds since the Unix epoch.
    pub const fn from_millis(millis: i64) -> Self {
        Timestamp(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn as_millis(self) -> i64 {
        self.0
    }

    /// This timestamp moved by `millis` (negative moves back), saturating at the ends of `i64`.
    pub const fn saturating_add_millis(self, millis: i64) -> Self {
        Timestamp(self.0.saturating_add(millis))
    }

    /// Milliseconds from `earlier` to `self` (negative when `earlier` is later).
    pub const fn millis_since(self, earlier: Timestamp) -> i64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl From<i64> for Timestamp {
    fn from(millis: i64) -> Self {
        Timestamp(millis)
    }
}

impl From<Timestamp> for i64 {
    fn from(t: Timestamp) -> i64 {
        t.0
    }
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month, day).
/// Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.rem_euclid(1000);
        let secs = self.0.div_euclid(1000);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, mo, d) = civil_from_days(days);
        write!(
            f,
            "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
            sod / 3600,
            (sod / 60) % 60,
            sod % 60
        )
    }
}

/// The id of an operation (a journaled run of a plan), assigned by the manager.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OperationId(pub u64);

impl fmt::Display for OperationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for OperationId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(OperationId)
    }
}

/// A generation of a template: 1 for the registered image, +1 for each `template update`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TemplateGeneration(pub u32);

impl TemplateGeneration {
    /// The first generation of every template.
    pub const FIRST: TemplateGeneration = TemplateGeneration(1);

    /// The generation after this one (saturating).
    pub const fn next(self) -> Self {
        TemplateGeneration(self.0.saturating_add(1))
    }
}

impl fmt::Display for TemplateGeneration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "g{}", self.0)
    }
}

/// The number of an imported definition version of a unit: 1 for the first import, +1 for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DefinitionVersion(pub u32);

impl DefinitionVersion {
    /// The first imported version.
    pub const FIRST: DefinitionVersion = DefinitionVersion(1);

    /// The version after this one (saturating).
    pub const fn next(self) -> Self {
        DefinitionVersion(self.0.saturating_add(1))
    }
}

impl fmt::Display for DefinitionVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.0)
    }
}

/// A refused [`DefinitionDigest`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid definition digest {value:?}: expected 64 lowercase hexadecimal characters (a sha256)"
)]
#[non_exhaustive]
pub struct DigestError {
    /// The refused value.
    pub value: String,
}

/// The content digest (sha256, 64 lowercase hex characters) of an imported definition snapshot,
/// or of the part of it that one group uses. Computing it is the caller's job.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DefinitionDigest(String);

impl DefinitionDigest {
    /// Checks `value` (64 lowercase hex characters) and wraps it.
    pub fn new(value: impl Into<String>) -> Result<Self, DigestError> {
        let value = value.into();
        if value.len() == 64
            && value
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(DefinitionDigest(value))
        } else {
            Err(DigestError { value })
        }
    }

    /// Wraps 32 raw digest bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(64);
        for b in bytes {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        DefinitionDigest(s)
    }

    /// The digest as 64 hex characters.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 characters, for display.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

impl fmt::Display for DefinitionDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for DefinitionDigest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl AsRef<str> for DefinitionDigest {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for DefinitionDigest {
    type Error = DigestError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<DefinitionDigest> for String {
    fn from(d: DefinitionDigest) -> String {
        d.0
    }
}

#[cfg(any(test, feature = "proptest"))]
pub mod arb {
    //! proptest generators for the types of this module (test-only).
    use super::*;
    use proptest::prelude::*;

    impl Arbitrary for DefinitionDigest {
        type Parameters = ();
        type Strategy = BoxedStrategy<DefinitionDigest>;
        fn arbitrary_with(_: ()) -> Self::Strategy {
            any::<[u8; 32]>()
                .prop_map(DefinitionDigest::from_bytes)
                .boxed()
        }
    }

    impl Arbitrary for Timestamp {
        type Parameters = ();
        type Strategy = BoxedStrategy<Timestamp>;
        fn arbitrary_with(_: ()) -> Self::Strategy {
            (0i64..4_102_444_800_000)
                .prop_map(Timestamp::from_millis)
                .boxed()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(millis: i64, expect: &str) {
        assert_eq!(Timestamp::from_millis(millis).to_string(), expect);
    }

    #[test]
    fn timestamps_render_as_rfc3339_utc() {
        check(0, "1970-01-01T00:00:00.000Z");
        check(1_249_884_083_000, "2009-08-10T06:01:23.000Z");
        check(951_782_400_123, "2000-02-29T00:00:00.123Z");
        check(-1, "1969-12-31T23:59:59.999Z");
        assert_eq!(
            Timestamp::from_millis(5).millis_since(Timestamp::from_millis(2)),
            3
        );
    }

    #[test]
    fn digests_are_validated() {
        let good = "ab".repeat(32);
        let d = DefinitionDigest::new(good.clone()).expect("valid");
        assert_eq!(d.as_str(), good);
        assert_eq!(d.short(), "abababababab");
        assert_eq!(DefinitionDigest::from_bytes([0xab; 32]), d);
        let err = DefinitionDigest::new("AB".repeat(32)).expect_err("uppercase");
        assert!(err.to_string().contains("64 lowercase hexadecimal"));
        assert!(DefinitionDigest::new("ab").is_err());
        assert!("zz".repeat(32).parse::<DefinitionDigest>().is_err());
    }

    #[test]
    fn ids_display() {
        assert_eq!(OperationId(7).to_string(), "7");
        assert_eq!("42".parse::<OperationId>(), Ok(OperationId(42)));
        assert_eq!(TemplateGeneration::FIRST.next().to_string(), "g2");
        assert_eq!(DefinitionVersion(3).to_string(), "v3");
    }
}
