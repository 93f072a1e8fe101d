//! Millennium's signed metadata (`docs/protocol.md` §7): the routes clients read, and the administration of roots and
//! online keys.
//!
//! # Routes
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /metadata/{app}/roots.json` | apps | every root envelope, oldest first (JSON array) |
//! | `GET /metadata/{app}/freshness.json` | apps | the current freshness envelope |
//! | `GET /metadata/{app}/yanks.json` | apps | the signed yank list (`404` while the app has none) |
//! | `GET /metadata/{app}/channels/{channel}/releases/{version}.json` | apps | a release envelope (`410` once yanked) |
//! | `GET /metadata/{app}/files/{version}/{target}/{file}` | apps | the artifact, exactly as `/download/` serves it |
//! | `GET /metadata/{app}/deltas/{version}/{target}/index.json` | apps | the stored deltas to that artifact (unsigned) |
//! | `GET /metadata/{app}/deltas/{version}/{target}/{from}` | apps | a delta, exactly as `/download/…/delta/` serves it |
//! | `GET /api/v1/apps/{app}/metadata` | app tokens | root version, online keys, last sequence per channel |
//! | `POST /api/v1/apps/{app}/online-keys` | app admin | generates an online key (the server keeps the secret) |
//! | `POST /api/v1/apps/{app}/roots` | app admin | stores the next root (an envelope signed offline) |
//!
//! # Who signs what
//!
//! The server never sees a root or release key. Roots, release documents and yank lists arrive signed; the server
//! checks them with the protocol crate's [`TrustState`] exactly as a client will (root `N + 1` must carry a threshold
//! of root `N`'s root keys and of its own; the first root must be signed by the key the app was registered with and
//! by its own threshold; a release document or yank list must be signed by a release key of the current root, for
//! this app) and refuses what a client would refuse. The freshness document is the only one the server signs, with
//! the newest online key it holds that the current root lists and no root revoked: after every change of what is
//! offered (publish, promote, rollout, yank, new root), and again by the singleton job of [`super::replicas`] when
//! half of its lifetime has passed. A request for an expired one signs a new one first. Its sequence number is
//! `max(last + 1, the issue time in milliseconds)` ([`freshness_sequence_at`]), which clients bound by their clock.
//! It pins the stored yank list while that list verifies under the current root (a list signed by a release key a
//! later root dropped does not, and clients forget theirs on that root too, until the publisher signs a new one).
//!
//! # One signing at a time
//!
//! Signing may cost an scrypt key derivation (online keys encrypted with `MILLENNIUM_ONLINE_KEY_PASSWORD`), and a
//! request for an expired freshness document needs no token, so requests must not be able to start signings at
//! will. Each app's signings run one at a time in this process ([`Signings`]), and the stored document is checked
//! before the key is opened, so a signing that is no longer due costs one database read. A request that finds the
//! document expired while a signing of the app is under way, or within [`FAILURE_PAUSE`] of a failed one, is
//! answered `503` with `Retry-After` instead of starting another.
//!
//! An app without a root has no signed metadata: these routes answer `404`, and publishing works as before.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use millennium_sign::{Format, KdfParams, KeyId, PublicKey, SecretKey, SecretKeyBox};
use millennium_update_admin::api::{
    ChannelSequence, FreshnessStatus, MetadataStatus, OnlineKey, OnlineKeyStatus, StoredRoot, YanksStatus,
};
use millennium_update_admin::report::display_chain;
use millennium_update_protocol::metadata::{
    ChannelHead, Envelope, Freshness, Kind, Root, SPEC_VERSION, TrustState, YanksPin, freshness_sequence_at,
};
use millennium_update_protocol::{Version, delta};
use time::OffsetDateTime;

use super::{AppState, Auth};
use crate::db::{AppRow, DocumentHead, FreshnessRow, OnlineKeyRow, YankListRow};
use crate::error::{Error, Result};
use crate::names::{AppId, Channel};
use crate::tokens::Scope;

/// Most online keys an app may accumulate (each root lists at most 16 keys of a kind).
const MAX_ONLINE_KEYS: usize = 16;

/// How long requests are answered `503` after a signing they started failed (a locked online key, say), instead of
/// each trying again.
pub const FAILURE_PAUSE: Duration = Duration::from_secs(10);

/// The freshness signings of each app: one at a time, and when the last one a request started failed.
#[derive(Debug, Default)]
pub struct Signings {
    apps: Mutex<HashMap<String, Arc<Flight>>>,
}

#[derive(Debug, Default)]
struct Flight {
    /// Held while a signing of the app runs.
    running: tokio::sync::Mutex<()>,
    /// When a signing started by a request last failed.
    failed_at: Mutex<Option<Instant>>,
}

impl Signings {
    /// How many apps it tracks: the apps with signed metadata whose freshness document was signed since the start.
    pub fn apps(&self) -> usize {
        self.apps.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    fn flight(&self, app: &AppId) -> Arc<Flight> {
        // Only apps with signed metadata get here (registered ones with a root), so the map stays small.
        self.apps.lock().unwrap_or_else(PoisonError::into_inner).entry(app.to_string()).or_default().clone()
    }
}

/// When a stored freshness document is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Due {
    /// Now: what it lists changed.
    Always,
    /// Once it has expired (a request found no valid one).
    Expired,
    /// Once half of its lifetime has passed (the re-signing job).
    HalfLife,
}

fn app_key(row: &AppRow) -> Result<PublicKey> {
    PublicKey::from_text(&row.public_key).map_err(|e| Error::Internal(format!("stored public key: {e}")))
}

async fn app_row(state: &AppState, app: &AppId) -> Result<AppRow> {
    state.db().app(app).await?.ok_or_else(|| Error::not_found(format!("app `{app}`")))
}

fn no_metadata(app: &AppId) -> Error {
    Error::not_found(format!("signed metadata of app `{app}`"))
}

fn rejected(what: &str, error: impl std::fmt::Display) -> Error {
    Error::MetadataRejected { what: what.to_owned(), reason: error.to_string() }
}

/// The app's trust state as a client pinned to the app's registered key would hold it after reading every stored
/// root; `None` when the app has no root (no signed metadata).
pub async fn trust_state(state: &AppState, app: &AppId) -> Result<Option<TrustState>> {
    let roots = state.db().roots(app).await?;
    if roots.is_empty() {
        return Ok(None);
    }
    let pinned = app_key(&app_row(state, app).await?)?;
    let envelopes = roots
        .iter()
        .map(|text| Envelope::parse(text.as_bytes()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::Internal(format!("stored root of `{app}`: {e}")))?;
    TrustState::bootstrap(app.as_str(), &pinned, &envelopes)
        .map(Some)
        .map_err(|e| Error::Internal(format!("the stored roots of `{app}` do not chain: {e}")))
}

/// Every key id revoked by `trust`'s root or one before it.
fn revoked_ids(trust: &TrustState) -> Result<Vec<KeyId>> {
    trust.revoked().map_err(|e| Error::Internal(format!("current root: {e}")))
}

/// The online key that signs freshness documents under `trust`'s root: the newest the server holds that the root
/// lists and no root revoked.
async fn signing_key(state: &AppState, app: &AppId, trust: &TrustState) -> Result<SecretKey> {
    let root = trust.current_root().map_err(|e| Error::Internal(format!("current root: {e}")))?;
    let revoked = revoked_ids(trust)?;
    for row in state.db().online_keys(app).await? {
        let public = PublicKey::from_text(&row.public_key)
            .map_err(|e| Error::Internal(format!("stored online key {}: {e}", row.key_id)))?;
        if root.online_keys.contains(&public.to_base64()) && !revoked.contains(&public.key_id()) {
            let sealed = SecretKeyBox::from_text(&row.secret_key)
                .map_err(|e| Error::Internal(format!("stored online key {}: {e}", row.key_id)))?;
            return open_online_key(state, app, &row.key_id, sealed).await;
        }
    }
    Err(Error::conflict(
        "no_online_key",
        format!(
            "root {} of app `{app}` lists no online key this server holds, so it cannot sign freshness documents\nhint: run `millennium-update-server online-key generate --app {app}`, then sign a root that lists it with `millennium-update-server root sign`",
            trust.root_version
        ),
    ))
}

/// Decrypts a stored online key (on a blocking thread: scrypt takes a while and must not stall an HTTP worker).
async fn open_online_key(state: &AppState, app: &AppId, key_id: &str, sealed: SecretKeyBox) -> Result<SecretKey> {
    let password = state.config().online_key_password.clone();
    let opened = tokio::task::spawn_blocking(move || sealed.open(password.as_ref().map(|p| p.as_str())))
        .await
        .map_err(|e| Error::Internal(format!("decrypting online key {key_id}: {e}")))?;
    opened.map_err(|e| match e {
        millennium_sign::Error::PasswordRequired | millennium_sign::Error::WrongPassword => Error::conflict(
            "online_key_locked",
            format!(
                "online key {key_id} of app `{app}` is encrypted and {}, so freshness documents cannot be signed\nhint: start every replica with the `{}` the key was generated with",
                if matches!(e, millennium_sign::Error::PasswordRequired) {
                    "no password is set"
                } else {
                    "the password set does not open it"
                },
                crate::env_vars::ONLINE_KEY_PASSWORD
            ),
        ),
        other => Error::Internal(format!("stored online key {key_id}: {other}")),
    })
}

/// What each channel offers: its newest release (not yanked, not paused) and, while that one is rolling out, the
/// newest release at 100 %.
fn channel_heads(rows: Vec<DocumentHead>) -> Result<BTreeMap<String, Vec<ChannelHead>>> {
    let mut channels: BTreeMap<String, Vec<ChannelHead>> = BTreeMap::new();
    for row in rows {
        let offered = channels.entry(row.channel.clone()).or_default();
        if row.yanked || row.paused {
            continue;
        }
        let version = Version::parse(&row.version).map_err(|e| Error::Internal(format!("stored version: {e}")))?;
        offered.push(ChannelHead {
            release_sequence: u64::try_from(row.sequence).map_err(|_| Error::Internal("stored sequence".into()))?,
            version,
            release_hash: row.hash,
            rollout: row.rollout,
        });
    }
    for heads in channels.values_mut() {
        heads.sort_by(|a, b| b.version.cmp_precedence(&a.version).then(b.release_sequence.cmp(&a.release_sequence)));
        let full = heads.iter().skip(1).position(|head| head.rollout == 100).map(|i| i + 1);
        let keep_full = heads.first().is_some_and(|newest| newest.rollout < 100);
        let mut offered: Vec<ChannelHead> = heads
            .drain(..)
            .enumerate()
            .filter(|(i, _)| *i == 0 || (keep_full && Some(*i) == full))
            .map(|(_, head)| head)
            .collect();
        std::mem::swap(heads, &mut offered);
    }
    Ok(channels)
}

/// Signs a new freshness document for `app` if `due` says so, after any signing of the app under way; `None` when
/// the app has no signed metadata.
pub async fn sign_freshness(state: &AppState, app: &AppId, due: Due) -> Result<Option<FreshnessRow>> {
    let flight = state.signings().flight(app);
    let _running = flight.running.lock().await;
    sign_freshness_now(state, app, due).await
}

/// The current freshness document for a request that found the stored one expired: signed now if no signing of the
/// app runs and none failed within [`FAILURE_PAUSE`], else [`Error::Unavailable`].
async fn sign_for_request(state: &AppState, app: &AppId) -> Result<Option<FreshnessRow>> {
    // Any name reaches here unauthenticated: one without roots (made up, or an app without signed metadata) must not
    // take an entry in `Signings`, or a stream of made-up names would grow it without bound.
    if state.db().roots(app).await?.is_empty() {
        return Ok(None);
    }
    let flight = state.signings().flight(app);
    let failed_at = *flight.failed_at.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(left) = failed_at.and_then(|at| FAILURE_PAUSE.checked_sub(at.elapsed())) {
        return Err(Error::Unavailable {
            what: format!("the freshness document of app `{app}` could not be signed"),
            retry_after: left.as_secs().max(1),
        });
    }
    let Ok(_running) = flight.running.try_lock() else {
        return Err(Error::Unavailable {
            what: format!("the freshness document of app `{app}` is being signed"),
            retry_after: 1,
        });
    };
    let signed = sign_freshness_now(state, app, Due::Expired).await;
    if signed.is_err() {
        *flight.failed_at.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
    }
    signed
}

/// [`sign_freshness`] for a caller that holds the app's [`Flight`].
async fn sign_freshness_now(state: &AppState, app: &AppId, due: Due) -> Result<Option<FreshnessRow>> {
    let Some(trust) = trust_state(state, app).await? else {
        return Ok(None);
    };
    let lifetime = state.config().freshness_lifetime;
    let lifetime_secs = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
    let now = OffsetDateTime::now_utc();
    let issued = now.replace_nanosecond(0).unwrap_or(now);
    let expires = issued + lifetime;
    let is_due = |row: &FreshnessRow| match due {
        Due::Always => true,
        Due::Expired => row.expires_at <= now.unix_timestamp(),
        Due::HalfLife => row.expires_at - now.unix_timestamp() <= lifetime_secs / 2,
    };
    // Checked again in the transaction below (another replica may sign meanwhile); here so that a signing that is no
    // longer due (the one before it just signed) does not open the key.
    if let Some(row) = state.db().freshness(app).await?
        && !is_due(&row)
    {
        return Ok(Some(row));
    }
    let key = signing_key(state, app, &trust).await.inspect_err(|_| {
        state.metrics().freshness_signing(app.as_str(), "failed");
    })?;
    state.metrics().freshness_signing(app.as_str(), "signed");
    let row = state
        .db()
        .replace_freshness(app, is_due, |lowest, rows, yanks| {
            let document = Freshness {
                kind: Kind::Freshness,
                spec_version: SPEC_VERSION,
                app: app.to_string(),
                sequence: lowest.max(freshness_sequence_at(issued)),
                issued,
                expires,
                channels: channel_heads(rows)?,
                yanks: yanks.and_then(|row| yanks_pin(app, &trust, row)),
            };
            let envelope = Envelope::sign(&document, Kind::Freshness, &[&key])
                .map_err(|e| Error::Internal(format!("signing the freshness document: {e}")))?;
            Ok(FreshnessRow {
                sequence: i64::try_from(document.sequence).unwrap_or(i64::MAX),
                envelope: envelope.to_json(),
                issued_at: issued.unix_timestamp(),
                expires_at: expires.unix_timestamp(),
            })
        })
        .await?;
    Ok(Some(row))
}

/// What a freshness document pins of the stored yank list: nothing when it no longer verifies under the current root
/// (its release key was rotated out; clients forgot their list on that root too).
fn yanks_pin(app: &AppId, trust: &TrustState, row: YankListRow) -> Option<YanksPin> {
    let verified = Envelope::parse(row.envelope.as_bytes()).and_then(|envelope| trust.check_yanks_document(&envelope));
    match (verified, u64::try_from(row.sequence)) {
        (Ok(_), Ok(sequence)) => Some(YanksPin { sequence, hash: row.hash }),
        (Err(e), _) => {
            tracing::warn!(app = %app, error = %e, "the stored yank list does not verify under the current root; sign a new one with `yank --release-key`");
            None
        }
        (_, Err(_)) => None,
    }
}

/// Re-signs the freshness document after a change of what `app` offers. A failure is logged, not returned: the
/// change is committed, and the re-signing job (or the next request) signs again.
pub async fn refresh(state: &AppState, app: &AppId) {
    match sign_freshness(state, app, Due::Always).await {
        Ok(Some(row)) => tracing::debug!(app = %app, sequence = row.sequence, "freshness document signed"),
        Ok(None) => {}
        Err(e) => {
            tracing::error!(app = %app, error = %display_chain(&e), "could not sign the freshness document; retrying later")
        }
    }
}

/// The re-signing job: every app with signed metadata gets a new freshness document once half of the current one's
/// lifetime has passed.
pub async fn resign_due(state: &AppState) -> Result<()> {
    for app in state.db().apps_with_roots().await? {
        if let Err(e) = sign_freshness(state, &app, Due::HalfLife).await {
            tracing::error!(app = %app, error = %display_chain(&e), "could not re-sign the freshness document");
        }
    }
    Ok(())
}

fn document_response(body: String, cache_control: &'static str) -> Result<Response> {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, cache_control)
        .body(Body::from(body))
        .map_err(|e| Error::Internal(format!("response: {e}")))
}

/// `GET /metadata/{app}/roots.json`.
pub async fn roots(State(state): State<AppState>, Path(app): Path<String>) -> Result<Response> {
    let app = AppId::parse(&app)?;
    let roots = state.db().roots(&app).await?;
    if roots.is_empty() {
        return Err(no_metadata(&app));
    }
    // Each stored envelope is JSON already: the list is their concatenation.
    document_response(format!("[{}]", roots.join(",")), "no-cache")
}

/// `GET /metadata/{app}/freshness.json`.
pub async fn freshness(State(state): State<AppState>, Path(app): Path<String>) -> Result<Response> {
    let app = AppId::parse(&app)?;
    let row = match state.db().freshness(&app).await? {
        Some(row) if row.expires_at > crate::db::now() => row,
        _ => sign_for_request(&state, &app).await?.ok_or_else(|| no_metadata(&app))?,
    };
    document_response(row.envelope, "no-cache")
}

/// `GET /metadata/{app}/yanks.json`.
pub async fn yanks(State(state): State<AppState>, Path(app): Path<String>) -> Result<Response> {
    let app = AppId::parse(&app)?;
    let row = state.db().yank_list(&app).await?.ok_or_else(|| Error::not_found(format!("yank list of app `{app}`")))?;
    document_response(row.envelope, "no-cache")
}

/// `GET /metadata/{app}/channels/{channel}/releases/{version}.json`.
pub async fn release_document(
    State(state): State<AppState>,
    Path((app, channel, file)): Path<(String, String, String)>,
) -> Result<Response> {
    let app = AppId::parse(&app)?;
    let channel = Channel::parse(&channel)?;
    let missing = || Error::not_found(format!("release document `{}`", crate::names::snippet(&file)));
    let version = file.strip_suffix(".json").and_then(|v| Version::parse(v).ok()).ok_or_else(missing)?;
    match state.db().release_document(&app, &channel, &version.to_string()).await? {
        None => Err(missing()),
        Some((_, true)) => Err(Error::Gone { what: format!("release {version} of app `{app}`") }),
        // Immutable: a channel never gets a second document for a version.
        Some((document, false)) => document_response(document.envelope, "public, max-age=31536000, immutable"),
    }
}

/// `GET /metadata/{app}/deltas/{version}/{target}/index.json`: the deltas index of the secure check (docs/protocol.md
/// §9): every stored delta to the release's artifact for `target`, newest base first, at most
/// [`delta::MAX_DELTAS`]. Unsigned, as the dynamic answer's list: the signed release document checks the result.
pub async fn deltas_index(
    State(state): State<AppState>,
    Path((app, version, target)): Path<(String, String, String)>,
) -> Result<Response> {
    let (app, version, target) = super::download::parse_release_path(&app, &version, &target)?;
    let missing = || Error::not_found(format!("release {version} of app `{app}`"));
    let release = super::download::served_release(&state, &app, &version, missing).await?;
    let target = target.to_string();
    let mut rows: Vec<_> = state.db().deltas_to(release.id).await?.into_iter().filter(|d| d.target == target).collect();
    rows.sort_by_key(|d| std::cmp::Reverse(d.from_release_id));
    rows.truncate(delta::MAX_DELTAS);
    let offers = rows
        .iter()
        .map(|row| super::updates::delta_offer(&state, app.as_str(), &version, row))
        .collect::<Result<Vec<_>>>()?;
    let index = delta::write_index(&offers).map_err(|e| Error::Internal(format!("deltas index: {e}")))?;
    // Grows while the delta job works through the bases: revalidated, never kept stale.
    document_response(index, "no-cache")
}

/// `GET /api/v1/apps/{app}/metadata` (any token of the app): what a publisher or the root signer needs to know.
pub async fn status(State(state): State<AppState>, Auth(principal): Auth, Path(app): Path<String>) -> Result<Response> {
    let app = AppId::parse(&app)?;
    principal.require(&app, Scope::Publish, "read the signed metadata status")?;
    app_row(&state, &app).await?;
    let trust = trust_state(&state, &app).await?;
    let root = trust.as_ref().map(TrustState::current_root).transpose().map_err(|e| Error::Internal(e.to_string()))?;
    let revoked = trust.as_ref().map(revoked_ids).transpose()?.unwrap_or_default();
    let mut online_keys = Vec::new();
    for row in state.db().online_keys(&app).await? {
        let public = PublicKey::from_text(&row.public_key).map_err(|e| Error::Internal(e.to_string()))?;
        online_keys.push(OnlineKeyStatus {
            in_root: root.as_ref().is_some_and(|r| r.online_keys.contains(&public.to_base64())),
            revoked: revoked.contains(&public.key_id()),
            key_id: row.key_id,
            public_key: row.public_key,
            created_at: row.created_at,
        });
    }
    let mut channels = BTreeMap::new();
    for document in state.db().release_documents(&app).await? {
        // Ordered by channel, then sequence: the last one of each channel wins.
        let last = ChannelSequence { sequence: document.sequence, version: document.version };
        channels.insert(document.channel, last);
    }
    let freshness = state.db().freshness(&app).await?.map(|row| FreshnessStatus {
        sequence: row.sequence,
        issued_at: row.issued_at,
        expires_at: row.expires_at,
    });
    let yank_list = state.db().yank_list(&app).await?;
    Ok(Json(MetadataStatus {
        app: app.to_string(),
        root_version: trust.as_ref().map(|t| t.root_version),
        root_keys: root.as_ref().map(|r| r.root_keys.clone()),
        root_threshold: root.as_ref().map(|r| r.root_threshold.unwrap_or(1)),
        release_keys: root.as_ref().map(|r| r.release_keys.clone()),
        revoked_keys: trust.as_ref().map(|_| revoked.iter().map(ToString::to_string).collect()),
        signed_yanks: signed_yanks(root.as_ref(), yank_list.as_ref()),
        yanks: yank_list.map(|row| YanksStatus { sequence: row.sequence, created_at: row.created_at }),
        online_keys,
        channels,
        freshness,
    })
    .into_response())
}

/// Whether yanks of an app must come with a signed yank list: once its root has root keys (updaters that read such a
/// root read yank lists too), or once it has a signed list.
pub fn signed_yanks(root: Option<&Root>, list: Option<&YankListRow>) -> bool {
    list.is_some() || root.is_some_and(Root::has_root_keys)
}

/// `POST /api/v1/apps/{app}/online-keys` (app admin): generates an online key and keeps its secret; answers its
/// public key, to be listed in the next root.
pub async fn generate_online_key(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(app): Path<String>,
) -> Result<Response> {
    let app = AppId::parse(&app)?;
    principal.require(&app, Scope::Admin, "generate online keys")?;
    app_row(&state, &app).await?;
    if state.db().online_keys(&app).await?.len() >= MAX_ONLINE_KEYS {
        return Err(Error::conflict(
            "too_many_online_keys",
            format!("app `{app}` already has {MAX_ONLINE_KEYS} online keys"),
        ));
    }
    let secret = SecretKey::generate().map_err(|e| Error::Internal(format!("key generation: {e}")))?;
    let public = secret.public_key();
    // The server signs unattended, so the password (if any) comes from its environment, never from the database: a
    // copy of the database alone then holds no usable online key. It signs freshness documents only.
    let password = state.config().online_key_password.clone();
    let sealed =
        tokio::task::spawn_blocking(move || secret.seal(password.as_ref().map(|p| p.as_str()), KdfParams::INTERACTIVE))
            .await
            .map_err(|e| Error::Internal(format!("sealing the online key: {e}")))?
            .map_err(|e| Error::Internal(format!("sealing the online key: {e}")))?;
    let row = OnlineKeyRow {
        app_id: app.to_string(),
        key_id: public.key_id().to_string(),
        public_key: public.to_text(Format::Minisign),
        secret_key: sealed.to_text(Format::Minisign).to_string(),
        created_at: crate::db::now(),
    };
    state.db().insert_online_key(&row).await?;
    tracing::info!(app = %app, key_id = %row.key_id, "online key generated");
    let body = OnlineKey { app: app.to_string(), key_id: row.key_id, public_key: row.public_key };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `POST /api/v1/apps/{app}/roots` (app admin): the body is a root envelope. Root 1 must be signed by the key the
/// app was registered with; root `N + 1` must chain from root `N` (signed by a release key of each). The server must
/// hold an online key the root lists.
pub async fn upload_root(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(app): Path<String>,
    body: Bytes,
) -> Result<Response> {
    let app = AppId::parse(&app)?;
    principal.require(&app, Scope::Admin, "upload roots")?;
    let row = app_row(&state, &app).await?;
    let envelope = Envelope::parse(&body).map_err(|e| rejected("root", e))?;
    // Read only for its version number: the checks below verify it.
    let candidate: Root = serde_json::from_str(&envelope.payload).map_err(|e| rejected("root", e))?;
    let accepted = match trust_state(&state, &app).await? {
        None => {
            if candidate.version != 1 {
                return Err(rejected(
                    "root",
                    format!("app `{app}` has no root yet, so this one must be version 1, not {}", candidate.version),
                ));
            }
            TrustState::bootstrap(app.as_str(), &app_key(&row)?, std::slice::from_ref(&envelope)).map_err(|e| {
                rejected(
                    "root",
                    format!(
                        "{e}\nhint: root 1 must be signed by (and list) the release key app `{app}` was registered with"
                    ),
                )
            })?
        }
        Some(mut trust) => {
            if candidate.version != trust.root_version + 1 {
                return Err(Error::conflict(
                    "root_version",
                    format!(
                        "app `{app}` is at root {}, so the next root must be version {}, not {}",
                        trust.root_version,
                        trust.root_version + 1,
                        candidate.version
                    ),
                ));
            }
            trust.update_root(&envelope).map_err(|e| rejected("root", e))?;
            trust
        }
    };
    signing_key(&state, &app, &accepted).await?;
    state.db().insert_root(&app, candidate.version, &envelope.to_json()).await?;
    tracing::info!(app = %app, version = candidate.version, "root stored");
    refresh(&state, &app).await;
    let body = StoredRoot { app: app.to_string(), version: candidate.version };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(version: &str, sequence: i64, rollout: u8, yanked: bool) -> DocumentHead {
        DocumentHead {
            channel: "stable".into(),
            version: version.into(),
            sequence,
            hash: format!("h{sequence}"),
            yanked,
            rollout,
            paused: false,
        }
    }

    fn offered(rows: Vec<DocumentHead>) -> Vec<(String, u8)> {
        channel_heads(rows).unwrap()["stable"].iter().map(|h| (h.version.to_string(), h.rollout)).collect()
    }

    #[test]
    fn channels_offer_the_newest_release_and_the_newest_full_one_while_rolling_out() {
        let full = vec![head("1.0.0", 1, 100, false), head("1.1.0", 2, 100, false)];
        assert_eq!(offered(full), [("1.1.0".to_owned(), 100)]);
        let rolling = vec![head("1.0.0", 1, 100, false), head("1.1.0", 2, 100, false), head("1.2.0", 3, 20, false)];
        assert_eq!(offered(rolling), [("1.2.0".to_owned(), 20), ("1.1.0".to_owned(), 100)]);
        // A yanked release is never offered; the one before it is.
        let yanked = vec![head("1.0.0", 1, 100, false), head("1.1.0", 2, 100, true)];
        assert_eq!(offered(yanked), [("1.0.0".to_owned(), 100)]);
        assert!(offered(vec![head("1.0.0", 1, 100, true)]).is_empty());
    }
}
