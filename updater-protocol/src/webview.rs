//! The system webview on the wire: the version a release requires (`min_webview_version`) and the
//! `X-Millennium-Webview` header in which the updater reports the webview it runs with.
//!
//! # Versions
//!
//! A [`WebviewVersion`] is one to four dot-separated decimal numbers (`2.44.1` for WebKitGTK, `124.0.2478.80` for the
//! WebView2 Runtime, `14.5` for macOS), each fitting in 32 bits without leading zeros, nothing else (no whitespace, no
//! `v`, no suffix).
//! Missing parts count as zero, so `2.44` equals `2.44.0` and a minimum of `2.44` accepts `2.44.1`. It is written
//! back as given.
//!
//! # The header
//!
//! ```text
//! X-Millennium-Webview: webkitgtk/2.44.1
//! X-Millennium-Webview: missing
//! ```
//!
//! The value is `BACKEND/VERSION` ([`Backend::id`], then a [`WebviewVersion`]) or `missing` when the webview is not
//! installed or cannot be loaded; at most [`MAX_HEADER_LEN`] bytes ([`WebviewReport`]). A server must treat a value
//! it cannot parse as unknown and answer the check as usual: the header is a report, never a condition of service.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result, snippet};

/// The header name.
pub const HEADER: &str = "X-Millennium-Webview";

/// The header value of an install without a usable webview.
pub const MISSING: &str = "missing";

/// Longest header value accepted (`webview2/` and four ten-digit parts fit in 52 bytes).
pub const MAX_HEADER_LEN: usize = 64;

/// Most parts of a version.
const MAX_PARTS: usize = 4;

/// A webview version (see the [module docs](self)).
#[derive(Debug, Clone, Eq)]
pub struct WebviewVersion {
    parts: Vec<u32>,
}

impl WebviewVersion {
    /// A version from its numeric parts (one to four).
    pub fn from_parts(parts: &[u32]) -> Result<Self> {
        if parts.is_empty() || parts.len() > MAX_PARTS {
            return Err(Error::InvalidWebviewVersion {
                value: parts.iter().map(u32::to_string).collect::<Vec<_>>().join("."),
                reason: "a version has one to four numeric parts",
            });
        }
        Ok(Self { parts: parts.to_vec() })
    }

    /// Parses a version (the [`FromStr`] rule).
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |reason| Error::InvalidWebviewVersion { value: snippet(text), reason };
        if text.is_empty() {
            return Err(invalid("it is empty"));
        }
        if text.len() > crate::limits::MAX_MIN_WEBVIEW_VERSION_LEN {
            return Err(invalid("it is too long"));
        }
        let parts = text
            .split('.')
            .map(|part| {
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid("each part must be a number, as in `2.44.1`"));
                }
                // So that a version is written back as given (`02` would come back as `2`).
                if part.len() > 1 && part.starts_with('0') {
                    return Err(invalid("a part has a leading zero"));
                }
                part.parse::<u32>().map_err(|_| invalid("a part is too large"))
            })
            .collect::<Result<Vec<_>>>()?;
        if parts.len() > MAX_PARTS {
            return Err(invalid("a version has at most four parts"));
        }
        Ok(Self { parts })
    }

    /// The numeric parts, as written.
    pub fn parts(&self) -> &[u32] {
        &self.parts
    }

    fn part(&self, index: usize) -> u32 {
        self.parts.get(index).copied().unwrap_or(0)
    }
}

impl FromStr for WebviewVersion {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        Self::parse(text)
    }
}

impl PartialEq for WebviewVersion {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Ord for WebviewVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        (0..MAX_PARTS).map(|i| self.part(i).cmp(&other.part(i))).find(|o| o.is_ne()).unwrap_or(Ordering::Equal)
    }
}

impl PartialOrd for WebviewVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for WebviewVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, part) in self.parts.iter().enumerate() {
            if i > 0 {
                f.write_str(".")?;
            }
            write!(f, "{part}")?;
        }
        Ok(())
    }
}

