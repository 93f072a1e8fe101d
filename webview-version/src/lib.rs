//! `millennium-webview-version`: the system webview's version, the minimum a release requires (`min_webview_version`,
//! one per backend) and the `X-Millennium-Webview` header in which the updater reports the webview it runs with.
//!
//! A leaf crate (serde and thiserror, nothing else) so that every app can check its webview at start without
//! compiling the update protocol, its signatures and their key derivation: the runtime and
//! `millennium-webview-probe` depend on it directly, and `millennium-update-protocol` re-exports it as its
//! `webview` module for the server, the updater and the bundler. One rule, one copy.
//!
//! # Versions
//!
//! A [`WebviewVersion`] is one to four dot-separated decimal numbers (`2.44.1` for WebKitGTK, `124.0.2478.80` for the
//! WebView2 Runtime, `14.5` for macOS), each fitting in 32 bits without leading zeros, nothing else (no whitespace, no
//! `v`, no suffix), at most [`MAX_VERSION_LEN`] bytes.
//! Missing parts count as zero, so `2.44` equals `2.44.0` and a minimum of `2.44` accepts `2.44.1`. It is written
//! back as given.
//!
//! # Minimums, per backend
//!
//! A WebKitGTK number means nothing to WebView2 and neither means anything on macOS, so a release states its minimum
//! per [`Backend`] ([`WebviewMinimums`]) and an install compares only the entry of its own backend; a release without
//! an entry for a backend runs on any version of it. Text form (command line, publish form field, server database),
//! entries in the order `webkitgtk`, `webview2`, `wkwebview`, at most [`MAX_MINIMUMS_LEN`] bytes:
//!
//! ```text
//! webkitgtk=2.44,webview2=124.0
//! ```
//!
//! JSON form (signed release document): an object, `{"webkitgtk":"2.44","webview2":"124.0"}`. A plain JSON string is
//! the form from before minimums were per backend, which only Linux bundles produced: it is read as the WebKitGTK
//! minimum ([`WebviewMinimums::parse_or_legacy`]).
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

mod error;

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use error::{Error, Result};

use error::snippet;

/// The header name.
pub const HEADER: &str = "X-Millennium-Webview";

/// The header value of an install without a usable webview.
pub const MISSING: &str = "missing";

/// Longest header value accepted (`webview2/` and four ten-digit parts fit in 52 bytes).
pub const MAX_HEADER_LEN: usize = 64;

/// Longest version accepted, in bytes (four parts of up to ten digits and their dots fit in 43).
pub const MAX_VERSION_LEN: usize = 64;

/// Longest per-backend list of minimum versions in its text form (`webkitgtk=…,webview2=…,wkwebview=…` with the
/// longest versions fits in 170 bytes).
pub const MAX_MINIMUMS_LEN: usize = 256;

/// Most parts of a version.
const MAX_PARTS: usize = 4;

/// A webview version (see the [crate docs](crate)).
#[derive(Debug, Clone, Eq)]
pub struct WebviewVersion {
    parts: Vec<u32>,
}

impl WebviewVersion {
    /// A version from its numeric parts (one to four).
    pub fn from_parts(parts: &[u32]) -> Result<Self> {
        if parts.is_empty() || parts.len() > MAX_PARTS {
            return Err(Error::InvalidVersion {
                value: parts.iter().map(u32::to_string).collect::<Vec<_>>().join("."),
                reason: "a version has one to four numeric parts",
            });
        }
        Ok(Self { parts: parts.to_vec() })
    }

    /// Parses a version (the [`FromStr`] rule).
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |reason| Error::InvalidVersion { value: snippet(text), reason };
        if text.is_empty() {
            return Err(invalid("it is empty"));
        }
        if text.len() > MAX_VERSION_LEN {
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

/// The webview backend of a platform. Ordered as written here (the order of [`WebviewMinimums`]' text form).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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

impl Backend {
    /// The backend whose [`Backend::id`] is `id`.
    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.id() == id)
    }
}

/// What to say of a name that is no [`Backend::id`] where a minimum is given.
pub fn unknown_backend(name: &str) -> String {
    format!(
        "unknown webview backend `{}`: use `webkitgtk` (Linux), `webview2` (Windows) or `wkwebview` (macOS)",
        snippet(name)
    )
}

impl FromStr for Backend {
    type Err = Error;

    /// Parses a [`Backend::id`].
    fn from_str(text: &str) -> Result<Self> {
        Self::from_id(text).ok_or_else(|| Error::InvalidHeader {
            value: snippet(text),
            reason: "unknown backend: expected `webkitgtk`, `webview2` or `wkwebview`",
        })
    }
}

