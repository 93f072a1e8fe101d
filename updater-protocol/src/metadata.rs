//! Millennium's signed update metadata: what a client trusts when a server or mirror may be hostile.
//!
//! Tauri's format signs only the artifact. A compromised server can still replay an old signed release (rollback),
//! serve a stale manifest forever (freeze), combine artifacts of different releases, stream without end, or hand one
//! platform another's artifact. The Update Framework (TUF) names these attacks; this module defends against each with
//! three small signed JSON documents:
//!
//! - **root** — signed offline by the release key(s). Names the release keys, the *online* keys the server may use for
//!   freshness, and revoked keys. Root `N + 1` must be signed by a release key of root `N` *and* one of its own, so a
//!   client that pins the first release key follows any number of key rotations, and nobody holding only a new key can
//!   mint a root.
//! - **release** — signed offline by a release key at publish time: app, channel, version, a per-channel sequence
//!   number that only grows, and for every artifact its target, size, BLAKE2b-256 hash and minisign signature.
//!   The server stores it but cannot forge it.
//! - **freshness** — signed by an online key and re-signed by the server before it expires (e.g. daily): for each
//!   channel, the sequence, version and hash of the current release document, plus its own growing sequence number.
//!
//! Every document travels in an [`Envelope`]: `{"payload": "<the exact JSON text>", "signatures": ["<minisign
//! signature, Tauri base64 form>", …]}`. Signatures cover the payload bytes as sent, so no canonical-JSON rules are
//! needed, and the payload is parsed only after a signature from an authorised key verified.
//!
//! [`TrustState`] is the client side: the current root and the last sequence numbers and versions seen, serialisable so
//! the client can store it atomically. Its methods perform every check and leave the state untouched on any error.

use std::collections::BTreeMap;

use millennium_sign::{Format, KeyId, PublicKey, SecretKey, Signature};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::target::Target;
use crate::version::Version;

/// The metadata format version this crate reads and writes.
pub const SPEC_VERSION: u32 = 1;

/// Freshness documents may not claim to be valid for longer than this (a stolen online key then buys little).
pub const MAX_FRESHNESS_LIFETIME: time::Duration = time::Duration::days(31);

/// Clock skew tolerated between server and client when checking a freshness document's issue date.
pub const CLOCK_SKEW: time::Duration = time::Duration::minutes(10);

/// Most keys of each kind in a root, and most artifacts in a release.
const MAX_KEYS: usize = 16;
const MAX_ARTIFACTS: usize = 64;
const MAX_CHANNELS: usize = 64;
const MAX_HEADS_PER_CHANNEL: usize = 8;
const MAX_SIGNATURES: usize = 8;

/// The three kinds of signed document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Root,
    Release,
    Freshness,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Root => "root",
            Kind::Release => "release",
            Kind::Freshness => "freshness",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A signed document as transmitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Envelope {
    /// The document's JSON text, exactly as signed.
    pub payload: String,
    /// Signatures over `payload`, each the Tauri (base64) form of a minisign signature.
    pub signatures: Vec<String>,
}

impl Envelope {
    /// Signs `document` with every key in `keys`.
    pub fn sign<T: Serialize>(document: &T, kind: Kind, keys: &[&SecretKey]) -> Result<Envelope> {
        let payload = serde_json::to_string(document).map_err(|source| Error::InvalidJson { source })?;
        let signatures = keys
            .iter()
            .map(|key| {
                let comment = format!("millennium-metadata:v{SPEC_VERSION}\ttype:{kind}");
                Signature::sign(key, payload.as_bytes(), &comment)
                    .map(|s| s.to_text(Format::Tauri))
                    .map_err(|e| Error::MetadataSignature { kind, reason: e.to_string() })
            })
            .collect::<Result<_>>()?;
        Ok(Envelope { payload, signatures })
    }

    /// Parses an envelope (strict JSON, size-limited). Nothing is verified yet.
    pub fn parse(bytes: &[u8]) -> Result<Envelope> {
        let value = crate::json::parse(bytes)?;
        let envelope: Envelope = serde_json::from_value(value).map_err(|source| Error::InvalidJson { source })?;
        if envelope.signatures.len() > MAX_SIGNATURES {
            return Err(Error::TooManyItems { field: "signatures".into(), max: MAX_SIGNATURES });
        }
        Ok(envelope)
    }

