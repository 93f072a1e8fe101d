//! The HTTP server: state, routes, middleware, start-up and graceful shutdown.
//!
//! [`app`] builds the whole [`Router`] from an [`AppState`], so tests drive it in-process with
//! `tower::ServiceExt::oneshot` and [`serve`] only adds a listener, logging and signal handling.
//!
//! # Routes
//!
//! | route | who | what |
//! |---|---|---|
//! | `GET /healthz` | anyone | `{"status":"ok"}` once the database answers |
//! | `GET /{app}/{target}/{arch}/{current_version}[/{bundle_type}]` | apps | Tauri dynamic update check ([`updates`]) |
//! | `GET /{app}/{channel}/latest.json` | apps | Tauri static manifest ([`updates`]) |
//! | `GET`/`HEAD /download/{app}/{version}/{target}/{file}` | apps | artifact download with `Range` ([`download`]) |
//! | `GET`/`HEAD /download/{app}/{version}/{target}/delta/{from}` | Millennium apps | delta download with `Range` ([`download`], [`deltas`]) |
//! | `GET /metadata/{app}/…` | Millennium apps | signed metadata: roots, freshness, release documents, files ([`metadata`]) |
//! | `/api/v1/…` | token holders | apps, tokens, publish, releases, promote, rollout, yank ([`api`], [`publish`]) |
//! | `POST /{app}/events` | apps (unauthenticated, rate limited) | release-health reports ([`events`]) |
//! | `GET /metrics` | metrics or server admin token | Prometheus counters ([`crate::metrics`]) |
//! | `GET /openapi.json` | anyone | OpenAPI 3.1 description of all of these ([`openapi`]) |
//! | `/ui/…` | people with an admin token | the dashboard: HTML pages and forms, signed in with a session cookie ([`ui`]) |
//!
//! App ids `api`, `download`, `healthz`, `metadata`, `metrics`, `openapi.json` and `ui` are reserved so these never collide.

pub mod api;
pub mod deltas;
pub mod download;
pub mod event_queue;
pub mod events;
pub mod front;
mod idle;
pub mod metadata;
pub mod openapi;
pub mod publish;
pub mod replicas;
pub mod ui;
pub mod updates;
pub mod workers;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use millennium_update_admin::api::{ErrorBody, ErrorDetail, Health};
use tower_http::trace::{DefaultOnRequest, DefaultOnResponse, MakeSpan, TraceLayer};
use tracing::Level;

use crate::blobs::{BlobStore, StorageUrl};
use crate::db::{DatabaseUrl, Db};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::tokens::{self, NewToken, PresentedToken, Principal, Scope};

/// Largest JSON request body of the admin API.
pub const MAX_JSON_BODY: usize = 256 * 1024;

/// Longest request URI.
pub const MAX_URI_LEN: usize = 4096;

/// Most request headers.
pub const MAX_HEADERS: usize = 64;

/// Largest total size of the request headers (names and values).
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Default `--max-upload-size`: 2 GiB per publish request.
pub const DEFAULT_MAX_UPLOAD_SIZE: u64 = 2 * 1024 * 1024 * 1024;

/// Where the server keeps its data: the database and the artifact store.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    /// Local working directory: the SQLite database and artifact files by default, and the staging area of uploads.
    pub data_dir: PathBuf,
    /// The database.
    pub database: DatabaseUrl,
    /// The artifact store.
    pub blobs: StorageUrl,
}

impl StorageConfig {
    /// The zero-setup default: SQLite and files, all under `data_dir`.
    pub fn local(data_dir: &Path) -> Self {
        Self {
            data_dir: data_dir.to_owned(),
            database: DatabaseUrl::sqlite_in(data_dir),
            blobs: StorageUrl::files_in(data_dir),
        }
    }

    /// `data_dir` with the given database and storage URLs (each defaulting to the local one).
    pub fn from_urls(data_dir: &Path, database: Option<&str>, blobs: Option<&str>) -> Result<Self> {
        let mut storage = Self::local(data_dir);
        if let Some(url) = database {
            storage.database = DatabaseUrl::parse(url)?;
        }
        if let Some(url) = blobs {
            storage.blobs = StorageUrl::parse(url)?;
        }
        Ok(storage)
    }

    /// Opens the database (applying migrations) and the artifact store.
    pub async fn open(&self) -> Result<(Db, BlobStore)> {
        std::fs::create_dir_all(&self.data_dir)
            .map_err(|e| Error::io("could not create the data directory", &self.data_dir, e))?;
        let db = Db::open(&self.database).await?;
        let blobs = BlobStore::open(&self.blobs, &self.data_dir)?;
        blobs
            .check()
            .await
            .map_err(|e| Error::Connect(format!("could not reach the object store {}: {e}", self.blobs)))?;
        Ok((db, blobs))
    }
}

