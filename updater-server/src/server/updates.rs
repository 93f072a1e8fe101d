//! The endpoints apps call to check for updates, in both Tauri forms. All JSON is produced by
//! `millennium-update-protocol`, so it is exactly what Tauri's and cargo-packager's updaters parse.
//!
//! # Which release is offered
//!
//! The releases of the channel (`?channel=`, default `stable`) are sorted by SemVer precedence, newest first, and
//! those that are yanked, paused, or at a partial rollout the install is not part of (see [`crate::rollout`]) are
//! dropped. The dynamic endpoint offers the newest remaining release that is an update over `current_version` *and*
//! has an artifact for the client's platform (so a release without, say, an ARM build does not hide an older one that
//! has it); nothing → `204 No Content`. The static `latest.json` describes the newest remaining release.
//!
//! # Which artifact
//!
//! Looked up as Tauri does ([`Target::lookup_keys`]): `{os}-{arch}-{bundle}`, then `{os}-{arch}`. So a deb install gets
//! the `linux-x86_64-deb` artifact and an AppImage the `linux-x86_64-appimage` one. A plain binary (no or `unknown`
//! bundle type) looks up only `{os}-{arch}`: when the publisher uploaded no plain artifact, that key is served by the
//! bundle that can replace a running binary in place ([`served_platforms`]): the AppImage on Linux, the `.app` on
//! macOS, the NSIS installer (else the MSI) on Windows. `latest.json` lists the same keys, plus the `macos-*` twins
//! cargo-packager-updater looks up.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use millennium_update_protocol::tauri::{
    Artifact, ArtifactUrl, DynamicResponse, PackagerFormat, ReleaseInfo, SignatureText, StaticManifest,
};
use millennium_update_protocol::{BundleType, Os, Target, Version};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::AppState;
use crate::db::{ArtifactRow, ReleaseRow};
use crate::error::{Error, Result};
use crate::names::{AppId, Channel};
use crate::rollout;

/// Query parameters of the update endpoints.
#[derive(Debug, Default, serde::Deserialize)]
pub struct CheckQuery {
    /// The channel (default `stable`).
    pub channel: Option<String>,
    /// The install id, when the client cannot set a header.
    pub install_id: Option<String>,
}

/// A release that may be offered, with its parsed version.
#[derive(Debug)]
pub struct Candidate {
    pub version: Version,
    pub release: ReleaseRow,
}

/// The install id of a request: the `Millennium-Install-Id` header, else `?install_id=`.
fn install_id<'a>(headers: &'a HeaderMap, query: &'a CheckQuery) -> Result<Option<&'a str>> {
    let id = match headers.get(rollout::INSTALL_ID_HEADER) {
        Some(value) => Some(value.to_str().map_err(|_| Error::bad_request("invalid install id header"))?),
        None => query.install_id.as_deref(),
    };
    if let Some(id) = id {
        rollout::check_install_id(id)?;
    }
    Ok(id)
}

/// Parses `?channel=`, defaulting to `stable`.
fn channel(query: &CheckQuery) -> Result<Channel> {
    query.channel.as_deref().map_or_else(|| Ok(Channel::stable()), Channel::parse)
}

/// The releases of a channel that may be offered to this install, newest first.
pub async fn offered(
    state: &AppState,
    app: &AppId,
    channel: &Channel,
    install: Option<&str>,
) -> Result<Vec<Candidate>> {
    let mut out = Vec::new();
    for (release, placement) in state.db().channel_releases(app, channel).await? {
        if release.yanked || placement.paused {
            continue;
        }
        let version = parse_stored_version(&release.version)?;
        if !rollout::is_offered(install, app.as_str(), &release.version, placement.rollout) {
            continue;
        }
        out.push(Candidate { version, release });
    }
    out.sort_by(|a, b| b.version.cmp_precedence(&a.version));
    Ok(out)
}

fn parse_stored_version(text: &str) -> Result<Version> {
    Version::parse(text).map_err(|e| Error::Internal(format!("stored version {text:?}: {e}")))
}

/// The platform keys a release is served under, each with the stored artifact behind it: every stored key, plus
/// `{os}-{arch}` for each platform that has only bundle-specific artifacts, served by the bundle that can replace a
/// plain binary (AppImage; app; NSIS, else MSI). Deb and rpm never stand in for a plain binary.
pub fn served_platforms(artifacts: &[ArtifactRow]) -> Result<BTreeMap<Target, &ArtifactRow>> {
    let mut served = BTreeMap::new();
    for artifact in artifacts {
        let target: Target = artifact
            .target
            .parse()
            .map_err(|e| Error::Internal(format!("stored target {:?}: {e}", artifact.target)))?;
        served.insert(target, artifact);
    }
    let preference = |os: Os| -> &'static [BundleType] {
        match os {
            Os::Linux => &[BundleType::AppImage],
            Os::Darwin => &[BundleType::App],
            Os::Windows => &[BundleType::Nsis, BundleType::Msi],
        }
    };
    let mut stand_ins = Vec::new();
    for target in served.keys() {
        let plain = target.without_bundle();
        if served.contains_key(&plain) || stand_ins.iter().any(|(t, _)| *t == plain) {
            continue;
        }
        for &bundle in preference(plain.os()) {
            if let Ok(bundled) = Target::new(plain.os(), plain.arch(), Some(bundle))
                && let Some(artifact) = served.get(&bundled)
            {
                stand_ins.push((plain, *artifact));
                break;
            }
        }
    }
    served.extend(stand_ins);
    Ok(served)
}

