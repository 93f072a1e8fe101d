//! Downloading an artifact: streamed, size-capped, resumable, then verified.
//!
//! # Algorithm
//!
//! Files live in the state directory's `downloads/` (private to the user), named after the version and target:
//!
//! - `<version>-<target>.part`: the bytes received so far;
//! - `<version>-<target>.part.json`: the URL and version they belong to, and the server's validator (`ETag`, else
//!   `Last-Modified`) and announced size;
//! - `<version>-<target>.verified`: the complete file, renamed from `.part` only after it verified.
//!
//! An attempt sends `Range: bytes=<have>-` and `If-Range: <validator>` when a matching `.part` exists (also one left by
//! an earlier run of the app). `206` with a `Content-Range` starting at `<have>` appends; `200` means the server ignores
//! ranges or the file changed (the validator no longer matches), so the `.part` is truncated and the download restarts
//! cleanly; `416` restarts too. A weak `ETag` (`W/…`) is never used for `If-Range` (RFC 9110 forbids it).
//!
//! The size the server announces (`Content-Length`, or the total in `Content-Range`) is a hard limit: one byte more and
//! the download is cut off and discarded ([`Error::TooMuchData`]); without an announced size the configured maximum
//! applies. A body that ends early is resumed, up to the configured number of attempts, then reported as
//! [`Error::Truncated`] (the `.part` is kept for next time). A server that dribbles data is cut off by the
//! minimum-speed rule, one that goes silent by the read timeout.
//!
//! The `.part` file's space is reserved ahead of the writes (`fallocate`, keeping its length), which spares the file
//! system allocating as it goes and reports a full disk early. Only what is known is reserved: the size the signed
//! metadata states, all of it before the first byte; a size that only the server announces (a Tauri check), which a
//! hostile server could set to the size limit to fill the disk with nothing, ahead of the bytes that actually arrive,
//! in steps that at most double what arrived (at least 8 MiB ahead, never past the announced end); without an
//! announced size, nothing.
//!
//! Memory stays constant: chunks go to a writer thread and, at the same time, to the signature check
//! running on another thread (see [`crate::verify::StreamVerifier`]), so hashing overlaps the transfer. Only when the
//! file is complete and the check passed (signature, signed version, platform) is it renamed to `.verified`; a file
//! that fails is deleted.

use std::io::{Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};

use crate::Report;
use crate::error::{Error, Result, chain};
use crate::updater::{Inner, Update};
use crate::{fs, verify};

/// Download progress, reported after every chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Bytes on disk so far (including those of a resumed earlier attempt).
    pub downloaded: u64,
    /// The total size, when the server announced it.
    pub total: Option<u64>,
}

/// A downloaded and verified artifact, kept in the state directory until installed.
#[derive(Debug, Clone)]
pub struct DownloadedUpdate {
    pub(crate) inner: Arc<Inner>,
    pub(crate) path: PathBuf,
    pub(crate) version: millennium_update_protocol::Version,
    /// Whether the file is ours (in the state directory) to delete once installed.
    pub(crate) owned: bool,
    /// What vouched for the file: the install checks the bytes it installs against it once more.
    pub(crate) check: Arc<verify::Check>,
    /// The signed metadata's release, recorded in the trust state once installed.
    pub(crate) vouched: Option<Arc<crate::metadata::Vouched>>,
    /// The oldest webview the release works with, per backend; this platform's is checked before installing.
    pub(crate) min_webview: millennium_update_protocol::webview::WebviewMinimums,
}

impl DownloadedUpdate {
    /// The verified file. Whatever writes to it after the verification gains nothing: the install checks the bytes it
    /// installs once more as it reads them, and refuses a changed file ([`Error::ChangedAfterVerification`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its version.
    pub fn version(&self) -> &millennium_update_protocol::Version {
        &self.version
    }

    /// Installs it (blocking file operations; from async code use [`Update::download_and_install`] or
    /// `spawn_blocking`). See [`crate::install`].
    pub fn install(&self) -> Result<()> {
        self.install_with(&self.inner)
    }

