//! The update wire format of Millennium, in one place.
//!
//! The update server produces these documents and the updater client consumes them. Both depend on this crate, so
//! there is exactly one copy of the rules: if a document passes [`tauri::TauriResponse::parse`] here, it passes there,
//! and everything the server builds with this crate re-parses.
//!
//! # Layout
//!
//! - [`target`]: how a platform is named (`linux-x86_64-deb`, `darwin-aarch64`, …), the names' aliases and the order in
//!   which a Tauri client looks them up. Shared by every format.
//! - [`version`]: release versions and the one comparison rule that decides whether a release is an update.
//!   Shared by every format.
//! - [`tauri`]: the compatibility format, i.e. the JSON that existing Tauri clients (`tauri-plugin-updater`, the Tauri
//!   v1 updater and `cargo-packager-updater`) send and accept, parsed and produced exactly as they do, but strictly.
//!   It is unsigned: only the artifact carries a signature.
//! - [`events`]: the release-health events an install reports back (`POST /{app}/events`), parsed strictly.
//! - [`limits`]: the size limits every parser here enforces.
//! - [`webview`]: the system webview on the wire: the `min_webview_version` a release requires, per backend
//!   ([`webview::WebviewMinimums`]), and the `X-Millennium-Webview` header in which the updater reports the webview it
//!   has.
//!
//! - [`metadata`]: Millennium's own signed metadata (TUF-style root, release and freshness documents with sequence
//!   numbers, expiry dates and per-artifact sizes and hashes) and the client-side checks that refuse rollback, freeze,
//!   replay, mix-and-match, endless data, wrong targets, tampered artifacts and untrusted or revoked keys.
//!
//! # Parsing rules
//!
//! Parsers here are strict and total: any input, however large or malformed, gives a value or an [`Error`]; nothing
//! panics, and nothing is silently dropped: the unknown JSON fields that Tauri ignores are ignored here too, but kept
//! (see [`tauri::DynamicResponse::extra`]). Untrusted text quoted in error messages is shortened and escaped.

pub mod events;
pub mod limits;
pub mod metadata;
pub mod rollout;
pub mod target;
pub mod tauri;
pub mod version;
pub mod webview;

mod error;
mod json;

pub use error::{Error, Result};
pub use target::{Arch, BundleType, Os, Target};
pub use version::Version;
