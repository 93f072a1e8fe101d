//! Size limits of the wire format.
//!
//! Tauri's own client sets none: a server (or anyone in its path) can make it buffer any amount of JSON. Our parsers
//! check these bounds before doing any work, so a hostile document costs at most [`MAX_DOCUMENT_LEN`] bytes of reading
//! and a bounded amount of parsing. Real documents are far below every one of them: a `latest.json` for all platforms
//! with release notes is a few KiB.
//!
//! The producers in this crate enforce the same bounds, so whatever the server builds, the client accepts.

/// Largest JSON document accepted, in bytes (1 MiB).
pub const MAX_DOCUMENT_LEN: usize = 1024 * 1024;

/// Longest release notes accepted, in bytes of UTF-8 (64 KiB).
pub const MAX_NOTES_LEN: usize = 64 * 1024;

/// Most entries accepted in a static manifest's `platforms` object. There are 5 architectures times 3 operating
/// systems plus bundle-specific and `macos-*` keys: about 40 keys if every combination were served.
pub const MAX_PLATFORMS: usize = 64;

/// Longest artifact URL accepted, in bytes, both as written and after normalisation.
pub const MAX_URL_LEN: usize = 2048;

/// Longest `signature` field accepted, in bytes. A Tauri signature (base64 of a minisign `.sig` file whose trusted
/// comment holds a timestamp, a file name and a version) is about 420 bytes; this leaves room for long file names.
pub const MAX_SIGNATURE_LEN: usize = 4096;

/// Longest version accepted, in bytes, including a leading `v`.
pub const MAX_VERSION_LEN: usize = 128;

/// Longest `pub_date` accepted, in bytes. An RFC 3339 date with nanoseconds and an offset is 35 bytes.
pub const MAX_PUB_DATE_LEN: usize = 64;

/// Longest `min_webview_version` (the webview grammar's [`crate::webview::MAX_VERSION_LEN`]).
pub const MAX_MIN_WEBVIEW_VERSION_LEN: usize = crate::webview::MAX_VERSION_LEN;

/// Longest per-backend list of minimum webview versions in its text form (the webview grammar's
/// [`crate::webview::MAX_MINIMUMS_LEN`]).
pub const MAX_WEBVIEW_MINIMUMS_LEN: usize = crate::webview::MAX_MINIMUMS_LEN;

/// Longest `format` field accepted, in bytes (`appimage` is the longest valid value).
pub const MAX_FORMAT_LEN: usize = 16;