    pub fn to_json(&self) -> String {
        // Serialising two strings and a list of strings cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// BLAKE2b-256 of the envelope as it is transmitted: what freshness documents pin.
    pub fn hash(&self) -> String {
        blake2b_256_hex(self.to_json().as_bytes())
    }

    /// The ids of the keys whose signatures over the payload verify, among `allowed` and not `revoked`. Errors when
    /// there is none, saying whether signatures were by unknown, revoked or wrong keys.
    fn verified_by(&self, kind: Kind, allowed: &[PublicKey], revoked: &[KeyId]) -> Result<Vec<KeyId>> {
        let mut good = Vec::new();
        let mut problems = Vec::new();
        for text in &self.signatures {
            let signature = match Signature::from_text(text) {
                Ok(signature) => signature,
                Err(e) => {
                    problems.push(format!("unreadable signature ({e})"));
                    continue;
                }
            };
            let id = signature.key_id();
            if revoked.contains(&id) {
                problems.push(format!("key {id} is revoked"));
                continue;
            }
            let Some(key) = allowed.iter().find(|k| k.key_id() == id) else {
                problems.push(format!("key {id} is not trusted for {kind} documents"));
                continue;
            };
            let expected_comment = format!("millennium-metadata:v{SPEC_VERSION}\ttype:{kind}");
            match signature.verify(key, self.payload.as_bytes()) {
                Ok(()) if signature.trusted_comment() == expected_comment => good.push(id),
                Ok(()) => problems.push(format!("key {id} signed a document of another type")),
                Err(e) => problems.push(format!("signature by key {id} does not verify ({e})")),
            }
        }
        if good.is_empty() {
            let reason = if problems.is_empty() { "it carries no signature".to_owned() } else { problems.join("; ") };
            return Err(Error::MetadataSignature { kind, reason });
        }
        Ok(good)
    }

    fn document<T: for<'de> Deserialize<'de>>(&self, kind: Kind) -> Result<T> {
        let value = crate::json::parse(self.payload.as_bytes())?;
        serde_json::from_value(value).map_err(|source| Error::InvalidMetadata { kind, source })
    }
}

/// Root document: who may sign what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Root {
    #[serde(rename = "_type")]
    pub kind: Kind,
    pub spec_version: u32,
    pub app: String,
    /// Starts at 1 and grows by exactly one with each replacement.
    pub version: u64,
    /// Offline keys that sign release documents and the next root (minisign public keys, `RW…`).
    pub release_keys: Vec<String>,
    /// Keys the server holds to sign freshness documents.
    pub online_keys: Vec<String>,
    /// Key ids (16 hex digits) that must never be trusted again, whatever document lists them.
    #[serde(default)]
    pub revoked_keys: Vec<String>,
}

impl Root {
    pub fn new(app: &str, version: u64, release_keys: &[PublicKey], online_keys: &[PublicKey]) -> Root {
        Root {
            kind: Kind::Root,
            spec_version: SPEC_VERSION,
            app: app.to_owned(),
            version,
            release_keys: release_keys.iter().map(PublicKey::to_base64).collect(),
            online_keys: online_keys.iter().map(PublicKey::to_base64).collect(),
            revoked_keys: Vec::new(),
        }
    }

    fn keys(&self, field: &str, list: &[String]) -> Result<Vec<PublicKey>> {
        if list.len() > MAX_KEYS {
            return Err(Error::TooManyItems { field: format!("root.{field}"), max: MAX_KEYS });
        }
        list.iter()
            .map(|k| {
                PublicKey::from_text(k).map_err(|e| Error::MetadataContent {
                    kind: Kind::Root,
                    reason: format!("`{field}` holds an invalid key: {e}"),
                })
            })
            .collect()
    }

    fn revoked(&self) -> Result<Vec<KeyId>> {
        self.revoked_keys
            .iter()
            .map(|id| {
                id.parse().map_err(|_| Error::MetadataContent {
                    kind: Kind::Root,
                    reason: format!("`revoked_keys` holds an invalid key id `{}`", crate::error::snippet(id)),
                })
            })
            .collect()
    }

