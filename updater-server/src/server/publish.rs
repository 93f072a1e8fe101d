//! Publishing a release: `POST /api/v1/apps/{app}/releases`, one `multipart/form-data` request.
//!
//! Parts, in this order:
//!
//! 1. `release`: JSON `{"version", "channel"?, "notes"?, "min_webview_version"?, "rollout"?, "force"?}`. Checked
//!    before any artifact byte is read: a duplicate version or one not newer than the channel's latest (unless
//!    `force`), or a `min_webview_version` that is not per-backend minimums in their text form
//!    (`webkitgtk=2.44,webview2=124.0`; a bare version is refused), is refused at once. With
//!    `"dry_run": true` the request ends here with `200` (the CLI checks this way before uploading).
//! 2. `release-document`, required when the app has signed metadata (a root), refused otherwise: the release
//!    envelope signed offline with a release key (`docs/protocol.md` §7). It must verify against the app's current
//!    root, name this app, channel, version and minimum webview, and list exactly the uploaded artifacts.
//! 3. For each artifact, in any order: `signature:{target}` (the `.sig` text, minisign or Tauri form) and
//!    `artifact:{target}` (the file, with a file name), where `{target}` is a target key such as
//!    `linux-x86_64-appimage`.
//!
//! Each artifact is streamed to a temporary file in the store (never held in memory) while its SHA-256 is computed,
//! against a total budget of `--max-upload-size`. With a release document, the same pass feeds the protocol crate's
//! artifact check: more bytes than the document's size are refused at once, and at the end of the part its size,
//! BLAKE2b-256 and signature (by a release key of the root, for this version) must be the document's; the uploaded
//! `.sig` must be the signature the document names. Once the request is complete, every signature is verified against
//! the app's registered public key over the stored bytes, and its signed `version:` must be the release version; a
//! signature without one is refused when the app requires signed versions (`require-signed-version`, on for apps
//! created since the policy exists), since it would fit any version: an old, vulnerable build's artifact and `.sig`
//! could be published as a new release. Only then are the files moved to their content-addressed names and fsynced, and the release, its artifacts
//! and its channel placement written in one database transaction, with the `release.published` webhook deliveries
//! ([`crate::webhooks`]). Any failure before the commit drops the temporary
//! files and writes nothing; a crash between the renames and the commit leaves unreferenced blobs that nothing serves
//! and the next start removes.

use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::PathBuf;

use axum::extract::multipart::{Field, MultipartError, MultipartRejection};
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use millennium_update_admin::api::{
    ARTIFACT_PART_PREFIX, DryRun, PublishRequest, RELEASE_DOCUMENT_PART, RELEASE_PART, SIGNATURE_PART_PREFIX,
    UnversionedSignature,
};
use millennium_update_protocol::metadata::{ArtifactCheck, Envelope, VerifiedRelease};
use millennium_update_protocol::tauri::{Artifact, ArtifactUrl, DynamicResponse, ReleaseInfo, SignatureText};
use millennium_update_protocol::webview::WebviewMinimums;
use millennium_update_protocol::{Target, Version};
use time::OffsetDateTime;

use super::{AppState, Auth};
use crate::blobs::StagedBlob;
use crate::db::{NewArtifact, NewRelease, NewReleaseDocument};
use crate::error::{Error, Result};
use crate::names::{AppId, Channel, check_file_name};
use crate::tokens::Scope;
use crate::webhooks::Event;

/// Largest `release` part.
const MAX_RELEASE_PART: usize = 128 * 1024;

/// Largest `signature:*` part.
const MAX_SIGNATURE_PART: usize = 8 * 1024;

/// Largest `release-document` part.
const MAX_RELEASE_DOCUMENT_PART: usize = 256 * 1024;

fn multipart_error(e: &MultipartError, limit: u64) -> Error {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        Error::PayloadTooLarge { limit }
    } else {
        Error::bad_request(format!("malformed upload: {}", e.body_text()))
    }
}

