//! The validated field types shared by both Tauri forms, and the field-by-field reader that fills them.
//!
//! Each type here is only constructible valid: a [`Version`] within its limit, an absolute http(s) [`ArtifactUrl`],
//! a [`SignatureText`] that Tauri can decode, a date that writes back as RFC 3339. That is what lets the producers
//! promise that what they write re-parses.

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{Error, Result, snippet};
use crate::limits::{
    MAX_FORMAT_LEN, MAX_MIN_WEBVIEW_VERSION_LEN, MAX_NOTES_LEN, MAX_PUB_DATE_LEN, MAX_SIGNATURE_LEN, MAX_URL_LEN,
};
use crate::target::{Os, Target};
use crate::version::Version;
use crate::webview::WebviewVersion;

/// What every Tauri response says about the release itself: `version`, `notes`, `pub_date`, and (dynamic form only)
/// Millennium's optional `min_webview_version`.
///
/// `min_webview_version` is the oldest system webview the release works with on the requested target, for that
/// target's [`Backend`](crate::webview::Backend) (WebKitGTK version on Linux, WebView2 Runtime on Windows, macOS
/// version on macOS). A static manifest serves many backends, so it states the minimum in each platform entry instead
/// (see [`super::StaticManifest`]). Millennium's updater does not install a release whose minimum the machine does not
/// meet; Tauri's and cargo-packager's clients deserialise releases with serde structs that do not deny unknown fields,
/// so they ignore it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseInfo {
    version: Version,
    notes: Option<String>,
    pub_date: Option<PubDate>,
    min_webview_version: Option<WebviewVersion>,
}

/// A release date together with the RFC 3339 text it is written as.
#[derive(Debug, Clone, PartialEq)]
struct PubDate {
    at: OffsetDateTime,
    text: String,
}

impl ReleaseInfo {
    /// A release with only a version (no notes, no date).
    pub fn new(version: Version) -> Self {
        Self { version, notes: None, pub_date: None, min_webview_version: None }
    }

    /// Declares the oldest webview the release works with on the answer's target, for its backend (`2.44`, `2.44.1`,
    /// `124.0.2478.80`; see [`crate::webview`]). Dynamic answers only: a static manifest refuses it
    /// ([`super::StaticManifestBuilder::min_webview_versions`] takes the per-backend minimums).
    pub fn with_min_webview_version(mut self, version: WebviewVersion) -> Self {
        self.min_webview_version = Some(version);
        self
    }

    /// The oldest webview the release works with on the answer's target, if it declares one (dynamic answers; a
    /// static manifest's are per entry, see [`super::PlatformEntry::min_webview_version`]).
    pub fn min_webview_version(&self) -> Option<&WebviewVersion> {
        self.min_webview_version.as_ref()
    }

    /// Takes the minimum out (a static manifest moves a legacy top-level value into its entries).
    pub(crate) fn take_min_webview_version(&mut self) -> Option<WebviewVersion> {
        self.min_webview_version.take()
    }

    /// Adds release notes (at most [`MAX_NOTES_LEN`] bytes).
    pub fn with_notes(mut self, notes: impl Into<String>) -> Result<Self> {
        let notes = notes.into();
        check_len("notes", &notes, MAX_NOTES_LEN)?;
        self.notes = Some(notes);
        Ok(self)
    }

    /// Adds the publication date. It must be writable as RFC 3339 (years 0000–9999, offset in whole minutes).
    pub fn with_pub_date(mut self, at: OffsetDateTime) -> Result<Self> {
        let text = at.format(&Rfc3339).map_err(|source| Error::UnrepresentablePubDate { source })?;
        self.pub_date = Some(PubDate { at, text });
        Ok(self)
    }

    /// The announced version.
    pub fn version(&self) -> &Version {
        &self.version
    }

    /// The release notes, if any.
    pub fn notes(&self) -> Option<&str> {
        self.notes.as_deref()
    }

    /// The publication date, if any.
    pub fn pub_date(&self) -> Option<OffsetDateTime> {
        self.pub_date.as_ref().map(|d| d.at)
    }

    /// The publication date as written in the document (RFC 3339), if any.
    pub fn pub_date_text(&self) -> Option<&str> {
        self.pub_date.as_ref().map(|d| d.text.as_str())
    }