/// How artifact downloads from an object store reach clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownloadMode {
    /// Through the server, with `Range` support.
    Stream,
    /// `302` to a presigned URL valid this long (the object store then serves the bytes).
    Redirect(Duration),
}

/// Garbage collection of uploads left by interrupted publishes, on an object store shared by replicas.
#[derive(Debug, Clone, Copy)]
pub struct GcConfig {
    /// How often the leader replica looks.
    pub interval: Duration,
    /// Blobs younger than this are spared: another replica may be between its upload and its commit.
    pub grace: Duration,
}

impl Default for GcConfig {
    fn default() -> Self {
        Self { interval: Duration::from_secs(600), grace: Duration::from_secs(3600) }
    }
}

/// What the server needs to know beyond its storage.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The base URL of this server (download URLs are `{public_url}/download/…` unless `cdn_url`). No trailing slash.
    pub public_url: String,
    /// The base URL of a CDN in front of `/download/`, put in manifests instead of `public_url`. No trailing slash.
    pub cdn_url: Option<String>,
    /// How downloads from an object store are served (files are always streamed).
    pub downloads: DownloadMode,
    /// Orphan collection on an object store.
    pub gc: GcConfig,
    /// Largest total artifact size of one publish request, in bytes.
    pub max_upload_size: u64,
    /// SHA-256 of the token `GET /metrics` accepts besides server admin tokens (`MILLENNIUM_METRICS_TOKEN`).
    pub metrics_token_hash: Option<[u8; 32]>,
    /// How long a freshness document is valid; it is re-signed when half of it has passed.
    pub freshness_lifetime: Duration,
    /// The password online keys are encrypted with in the database (`MILLENNIUM_ONLINE_KEY_PASSWORD`); without one
    /// they are stored unencrypted.
    pub online_key_password: Option<Arc<zeroize::Zeroizing<String>>>,
    /// The delta job ([`deltas`]).
    pub deltas: deltas::DeltaConfig,
    /// Rate limits of the release-health event endpoint ([`events`]).
    pub events: events::EventLimits,
    /// How webhook deliveries are attempted.
    pub webhooks: crate::webhooks::WebhookConfig,
    /// Age after which hourly release-health counters are compacted into daily ones (`--health-compact-after`).
    pub health_compact_after: Duration,
}

/// Default `--health-compact-after`: a week.
pub const DEFAULT_HEALTH_COMPACT_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

/// Default `--freshness-expiry`: one day.
pub const DEFAULT_FRESHNESS_LIFETIME: Duration = Duration::from_secs(24 * 3600);

