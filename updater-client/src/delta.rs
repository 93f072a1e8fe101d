//! Delta updates (docs/protocol.md §9): download kilobytes instead of the whole artifact, with no new trust.
//!
//! # The base
//!
//! A delta rebuilds the new artifact from the old one, so the updater needs the artifact it installed, byte for byte:
//!
//! - an AppImage or a plain executable **is** its artifact: the file on disk is the base;
//! - a `.deb`, `.rpm`, `.app.tar.gz`, `.msi` or NSIS install unpacks its artifact, so the updater keeps **one**
//!   verified copy of the last artifact it installed in the state directory (`delta-base/artifact`, with its target,
//!   size and BLAKE2b-256 in `delta-base/artifact.json`), replaced atomically at every install. That costs one
//!   artifact's size on disk; an install made by other means (the first one, from the website) has no copy yet, so
//!   its first update is a full download.
//!
//! The check names the base's BLAKE2b-256 in `X-Millennium-Installed`; a Millennium server then lists the delta from
//! exactly that artifact, if it has one.
//!
//! # No new trust
//!
//! The delta is downloaded to the downloads directory (capped at its announced size, at the signed size of the full
//! artifact when the metadata states one, and at the configured maximum), its hash is compared with the announced
//! one, `millennium_delta::apply` rebuilds the artifact into a temporary file (refusing a wrong base, a corrupt delta
//! and a result larger than the cap), and the result goes through **the same check as a full download**: the
//! artifact's signature by a pinned key (or the signed metadata's size, hash and signature) and the platform check.
//! Any failure, whatever it is (delta error, `404`, wrong base, verification failure, too big), is one log line and
//! one [`crate::Progress`] event with [`crate::Transfer::DeltaFailed`], and the full artifact is downloaded.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt;
use millennium_update_protocol::delta::{Blake2b256, DeltaOffer};
use reqwest::header::{self, HeaderMap};

use crate::download::{DownloadedUpdate, Progress, Transfer};
use crate::error::{Error, Result};
use crate::install::InstallKind;
use crate::updater::{Inner, Update};
use crate::{fs, verify};

/// The directory of the base copy, in the state directory.
const BASE_DIR: &str = "delta-base";
const BASE_FILE: &str = "artifact";
const BASE_RECORD: &str = "artifact.json";

/// The installed artifact a delta can apply to.
#[derive(Debug, Clone)]
pub(crate) struct Base {
    pub(crate) path: PathBuf,
    pub(crate) hash: Blake2b256,
}

/// What `delta-base/artifact.json` says about the copy.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct BaseRecord {
    target: String,
    size: u64,
    blake2b_256: String,
}

/// A delta the updater will try before the full download.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) offer: DeltaOffer,
    pub(crate) base: PathBuf,
}

fn hash_file(path: &Path) -> Result<(u64, Blake2b256)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("read", path, e))?;
    let (size, hex) = millennium_update_protocol::metadata::blake2b_256_reader(std::io::BufReader::new(file))
        .map_err(|e| Error::io("read", path, e))?;
    let hash = Blake2b256::parse_hex(&hex, "hash")
        .map_err(|e| Error::CorruptState { path: path.to_owned(), reason: e.to_string() })?;
    Ok((size, hash))
}

/// The base this install has, if any (blocking: hashes the AppImage or executable).
fn base_blocking(inner: &Inner) -> Result<Option<Base>> {
    match &inner.install {
        InstallKind::Executable { path } | InstallKind::AppImage { path } => {
            let (_, hash) = hash_file(path)?;
            Ok(Some(Base { path: path.clone(), hash }))
        }
        _ => {
            let dir = inner.state.root().join(BASE_DIR);
            let record_path = dir.join(BASE_RECORD);
            let Ok(bytes) = std::fs::read(&record_path) else { return Ok(None) };
            let record: BaseRecord = serde_json::from_slice(&bytes)
                .map_err(|e| Error::CorruptState { path: record_path.clone(), reason: e.to_string() })?;
            let path = dir.join(BASE_FILE);
            let size = std::fs::metadata(&path).map(|m| m.len()).ok();
            // A copy of another target's artifact (the app was reconfigured) or a damaged one is no base. Its hash is
            // checked again when a delta is applied.
            if record.target != inner.target.to_string() || size != Some(record.size) {
                return Ok(None);
            }
            let hash = Blake2b256::parse_hex(&record.blake2b_256, "blake2b_256")
                .map_err(|e| Error::CorruptState { path: record_path, reason: e.to_string() })?;
            Ok(Some(Base { path, hash }))
        }
    }
}