impl Serialize for WebviewVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for WebviewVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The webview backend of a platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// WebKitGTK 4.1 (Linux and other Unix desktops).
    Webkitgtk,
    /// Microsoft Edge WebView2 (Windows).
    Webview2,
    /// WKWebView (macOS).
    Wkwebview,
}

impl Backend {
    /// Every backend.
    pub const ALL: [Backend; 3] = [Self::Webkitgtk, Self::Webview2, Self::Wkwebview];

    /// The backend Millennium uses on the platform this was built for.
    pub const fn current() -> Self {
        if cfg!(windows) {
            Self::Webview2
        } else if cfg!(target_os = "macos") {
            Self::Wkwebview
        } else {
            Self::Webkitgtk
        }
    }

    /// The backend of an update target's operating system.
    pub const fn for_os(os: crate::Os) -> Self {
        match os {
            crate::Os::Linux => Self::Webkitgtk,
            crate::Os::Windows => Self::Webview2,
            crate::Os::Darwin => Self::Wkwebview,
        }
    }

    /// The short machine name, as in the [`HEADER`]: `webkitgtk`, `webview2`, `wkwebview`.
    pub const fn id(self) -> &'static str {
        match self {
            Self::Webkitgtk => "webkitgtk",
            Self::Webview2 => "webview2",
            Self::Wkwebview => "wkwebview",
        }
    }

    /// The name people know it by.
    pub const fn display_name(self) -> &'static str {
        match self {
            Self::Webkitgtk => "WebKitGTK 4.1",
            Self::Webview2 => "the Microsoft Edge WebView2 Runtime",
            Self::Wkwebview => "macOS (for WKWebView)",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

impl FromStr for Backend {
    type Err = Error;

    /// Parses a [`Backend::id`].
    fn from_str(text: &str) -> Result<Self> {
        Self::ALL.into_iter().find(|b| b.id() == text).ok_or_else(|| Error::InvalidWebviewHeader {
            value: snippet(text),
            reason: "unknown backend: expected `webkitgtk`, `webview2` or `wkwebview`",
        })
    }
}

/// What an install reports in the [`HEADER`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebviewReport {
    /// The webview is there, at this version.
    Installed {
        /// Which webview.
        backend: Backend,
        /// Its version.
        version: WebviewVersion,
    },
    /// No usable webview.
    Missing,
}

impl WebviewReport {
    /// Parses a header value (see the [module docs](self)).
    pub fn parse(value: &str) -> Result<Self> {
        let invalid = |reason| Error::InvalidWebviewHeader { value: snippet(value), reason };
        if value.len() > MAX_HEADER_LEN {
            return Err(invalid("it is too long"));
        }
        if value == MISSING {
            return Ok(Self::Missing);
        }
        let (backend, version) =
            value.split_once('/').ok_or_else(|| invalid("expected `BACKEND/VERSION` or `missing`"))?;
        let backend = backend.parse()?;
        let version = WebviewVersion::parse(version)
            .map_err(|_| invalid("the version is not dotted numbers, as in `webkitgtk/2.44.1`"))?;
        Ok(Self::Installed { backend, version })
    }

    /// The header value.
    pub fn to_header_value(&self) -> String {
        self.to_string()
    }

    /// The backend, when the webview is installed.
    pub fn backend(&self) -> Option<Backend> {
        match self {
            Self::Installed { backend, .. } => Some(*backend),
            Self::Missing => None,
        }
    }

    /// The version, when the webview is installed.
    pub fn version(&self) -> Option<&WebviewVersion> {
        match self {
            Self::Installed { version, .. } => Some(version),
            Self::Missing => None,
        }
    }
}

impl fmt::Display for WebviewReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Installed { backend, version } => write!(f, "{}/{version}", backend.id()),
            Self::Missing => f.write_str(MISSING),
        }
    }
}

impl FromStr for WebviewReport {
    type Err = Error;