fn base_url(what: &str, text: &str) -> Result<String> {
    let url = url::Url::parse(text).map_err(|e| Error::usage(format!("invalid {what} `{text}`: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.query().is_some() || url.fragment().is_some() {
        return Err(Error::usage(format!(
            "invalid {what} `{text}`: expected `http://` or `https://` with no query or fragment"
        )));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

impl ServerConfig {
    /// Makes a configuration, checking the public URL.
    pub fn new(public_url: &str, max_upload_size: u64) -> Result<Self> {
        Ok(Self {
            public_url: base_url("public URL", public_url)?,
            cdn_url: None,
            downloads: DownloadMode::Stream,
            gc: GcConfig::default(),
            max_upload_size,
            metrics_token_hash: None,
            freshness_lifetime: DEFAULT_FRESHNESS_LIFETIME,
            online_key_password: None,
            deltas: deltas::DeltaConfig::default(),
            events: events::EventLimits::default(),
            webhooks: crate::webhooks::WebhookConfig::default(),
            health_compact_after: DEFAULT_HEALTH_COMPACT_AFTER,
        })
    }

    /// Puts `cdn_url` instead of the public URL in front of download URLs in manifests. The CDN must forward
    /// `/download/…` to this server (or to any replica); those answers are immutable and cacheable for a year.
    pub fn with_cdn_url(mut self, cdn_url: &str) -> Result<Self> {
        self.cdn_url = Some(base_url("CDN URL", cdn_url)?);
        Ok(self)
    }

    /// The base of download URLs in manifests.
    pub fn download_base_url(&self) -> &str {
        self.cdn_url.as_deref().unwrap_or(&self.public_url)
    }

    /// Encrypts online keys in the database with `password` (at least 16 characters), and decrypts them with it.
    pub fn with_online_key_password(mut self, password: &str) -> Result<Self> {
        if password.len() < 16 {
            return Err(Error::usage(format!(
                "`{}` is shorter than 16 characters\nhint: use a long random value, e.g. `openssl rand -hex 32`",
                crate::env_vars::ONLINE_KEY_PASSWORD
            )));
        }
        self.online_key_password = Some(Arc::new(zeroize::Zeroizing::new(password.to_owned())));
        Ok(self)
    }

    /// Accepts `token` on `GET /metrics` (at least 16 characters).
    pub fn with_metrics_token(mut self, token: &str) -> Result<Self> {
        if token.len() < 16 {
            return Err(Error::usage(format!(
                "`{}` is shorter than 16 characters\nhint: use a long random value, e.g. `openssl rand -hex 32`",
                crate::env_vars::METRICS_TOKEN
            )));
        }
        self.metrics_token_hash = Some(tokens::hash_whole(token));
        Ok(self)
    }
}

/// Shared state of every request (cheap to clone).
#[derive(Debug, Clone)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    db: Db,
    blobs: BlobStore,
    config: ServerConfig,
    /// SHA-256 of the admin token given by `MILLENNIUM_ADMIN_TOKEN`, if any.
    env_admin_hash: Option<[u8; 32]>,
    metrics: Metrics,
    cache: updates::AnswerCache,
    signings: metadata::Signings,
    delta_job: deltas::DeltaJobState,
    limiters: events::Limiters,
    release_index: events::ReleaseIndex,
    event_queue: event_queue::EventQueue,
    adoption: crate::adoption::Adoption,
}

/// What opening the state did that the operator must know.
#[derive(Debug)]
pub struct Opened {
    /// The state.
    pub state: AppState,
    /// Where the server admin token created because none existed was written ([`ADMIN_TOKEN_FILE`] in the data
    /// directory): tell the operator the path, never the token.
    pub admin_token_file: Option<PathBuf>,
}

/// The file in the data directory that receives the server admin token made on first start (mode `0600`).
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

impl AppState {
    /// Opens the storage (creating the data directory, applying migrations), removes uploads left by an interrupted
    /// publish (files: at once; an object store: later, by the leader replica, see [`replicas`]), and makes a server
    /// admin token on first start unless `admin_token` (from `MILLENNIUM_ADMIN_TOKEN`) is given (see
    /// [`first_admin_token`]).
    pub async fn open(storage: &StorageConfig, config: ServerConfig, admin_token: Option<&str>) -> Result<Opened> {
        let (db, blobs) = storage.open().await?;
        // The staging and scratch directories are this process's own.
        let mut removed = blobs.remove_staged_leftovers()?;
        if !blobs.is_object_store() {
            // Local files belong to this process alone: everything unreferenced is left from a crash. (A shared store
            // is the leader's job.)
            removed += blobs.collect_garbage(|| db.referenced_blobs(), Duration::ZERO).await?;
        }
        if removed > 0 {
            tracing::warn!(removed, "removed uploads left by an interrupted publish");
        }
        let env_admin_hash = match admin_token {
            Some(token) if token.len() < 16 => {
                return Err(Error::usage(
                    "`MILLENNIUM_ADMIN_TOKEN` is shorter than 16 characters\nhint: use a long random value, e.g. `openssl rand -hex 32`",
                ));
            }
            Some(token) => Some(tokens::hash_whole(token)),
            None => None,
        };
        let admin_token_file = match env_admin_hash {
            Some(_) => None,
            None => first_admin_token(&db, &storage.data_dir).await?,
        };
        // The event writer holds the state weakly, so that it ends with it.
        let state = AppState(Arc::new_cyclic(|state| Inner {
            db,
            blobs,
            env_admin_hash,
            metrics: Metrics::new(),
            cache: updates::AnswerCache::default(),
            signings: metadata::Signings::default(),
            delta_job: deltas::DeltaJobState::default(),
            limiters: events::Limiters::new(&config.events),
            release_index: events::ReleaseIndex::default(),
            event_queue: event_queue::EventQueue::start(state, config.events.max_queued),
            adoption: crate::adoption::Adoption::default(),
            config,
        }));
        Ok(Opened { state, admin_token_file })
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.0.db
    }

    /// The artifact store.
    pub fn blobs(&self) -> &BlobStore {
        &self.0.blobs
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.0.config
    }

    /// The Prometheus counters.
    pub fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    /// The cache of update answers.
    pub fn cache(&self) -> &updates::AnswerCache {
        &self.0.cache
    }

    /// The freshness signings under way.
    pub fn signings(&self) -> &metadata::Signings {
        &self.0.signings
    }

    /// The adoption counters of update checks.
    pub fn adoption(&self) -> &crate::adoption::Adoption {
        &self.0.adoption
    }

    /// The rate limiters of the event endpoint.
    pub fn limiters(&self) -> &events::Limiters {
        &self.0.limiters
    }

    /// What the event endpoint knows of apps and their releases.
    pub fn release_index(&self) -> &events::ReleaseIndex {
        &self.0.release_index
    }

    /// The event writer's queue.
    pub fn event_queue(&self) -> &event_queue::EventQueue {
        &self.0.event_queue
    }

    /// Records that the releases of `app` changed (`event`: `published`, `promoted`, …): counts the event and drops
    /// the cached update answers, so the next check reads the database. Called after the change is committed.
    pub fn releases_changed(&self, app: &crate::names::AppId, event: &str) {
        self.0.cache.invalidate();
        self.0.metrics.release_event(app.as_str(), event);
        // A new release (or placement) may need deltas; the job runs elsewhere if this replica does not lead.
        self.0.delta_job.wake.notify_one();
    }

    /// The delta job's state ([`deltas`]).
    pub fn delta_job(&self) -> &deltas::DeltaJobState {
        &self.0.delta_job
    }

    /// Checks a bearer token.
    pub async fn authenticate(&self, token: &str) -> Result<Principal> {
        if let Some(expected) = &self.0.env_admin_hash
            && tokens::hashes_equal(&tokens::hash_whole(token), expected)
        {
            return Ok(Principal { token_id: None, app: None, scope: Scope::Admin });
        }
        let presented = PresentedToken::parse(token)?;
        let row = self.db().token(presented.id).await?.ok_or(Error::Unauthorized)?;
        if !presented.matches(&row.secret_hash) || row.revoked_at.is_some() {
            return Err(Error::Unauthorized);
        }
        let app = row.app_id.as_deref().map(crate::names::AppId::parse).transpose()?;
        Ok(Principal { token_id: Some(row.id), app, scope: row.scope })
    }
}

/// Makes the server admin token on first start (when the database has none) and writes it to [`ADMIN_TOKEN_FILE`]
/// in `data_dir`; returns the file's path when it did.
///
/// The token never goes to stderr, which container runtimes keep in their logs (`docker logs`) for anyone who can
/// read those. The file is written before the token's hash is stored: a temporary file (mode `0600`, synced) renamed
/// without overwriting, so a crash leaves either no file or a whole one, and an existing file is never replaced.
/// When a file is already there but the database has no admin token (a crash between the two steps, or a database
/// reset), the token in it is adopted rather than a second one made, so the file always holds the working token.
pub async fn first_admin_token(db: &Db, data_dir: &Path) -> Result<Option<PathBuf>> {
    if db.has_server_admin_token().await? {
        return Ok(None);
    }
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    let token = match std::fs::read_to_string(&path) {
        Ok(text) => NewToken::adopt(text.trim()).map_err(|_| {
            Error::usage(format!(
                "`{}` does not hold a server admin token, and the database has none\nhint: move the file away so the server can write a new token there, or set `{}`",
                path.display(),
                crate::env_vars::ADMIN_TOKEN
            ))
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let token = NewToken::generate()?;
            write_new_file(&path, token.text.as_bytes())?;
            token
        }
        Err(e) => return Err(Error::io("could not read", &path, e)),
    };
    // Replicas starting together on one database: only one stores its token; the others' files are removed again.
    if db.insert_first_admin_token(&token.id, &token.secret_hash, "server admin (first start)").await? {
        return Ok(Some(path));
    }
    std::fs::remove_file(&path).map_err(|e| Error::io("could not remove", &path, e))?;
    Ok(None)
}

/// Writes `contents` to a new file at `path`, readable by its owner only: a synced temporary file in the same
/// directory, renamed without replacing anything already there, then the directory synced.
fn write_new_file(path: &Path, contents: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    // `tempfile` creates its files with mode 0600 on Unix.
    let mut temp = tempfile::Builder::new()
        .prefix(".admin-token.")
        .tempfile_in(dir)
        .map_err(|e| Error::io("could not create a temporary file in", dir, e))?;
    temp.write_all(contents).map_err(|e| Error::io("could not write", temp.path(), e))?;
    temp.as_file().sync_all().map_err(|e| Error::io("could not sync", temp.path(), e))?;
    temp.persist_noclobber(path).map_err(|e| Error::io("could not create", path, e.error))?;
    #[cfg(unix)]
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io("could not sync", dir, e))?;
    Ok(())
}

/// The caller of an admin API request, from `Authorization: Bearer TOKEN`.
#[derive(Debug)]
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self> {
        state.authenticate(bearer(&parts.headers)?).await.map(Auth)
    }
}

/// The token of `Authorization: Bearer TOKEN`.
fn bearer(headers: &axum::http::HeaderMap) -> Result<&str> {
    let header = headers.get(axum::http::header::AUTHORIZATION).ok_or(Error::Unauthorized)?;
    let text = header.to_str().map_err(|_| Error::Unauthorized)?;
    text.strip_prefix("Bearer ").or_else(|| text.strip_prefix("bearer ")).map(str::trim).ok_or(Error::Unauthorized)
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let upload_limit =
        usize::try_from(state.config().max_upload_size.saturating_add(1024 * 1024)).unwrap_or(usize::MAX);
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi::document))
        .route("/api/v1/apps", post(api::create_app))
        .route("/api/v1/apps/{app}", get(api::get_app).patch(api::update_app))
        .route("/api/v1/tokens", post(api::create_token))
        .route("/api/v1/tokens/{id}", delete(api::revoke_token))
        .route(
            "/api/v1/apps/{app}/releases",
            get(api::list_releases).post(publish::publish).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/api/v1/apps/{app}/releases/{version}", get(api::get_release))
        .route("/api/v1/apps/{app}/releases/{version}/promote", post(api::promote))
        .route("/api/v1/apps/{app}/releases/{version}/rollout", post(api::rollout))
        .route("/api/v1/apps/{app}/releases/{version}/yank", post(api::yank))
        .route("/api/v1/apps/{app}/releases/{version}/health", get(api::health))
        .route("/api/v1/apps/{app}/releases/{version}/halt-rule", axum::routing::put(api::set_release_halt_rule))
        .route("/api/v1/apps/{app}/halt-rule", axum::routing::put(api::set_app_halt_rule))
        .route("/api/v1/apps/{app}/webhooks", get(api::list_webhooks).post(api::create_webhook))
        .route("/api/v1/apps/{app}/webhooks/deliveries", get(api::webhook_deliveries))
        .route("/api/v1/apps/{app}/webhooks/{id}", delete(api::delete_webhook))
        .route("/api/v1/apps/{app}/metadata", get(metadata::status))
        .route("/api/v1/apps/{app}/online-keys", post(metadata::generate_online_key))
        .route("/api/v1/apps/{app}/roots", post(metadata::upload_root))
        .route("/download/{app}/{version}/{target}/{file}", get(download::download))
        .route("/download/{app}/{version}/{target}/delta/{from}", get(download::delta))
        .route("/metadata/{app}/roots.json", get(metadata::roots))
        .route("/metadata/{app}/freshness.json", get(metadata::freshness))
        .route("/metadata/{app}/yanks.json", get(metadata::yanks))
        .route("/metadata/{app}/channels/{channel}/releases/{file}", get(metadata::release_document))
        // The same artifact bytes (and `Range`, `ETag`, yank rules) as `/download/`, under the metadata tree.
        .route("/metadata/{app}/files/{version}/{target}/{file}", get(download::download))
        .route("/metadata/{app}/deltas/{version}/{target}/index.json", get(metadata::deltas_index))
        .route("/metadata/{app}/deltas/{version}/{target}/{from}", get(download::delta))
        .route("/{app}/events", post(events::ingest))
        .route("/{app}/{channel}/latest.json", get(updates::static_manifest))
        .route("/{app}/{target}/{arch}/{current_version}", get(updates::dynamic_check))
        .route("/{app}/{target}/{arch}/{current_version}/{bundle_type}", get(updates::dynamic_check_bundle))
        .merge(ui::routes())
        .route_layer(axum::middleware::from_fn(remember_route))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
        .layer(axum::middleware::from_fn_with_state(state.clone(), count_and_limit));
    // Request logs: left out entirely when the log filter drops them, as the layer costs every request.
    let router = if request_logs() {
        router.layer(
            TraceLayer::new_for_http()
                .make_span_with(RequestSpan)
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
    } else {
        router
    };
    router.with_state(state)
}

/// Whether the log filter keeps request logs (tower-http's `TraceLayer`).
pub(super) fn request_logs() -> bool {
    tracing::enabled!(target: "tower_http::trace::make_span", Level::INFO)
        || tracing::enabled!(target: "tower_http::trace::on_response", Level::INFO)
}

/// The request log of an answer given without the router (a reused answer: [`updates::reuse`]): the span and the
/// lines the router's `TraceLayer` writes for a successful request.
pub(super) struct RequestLog {
    span: tracing::Span,
    started: std::time::Instant,
}

impl RequestLog {
    pub(super) fn start<B>(request: &axum::http::Request<B>) -> Self {
        use tower_http::trace::OnRequest as _;
        let span = RequestSpan.make_span(request);
        DefaultOnRequest::new().on_request(request, &span);
        Self { span, started: std::time::Instant::now() }
    }

    pub(super) fn finish(self, status: axum::http::StatusCode) {
        use tower_http::trace::OnResponse as _;
        let mut response = axum::http::Response::new(());
        *response.status_mut() = status;
        let _entered = self.span.enter();
        DefaultOnResponse::new().level(Level::INFO).on_response(&response, self.started.elapsed(), &self.span);
    }
}

/// Longest request method written whole in the request log; longer ones are cut, with `…`.
pub const LOG_METHOD_LEN: usize = 16;

/// The request log's span: tower-http's default one (same target, name and fields), except that the method and the
/// URI are cut short. Both are the client's to choose, and one request must not write kilobytes of log.
#[derive(Debug, Clone, Copy)]
struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, request: &axum::http::Request<B>) -> tracing::Span {
        tracing::span!(
            target: "tower_http::trace::make_span",
            Level::INFO,
            "request",
            method = %Bounded(request.method(), LOG_METHOD_LEN),
            uri = %Bounded(request.uri(), MAX_URI_LEN),
            version = ?request.version(),
        )
    }
}

