//! Millennium's signed update metadata: what a client trusts when a server or mirror may be hostile.
//!
//! Tauri's format signs only the artifact. A compromised server can still replay an old signed release (rollback),
//! serve a stale manifest forever (freeze), combine artifacts of different releases, stream without end, or hand one
//! platform another's artifact. The Update Framework (TUF) names these attacks; this module defends against each with
//! three small signed JSON documents:
//!
//! - **root** — signed offline by the *root keys*, `root_threshold` of them together (2 of 3 is the recommended setup).
//!   Names the root keys, the release keys, the *online* keys the server may use for freshness, and revoked keys.
//!   Root `N + 1` must be signed by a threshold of root `N`'s root keys *and* of its own, so a client that pins a key
//!   of the first root follows any number of key rotations, nobody holding only new keys can mint a root, and the
//!   release key that CI holds cannot replace the root on its own. Roots of the first format have no root keys: their
//!   release keys act as root keys, one signature each (see [`Root`]). Revocations are cumulative: a key revoked by
//!   any root accepted so far stays revoked, whatever later roots list.
//! - **release** — signed offline by a release key at publish time: app, channel, version, a per-channel sequence
//!   number that only grows, and for every artifact its target, size, BLAKE2b-256 hash and minisign signature.
//!   The server stores it but cannot forge it.
//! - **freshness** — signed by an online key and re-signed by the server before it expires (e.g. daily): for each
//!   channel, the sequence, version and hash of the current release document, plus its own growing sequence number,
//!   which may not run ahead of the clock (see [`freshness_sequence_at`]); and the sequence and hash of the current
//!   yank list.
//! - **yanks** — signed offline by a release key: the versions the publisher withdrew. Once a client has seen a yank
//!   list it never accepts an older one, nor a freshness document that pins none, and never installs a version it
//!   lists, so neither the online key nor an admin token of the server can offer a yanked release again.
//!
//! Every document travels in an [`Envelope`]: `{"payload": "<the exact JSON text>", "signatures": ["<minisign
//! signature, Tauri base64 form>", …]}`. Signatures cover the payload bytes as sent, so no canonical-JSON rules are
//! needed, and the payload is parsed only after a signature from an authorised key verified.
//!
//! [`TrustState`] is the client side: the current root and the last sequence numbers and versions seen, serialisable so
//! the client can store it atomically. Its methods perform every check and leave the state untouched on any error.
//!
//! **Recovery** (TUF's rule): a new root that stops trusting a key for freshness (revokes or rotates an online key)
//! resets the stored freshness sequence, and one that stops trusting a release key forgets the per-channel release
//! sequences and the yank list, because a stolen key could have pushed them to values no honest document will reach
//! (a freeze that would otherwise outlive the key's revocation).

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

/// The most root keys a root may require to sign it (its `root_threshold`): a rotation to other keys then needs at most
/// twice this many signatures, which an envelope can carry.
pub const MAX_ROOT_THRESHOLD: u32 = 8;

/// Most keys of each kind in a root, and most artifacts in a release.
const MAX_KEYS: usize = 16;
const MAX_ARTIFACTS: usize = 64;
const MAX_CHANNELS: usize = 64;
const MAX_HEADS_PER_CHANNEL: usize = 8;
const MAX_SIGNATURES: usize = 16;
/// Most key ids a root may revoke (revocations accumulate over the roots' history).
const MAX_REVOKED: usize = 256;
/// Most versions in a yank list.
const MAX_YANKED: usize = 1024;

/// The highest freshness sequence number an honest server can have signed by `time`: its time in milliseconds since
/// 1970. The server numbers freshness documents `max(previous + 1, this of the issue time)`, and a client refuses any
/// above this of its own clock plus [`CLOCK_SKEW`]. So a stolen online key can push a client at most ten minutes ahead
/// of the server, which catches up on its own, instead of to 2⁶⁴ − 1, which no honest document would ever exceed.
pub fn freshness_sequence_at(time: OffsetDateTime) -> u64 {
    u64::try_from(time.unix_timestamp_nanos() / 1_000_000).unwrap_or(0)
}