    fn from_str(value: &str) -> Result<Self> {
        Self::parse(value)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn v(text: &str) -> WebviewVersion {
        text.parse().unwrap()
    }

    #[test]
    fn versions_parse_and_display_as_written() {
        for text in ["2", "2.44", "2.44.1", "124.0.2478.80", "0", "4294967295"] {
            assert_eq!(v(text).to_string(), text);
        }
        assert_eq!(WebviewVersion::from_parts(&[2, 44, 1]).unwrap(), v("2.44.1"));
        assert!(WebviewVersion::from_parts(&[]).is_err());
        assert!(WebviewVersion::from_parts(&[1, 2, 3, 4, 5]).is_err());
    }

    #[test]
    fn versions_compare_numerically_with_missing_parts_as_zero() {
        assert!(v("2.44.1") > v("2.44"));
        assert_eq!(v("2.44"), v("2.44.0"));
        assert!(v("2.10") > v("2.9.9"));
        assert!(v("124.0.2478.80") > v("124.0.2478.9"));
        assert!(v("2.50.6") >= v("2.40"));
    }

    #[test]
    fn what_is_not_a_version_is_refused() {
        let long = "1".repeat(100);
        for bad in [
            "",
            "v2.44",
            "2..1",
            ".2",
            "2.",
            "2.44.1-rc1",
            "1.2.3.4.5",
            "2.99999999999",
            "two",
            "06.0",
            "2.044",
            "00",
            " 2.44",
            "2.44\n",
            "+1",
            &long,
        ] {
            let error = bad.parse::<WebviewVersion>().unwrap_err();
            assert!(matches!(error, Error::InvalidWebviewVersion { .. }), "{bad:?}: {error:?}");
            assert!(error.to_string().contains("not a valid webview version"), "{bad:?}: {error}");
        }
    }

    #[test]
    fn versions_serialize_as_strings() {
        let json = serde_json::to_string(&v("2.44.1")).unwrap();
        assert_eq!(json, "\"2.44.1\"");
        assert_eq!(serde_json::from_str::<WebviewVersion>(&json).unwrap(), v("2.44.1"));
        assert!(serde_json::from_str::<WebviewVersion>("\"2.x\"").is_err());
        assert!(serde_json::from_str::<WebviewVersion>("2.44").is_err());
    }

    #[test]
    fn header_values_round_trip() {
        for value in ["webkitgtk/2.44.1", "webview2/124.0.2478.80", "wkwebview/14.5", "missing"] {
            let report = WebviewReport::parse(value).unwrap();
            assert_eq!(report.to_header_value(), value);
        }
        let report = WebviewReport::parse("webkitgtk/2.44.1").unwrap();
        assert_eq!(report.backend(), Some(Backend::Webkitgtk));
        assert_eq!(report.version(), Some(&v("2.44.1")));
        assert_eq!(WebviewReport::parse("missing").unwrap().backend(), None);
    }

    #[test]
    fn malformed_header_values_are_errors() {
        let long = format!("webkitgtk/{}", "1.".repeat(40));
        for bad in [
            "",
            "Missing",
            "webkitgtk",
            "webkitgtk/",
            "/2.44",
            "WebKitGTK/2.44",
            "gecko/120",
            "webkitgtk/2.44/1",
            "webkitgtk/v2.44",
            "webkitgtk 2.44",
            "webkitgtk/2.44 ",
            "\u{1b}[31m",
            &long,
        ] {
            let error = WebviewReport::parse(bad).unwrap_err();
            assert!(matches!(error, Error::InvalidWebviewHeader { .. }), "{bad:?}: {error:?}");
            assert!(error.to_string().contains(HEADER), "{bad:?}: {error}");
        }
    }

    #[test]
    fn backends_by_id_and_os() {
        for backend in Backend::ALL {
            assert_eq!(backend.id().parse::<Backend>().unwrap(), backend);
        }
        assert_eq!(Backend::for_os(crate::Os::Linux), Backend::Webkitgtk);
        assert_eq!(Backend::for_os(crate::Os::Windows), Backend::Webview2);
        assert_eq!(Backend::for_os(crate::Os::Darwin), Backend::Wkwebview);
        assert_eq!(serde_json::to_string(&Backend::Webview2).unwrap(), "\"webview2\"");
    }
}