    /// For a macOS `.app` this user cannot replace ([`Error::NeedsAdministrator`](crate::Error::NeedsAdministrator)):
    /// installs it with an administrator's rights, after asking for their password (macOS's own dialog; `pkexec`
    /// elsewhere). Unpacked and checked as this user first; only the copy and swap run privileged. Not rolled back
    /// automatically (the old bundle stays at `<Name>.app.previous`). See `src/install/app_admin.rs`.
    ///
    /// # Errors
    ///
    /// Not a `.app` install, the archive refused, or the privileged step cancelled or failed (nothing changed).
    pub fn install_as_admin(&self) -> Result<()> {
        crate::webview::ensure(
            &self.inner.webview_policy,
            &self.inner.install,
            &self.version.to_string(),
            &self.min_webview,
        )?;
        crate::install::install_as_admin(&self.inner, self)
    }

    /// Installs this update when the app quits instead of now: nothing changes until the app calls
    /// [`crate::Updater::apply_pending_on_exit`] from its quit path (see `src/install/on_exit.rs`). Replaces an update
    /// scheduled earlier.
    pub fn install_on_exit(self) {
        crate::install::on_exit::schedule(self);
    }

    /// For an NSIS or MSI install: the command line [`DownloadedUpdate::install`] runs on Windows to install this
    /// verified installer over the app (see `src/install/windows_installer.rs`). `None` for other installs.
    pub fn installer_command(&self) -> Option<crate::install::InstallerCommand> {
        crate::install::installer_command(&self.inner.install, &self.path).ok()
    }

    /// The oldest version of this platform's webview the release works with, if it declares one.
    pub fn min_webview_version(&self) -> Option<&millennium_webview_probe::WebviewVersion> {
        self.min_webview.get(millennium_webview_probe::Backend::current())
    }

    pub(crate) fn install_with(&self, inner: &Inner) -> Result<()> {
        crate::webview::ensure(&inner.webview_policy, &inner.install, &self.version.to_string(), &self.min_webview)?;
        crate::install::install(inner, self)?;
        if let Some(vouched) = &self.vouched
            && let Err(e) = vouched.record_installed(inner)
        {
            // The update is in place; only the rollback floor stays one release lower until the next install.
            tracing::warn!(error = %Report::new(&e), "could not record the installed release in the trust state");
        }
        Ok(())
    }
}

/// What a `.part` file belongs to.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct PartRecord {
    url: String,
    version: String,
    etag: Option<String>,
    last_modified: Option<String>,
    total: Option<u64>,
}

impl PartRecord {
    /// The validator for `If-Range`: a strong ETag, else Last-Modified.
    fn validator(&self) -> Option<&str> {
        self.etag.as_deref().filter(|e| !e.starts_with("W/")).or(self.last_modified.as_deref())
    }
}

struct Paths {
    part: PathBuf,
    record: PathBuf,
    verified: PathBuf,
}

