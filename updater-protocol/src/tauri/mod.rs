//! The Tauri-compatible update responses, parsed and produced exactly as Tauri's updaters read them, but strictly.
//!
//! An update check answers either `204 No Content` ([`NO_UPDATE_STATUS`]: no update, and the client tries no further
//! endpoint) or `200` with one of two JSON forms:
//!
//! - [`DynamicResponse`]: the server picked the platform: `version`, `notes`, `pub_date`, `url`, `signature` (and
//!   `format` for cargo-packager-updater);
//! - [`StaticManifest`]: a `latest.json` with an artifact per platform key under `platforms`.
//!
//! Tauri decides the form by the presence of `platforms` (not `null`), and so do we ([`TauriResponse::parse`]).
//!
//! # What is accepted
//!
//! As in tauri-plugin-updater: `version` (alias `name`) is required, one leading `v` allowed; `notes` and `pub_date`
//! are optional and may be `null`; `pub_date` is RFC 3339; unknown fields are ignored (and kept, see the `extra`
//! methods). Stricter than Tauri, each of these is an error rather than something a client trips over later:
//!
//! - a document over [`crate::limits::MAX_DOCUMENT_LEN`], a field over its limit, more than
//!   [`crate::limits::MAX_PLATFORMS`] or zero platforms;
//! - a duplicate key anywhere (Tauri keeps the last one);
//! - a `url` that is not absolute `http`/`https` (Tauri takes any URL);
//! - a `signature` that is not base64 of a minisign signature (Tauri only finds out after downloading), or whose
//!   trusted comment names another version than the document (current Tauri rejects the download then);
//! - a platform key that is not a [`Target`] (Tauri ignores it);
//! - a `format` other than `app`, `appimage`, `nsis`, `wix`, or one another operating system installs;
//! - a top-level `url`, `signature` or `format` next to `platforms` (Tauri ignores them);
//! - more than one leading `v` on the version (Tauri strips any number).
//!
//! # Is it an update?
//!
//! A 200 answer whose version is equal to or older than the running one is "no update", exactly like Tauri, except that
//! build metadata never makes a version newer (see [`crate::version`]): [`offers_update`].
//!
//! The module only deals with the unsigned compatibility format. Millennium's signed metadata is a separate format
//! and will be a sibling of this module.

mod dynamic;
mod fields;
mod manifest;

pub use dynamic::DynamicResponse;
pub use fields::{Artifact, ArtifactUrl, PackagerFormat, ReleaseInfo, SignatureText};
pub use manifest::{PlatformEntry, StaticManifest, StaticManifestBuilder};

use serde_json::Value;

use crate::error::{Error, Result};
use crate::target::Target;
use crate::version::Version;
pub(crate) use fields::Fields;

/// The HTTP status that means "no update": `204 No Content`. The client stops checking (no further endpoint).
pub const NO_UPDATE_STATUS: u16 = 204;

/// A `200` update response, in either form.
#[derive(Debug, Clone, PartialEq)]
pub enum TauriResponse {
    /// The server resolved the platform: one artifact.
    Dynamic(DynamicResponse),
    /// A manifest with an artifact per platform.
    Static(StaticManifest),
}

impl TauriResponse {
    /// Parses a response body. See the [module docs](self) for what is accepted.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        let Value::Object(map) = crate::json::parse(bytes)? else {
            return Err(Error::WrongType { field: "(document)".into(), expected: "a JSON object" });
        };
        let mut obj = Fields::new(map, String::new());
        let release = ReleaseInfo::take_from(&mut obj)?;
        match obj.take("platforms") {
            Some(platforms) => {
                for field in ["url", "signature", "format"] {
                    if obj.take(field).is_some() {
                        return Err(Error::AmbiguousShape { field });
                    }
                }
                StaticManifest::take_from(release, platforms, obj).map(Self::Static)
            }
            None => DynamicResponse::take_from(release, obj).map(Self::Dynamic),
        }
    }

    /// Version, notes and date.
    pub fn release(&self) -> &ReleaseInfo {
        match self {
            Self::Dynamic(r) => r.release(),
            Self::Static(m) => m.release(),
        }
    }

    /// The announced version.
    pub fn version(&self) -> &Version {
        self.release().version()
    }

    /// The artifact a client on `target` downloads: the only one of a dynamic response, or the one
    /// [`StaticManifest::select`] finds.
    pub fn artifact_for(&self, target: &Target) -> Result<&Artifact> {
        match self {
            Self::Dynamic(r) => Ok(r.artifact()),
            Self::Static(m) => m.select(target).map(|(_, entry)| entry.artifact()),
        }
    }

    /// The minimum webview version a client on `target` must meet, for `target`'s backend: the top-level
    /// `min_webview_version` of a dynamic response, or that of the entry [`StaticManifest::select`] finds.
    pub fn min_webview_version_for(&self, target: &Target) -> Option<&crate::webview::WebviewVersion> {
        match self {
            Self::Dynamic(r) => r.release().min_webview_version(),
            Self::Static(m) => m.select(target).ok().and_then(|(_, entry)| entry.min_webview_version()),
        }
    }

    /// Whether this response offers an update to a client running `current` (see [`offers_update`]).
    pub fn is_update_over(&self, current: &Version) -> bool {
        self.version().is_update_over(current)
    }

    /// The response as a JSON value.
    pub fn to_json_value(&self) -> Value {
        match self {
            Self::Dynamic(r) => r.to_json_value(),
            Self::Static(m) => m.to_json_value(),
        }
    }

    /// The response as compact JSON text.
    pub fn to_json(&self) -> String {
        self.to_json_value().to_string()
    }
}

/// The offer decision: does `response` offer an update to a client running `current`?
///
/// Yes only when the announced version has strictly higher SemVer precedence; an equal or older version in a `200`
/// answer is "no update", as in Tauri. Unlike Tauri, build metadata never counts (`1.0.0+b` does not update
/// `1.0.0+a`). Downgrades are never offered here; an app that allows them decides that itself.
pub fn offers_update(current: &Version, response: &TauriResponse) -> bool {
    response.is_update_over(current)
}