/// The three kinds of signed document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Root,
    Release,
    Freshness,
    Yanks,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Root => "root",
            Kind::Release => "release",
            Kind::Freshness => "freshness",
            Kind::Yanks => "yanks",
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
        let mut envelope = Envelope { payload, signatures: Vec::new() };
        envelope.add_signatures(kind, keys)?;
        Ok(envelope)
    }

    /// Adds a signature by each key of `keys` that has not signed the payload yet: how a root is co-signed by root-key
    /// holders one after the other, each on their own machine. The payload is not changed.
    pub fn add_signatures(&mut self, kind: Kind, keys: &[&SecretKey]) -> Result<()> {
        let comment = format!("millennium-metadata:v{SPEC_VERSION}\ttype:{kind}");
        for key in keys {
            let id = key.key_id();
            let signed = self.signatures.iter().any(|text| Signature::from_text(text).is_ok_and(|s| s.key_id() == id));
            if signed {
                continue;
            }
            if self.signatures.len() >= MAX_SIGNATURES {
                return Err(Error::TooManyItems { field: "signatures".into(), max: MAX_SIGNATURES });
            }
            let signature = Signature::sign(key, self.payload.as_bytes(), &comment)
                .map_err(|e| Error::MetadataSignature { kind, reason: e.to_string() })?;
            self.signatures.push(signature.to_text(Format::Tauri));
        }
        Ok(())
    }

    /// The ids of the keys that signed the payload, valid or not: what a co-signer is shown.
    pub fn signer_ids(&self) -> Vec<KeyId> {
        self.signatures.iter().filter_map(|text| Signature::from_text(text).ok()).map(|s| s.key_id()).collect()
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

    /// The distinct ids of the keys whose signatures over the payload verify, among `allowed` and not `revoked`, and
    /// what was wrong with the other signatures.
    fn signers(&self, kind: Kind, allowed: &[PublicKey], revoked: &[KeyId]) -> (Vec<KeyId>, Vec<String>) {
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
                Ok(()) if signature.trusted_comment() == expected_comment => {
                    if !good.contains(&id) {
                        good.push(id);
                    }
                }
                Ok(()) => problems.push(format!("key {id} signed a document of another type")),
                Err(e) => problems.push(format!("signature by key {id} does not verify ({e})")),
            }
        }
        (good, problems)
    }

    /// The ids of the keys whose signatures over the payload verify, among `allowed` and not `revoked`. Errors when
    /// there is none, saying whether signatures were by unknown, revoked or wrong keys.
    fn verified_by(&self, kind: Kind, allowed: &[PublicKey], revoked: &[KeyId]) -> Result<Vec<KeyId>> {
        self.verified_by_quorum(kind, allowed, revoked, 1, "trusted keys")
    }

    /// Like [`Envelope::verified_by`], but at least `threshold` distinct keys of `allowed` must have signed; `whose`
    /// names them in the error (`root 3's root keys`).
    fn verified_by_quorum(
        &self,
        kind: Kind,
        allowed: &[PublicKey],
        revoked: &[KeyId],
        threshold: usize,
        whose: &str,
    ) -> Result<Vec<KeyId>> {
        let (good, problems) = self.signers(kind, allowed, revoked);
        if good.len() >= threshold.max(1) {
            return Ok(good);
        }
        let reason = match (good.is_empty(), problems.is_empty()) {
            (true, true) => "it carries no signature".to_owned(),
            (true, false) => problems.join("; "),
            (false, _) => {
                let mut reason = format!("it is signed by {} of the {threshold} {whose} it needs", good.len());
                if !problems.is_empty() {
                    reason = format!("{reason} ({})", problems.join("; "));
                }
                reason
            }
        };
        Err(Error::MetadataSignature { kind, reason })
    }

    fn document<T: for<'de> Deserialize<'de>>(&self, kind: Kind) -> Result<T> {
        let value = crate::json::parse(self.payload.as_bytes())?;
        serde_json::from_value(value).map_err(|source| Error::InvalidMetadata { kind, source })
    }
}

