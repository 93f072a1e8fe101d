//! The release-key holder's side of Millennium's signed metadata (`docs/protocol.md` §7), without a server: a
//! [`Publisher`] holds the offline release key and the online key and signs roots, release documents and freshness
//! documents with them, the way the update server and its CLI do. Tests serve what it signs from a mirror, feed it to
//! the protocol crate's `TrustState`, or tamper with it first.

use std::collections::BTreeMap;

use millennium_sign::SecretKey;
use millennium_update_protocol::Version;
use millennium_update_protocol::metadata::{
    ArtifactInfo, ChannelHead, Envelope, Freshness, Kind, Release, Root, SPEC_VERSION, TrustState, blake2b_256_hex,
};
use time::{Duration, OffsetDateTime};

/// The release-key holder: release key, online key, the roots so far, and the documents they sign.
#[derive(Debug)]
pub struct Publisher {
    pub app: String,
    pub release_key: SecretKey,
    pub online_key: SecretKey,
    pub roots: Vec<Envelope>,
    /// The sequence of the last freshness document signed.
    pub freshness_sequence: u64,
}

/// A signed release document, and the artifacts it describes by target.
#[derive(Debug, Clone)]
pub struct Published {
    pub envelope: Envelope,
    pub document: Release,
    pub artifacts: BTreeMap<String, Vec<u8>>,
}

impl Published {
    /// A release document signed elsewhere (or re-signed by a test), without artifacts.
    pub fn from_envelope(envelope: Envelope) -> Published {
        let document = serde_json::from_str(&envelope.payload).unwrap();
        Published { envelope, document, artifacts: BTreeMap::new() }
    }
}

/// An unsigned release document of `app` on `channel` with `artifacts` and no webview minimum.
pub fn release_document(
    app: &str,
    channel: &str,
    version: &str,
    sequence: u64,
    artifacts: Vec<ArtifactInfo>,
) -> Release {
    Release {
        kind: Kind::Release,
        spec_version: SPEC_VERSION,
        app: app.into(),
        channel: channel.into(),
        version: Version::parse(version).unwrap(),
        sequence,
        artifacts,
        min_webview_version: Default::default(),
    }
}

impl Publisher {
    /// New release and online keys, and root 1 naming them, signed by the release key.
    pub fn new(app: &str) -> Publisher {
        let release_key = SecretKey::generate().unwrap();
        let online_key = SecretKey::generate().unwrap();
        let root = Root::new(app, 1, &[release_key.public_key()], &[online_key.public_key()]);
        let roots = vec![Envelope::sign(&root, Kind::Root, &[&release_key]).unwrap()];
        Publisher { app: app.into(), release_key, online_key, roots, freshness_sequence: 0 }
    }

    /// `data` as the artifact of `version` for `target`, named `{app}-{version}-{target}`, signed by the release key.
    pub fn artifact(&self, target: &str, version: &str, data: &[u8]) -> ArtifactInfo {
        let file = format!("{}-{version}-{target}", self.app);
        let signature = crate::keys::sign(&self.release_key, &file, Some(version), data);
        let info = ArtifactInfo::describe(target.parse().unwrap(), &file, data, &signature).unwrap();
        assert_eq!((info.size, info.blake2b_256.as_str()), (data.len() as u64, blake2b_256_hex(data).as_str()));
        info
    }

    /// Signs the release document of `version` on `channel` with `artifacts` (target, bytes), declaring the oldest
    /// webview it works with when given (`webkitgtk=2.44,webview2=124.0`).
    pub fn publish(
        &self,
        channel: &str,
        version: &str,
        sequence: u64,
        artifacts: &[(&str, impl AsRef<[u8]>)],
        min_webview: Option<&str>,
    ) -> Published {
        let infos = artifacts.iter().map(|(target, data)| self.artifact(target, version, data.as_ref())).collect();
        let mut document = release_document(&self.app, channel, version, sequence, infos);
        document.min_webview_version = min_webview.map(|m| m.parse().unwrap()).unwrap_or_default();
        let envelope = Envelope::sign(&document, Kind::Release, &[&self.release_key]).unwrap();
        let artifacts = artifacts.iter().map(|(target, data)| ((*target).to_owned(), data.as_ref().to_vec())).collect();
        Published { envelope, document, artifacts }
    }

    /// Signs the next freshness document, issued at `issued` and valid for `ttl`, offering each release in `heads`
    /// to its rollout share (percent) on its own channel; a channel lists its heads in the order given.
    pub fn freshness(&mut self, heads: &[(&Published, u8)], issued: OffsetDateTime, ttl: Duration) -> Envelope {
        let mut channels = BTreeMap::<String, Vec<ChannelHead>>::new();
        for (published, rollout) in heads {
            channels.entry(published.document.channel.clone()).or_default().push(ChannelHead {
                release_sequence: published.document.sequence,
                version: published.document.version.clone(),
                release_hash: published.envelope.hash(),
                rollout: *rollout,
            });
        }
        self.sign_freshness(channels, issued, ttl)
    }

    /// Signs the next freshness document offering `channels` as given (heads a test made by hand).
    pub fn sign_freshness(
        &mut self,
        channels: BTreeMap<String, Vec<ChannelHead>>,
        issued: OffsetDateTime,
        ttl: Duration,
    ) -> Envelope {
        self.freshness_sequence += 1;
        let doc = Freshness {
            kind: Kind::Freshness,
            spec_version: SPEC_VERSION,
            app: self.app.clone(),
            sequence: self.freshness_sequence,
            issued,
            expires: issued + ttl,
            channels,
            yanks: None,
        };
        Envelope::sign(&doc, Kind::Freshness, &[&self.online_key]).unwrap()
    }

    /// [`Publisher::freshness`], valid now: issued a minute ago, for a day.
    pub fn fresh(&mut self, heads: &[(&Published, u8)]) -> Envelope {
        self.freshness(heads, OffsetDateTime::now_utc() - Duration::minutes(1), Duration::days(1))
    }

    /// Moves to a new release key: the next root names it, signed by the old key and the new one. Returns the old key.
    pub fn rotate_release_key(&mut self) -> SecretKey {
        let new_key = SecretKey::generate().unwrap();
        let version = self.roots.len() as u64 + 1;
        let root = Root::new(&self.app, version, &[new_key.public_key()], &[self.online_key.public_key()]);
        self.roots.push(Envelope::sign(&root, Kind::Root, &[&self.release_key, &new_key]).unwrap());
        std::mem::replace(&mut self.release_key, new_key)
    }

    /// The roots as a server serves them (`roots.json`: a JSON array of envelopes).
    pub fn roots_json(&self) -> Vec<u8> {
        let list: Vec<serde_json::Value> =
            self.roots.iter().map(|r| serde_json::from_str(&r.to_json()).unwrap()).collect();
        serde_json::to_vec(&list).unwrap()
    }

    /// A client's trust state, pinned to the current release key.
    pub fn trust_state(&self) -> TrustState {
        TrustState::bootstrap(&self.app, &self.release_key.public_key(), &self.roots).unwrap()
    }
}