pub(crate) async fn download(update: &Update, mut progress: impl FnMut(Progress) + Send) -> Result<DownloadedUpdate> {
    let inner = update.updater.inner.clone();
    let dir = inner.state.downloads()?;
    let stem: String = format!("{}-{}", update.version, inner.target)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' })
        .collect();
    let paths = Paths {
        part: dir.join(format!("{stem}.part")),
        record: dir.join(format!("{stem}.part.json")),
        verified: dir.join(format!("{stem}.verified")),
    };
    fs::remove_if_exists(&paths.verified)?;
    let mut record =
        load_record(&paths.record).filter(|r| r.url == update.url.as_str() && r.version == update.version.to_string());
    if record.is_none() {
        fs::remove_if_exists(&paths.part)?;
    }

    let check = Arc::new(match &update.vouched {
        // The release document names the artifact's key, size and hash; the root names the release keys.
        Some(vouched) => verify::Check::Vouched(vouched.clone(), inner.target),
        None => {
            let key = verify::check_signature_shape(&inner.keys, &update.signature)?.clone();
            verify::check_signed_version(&update.signature, &update.version, inner.require_signed_version)?;
            verify::Check::Pinned(key, Box::new(update.signature.clone()))
        }
    });

    let mut attempt = 0;
    let verifier = loop {
        attempt += 1;
        match fetch(&inner, update, &check, &paths, &mut record, &mut progress).await {
            Ok(verifier) => break verifier,
            Err(e) if attempt < inner.limits.download_attempts && worth_retrying(&e) => {
                tracing::warn!(attempt, error = %Report::new(&e), "download interrupted; resuming");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
            Err(e) => return Err(e),
        }
    };
    let verdict = match verifier.finish().await {
        Ok(()) => verify::check_platform(&inner.install, &paths.part),
        Err(e) => Err(e),
    };
    if let Err(e) = verdict {
        discard(&paths);
        return Err(e);
    }
    std::fs::rename(&paths.part, &paths.verified).map_err(|e| Error::io("rename", &paths.part, e))?;
    fs::remove_if_exists(&paths.record)?;
    fs::sync_dir(&dir);
    Ok(DownloadedUpdate {
        inner,
        path: paths.verified,
        version: update.version.clone(),
        owned: true,
        check,
        vouched: update.vouched.clone(),
        min_webview: update.min_webview.clone(),
    })
}

fn worth_retrying(e: &Error) -> bool {
    match e {
        Error::Network { .. } | Error::Timeout { .. } | Error::Truncated { .. } => true,
        Error::HttpStatus { status, .. } => *status >= 500,
        _ => false,
    }
}

fn discard(paths: &Paths) {
    let _ = std::fs::remove_file(&paths.part);
    let _ = std::fs::remove_file(&paths.record);
}

fn load_record(path: &Path) -> Option<PartRecord> {
    let text = std::fs::read(path).ok()?;
    serde_json::from_slice(&text).ok()
}

fn save_record(path: &Path, record: &PartRecord) -> Result<()> {
    let text =
        serde_json::to_vec(record).map_err(|e| Error::CorruptState { path: path.to_owned(), reason: e.to_string() })?;
    fs::write_atomic(path, &text)
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

/// `Content-Range: bytes <start>-<end>/<total>` → (start, end, total).
fn parse_content_range(value: &str) -> Option<(u64, u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let total = if total == "*" { None } else { Some(total.parse().ok()?) };
    let (start, end) = (start.parse().ok()?, end.parse().ok()?);
    (start <= end).then_some((start, end, total))
}

/// One request: resumes or restarts `paths.part` and streams into it.
async fn fetch(
    inner: &Inner,
    update: &Update,
    check: &verify::Check,
    paths: &Paths,
    record: &mut Option<PartRecord>,
    progress: &mut (impl FnMut(Progress) + Send),
) -> Result<verify::StreamVerifier> {
    let url = update.url.as_str();
    let mut have = match std::fs::metadata(&paths.part) {
        Ok(m) => m.len(),
        Err(_) => 0,
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::ACCEPT, header::HeaderValue::from_static("application/octet-stream"));
    // A validator that is not a valid header value cannot be sent back: start over then.
    let validator = record.as_ref().and_then(|r| r.validator()).and_then(|v| header::HeaderValue::from_str(v).ok());
    let range = header::HeaderValue::try_from(format!("bytes={have}-")).ok();
    match (validator, range) {
        (Some(validator), Some(range)) if have > 0 => {
            tracing::debug!(have, ?validator, "resuming download");
            headers.insert(header::RANGE, range);
            headers.insert(header::IF_RANGE, validator);
        }
        _ => have = 0,
    }
    let response = crate::http::get(inner, &update.url, &update.offered_by, headers).await?;
    let status = response.status();
    let headers = response.headers().clone();
    let total = match status {
        StatusCode::PARTIAL_CONTENT if have > 0 => {
            let range = header_text(&headers, header::CONTENT_RANGE).and_then(|v| parse_content_range(&v));
            match range {
                Some((start, end, total)) if start == have && total.is_none_or(|t| end + 1 == t) => {
                    total.or(Some(end + 1))
                }
                _ => {
                    // Not the range we asked for: start over rather than guess.
                    discard(paths);
                    *record = None;
                    return Err(Error::Network {
                        url: url.to_owned(),
                        cause: format!(
                            "the server answered the resume request with another range ({}); restarting the download",
                            header_text(&headers, header::CONTENT_RANGE).unwrap_or_default()
                        ),
                    });
                }
            }
        }
        StatusCode::OK => {
            if have > 0 {
                tracing::info!("server sent the whole file (file changed or ranges unsupported); restarting");
            }
            have = 0;
            response.content_length()
        }
        StatusCode::RANGE_NOT_SATISFIABLE => {
            discard(paths);
            *record = None;
            return Err(Error::Network {
                url: url.to_owned(),
                cause: "the server refused to resume (416); restarting the download".into(),
            });
        }
        s if !s.is_success() => return Err(Error::HttpStatus { url: url.to_owned(), status: s.as_u16() }),
        s => {
            return Err(Error::ServerMisbehaved {
                url: url.to_owned(),
                what: format!("unexpected status {} for a download", s.as_u16()),
            });
        }
    };
    crate::check::reject_html(url, &headers, "an update artifact")?;
    if let Some(total) = total
        && total > inner.limits.max_download_size
    {
        return Err(Error::TooLarge { url: url.to_owned(), size: total, limit: inner.limits.max_download_size });
    }
    let mut limit = total.unwrap_or(inner.limits.max_download_size);
    if let Some(vouched) = &update.vouched {
        let signed = vouched.artifact.size;
        if total.is_some_and(|total| total > signed) {
            return Err(Error::Untrusted {
                source: Box::new(millennium_update_protocol::Error::EndlessData { expected: signed }),
            });
        }
        limit = signed;
    }

    let new_record = PartRecord {
        url: url.to_owned(),
        version: update.version.to_string(),
        etag: header_text(&headers, header::ETAG),
        last_modified: header_text(&headers, header::LAST_MODIFIED),
        total,
    };
    save_record(&paths.record, &new_record)?;
    *record = Some(new_record);

    let file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(false)
        .open(&paths.part)
        .map_err(|e| Error::io("create", &paths.part, e))?;
    file.set_len(have).map_err(|e| Error::io("write", &paths.part, e))?;
    let reserve = match (&update.vouched, total) {
        (Some(vouched), _) => Reserve::Signed(vouched.artifact.size),
        (None, Some(total)) => Reserve::AsItArrives(total),
        (None, None) => Reserve::Nothing,
    };
    let out = PartWriter::start(file, reserve);
    let verifier = verify::StreamVerifier::start(check.start()?, &paths.part, have)?;
    let io = |e| Error::io("write", &paths.part, e);

    progress(Progress { downloaded: have, total });
    let mut stream = response.bytes_stream();
    let mut window_start = Instant::now();
    let mut window_bytes = 0u64;
    let result = loop {
        let Some(chunk) = stream.next().await else { break Ok(()) };
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                let cause = chain(&e);
                break Err(match total {
                    _ if e.is_timeout() => {
                        Error::Timeout { url: url.to_owned(), what: format!("no data for a while ({cause})") }
                    }
                    Some(expected) => Error::Truncated { url: url.to_owned(), received: have, expected, cause },
                    None => Error::Network { url: url.to_owned(), cause },
                });
            }
        };
        if have + chunk.len() as u64 > limit {
            let _ = out.finish().await;
            discard(paths);
            *record = None;
            return Err(Error::TooMuchData { url: url.to_owned(), limit });
        }
        let len = chunk.len() as u64;
        if !out.write(chunk.clone()).await {
            break Ok(()); // the writer failed; `finish` says why
        }
        verifier.feed(chunk).await;
        have += len;
        window_bytes += len;
        progress(Progress { downloaded: have, total });
        let elapsed = window_start.elapsed();
        if elapsed >= inner.limits.min_speed_window {
            if window_bytes < inner.limits.min_speed_bytes {
                break Err(Error::Timeout {
                    url: url.to_owned(),
                    what: format!(
                        "only {window_bytes} bytes in {elapsed:.1?}, below the minimum of {} bytes per {:?}",
                        inner.limits.min_speed_bytes, inner.limits.min_speed_window
                    ),
                });
            }
            window_start = Instant::now();
            window_bytes = 0;
        }
    };
    // Keep what arrived, whatever happened. When the download is incomplete, make it durable for resuming; a complete
    // one is verified and copied next (the copy is what gets fsynced), so syncing it here would only cost time.
    let file = out.finish().await.map_err(io)?;
    let incomplete = result.is_err() || total.is_some_and(|expected| have < expected);
    if incomplete {
        file.sync_all().map_err(io)?;
    }
    result?;
    if let Some(expected) = total
        && have < expected
    {
        return Err(Error::Truncated {
            url: url.to_owned(),
            received: have,
            expected,
            cause: "the connection closed early".into(),
        });
    }
    Ok(verifier)
}