/// The oldest webview a release works with, per [`Backend`] (see the [crate docs](crate#minimums-per-backend)).
///
/// Empty means no minimum anywhere. Equality compares versions numerically (`2.44` equals `2.44.0`); text and JSON
/// write each version back as given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebviewMinimums {
    entries: BTreeMap<Backend, WebviewVersion>,
}

/// What a bare version is followed by in every refusal: how to name its backend.
const NAME_THE_BACKEND: &str = "write `webkitgtk=VERSION` (Linux), `webview2=VERSION` (Windows) or `wkwebview=VERSION` (macOS version), \
     comma-separated, e.g. `webkitgtk=2.44,webview2=124.0`";

impl WebviewMinimums {
    /// No minimum for any backend.
    pub fn new() -> Self {
        Self::default()
    }

    /// The minimums with `backend`'s set to `version` (replacing any).
    pub fn with(mut self, backend: Backend, version: WebviewVersion) -> Self {
        self.entries.insert(backend, version);
        self
    }

    /// The legacy reading of a single version: the WebKitGTK minimum (before minimums were per backend, only Linux
    /// bundles produced one).
    pub fn legacy(version: WebviewVersion) -> Self {
        Self::new().with(Backend::Webkitgtk, version)
    }

    /// The minimum for one backend, if the release has one.
    pub fn get(&self, backend: Backend) -> Option<&WebviewVersion> {
        self.entries.get(&backend)
    }

    /// Whether no backend has a minimum.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// How many backends have a minimum.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entries, in the canonical order.
    pub fn iter(&self) -> impl Iterator<Item = (Backend, &WebviewVersion)> {
        self.entries.iter().map(|(backend, version)| (*backend, version))
    }

    /// Parses the text form `BACKEND=VERSION[,BACKEND=VERSION…]` (any order, each backend at most once). A bare
    /// version is refused: it does not say which webview it is for.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |reason: String| Error::InvalidMinimums { value: snippet(text), reason };
        if text.is_empty() {
            return Err(invalid(format!("it is empty; {NAME_THE_BACKEND}")));
        }
        if text.len() > MAX_MINIMUMS_LEN {
            return Err(invalid(format!("it is longer than {MAX_MINIMUMS_LEN} bytes; {NAME_THE_BACKEND}")));
        }
        let mut minimums = Self::new();
        for entry in text.split(',') {
            if entry.is_empty() {
                return Err(invalid(format!(
                    "an entry is empty (a comma at either end or two in a row); {NAME_THE_BACKEND}"
                )));
            }
            let Some((name, version)) = entry.split_once('=') else {
                let reason = if WebviewVersion::parse(entry).is_ok() {
                    format!(
                        "the bare version `{entry}` does not say which webview it is for: write `webkitgtk={entry}` for \
                         WebKitGTK (Linux), `webview2={entry}` for WebView2 (Windows) or `wkwebview={entry}` for the \
                         macOS version, comma-separated for several"
                    )
                } else {
                    format!("`{}` is not `BACKEND=VERSION`; {NAME_THE_BACKEND}", snippet(entry))
                };
                return Err(invalid(reason));
            };
            let backend = Backend::from_id(name).ok_or_else(|| invalid(unknown_backend(name)))?;
            let version = WebviewVersion::parse(version).map_err(|_| {
                invalid(format!(
                    "`{}` is not a version for `{name}`: write dotted numbers, e.g. `{name}={}`",
                    snippet(version),
                    backend.example_version()
                ))
            })?;
            if minimums.entries.insert(backend, version).is_some() {
                return Err(invalid(format!("`{name}` is given twice: give each backend once")));
            }
        }
        Ok(minimums)
    }

    /// Parses the text form, or a bare version in its legacy reading ([`WebviewMinimums::legacy`]): what a
    /// `min-webview-version` string in `Millennium.toml` and a plain string in a signed release document mean.
    pub fn parse_or_legacy(text: &str) -> Result<Self> {
        if text.contains(['=', ',']) { Self::parse(text) } else { WebviewVersion::parse(text).map(Self::legacy) }
    }

    /// The minimum for `backend` given either as a bare version (meant for `backend`: what an app running on one
    /// platform passes) or as the text form, of which `backend`'s entry counts (`None` without one): one string then
    /// serves every platform.
    pub fn parse_for(text: &str, backend: Backend) -> Result<Option<WebviewVersion>> {
        if text.contains(['=', ',']) {
            Self::parse(text).map(|minimums| minimums.get(backend).cloned())
        } else {
            WebviewVersion::parse(text).map(Some)
        }
    }
}

impl Backend {
    /// A plausible minimum, for examples in messages.
    const fn example_version(self) -> &'static str {
        match self {
            Self::Webkitgtk => "2.44",
            Self::Webview2 => "124.0",
            Self::Wkwebview => "13.0",
        }
    }
}

impl FromStr for WebviewMinimums {
    type Err = Error;