/// Root document: who may sign what.
///
/// Two formats are read. A root with `root_keys` (and `root_threshold`, which goes with them) is signed by its root keys,
/// kept offline apart from the release keys CI holds, `root_threshold` of them together; a key may then be a root key
/// or a release key or an online key, never two of these. A root without them is of the first format, in which the
/// release keys are the root keys and one signature is enough (1 of n): roots already stored and trusted keep working,
/// and the next root may move the app to root keys of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Root {
    #[serde(rename = "_type")]
    pub kind: Kind,
    pub spec_version: u32,
    pub app: String,
    /// Starts at 1 and grows by exactly one with each replacement.
    pub version: u64,
    /// Offline keys that sign the next root (minisign public keys, `RW…`); empty in roots of the first format.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub root_keys: Vec<String>,
    /// How many distinct root keys must sign a root for it to be accepted (this one, and the one that replaces it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_threshold: Option<u32>,
    /// Offline keys that sign release documents and yank lists (and, in the first format, roots).
    pub release_keys: Vec<String>,
    /// Keys the server holds to sign freshness documents.
    pub online_keys: Vec<String>,
    /// Key ids (16 hex digits) that must never be trusted again, whatever document lists them. Revocations are
    /// cumulative: a key revoked by an earlier root stays revoked even if this list omits it.
    #[serde(default)]
    pub revoked_keys: Vec<String>,
}

/// The keys of a root that passed its checks, revoked ones left out.
#[derive(Debug, Clone)]
struct RootKeys {
    /// Keys that sign roots (the release keys, in the first format).
    root: Vec<PublicKey>,
    /// How many of `root` must sign.
    threshold: usize,
    release: Vec<PublicKey>,
    online: Vec<PublicKey>,
    /// Every key id revoked so far: this root's and the earlier ones'.
    revoked: Vec<KeyId>,
}

impl RootKeys {
    /// The keys trusted for freshness documents: online and release keys.
    fn freshness_signers(&self) -> Vec<PublicKey> {
        self.online.iter().chain(&self.release).cloned().collect()
    }
}

/// Whether every key of `old` is in `new`.
fn all_kept(old: &[PublicKey], new: &[PublicKey]) -> bool {
    old.iter().all(|key| new.contains(key))
}

impl Root {
    /// A root of the first format: `release_keys` sign releases and the next root, one signature being enough. Give it
    /// root keys of its own with [`Root::with_root_keys`].
    pub fn new(app: &str, version: u64, release_keys: &[PublicKey], online_keys: &[PublicKey]) -> Root {
        Root {
            kind: Kind::Root,
            spec_version: SPEC_VERSION,
            app: app.to_owned(),
            version,
            root_keys: Vec::new(),
            root_threshold: None,
            release_keys: release_keys.iter().map(PublicKey::to_base64).collect(),
            online_keys: online_keys.iter().map(PublicKey::to_base64).collect(),
            revoked_keys: Vec::new(),
        }
    }

    /// The same root with `root_keys`, `threshold` of which must sign it and its successor.
    pub fn with_root_keys(mut self, root_keys: &[PublicKey], threshold: u32) -> Root {
        self.root_keys = root_keys.iter().map(PublicKey::to_base64).collect();
        self.root_threshold = Some(threshold);
        self
    }

    /// Whether `key` is one of its root or release keys.
    fn lists(&self, key: &PublicKey) -> bool {
        let listed = |field: &str, list: &[String]| self.keys(field, list).is_ok_and(|keys| keys.contains(key));
        listed("release_keys", &self.release_keys) || listed("root_keys", &self.root_keys)
    }

    /// Whether the root has root keys of its own (else its release keys sign roots, one being enough).
    pub fn has_root_keys(&self) -> bool {
        !self.root_keys.is_empty() || self.root_threshold.is_some()
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
        if self.revoked_keys.len() > MAX_REVOKED {
            return Err(Error::TooManyItems { field: "root.revoked_keys".into(), max: MAX_REVOKED });
        }
        self.revoked_keys.iter().map(|id| parse_key_id(id)).collect()
    }