/// Displays its value cut after `.1` bytes (at a character boundary), ending in `…` when cut.
struct Bounded<T>(T, usize);

impl<T: std::fmt::Display> std::fmt::Display for Bounded<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        /// Passes writes through until the limit, then refuses, which stops the value's `Display`.
        struct Limit<'a, 'b> {
            out: &'a mut std::fmt::Formatter<'b>,
            left: usize,
            cut: bool,
        }
        impl std::fmt::Write for Limit<'_, '_> {
            fn write_str(&mut self, s: &str) -> std::fmt::Result {
                if s.len() <= self.left {
                    self.left -= s.len();
                    return self.out.write_str(s);
                }
                let end = (0..=self.left).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0);
                self.out.write_str(&s[..end])?;
                self.cut = true;
                Err(std::fmt::Error)
            }
        }
        let mut limit = Limit { out: f, left: self.1, cut: false };
        let written = std::fmt::write(&mut limit, format_args!("{}", self.0));
        if limit.cut {
            return f.write_str("…");
        }
        written
    }
}

async fn healthz(State(state): State<AppState>) -> Result<Response> {
    state.db().has_server_admin_token().await?;
    Ok(axum::Json(Health { status: "ok".into() }).into_response())
}

/// `GET /metrics`: the Prometheus text format, for the metrics token or a server admin token.
async fn metrics(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Result<Response> {
    let token = bearer(&headers)?;
    let allowed = match &state.config().metrics_token_hash {
        Some(expected) if tokens::hashes_equal(&tokens::hash_whole(token), expected) => true,
        _ => state.authenticate(token).await?.is_server_admin(),
    };
    if !allowed {
        return Err(Error::Forbidden { action: "read the metrics".into() });
    }
    let mut text = state.metrics().render();
    state.cache().render_metrics(&mut text);
    let mut response = text.into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    Ok(response)
}

/// Hands the matched route pattern to [`count_and_limit`], which runs outside the router.
async fn remember_route(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(request).await;
    if let Some(route) = route {
        response.extensions_mut().insert(route);
    }
    response
}

/// Refuses over-long URIs and oversized header sets before any handler runs, and counts every answered request by
/// route pattern (never the raw path: its cardinality is the clients' choice). One layer for both: each layer costs
/// every request.
async fn count_and_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let response = match request_limit_error(&request) {
        Some(error) => error.into_response(),
        None => next.run(request).await,
    };
    let route = response.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str);
    state.metrics().request(route, method.as_str(), response.status().as_u16());
    response
}