    /// Reads `version` (or its alias `name`), `notes` and `pub_date` out of the top-level object.
    pub(crate) fn take_from(obj: &mut Fields) -> Result<Self> {
        let version = match (obj.contains("version"), obj.contains("name")) {
            (true, true) => return Err(Error::VersionAndName),
            (_, true) => take_version(obj, "name")?,
            _ => take_version(obj, "version")?,
        };
        let notes = obj.take_str("notes", MAX_NOTES_LEN)?;
        let pub_date = match obj.take_str("pub_date", MAX_PUB_DATE_LEN)? {
            None => None,
            Some(text) => match OffsetDateTime::parse(&text, &Rfc3339) {
                Ok(at) => Some(PubDate { at, text }),
                Err(source) => {
                    return Err(Error::InvalidPubDate { field: obj.path("pub_date"), value: snippet(&text), source });
                }
            },
        };
        let min_webview_version = take_min_webview_version(obj)?;
        Ok(Self { version, notes, pub_date, min_webview_version })
    }

    /// Writes the fields into a JSON object.
    pub(crate) fn write_to(&self, out: &mut Map<String, Value>) {
        out.insert("version".into(), Value::String(self.version.to_string()));
        if let Some(notes) = &self.notes {
            out.insert("notes".into(), Value::String(notes.clone()));
        }
        if let Some(date) = &self.pub_date {
            out.insert("pub_date".into(), Value::String(date.text.clone()));
        }
        if let Some(min) = &self.min_webview_version {
            out.insert("min_webview_version".into(), Value::String(min.to_string()));
        }
    }
}

/// Reads a scalar `min_webview_version` (top level of a dynamic answer, or one platform entry of a static manifest).
pub(crate) fn take_min_webview_version(obj: &mut Fields) -> Result<Option<WebviewVersion>> {
    match obj.take_str("min_webview_version", MAX_MIN_WEBVIEW_VERSION_LEN)? {
        None => Ok(None),
        Some(text) => WebviewVersion::parse(&text).map(Some).map_err(|_| Error::InvalidMinWebviewVersion {
            field: obj.path("min_webview_version"),
            value: snippet(&text),
        }),
    }
}

fn take_version(obj: &mut Fields, key: &str) -> Result<Version> {
    let field = obj.path(key);
    // No field limit here: `Version::parse` enforces the version's own, with its own error.
    let text = obj.take_str(key, usize::MAX)?.ok_or_else(|| Error::MissingField { field: obj.path("version") })?;
    Version::parse(&text).map_err(|source| Error::InvalidFieldVersion { field, source: Box::new(source) })
}

/// Where to download an artifact: an absolute `http` or `https` URL of at most [`MAX_URL_LEN`] bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ArtifactUrl(url::Url);

impl ArtifactUrl {
    /// Parses and checks a URL. It is stored normalised (as the `url` crate, and so Tauri, reads it).
    pub fn parse(text: &str) -> Result<Self> {
        Self::parse_at(text, "url")
    }

    pub(crate) fn parse_at(text: &str, field: &str) -> Result<Self> {
        check_len(field, text, MAX_URL_LEN)?;
        let url = url::Url::parse(text).map_err(|source| Error::InvalidUrl {
            field: field.to_owned(),
            value: snippet(text),
            source,
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::UrlNotHttp { field: field.to_owned(), scheme: snippet(url.scheme()) });
        }
        // Normalisation percent-encodes and punycodes: the written form must fit too.
        check_len(field, url.as_str(), MAX_URL_LEN)?;
        Ok(Self(url))
    }

    /// The URL text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The parsed URL.
    pub fn as_url(&self) -> &url::Url {
        &self.0
    }
}

impl fmt::Display for ArtifactUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ArtifactUrl {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// A `signature` field: the base64 text of a minisign `.sig` file (Tauri's form), checked to decode to a minisign
/// signature.
///
/// The text is kept as written, so a server relaying a document passes it through byte for byte. Its trusted comment
/// is *not* verified here (there is no public key at this point); see [`SignatureText::signed_version`].
#[derive(Debug, Clone)]
pub struct SignatureText {
    text: String,
    /// Boxed: a decoded signature is ~200 bytes and documents hold many of these.
    signature: Box<millennium_sign::Signature>,
}

impl SignatureText {
    /// Parses Tauri's form: standard base64 (no whitespace) of the minisign signature text.
    ///
    /// A raw minisign `.sig` text is refused: Tauri clients base64-decode this field and would fail on it.
    pub fn parse(text: &str) -> Result<Self> {
        Self::parse_at(text, "signature")
    }