/// The download URL of an artifact.
pub fn download_url(state: &AppState, app: &str, version: &Version, artifact: &ArtifactRow) -> String {
    format!(
        "{}/download/{app}/{}/{}/{}",
        state.config().public_url,
        version.to_request_segment(),
        artifact.target,
        artifact.file_name
    )
}

/// cargo-packager-updater's `format` for an artifact: from its stored target, else (a plain Windows artifact) from its
/// file extension.
fn packager_format(artifact: &ArtifactRow) -> Option<PackagerFormat> {
    let target: Target = artifact.target.parse().ok()?;
    PackagerFormat::for_target(&target).or_else(|| {
        let name = artifact.file_name.to_ascii_lowercase();
        match target.os() {
            Os::Windows if name.ends_with(".msi") => Some(PackagerFormat::Wix),
            Os::Windows if name.ends_with(".exe") => Some(PackagerFormat::Nsis),
            _ => None,
        }
    })
}

/// The protocol's view of a stored artifact.
pub fn protocol_artifact(state: &AppState, app: &str, version: &Version, artifact: &ArtifactRow) -> Result<Artifact> {
    let url = ArtifactUrl::parse(&download_url(state, app, version, artifact))
        .map_err(|e| Error::Internal(format!("download URL: {e}")))?;
    let signature =
        SignatureText::parse(&artifact.signature).map_err(|e| Error::Internal(format!("stored signature: {e}")))?;
    let mut out = Artifact::new(url, signature);
    if let Some(format) = packager_format(artifact) {
        out = out.with_format(format);
    }
    Ok(out)
}

/// The protocol's view of a stored release.
pub fn release_info(release: &ReleaseRow, version: &Version) -> Result<ReleaseInfo> {
    let mut info = ReleaseInfo::new(version.clone());
    if let Some(notes) = &release.notes {
        info = info.with_notes(notes.clone()).map_err(|e| Error::Internal(format!("stored notes: {e}")))?;
    }
    let date = OffsetDateTime::parse(&release.pub_date, &Rfc3339)
        .map_err(|e| Error::Internal(format!("stored pub_date: {e}")))?;
    info.with_pub_date(date).map_err(|e| Error::Internal(format!("stored pub_date: {e}")))
}

fn json_response(body: String) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    // Answers depend on the install id and change with every publish.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn no_update() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

async fn require_app(state: &AppState, app: &str) -> Result<AppId> {
    let app = AppId::parse(app)?;
    state.db().app(&app).await?.ok_or_else(|| Error::not_found(format!("app `{app}`")))?;
    Ok(app)
}

/// The last `n` segments of the request path, still percent-encoded.
fn raw_segments(uri: &Uri, n: usize) -> Result<Vec<&str>> {
    let segments: Vec<&str> = uri.path().split('/').collect();
    if segments.len() < n + 1 {
        return Err(Error::Internal("route shape".into()));
    }
    Ok(segments[segments.len() - n..].to_vec())
}

/// `GET /{app}/{target}/{arch}/{current_version}`.
pub async fn dynamic_check(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    query: std::result::Result<Query<CheckQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    let query = query.map_err(|e| Error::bad_request(e.body_text()))?.0;
    let segments = raw_segments(&uri, 4)?;
    check(&state, &segments, None, &headers, &query).await
}

/// `GET /{app}/{target}/{arch}/{current_version}/{bundle_type}`.
pub async fn dynamic_check_bundle(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    query: std::result::Result<Query<CheckQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    let query = query.map_err(|e| Error::bad_request(e.body_text()))?.0;
    let segments = raw_segments(&uri, 5)?;
    check(&state, &segments[..4], Some(segments[4]), &headers, &query).await
}