    fn validate(&self, app: &str) -> Result<(Vec<PublicKey>, Vec<PublicKey>, Vec<KeyId>)> {
        check_header(Kind::Root, self.kind, self.spec_version, &self.app, app)?;
        let release = self.keys("release_keys", &self.release_keys)?;
        let online = self.keys("online_keys", &self.online_keys)?;
        let revoked = self.revoked()?;
        if release.iter().all(|k| revoked.contains(&k.key_id())) {
            return Err(Error::MetadataContent { kind: Kind::Root, reason: "it has no unrevoked release key".into() });
        }
        Ok((release, online, revoked))
    }
}

/// One artifact of a release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArtifactInfo {
    /// Target key, installer kind included (`linux-x86_64-appimage`, `windows-x86_64-nsis`, …).
    pub target: Target,
    /// File name the artifact is published under.
    pub file: String,
    /// Exact size in bytes: a download may not exceed it.
    pub size: u64,
    /// BLAKE2b-256 of the artifact, lowercase hex.
    pub blake2b_256: String,
    /// The artifact's own minisign signature (Tauri base64 form), as Tauri clients receive it.
    pub signature: String,
}

impl ArtifactInfo {
    /// Describes an artifact for a release document, hashing it as it streams (constant memory).
    pub fn describe(
        target: Target,
        file: &str,
        data: impl std::io::Read,
        signature: &Signature,
    ) -> std::io::Result<Self> {
        let (size, blake2b_256) = blake2b_256_reader(data)?;
        Ok(ArtifactInfo {
            target,
            file: file.to_owned(),
            size,
            blake2b_256,
            signature: signature.to_text(Format::Tauri),
        })
    }
}

/// Release document: one version on one channel, signed offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    #[serde(rename = "_type")]
    pub kind: Kind,
    pub spec_version: u32,
    pub app: String,
    pub channel: String,
    pub version: Version,
    /// Grows with every release published on this channel.
    pub sequence: u64,
    pub artifacts: Vec<ArtifactInfo>,
    /// The oldest system webview the release works with, per backend (see [`crate::webview`]): a client does not
    /// install the release where its own backend's webview is older than that backend's entry. Written as an object
    /// (`{"webkitgtk":"2.44","webview2":"124.0"}`); absent (and not written) when the release declares no minimum. A
    /// plain string, the form from before minimums were per backend, is read as the WebKitGTK minimum.
    #[serde(default, skip_serializing_if = "crate::webview::WebviewMinimums::is_empty")]
    pub min_webview_version: crate::webview::WebviewMinimums,
}

impl Release {
    /// The artifact for `target`, exactly (a deb install never gets the AppImage).
    pub fn artifact(&self, target: &Target) -> Result<&ArtifactInfo> {
        self.artifacts
            .iter()
            .find(|a| &a.target == target)
            .ok_or_else(|| Error::WrongTarget { target: target.to_string(), version: self.version.to_string() })
    }
}

/// A release a freshness document says its channel offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelHead {
    pub release_sequence: u64,
    pub version: Version,
    /// [`Envelope::hash`] of the release envelope.
    pub release_hash: String,
    /// Share of installs (percent) offered this release; see [`crate::rollout`].
    #[serde(default = "full_rollout")]
    pub rollout: u8,
}

fn full_rollout() -> u8 {
    100
}

/// Freshness document: signed by an online key, short-lived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Freshness {
    #[serde(rename = "_type")]
    pub kind: Kind,
    pub spec_version: u32,
    pub app: String,
    /// Grows with every re-signing.
    pub sequence: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub issued: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    /// Per channel, the releases it offers: the newest, and while that one is still rolling out, the newest release
    /// everybody is offered.
    pub channels: BTreeMap<String, Vec<ChannelHead>>,
}

impl Freshness {
    /// The newest release of `channel` whose rollout reaches this install (`None`: nothing for it).
    pub fn offer(&self, channel: &str, install_id: Option<&str>) -> Option<&ChannelHead> {
        self.channels
            .get(channel)?
            .iter()
            .filter(|head| crate::rollout::is_offered(install_id, &self.app, &head.version.to_string(), head.rollout))
            .max_by(|a, b| a.version.cmp_precedence(&b.version).then(a.release_sequence.cmp(&b.release_sequence)))
    }
}

