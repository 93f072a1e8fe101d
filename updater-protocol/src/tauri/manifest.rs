//! The static form (`latest.json`): one release, an artifact per platform key, and the client picks its own.
//!
//! ```json
//! {"version":"1.2.3","notes":"…","pub_date":"…","platforms":{"linux-x86_64":{"url":"…","signature":"…"}}}
//! ```
//!
//! Every key must be a valid [`Target`] (`macos-*` accepted as an alias); unknown keys are an error, not ignored,
//! because a key no client looks up is a platform silently left without updates.
//!
//! # Serving both Tauri and cargo-packager-updater
//!
//! tauri-plugin-updater looks up `darwin-{arch}-{bundle}` then `darwin-{arch}` and ignores `format`;
//! cargo-packager-updater looks up `macos-{arch}` and parses *every* entry, requiring a `format` it knows (`app`,
//! `appimage`, `nsis`, `wix`) on each. [`StaticManifestBuilder`] therefore writes a `format` wherever the target
//! implies one and adds a `macos-{arch}` twin of each macOS entry. `deb` and `rpm` entries have no cargo-packager
//! format, so a manifest listing them is for Tauri clients only: see [`StaticManifest::is_cargo_packager_compatible`].
//!
//! # Minimum webview versions
//!
//! One manifest serves every backend, so Millennium's `min_webview_version` sits in each platform entry, holding the
//! minimum for that platform's backend (`"linux-x86_64":{…,"min_webview_version":"2.44"}`); there is none at the top
//! level. A top-level value (written before minimums were per backend) is read as the WebKitGTK minimum, i.e. moved
//! into the Linux entries that have none of their own (see [`crate::webview`]).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::TauriResponse;
use super::fields::{Artifact, Fields, PackagerFormat, ReleaseInfo, take_min_webview_version};
use crate::error::{Error, Result, snippet};
use crate::limits::{MAX_DOCUMENT_LEN, MAX_PLATFORMS};
use crate::target::{Os, Target};
use crate::webview::{Backend, WebviewMinimums, WebviewVersion};

/// One entry of `platforms`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformEntry {
    target: Target,
    artifact: Artifact,
    min_webview_version: Option<WebviewVersion>,
    extra: Map<String, Value>,
}

impl PlatformEntry {
    /// The target its key names (canonical: a `macos-*` key gives a `darwin` target).
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The artifact.
    pub fn artifact(&self) -> &Artifact {
        &self.artifact
    }

    /// The oldest webview of this platform's backend the release works with, if it declares one.
    pub fn min_webview_version(&self) -> Option<&WebviewVersion> {
        self.min_webview_version.as_ref()
    }

    /// Fields of the entry this crate does not know (e.g. `with_elevated_task`), as parsed.
    pub fn extra(&self) -> &Map<String, Value> {
        &self.extra
    }
}

/// A static update manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct StaticManifest {
    release: ReleaseInfo,
    /// Keyed by the key as written (`darwin-aarch64` and `macos-aarch64` are distinct keys).
    platforms: BTreeMap<String, PlatformEntry>,
    extra: Map<String, Value>,
}

impl StaticManifest {
    /// Starts building a manifest for a release.
    pub fn builder(release: ReleaseInfo) -> StaticManifestBuilder {
        StaticManifestBuilder { release, entries: Vec::new(), min_webview: WebviewMinimums::new() }
    }

    /// Parses a response that must be of the static form.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        match TauriResponse::parse(bytes)? {
            TauriResponse::Static(manifest) => Ok(manifest),
            TauriResponse::Dynamic(_) => Err(Error::WrongShape { expected: "static", found: "dynamic" }),
        }
    }

    pub(crate) fn take_from(mut release: ReleaseInfo, platforms: Value, obj: Fields) -> Result<Self> {
        let legacy_webkitgtk = release.take_min_webview_version();
        let Value::Object(platforms) = platforms else {
            return Err(Error::WrongType { field: obj.path("platforms"), expected: "an object" });
        };
        check_count(platforms.len())?;
        let mut entries = BTreeMap::new();
        for (key, value) in platforms {
            let target: Target = key
                .parse()
                .map_err(|source| Error::InvalidPlatformKey { key: snippet(&key), source: Box::new(source) })?;
            let prefix = format!("platforms.{key}");
            let Value::Object(map) = value else {
                return Err(Error::WrongType { field: prefix, expected: "an object" });
            };
            let mut fields = Fields::new(map, format!("{prefix}."));
            let artifact = Artifact::take_from(&mut fields, release.version())?;
            check_format(&target, &artifact)?;
            let min_webview_version = match take_min_webview_version(&mut fields)? {
                None if Backend::from(target.os()) == Backend::Webkitgtk => legacy_webkitgtk.clone(),
                own => own,
            };
            entries.insert(key, PlatformEntry { target, artifact, min_webview_version, extra: fields.into_rest() });
        }
        Ok(Self { release, platforms: entries, extra: obj.into_rest() })
    }

    /// Version, notes and date.
    pub fn release(&self) -> &ReleaseInfo {
        &self.release
    }

    /// The entry for a target, looked up as tauri-plugin-updater does: `{os}-{arch}-{bundle}` first, then
    /// `{os}-{arch}`, exact keys in the canonical spelling. Returns the key that matched.
    ///
    /// Note that a Tauri client fails its whole update check when this fails, even if the release is not newer than
    /// what it runs: serve a key for every platform you have clients on.
    pub fn select(&self, target: &Target) -> Result<(&str, &PlatformEntry)> {
        let tried = target.lookup_keys();
        tried
            .iter()
            .find_map(|key| self.platforms.get_key_value(key.as_str()))
            .map(|(key, entry)| (key.as_str(), entry))
            .ok_or(Error::TargetNotFound { tried })
    }

    /// The entry under exactly this key, as written (e.g. `macos-aarch64` for a cargo-packager client).
    pub fn get(&self, key: &str) -> Option<&PlatformEntry> {
        self.platforms.get(key)
    }

    /// All entries, by key.
    pub fn platforms(&self) -> impl Iterator<Item = (&str, &PlatformEntry)> {
        self.platforms.iter().map(|(key, entry)| (key.as_str(), entry))
    }

    /// Whether cargo-packager-updater can parse this manifest: it requires a `format` on every entry.
    pub fn is_cargo_packager_compatible(&self) -> bool {
        self.platforms.values().all(|entry| entry.artifact.format().is_some())
    }

    /// Top-level fields this crate does not know, as parsed. Empty for a built manifest.
    pub fn extra(&self) -> &Map<String, Value> {
        &self.extra
    }

    /// The manifest as a JSON value (unknown fields included; the known ones always win).
    pub fn to_json_value(&self) -> Value {
        let mut out = self.extra.clone();
        self.release.write_to(&mut out);
        let platforms = self
            .platforms
            .iter()
            .map(|(key, entry)| {
                let mut obj = entry.extra.clone();
                entry.artifact.write_to(&mut obj);
                if let Some(min) = &entry.min_webview_version {
                    obj.insert("min_webview_version".into(), Value::String(min.to_string()));
                }
                (key.clone(), Value::Object(obj))
            })
            .collect();
        out.insert("platforms".into(), Value::Object(platforms));
        Value::Object(out)
    }

    /// The manifest as compact JSON text.
    pub fn to_json(&self) -> String {
        self.to_json_value().to_string()
    }
}

