//! Release versions and the rule that decides whether a release is an update.
//!
//! A [`Version`] is a SemVer 2.0.0 version of at most [`MAX_VERSION_LEN`] bytes. Parsing accepts one optional leading
//! `v` (`v1.2.3`), as Tauri does; Tauri strips any number of them (`vv1.2.3`), we accept exactly one.
//!
//! # Is it an update?
//!
//! [`Version::is_update_over`] compares by SemVer *precedence* (SemVer 2.0.0 §11):
//!
//! - numeric major, minor, patch first: `1.10.0` > `1.9.0`;
//! - a pre-release sorts before its release: `1.0.0-beta.2` < `1.0.0-rc.1` < `1.0.0`;
//! - **build metadata is ignored**: `1.0.0+b` is *not* an update over `1.0.0+a`, and neither is the other way round.
//!
//! Tauri's own client compares with `semver::Version`'s `Ord`, which breaks precedence ties by comparing build
//! metadata, so it would install `1.0.0+b` over `1.0.0+a`. We deliberately follow the SemVer specification instead:
//! build metadata labels a build, it does not order releases, and an ordering that depends on it lets a server push a
//! rebuild of the installed version as "newer". A release that really is newer must bump a version number or a
//! pre-release identifier. For this reason [`Version`] implements equality (which *does* include build metadata: two
//! versions are equal when they are the same string) but not `Ord`; use [`Version::cmp_precedence`].
//!
//! # In request URLs
//!
//! tauri-plugin-updater 2 percent-encodes `{{current_version}}` in the endpoint URL (`+` → `%2B`), the Tauri v1
//! updater and cargo-packager-updater insert it raw. [`Version::from_request_segment`] accepts both;
//! [`Version::to_request_segment`] encodes like tauri-plugin-updater.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result, snippet};
use crate::limits::MAX_VERSION_LEN;

/// A release version: SemVer, at most [`MAX_VERSION_LEN`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Version(semver::Version);

impl Version {
    /// Parses a version, with one optional leading `v`.
    pub fn parse(text: &str) -> Result<Self> {
        if text.len() > MAX_VERSION_LEN {
            return Err(Error::VersionTooLong { len: text.len(), max: MAX_VERSION_LEN });
        }
        let bare = text.strip_prefix('v').unwrap_or(text);
        semver::Version::parse(bare).map(Self).map_err(|source| Error::InvalidVersion { value: snippet(text), source })
    }

    /// Parses the `{{current_version}}` segment of an update request, percent-encoded (`1.0.0-beta.1%2Bbuild.5`,
    /// tauri-plugin-updater 2) or raw (`1.0.0-beta.1+build.5`, Tauri v1 and cargo-packager-updater).
    ///
    /// A `%` not followed by two hex digits, or an encoding of bytes that are not UTF-8, is an error, not passed
    /// through.
    pub fn from_request_segment(segment: &str) -> Result<Self> {
        // Every byte of a valid version takes at most 3 bytes encoded; bound the work before decoding.
        if segment.len() > 3 * MAX_VERSION_LEN {
            return Err(Error::VersionTooLong { len: segment.len(), max: MAX_VERSION_LEN });
        }
        Self::parse(&percent_decode(segment)?)
    }

    /// This version as tauri-plugin-updater writes it into a request URL: `+` becomes `%2B` (no other character of a
    /// SemVer version needs escaping).
    pub fn to_request_segment(&self) -> String {
        self.0.to_string().replace('+', "%2B")
    }

    /// The underlying `semver` value.
    pub fn as_semver(&self) -> &semver::Version {
        &self.0
    }

    /// Unwraps the underlying `semver` value.
    pub fn into_semver(self) -> semver::Version {
        self.0
    }

    /// Compares by SemVer precedence: build metadata is ignored, a pre-release sorts before its release.
    pub fn cmp_precedence(&self, other: &Version) -> Ordering {
        self.0.cmp_precedence(&other.0)
    }

    /// Whether a client running `current` should be offered this version: it has strictly higher precedence.
    /// Equal or older (including a different build of the same version) is not an update.
    pub fn is_update_over(&self, current: &Version) -> bool {
        self.cmp_precedence(current) == Ordering::Greater
    }
}

/// Decodes `%XX` escapes strictly: a stray `%` or non-UTF-8 result is an error.
fn percent_decode(segment: &str) -> Result<String> {
    let bad = |reason| Error::InvalidPercentEncoding { value: snippet(segment), reason };
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = |j: usize| bytes.get(j).and_then(|&h| (h as char).to_digit(16));
            let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) else {
                return Err(bad("`%` must be followed by two hex digits"));
            };
            // Two hex digits are at most 0xff.
            out.push(u8::try_from(hi * 16 + lo).map_err(|_| bad("escape out of range"))?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad("the decoded bytes are not UTF-8"))
}

impl fmt::Display for Version {
    /// Writes the canonical form, without a leading `v`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for Version {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl TryFrom<semver::Version> for Version {
    type Error = Error;

    /// Wraps a `semver` value, checking the length limit.
    fn try_from(version: semver::Version) -> Result<Self> {
        let len = version.to_string().len();
        if len > MAX_VERSION_LEN {
            return Err(Error::VersionTooLong { len, max: MAX_VERSION_LEN });
        }
        Ok(Self(version))
    }
}

