//! The secure check: Millennium's signed metadata (root, freshness, release; `docs/protocol.md` §7) instead of the
//! unsigned Tauri answer, so that a compromised server or mirror cannot roll the app back, freeze it on an old
//! release, mix artifacts of different releases, stream without end or hand it another platform's artifact.
//!
//! Used when the app is built with [`crate::UpdaterBuilder::metadata_url`]. Under that base URL `B` (the update
//! server's `/metadata/<app>`, or any static mirror of it):
//!
//! | URL | document |
//! |---|---|
//! | `B/roots.json` | every root envelope, oldest first (a JSON array) |
//! | `B/freshness.json` | the current freshness envelope |
//! | `B/yanks.json` | the publisher's signed yank list, fetched when the freshness document pins one not seen yet |
//! | `B/channels/<channel>/releases/<version>.json` | a release envelope |
//! | `B/files/<version>/<target>/<file>` | an artifact named by a release document |
//! | `B/deltas/<version>/<target>/index.json` | the deltas to that artifact (unsigned; fetched when an update is offered) |
//! | `B/deltas/<version>/<target>/<from>` | the delta from the installed artifact hashed `from` |
//!
//! The trust state (current root, freshness and per-channel sequences) lives in `trust.json` in the state directory,
//! written atomically. It is bootstrapped from the pinned key(s) on first use, moves forward only after every check
//! passed, and records a release only once it is installed, so a failed or refused update leaves it as it was.

use std::path::PathBuf;

use millennium_update_protocol::delta::{self, DeltaOffer};
use millennium_update_protocol::metadata::{ArtifactInfo, Envelope, TrustState, VerifiedRelease};
use millennium_update_protocol::tauri::ArtifactUrl;
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::fs;
use crate::updater::Inner;

/// Name of the trust state file in the state directory.
const TRUST_FILE: &str = "trust.json";

/// A release the signed metadata vouches for, and the trust state to keep once it is installed.
#[derive(Debug)]
pub(crate) struct Vouched {
    pub(crate) release: VerifiedRelease,
    pub(crate) artifact: ArtifactInfo,
    pub(crate) url: url::Url,
    /// The state after this release is installed.
    state_after: TrustState,
}

impl Vouched {
    /// Records the installed release, so nothing older is accepted again.
    pub(crate) fn record_installed(&self, inner: &Inner) -> Result<()> {
        save(inner, &self.state_after)
    }
}

fn untrusted(source: millennium_update_protocol::Error) -> Error {
    Error::Untrusted { source: Box::new(source) }
}

fn trust_path(inner: &Inner) -> PathBuf {
    inner.state.root().join(TRUST_FILE)
}

fn load(inner: &Inner) -> Result<Option<TrustState>> {
    let path = trust_path(inner);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| Error::CorruptState {
            path,
            reason: format!("{e} (delete it to trust the pinned key again)"),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", &path, e)),
    }
}

fn save(inner: &Inner, state: &TrustState) -> Result<()> {
    inner.state.ensure()?;
    let path = trust_path(inner);
    let bytes = serde_json::to_vec_pretty(state)
        .map_err(|e| Error::CorruptState { path: path.clone(), reason: e.to_string() })?;
    fs::write_atomic(&path, &bytes)
}

fn join(base: &url::Url, segments: &[&str]) -> Result<url::Url> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| Error::InvalidConfig { reason: format!("metadata URL `{base}` cannot have a path") })?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

async fn envelope(inner: &Inner, url: &url::Url) -> Result<Envelope> {
    let body = crate::check::fetch_document(inner, url).await?;
    Envelope::parse(&body).map_err(untrusted)
}

async fn roots(inner: &Inner, base: &url::Url) -> Result<Vec<Envelope>> {
    let url = join(base, &["roots.json"])?;
    let body = crate::check::fetch_document(inner, &url).await?;
    let items: Vec<serde_json::Value> = serde_json::from_slice(&body)
        .map_err(|e| untrusted(millennium_update_protocol::Error::InvalidJson { source: e }))?;
    items.iter().map(|item| Envelope::parse(item.to_string().as_bytes()).map_err(untrusted)).collect()
}