    /// Checks the root for `app` and returns its keys, leaving out those revoked by it or by `earlier` roots.
    fn validate(&self, app: &str, earlier: &[KeyId]) -> Result<RootKeys> {
        let content = |reason: String| Error::MetadataContent { kind: Kind::Root, reason };
        check_header(Kind::Root, self.kind, self.spec_version, &self.app, app)?;
        let mut revoked = earlier.to_vec();
        for id in self.revoked()? {
            if !revoked.contains(&id) {
                revoked.push(id);
            }
        }
        let unrevoked = |keys: Vec<PublicKey>| -> Vec<PublicKey> {
            keys.into_iter().filter(|k| !revoked.contains(&k.key_id())).collect()
        };
        let release = unrevoked(self.keys("release_keys", &self.release_keys)?);
        let online = unrevoked(self.keys("online_keys", &self.online_keys)?);
        if release.is_empty() {
            return Err(content("it has no unrevoked release key".into()));
        }
        let (root, threshold) = match (self.root_keys.is_empty(), self.root_threshold) {
            (true, None) => (release.clone(), 1),
            (false, Some(threshold)) => {
                let listed = self.keys("root_keys", &self.root_keys)?;
                let mut root: Vec<PublicKey> = Vec::new();
                for key in unrevoked(listed) {
                    if !root.iter().any(|k| k.key_id() == key.key_id()) {
                        root.push(key);
                    }
                }
                if root.iter().any(|k| release.contains(k) || online.contains(k)) {
                    return Err(content(
                        "a root key is also a release or online key: whoever holds that key alone could then replace the root"
                            .into(),
                    ));
                }
                if threshold == 0 || threshold > MAX_ROOT_THRESHOLD {
                    return Err(content(format!(
                        "its root threshold {threshold} is not between 1 and {MAX_ROOT_THRESHOLD}"
                    )));
                }
                let threshold = threshold as usize;
                if threshold > root.len() {
                    return Err(content(format!(
                        "it needs {threshold} root keys to sign, but lists only {} unrevoked ones: it could never be replaced",
                        root.len()
                    )));
                }
                (root, threshold)
            }
            _ => return Err(content("`root_keys` and `root_threshold` go together".into())),
        };
        Ok(RootKeys { root, threshold, release, online, revoked })
    }
}

fn parse_key_id(id: &str) -> Result<KeyId> {
    id.parse().map_err(|_| Error::MetadataContent {
        kind: Kind::Root,
        reason: format!("`revoked_keys` holds an invalid key id `{}`", crate::error::snippet(id)),
    })
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
    /// The current yank list; absent (and not written) while the app has none, so documents stay readable by
    /// updaters from before yank lists existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yanks: Option<YanksPin>,
}

/// The yank list a freshness document vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YanksPin {
    /// The list's [`Yanks::sequence`].
    pub sequence: u64,
    /// [`Envelope::hash`] of the list's envelope.
    pub hash: String,
}

/// Yank list: the versions the publisher withdrew, signed offline by a release key. Each new list replaces the last
/// (so un-yanking is a list without the version) and carries a higher sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Yanks {
    #[serde(rename = "_type")]
    pub kind: Kind,
    pub spec_version: u32,
    pub app: String,
    /// Grows with every list signed for the app.
    pub sequence: u64,
    /// The withdrawn versions: never offered, never installed.
    pub versions: Vec<Version>,
}

impl Yanks {
    pub fn new(app: &str, sequence: u64, versions: Vec<Version>) -> Yanks {
        Yanks { kind: Kind::Yanks, spec_version: SPEC_VERSION, app: app.to_owned(), sequence, versions }
    }
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

/// The newest yank list a client has seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenYanks {
    pub sequence: u64,
    /// [`Envelope::hash`] of its envelope.
    pub hash: String,
    pub versions: Vec<Version>,
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
    /// Every key id revoked by a root accepted so far (besides the current root's own list): revocations are
    /// cumulative. Absent in states stored before it existed, which then start from the current root's list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revoked_keys: Vec<String>,
    /// The newest yank list seen; absent until a freshness document pins one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yanks: Option<SeenYanks>,
}