async fn not_found() -> Error {
    Error::not_found("route")
}

async fn method_not_allowed() -> Response {
    let error = ErrorDetail { code: "method_not_allowed".into(), message: "method not allowed".into() };
    let body = ErrorBody { error };
    (axum::http::StatusCode::METHOD_NOT_ALLOWED, axum::Json(body)).into_response()
}

/// Why a request is refused before routing, if it is: an over-long URI or an oversized header set.
fn request_limit_error(request: &Request) -> Option<Error> {
    let uri = request.uri();
    let uri_len = uri.scheme_str().map_or(0, |s| s.len() + 3)
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(0, |pq| pq.as_str().len());
    if uri_len > MAX_URI_LEN {
        return Some(Error::UriTooLong);
    }
    let headers = request.headers();
    let bytes: usize = headers.iter().map(|(name, value)| name.as_str().len() + value.len()).sum();
    headers_too_large(headers.len(), bytes).then_some(Error::HeadersTooLarge)
}

/// Whether `count` headers of `bytes` bytes (names and values) are more than a request may have.
fn headers_too_large(count: usize, bytes: usize) -> bool {
    count > MAX_HEADERS || bytes > MAX_HEADER_BYTES
}

/// Options of `serve`.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub bind: SocketAddr,
    pub storage: StorageConfig,
    pub public_url: Option<String>,
    pub cdn_url: Option<String>,
    pub downloads: DownloadMode,
    pub gc: GcConfig,
    pub max_upload_size: u64,
    pub admin_token: Option<String>,
    pub metrics_token: Option<String>,
    pub online_key_password: Option<zeroize::Zeroizing<String>>,
    pub freshness_lifetime: Duration,
    /// Threads serving HTTP connections (see [`workers`]).
    pub http_workers: usize,
    /// The delta job ([`deltas`]).
    pub deltas: deltas::DeltaConfig,
    /// Rate limits of the event endpoint.
    pub events: events::EventLimits,
    /// How webhook deliveries are attempted.
    pub webhooks: crate::webhooks::WebhookConfig,
    /// How HTTP connections are served ([`front`]).
    pub http: front::HttpOptions,
    /// See [`ServerConfig::health_compact_after`].
    pub health_compact_after: Duration,
}

