//! The one error type of `millennium-update-protocol`.
//!
//! Every parser in the crate returns [`Error`]. Variants are grouped by what was being parsed (target names, versions,
//! documents); document errors name the field they are about with a dotted path such as `platforms.linux-x86_64.url`,
//! so a server operator can find the mistake in their manifest. Text copied from the input into a message is cut to a
//! few dozen characters and escaped (see [`snippet`]) because it is untrusted and may end up in logs.

use crate::target::{BundleType, Os};

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong when parsing or producing update protocol values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ----- target names -----
    /// An operating system name is not one we know.
    #[error("unknown operating system `{value}`: expected `linux`, `darwin` (or its alias `macos`) or `windows`")]
    UnknownOs { value: String },

    /// An architecture name is not one we know.
    #[error("unknown architecture `{value}`: expected `x86_64`, `i686`, `aarch64`, `armv7` or `riscv64`")]
    UnknownArch { value: String },

    /// A bundle type name is not one we know (`unknown` is only accepted as the `{{bundle_type}}` request variable).
    #[error("unknown bundle type `{value}`: expected `appimage`, `deb`, `rpm`, `app`, `msi` or `nsis`")]
    UnknownBundleType { value: String },

    /// A target key does not have the `{os}-{arch}` or `{os}-{arch}-{bundle}` shape.
    #[error("malformed target `{value}`: expected `{{os}}-{{arch}}` or `{{os}}-{{arch}}-{{bundle}}`")]
    MalformedTarget { value: String },

    /// A bundle type was combined with an operating system that does not have it (e.g. `deb` on Windows).
    #[error("bundle type `{bundle}` does not exist on `{os}`")]
    BundleNotForOs { os: Os, bundle: BundleType },

    // ----- versions -----
    /// A version is longer than [`crate::limits::MAX_VERSION_LEN`].
    #[error("version is {len} bytes long, more than the {max} allowed")]
    VersionTooLong { len: usize, max: usize },

    /// A version is not valid SemVer (after removing one optional leading `v`).
    #[error("invalid version `{value}`: {source}")]
    InvalidVersion {
        value: String,
        #[source]
        source: semver::Error,
    },

    // ----- webview (see `webview`) -----
    /// A webview version, list of minimums or `X-Millennium-Webview` value does not follow its grammar.
    #[error(transparent)]
    Webview {
        #[from]
        source: crate::webview::Error,
    },

    /// A percent-encoded request segment has a bad escape or does not decode to UTF-8.
    #[error("invalid percent-encoding in `{value}`: {reason}")]
    InvalidPercentEncoding { value: String, reason: &'static str },

    // ----- documents -----
    /// The document is larger than [`crate::limits::MAX_DOCUMENT_LEN`].
    #[error("document is {len} bytes, more than the {max} allowed")]
    DocumentTooLarge { len: usize, max: usize },

    /// The document is not JSON (or has trailing data, or nests too deeply).
    #[error("document is not valid JSON: {source}")]
    InvalidJson {
        #[source]
        source: serde_json::Error,
    },

    /// A JSON object has the same key twice. Tauri keeps the last one; two parsers that disagree on which one counts
    /// is how a reviewed document can mean something else to a client, so we refuse.
    #[error("duplicate key `{key}` in a JSON object")]
    DuplicateKey { key: String },

    /// A field has the wrong JSON type.
    #[error("`{field}` must be {expected}")]
    WrongType { field: String, expected: &'static str },

    /// A required field is absent (or `null`).
    #[error("missing required field `{field}`")]
    MissingField { field: String },

    /// Both `version` and its alias `name` are set (Tauri's parser rejects this too).
    #[error("both `version` and its alias `name` are set: keep only `version`")]
    VersionAndName,

    /// A text field is longer than its limit (see [`crate::limits`]).
    #[error("`{field}` is {len} bytes long, more than the {max} allowed")]
    FieldTooLong { field: String, len: usize, max: usize },

    /// A field that holds a version does not hold a valid one.
    #[error("`{field}`: {source}")]
    InvalidFieldVersion {
        field: String,
        #[source]
        source: Box<Error>,
    },

    /// A key of a static manifest's `platforms` object is not a valid target.
    #[error("`platforms` key `{key}`: {source}")]
    InvalidPlatformKey {
        key: String,
        #[source]
        source: Box<Error>,
    },

    /// A static manifest lists more platforms than [`crate::limits::MAX_PLATFORMS`].
    #[error("`platforms` has {count} entries, more than the {max} allowed")]
    TooManyPlatforms { count: usize, max: usize },

    /// A static manifest's `platforms` object is empty: no client could ever find its entry.
    #[error("`platforms` is empty: a static manifest needs at least one platform")]
    NoPlatforms,

    /// A document has both the static form (`platforms`) and a top-level `url`, `signature` or `format`.
    #[error(
        "the document has both `platforms` and a top-level `{field}`: use either the dynamic form (`url`, `signature`) or the static form (`platforms`)"
    )]
    AmbiguousShape { field: &'static str },

    /// The document has the other form than the one asked for.
    #[error("expected a {expected} response, found a {found} one")]
    WrongShape { expected: &'static str, found: &'static str },

    /// A `pub_date` is not an RFC 3339 date.
    #[error("`{field}` is not an RFC 3339 date (`{value}`): {source}")]
    InvalidPubDate {
        field: String,
        value: String,
        #[source]
        source: time::error::Parse,
    },

    /// A `min_webview_version` is not a dotted version of one to four numbers.
    #[error("`{field}` is not a webview version (`{value}`): write dotted numbers, e.g. `2.44` or `124.0.2478.80`")]
    InvalidMinWebviewVersion { field: String, value: String },

    /// A static manifest was built from a release with one `min_webview_version`: a manifest serves many backends.
    #[error(
        "a static manifest states `min_webview_version` per platform, not once for all: pass the per-backend minimums to `StaticManifestBuilder::min_webview_versions`"
    )]
    MinWebviewNotPerPlatform,

    /// A date cannot be written as RFC 3339 (a year outside 0000–9999, or an offset with seconds).
    #[error("the release date cannot be written as RFC 3339: {source}")]
    UnrepresentablePubDate {
        #[source]
        source: time::error::Format,
    },

    /// A URL does not parse.
    #[error("`{field}` is not a valid URL (`{value}`): {source}")]
    InvalidUrl {
        field: String,
        value: String,
        #[source]
        source: url::ParseError,
    },

    /// A URL is not an `http` or `https` URL.
    #[error("`{field}` must be an http or https URL, not a `{scheme}` one")]
    UrlNotHttp { field: String, scheme: String },

    /// A `signature` field is not the base64 text Tauri expects.
    #[error("`{field}` is not base64: Tauri expects the base64 text of a minisign `.sig` file")]
    SignatureNotBase64 { field: String },

    /// A `signature` field is base64 but not a minisign signature.
    #[error("`{field}` is not a valid signature: {source}")]
    InvalidSignature {
        field: String,
        #[source]
        source: millennium_sign::Error,
    },

    /// The signature's trusted comment names another version than the document announces. Current Tauri clients
    /// reject the download for this; the check here catches it before anything is published or downloaded.
    #[error(
        "`{field}` was made for version `{signed}` but the document announces `{announced}`\nhint: sign the artifact of the announced release"
    )]
    SignedVersionMismatch { field: String, signed: String, announced: String },

    /// A `format` field (cargo-packager-updater) is not one of the four it knows.
    #[error("`{field}` is `{value}`: expected `app`, `appimage`, `nsis` or `wix`")]
    UnknownFormat { field: String, value: String },

    /// A cargo-packager `format` was given for a target it cannot install on (e.g. `nsis` for Linux).
    #[error("format `{format}` cannot be installed on target `{target}`")]
    FormatNotForTarget { target: String, format: &'static str },

    /// The same platform key was added twice to a manifest being built.
    #[error("platform `{key}` was added twice")]
    DuplicatePlatform { key: String },

    /// A static manifest has no entry under any key the client looks up.
    #[error("the manifest has no entry for this platform: looked for {}", quote_list(.tried))]
    TargetNotFound { tried: Vec<String> },

    // ----- release-health events (see `events`) -----
    /// An event's `kind` is not one of the six known ones.
    #[error(
        "unknown event kind `{value}`: expected `installed`, `confirmed`, `rolled_back`, `install_failed`, `download_failed` or `webview_too_old`"
    )]
    UnknownEventKind { value: String },

    /// An event batch holds no event.
    #[error("`events` is empty: send at least one event")]
    EmptyEventBatch,

    /// An event field is present but not acceptable (install id or error code alphabet, target).
    #[error("`{field}`: {reason}")]
    InvalidEventField { field: String, reason: String },

    // ----- signed metadata (see `metadata`): each variant is one attack refused -----
    /// No signature on a metadata document verifies with a key trusted for it.
    #[error("the {kind} document is not signed by a trusted key: {reason}")]
    MetadataSignature { kind: crate::metadata::Kind, reason: String },

    /// A signed metadata document does not have the expected fields.
    #[error("the {kind} document is malformed: {source}")]
    InvalidMetadata {
        kind: crate::metadata::Kind,
        #[source]
        source: serde_json::Error,
    },

    /// A signed metadata document is well-formed but says something unacceptable.
    #[error("the {kind} document is unacceptable: {reason}")]
    MetadataContent { kind: crate::metadata::Kind, reason: String },

    /// A list in a metadata document is longer than allowed.
    #[error("`{field}` has more than {max} items")]
    TooManyItems { field: String, max: usize },

    /// The chain of root documents does not lead from the pinned key to the current root.
    #[error(
        "key rotation refused: {reason}\nhint: the server's root history does not lead from the key this app trusts; keep running this version and contact the publisher"
    )]
    RootChain { reason: String },

    /// The freshness document has expired: the server (or a mirror) is serving stale metadata.
    #[error(
        "the update metadata expired at {expired}: the server or a mirror is serving stale data (freeze attack?)\nhint: try again later or another endpoint"
    )]
    Expired { expired: String },

    /// A freshness document older than one already seen.
    #[error("the update metadata is older than metadata already seen (sequence {offered} < {seen}): replay refused")]
    Replay { seen: u64, offered: u64 },

    /// A freshness document numbered beyond what any honest server can have signed by now (see
    /// [`crate::metadata::freshness_sequence_at`]): accepting it would refuse every honest document after it.
    #[error(
        "the update metadata's sequence {offered} is beyond any the server can have signed by now (at most {limit}): fast-forward refused\nhint: check this machine's clock; if it is right, the server's online key may be in other hands: keep running this version and tell the publisher"
    )]
    FastForward { offered: u64, limit: u64 },

    /// A freshness document that pins an older yank list than one already seen, or none: a yanked release could
    /// then be offered again.
    #[error(
        "the update metadata pins {} while yank list {seen} was already seen: rollback of the yank list refused",
        .offered.map_or_else(|| "no yank list".to_owned(), |n| format!("yank list {n}"))
    )]
    YanksRollback { seen: u64, offered: Option<u64> },

    /// The release offered is on the publisher's signed yank list.
    #[error("release {version} was withdrawn by the publisher (it is on the signed yank list): refused")]
    Yanked { version: String },

    /// Documents or artifacts that do not belong together.
    #[error("the update metadata does not fit together: {reason} (mix-and-match refused)")]
    MixAndMatch { reason: String },

    /// A release older than one already seen.
    #[error("release {offered} is older than {seen}, already seen: rollback refused")]
    Rollback { seen: String, offered: String },

    /// The release has no artifact for this platform.
    #[error("release {version} has no artifact for `{target}`")]
    WrongTarget { target: String, version: String },

    /// More bytes arrived than the signed size of the artifact.
    #[error("the download exceeds the signed size of {expected} bytes: cut off")]
    EndlessData { expected: u64 },

    /// The downloaded artifact is not the one the release document describes.
    #[error("the downloaded artifact is not the signed one: {reason}")]
    TamperedArtifact { reason: String },
}