/// What the client remembers of one channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelState {
    pub sequence: u64,
    pub version: Version,
}

/// The client's trust state, stored between runs (write it atomically).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustState {
    pub app: String,
    /// The current root, as its envelope.
    pub root: Envelope,
    pub root_version: u64,
    pub freshness_sequence: u64,
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelState>,
}

/// A release document that passed every check, ready to be installed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRelease {
    pub release: Release,
    release_keys: Vec<PublicKey>,
}

impl TrustState {
    /// Starts trusting from the key pinned in the app: `roots` is the server's root history, oldest first. The first
    /// root signed by `pinned` (and listing it as a release key) anchors the chain; every later root must follow it.
    pub fn bootstrap(app: &str, pinned: &PublicKey, roots: &[Envelope]) -> Result<TrustState> {
        let anchor = roots.iter().position(|envelope| {
            envelope.verified_by(Kind::Root, std::slice::from_ref(pinned), &[]).is_ok()
                && envelope.document::<Root>(Kind::Root).is_ok_and(|r| r.release_keys.contains(&pinned.to_base64()))
        });
        let Some(anchor) = anchor else {
            return Err(Error::RootChain {
                reason: format!("no root document is signed by the pinned key {}", pinned.key_id()),
            });
        };
        let root: Root = roots[anchor].document(Kind::Root)?;
        root.validate(app)?;
        if root.revoked()?.contains(&pinned.key_id()) {
            return Err(Error::RootChain { reason: format!("the pinned key {} is revoked", pinned.key_id()) });
        }
        let mut state = TrustState {
            app: app.to_owned(),
            root: roots[anchor].clone(),
            root_version: root.version,
            freshness_sequence: 0,
            channels: BTreeMap::new(),
        };
        for next in &roots[anchor + 1..] {
            state.update_root(next)?;
        }
        Ok(state)
    }

    fn root(&self) -> Result<Root> {
        self.root.document(Kind::Root)
    }

    /// Moves to root `N + 1`, which must be signed by a release key of the current root and by one of its own.
    /// Older or equal roots are ignored (a mirror may serve the whole history).
    pub fn update_root(&mut self, next: &Envelope) -> Result<()> {
        let current = self.root()?;
        let (current_keys, _, current_revoked) = current.validate(&self.app)?;
        let candidate: Root = next.document(Kind::Root)?;
        if candidate.version <= current.version {
            return Ok(());
        }
        if candidate.version != current.version + 1 {
            return Err(Error::RootChain {
                reason: format!("root {} follows root {}: a version is missing", candidate.version, current.version),
            });
        }
        let (new_keys, _, new_revoked) = candidate.validate(&self.app)?;
        let revoked: Vec<KeyId> = current_revoked.iter().chain(&new_revoked).copied().collect();
        let chain_error = |e: Error| Error::RootChain { reason: format!("root {}: {e}", candidate.version) };
        next.verified_by(Kind::Root, &current_keys, &revoked).map_err(chain_error)?;
        next.verified_by(Kind::Root, &new_keys, &revoked).map_err(chain_error)?;
        self.root = next.clone();
        self.root_version = candidate.version;
        Ok(())
    }