    /// The strict text form ([`WebviewMinimums::parse`]).
    fn from_str(text: &str) -> Result<Self> {
        Self::parse(text)
    }
}

impl fmt::Display for WebviewMinimums {
    /// The canonical text form (empty when there is no minimum).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (backend, version)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}={version}", backend.id())?;
        }
        Ok(())
    }
}

impl FromIterator<(Backend, WebviewVersion)> for WebviewMinimums {
    fn from_iter<I: IntoIterator<Item = (Backend, WebviewVersion)>>(iter: I) -> Self {
        Self { entries: iter.into_iter().collect() }
    }
}

impl Serialize for WebviewMinimums {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (backend, version) in self.iter() {
            map.serialize_entry(backend.id(), version)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for WebviewMinimums {
    /// An object of backend ids to versions, or a string: a bare version (legacy: the WebKitGTK minimum) or the text
    /// form.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_any(MinimumsVisitor)
    }
}

struct MinimumsVisitor;

impl<'de> serde::de::Visitor<'de> for MinimumsVisitor {
    type Value = WebviewMinimums;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r#"minimum webview versions per backend, e.g. {"webkitgtk": "2.44", "webview2": "124.0"}"#)
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> std::result::Result<Self::Value, E> {
        WebviewMinimums::parse_or_legacy(text).map_err(E::custom)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<Self::Value, A::Error> {
        use serde::de::Error as _;
        let mut minimums = WebviewMinimums::new();
        while let Some(name) = map.next_key::<String>()? {
            let backend = Backend::from_id(&name).ok_or_else(|| A::Error::custom(unknown_backend(&name)))?;
            let version: WebviewVersion = map.next_value()?;
            if minimums.entries.insert(backend, version).is_some() {
                return Err(A::Error::custom(format!("webview backend `{name}` is given twice")));
            }
        }
        Ok(minimums)
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
    /// Parses a header value (see the [crate docs](crate)).
    pub fn parse(value: &str) -> Result<Self> {
        let invalid = |reason| Error::InvalidHeader { value: snippet(value), reason };
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
            assert!(matches!(error, Error::InvalidVersion { .. }), "{bad:?}: {error:?}");
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
            assert!(matches!(error, Error::InvalidHeader { .. }), "{bad:?}: {error:?}");
            assert!(error.to_string().contains(HEADER), "{bad:?}: {error}");
        }
    }

    #[test]
    fn one_string_gives_each_platform_its_own_minimum() {
        let text = "webkitgtk=2.44,webview2=124.0";
        assert_eq!(WebviewMinimums::parse_for(text, Backend::Webkitgtk).unwrap(), Some(v("2.44")));
        assert_eq!(WebviewMinimums::parse_for(text, Backend::Webview2).unwrap(), Some(v("124.0")));
        assert_eq!(WebviewMinimums::parse_for(text, Backend::Wkwebview).unwrap(), None);
        // A bare version is meant for the platform that reads it.
        assert_eq!(WebviewMinimums::parse_for("13.0", Backend::Wkwebview).unwrap(), Some(v("13.0")));
        for bad in ["", "2.x", "webkitgtk=2.x", "gecko=1", "2.44,"] {
            assert!(WebviewMinimums::parse_for(bad, Backend::Webkitgtk).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn backends_by_id() {
        for backend in Backend::ALL {
            assert_eq!(backend.id().parse::<Backend>().unwrap(), backend);
        }
        assert_eq!(serde_json::to_string(&Backend::Webview2).unwrap(), "\"webview2\"");
    }

    fn m(text: &str) -> WebviewMinimums {
        WebviewMinimums::parse(text).unwrap()
    }

    #[test]
    fn minimums_parse_in_any_order_and_print_canonically() {
        let both = m("webview2=124.0,webkitgtk=2.44");
        assert_eq!(both.to_string(), "webkitgtk=2.44,webview2=124.0");
        assert_eq!(both.get(Backend::Webkitgtk), Some(&v("2.44")));
        assert_eq!(both.get(Backend::Webview2), Some(&v("124.0")));
        assert_eq!(both.get(Backend::Wkwebview), None);
        assert_eq!(both.len(), 2);
        assert!(!both.is_empty());
        assert_eq!(both.iter().map(|(b, _)| b).collect::<Vec<_>>(), [Backend::Webkitgtk, Backend::Webview2]);
        let all = "webkitgtk=2.44.1,webview2=124.0.2478.80,wkwebview=13";
        assert_eq!(m(all).to_string(), all);
        assert_eq!(m("wkwebview=14.5").get(Backend::Wkwebview), Some(&v("14.5")));
        assert_eq!(
            WebviewMinimums::new().with(Backend::Webview2, v("109")).with(Backend::Webkitgtk, v("2.40")),
            m("webkitgtk=2.40,webview2=109")
        );
        assert_eq!(WebviewMinimums::new().to_string(), "");
        assert!(WebviewMinimums::new().is_empty());
        assert_eq!(m("webkitgtk=2.44"), m("webkitgtk=2.44.0"));
    }

    #[test]
    fn malformed_minimums_are_refused_with_what_to_write() {
        let long = format!("webkitgtk=2.44,{}", "x".repeat(300));
        for (bad, says) in [
            ("", "it is empty"),
            ("2.44", "the bare version `2.44` does not say which webview it is for: write `webkitgtk=2.44` for"),
            ("webkitgtk=2.44,124.0", "the bare version `124.0`"),
            ("webkitgtk", "is not `BACKEND=VERSION`"),
            ("gecko=120", "unknown webview backend `gecko`"),
            ("WebKitGTK=2.44", "unknown webview backend `WebKitGTK`"),
            ("webkitgtk=2.44,webkitgtk=2.46", "`webkitgtk` is given twice"),
            ("webkitgtk=2.x", "`2.x` is not a version for `webkitgtk`: write dotted numbers, e.g. `webkitgtk=2.44`"),
            ("webview2=", "is not a version for `webview2`"),
            ("webkitgtk=2.44,", "an entry is empty"),
            (",webkitgtk=2.44", "an entry is empty"),
            ("webkitgtk=2.44,,webview2=124", "an entry is empty"),
            ("webkitgtk=2.44, webview2=124", "unknown webview backend ` webview2`"),
            ("webkitgtk = 2.44", "unknown webview backend `webkitgtk `"),
            ("webkitgtk=2.44=1", "is not a version for `webkitgtk`"),
            (&long, "longer than 256 bytes"),
        ] {
            let error = WebviewMinimums::parse(bad).unwrap_err();
            assert!(matches!(error, Error::InvalidMinimums { .. }), "{bad:?}: {error:?}");
            let message = error.to_string();
            assert!(message.contains(says), "{bad:?}: {message}");
            if !message.contains("unknown webview backend") && !message.contains("given twice") {
                assert!(message.contains("e.g. `") || message.contains("write `"), "{bad:?}: {message}");
            }
        }
    }

    #[test]
    fn bare_versions_are_the_legacy_webkitgtk_minimum_only_where_allowed() {
        assert_eq!(WebviewMinimums::parse_or_legacy("2.44").unwrap(), m("webkitgtk=2.44"));
        assert_eq!(WebviewMinimums::parse_or_legacy("webview2=124.0").unwrap(), m("webview2=124.0"));
        assert!(matches!(WebviewMinimums::parse_or_legacy("2.x"), Err(Error::InvalidVersion { .. })));
        assert!(matches!(WebviewMinimums::parse_or_legacy(""), Err(Error::InvalidVersion { .. })));
        assert!(matches!(WebviewMinimums::parse_or_legacy("2.44,"), Err(Error::InvalidMinimums { .. })));
        assert!(matches!(WebviewMinimums::parse_or_legacy("gecko=1"), Err(Error::InvalidMinimums { .. })));
        assert_eq!(WebviewMinimums::legacy(v("2.40")), m("webkitgtk=2.40"));
    }

    #[test]
    fn minimums_serialize_as_objects_and_read_legacy_strings() {
        let both = m("webkitgtk=2.44,webview2=124.0");
        let json = serde_json::to_string(&both).unwrap();
        assert_eq!(json, r#"{"webkitgtk":"2.44","webview2":"124.0"}"#);
        assert_eq!(serde_json::from_str::<WebviewMinimums>(&json).unwrap(), both);
        assert_eq!(
            serde_json::from_str::<WebviewMinimums>(r#"{"webview2":"124.0","webkitgtk":"2.44"}"#).unwrap(),
            both
        );
        assert_eq!(serde_json::from_str::<WebviewMinimums>(r#""2.44""#).unwrap(), m("webkitgtk=2.44"));
        assert_eq!(serde_json::from_str::<WebviewMinimums>("{}").unwrap(), WebviewMinimums::new());
        for (bad, says) in [
            (r#"{"gecko":"1"}"#, "unknown webview backend `gecko`"),
            (r#"{"webkitgtk":"2.44","webkitgtk":"2.46"}"#, "given twice"),
            (r#"{"webkitgtk":"2.x"}"#, "not a valid webview version"),
            (r#"{"webkitgtk":2.44}"#, "invalid type"),
            (r#""2.x""#, "not a valid webview version"),
            (r#""webkitgtk=2.x""#, "not a list of minimum webview versions"),
            ("2.44", "invalid type"),
            ("[]", "invalid type"),
        ] {
            let error = serde_json::from_str::<WebviewMinimums>(bad).unwrap_err().to_string();
            assert!(error.contains(says), "{bad}: {error}");
        }
    }
}