/// Builds a [`StaticManifest`] that tauri-plugin-updater and (without `deb`/`rpm` entries) cargo-packager-updater both
/// accept.
///
/// [`build`](Self::build):
/// - gives every entry without a `format` the one its target implies ([`PackagerFormat::for_target`]); a `format`
///   given explicitly must be installable on the target's operating system;
/// - adds `macos-{arch}` for each macOS architecture, copied from `darwin-{arch}` (or, if there is none,
///   `darwin-{arch}-app`), because cargo-packager-updater looks up `macos-*` keys;
/// - gives every entry the minimum webview version of its platform's backend, if
///   [`min_webview_versions`](Self::min_webview_versions) has one;
/// - checks each signature's signed version against the release, the entry count and the document size.
#[derive(Debug, Clone)]
pub struct StaticManifestBuilder {
    release: ReleaseInfo,
    entries: Vec<(Target, Artifact)>,
    min_webview: WebviewMinimums,
}

impl StaticManifestBuilder {
    /// Adds the artifact for a target. A target with a bundle type (`linux-x86_64-deb`) is only found by clients
    /// installed from that bundle; plain binaries look up `{os}-{arch}`.
    pub fn platform(mut self, target: Target, artifact: Artifact) -> Self {
        self.entries.push((target, artifact));
        self
    }

    /// The oldest webview the release works with, per backend: each platform entry states its backend's.
    pub fn min_webview_versions(mut self, minimums: WebviewMinimums) -> Self {
        self.min_webview = minimums;
        self
    }

    /// Checks everything and makes the manifest.
    pub fn build(self) -> Result<StaticManifest> {
        if self.release.min_webview_version().is_some() {
            return Err(Error::MinWebviewNotPerPlatform);
        }
        let mut platforms = BTreeMap::new();
        for (target, mut artifact) in self.entries {
            let key = target.to_string();
            if platforms.contains_key(&key) {
                return Err(Error::DuplicatePlatform { key });
            }
            artifact.signature().check_version(self.release.version(), &format!("platforms.{key}.signature"))?;
            if artifact.format().is_none()
                && let Some(format) = PackagerFormat::for_target(&target)
            {
                artifact = artifact.with_format(format);
            }
            check_format(&target, &artifact)?;
            let min_webview_version = self.min_webview.get(Backend::from(target.os())).cloned();
            platforms.insert(key, PlatformEntry { target, artifact, min_webview_version, extra: Map::new() });
        }

        let mut twins = Vec::new();
        for entry in platforms.values().filter(|e| e.target.os() == Os::Darwin) {
            let plain = entry.target.without_bundle();
            let twin_key = plain.cargo_packager_key();
            let preferred = entry.target.bundle().is_none() || !platforms.contains_key(&plain.to_string());
            if preferred {
                twins.push((twin_key, PlatformEntry { target: plain, ..entry.clone() }));
            }
        }
        platforms.extend(twins);

        check_count(platforms.len())?;
        let manifest = StaticManifest { release: self.release, platforms, extra: Map::new() };
        let len = manifest.to_json().len();
        if len > MAX_DOCUMENT_LEN {
            return Err(Error::DocumentTooLarge { len, max: MAX_DOCUMENT_LEN });
        }
        Ok(manifest)
    }
}

fn check_count(count: usize) -> Result<()> {
    match count {
        0 => Err(Error::NoPlatforms),
        n if n > MAX_PLATFORMS => Err(Error::TooManyPlatforms { count: n, max: MAX_PLATFORMS }),
        _ => Ok(()),
    }
}

/// A `format` must be installable on the target's operating system (`nsis` under a Linux key is a mistake).
fn check_format(target: &Target, artifact: &Artifact) -> Result<()> {
    match artifact.format() {
        Some(format) if format.os() != target.os() => {
            Err(Error::FormatNotForTarget { target: target.to_string(), format: format.as_str() })
        }
        _ => Ok(()),
    }
}