    /// Checks a freshness document: signed by an online (or release) key of the current root, not expired at `now`,
    /// not older than the last one seen. Returns it and records its sequence.
    pub fn check_freshness(&mut self, envelope: &Envelope, now: OffsetDateTime) -> Result<Freshness> {
        let root = self.root()?;
        let (release_keys, online_keys, revoked) = root.validate(&self.app)?;
        let signers: Vec<PublicKey> = online_keys.into_iter().chain(release_keys).collect();
        envelope.verified_by(Kind::Freshness, &signers, &revoked)?;
        let freshness: Freshness = envelope.document(Kind::Freshness)?;
        check_header(Kind::Freshness, freshness.kind, freshness.spec_version, &freshness.app, &self.app)?;
        if freshness.channels.len() > MAX_CHANNELS {
            return Err(Error::TooManyItems { field: "freshness.channels".into(), max: MAX_CHANNELS });
        }
        for heads in freshness.channels.values() {
            if heads.len() > MAX_HEADS_PER_CHANNEL {
                return Err(Error::TooManyItems { field: "freshness.channels[]".into(), max: MAX_HEADS_PER_CHANNEL });
            }
            if heads.iter().any(|head| head.rollout > 100) {
                return Err(Error::MetadataContent {
                    kind: Kind::Freshness,
                    reason: "a rollout percentage is over 100".into(),
                });
            }
        }
        if freshness.expires <= now {
            return Err(Error::Expired { expired: freshness.expires.to_string() });
        }
        if freshness.issued > now + CLOCK_SKEW || freshness.expires - freshness.issued > MAX_FRESHNESS_LIFETIME {
            return Err(Error::MetadataContent {
                kind: Kind::Freshness,
                reason: "its validity period is not believable (issued in the future, or valid for too long)".into(),
            });
        }
        if freshness.sequence < self.freshness_sequence {
            return Err(Error::Replay { seen: self.freshness_sequence, offered: freshness.sequence });
        }
        self.freshness_sequence = freshness.sequence;
        Ok(freshness)
    }

    /// Checks the release document of `channel` against a freshness document already checked: it must be the one the
    /// freshness document pins, signed by a release key, for this app and channel, and not older than anything seen.
    pub fn check_release(&self, freshness: &Freshness, channel: &str, envelope: &Envelope) -> Result<VerifiedRelease> {
        let heads = freshness.channels.get(channel).ok_or_else(|| Error::MetadataContent {
            kind: Kind::Freshness,
            reason: format!("it names no channel `{}`", crate::error::snippet(channel)),
        })?;
        let hash = envelope.hash();
        let head = heads.iter().find(|head| head.release_hash == hash).ok_or_else(|| Error::MixAndMatch {
            reason: "the release document is not one the freshness document pins".into(),
        })?;
        let verified = self.check_release_document(channel, envelope)?;
        let release = &verified.release;
        if release.sequence != head.release_sequence || release.version != head.version {
            return Err(Error::MixAndMatch {
                reason: "the release document's sequence or version differs from the freshness document's".into(),
            });
        }
        if let Some(seen) = self.channels.get(channel) {
            let older_version = release.version.cmp_precedence(&seen.version).is_lt();
            if release.sequence < seen.sequence || older_version {
                return Err(Error::Rollback {
                    seen: format!("{} (sequence {})", seen.version, seen.sequence),
                    offered: format!("{} (sequence {})", release.version, release.sequence),
                });
            }
        }
        Ok(verified)
    }

    /// Checks a release document on its own, as a server does before accepting it: signed by a release key of the
    /// current root (not revoked), for this app and `channel`, with at most the allowed number of artifacts. Whether
    /// a freshness document pins it, and whether it is newer than what was seen, is [`TrustState::check_release`]'s
    /// business.
    pub fn check_release_document(&self, channel: &str, envelope: &Envelope) -> Result<VerifiedRelease> {
        let root = self.root()?;
        let (release_keys, _, revoked) = root.validate(&self.app)?;
        envelope.verified_by(Kind::Release, &release_keys, &revoked)?;
        let release: Release = envelope.document(Kind::Release)?;
        check_header(Kind::Release, release.kind, release.spec_version, &release.app, &self.app)?;
        if release.channel != channel {
            return Err(Error::MixAndMatch {
                reason: format!("the release document is for channel `{}`", crate::error::snippet(&release.channel)),
            });
        }
        if release.artifacts.len() > MAX_ARTIFACTS {
            return Err(Error::TooManyItems { field: "release.artifacts".into(), max: MAX_ARTIFACTS });
        }
        let release_keys = release_keys.into_iter().filter(|k| !revoked.contains(&k.key_id())).collect();
        Ok(VerifiedRelease { release, release_keys })
    }

    /// The current root document (verified when it was accepted).
    pub fn current_root(&self) -> Result<Root> {
        self.root()
    }