fn quote_list(keys: &[String]) -> String {
    keys.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
}

/// How much untrusted text an error message quotes.
const SNIPPET_CHARS: usize = 64;

/// Cuts untrusted text to [`SNIPPET_CHARS`] characters and escapes control characters, for quoting in messages.
pub(crate) fn snippet(text: &str) -> String {
    let mut out: String = text.chars().take(SNIPPET_CHARS).flat_map(char::escape_debug).collect();
    if text.chars().nth(SNIPPET_CHARS).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snippet_cuts_and_escapes() {
        assert_eq!(snippet("abc"), "abc");
        assert_eq!(snippet("a\nb\u{1b}[31m"), "a\\nb\\u{1b}[31m");
        let long = "x".repeat(100);
        assert_eq!(snippet(&long), format!("{}…", "x".repeat(64)));
    }

    #[test]
    fn messages_are_lowercase_and_name_the_field() {
        let e = Error::MissingField { field: "platforms.linux-x86_64.url".into() };
        assert_eq!(e.to_string(), "missing required field `platforms.linux-x86_64.url`");
        let e = Error::TargetNotFound { tried: vec!["linux-x86_64-deb".into(), "linux-x86_64".into()] };
        assert_eq!(
            e.to_string(),
            "the manifest has no entry for this platform: looked for `linux-x86_64-deb`, `linux-x86_64`"
        );
    }
}