impl From<Version> for semver::Version {
    fn from(version: Version) -> Self {
        version.0
    }
}

impl serde::Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn precedence_table() {
        // (candidate, current, is an update)
        let table = [
            ("1.0.1", "1.0.0", true),
            ("1.0.0", "1.0.0", false),
            ("0.9.9", "1.0.0", false),
            ("1.10.0", "1.9.0", true),
            ("2.0.0", "1.99.99", true),
            ("1.0.0", "1.0.0-rc.1", true),
            ("1.0.0-rc.1", "1.0.0", false),
            ("1.0.0-rc.1", "1.0.0-beta.2", true),
            ("1.0.0-beta.11", "1.0.0-beta.2", true),
            ("1.0.0-alpha.beta", "1.0.0-alpha.1", true),
            ("1.0.0-alpha.1", "1.0.0-alpha", true),
            ("1.0.0+b", "1.0.0+a", false),
            ("1.0.0+a", "1.0.0+b", false),
            ("1.0.0+build.9", "1.0.0", false),
            ("1.0.0", "1.0.0+build.9", false),
            ("1.0.1+a", "1.0.0+z", true),
            ("1.0.0-rc.1+b", "1.0.0-rc.1+a", false),
            ("v1.0.1", "1.0.0", true),
            ("v1.0.0", "1.0.0", false),
        ];
        for (candidate, current, expected) in table {
            assert_eq!(v(candidate).is_update_over(&v(current)), expected, "{candidate} over {current}");
        }
    }

    #[test]
    fn build_metadata_differs_from_tauri_on_purpose() {
        let (a, b) = (v("1.0.0+a"), v("1.0.0+b"));
        // Tauri's rule (semver's Ord) would call this an update; ours does not.
        assert!(b.as_semver() > a.as_semver());
        assert!(!b.is_update_over(&a));
        assert_eq!(a.cmp_precedence(&b), Ordering::Equal);
        // Equality is string identity, build included.
        assert_ne!(a, b);
    }

    #[test]
    fn leading_v() {
        assert_eq!(v("v1.2.3"), v("1.2.3"));
        assert_eq!(v("v1.2.3").to_string(), "1.2.3");
        assert!(matches!(Version::parse("vv1.2.3"), Err(Error::InvalidVersion { .. })));
        assert!(matches!(Version::parse("V1.2.3"), Err(Error::InvalidVersion { .. })));
    }

    #[test]
    fn length_limit() {
        let ok = format!("1.0.0-{}", "a".repeat(MAX_VERSION_LEN - 6));
        assert_eq!(ok.len(), MAX_VERSION_LEN);
        assert!(Version::parse(&ok).is_ok());
        let long = format!("1.0.0-{}", "a".repeat(MAX_VERSION_LEN - 5));
        assert!(matches!(Version::parse(&long), Err(Error::VersionTooLong { len: 129, max: 128 })));
        let semver = semver::Version::parse(&long).unwrap();
        assert!(matches!(Version::try_from(semver), Err(Error::VersionTooLong { .. })));
    }

    #[test]
    fn garbage_is_rejected() {
        for text in [
            "",
            "v",
            "1",
            "1.0",
            "1.0.0.0",
            "01.0.0",
            "1.0.0-",
            "1.0.0+",
            " 1.0.0",
            "1.0.0 ",
            "1.0.0\n",
            "latest",
            "1.0.0-beta..1",
            "1.0.0-béta",
            "18446744073709551616.0.0",
        ] {
            assert!(matches!(Version::parse(text), Err(Error::InvalidVersion { .. })), "{text:?}");
        }
    }

    #[test]
    fn request_segments() {
        let expected = v("1.0.0-beta.1+build.5");
        assert_eq!(Version::from_request_segment("1.0.0-beta.1%2Bbuild.5").unwrap(), expected);
        assert_eq!(Version::from_request_segment("1.0.0-beta.1%2bbuild.5").unwrap(), expected);
        assert_eq!(Version::from_request_segment("1.0.0-beta.1+build.5").unwrap(), expected);
        assert_eq!(Version::from_request_segment("v1.0.0").unwrap(), v("1.0.0"));
        assert_eq!(expected.to_request_segment(), "1.0.0-beta.1%2Bbuild.5");
        assert_eq!(v("1.2.3").to_request_segment(), "1.2.3");

        for bad in ["1.0.0%2", "1.0.0%", "1.0.0%zz", "1.0.0%2G", "1.0.0%FF", "1.0.0%C3%28"] {
            assert!(matches!(Version::from_request_segment(bad), Err(Error::InvalidPercentEncoding { .. })), "{bad}");
        }
        // Decodes to something that is not a version.
        assert!(matches!(Version::from_request_segment("1.0.0%20"), Err(Error::InvalidVersion { .. })));
        assert!(matches!(Version::from_request_segment(&"%31".repeat(200)), Err(Error::VersionTooLong { .. })));
    }

    #[test]
    fn serde_uses_the_text() {
        assert_eq!(serde_json::to_string(&v("v1.2.3-rc.1")).unwrap(), "\"1.2.3-rc.1\"");
        assert_eq!(serde_json::from_str::<Version>("\"v2.0.0\"").unwrap(), v("2.0.0"));
        assert!(serde_json::from_str::<Version>("\"2.0\"").is_err());
    }
}
