//! The admin API under `/api/v1`: apps, tokens, releases, promote, rollout, yank. Every route needs a bearer token;
//! see [`crate::tokens`] for what each scope allows. Request bodies are JSON with unknown fields refused.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use millennium_update_admin::api::{
    AdoptionBucket, App, CreateApp, CreateToken, CreateWebhook, CreatedToken, CreatedWebhook, HealthBucket,
    HealthCounts, ListQuery, Placement, Promote, Release, ReleaseArtifact, ReleaseHealth, Releases, RevokedToken,
    Rollout, SetHaltRule, UpdateApp, WEBHOOK_EVENTS, Webhook, WebhookDeliveries, WebhookDelivery, Webhooks, Yank,
};
use millennium_update_protocol::Version;
use millennium_update_protocol::metadata::{Envelope, TrustState};

use super::updates::download_url;
use super::{AppState, Auth};
use crate::db::{NewReleaseDocument, NewYankList, PlacementChange, ReleaseRow, YankListRow};
use crate::error::{Error, Result};
use crate::names::{AppId, Channel};
use crate::tokens::{NewToken, Scope};
use crate::webhooks::Event;

fn body<T>(json: std::result::Result<Json<T>, JsonRejection>) -> Result<T> {
    match json {
        Ok(Json(value)) => Ok(value),
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            Err(Error::bad_request(format!("request body larger than {} bytes", super::MAX_JSON_BODY)))
        }
        Err(e) => Err(Error::bad_request(format!("invalid request body: {}", e.body_text()))),
    }
}

fn parse_version(text: &str) -> Result<Version> {
    Version::parse(text).map_err(|source| Error::protocol("version", source))
}

async fn release_or_404(state: &AppState, app: &AppId, version: &Version) -> Result<ReleaseRow> {
    state
        .db()
        .release(app, &version.to_string())
        .await?
        .ok_or_else(|| Error::not_found(format!("release {version} of app `{app}`")))
}

/// A release as the API shows it.
pub async fn release_view(state: &AppState, release: &ReleaseRow) -> Result<Release> {
    let version = Version::parse(&release.version).map_err(|e| Error::Internal(format!("stored version: {e}")))?;
    let min_webview = super::updates::stored_min_webview(release)?;
    let channels = state
        .db()
        .placements(release.id)
        .await?
        .into_iter()
        .map(|p| Placement { channel: p.channel, rollout: p.rollout, paused: p.paused, added_at: p.added_at })
        .collect();
    let artifacts = state
        .db()
        .artifacts(release.id)
        .await?
        .iter()
        .map(|a| {
            Ok(ReleaseArtifact {
                target: a.target.clone(),
                file_name: a.file_name.clone(),
                size: u64::try_from(a.size).map_err(|_| Error::Internal(format!("stored size {}", a.size)))?,
                sha256: a.sha256.clone(),
                url: download_url(state, &release.app_id, &version, a),
            })
        })
        .collect::<Result<_>>()?;
    Ok(Release {
        app: release.app_id.clone(),
        version: release.version.clone(),
        notes: release.notes.clone(),
        min_webview_version: Some(min_webview).filter(|m| !m.is_empty()),
        pub_date: release.pub_date.clone(),
        yanked: release.yanked,
        channels,
        artifacts,
        halted: state.db().halt_state(release.id).await?.halted,
    })
}

// ----- apps -----

/// `POST /api/v1/apps` (server admin). New apps require signed versions unless the request says otherwise.
pub async fn create_app(
    State(state): State<AppState>,
    Auth(principal): Auth,
    json: std::result::Result<Json<CreateApp>, JsonRejection>,
) -> Result<Response> {
    principal.require_server_admin("create apps")?;
    let request = body(json)?;
    let id = AppId::parse(&request.id)?;
    let key = millennium_sign::PublicKey::from_text(&request.public_key)
        .map_err(|e| Error::bad_request(format!("invalid public key: {e}")))?;
    let require_signed_version = request.require_signed_version.unwrap_or(true);
    let row =
        state.db().insert_app(&id, &key.to_text(millennium_sign::Format::Minisign), require_signed_version).await?;
    tracing::info!(app = %id, key_id = %key.key_id(), require_signed_version, "app created");
    Ok((StatusCode::CREATED, Json(app_view(&row)?)).into_response())
}