/// A release document that passed every check, ready to be installed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRelease {
    pub release: Release,
    release_keys: Vec<PublicKey>,
}

/// The root-key signatures of one side of a root change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quorum {
    /// The root keys whose signatures verify.
    pub signed_by: Vec<KeyId>,
    /// How many are needed.
    pub needed: usize,
    /// The root keys that may sign.
    pub keys: Vec<KeyId>,
}

impl Quorum {
    fn of(envelope: &Envelope, keys: &RootKeys) -> Quorum {
        let (signed_by, _) = envelope.signers(Kind::Root, &keys.root, &keys.revoked);
        Quorum { signed_by, needed: keys.threshold, keys: keys.root.iter().map(PublicKey::key_id).collect() }
    }

    /// How many more signatures it needs.
    pub fn missing(&self) -> usize {
        self.needed.saturating_sub(self.signed_by.len())
    }
}

/// What a root carries against what accepting it needs: a threshold of the previous root's root keys (none for the
/// first root) and a threshold of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootSignatures {
    /// The root's version.
    pub version: u64,
    pub previous: Option<Quorum>,
    pub own: Quorum,
}

impl RootSignatures {
    /// Whether both thresholds are met (for the first root, a server also wants the app's registered key).
    pub fn is_complete(&self) -> bool {
        self.own.missing() == 0 && self.previous.as_ref().is_none_or(|q| q.missing() == 0)
    }
}

impl TrustState {
    /// Starts trusting from the key pinned in the app: `roots` is the server's root history, oldest first. The first
    /// root that lists `pinned` (as a root or release key), is signed by it and carries its own threshold of root-key
    /// signatures anchors the chain; every later root must follow it.
    pub fn bootstrap(app: &str, pinned: &PublicKey, roots: &[Envelope]) -> Result<TrustState> {
        let anchor = roots.iter().position(|envelope| {
            envelope.verified_by(Kind::Root, std::slice::from_ref(pinned), &[]).is_ok()
                && envelope.document::<Root>(Kind::Root).is_ok_and(|r| r.lists(pinned))
        });
        let Some(anchor) = anchor else {
            return Err(Error::RootChain {
                reason: format!("no root document is signed by the pinned key {}", pinned.key_id()),
            });
        };
        let root: Root = roots[anchor].document(Kind::Root)?;
        let keys = root.validate(app, &[])?;
        if keys.revoked.contains(&pinned.key_id()) {
            return Err(Error::RootChain { reason: format!("the pinned key {} is revoked", pinned.key_id()) });
        }
        roots[anchor]
            .verified_by_quorum(Kind::Root, &keys.root, &keys.revoked, keys.threshold, "root keys")
            .map_err(|e| Error::RootChain { reason: format!("root {}: {e}", root.version) })?;
        let mut state = TrustState {
            app: app.to_owned(),
            root: roots[anchor].clone(),
            root_version: root.version,
            freshness_sequence: 0,
            channels: BTreeMap::new(),
            revoked_keys: keys.revoked.iter().map(ToString::to_string).collect(),
            yanks: None,
        };
        for next in &roots[anchor + 1..] {
            state.update_root(next)?;
        }
        Ok(state)
    }

    fn root(&self) -> Result<Root> {
        self.root.document(Kind::Root)
    }

    /// The key ids revoked by the roots accepted before the current one (which validation adds its own to).
    fn earlier_revoked(&self) -> Result<Vec<KeyId>> {
        self.revoked_keys.iter().map(|id| parse_key_id(id)).collect()
    }

    /// The current root's keys, without any key revoked so far.
    fn keys(&self) -> Result<RootKeys> {
        self.root()?.validate(&self.app, &self.earlier_revoked()?)
    }

    /// Whether `key` was revoked by any root accepted so far.
    pub fn is_revoked(&self, key: &KeyId) -> Result<bool> {
        Ok(self.keys()?.revoked.contains(key))
    }