/// The public URL used when none is configured: `http://{bind}`, with an unspecified bind address (`0.0.0.0`, `::`)
/// replaced by loopback, which is only right for local testing.
pub fn default_public_url(bind: SocketAddr) -> String {
    let mut addr = bind;
    if addr.ip().is_unspecified() {
        addr.set_ip(if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        });
    }
    format!("http://{addr}")
}

/// Runs the server until SIGTERM or ctrl-c, then finishes in-flight requests and closes the database.
pub async fn serve(options: ServeOptions) -> Result<()> {
    let public_url = match &options.public_url {
        Some(url) => url.clone(),
        None => {
            let url = default_public_url(options.bind);
            if options.bind.ip().is_unspecified() {
                tracing::warn!(%url, "no `--public-url` given; download URLs in manifests point at loopback");
            }
            url
        }
    };
    let mut config = ServerConfig::new(&public_url, options.max_upload_size)?;
    if let Some(token) = &options.metrics_token {
        config = config.with_metrics_token(token)?;
    }
    if let Some(password) = &options.online_key_password {
        config = config.with_online_key_password(password)?;
    }
    if let Some(cdn_url) = &options.cdn_url {
        config = config.with_cdn_url(cdn_url)?;
    }
    config.downloads = options.downloads;
    config.gc = options.gc;
    config.freshness_lifetime = options.freshness_lifetime;
    config.deltas = options.deltas;
    config.events = options.events;
    config.webhooks = options.webhooks;
    config.health_compact_after = options.health_compact_after;
    let opened = AppState::open(&options.storage, config, options.admin_token.as_deref()).await?;
    if let Some(path) = &opened.admin_token_file {
        // The path, never the token: stderr ends up in container logs. Outside the log format so it is easy to copy.
        eprintln!(
            "\nserver admin token written to `{path}` (readable by this user only; the database keeps only its hash)\n\nhint: `export MILLENNIUM_TOKEN=$(cat {path})` for the admin commands; keep it somewhere safe and delete the file\n",
            path = path.display()
        );
    }
    let state = opened.state;
    // Before the port opens: a signal that comes as soon as it does must find the handlers.
    let stop = shutdown_signal();
    let listener = tokio::net::TcpListener::bind(options.bind)
        .await
        .map_err(|e| Error::usage(format!("could not listen on {}: {e}", options.bind)))?;
    let local = listener.local_addr().map_err(|e| Error::Internal(format!("local address: {e}")))?;
    tracing::info!(
        address = %local,
        public_url = %state.config().public_url,
        database = %options.storage.database.redacted(),
        storage = %options.storage.blobs,
        "listening"
    );
    let mut workers = workers::Workers::start(options.http_workers, &front::Service::new(state.clone()), options.http)
        .map_err(|e| Error::Internal(format!("could not start the HTTP workers: {e}")))?;
    let background = replicas::start(&state);
    accept_until(listener, stop, |stream, peer| workers.dispatch(stream, peer)).await;
    workers.drain().await;
    for task in background {
        task.abort();
    }
    // The adoption counts since the last flush (a minute at most).
    if let Err(e) = crate::adoption::flush(&state).await {
        tracing::warn!(error = %e, "could not store adoption counts");
    }
    state.db().close().await;
    workers.exit().await;
    tracing::info!("stopped");
    Ok(())
}