    pub(crate) fn parse_at(text: &str, field: &str) -> Result<Self> {
        check_len(field, text, MAX_SIGNATURE_LEN)?;
        let is_base64 = !text.is_empty()
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
            && !text.trim_end_matches('=').contains('=');
        if !is_base64 {
            return Err(Error::SignatureNotBase64 { field: field.to_owned() });
        }
        let signature = millennium_sign::Signature::from_text(text)
            .map_err(|source| Error::InvalidSignature { field: field.to_owned(), source })?;
        Ok(Self { text: text.to_owned(), signature: Box::new(signature) })
    }

    /// Wraps a signature, writing it in Tauri's form.
    pub fn from_signature(signature: millennium_sign::Signature) -> Result<Self> {
        let text = signature.to_text(millennium_sign::Format::Tauri);
        check_len("signature", &text, MAX_SIGNATURE_LEN)?;
        Ok(Self { text, signature: Box::new(signature) })
    }

    /// The text as it appears in the document.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The decoded signature.
    pub fn signature(&self) -> &millennium_sign::Signature {
        &self.signature
    }

    /// The `version:` field of the trusted comment (`timestamp:…\tfile:…\tversion:1.2.3`), if it has one, read the way
    /// tauri-plugin-updater reads it (by `millennium_sign::TrustedComment`). Unverified until the signature is checked against a public key: useful to
    /// catch mistakes, not to trust.
    pub fn signed_version(&self) -> Option<&str> {
        self.signature.trusted_fields().version()
    }

    /// Fails if the trusted comment names another version than `announced`: tauri-plugin-updater ≥ 2.14 rejects such
    /// a download, so such a document is broken. Compared as tauri-plugin-updater does: as SemVer values (build
    /// metadata included) when the signed text parses, else as text.
    pub(crate) fn check_version(&self, announced: &Version, field: &str) -> Result<()> {
        let Some(signed) = self.signed_version() else {
            return Ok(());
        };
        let matches = match Version::parse(signed) {
            Ok(signed) => &signed == announced,
            Err(_) => signed == announced.to_string(),
        };
        if matches {
            Ok(())
        } else {
            Err(Error::SignedVersionMismatch {
                field: field.to_owned(),
                signed: snippet(signed),
                announced: announced.to_string(),
            })
        }
    }
}

impl PartialEq for SignatureText {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

/// cargo-packager-updater's `format`: how it installs the artifact. tauri-plugin-updater ignores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PackagerFormat {
    /// `app`: a macOS `.app` in a `.tar.gz`.
    App,
    /// `appimage`: a Linux AppImage.
    AppImage,
    /// `nsis`: a Windows NSIS installer.
    Nsis,
    /// `wix`: a Windows MSI (WiX) installer.
    Wix,
}

impl PackagerFormat {
    /// Every format.
    pub const ALL: [PackagerFormat; 4] =
        [PackagerFormat::App, PackagerFormat::AppImage, PackagerFormat::Nsis, PackagerFormat::Wix];

    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            PackagerFormat::App => "app",
            PackagerFormat::AppImage => "appimage",
            PackagerFormat::Nsis => "nsis",
            PackagerFormat::Wix => "wix",
        }
    }

    /// The operating system that installs this format.
    pub fn os(self) -> Os {
        match self {
            PackagerFormat::App => Os::Darwin,
            PackagerFormat::AppImage => Os::Linux,
            PackagerFormat::Nsis | PackagerFormat::Wix => Os::Windows,
        }
    }

    /// The format implied by a target, when there is exactly one: from the bundle type (`app`, `appimage`, `nsis`,
    /// `msi` → `wix`; `deb` and `rpm` have none), or without one from the operating system (macOS → `app`, Linux →
    /// `appimage`; Windows is ambiguous between `nsis` and `wix`, so `None`).
    pub fn for_target(target: &Target) -> Option<Self> {
        use crate::target::BundleType;
        match target.bundle() {
            Some(BundleType::App) => Some(PackagerFormat::App),
            Some(BundleType::AppImage) => Some(PackagerFormat::AppImage),
            Some(BundleType::Nsis) => Some(PackagerFormat::Nsis),
            Some(BundleType::Msi) => Some(PackagerFormat::Wix),
            Some(BundleType::Deb | BundleType::Rpm) => None,
            None => match target.os() {
                Os::Darwin => Some(PackagerFormat::App),
                Os::Linux => Some(PackagerFormat::AppImage),
                Os::Windows => None,
            },
        }
    }

    fn parse_at(text: &str, field: &str) -> Result<Self> {
        // cargo-packager-updater lowercases before matching; so do we.
        PackagerFormat::ALL
            .into_iter()
            .find(|f| f.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| Error::UnknownFormat { field: field.to_owned(), value: snippet(text) })
    }
}