async fn check(
    state: &AppState,
    segments: &[&str],
    bundle_type: Option<&str>,
    headers: &HeaderMap,
    query: &CheckQuery,
) -> Result<Response> {
    let [app, os, arch, current] = segments else {
        return Err(Error::Internal("route shape".into()));
    };
    // Names first: a traversal attempt is a 400 before anything is looked up.
    let app_id = AppId::parse(&percent_decode_name(app)?)?;
    let target =
        Target::from_request_vars(os, arch, bundle_type).map_err(|source| Error::protocol("target", source))?;
    let current =
        Version::from_request_segment(current).map_err(|source| Error::protocol("current version", source))?;
    let channel = channel(query)?;
    let install = install_id(headers, query)?;
    let app = require_app(state, app_id.as_str()).await?;

    let keys = target.lookup_keys();
    for candidate in offered(state, &app, &channel, install).await? {
        if !candidate.version.is_update_over(&current) {
            break;
        }
        let artifacts = state.db().artifacts(candidate.release.id).await?;
        let served = served_platforms(&artifacts)?;
        let by_key: BTreeMap<String, &ArtifactRow> = served.iter().map(|(t, a)| (t.to_string(), *a)).collect();
        if let Some(artifact) = keys.iter().find_map(|key| by_key.get(key)) {
            let info = release_info(&candidate.release, &candidate.version)?;
            let artifact = protocol_artifact(state, app.as_str(), &candidate.version, artifact)?;
            let response =
                DynamicResponse::new(info, artifact).map_err(|e| Error::Internal(format!("dynamic response: {e}")))?;
            return Ok(json_response(response.to_json()));
        }
    }
    Ok(no_update())
}

/// App ids in the dynamic route come raw from the URI; decode so `%2e%2e` is judged as `..` (and refused).
fn percent_decode_name(segment: &str) -> Result<String> {
    if !segment.contains('%') {
        return Ok(segment.to_owned());
    }
    // Any escape in an app id decodes to a character app ids cannot contain, or to one that never needs escaping.
    Err(Error::InvalidName {
        what: "app id",
        value: crate::names::snippet(segment),
        reason: "percent-encoded characters are not allowed",
    })
}

/// `GET /{app}/{channel}/latest.json`.
pub async fn static_manifest(
    State(state): State<AppState>,
    Path((app, channel)): Path<(String, String)>,
    headers: HeaderMap,
    query: std::result::Result<Query<CheckQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response> {
    let query = query.map_err(|e| Error::bad_request(e.body_text()))?.0;
    let app = AppId::parse(&app)?;
    let channel = Channel::parse(&channel)?;
    let install = install_id(&headers, &query)?;
    let app = require_app(&state, app.as_str()).await?;
    let Some(candidate) = offered(&state, &app, &channel, install).await?.into_iter().next() else {
        return Ok(no_update());
    };
    let artifacts = state.db().artifacts(candidate.release.id).await?;
    let mut builder = StaticManifest::builder(release_info(&candidate.release, &candidate.version)?);
    for (target, artifact) in served_platforms(&artifacts)? {
        builder = builder.platform(target, protocol_artifact(&state, app.as_str(), &candidate.version, artifact)?);
    }
    let manifest = builder.build().map_err(|e| Error::Internal(format!("static manifest: {e}")))?;
    Ok(json_response(manifest.to_json()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(target: &str, file: &str) -> ArtifactRow {
        ArtifactRow {
            release_id: 1,
            target: target.into(),
            file_name: file.into(),
            sha256: "0".repeat(64),
            size: 1,
            signature: String::new(),
        }
    }

    #[test]
    fn plain_keys_are_served_by_the_right_bundle() {
        let rows = vec![
            row("linux-x86_64-deb", "a.deb"),
            row("linux-x86_64-appimage", "a.AppImage"),
            row("linux-aarch64-deb", "b.deb"),
            row("windows-x86_64-msi", "a.msi"),
            row("windows-x86_64-nsis", "a-setup.exe"),
            row("darwin-aarch64-app", "a.app.tar.gz"),
            row("windows-i686", "plain.exe"),
            row("windows-i686-nsis", "b-setup.exe"),
        ];
        let served = served_platforms(&rows).unwrap();
        let get = |k: &str| served.get(&k.parse::<Target>().unwrap()).map(|a| a.file_name.as_str());
        assert_eq!(get("linux-x86_64"), Some("a.AppImage"));
        assert_eq!(get("linux-aarch64"), None, "a deb must not stand in for a plain binary");
        assert_eq!(get("windows-x86_64"), Some("a-setup.exe"));
        assert_eq!(get("darwin-aarch64"), Some("a.app.tar.gz"));
        assert_eq!(get("windows-i686"), Some("plain.exe"), "an uploaded plain artifact wins");
        assert_eq!(get("linux-x86_64-deb"), Some("a.deb"));
    }

    #[test]
    fn formats_for_cargo_packager() {
        assert_eq!(packager_format(&row("windows-x86_64", "x.msi")), Some(PackagerFormat::Wix));
        assert_eq!(packager_format(&row("windows-x86_64", "x-setup.exe")), Some(PackagerFormat::Nsis));
        assert_eq!(packager_format(&row("windows-x86_64-msi", "x.msi")), Some(PackagerFormat::Wix));
        assert_eq!(packager_format(&row("linux-x86_64-deb", "x.deb")), None);
        assert_eq!(packager_format(&row("linux-x86_64", "x.AppImage")), Some(PackagerFormat::AppImage));
    }
}