async fn read_small(field: &mut Field<'_>, max: usize, what: &str, limit: u64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(&e, limit))? {
        if out.len() + chunk.len() > max {
            return Err(Error::bad_request(format!("the {what} part is larger than {max} bytes")));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

struct Upload {
    file_name: String,
    blob: StagedBlob,
}

/// `POST /api/v1/apps/{app}/releases`.
pub async fn publish(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(app): Path<String>,
    multipart: std::result::Result<Multipart, MultipartRejection>,
) -> Result<Response> {
    let app = AppId::parse(&app)?;
    principal.require(&app, Scope::Publish, "publish releases")?;
    let result = publish_checked(&state, &app, multipart).await;
    match &result {
        // A dry run changes nothing.
        Ok(response) if response.status() == StatusCode::CREATED => {
            state.metrics().release_event(app.as_str(), "published");
        }
        Ok(_) => {}
        Err(_) => state.metrics().release_event(app.as_str(), "publish_refused"),
    }
    result
}

/// The publish of an authorized caller.
async fn publish_checked(
    state: &AppState,
    app: &AppId,
    multipart: std::result::Result<Multipart, MultipartRejection>,
) -> Result<Response> {
    let app = app.clone();
    let app_row = state.db().app(&app).await?.ok_or_else(|| Error::not_found(format!("app `{app}`")))?;
    let public_key = millennium_sign::PublicKey::from_text(&app_row.public_key)
        .map_err(|e| Error::Internal(format!("stored public key: {e}")))?;
    let mut multipart = multipart.map_err(|e| Error::bad_request(format!("expected a multipart upload: {e}")))?;
    let limit = state.config().max_upload_size;

    // 1. The release description, checked before any artifact is received.
    let mut field = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(&e, limit))?
        .ok_or_else(|| Error::bad_request("empty upload: expected a `release` part first"))?;
    if field.name() != Some(RELEASE_PART) {
        return Err(Error::bad_request("the first part of the upload must be `release`"));
    }
    let body = read_small(&mut field, MAX_RELEASE_PART, "release", limit).await?;
    drop(field);
    let request: PublishRequest =
        serde_json::from_slice(&body).map_err(|e| Error::bad_request(format!("invalid `release` part: {e}")))?;
    let version = Version::parse(&request.version).map_err(|source| Error::protocol("version", source))?;
    let version_text = version.to_string();
    let channel = request.channel.as_deref().map_or_else(|| Ok(Channel::stable()), Channel::parse)?;
    let rollout = crate::rollout::check_percent(request.rollout.unwrap_or(100))?;
    let pub_date = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap_or_else(|_| OffsetDateTime::now_utc());
    let mut info = ReleaseInfo::new(version.clone())
        .with_pub_date(pub_date)
        .map_err(|e| Error::Internal(format!("pub_date: {e}")))?;
    if let Some(notes) = &request.notes {
        info = info.with_notes(notes.clone()).map_err(|source| Error::protocol("notes", source))?;
    }
    let min_webview = match &request.min_webview_version {
        Some(text) => {
            WebviewMinimums::parse(text).map_err(|source| Error::protocol("min_webview_version", source.into()))?
        }
        None => WebviewMinimums::new(),
    };
    // Stored in the canonical text form; `None` when there is no minimum.
    let min_webview_text = (!min_webview.is_empty()).then(|| min_webview.to_string());
    let pub_date_text = info.pub_date_text().map(str::to_owned).unwrap_or_default();
    state.db().check_publishable(&app, &channel, &version_text, request.force).await?;
    if request.total_size.is_some_and(|size| size > limit) {
        return Err(Error::PayloadTooLarge { limit });
    }
    if request.dry_run {
        let body = DryRun { dry_run: true, app: app.to_string(), version: version_text, channel: channel.to_string() };
        return Ok(axum::Json(body).into_response());
    }

    // 2. The signed release document (apps with a root), checked before any artifact is received; then artifacts
    // and signatures, streamed to temporary files.
    let trust = super::metadata::trust_state(state, &app).await?;
    let mut document: Option<(Envelope, VerifiedRelease)> = None;
    let mut first_part = true;
    let mut signatures: BTreeMap<Target, String> = BTreeMap::new();
    let mut uploads: BTreeMap<Target, Upload> = BTreeMap::new();
    let mut total: u64 = 0;
    while let Some(mut field) = multipart.next_field().await.map_err(|e| multipart_error(&e, limit))? {
        let name = field.name().unwrap_or_default().to_owned();
        let is_first = std::mem::replace(&mut first_part, false);
        if name == RELEASE_DOCUMENT_PART {
            let Some(trust) = &trust else {
                return Err(Error::bad_request(format!(
                    "app `{app}` has no signed metadata (no root), so a release document cannot be checked\nhint: upload a root first with `millennium-update-server root sign`, or publish without `--release-key`"
                )));
            };
            if !is_first {
                return Err(Error::bad_request(format!(
                    "the `{RELEASE_DOCUMENT_PART}` part must come right after `release`"
                )));
            }
            let body = read_small(&mut field, MAX_RELEASE_DOCUMENT_PART, "release document", limit).await?;
            let envelope = Envelope::parse(&body).map_err(|e| document_rejected(&e))?;
            let verified =
                trust.check_release_document(channel.as_str(), &envelope).map_err(|e| document_rejected(&e))?;
            if verified.release.version != version {
                return Err(document_rejected(&format!(
                    "it is for version {}, the upload for {version}",
                    verified.release.version
                )));
            }
            if verified.release.min_webview_version != min_webview {
                let shown = |v: &WebviewMinimums| if v.is_empty() { "none".to_owned() } else { format!("`{v}`") };
                return Err(document_rejected(&format!(
                    "it declares the minimum webview versions {}, the upload {}",
                    shown(&verified.release.min_webview_version),
                    shown(&min_webview)
                )));
            }
            // Checked again when the release is written; here so that a stale document fails before the upload.
            if let Some(last) = state.db().last_sequence(&app, &channel).await?
                && i64::try_from(verified.release.sequence).is_ok_and(|sequence| sequence <= last)
            {
                return Err(Error::conflict(
                    "sequence_not_newer",
                    format!(
                        "the release document's sequence {} is not above {last}, the last of channel `{channel}`\nhint: sign it again with sequence {} (the CLI does this when given `--release-key`)",
                        verified.release.sequence,
                        last + 1
                    ),
                ));
            }
            document = Some((envelope, verified));
            continue;
        }
        if trust.is_some() && document.is_none() {
            return Err(missing_document(&app));
        }
        if let Some(key) = name.strip_prefix(SIGNATURE_PART_PREFIX) {
            let target = parse_target(key)?;
            let text = read_small(&mut field, MAX_SIGNATURE_PART, "signature", limit).await?;
            let text = String::from_utf8(text)
                .map_err(|_| Error::SignatureRejected { target: key.to_owned(), reason: "not UTF-8 text".into() })?;
            if signatures.insert(target, text).is_some() {
                return Err(Error::bad_request(format!("two signatures for `{target}`")));
            }
        } else if let Some(key) = name.strip_prefix(ARTIFACT_PART_PREFIX) {
            let target = parse_target(key)?;
            if uploads.contains_key(&target) {
                return Err(Error::bad_request(format!("two artifacts for `{target}`")));
            }
            if uploads.len() >= millennium_update_protocol::limits::MAX_PLATFORMS {
                return Err(Error::bad_request("too many artifacts in one release"));
            }
            let file_name = field
                .file_name()
                .ok_or_else(|| Error::bad_request(format!("the artifact part for `{target}` has no file name")))?
                .to_owned();
            check_file_name(&file_name)?;
            let mut check = match &document {
                Some((_, verified)) => Some(document_check(verified, target, &file_name)?),
                None => None,
            };
            let mut writer = state.blobs().writer()?;
            while let Some(chunk) = field.chunk().await.map_err(|e| multipart_error(&e, limit))? {
                total += chunk.len() as u64;
                if total > limit {
                    return Err(Error::PayloadTooLarge { limit });
                }
                if let Some(check) = &mut check {
                    check.update(&chunk).map_err(|e| document_rejected(&e))?;
                }
                writer.write(&chunk).await?;
            }
            if writer.size() == 0 {
                return Err(Error::bad_request(format!("the artifact for `{target}` is empty")));
            }
            if let Some(check) = check {
                check.finish().map_err(|e| document_rejected(&format!("`{target}`: {e}")))?;
            }
            uploads.insert(target, Upload { file_name, blob: writer.finish().await? });
        } else {
            return Err(Error::bad_request(format!(
                "unexpected upload part `{}`: expected `signature:TARGET` or `artifact:TARGET`",
                crate::names::snippet(&name)
            )));
        }
    }
    drop(multipart);
    if trust.is_some() && document.is_none() {
        return Err(missing_document(&app));
    }
    if uploads.is_empty() {
        return Err(Error::bad_request("a release needs at least one artifact"));
    }
    if let Some(target) = signatures.keys().find(|t| !uploads.contains_key(t)) {
        return Err(Error::bad_request(format!("signature for `{target}` without an artifact")));
    }

    if let Some((_, verified)) = &document
        && let Some(missing) = verified.release.artifacts.iter().find(|a| !uploads.contains_key(&a.target))
    {
        return Err(document_rejected(&format!("it lists `{}`, which was not uploaded", missing.target)));
    }

    // 3. Verify every signature over the stored bytes (with a release document: the document's, checked above).
    let mut verified = Vec::with_capacity(uploads.len());
    for (target, upload) in &uploads {
        let sig = signatures.get(target).ok_or_else(|| Error::SignatureRejected {
            target: target.to_string(),
            reason: "no signature was uploaded for this artifact\nhint: upload the `.sig` file made by `millennium-sign sign`".into(),
        })?;
        let signature = match &document {
            Some((_, release)) => signature_of_document(release, sig, *target)?,
            None => verify_artifact(&public_key, sig, upload.blob.path().to_owned(), &version_text, *target).await?,
        };
        // A signature without `version:` fits any version: an old build would pass as a new one.
        if app_row.require_signed_version && signature.signature().trusted_fields().version().is_none() {
            return Err(UnversionedSignature {
                app: app.to_string(),
                target: target.to_string(),
                version: version_text.clone(),
            }
            .into());
        }
        // The protocol crate must accept what will be served: signed version equal to the release's.
        let url = ArtifactUrl::parse(&format!("{}/download/", state.config().download_base_url()))
            .map_err(|e| Error::Internal(format!("public URL: {e}")))?;
        DynamicResponse::new(info.clone(), Artifact::new(url, signature.clone()))
            .map_err(|e| Error::SignatureRejected { target: target.to_string(), reason: e.to_string() })?;
        verified.push((*target, signature));
    }

    // 4. Make the files durable under their final names, then make the release visible in one transaction.
    let mut artifacts = Vec::with_capacity(uploads.len());
    for ((target, upload), (_, signature)) in uploads.into_iter().zip(verified) {
        let size = upload.blob.size;
        let sha256 = state.blobs().persist(upload.blob).await?;
        artifacts.push(NewArtifact {
            target: target.to_string(),
            file_name: upload.file_name,
            sha256,
            size,
            signature: signature.as_str().to_owned(),
        });
    }
    let targets: Vec<String> = artifacts.iter().map(|a| a.target.clone()).collect();
    let notice = Event::Published { channel: channel.to_string(), rollout }.notice(&app, &version_text);
    state
        .db()
        .insert_release(
            NewRelease {
                app: &app,
                version: &version_text,
                notes: request.notes.as_deref(),
                min_webview_version: min_webview_text.as_deref(),
                pub_date: &pub_date_text,
                channel: &channel,
                rollout,
                artifacts,
                document: document.as_ref().map(|(envelope, release)| NewReleaseDocument {
                    sequence: release.release.sequence,
                    envelope: envelope.to_json(),
                    hash: envelope.hash(),
                }),
                notice: &notice,
            },
            request.force,
        )
        .await?;
    // Committed: the cached update answers are stale from here on.
    state.cache().invalidate();
    if document.is_some() {
        super::metadata::refresh(state, &app).await;
    }
    tracing::info!(app = %app, version = %version_text, channel = %channel, ?targets, bytes = total, "published");
    let release =
        state.db().release(&app, &version_text).await?.ok_or_else(|| Error::Internal("lost release".into()))?;
    let body = super::api::release_view(state, &release).await?;
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

fn missing_document(app: &AppId) -> Error {
    Error::bad_request(format!(
        "app `{app}` has signed metadata: the upload needs a `{RELEASE_DOCUMENT_PART}` part right after `release`\nhint: publish with `--release-key` (the release signing key) so the CLI signs the release document"
    ))
}

fn document_rejected(error: &dyn std::fmt::Display) -> Error {
    Error::MetadataRejected { what: "release document".into(), reason: error.to_string() }
}

/// Starts the check of an uploaded artifact against the release document: it must be listed, under this file name.
fn document_check(release: &VerifiedRelease, target: Target, file_name: &str) -> Result<ArtifactCheck> {
    let info = release.release.artifact(&target).map_err(|e| document_rejected(&e))?;
    if info.file != file_name {
        return Err(document_rejected(&format!(
            "it names the `{target}` artifact `{}`, the upload `{file_name}`",
            crate::names::snippet(&info.file)
        )));
    }
    release.artifact_check(&target).map_err(|e| document_rejected(&e))
}

/// The uploaded `.sig` of `target`, which must be the signature the release document names (the document's check
/// verified it over the bytes).
fn signature_of_document(release: &VerifiedRelease, text: &str, target: Target) -> Result<SignatureText> {
    let rejected = |reason: String| Error::SignatureRejected { target: target.to_string(), reason };
    let uploaded = millennium_sign::Signature::from_text(text.trim_end_matches(['\r', '\n']))
        .or_else(|_| millennium_sign::Signature::from_text(text))
        .map_err(|e| rejected(e.to_string()))?;
    let named = release.release.artifact(&target).map_err(|e| document_rejected(&e))?;
    let named = millennium_sign::Signature::from_text(&named.signature).map_err(|e| document_rejected(&e))?;
    if uploaded.to_text(millennium_sign::Format::Tauri) != named.to_text(millennium_sign::Format::Tauri) {
        return Err(rejected("it is not the signature the release document names".into()));
    }
    SignatureText::from_signature(uploaded).map_err(|e| rejected(e.to_string()))
}

fn parse_target(key: &str) -> Result<Target> {
    key.parse().map_err(|source| Error::protocol("target", source))
}

/// Verifies one artifact's signature over the staged file, on a blocking thread (it hashes the whole file).
async fn verify_artifact(
    public_key: &millennium_sign::PublicKey,
    signature_text: &str,
    path: PathBuf,
    version: &str,
    target: Target,
) -> Result<SignatureText> {
    let rejected = |reason: String| Error::SignatureRejected { target: target.to_string(), reason };
    let signature = millennium_sign::Signature::from_text(signature_text.trim_end_matches(['\r', '\n']))
        .or_else(|_| millennium_sign::Signature::from_text(signature_text))
        .map_err(|e| rejected(e.to_string()))?;
    let key = public_key.clone();
    let checked = signature.clone();
    let result = tokio::task::spawn_blocking(move || -> Result<std::result::Result<(), millennium_sign::Error>> {
        let file = std::fs::File::open(&path).map_err(|e| Error::io("could not open", &path, e))?;
        Ok(checked.verify(&key, BufReader::with_capacity(256 * 1024, file)))
    })
    .await
    .map_err(|e| Error::Internal(format!("verify task: {e}")))??;
    result.map_err(|e| rejected(e.to_string()))?;
    signature.trusted_fields().check_version(version, false).map_err(|e| rejected(e.to_string()))?;
    SignatureText::from_signature(signature).map_err(|e| rejected(e.to_string()))
}