/// The base this install has; `None` (logged) when there is none or it cannot be read: the check goes on without.
pub(crate) async fn base(inner: &Arc<Inner>) -> Option<Base> {
    let task_inner = inner.clone();
    match tokio::task::spawn_blocking(move || base_blocking(&task_inner)).await {
        Ok(Ok(base)) => base,
        Ok(Err(e)) => {
            tracing::info!(error = %crate::Report::new(&e), "no base for delta updates");
            None
        }
        Err(e) => {
            tracing::info!(error = %e, "no base for delta updates");
            None
        }
    }
}

/// Keeps a verified artifact that is being installed as the base of the next delta (bundle installs only: an
/// AppImage or executable is its own base). Replaces the previous copy atomically; never fails the install.
pub(crate) fn keep_base(inner: &Inner, verified: &Path) {
    if matches!(inner.install, InstallKind::Executable { .. } | InstallKind::AppImage { .. }) {
        return;
    }
    if let Err(e) = keep_base_inner(inner, verified) {
        tracing::warn!(error = %crate::Report::new(&e), "could not keep the installed artifact as the base of delta updates");
    }
}

fn keep_base_inner(inner: &Inner, verified: &Path) -> Result<()> {
    inner.state.ensure()?;
    let dir = inner.state.root().join(BASE_DIR);
    fs::create_private_dir(&dir)?;
    let record_path = dir.join(BASE_RECORD);
    let target = dir.join(BASE_FILE);
    // Without its record the copy is no base: a crash between the two steps leaves none rather than a wrong one.
    fs::remove_if_exists(&record_path)?;
    let mut staged = tempfile::Builder::new()
        .prefix(".artifact-")
        .tempfile_in(&dir)
        .map_err(|e| Error::io("create a file in", &dir, e))?;
    let mut source = std::fs::File::open(verified).map_err(|e| Error::io("read", verified, e))?;
    let mut hasher = HashingWriter { inner: staged.as_file_mut(), state: blake2b(), size: 0 };
    std::io::copy(&mut source, &mut hasher).map_err(|e| Error::io("write", &target, e))?;
    let (size, hash) = (hasher.size, hex::encode(hasher.state.finalize().as_bytes()));
    staged.as_file().sync_all().map_err(|e| Error::io("write", &target, e))?;
    staged.persist(&target).map_err(|e| Error::io("write", &target, e.error))?;
    let record = BaseRecord { target: inner.target.to_string(), size, blake2b_256: hash };
    let text = serde_json::to_vec(&record)
        .map_err(|e| Error::CorruptState { path: record_path.clone(), reason: e.to_string() })?;
    fs::write_atomic(&record_path, &text)
}

fn blake2b() -> blake2b_simd::State {
    blake2b_simd::Params::new().hash_length(32).to_state()
}

struct HashingWriter<'a> {
    inner: &'a mut std::fs::File,
    state: blake2b_simd::State,
    size: u64,
}

impl Write for HashingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.state.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The delta from `base` among `offers`, if the server lists one and its URL may be fetched.
pub(crate) fn choose(inner: &Inner, offered_by: &url::Url, base: Option<&Base>, offers: &[DeltaOffer]) -> Option<Plan> {
    let base = base?;
    let offer = offers.iter().find(|offer| offer.from == base.hash)?;
    if let Err(e) = crate::http::check_named_url(inner, offered_by, offer.url.as_url(), offered_by.scheme() == "https")
    {
        tracing::warn!(error = %crate::Report::new(&e), "the delta's URL is refused; the full artifact will be downloaded");
        return None;
    }
    Some(Plan { offer: offer.clone(), base: base.path.clone() })
}