impl fmt::Display for PackagerFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PackagerFormat {
    type Err = Error;

    /// Parses `app`, `appimage`, `nsis` or `wix`, ignoring ASCII case (as cargo-packager-updater does).
    fn from_str(s: &str) -> Result<Self> {
        Self::parse_at(s, "format")
    }
}

/// One downloadable artifact: URL, signature and (for cargo-packager-updater) format.
#[derive(Debug, Clone, PartialEq)]
pub struct Artifact {
    url: ArtifactUrl,
    signature: SignatureText,
    format: Option<PackagerFormat>,
}

impl Artifact {
    /// An artifact without a `format`.
    pub fn new(url: ArtifactUrl, signature: SignatureText) -> Self {
        Self { url, signature, format: None }
    }

    /// Sets cargo-packager-updater's `format`.
    pub fn with_format(mut self, format: PackagerFormat) -> Self {
        self.format = Some(format);
        self
    }

    /// Where to download it.
    pub fn url(&self) -> &ArtifactUrl {
        &self.url
    }

    /// Its signature.
    pub fn signature(&self) -> &SignatureText {
        &self.signature
    }

    /// Its cargo-packager-updater `format`, if given.
    pub fn format(&self) -> Option<PackagerFormat> {
        self.format
    }

    /// Reads `url`, `signature` and `format` out of an object, checking the signature against the announced version.
    pub(crate) fn take_from(obj: &mut Fields, announced: &Version) -> Result<Self> {
        let url = obj.take_str("url", MAX_URL_LEN)?.ok_or_else(|| Error::MissingField { field: obj.path("url") })?;
        let url = ArtifactUrl::parse_at(&url, &obj.path("url"))?;
        let signature = obj
            .take_str("signature", MAX_SIGNATURE_LEN)?
            .ok_or_else(|| Error::MissingField { field: obj.path("signature") })?;
        let signature = SignatureText::parse_at(&signature, &obj.path("signature"))?;
        signature.check_version(announced, &obj.path("signature"))?;
        let format = match obj.take_str("format", MAX_FORMAT_LEN)? {
            Some(text) => Some(PackagerFormat::parse_at(&text, &obj.path("format"))?),
            None => None,
        };
        Ok(Self { url, signature, format })
    }

    /// Writes `url`, `signature` and `format` into a JSON object.
    pub(crate) fn write_to(&self, out: &mut Map<String, Value>) {
        out.insert("url".into(), Value::String(self.url.as_str().to_owned()));
        out.insert("signature".into(), Value::String(self.signature.as_str().to_owned()));
        if let Some(format) = self.format {
            out.insert("format".into(), Value::String(format.as_str().to_owned()));
        }
    }
}

/// A JSON object being taken apart field by field; what is left at the end are the unknown fields.
#[derive(Debug)]
pub(crate) struct Fields {
    map: Map<String, Value>,
    /// Dotted path of this object, with a trailing `.` (empty for the top level).
    prefix: String,
}

impl Fields {
    pub(crate) fn new(map: Map<String, Value>, prefix: String) -> Self {
        Self { map, prefix }
    }