/// The trust state brought up to date with the server's roots: bootstrapped from a pinned key on first use, then
/// following the chain of roots.
async fn current_state(inner: &Inner, base: &url::Url, app: &str) -> Result<TrustState> {
    let roots = roots(inner, base).await?;
    let mut state = match load(inner)? {
        Some(state) if state.app == app => state,
        Some(state) => {
            return Err(Error::CorruptState {
                path: trust_path(inner),
                reason: format!("it belongs to app `{}`, not `{app}`", state.app),
            });
        }
        None => {
            let mut first_error = None;
            let bootstrapped = inner.keys.iter().find_map(|key| match TrustState::bootstrap(app, key, &roots) {
                Ok(state) => Some(state),
                Err(e) => {
                    first_error.get_or_insert(e);
                    None
                }
            });
            match bootstrapped {
                Some(state) => state,
                None => {
                    return Err(untrusted(first_error.unwrap_or(millennium_update_protocol::Error::RootChain {
                        reason: "no root documents".into(),
                    })));
                }
            }
        }
    };
    for next in &roots {
        state.update_root(next).map_err(untrusted)?;
    }
    Ok(state)
}

/// The secure check. `Ok(None)`: no update for this install.
pub(crate) async fn check(inner: &Inner, base: &url::Url, app: &str) -> Result<Option<Vouched>> {
    let mut state = current_state(inner, base, app).await?;
    let freshness_envelope = envelope(inner, &join(base, &["freshness.json"])?).await?;
    let freshness = state.check_freshness(&freshness_envelope, OffsetDateTime::now_utc()).map_err(untrusted)?;
    if state.needs_yanks(&freshness) {
        let yanks = envelope(inner, &join(base, &["yanks.json"])?).await?;
        state.check_yanks(&freshness, &yanks).map_err(untrusted)?;
    }
    // The root, the freshness sequence and the yank list only ever move forward: keep them even if no update follows.
    save(inner, &state)?;

    let channel = inner.channel.as_deref().unwrap_or("stable");
    let Some(head) = freshness.offer(channel, Some(&inner.install_id)) else {
        tracing::debug!(channel, "the freshness document offers this install nothing");
        return Ok(None);
    };
    if !head.version.is_update_over(&inner.current) {
        tracing::debug!(offered = %head.version, current = %inner.current, "not newer: no update");
        return Ok(None);
    }
    if crate::rollback::is_rejected(inner, &head.version) {
        tracing::info!(offered = %head.version, "this version was rolled back here before: not offered again");
        return Ok(None);
    }
    let version = head.version.to_string();
    let release_url = join(base, &["channels", channel, "releases", &format!("{version}.json")])?;
    let release_envelope = envelope(inner, &release_url).await?;
    let release = state.check_release(&freshness, channel, &release_envelope).map_err(untrusted)?;
    let artifact = release.release.artifact(&inner.target).map_err(|source| Error::NoArtifactForTarget {
        version: version.clone(),
        target: inner.target,
        source: Box::new(source),
    })?;
    // Fails now, before any download, if the artifact's signature is unusable or for another version.
    release.artifact_check(&inner.target).map_err(untrusted)?;
    let artifact = artifact.clone();
    let url = join(base, &["files", &version, &artifact.target.to_string(), &artifact.file])?;
    let mut state_after = state;
    state_after.record(&release);
    Ok(Some(Vouched { release, artifact, url, state_after }))
}

/// The deltas the tree offers to the vouched release's artifact (its deltas index, docs/protocol.md §9). A delta is
/// only a shortcut to the same signed artifact, so a missing or unreadable index (a server or mirror without deltas)
/// means none: one debug line, and the full download.
pub(crate) async fn deltas(inner: &Inner, base: &url::Url, vouched: &Vouched) -> Vec<DeltaOffer> {
    let (version, target) = (vouched.release.release.version.to_string(), vouched.artifact.target.to_string());
    let listed = async {
        let index = join(base, &delta::index_segments(&version, &target).each_ref().map(String::as_str))?;
        let body = crate::check::fetch_document(inner, &index).await?;
        // Each delta is the file beside the index, named by its base's hash (and an alternative's form).
        let url_of = |from: &delta::Blake2b256, form: Option<delta::DeltaForm>| {
            let name = delta::delta_file_name(from, form);
            let url = index.join(&name).map_err(|source| millennium_update_protocol::Error::InvalidUrl {
                field: "deltas[].from".into(),
                value: name,
                source,
            })?;
            ArtifactUrl::parse(url.as_str())
        };
        let offers = delta::parse_index(&body, &url_of).map_err(untrusted)?;
        Ok(offers.iter().map(|offer| offer.for_forms(delta::DeltaForms::ALL)).collect())
    };
    listed.await.unwrap_or_else(|e: Error| {
        tracing::debug!(error = %crate::Report::new(&e), "no deltas index: the full artifact will be downloaded");
        Vec::new()
    })
}