    /// Records that the client has seen (and installed) `release`, so nothing older is accepted again.
    pub fn record(&mut self, release: &VerifiedRelease) {
        let r = &release.release;
        self.channels.insert(r.channel.clone(), ChannelState { sequence: r.sequence, version: r.version.clone() });
    }
}

impl VerifiedRelease {
    /// Starts checking the download of the artifact for `target`.
    pub fn artifact_check(&self, target: &Target) -> Result<ArtifactCheck> {
        let info = self.release.artifact(target)?.clone();
        let signature = Signature::from_text(&info.signature).map_err(|e| Error::MetadataContent {
            kind: Kind::Release,
            reason: format!("the signature of `{}` is unreadable: {e}", info.target),
        })?;
        let key = self.release_keys.iter().find(|k| k.key_id() == signature.key_id()).ok_or_else(|| {
            Error::TamperedArtifact { reason: format!("it is signed by key {}, not a release key", signature.key_id()) }
        })?;
        let verifier = signature.verifier(key).map_err(|e| Error::TamperedArtifact { reason: e.to_string() })?;
        let version = self.release.version.to_string();
        signature.trusted_fields().check_version(&version, false).map_err(|e| Error::MixAndMatch {
            reason: format!("the artifact's signature is for another version: {e}"),
        })?;
        Ok(ArtifactCheck { info, received: 0, hash: Box::new(blake2b_256()), verifier })
    }
}

/// The check of an artifact as it downloads: size bound, hash and signature, in one pass.
#[derive(Debug)]
pub struct ArtifactCheck {
    info: ArtifactInfo,
    received: u64,
    hash: Box<blake2b_simd::State>,
    verifier: millennium_sign::Verifier,
}

impl ArtifactCheck {
    /// The size the release document promises; stop reading there.
    pub fn expected_size(&self) -> u64 {
        self.info.size
    }

    /// Feeds downloaded bytes. Fails as soon as more bytes arrive than the signed size (endless data).
    pub fn update(&mut self, chunk: &[u8]) -> Result<()> {
        self.received += chunk.len() as u64;
        if self.received > self.info.size {
            return Err(Error::EndlessData { expected: self.info.size });
        }
        self.hash.update(chunk);
        self.verifier.update(chunk);
        Ok(())
    }

    /// Completes the check: exact size, hash from the release document, and the artifact's own signature.
    pub fn finish(self) -> Result<()> {
        if self.received != self.info.size {
            return Err(Error::TamperedArtifact {
                reason: format!("{} bytes received, the release document promises {}", self.received, self.info.size),
            });
        }
        if hex::encode(self.hash.finalize().as_bytes()) != self.info.blake2b_256 {
            return Err(Error::TamperedArtifact { reason: "its hash differs from the release document's".into() });
        }
        self.verifier.finish().map_err(|e| Error::TamperedArtifact { reason: e.to_string() })
    }
}

fn check_header(kind: Kind, found: Kind, spec_version: u32, app: &str, expected_app: &str) -> Result<()> {
    if found != kind {
        return Err(Error::MetadataContent { kind, reason: format!("its `_type` is `{found}`") });
    }
    if spec_version != SPEC_VERSION {
        return Err(Error::MetadataContent {
            kind,
            reason: format!("spec version {spec_version} is not supported (this client reads {SPEC_VERSION})"),
        });
    }
    if app != expected_app {
        return Err(Error::MixAndMatch {
            reason: format!("the {kind} document is for app `{}`", crate::error::snippet(app)),
        });
    }
    Ok(())
}

fn blake2b_256() -> blake2b_simd::State {
    blake2b_simd::Params::new().hash_length(32).to_state()
}

/// BLAKE2b-256 of `data`, lowercase hex: the artifact hash of release documents.
pub fn blake2b_256_hex(data: &[u8]) -> String {
    hex::encode(blake2b_256().update(data).finalize().as_bytes())
}

/// Size and BLAKE2b-256 (hex) of everything `data` yields.
pub fn blake2b_256_reader(mut data: impl std::io::Read) -> std::io::Result<(u64, String)> {
    let mut state = blake2b_256();
    let size = std::io::copy(&mut data, &mut state)?;
    Ok((size, hex::encode(state.finalize().as_bytes())))
}