    /// Every key id revoked by a root accepted so far (what the next root should revoke too).
    pub fn revoked(&self) -> Result<Vec<KeyId>> {
        Ok(self.keys()?.revoked)
    }

    /// The signatures `next`, the root that would follow the current one, carries against what it needs.
    pub fn root_signatures(&self, next: &Envelope) -> Result<RootSignatures> {
        let current = self.keys()?;
        let candidate: Root = next.document(Kind::Root)?;
        let own = candidate.validate(&self.app, &current.revoked)?;
        Ok(RootSignatures {
            version: candidate.version,
            previous: Some(Quorum::of(next, &current)),
            own: Quorum::of(next, &own),
        })
    }

    /// The signatures the first root of `app` carries against what its own threshold needs.
    pub fn first_root_signatures(app: &str, root: &Envelope) -> Result<RootSignatures> {
        let candidate: Root = root.document(Kind::Root)?;
        let own = candidate.validate(app, &[])?;
        Ok(RootSignatures { version: candidate.version, previous: None, own: Quorum::of(root, &own) })
    }

    /// Moves to root `N + 1`, which must be signed by a threshold of the current root's root keys and a threshold of
    /// its own. Older or equal roots are ignored (a mirror may serve the whole history). When the new root stops
    /// trusting a key the current one trusts for freshness documents, the freshness sequence starts again from 0; when
    /// it stops trusting a release key, the per-channel release sequences and the yank list are forgotten (TUF's
    /// recovery from a fast-forward by a stolen key).
    pub fn update_root(&mut self, next: &Envelope) -> Result<()> {
        let current_root = self.root()?;
        let current = self.keys()?;
        let candidate: Root = next.document(Kind::Root)?;
        if candidate.version <= current_root.version {
            return Ok(());
        }
        if candidate.version != current_root.version + 1 {
            return Err(Error::RootChain {
                reason: format!(
                    "root {} follows root {}: a version is missing",
                    candidate.version, current_root.version
                ),
            });
        }
        let chain_error = |e: Error| Error::RootChain { reason: format!("root {}: {e}", candidate.version) };
        let new = candidate.validate(&self.app, &current.revoked).map_err(chain_error)?;
        let whose = format!("root keys of root {}", current_root.version);
        next.verified_by_quorum(Kind::Root, &current.root, &new.revoked, current.threshold, &whose)
            .map_err(chain_error)?;
        next.verified_by_quorum(Kind::Root, &new.root, &new.revoked, new.threshold, "root keys it names")
            .map_err(chain_error)?;
        if !all_kept(&current.freshness_signers(), &new.freshness_signers()) {
            self.freshness_sequence = 0;
        }
        if !all_kept(&current.release, &new.release) {
            self.channels.clear();
            self.yanks = None;
        }
        self.root = next.clone();
        self.root_version = candidate.version;
        self.revoked_keys = new.revoked.iter().map(ToString::to_string).collect();
        Ok(())
    }

    /// Checks a freshness document: signed by an online (or release) key of the current root and not revoked, not
    /// expired at `now`, not older than the last one seen, not numbered beyond what the clock allows
    /// ([`freshness_sequence_at`]), and pinning a yank list no older than the last one seen. Returns it and records
    /// its sequence. Check the yank list it pins next ([`TrustState::needs_yanks`], [`TrustState::check_yanks`]).
    pub fn check_freshness(&mut self, envelope: &Envelope, now: OffsetDateTime) -> Result<Freshness> {
        let keys = self.keys()?;
        envelope.verified_by(Kind::Freshness, &keys.freshness_signers(), &keys.revoked)?;
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
        let limit = freshness_sequence_at(now + CLOCK_SKEW);
        if freshness.sequence > limit {
            return Err(Error::FastForward { offered: freshness.sequence, limit });
        }
        if freshness.sequence < self.freshness_sequence {
            return Err(Error::Replay { seen: self.freshness_sequence, offered: freshness.sequence });
        }
        if let Some(seen) = &self.yanks {
            match &freshness.yanks {
                None => return Err(Error::YanksRollback { seen: seen.sequence, offered: None }),
                Some(pin) if pin.sequence < seen.sequence => {
                    return Err(Error::YanksRollback { seen: seen.sequence, offered: Some(pin.sequence) });
                }
                Some(pin) if pin.sequence == seen.sequence && pin.hash != seen.hash => {
                    return Err(Error::MixAndMatch {
                        reason: format!("the freshness document pins another yank list numbered {}", pin.sequence),
                    });
                }
                Some(_) => {}
            }
        }
        self.freshness_sequence = freshness.sequence;
        Ok(freshness)
    }