/// Downloads the delta, applies it and verifies the result as a full download; `Err` means: download the full
/// artifact instead.
pub(crate) async fn download(
    update: &Update,
    plan: &Plan,
    check: &Arc<verify::Check>,
    verified: &Path,
    progress: &mut (impl FnMut(Progress) + Send),
) -> Result<DownloadedUpdate> {
    let inner = update.updater.inner.clone();
    let dir = inner.state.downloads()?;
    let delta_path = fs::with_suffix(verified, ".delta");
    let result_path = fs::with_suffix(verified, ".delta-result");
    let outcome = async {
        let cap = cap(update);
        if plan.offer.size > cap {
            return Err(Error::TooLarge { url: plan.offer.url.to_string(), size: plan.offer.size, limit: cap });
        }
        fetch(&inner, update, plan, &delta_path, progress).await?;
        let (base, delta, result) = (plan.base.clone(), delta_path.clone(), result_path.clone());
        let max_result = update.size().unwrap_or(inner.limits.max_download_size);
        let check = check.clone();
        let task_inner = inner.clone();
        tokio::task::spawn_blocking(move || -> Result<()> {
            millennium_delta::apply(&base, &delta, &result, max_result).map_err(|source| Error::Delta { source })?;
            // The same check as a full download: signature (or signed size and hash) and platform.
            verify::check_file(&check, &task_inner.install, &result, |_| Ok(()))
        })
        .await
        .map_err(|e| Error::Io {
            action: "apply the delta to",
            path: plan.base.clone(),
            source: std::io::Error::other(e.to_string()),
        })??;
        std::fs::rename(&result_path, verified).map_err(|e| Error::io("rename", &result_path, e))?;
        fs::sync_dir(&dir);
        Ok(())
    }
    .await;
    let _ = std::fs::remove_file(&delta_path);
    if let Err(e) = outcome {
        let _ = std::fs::remove_file(&result_path);
        return Err(e);
    }
    Ok(DownloadedUpdate {
        inner,
        path: verified.to_owned(),
        version: update.version.clone(),
        owned: true,
        check: check.clone(),
        vouched: update.vouched.clone(),
        min_webview: update.min_webview.clone(),
    })
}

/// The most a delta download may be: its announced size is checked against this, and no more bytes are read than it
/// announced. The signed full size when the metadata states one (a delta never has to be larger), else the maximum
/// download size.
fn cap(update: &Update) -> u64 {
    let limit = update.updater.inner.limits.max_download_size;
    update.size().map_or(limit, |signed| signed.min(limit))
}

async fn fetch(
    inner: &Inner,
    update: &Update,
    plan: &Plan,
    path: &Path,
    progress: &mut (impl FnMut(Progress) + Send),
) -> Result<()> {
    let url = plan.offer.url.as_str();
    let mut headers = HeaderMap::new();
    headers.insert(header::ACCEPT, header::HeaderValue::from_static("application/octet-stream"));
    let response = crate::http::get(inner, plan.offer.url.as_url(), &update.offered_by, headers).await?;
    let status = response.status();
    if !status.is_success() {
        return Err(Error::HttpStatus { url: url.to_owned(), status: status.as_u16() });
    }
    crate::check::reject_html(url, response.headers(), "a delta")?;
    let limit = plan.offer.size;
    if response.content_length().is_some_and(|length| length != limit) {
        return Err(Error::ServerMisbehaved {
            url: url.to_owned(),
            what: format!("the delta is announced as {limit} bytes, the server sends {:?}", response.content_length()),
        });
    }
    let mut file = std::fs::File::create(path).map_err(|e| Error::io("create", path, e))?;
    let mut hash = blake2b();
    let mut have = 0u64;
    let total = Some(limit);
    progress(Progress { downloaded: 0, total, transfer: Transfer::Delta });
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Error::network(url, &e))?;
        if have + chunk.len() as u64 > limit {
            return Err(Error::TooMuchData { url: url.to_owned(), limit });
        }
        file.write_all(&chunk).map_err(|e| Error::io("write", path, e))?;
        hash.update(&chunk);
        have += chunk.len() as u64;
        progress(Progress { downloaded: have, total, transfer: Transfer::Delta });
    }
    if have != limit {
        return Err(Error::Truncated {
            url: url.to_owned(),
            received: have,
            expected: limit,
            cause: "the delta ended early".into(),
        });
    }
    if hash.finalize().as_bytes() != plan.offer.blake2b_256.0 {
        return Err(Error::ServerMisbehaved {
            url: url.to_owned(),
            what: "the delta's hash differs from the announced one".into(),
        });
    }
    Ok(())
}
