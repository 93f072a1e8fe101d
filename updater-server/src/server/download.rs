//! Artifact downloads: `GET`/`HEAD /download/{app}/{version}/{target}/{file}`, streamed from the stored file, and
//! delta downloads (`…/{target}/delta/{from}`, docs/protocol.md §9), served the same way.
//!
//! - `ETag` is the quoted SHA-256 of the content (strong: same bytes, same tag), `Last-Modified` the release's
//!   publication time; `If-None-Match` answers `304`.
//! - One `Range` (`bytes=a-b`, `bytes=a-`, `bytes=-n`) answers `206` with `Content-Range`; a range that starts past the
//!   end answers `416` with `Content-Range: bytes */size`; several ranges, or a syntax we do not know, are ignored
//!   and the whole file is sent (RFC 9110 allows that). `If-Range` with another validator also sends the whole file.
//! - The URL names an immutable artifact, so it may be cached for a year.
//! - Yanked releases answer `410 Gone`.
//!
//! The body is read in chunks from the store (constant memory): from the file, or with a ranged `GET` from the object
//! store. A file's answer also carries a [`SendFile`] extension, with which the HTTP front sends it by `sendfile(2)`
//! instead ([`super::front`]); deltas are files too and go the same way. With an object store and `--s3-downloads redirect`, a `GET` (after the `304` check) is answered with `302`
//! to a presigned URL instead, and the object store serves the bytes (and the `Range`) itself.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use futures_util::TryStreamExt;
use millennium_update_protocol::delta::{self, Blake2b256};
use millennium_update_protocol::{Target, Version};

use super::front::SendFile;
use super::{AppState, DownloadMode};
use crate::db::ReleaseRow;
use crate::error::{Error, Result};
use crate::names::{AppId, check_file_name};

/// A byte range to send, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

/// What a `Range` header asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable range: send everything.
    Full,
    /// One satisfiable range.
    Partial(ByteRange),
    /// A range that does not overlap the file.
    Unsatisfiable,
}

/// Interprets a `Range` header for a file of `size` bytes.
pub fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let number = |s: &str| -> Option<u64> {
        let s = s.trim();
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) { None } else { s.parse().ok() }
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // `bytes=-n`: the last n bytes.
        return match number(last) {
            None => RangeRequest::Full,
            Some(0) => RangeRequest::Unsatisfiable,
            Some(_) if size == 0 => RangeRequest::Unsatisfiable,
            Some(n) => RangeRequest::Partial(ByteRange { start: size.saturating_sub(n), end: size - 1 }),
        };
    }
    let Some(start) = number(first) else {
        return RangeRequest::Full;
    };
    let last = if last.is_empty() {
        None
    } else {
        match number(last) {
            Some(l) if l >= start => Some(l),
            _ => return RangeRequest::Full,
        }
    };
    if start >= size {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Partial(ByteRange { start, end: last.map_or(size - 1, |l| l.min(size - 1)) })
}