    /// Whether `freshness` pins a yank list this state does not hold yet: fetch it and pass it to
    /// [`TrustState::check_yanks`].
    pub fn needs_yanks(&self, freshness: &Freshness) -> bool {
        freshness.yanks.as_ref().is_some_and(|pin| !self.holds_yanks(pin))
    }

    fn holds_yanks(&self, pin: &YanksPin) -> bool {
        self.yanks.as_ref().is_some_and(|seen| seen.sequence == pin.sequence && seen.hash == pin.hash)
    }

    /// Checks the yank list `freshness` pins (it must be that one, signed by a release key of the current root, for
    /// this app) and records it: its versions are refused from now on.
    pub fn check_yanks(&mut self, freshness: &Freshness, envelope: &Envelope) -> Result<()> {
        let pin = freshness
            .yanks
            .as_ref()
            .ok_or_else(|| Error::MetadataContent { kind: Kind::Freshness, reason: "it pins no yank list".into() })?;
        let hash = envelope.hash();
        if hash != pin.hash {
            return Err(Error::MixAndMatch {
                reason: "the yank list is not the one the freshness document pins".into(),
            });
        }
        let yanks = self.check_yanks_document(envelope)?;
        if yanks.sequence != pin.sequence {
            return Err(Error::MixAndMatch {
                reason: format!(
                    "the yank list is numbered {}, the freshness document pins {}",
                    yanks.sequence, pin.sequence
                ),
            });
        }
        if let Some(seen) = &self.yanks
            && yanks.sequence < seen.sequence
        {
            return Err(Error::YanksRollback { seen: seen.sequence, offered: Some(yanks.sequence) });
        }
        self.yanks = Some(SeenYanks { sequence: yanks.sequence, hash, versions: yanks.versions });
        Ok(())
    }

    /// Checks a yank list on its own, as a server does before accepting it: signed by a release key of the current
    /// root (not revoked), for this app, with at most the allowed number of versions.
    pub fn check_yanks_document(&self, envelope: &Envelope) -> Result<Yanks> {
        let keys = self.keys()?;
        envelope.verified_by(Kind::Yanks, &keys.release, &keys.revoked)?;
        let yanks: Yanks = envelope.document(Kind::Yanks)?;
        check_header(Kind::Yanks, yanks.kind, yanks.spec_version, &yanks.app, &self.app)?;
        if yanks.versions.len() > MAX_YANKED {
            return Err(Error::TooManyItems { field: "yanks.versions".into(), max: MAX_YANKED });
        }
        Ok(yanks)
    }

    /// Checks the release document of `channel` against a freshness document already checked: it must be the one the
    /// freshness document pins, signed by a release key, for this app and channel, not older than anything seen, and
    /// not yanked by the yank list the freshness document pins (which must have been checked first).
    pub fn check_release(&self, freshness: &Freshness, channel: &str, envelope: &Envelope) -> Result<VerifiedRelease> {
        if let Some(pin) = &freshness.yanks
            && !self.holds_yanks(pin)
        {
            return Err(Error::MixAndMatch {
                reason: "the yank list the freshness document pins was not checked".into(),
            });
        }
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
        if self.yanks.as_ref().is_some_and(|yanks| yanks.versions.contains(&release.version)) {
            return Err(Error::Yanked { version: release.version.to_string() });
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
        let keys = self.keys()?;
        envelope.verified_by(Kind::Release, &keys.release, &keys.revoked)?;
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
        Ok(VerifiedRelease { release, release_keys: keys.release })
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