    /// The dotted path of one of this object's fields, for error messages.
    pub(crate) fn path(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub(crate) fn contains(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// Removes a field; `null` counts as absent (as for Tauri's `Option` fields).
    pub(crate) fn take(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key).filter(|v| !v.is_null())
    }

    /// Removes a string field of at most `max` bytes; absent or `null` gives `None`.
    pub(crate) fn take_str(&mut self, key: &str, max: usize) -> Result<Option<String>> {
        match self.take(key) {
            None => Ok(None),
            Some(Value::String(text)) => {
                check_len(&self.path(key), &text, max)?;
                Ok(Some(text))
            }
            Some(_) => Err(Error::WrongType { field: self.path(key), expected: "a string" }),
        }
    }

    /// What is left: the fields nobody asked for.
    pub(crate) fn into_rest(self) -> Map<String, Value> {
        self.map
    }
}

fn check_len(field: &str, text: &str, max: usize) -> Result<()> {
    if text.len() > max {
        return Err(Error::FieldTooLong { field: field.to_owned(), len: text.len(), max });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = ArtifactUrl::parse("https://example.com/app_1.0.0_amd64.AppImage").unwrap();
        assert_eq!(u.as_str(), "https://example.com/app_1.0.0_amd64.AppImage");
        assert!(ArtifactUrl::parse("http://127.0.0.1:3007/download").is_ok());
        assert!(matches!(ArtifactUrl::parse("ftp://example.com/a"), Err(Error::UrlNotHttp { .. })));
        assert!(matches!(ArtifactUrl::parse("file:///etc/passwd"), Err(Error::UrlNotHttp { .. })));
        assert!(matches!(ArtifactUrl::parse("/relative/path"), Err(Error::InvalidUrl { .. })));
        assert!(matches!(ArtifactUrl::parse("https://"), Err(Error::InvalidUrl { .. })));
        assert!(matches!(ArtifactUrl::parse(""), Err(Error::InvalidUrl { .. })));
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert!(matches!(ArtifactUrl::parse(&long), Err(Error::FieldTooLong { .. })));
        // Short as written, too long once spaces are percent-encoded.
        let spaces = format!("https://example.com/{}", "a b".repeat(500));
        assert!(matches!(ArtifactUrl::parse(&spaces), Err(Error::FieldTooLong { .. })));
    }

    #[test]
    fn formats() {
        assert_eq!("NSIS".parse::<PackagerFormat>().unwrap(), PackagerFormat::Nsis);
        assert_eq!("appimage".parse::<PackagerFormat>().unwrap(), PackagerFormat::AppImage);
        assert!(matches!("msi".parse::<PackagerFormat>(), Err(Error::UnknownFormat { .. })));
        assert!(matches!("deb".parse::<PackagerFormat>(), Err(Error::UnknownFormat { .. })));
        let t = |s: &str| s.parse::<Target>().unwrap();
        assert_eq!(PackagerFormat::for_target(&t("windows-x86_64-msi")), Some(PackagerFormat::Wix));
        assert_eq!(PackagerFormat::for_target(&t("windows-x86_64")), None);
        assert_eq!(PackagerFormat::for_target(&t("linux-x86_64-deb")), None);
        assert_eq!(PackagerFormat::for_target(&t("linux-x86_64")), Some(PackagerFormat::AppImage));
        assert_eq!(PackagerFormat::for_target(&t("macos-aarch64")), Some(PackagerFormat::App));
    }

    #[test]
    fn signature_must_be_base64() {
        for bad in ["", "untrusted comment: x\nRW==\n", "abc def", "ab=c", "YWJj\n"] {
            assert!(matches!(SignatureText::parse(bad), Err(Error::SignatureNotBase64 { .. })), "{bad:?}");
        }
        assert!(matches!(SignatureText::parse("YWJj"), Err(Error::InvalidSignature { .. })));
        let long = "A".repeat(MAX_SIGNATURE_LEN + 1);
        assert!(matches!(SignatureText::parse(&long), Err(Error::FieldTooLong { .. })));
    }

    #[test]
    fn pub_dates_must_be_formattable() {
        let info = ReleaseInfo::new(Version::parse("1.0.0").unwrap());
        let ok = OffsetDateTime::from_unix_timestamp(1_600_000_000).unwrap();
        assert_eq!(info.clone().with_pub_date(ok).unwrap().pub_date_text(), Some("2020-09-13T12:26:40Z"));
        let odd_offset = ok.to_offset(time::UtcOffset::from_hms(1, 0, 30).unwrap());
        assert!(matches!(info.with_pub_date(odd_offset), Err(Error::UnrepresentablePubDate { .. })));
    }
}