/// How much of the `.part` file's space to reserve (see the module docs), as an end offset.
#[derive(Debug, Clone, Copy)]
enum Reserve {
    /// No size is known: the file system allocates as the bytes are written.
    Nothing,
    /// The signed metadata states the size: all of it, before the first byte.
    Signed(u64),
    /// Only the server announces the size, which nothing vouches for: ahead of what arrived, in steps that at most
    /// double it, never past the announced end.
    AsItArrives(u64),
}

/// The first step of a [`Reserve::AsItArrives`] reservation, and the least any step reserves ahead.
const RESERVE_STEP: u64 = 8 << 20;

impl Reserve {
    /// The end offset to reserve up to before writing `len` bytes at `at`, when it is past `reserved`.
    fn next(self, reserved: u64, at: u64, len: u64) -> Option<u64> {
        let end = match self {
            Reserve::Nothing => return None,
            Reserve::Signed(end) => end,
            Reserve::AsItArrives(end) => end.min((at + len).max(at.saturating_mul(2)).max(at + RESERVE_STEP)),
        };
        (end > reserved).then_some(end)
    }
}

/// Appends the chunks of a download to its `.part` file on a blocking thread, so the download loop never waits on the
/// disk (tokio's `File` would hop to the blocking pool per write and copy every chunk once more). Chunks are written
/// as they come, unbuffered: on a fast link they are hundreds of KiB each, and a buffer would only copy every byte once
/// more; on a slow link the number of writes does not matter. The file's space is reserved here too, ahead of the
/// writes ([`Reserve`]).
///
/// A download abandoned midway (its future dropped: a timeout around it, a cancelled call of the C ABI) must not leave
/// the thread writing behind it: a download started right after would resume from a `.part` file still growing. So
/// dropping an unfinished writer waits (blocking, for at most the few queued chunks) until its thread has stopped.
struct PartWriter {
    /// `None` once [`PartWriter::finish`] took it.
    sender: Option<tokio::sync::mpsc::Sender<bytes::Bytes>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<std::fs::File>>>,
    /// Disconnected when the writer thread ends (it owns the other side).
    stopped: std::sync::mpsc::Receiver<()>,
}