/// How long a client may take to send a request's headers (slow-loris protection).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(15);

/// How long in-flight requests get to finish after a shutdown signal.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Serves the server's [`app`] on `listener` over HTTP/1.1, on the current runtime, until `shutdown` completes, then
/// lets in-flight requests finish (for at most [`SHUTDOWN_GRACE`]). `serve` spreads connections over [`workers`]
/// instead.
pub async fn serve_on(listener: tokio::net::TcpListener, state: AppState, shutdown: impl Future<Output = ()>) {
    let connections = Connections::new(front::Service::new(state), front::HttpOptions::default());
    accept_until(listener, shutdown, |stream, peer| connections.serve(stream, peer)).await;
    connections.finish().await;
}

/// Accepts connections and hands them to `handle` until `shutdown` completes; then closes the listener.
async fn accept_until(
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()>,
    mut handle: impl FnMut(tokio::net::TcpStream, SocketAddr),
) {
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => handle(stream, peer),
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            () = &mut shutdown => break,
        }
    }
}

/// The connections served on one runtime, by the [`front`] and, for what it hands over, by hyper.
///
/// Hyper gets its own limits on top of the server's header and URI checks: the header read timeout, a bounded
/// read buffer (so a request head cannot grow past it) and a maximum number of headers; it answers `431` beyond them.
/// The front's idle connections are closed by the runtime's [`idle::Sweeper`], after the idle timeout or when the
/// server stops. A shutdown is also a watch channel every connection holds a receiver of: it turns `true` (hyper's
/// connections shut down gracefully), and the connections are done when the last receiver is gone.
struct Connections {
    shared: Arc<front::Shared>,
    shutdown: tokio::sync::watch::Sender<bool>,
    sweeper: Arc<idle::Sweeper>,
    sweeping: tokio::task::AbortHandle,
}