/// `PATCH /api/v1/apps/{app}` (server admin, or an admin token of the app): replaces the release public key that
/// publishes are checked against (releases already published keep the signatures they were published with), and/or
/// changes the `require-signed-version` policy.
///
/// Two changes need more than an app admin token, which automation holds as well as people:
/// - Turning the policy off needs the server admin: it is what stops a token holder without the release key from
///   publishing an old build's (validly signed) artifact as a new version.
/// - The key of an app with signed metadata cannot be replaced here at all: its roots are pinned to the key it was
///   registered with, and a client (and this server) would no longer trust any of them. Its release keys change
///   through the next root (`root sign --new-release-key`), signed by the old key and the new one.
pub async fn update_app(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(app): Path<String>,
    json: std::result::Result<Json<UpdateApp>, JsonRejection>,
) -> Result<Response> {
    let app = AppId::parse(&app)?;
    principal.require(&app, Scope::Admin, "change the app")?;
    let request = body(json)?;
    if request.public_key.is_none() && request.require_signed_version.is_none() {
        return Err(Error::bad_request("nothing to change: give `public_key` and/or `require_signed_version`"));
    }
    if request.require_signed_version == Some(false) {
        principal.require_server_admin("turn off `require-signed-version`")?;
    }
    let key = request
        .public_key
        .as_deref()
        .map(millennium_sign::PublicKey::from_text)
        .transpose()
        .map_err(|e| Error::bad_request(format!("invalid public key: {e}")))?;
    let mut row = state.db().app(&app).await?.ok_or_else(|| Error::not_found(format!("app `{app}`")))?;
    if key.is_some() && !state.db().roots(&app).await?.is_empty() {
        return Err(Error::conflict(
            "app_has_roots",
            format!(
                "app `{app}` has signed metadata, whose roots trust the release key it was registered with: replacing that key would break them\nhint: rotate the release key with the next root instead: `millennium-update-server root sign --app {app} --release-key OLD.key --new-release-key NEW.key`"
            ),
        ));
    }
    if let Some(key) = key {
        let old_key_id = millennium_sign::PublicKey::from_text(&row.public_key).map(|k| k.key_id().to_string());
        row = state
            .db()
            .set_app_public_key(&app, &key.to_text(millennium_sign::Format::Minisign))
            .await?
            .ok_or_else(|| Error::not_found(format!("app `{app}`")))?;
        tracing::warn!(
            app = %app,
            old_key_id = old_key_id.as_deref().unwrap_or("?"),
            new_key_id = %key.key_id(),
            "release public key replaced"
        );
    }
    if let Some(require) = request.require_signed_version {
        row = state
            .db()
            .set_app_require_signed_version(&app, require)
            .await?
            .ok_or_else(|| Error::not_found(format!("app `{app}`")))?;
        tracing::warn!(app = %app, require_signed_version = require, "publish policy changed");
    }
    Ok(Json(app_view(&row)?).into_response())
}

fn app_view(row: &crate::db::AppRow) -> Result<App> {
    let key = millennium_sign::PublicKey::from_text(&row.public_key)
        .map_err(|e| Error::Internal(format!("stored public key: {e}")))?;
    Ok(App {
        id: row.id.clone(),
        public_key: row.public_key.clone(),
        tauri_pubkey: key.to_text(millennium_sign::Format::Tauri).to_string(),
        key_id: key.key_id().to_string(),
        created_at: row.created_at,
        require_signed_version: row.require_signed_version,
    })
}

/// `GET /api/v1/apps/{app}` (any token of the app).
pub async fn get_app(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(app): Path<String>,
) -> Result<Response> {
    let app = AppId::parse(&app)?;
    principal.require(&app, Scope::Publish, "read")?;
    let row = state.db().app(&app).await?.ok_or_else(|| Error::not_found(format!("app `{app}`")))?;
    Ok(Json(app_view(&row)?).into_response())
}

// ----- tokens -----