/// `GET`/`HEAD /download/{app}/{version}/{target}/{file}`.
pub async fn download(
    State(state): State<AppState>,
    method: Method,
    Path((app, version, target, file)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    let (app, version, target) = parse_release_path(&app, &version, &target)?;
    check_file_name(&file)?;
    let missing = || Error::not_found(format!("artifact `{file}` of {app} {version}"));
    let release = served_release(&state, &app, &version, missing).await?;
    let artifacts = state.db().artifacts(release.id).await?;
    let artifact =
        artifacts.iter().find(|a| a.target == target.to_string() && a.file_name == file).ok_or_else(missing)?;

    let size = u64::try_from(artifact.size).map_err(|_| Error::Internal(format!("stored size {}", artifact.size)))?;
    let blob = Blob { sha256: &artifact.sha256, size, created_at: release.created_at, file_name: &file };
    let counted = Counted { app: app.as_str(), kind: "full", saved: 0 };
    send_blob(&state, &method, &headers, blob, counted).await
}

/// `GET`/`HEAD /download/{app}/{version}/{target}/delta/{name}`: the delta from the artifact whose BLAKE2b-256 is
/// `name` (or, named `<from>.<form>`, its alternative in that form) to the release's artifact for `target`
/// (docs/protocol.md §9), served like an artifact.
pub async fn delta(
    State(state): State<AppState>,
    method: Method,
    Path((app, version, target, name)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Result<Response> {
    let (app, version, target) = parse_release_path(&app, &version, &target)?;
    let hex = name.split_once('.').map_or(name.as_str(), |(hex, _)| hex);
    Blake2b256::parse_hex(hex, "from").map_err(|source| Error::protocol("delta base", source))?;
    let missing = || Error::not_found(format!("delta {name} to {app} {version} for {target}"));
    // A form this server does not know names a file it does not have.
    let (from, form) = delta::parse_delta_file_name(&name).ok_or_else(missing)?;
    let release = served_release(&state, &app, &version, missing).await?;
    let row = state.db().delta(release.id, &target.to_string(), &from.to_hex()).await?.ok_or_else(missing)?;
    let (sha256, size) = match form {
        None => (&row.sha256, row.size),
        Some(form) => match &row.alternative {
            Some(alt) if alt.form == form.token() => (&alt.sha256, alt.size),
            _ => return Err(missing()),
        },
    };
    let full = state.db().artifacts(release.id).await?.into_iter().find(|a| a.target == row.target);
    let size = u64::try_from(size).map_err(|_| Error::Internal(format!("stored size {size}")))?;
    let saved = full.map_or(0, |a| u64::try_from(a.size).unwrap_or(0).saturating_sub(size));
    let file = format!("{}.mlndelta", &row.from_blake2b[..16.min(row.from_blake2b.len())]);
    let blob = Blob { sha256, size, created_at: release.created_at, file_name: &file };
    let counted = Counted { app: app.as_str(), kind: "delta", saved };
    send_blob(&state, &method, &headers, blob, counted).await
}

/// The app, version and target segments of a download path (also the metadata tree's `files/` and `deltas/`).
pub(super) fn parse_release_path(app: &str, version: &str, target: &str) -> Result<(AppId, Version, Target)> {
    let app = AppId::parse(app)?;
    let version = Version::parse(version).map_err(|source| Error::protocol("version", source))?;
    let target: Target = target.parse().map_err(|source| Error::protocol("target", source))?;
    Ok((app, version, target))
}

/// The release whose files a path names: `missing()` when there is none, `410 Gone` once it is yanked.
pub(super) async fn served_release(
    state: &AppState,
    app: &AppId,
    version: &Version,
    missing: impl FnOnce() -> Error,
) -> Result<ReleaseRow> {
    let release = state.db().release(app, &version.to_string()).await?.ok_or_else(missing)?;
    if release.yanked {
        return Err(Error::Gone { what: format!("release {version} of app `{app}`") });
    }
    Ok(release)
}

/// A stored blob to send.
struct Blob<'a> {
    sha256: &'a str,
    size: u64,
    /// Unix seconds: `Last-Modified`.
    created_at: i64,
    file_name: &'a str,
}

/// How a download is counted in `/metrics`: `kind` is `full` or `delta`; `saved` the bytes a delta spares.
struct Counted<'a> {
    app: &'a str,
    kind: &'static str,
    saved: u64,
}

async fn send_blob(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    blob: Blob<'_>,
    counted: Counted<'_>,
) -> Result<Response> {
    let (size, file) = (blob.size, blob.file_name);
    let etag = format!("\"{}\"", blob.sha256);
    let last_modified = httpdate::fmt_http_date(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(u64::try_from(blob.created_at).unwrap_or(0)),
    );
    let mut builder = Response::builder()
        .header(header::ETAG, &etag)
        .header(header::LAST_MODIFIED, &last_modified)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CACHE_CONTROL, "public, max-age=31536000, immutable")
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_DISPOSITION, format!("attachment; filename=\"{file}\""));

    if let Some(inm) = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok())
        && inm.split(',').any(|tag| tag.trim() == etag || tag.trim() == "*")
    {
        return builder
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .map_err(|e| Error::Internal(format!("response: {e}")));
    }

    if let DownloadMode::Redirect(ttl) = state.config().downloads
        && *method == Method::GET
        && let Some(url) = state.blobs().presigned_url(blob.sha256, ttl).await?
    {
        state.metrics().download_started(counted.app, counted.kind, counted.saved);
        // The presigned URL expires: never let a cache keep the redirect.
        return Response::builder()
            .status(StatusCode::FOUND)
            .header(header::LOCATION, url.as_str())
            .header(header::CACHE_CONTROL, "no-store")
            .body(Body::empty())
            .map_err(|e| Error::Internal(format!("response: {e}")));
    }

    let if_range_ok = match headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(validator) => validator.trim() == etag || validator.trim() == last_modified,
    };
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok()).filter(|_| if_range_ok);
    let (status, start, len) = match parse_range(range_header, size) {
        RangeRequest::Full => (StatusCode::OK, 0, size),
        RangeRequest::Unsatisfiable => return Err(Error::RangeNotSatisfiable { size }),
        RangeRequest::Partial(range) => {
            builder = builder.header(header::CONTENT_RANGE, format!("bytes {}-{}/{size}", range.start, range.end));
            (StatusCode::PARTIAL_CONTENT, range.start, range.end - range.start + 1)
        }
    };
    // A HEAD answer has no body: do not open the blob (an object store GET is a billed request).
    let mut send_file = None;
    let body = if *method == Method::HEAD {
        Body::empty()
    } else {
        if start == 0 {
            // A whole download or its first part (a resumed one asks for a later range): counted once.
            state.metrics().download_started(counted.app, counted.kind, counted.saved);
        }
        let sent = state.metrics().download_bytes(counted.app);
        let stream = match state.blobs().file(blob.sha256).await? {
            Some(file) => {
                // The front sends the file itself (`sendfile`); hyper reads the body, which opens nothing more.
                send_file = Some(SendFile { file: file.clone(), start, len, sent: sent.clone() });
                crate::blobs::file_stream(file, start, len)
            }
            None => state.blobs().read(blob.sha256, start, len).await?,
        };
        Body::from_stream(stream.inspect_ok(move |chunk| {
            sent.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
        }))
    };
    let mut response = builder
        .status(status)
        .header(header::CONTENT_LENGTH, len)
        .body(body)
        .map_err(|e| Error::Internal(format!("response: {e}")))?;
    // Keep intermediaries from transforming the bytes.
    response.headers_mut().insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Some(send_file) = send_file {
        response.extensions_mut().insert(send_file);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partial(start: u64, end: u64) -> RangeRequest {
        RangeRequest::Partial(ByteRange { start, end })
    }

    #[test]
    fn ranges() {
        assert_eq!(parse_range(None, 100), RangeRequest::Full);
        assert_eq!(parse_range(Some("bytes=0-9"), 100), partial(0, 9));
        assert_eq!(parse_range(Some("bytes=90-"), 100), partial(90, 99));
        assert_eq!(parse_range(Some("bytes=90-1000"), 100), partial(90, 99));
        assert_eq!(parse_range(Some("bytes=-10"), 100), partial(90, 99));
        assert_eq!(parse_range(Some("bytes=-1000"), 100), partial(0, 99));
        assert_eq!(parse_range(Some("bytes=100-"), 100), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=100-200"), 100), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 100), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-"), 0), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), RangeRequest::Full);
        assert_eq!(parse_range(Some("bytes=5-1"), 100), RangeRequest::Full);
        assert_eq!(parse_range(Some("items=0-1"), 100), RangeRequest::Full);
        assert_eq!(parse_range(Some("bytes=a-b"), 100), RangeRequest::Full);
        assert_eq!(parse_range(Some("bytes=+1-2"), 100), RangeRequest::Full);
        assert_eq!(parse_range(Some("bytes=-"), 100), RangeRequest::Full);
    }
}