impl Connections {
    /// Connections served on the current runtime (whose task the sweeper becomes).
    fn new(service: front::Service, options: front::HttpOptions) -> Self {
        let mut http = hyper::server::conn::http1::Builder::new();
        http.timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(options.timeouts.header_read)
            .max_buf_size(front::MAX_HEAD)
            .max_headers(millennium_http1::MAX_HEADER_LINES);
        let shared = Arc::new(front::Shared { service, http, options });
        let sweeper = idle::Sweeper::new(options.timeouts.idle);
        let sweeping = tokio::spawn(sweeper.clone().run()).abort_handle();
        Self { shared, shutdown: tokio::sync::watch::Sender::new(false), sweeper, sweeping }
    }

    /// Serves one connection on a task of the current runtime.
    fn serve(&self, stream: tokio::net::TcpStream, peer: SocketAddr) {
        let (shared, shutdown) = (self.shared.clone(), self.shutdown.subscribe());
        self.sweeper.spawn(|presence| front::serve(stream, peer, shared, shutdown, presence));
    }

    /// Closes the idle connections and lets in-flight requests finish, for at most [`SHUTDOWN_GRACE`].
    async fn finish(self) {
        self.sweeper.stop();
        self.shutdown.send_replace(true);
        tokio::select! {
            () = self.shutdown.closed() => {}
            () = tokio::time::sleep(SHUTDOWN_GRACE) => {
                tracing::warn!(
                    "in-flight requests did not finish within {}s; stopping anyway",
                    SHUTDOWN_GRACE.as_secs()
                );
            }
        }
        self.sweeping.abort();
    }
}

/// Resolves on SIGTERM or Ctrl-C. On Unix the handlers are installed by this call, not when the future is first
/// polled: until then the signals' default action kills the process, and the accept loop polls the future only once
/// it has a moment, so a SIGTERM right after the port opened (a supervisor stopping a server it just started) killed
/// it instead of stopping it (`e2e::sigterm_right_after_the_port_opens_stops_the_server_cleanly`).
fn shutdown_signal() -> impl Future<Output = ()> {
    #[cfg(unix)]
    let (terminate, interrupt) = {
        use tokio::signal::unix::{SignalKind, signal};
        (received(signal(SignalKind::terminate()), "SIGTERM"), received(signal(SignalKind::interrupt()), "ctrl-c"))
    };
    #[cfg(not(unix))]
    let (terminate, interrupt) = (std::future::pending::<()>(), async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "could not listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    });
    async move {
        tokio::select! {
            () = terminate => {},
            () = interrupt => {},
        }
        tracing::info!("shutting down: finishing in-flight requests");
    }
}

/// Waits for the signal whose handler `signal` is (never, when it could not be installed).
#[cfg(unix)]
async fn received(signal: std::io::Result<tokio::signal::unix::Signal>, name: &str) {
    match signal {
        Ok(mut signal) => {
            signal.recv().await;
        }
        Err(e) => {
            tracing::error!(error = %e, "could not listen for {name}");
            std::future::pending::<()>().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_cuts_long_values_at_a_character_boundary() {
        assert_eq!(Bounded("GET", LOG_METHOD_LEN).to_string(), "GET");
        assert_eq!(Bounded("X".repeat(16), 16).to_string(), "X".repeat(16));
        assert_eq!(Bounded("X".repeat(4096), 16).to_string(), format!("{}…", "X".repeat(16)));
        // `é` is two bytes: a cut never splits it.
        assert_eq!(Bounded("ééé", 3).to_string(), "é…");
    }
}