/// `POST /api/v1/tokens` (server admin, or an admin token of the app).
pub async fn create_token(
    State(state): State<AppState>,
    Auth(principal): Auth,
    json: std::result::Result<Json<CreateToken>, JsonRejection>,
) -> Result<Response> {
    let request = body(json)?;
    let app = AppId::parse(&request.app)?;
    principal.require(&app, Scope::Admin, "create tokens")?;
    if request.description.len() > 256 {
        return Err(Error::bad_request("token description longer than 256 bytes"));
    }
    state.db().app(&app).await?.ok_or_else(|| Error::not_found(format!("app `{app}`")))?;
    let token = NewToken::generate()?;
    state.db().insert_token(&token.id, &token.secret_hash, Some(&app), request.scope, &request.description).await?;
    tracing::info!(app = %app, token_id = %token.id, scope = request.scope.as_str(), "token created");
    let body = CreatedToken { id: token.id, token: token.text, app: app.to_string(), scope: request.scope };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `DELETE /api/v1/tokens/{id}` (server admin, or an admin token of the token's app).
pub async fn revoke_token(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> Result<Response> {
    if id.len() != 16 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::InvalidName {
            what: "token id",
            value: crate::names::snippet(&id),
            reason: "expected 16 hex digits (the part after `mlnm_`)",
        });
    }
    let row = state.db().token(&id).await?.ok_or_else(|| Error::not_found(format!("token `{id}`")))?;
    match row.app_id.as_deref() {
        Some(app) => principal.require(&AppId::parse(app)?, Scope::Admin, "revoke tokens")?,
        None => principal.require_server_admin("revoke server admin tokens")?,
    }
    state.db().revoke_token(&id).await?;
    tracing::info!(token_id = %id, "token revoked");
    Ok(Json(RevokedToken { id, revoked: true }).into_response())
}

// ----- releases -----

/// `GET /api/v1/apps/{app}/releases` (any token of the app): newest first.
pub async fn list_releases(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(app): Path<String>,
    query: std::result::Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response> {
    let app = AppId::parse(&app)?;
    principal.require(&app, Scope::Publish, "list releases")?;
    let query = query.map_err(|e| Error::bad_request(e.body_text()))?.0;
    let channel = query.channel.as_deref().map(Channel::parse).transpose()?;
    state.db().app(&app).await?.ok_or_else(|| Error::not_found(format!("app `{app}`")))?;
    let mut releases = Vec::new();
    for release in state.db().releases(&app).await? {
        if let Some(channel) = &channel {
            let placements = state.db().placements(release.id).await?;
            if !placements.iter().any(|p| p.channel == channel.as_str()) {
                continue;
            }
        }
        let version = Version::parse(&release.version).map_err(|e| Error::Internal(format!("stored version: {e}")))?;
        releases.push((version, release));
    }
    releases.sort_by(|a, b| b.0.cmp_precedence(&a.0));
    let mut out = Vec::with_capacity(releases.len());
    for (_, release) in &releases {
        out.push(release_view(&state, release).await?);
    }
    Ok(Json(Releases { releases: out }).into_response())
}

/// `GET /api/v1/apps/{app}/releases/{version}` (any token of the app).
pub async fn get_release(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path((app, version)): Path<(String, String)>,
) -> Result<Response> {
    let app = AppId::parse(&app)?;
    principal.require(&app, Scope::Publish, "read releases")?;
    let version = parse_version(&version)?;
    let release = release_or_404(&state, &app, &version).await?;
    Ok(Json(release_view(&state, &release).await?).into_response())
}

/// `POST /api/v1/apps/{app}/releases/{version}/promote` (admin).
pub async fn promote(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path((app, version)): Path<(String, String)>,
    json: std::result::Result<Json<Promote>, JsonRejection>,
) -> Result<Response> {
    let app = AppId::parse(&app)?;
    principal.require(&app, Scope::Admin, "promote releases")?;
    let version = parse_version(&version)?;
    let request = body(json)?;
    let to = Channel::parse(&request.to)?;
    let rollout = crate::rollout::check_percent(request.rollout.unwrap_or(100))?;
    let document = promoted_document(&state, &app, &version, &to, request.release_document).await?;
    state.db().promote(&app, &version.to_string(), &to, rollout, request.force, document.as_ref()).await?;
    tracing::info!(app = %app, version = %version, channel = %to, rollout, "promoted");
    state.releases_changed(&app, "promoted");
    super::metadata::refresh(&state, &app).await;
    let release = release_or_404(&state, &app, &version).await?;
    Ok(Json(release_view(&state, &release).await?).into_response())
}

/// The checked release document of a promote, for apps with signed metadata: signed by a release key of the root,
/// for this channel and version, listing exactly the artifacts of the release's document in another channel.
async fn promoted_document(
    state: &AppState,
    app: &AppId,
    version: &Version,
    to: &Channel,
    envelope: Option<Envelope>,
) -> Result<Option<NewReleaseDocument>> {
    let rejected = |reason: String| Error::MetadataRejected { what: "release document".into(), reason };
    let Some(trust) = super::metadata::trust_state(state, app).await? else {
        if envelope.is_some() {
            return Err(Error::bad_request(format!(
                "app `{app}` has no signed metadata (no root), so a release document cannot be checked"
            )));
        }
        return Ok(None);
    };
    let envelope = envelope.ok_or_else(|| {
        Error::bad_request(format!(
            "app `{app}` has signed metadata: promoting needs a `release_document` for channel `{to}`\nhint: promote with `--release-key` so the CLI signs it"
        ))
    })?;
    let verified = trust.check_release_document(to.as_str(), &envelope).map_err(|e| rejected(e.to_string()))?;
    if &verified.release.version != version {
        return Err(rejected(format!("it is for version {}, not {version}", verified.release.version)));
    }
    let version_text = version.to_string();
    let documents = state.db().release_documents(app).await?;
    let existing = documents.iter().find(|d| d.version == version_text).ok_or_else(|| {
        rejected(format!("release {version} has no signed document in any channel, so its artifacts cannot be matched"))
    })?;
    let existing = Envelope::parse(existing.envelope.as_bytes())
        .ok()
        .and_then(|e| serde_json::from_str::<millennium_update_protocol::metadata::Release>(&e.payload).ok())
        .ok_or_else(|| Error::Internal(format!("stored release document of {version}")))?;
    if existing.artifacts != verified.release.artifacts {
        return Err(rejected(format!(
            "its artifacts differ from those of release {version} in channel `{}`",
            existing.channel
        )));
    }
    if existing.min_webview_version != verified.release.min_webview_version {
        return Err(rejected(format!(
            "its minimum webview versions (`{}`) differ from those of release {version} in channel `{}` (`{}`)",
            verified.release.min_webview_version, existing.channel, existing.min_webview_version
        )));
    }
    Ok(Some(NewReleaseDocument {
        sequence: verified.release.sequence,
        envelope: envelope.to_json(),
        hash: envelope.hash(),
    }))
}

/// `POST /api/v1/apps/{app}/releases/{version}/rollout` (admin).
pub async fn rollout(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path((app, version)): Path<(String, String)>,
    json: std::result::Result<Json<Rollout>, JsonRejection>,
) -> Result<Response> {
    let app = AppId::parse(&app)?;
    principal.require(&app, Scope::Admin, "change rollouts")?;
    let version = parse_version(&version)?;
    let request = body(json)?;
    let channel = request.channel.as_deref().map_or_else(|| Ok(Channel::stable()), Channel::parse)?;
    let percent = request.percent.map(crate::rollout::check_percent).transpose()?;
    if percent.is_none() && request.paused.is_none() {
        return Err(Error::bad_request("nothing to change: give `percent` and/or `paused`"));
    }
    let release = release_or_404(&state, &app, &version).await?;
    // Resuming a halted rollout: the halt rule judges only what is reported from now on.
    let resume_base = match request.paused {
        Some(false) => Some(state.db().health_totals(&app, &release.version).await?),
        _ => None,
    };
    let event = Event::RolloutChanged { channel: channel.to_string(), percent, paused: request.paused };
    let change = PlacementChange {
        channel: &channel,
        rollout: percent,
        paused: request.paused,
        resume_base: resume_base.as_ref(),
        notice: &event.notice(&app, &release.version),
    };
    if state.db().update_placement(&app, release.id, &change).await? {
        tracing::info!(app = %app, version = %version, "halted rollout resumed");
    }
    tracing::info!(app = %app, version = %version, channel = %channel, ?percent, paused = ?request.paused, "rollout changed");
    state.releases_changed(&app, "rollout");
    super::metadata::refresh(&state, &app).await;
    let view = release_view(&state, &release).await?;
    Ok(Json(view).into_response())
}

/// `POST /api/v1/apps/{app}/releases/{version}/yank` (admin). For an app with signed yanks
/// ([`super::metadata::signed_yanks`]) the request must carry the next yank list, signed offline by a release key and
/// listing exactly the releases yanked once it is done: an admin token alone can then neither yank nor, more to the
/// point, un-yank.
pub async fn yank(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path((app, version)): Path<(String, String)>,
    json: std::result::Result<Json<Yank>, JsonRejection>,
) -> Result<Response> {
    let app = AppId::parse(&app)?;
    principal.require(&app, Scope::Admin, "yank releases")?;
    let version = parse_version(&version)?;
    let request = body(json)?;
    let release = release_or_404(&state, &app, &version).await?;
    let list = signed_yank_list(&state, &app, request.yanks).await?;
    let notice = request.yanked.then(|| Event::Yanked {}.notice(&app, &release.version));
    state.db().set_yanked(&app, release.id, request.yanked, list.as_ref(), notice.as_ref()).await?;
    tracing::info!(app = %app, version = %version, yanked = request.yanked, signed = list.is_some(), "yank changed");
    state.releases_changed(&app, if request.yanked { "yanked" } else { "unyanked" });
    super::metadata::refresh(&state, &app).await;
    let release = release_or_404(&state, &app, &version).await?;
    Ok(Json(release_view(&state, &release).await?).into_response())
}

/// The checked yank list of a yank request (its sequence and versions are checked against the stored ones in the
/// yank's transaction); `None` for an app whose yanks are not signed.
async fn signed_yank_list(state: &AppState, app: &AppId, envelope: Option<Envelope>) -> Result<Option<NewYankList>> {
    let rejected = |reason: String| Error::MetadataRejected { what: "yank list".into(), reason };
    let trust = super::metadata::trust_state(state, app).await?;
    let Some(envelope) = envelope else {
        let root =
            trust.as_ref().map(TrustState::current_root).transpose().map_err(|e| Error::Internal(e.to_string()))?;
        if super::metadata::signed_yanks(root.as_ref(), state.db().yank_list(app).await?.as_ref()) {
            return Err(Error::conflict(
                "yank_list_required",
                format!(
                    "app `{app}` has signed yanks: yanking and un-yanking need the next yank list, signed with a release key\nhint: run `yank` with `--release-key`"
                ),
            ));
        }
        return Ok(None);
    };
    let Some(trust) = trust else {
        return Err(Error::bad_request(format!(
            "app `{app}` has no signed metadata (no root), so a yank list cannot be checked"
        )));
    };
    let yanks = trust.check_yanks_document(&envelope).map_err(|e| rejected(e.to_string()))?;
    let sequence = i64::try_from(yanks.sequence).map_err(|_| rejected("its sequence number is too large".into()))?;
    Ok(Some(NewYankList {
        row: YankListRow {
            sequence,
            envelope: envelope.to_json(),
            hash: envelope.hash(),
            created_at: crate::db::now(),
        },
        versions: yanks.versions.iter().map(ToString::to_string).collect(),
    }))
}

// ----- release health -----

/// How far back `…/health` shows adoption (update checks per version).
const ADOPTION_WINDOW_SECS: i64 = 30 * 24 * 3600;

/// `GET /api/v1/apps/{app}/releases/{version}/health` (any token of the app): the events installs reported for a
/// release, per hour and channel and in total, its halt rule and halt state.
pub async fn health(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path((app, version)): Path<(String, String)>,
) -> Result<Response> {
    let app = AppId::parse(&app)?;
    principal.require(&app, Scope::Publish, "read release health")?;
    let version = parse_version(&version)?;
    let release = release_or_404(&state, &app, &version).await?;
    let mut buckets: Vec<HealthBucket> = Vec::new();
    for row in state.db().health_rows(&app, &release.version).await? {
        let seconds = u32::try_from(row.seconds).unwrap_or(u32::MAX);
        let same = |b: &HealthBucket| b.start == row.start && b.seconds == seconds && b.channel == row.channel;
        let index = match buckets.iter().position(same) {
            Some(index) => index,
            None => {
                buckets.push(HealthBucket {
                    start: row.start,
                    seconds,
                    channel: row.channel.clone(),
                    counts: HealthCounts::default(),
                });
                buckets.len() - 1
            }
        };
        if let Some(slot) = buckets[index].counts.get_mut(&row.kind) {
            *slot += row.n;
        }
    }
    let totals = state.db().health_totals(&app, &release.version).await?;
    let rule = state.db().halt_rule(&app, release.id).await?;
    let view = release_view(&state, &release).await?;
    let since = crate::db::now() - ADOPTION_WINDOW_SECS;
    let adoption = state
        .db()
        .adoption(&app, since)
        .await?
        .into_iter()
        .map(|(start, seconds, version, checks)| AdoptionBucket {
            start,
            seconds: u32::try_from(seconds).unwrap_or(u32::MAX),
            version,
            checks,
        })
        .collect();
    Ok(Json(ReleaseHealth {
        app: app.to_string(),
        version: release.version.clone(),
        failure_percent: totals.failure_percent(),
        totals,
        rule: rule.map(|(rule, _)| rule),
        rule_source: rule.map(|(_, source)| source.to_owned()),
        halted: view.halted,
        channels: view.channels,
        buckets,
        adoption,
    })
    .into_response())
}

fn check_rule(request: &SetHaltRule) -> Result<()> {
    if let Some(rule) = request.rule {
        if rule.max_failure_percent > 100 {
            return Err(Error::bad_request("`max_failure_percent` is over 100"));
        }
        if rule.min_installs == 0 {
            return Err(Error::bad_request("`min_installs` must be at least 1: one report must never decide alone"));
        }
    }
    Ok(())
}

/// `PUT /api/v1/apps/{app}/releases/{version}/halt-rule` (admin): the release's own halt rule (`null` removes it;
/// the app's default then applies). The rule is evaluated at once, so a release already over it is halted now.
pub async fn set_release_halt_rule(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path((app, version)): Path<(String, String)>,
    json: std::result::Result<Json<SetHaltRule>, JsonRejection>,
) -> Result<Response> {
    let app = AppId::parse(&app)?;
    principal.require(&app, Scope::Admin, "change halt rules")?;
    let version = parse_version(&version)?;
    let request = body(json)?;
    check_rule(&request)?;
    let release = release_or_404(&state, &app, &version).await?;
    state.db().set_release_halt_rule(release.id, request.rule).await?;
    tracing::info!(app = %app, version = %version, rule = ?request.rule, "release halt rule set");
    super::events::evaluate_halt(&state, &app, &release).await?;
    health(State(state), Auth(principal), Path((app.to_string(), version.to_string()))).await
}

/// `PUT /api/v1/apps/{app}/halt-rule` (admin): the app's default halt rule, for releases without their own.
pub async fn set_app_halt_rule(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(app): Path<String>,
    json: std::result::Result<Json<SetHaltRule>, JsonRejection>,
) -> Result<Response> {
    let app = AppId::parse(&app)?;
    principal.require(&app, Scope::Admin, "change halt rules")?;
    let request = body(json)?;
    check_rule(&request)?;
    if !state.db().set_app_halt_rule(&app, request.rule).await? {
        return Err(Error::not_found(format!("app `{app}`")));
    }
    tracing::info!(app = %app, rule = ?request.rule, "app halt rule set");
    Ok(Json(request).into_response())
}

// ----- webhooks -----

fn webhook_view(row: &crate::db::WebhookRow) -> Webhook {
    Webhook {
        id: row.id.clone(),
        app: row.app_id.clone(),
        url: row.url.clone(),
        events: row.events.clone(),
        created_at: row.created_at,
    }
}

/// Most webhooks per app.
pub const MAX_WEBHOOKS: usize = 16;

/// `POST /api/v1/apps/{app}/webhooks` (admin): adds a webhook; answers its secret once.
pub async fn create_webhook(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(app): Path<String>,
    json: std::result::Result<Json<CreateWebhook>, JsonRejection>,
) -> Result<Response> {
    let app = AppId::parse(&app)?;
    principal.require(&app, Scope::Admin, "manage webhooks")?;
    let request = body(json)?;
    let url = crate::webhooks::check_url(&request.url)?;
    state.db().app(&app).await?.ok_or_else(|| Error::not_found(format!("app `{app}`")))?;
    let events = match request.events {
        None => WEBHOOK_EVENTS.iter().map(|e| (*e).to_owned()).collect(),
        Some(events) => {
            if events.is_empty() {
                return Err(Error::bad_request("`events` is empty: leave it out to receive every event"));
            }
            if let Some(unknown) = events.iter().find(|e| !WEBHOOK_EVENTS.contains(&e.as_str())) {
                return Err(Error::bad_request(format!(
                    "unknown webhook event `{}`: expected {}",
                    crate::names::snippet(unknown),
                    WEBHOOK_EVENTS.join(", ")
                )));
            }
            let mut events = events;
            events.sort();
            events.dedup();
            events
        }
    };
    let secret = match request.secret {
        Some(secret) if secret.len() < 16 || secret.len() > 256 => {
            return Err(Error::bad_request("a webhook secret is 16 to 256 characters"));
        }
        Some(secret) => secret,
        None => {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).map_err(|e| Error::Internal(format!("random secret: {e}")))?;
            hex::encode(bytes)
        }
    };
    if state.db().webhooks(&app).await?.len() >= MAX_WEBHOOKS {
        return Err(Error::conflict("too_many_webhooks", format!("app `{app}` has {MAX_WEBHOOKS} webhooks already")));
    }
    let row = state.db().insert_webhook(&app, url.as_str(), &secret, &events).await?;
    tracing::info!(app = %app, webhook = %row.id, url = %url, "webhook added");
    Ok((StatusCode::CREATED, Json(CreatedWebhook { webhook: webhook_view(&row), secret })).into_response())
}

/// `GET /api/v1/apps/{app}/webhooks` (admin).
pub async fn list_webhooks(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(app): Path<String>,
) -> Result<Response> {
    let app = AppId::parse(&app)?;
    principal.require(&app, Scope::Admin, "manage webhooks")?;
    let webhooks = state.db().webhooks(&app).await?.iter().map(webhook_view).collect();
    Ok(Json(Webhooks { webhooks }).into_response())
}

/// `DELETE /api/v1/apps/{app}/webhooks/{id}` (admin): removes a webhook and its delivery log; answers the rest.
pub async fn delete_webhook(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path((app, id)): Path<(String, String)>,
) -> Result<Response> {
    let app = AppId::parse(&app)?;
    principal.require(&app, Scope::Admin, "manage webhooks")?;
    if !state.db().delete_webhook(&app, &id).await? {
        return Err(Error::not_found("webhook"));
    }
    let webhooks = state.db().webhooks(&app).await?.iter().map(webhook_view).collect();
    Ok(Json(Webhooks { webhooks }).into_response())
}

/// `GET /api/v1/apps/{app}/webhooks/deliveries` (admin): the newest 100 deliveries.
pub async fn webhook_deliveries(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(app): Path<String>,
) -> Result<Response> {
    let app = AppId::parse(&app)?;
    principal.require(&app, Scope::Admin, "manage webhooks")?;
    let deliveries = state
        .db()
        .deliveries(&app, 100)
        .await?
        .into_iter()
        .map(|d| WebhookDelivery {
            id: d.id,
            webhook_id: d.webhook_id,
            event: d.event,
            status: d.status,
            attempts: d.attempts,
            last_status_code: d.last_status_code,
            last_error: d.last_error,
            created_at: d.created_at,
            next_attempt_at: d.next_attempt_at,
            delivered_at: d.delivered_at,
            body: d.body,
        })
        .collect();
    Ok(Json(WebhookDeliveries { deliveries }).into_response())
}