impl PartWriter {
    fn start(mut file: std::fs::File, reserve: Reserve) -> Self {
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<bytes::Bytes>(16);
        let (running, stopped) = std::sync::mpsc::channel::<()>();
        let task = tokio::task::spawn_blocking(move || {
            let _running = running;
            let mut at = file.seek(std::io::SeekFrom::End(0))?;
            let mut reserved = at;
            if let Reserve::Signed(_) = reserve {
                reserved = reserve_to(&file, reserved, reserve.next(reserved, at, 0))?;
            }
            while let Some(chunk) = receiver.blocking_recv() {
                let len = chunk.len() as u64;
                if at + len > reserved {
                    reserved = reserve_to(&file, reserved, reserve.next(reserved, at, len))?;
                }
                file.write_all(&chunk)?;
                at += len;
            }
            Ok(file)
        });
        Self { sender: Some(sender), task: Some(task), stopped }
    }

    /// Queues a chunk; `false` when the writer has stopped on an error, which [`PartWriter::finish`] returns.
    async fn write(&self, chunk: bytes::Bytes) -> bool {
        match &self.sender {
            Some(sender) => sender.send(chunk).await.is_ok(),
            None => false,
        }
    }

    /// Writes out what is queued and returns the file.
    async fn finish(mut self) -> std::io::Result<std::fs::File> {
        drop(self.sender.take());
        // The task stays in `self` while awaited: dropped during this wait, `Drop` still waits for the thread.
        let Some(task) = self.task.as_mut() else { return Err(std::io::Error::other("the writer is gone")) };
        let result = task.await;
        self.task = None;
        result.map_err(std::io::Error::other)?
    }
}

impl Drop for PartWriter {
    fn drop(&mut self) {
        if self.task.is_some() {
            // Abandoned: close the queue, then wait until the thread has written what was queued and stopped.
            drop(self.sender.take());
            let _ = self.stopped.recv();
        }
    }
}

/// Reserves the space from `reserved` up to `end` (when given) and returns the new reserved end.
fn reserve_to(file: &std::fs::File, reserved: u64, end: Option<u64>) -> std::io::Result<u64> {
    let Some(end) = end else { return Ok(reserved) };
    fs::preallocate(file, reserved, end - reserved)?;
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_range() {
        assert_eq!(parse_content_range("bytes 10-99/100"), Some((10, 99, Some(100))));
        assert_eq!(parse_content_range("bytes 10-99/*"), Some((10, 99, None)));
        assert_eq!(parse_content_range("bytes 99-10/100"), None);
        assert_eq!(parse_content_range("items 1-2/3"), None);
    }

    #[test]
    fn an_announced_size_is_reserved_only_ahead_of_what_arrived() {
        const MIB: u64 = 1 << 20;
        let announced = Reserve::AsItArrives(4096 * MIB);
        assert_eq!(announced.next(0, 0, 16 * 1024), Some(8 * MIB));
        assert_eq!(announced.next(8 * MIB, 8 * MIB, MIB), Some(16 * MIB));
        assert_eq!(announced.next(16 * MIB, 16 * MIB, MIB), Some(32 * MIB));
        assert_eq!(announced.next(0, 100 * MIB, MIB), Some(200 * MIB), "a resumed download");
        assert_eq!(Reserve::AsItArrives(10 * MIB).next(8 * MIB, 8 * MIB, MIB), Some(10 * MIB), "never past the end");
        assert_eq!(Reserve::AsItArrives(10 * MIB).next(10 * MIB, 9 * MIB, MIB), None);
        assert_eq!(Reserve::Signed(4096 * MIB).next(0, 0, 0), Some(4096 * MIB), "signed: all of it at once");
        assert_eq!(Reserve::Signed(4096 * MIB).next(4096 * MIB, 0, MIB), None);
        assert_eq!(Reserve::Nothing.next(0, 0, MIB), None);
    }

    #[test]
    fn weak_etags_are_not_validators() {
        let mut r = PartRecord {
            url: String::new(),
            version: String::new(),
            etag: Some("W/\"x\"".into()),
            last_modified: Some("Tue, 01 Jan 2030 00:00:00 GMT".into()),
            total: None,
        };
        assert_eq!(r.validator(), Some("Tue, 01 Jan 2030 00:00:00 GMT"));
        r.etag = Some("\"x\"".into());
        assert_eq!(r.validator(), Some("\"x\""));
    }
}
