//! The database: apps, tokens, releases, artifacts, channel placements.
//!
//! Two backends, chosen by URL ([`DatabaseUrl`]): SQLite (the zero-setup default, `millennium.db` in the data
//! directory) and PostgreSQL (shared by several stateless replicas). Every query is written once, in plain SQL both
//! accept with `$n` placeholders, and the private `on_pool!` macro runs it on whichever pool is open; rows are read
//! through the private `RowExt` trait, so adding a table means adding its migration for each backend (`migrations/sqlite`,
//! `migrations/postgres`) and methods here, nothing backend-specific elsewhere.
//!
//! SQLite runs in WAL mode with `synchronous = FULL`, so a committed publish survives a power cut. Writes that check
//! before they insert (publish, promote) run in `BEGIN IMMEDIATE` transactions there: SQLite then takes the write lock
//! at the start, so two concurrent publishes to one channel are serialised and the second one sees the first. On
//! PostgreSQL the same transactions lock the app's row (`SELECT … FOR UPDATE`), which serialises writers of one app
//! across replicas, and announce the change with `NOTIFY` ([`RELEASES_CHANNEL`]), delivered only if it commits.
//!
//! Versions are stored as canonical SemVer text and never compared in SQL: ordering is SemVer precedence, which only
//! [`millennium_update_protocol::Version`] knows, so callers load a channel's releases and sort them in Rust.

use std::collections::HashSet;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, Row, SqlitePool};

use crate::error::{Error, Result};
use crate::names::{AppId, Channel};
use crate::tokens::Scope;

/// The PostgreSQL `NOTIFY` channel every change to releases is announced on (payload: the app id).
pub const RELEASES_CHANNEL: &str = "millennium_releases";

/// Where the database is: `sqlite://PATH` or `postgres://…` (also `postgresql://…`).
#[derive(Clone)]
pub enum DatabaseUrl {
    /// A SQLite file.
    Sqlite(SqliteConnectOptions),
    /// A PostgreSQL server.
    Postgres(PgConnectOptions),
}

impl std::fmt::Debug for DatabaseUrl {
    // Never print a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl DatabaseUrl {
    /// The default: `millennium.db` in the data directory.
    pub fn sqlite_in(data_dir: &Path) -> Self {
        Self::Sqlite(SqliteConnectOptions::new().filename(data_dir.join("millennium.db")))
    }

    /// Parses a database URL.
    pub fn parse(url: &str) -> Result<Self> {
        let invalid = |e: &dyn std::fmt::Display| {
            Error::usage(format!(
                "invalid database URL: {e}\nhint: use `sqlite://PATH` (e.g. `sqlite:///var/lib/millennium/millennium.db`) or `postgres://USER:PASSWORD@HOST:PORT/DATABASE`"
            ))
        };
        if url.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(url).map(Self::Sqlite).map_err(|e| invalid(&e))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            PgConnectOptions::from_str(url).map(Self::Postgres).map_err(|e| invalid(&e))
        } else {
            Err(invalid(&"unknown scheme"))
        }
    }

    /// Whether this is PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// A description safe to log.
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite(options) => format!("sqlite://{}", options.get_filename().display()),
            Self::Postgres(options) => format!(
                "postgres://{}@{}:{}/{}",
                options.get_username(),
                options.get_host(),
                options.get_port(),
                options.get_database().unwrap_or_default()
            ),
        }
    }
}

#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to whichever pool `$db` has: the body is compiled once per backend.
macro_rules! on_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match &$db.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

/// Reads columns of either backend's rows.
trait RowExt {
    fn int(&self, column: &str) -> Result<i64>;
    fn opt_int(&self, column: &str) -> Result<Option<i64>>;
    fn text(&self, column: &str) -> Result<String>;
    fn opt_text(&self, column: &str) -> Result<Option<String>>;
    fn flag(&self, column: &str) -> Result<bool>;
    fn bytes(&self, column: &str) -> Result<Vec<u8>>;
}

macro_rules! impl_row_ext {
    ($row:ty) => {
        impl RowExt for $row {
            fn int(&self, column: &str) -> Result<i64> {
                Ok(self.try_get(column)?)
            }
            fn opt_int(&self, column: &str) -> Result<Option<i64>> {
                Ok(self.try_get(column)?)
            }
            fn text(&self, column: &str) -> Result<String> {
                Ok(self.try_get(column)?)
            }
            fn opt_text(&self, column: &str) -> Result<Option<String>> {
                Ok(self.try_get(column)?)
            }
            fn flag(&self, column: &str) -> Result<bool> {
                Ok(self.try_get(column)?)
            }
            fn bytes(&self, column: &str) -> Result<Vec<u8>> {
                Ok(self.try_get(column)?)
            }
        }
    };
}
impl_row_ext!(sqlx::sqlite::SqliteRow);
impl_row_ext!(sqlx::postgres::PgRow);

/// The database handle (cheap to clone).
#[derive(Debug, Clone)]
pub struct Db {
    pool: Pool,
}

/// An app.
#[derive(Debug, Clone)]
pub struct AppRow {
    pub id: String,
    pub public_key: String,
    pub created_at: i64,
}

/// A stored token.
#[derive(Debug, Clone)]
pub struct TokenRow {
    pub id: String,
    pub secret_hash: Vec<u8>,
    pub app_id: Option<String>,
    pub scope: Scope,
    pub description: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A release.
#[derive(Debug, Clone)]
pub struct ReleaseRow {
    pub id: i64,
    pub app_id: String,
    pub version: String,
    pub notes: Option<String>,
    pub pub_date: String,
    pub yanked: bool,
    pub created_at: i64,
    /// The oldest system webview the release works with, per backend, in the canonical text form of
    /// `WebviewMinimums` (`webkitgtk=2.44,webview2=124.0`) as validated at publish; `None` without a minimum.
    pub min_webview_version: Option<String>,
}

/// One artifact of a release.
#[derive(Debug, Clone)]
pub struct ArtifactRow {
    pub release_id: i64,
    pub target: String,
    pub file_name: String,
    pub sha256: String,
    pub size: i64,
    pub signature: String,
}

/// A release's placement in a channel.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Placement {
    pub channel: String,
    pub rollout: u8,
    pub paused: bool,
    pub added_at: i64,
}

/// Everything a publish writes, in one transaction.
#[derive(Debug)]
pub struct NewRelease<'a> {
    pub app: &'a AppId,
    pub version: &'a str,
    pub notes: Option<&'a str>,
    pub min_webview_version: Option<&'a str>,
    pub pub_date: &'a str,
    pub channel: &'a Channel,
    pub rollout: u8,
    pub artifacts: Vec<NewArtifact>,
    /// The offline-signed release document, already verified (apps with signed metadata).
    pub document: Option<NewReleaseDocument>,
}

/// A verified release document to store with its release.
#[derive(Debug, Clone)]
pub struct NewReleaseDocument {
    pub sequence: u64,
    /// The envelope, as served.
    pub envelope: String,
    /// [`millennium_update_protocol::metadata::Envelope::hash`].
    pub hash: String,
}

/// One of the server's online keys of an app.
#[derive(Debug, Clone)]
pub struct OnlineKeyRow {
    pub app_id: String,
    pub key_id: String,
    pub public_key: String,
    pub secret_key: String,
    pub created_at: i64,
}

/// The stored freshness document of an app.
#[derive(Debug, Clone)]
pub struct FreshnessRow {
    pub sequence: i64,
    pub envelope: String,
    pub issued_at: i64,
    pub expires_at: i64,
}

/// A release document with what decides whether its channel offers it.
#[derive(Debug, Clone)]
pub struct DocumentHead {
    pub channel: String,
    pub version: String,
    pub sequence: i64,
    pub hash: String,
    pub yanked: bool,
    pub rollout: u8,
    pub paused: bool,
}

/// A stored release document.
#[derive(Debug, Clone)]
pub struct ReleaseDocumentRow {
    pub release_id: i64,
    pub app_id: String,
    pub channel: String,
    pub version: String,
    pub sequence: i64,
    pub envelope: String,
    pub hash: String,
    pub created_at: i64,
}

/// An artifact to insert.
#[derive(Debug)]
pub struct NewArtifact {
    pub target: String,
    pub file_name: String,
    pub sha256: String,
    pub size: u64,
    pub signature: String,
}

/// Current Unix time in seconds.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

fn release_from_row(row: &impl RowExt) -> Result<ReleaseRow> {
    Ok(ReleaseRow {
        id: row.int("id")?,
        app_id: row.text("app_id")?,
        version: row.text("version")?,
        notes: row.opt_text("notes")?,
        pub_date: row.text("pub_date")?,
        yanked: row.flag("yanked")?,
        created_at: row.int("created_at")?,
        min_webview_version: row.opt_text("min_webview_version")?,
    })
}

fn placement_from_row(row: &impl RowExt) -> Result<Placement> {
    let rollout = row.int("rollout")?;
    Ok(Placement {
        channel: row.text("channel")?,
        rollout: u8::try_from(rollout).map_err(|_| Error::Internal(format!("stored rollout {rollout}")))?,
        paused: row.flag("paused")?,
        added_at: row.int("added_at")?,
    })
}

fn artifact_from_row(row: &impl RowExt) -> Result<ArtifactRow> {
    Ok(ArtifactRow {
        release_id: row.int("release_id")?,
        target: row.text("target")?,
        file_name: row.text("file_name")?,
        sha256: row.text("sha256")?,
        size: row.int("size")?,
        signature: row.text("signature")?,
    })
}

fn token_from_row(row: &impl RowExt) -> Result<TokenRow> {
    let scope = row.text("scope")?;
    Ok(TokenRow {
        id: row.text("id")?,
        secret_hash: row.bytes("secret_hash")?,
        app_id: row.opt_text("app_id")?,
        scope: Scope::parse(&scope).map_err(|_| Error::Internal(format!("stored scope {scope:?}")))?,
        description: row.text("description")?,
        created_at: row.int("created_at")?,
        revoked_at: row.opt_int("revoked_at")?,
    })
}

fn app_from_row(row: &impl RowExt) -> Result<AppRow> {
    Ok(AppRow { id: row.text("id")?, public_key: row.text("public_key")?, created_at: row.int("created_at")? })
}

const RELEASE_COLUMNS: &str =
    "r.id, r.app_id, r.version, r.notes, r.pub_date, r.yanked, r.created_at, r.min_webview_version";
const TOKEN_COLUMNS: &str = "id, secret_hash, app_id, scope, description, created_at, revoked_at";
const ARTIFACT_COLUMNS: &str = "release_id, target, file_name, sha256, size, signature";
const PLACEMENT_COLUMNS: &str = "release_id, channel, rollout, paused, added_at";

/// The releases of a channel with their placements, on any executor of either backend.
macro_rules! channel_releases {
    ($executor:expr, $app:expr, $channel:expr) => {{
        let rows = sqlx::query(&format!(
            "SELECT {RELEASE_COLUMNS}, c.channel, c.rollout, c.paused, c.added_at
             FROM releases r JOIN channel_releases c ON c.release_id = r.id
             WHERE r.app_id = $1 AND c.channel = $2"
        ))
        .bind($app.as_str())
        .bind($channel.as_str())
        .fetch_all($executor)
        .await?;
        rows.iter().map(|row| Ok((release_from_row(row)?, placement_from_row(row)?))).collect::<Result<Vec<_>>>()
    }};
}

/// Whether `app` has a release `version`, on any executor of either backend.
macro_rules! release_id {
    ($executor:expr, $app:expr, $version:expr) => {{
        let row = sqlx::query("SELECT id FROM releases WHERE app_id = $1 AND version = $2")
            .bind($app.as_str())
            .bind($version)
            .fetch_optional($executor)
            .await?;
        row.map(|row| row.int("id")).transpose()
    }};
}

/// Stores a verified release document, refusing a sequence number not above every other of the channel, on any
/// executor of either backend.
macro_rules! insert_document {
    ($executor:expr, $app:expr, $channel:expr, $version:expr, $release_id:expr, $document:expr) => {{
        let sequence = i64::try_from($document.sequence)
            .map_err(|_| Error::bad_request("the release document's sequence number is too large"))?;
        let row = sqlx::query("SELECT MAX(sequence) AS last FROM release_documents WHERE app_id = $1 AND channel = $2")
            .bind($app.as_str())
            .bind($channel.as_str())
            .fetch_one($executor)
            .await?;
        if let Some(last) = row.opt_int("last")?
            && sequence <= last
        {
            return Err(Error::conflict(
                "sequence_not_newer",
                format!(
                    "the release document's sequence {sequence} is not above {last}, the last of channel `{}`\nhint: sign it again with sequence {} (the CLI does this when given `--release-key`)",
                    $channel.as_str(),
                    last + 1
                ),
            ));
        }
        sqlx::query(
            "INSERT INTO release_documents (release_id, app_id, channel, version, sequence, envelope, hash, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind($release_id)
        .bind($app.as_str())
        .bind($channel.as_str())
        .bind($version)
        .bind(sequence)
        .bind(&$document.envelope)
        .bind(&$document.hash)
        .bind(now())
        .execute($executor)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::conflict(
                    "duplicate_document",
                    format!("channel `{}` already has a release document for {}", $channel.as_str(), $version),
                )
            } else {
                Error::from(e)
            }
        })?;
    }};
}

/// Begins a write transaction on `app`'s releases: `BEGIN IMMEDIATE` on SQLite; on PostgreSQL a transaction holding
/// the app row's lock, so writers of one app are serialised across replicas.
macro_rules! begin_write {
    (sqlite $pool:expr, $app:expr) => {
        $pool.begin_with("BEGIN IMMEDIATE").await?
    };
    (postgres $pool:expr, $app:expr) => {{
        let mut tx = $pool.begin().await?;
        sqlx::query("SELECT id FROM apps WHERE id = $1 FOR UPDATE").bind($app.as_str()).execute(&mut *tx).await?;
        tx
    }};
}

/// Announces a committed change of `app`'s releases to every replica (PostgreSQL only; sent at commit).
async fn notify_in(tx: &mut sqlx::PgConnection, app: &AppId) -> Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)").bind(RELEASES_CHANNEL).bind(app.as_str()).execute(tx).await?;
    Ok(())
}

/// How many rows of each table an [`Export`] holds, as `migrate` reports them (`rows` in its output).
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub apps: u64,
    pub tokens: u64,
    pub releases: u64,
    pub artifacts: u64,
    pub placements: u64,
    pub roots: u64,
    pub release_documents: u64,
    pub online_keys: u64,
    pub freshness: u64,
}

/// A stored root.
#[derive(Debug, Clone)]
pub struct RootRow {
    pub app_id: String,
    pub version: i64,
    pub envelope: String,
    pub created_at: i64,
}

/// Everything in a database, for `migrate`: the rows of every table, in dependency order, as [`Db::export`] reads
/// them and [`Db::import`] writes them.
#[derive(Debug, Default)]
pub struct Export {
    pub apps: Vec<AppRow>,
    pub tokens: Vec<TokenRow>,
    pub releases: Vec<ReleaseRow>,
    pub artifacts: Vec<ArtifactRow>,
    pub placements: Vec<(i64, Placement)>,
    pub roots: Vec<RootRow>,
    pub release_documents: Vec<ReleaseDocumentRow>,
    pub online_keys: Vec<OnlineKeyRow>,
    /// App id and its freshness document.
    pub freshness: Vec<(String, FreshnessRow)>,
}

impl Export {
    /// How many rows of each kind.
    pub fn counts(&self) -> Counts {
        Counts {
            apps: self.apps.len() as u64,
            tokens: self.tokens.len() as u64,
            releases: self.releases.len() as u64,
            artifacts: self.artifacts.len() as u64,
            placements: self.placements.len() as u64,
            roots: self.roots.len() as u64,
            release_documents: self.release_documents.len() as u64,
            online_keys: self.online_keys.len() as u64,
            freshness: self.freshness.len() as u64,
        }
    }
}

impl Db {
    /// Connects (creating a SQLite file if needed) and applies the migrations of the backend.
    pub async fn open(url: &DatabaseUrl) -> Result<Self> {
        let pool = match url {
            DatabaseUrl::Sqlite(options) => {
                let options = options
                    .clone()
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10));
                if let Some(parent) = options.get_filename().parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent)
                        .map_err(|e| Error::io("could not create the database directory", parent, e))?;
                }
                let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await?;
                sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
                Pool::Sqlite(pool)
            }
            DatabaseUrl::Postgres(options) => {
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options.clone())
                    .await
                    .map_err(|e| Error::Connect(format!("could not connect to {}: {e}", url.redacted())))?;
                // Several replicas starting at once: the migrator takes an advisory lock, so one applies them.
                sqlx::migrate!("./migrations/postgres").run(&pool).await?;
                Pool::Postgres(pool)
            }
        };
        Ok(Self { pool })
    }

    /// The PostgreSQL pool, if that is the backend (for `LISTEN` and advisory locks).
    pub fn postgres(&self) -> Option<&PgPool> {
        match &self.pool {
            Pool::Postgres(pool) => Some(pool),
            Pool::Sqlite(_) => None,
        }
    }

    /// Closes the pool (checkpointing the WAL on SQLite).
    pub async fn close(&self) {
        on_pool!(self, |pool| pool.close().await);
    }

    // ----- apps -----

    /// Creates an app; a duplicate id is [`Error::Conflict`].
    pub async fn insert_app(&self, id: &AppId, public_key: &str) -> Result<AppRow> {
        let created_at = now();
        on_pool!(self, |pool| sqlx::query("INSERT INTO apps (id, public_key, created_at) VALUES ($1, $2, $3)")
            .bind(id.as_str())
            .bind(public_key)
            .bind(created_at)
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::conflict("app_exists", format!("app `{id}` already exists"))
            } else {
                e.into()
            }
        })?;
        Ok(AppRow { id: id.to_string(), public_key: public_key.to_owned(), created_at })
    }

    /// Replaces an app's release public key; `None` when there is no such app.
    pub async fn set_app_public_key(&self, id: &AppId, public_key: &str) -> Result<Option<AppRow>> {
        let updated = on_pool!(self, |pool| sqlx::query("UPDATE apps SET public_key = $1 WHERE id = $2")
            .bind(public_key)
            .bind(id.as_str())
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))?;
        if updated == 0 { Ok(None) } else { self.app(id).await }
    }

    /// An app by id.
    pub async fn app(&self, id: &AppId) -> Result<Option<AppRow>> {
        on_pool!(self, |pool| {
            let row = sqlx::query("SELECT id, public_key, created_at FROM apps WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(app_from_row).transpose()
        })
    }

    // ----- tokens -----

    /// Stores a token.
    pub async fn insert_token(
        &self,
        id: &str,
        secret_hash: &[u8],
        app: Option<&AppId>,
        scope: Scope,
        description: &str,
    ) -> Result<()> {
        on_pool!(self, |pool| {
            sqlx::query(
            "INSERT INTO tokens (id, secret_hash, app_id, scope, description, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(secret_hash)
        .bind(app.map(AppId::as_str))
        .bind(scope.as_str())
        .bind(description)
        .bind(now())
        .execute(pool)
        .await
        .map(|_| ())
        })?;
        Ok(())
    }

    /// A token by id.
    pub async fn token(&self, id: &str) -> Result<Option<TokenRow>> {
        on_pool!(self, |pool| {
            let row = sqlx::query(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(token_from_row).transpose()
        })
    }

    /// Marks a token revoked (idempotent).
    pub async fn revoke_token(&self, id: &str) -> Result<()> {
        on_pool!(self, |pool| sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now())
            .bind(id)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Whether a server admin token (one for every app) exists and is not revoked.
    pub async fn has_server_admin_token(&self) -> Result<bool> {
        on_pool!(self, |pool| {
            let row = sqlx::query("SELECT COUNT(*) AS n FROM tokens WHERE app_id IS NULL AND revoked_at IS NULL")
                .fetch_one(pool)
                .await?;
            Ok(row.int("n")? > 0)
        })
    }

    /// Stores `token` as a server admin token unless one exists (not revoked); says whether it was stored. Atomic
    /// across replicas starting together: only one of them makes the first token.
    pub async fn insert_first_admin_token(&self, id: &str, secret_hash: &[u8], description: &str) -> Result<bool> {
        macro_rules! insert {
            ($tx:ident) => {{
                let row = sqlx::query("SELECT COUNT(*) AS n FROM tokens WHERE app_id IS NULL AND revoked_at IS NULL")
                    .fetch_one(&mut *$tx)
                    .await?;
                if row.int("n")? > 0 {
                    false
                } else {
                    sqlx::query(
                        "INSERT INTO tokens (id, secret_hash, app_id, scope, description, created_at) VALUES ($1, $2, NULL, $3, $4, $5)",
                    )
                    .bind(id)
                    .bind(secret_hash)
                    .bind(Scope::Admin.as_str())
                    .bind(description)
                    .bind(now())
                    .execute(&mut *$tx)
                    .await?;
                    true
                }
            }};
        }
        let inserted = match &self.pool {
            Pool::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let inserted = insert!(tx);
                tx.commit().await?;
                inserted
            }
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(crate::leader::lock_key("first-admin-token"))
                    .execute(&mut *tx)
                    .await?;
                let inserted = insert!(tx);
                tx.commit().await?;
                inserted
            }
        };
        Ok(inserted)
    }

    // ----- releases -----

    /// A release by version (canonical text).
    pub async fn release(&self, app: &AppId, version: &str) -> Result<Option<ReleaseRow>> {
        on_pool!(self, |pool| {
            let row = sqlx::query(&format!(
                "SELECT {RELEASE_COLUMNS} FROM releases r WHERE r.app_id = $1 AND r.version = $2"
            ))
            .bind(app.as_str())
            .bind(version)
            .fetch_optional(pool)
            .await?;
            row.as_ref().map(release_from_row).transpose()
        })
    }

    /// Every release of an app.
    pub async fn releases(&self, app: &AppId) -> Result<Vec<ReleaseRow>> {
        on_pool!(self, |pool| {
            let rows =
                sqlx::query(&format!("SELECT {RELEASE_COLUMNS} FROM releases r WHERE r.app_id = $1 ORDER BY r.id"))
                    .bind(app.as_str())
                    .fetch_all(pool)
                    .await?;
            rows.iter().map(release_from_row).collect()
        })
    }

    /// The releases placed in a channel, with their placement, in no particular order.
    pub async fn channel_releases(&self, app: &AppId, channel: &Channel) -> Result<Vec<(ReleaseRow, Placement)>> {
        on_pool!(self, |pool| channel_releases!(pool, app, channel))
    }

    /// The channels a release is placed in.
    pub async fn placements(&self, release_id: i64) -> Result<Vec<Placement>> {
        on_pool!(self, |pool| {
            let rows = sqlx::query(&format!(
                "SELECT {PLACEMENT_COLUMNS} FROM channel_releases WHERE release_id = $1 ORDER BY channel"
            ))
            .bind(release_id)
            .fetch_all(pool)
            .await?;
            rows.iter().map(placement_from_row).collect()
        })
    }

    /// The artifacts of a release, by target key.
    pub async fn artifacts(&self, release_id: i64) -> Result<Vec<ArtifactRow>> {
        on_pool!(self, |pool| {
            let rows =
                sqlx::query(&format!("SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE release_id = $1 ORDER BY target"))
                    .bind(release_id)
                    .fetch_all(pool)
                    .await?;
            rows.iter().map(artifact_from_row).collect()
        })
    }

    /// The hashes every artifact refers to.
    pub async fn referenced_blobs(&self) -> Result<HashSet<String>> {
        on_pool!(self, |pool| {
            let rows = sqlx::query("SELECT DISTINCT sha256 FROM artifacts").fetch_all(pool).await?;
            rows.iter().map(|row| row.text("sha256")).collect()
        })
    }

    /// Writes a release, its artifacts and its placement in one transaction, after checking (inside the transaction)
    /// that the version is new for the app and, unless `force`, newer than every release in the channel.
    pub async fn insert_release(&self, release: NewRelease<'_>, force: bool) -> Result<i64> {
        let created_at = now();
        let mut sizes = Vec::with_capacity(release.artifacts.len());
        for artifact in &release.artifacts {
            sizes.push(i64::try_from(artifact.size).map_err(|_| Error::Internal("artifact size overflow".into()))?);
        }
        macro_rules! insert {
            ($tx:ident) => {{
                if release_id!(&mut *$tx, release.app, release.version)?.is_some() {
                    return Err(duplicate_version_error(release.app, release.version));
                }
                let existing = channel_releases!(&mut *$tx, release.app, release.channel)?;
                check_newer(&existing, release.channel, release.version, force)?;
                let row = sqlx::query(
                    "INSERT INTO releases (app_id, version, notes, pub_date, yanked, created_at, min_webview_version) VALUES ($1, $2, $3, $4, FALSE, $5, $6) RETURNING id",
                )
                .bind(release.app.as_str())
                .bind(release.version)
                .bind(release.notes)
                .bind(release.pub_date)
                .bind(created_at)
                .bind(release.min_webview_version)
                .fetch_one(&mut *$tx)
                .await
                .map_err(|e| duplicate_version(e, release.app, release.version))?;
                let release_id = row.int("id")?;
                for (artifact, size) in release.artifacts.iter().zip(&sizes) {
                    sqlx::query(&format!("INSERT INTO artifacts ({ARTIFACT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"))
                        .bind(release_id)
                        .bind(&artifact.target)
                        .bind(&artifact.file_name)
                        .bind(&artifact.sha256)
                        .bind(*size)
                        .bind(&artifact.signature)
                        .execute(&mut *$tx)
                        .await?;
                }
                sqlx::query(&format!(
                    "INSERT INTO channel_releases ({PLACEMENT_COLUMNS}) VALUES ($1, $2, $3, FALSE, $4)"
                ))
                .bind(release_id)
                .bind(release.channel.as_str())
                .bind(i64::from(release.rollout))
                .bind(created_at)
                .execute(&mut *$tx)
                .await?;
                if let Some(document) = &release.document {
                    insert_document!(&mut *$tx, release.app, release.channel, release.version, release_id, document);
                }
                release_id
            }};
        }
        match &self.pool {
            Pool::Sqlite(pool) => {
                let mut tx = begin_write!(sqlite pool, release.app);
                let id = insert!(tx);
                tx.commit().await?;
                Ok(id)
            }
            Pool::Postgres(pool) => {
                let mut tx = begin_write!(postgres pool, release.app);
                let id = insert!(tx);
                notify_in(&mut tx, release.app).await?;
                tx.commit().await?;
                Ok(id)
            }
        }
    }

    /// Checks, outside a transaction, what [`Db::insert_release`] will check again inside one: lets a publish be
    /// refused before its artifacts are uploaded.
    pub async fn check_publishable(&self, app: &AppId, channel: &Channel, version: &str, force: bool) -> Result<()> {
        if self.release(app, version).await?.is_some() {
            return Err(duplicate_version_error(app, version));
        }
        let existing = self.channel_releases(app, channel).await?;
        check_newer(&existing, channel, version, force)
    }

    /// Places an existing release in another channel.
    pub async fn promote(
        &self,
        app: &AppId,
        version: &str,
        to: &Channel,
        rollout: u8,
        force: bool,
        document: Option<&NewReleaseDocument>,
    ) -> Result<()> {
        macro_rules! promote {
            ($tx:ident) => {{
                let release_id = release_id!(&mut *$tx, app, version)?
                    .ok_or_else(|| Error::not_found(format!("release {version} of app `{app}`")))?;
                if let Some(document) = document {
                    insert_document!(&mut *$tx, app, to, version, release_id, document);
                }
                let existing = channel_releases!(&mut *$tx, app, to)?;
                check_newer(&existing, to, version, force)?;
                sqlx::query(&format!(
                    "INSERT INTO channel_releases ({PLACEMENT_COLUMNS}) VALUES ($1, $2, $3, FALSE, $4)"
                ))
                .bind(release_id)
                .bind(to.as_str())
                .bind(i64::from(rollout))
                .bind(now())
                .execute(&mut *$tx)
                .await
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        Error::conflict("already_in_channel", format!("release {version} is already in channel `{to}`"))
                    } else {
                        Error::from(e)
                    }
                })?;
            }};
        }
        match &self.pool {
            Pool::Sqlite(pool) => {
                let mut tx = begin_write!(sqlite pool, app);
                promote!(tx);
                tx.commit().await?;
            }
            Pool::Postgres(pool) => {
                let mut tx = begin_write!(postgres pool, app);
                promote!(tx);
                notify_in(&mut tx, app).await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Updates a placement's rollout percentage and/or paused flag. Not found if the release is not in the channel.
    pub async fn update_placement(
        &self,
        app: &AppId,
        release_id: i64,
        channel: &Channel,
        rollout: Option<u8>,
        paused: Option<bool>,
    ) -> Result<()> {
        macro_rules! update {
            ($tx:expr) => {
                sqlx::query(
                    "UPDATE channel_releases SET rollout = COALESCE($1, rollout), paused = COALESCE($2, paused)
                     WHERE release_id = $3 AND channel = $4",
                )
                .bind(rollout.map(i64::from))
                .bind(paused)
                .bind(release_id)
                .bind(channel.as_str())
                .execute($tx)
                .await?
                .rows_affected()
            };
        }
        let affected = match &self.pool {
            Pool::Sqlite(pool) => update!(pool),
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let affected = update!(&mut *tx);
                notify_in(&mut tx, app).await?;
                tx.commit().await?;
                affected
            }
        };
        if affected == 0 {
            return Err(Error::not_found(format!("the release in channel `{channel}`")));
        }
        Ok(())
    }

    /// Sets or clears a release's yanked flag.
    pub async fn set_yanked(&self, app: &AppId, release_id: i64, yanked: bool) -> Result<()> {
        macro_rules! update {
            ($tx:expr) => {
                sqlx::query("UPDATE releases SET yanked = $1 WHERE id = $2")
                    .bind(yanked)
                    .bind(release_id)
                    .execute($tx)
                    .await?
            };
        }
        match &self.pool {
            Pool::Sqlite(pool) => {
                update!(pool);
            }
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                update!(&mut *tx);
                notify_in(&mut tx, app).await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }

    // ----- whole-database copy (`migrate`) -----

    /// Reads every row of every table.
    pub async fn export(&self) -> Result<Export> {
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let apps =
                sqlx::query("SELECT id, public_key, created_at FROM apps ORDER BY id").fetch_all(&mut *tx).await?;
            let tokens =
                sqlx::query(&format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY id")).fetch_all(&mut *tx).await?;
            let releases = sqlx::query(&format!("SELECT {RELEASE_COLUMNS} FROM releases r ORDER BY r.id"))
                .fetch_all(&mut *tx)
                .await?;
            let artifacts =
                sqlx::query(&format!("SELECT {ARTIFACT_COLUMNS} FROM artifacts ORDER BY release_id, target"))
                    .fetch_all(&mut *tx)
                    .await?;
            let placements =
                sqlx::query(&format!("SELECT {PLACEMENT_COLUMNS} FROM channel_releases ORDER BY release_id, channel"))
                    .fetch_all(&mut *tx)
                    .await?;
            let roots = sqlx::query("SELECT app_id, version, envelope, created_at FROM roots ORDER BY app_id, version")
                .fetch_all(&mut *tx)
                .await?;
            let documents = sqlx::query(&format!(
                "SELECT {DOCUMENT_COLUMNS} FROM release_documents d ORDER BY d.app_id, d.channel, d.sequence"
            ))
            .fetch_all(&mut *tx)
            .await?;
            let online_keys = sqlx::query(
                "SELECT app_id, key_id, public_key, secret_key, created_at FROM online_keys ORDER BY app_id, key_id",
            )
            .fetch_all(&mut *tx)
            .await?;
            let freshness = sqlx::query(&format!("SELECT app_id, {FRESHNESS_COLUMNS} FROM freshness ORDER BY app_id"))
                .fetch_all(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(Export {
                roots: roots
                    .iter()
                    .map(|row| {
                        Ok(RootRow {
                            app_id: row.text("app_id")?,
                            version: row.int("version")?,
                            envelope: row.text("envelope")?,
                            created_at: row.int("created_at")?,
                        })
                    })
                    .collect::<Result<_>>()?,
                release_documents: documents.iter().map(document_from_row).collect::<Result<_>>()?,
                online_keys: online_keys.iter().map(online_key_from_row).collect::<Result<_>>()?,
                freshness: freshness
                    .iter()
                    .map(|row| Ok((row.text("app_id")?, freshness_from_row(row)?)))
                    .collect::<Result<_>>()?,
                apps: apps.iter().map(app_from_row).collect::<Result<_>>()?,
                tokens: tokens.iter().map(token_from_row).collect::<Result<_>>()?,
                releases: releases.iter().map(release_from_row).collect::<Result<_>>()?,
                artifacts: artifacts.iter().map(artifact_from_row).collect::<Result<_>>()?,
                placements: placements
                    .iter()
                    .map(|row| Ok((row.int("release_id")?, placement_from_row(row)?)))
                    .collect::<Result<_>>()?,
            })
        })
    }

    /// Whether the database holds no app (and so nothing else).
    pub async fn is_empty(&self) -> Result<bool> {
        on_pool!(self, |pool| {
            let row = sqlx::query("SELECT COUNT(*) AS n FROM apps").fetch_one(pool).await?;
            Ok(row.int("n")? == 0)
        })
    }

    /// Writes every row of `export`, keeping release ids, in one transaction.
    pub async fn import(&self, export: &Export) -> Result<()> {
        macro_rules! import {
            ($tx:ident) => {{
                for app in &export.apps {
                    sqlx::query("INSERT INTO apps (id, public_key, created_at) VALUES ($1, $2, $3)")
                        .bind(&app.id)
                        .bind(&app.public_key)
                        .bind(app.created_at)
                        .execute(&mut *$tx)
                        .await?;
                }
                for token in &export.tokens {
                    sqlx::query(&format!("INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"))
                        .bind(&token.id)
                        .bind(&token.secret_hash)
                        .bind(&token.app_id)
                        .bind(token.scope.as_str())
                        .bind(&token.description)
                        .bind(token.created_at)
                        .bind(token.revoked_at)
                        .execute(&mut *$tx)
                        .await?;
                }
                for release in &export.releases {
                    sqlx::query(
                        "INSERT INTO releases (id, app_id, version, notes, pub_date, yanked, created_at, min_webview_version) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(release.id)
                    .bind(&release.app_id)
                    .bind(&release.version)
                    .bind(&release.notes)
                    .bind(&release.pub_date)
                    .bind(release.yanked)
                    .bind(release.created_at)
                    .bind(&release.min_webview_version)
                    .execute(&mut *$tx)
                    .await?;
                }
                for artifact in &export.artifacts {
                    sqlx::query(&format!("INSERT INTO artifacts ({ARTIFACT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"))
                        .bind(artifact.release_id)
                        .bind(&artifact.target)
                        .bind(&artifact.file_name)
                        .bind(&artifact.sha256)
                        .bind(artifact.size)
                        .bind(&artifact.signature)
                        .execute(&mut *$tx)
                        .await?;
                }
                for (release_id, placement) in &export.placements {
                    sqlx::query(&format!("INSERT INTO channel_releases ({PLACEMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"))
                        .bind(release_id)
                        .bind(&placement.channel)
                        .bind(i64::from(placement.rollout))
                        .bind(placement.paused)
                        .bind(placement.added_at)
                        .execute(&mut *$tx)
                        .await?;
                }
                for root in &export.roots {
                    sqlx::query("INSERT INTO roots (app_id, version, envelope, created_at) VALUES ($1, $2, $3, $4)")
                        .bind(&root.app_id)
                        .bind(root.version)
                        .bind(&root.envelope)
                        .bind(root.created_at)
                        .execute(&mut *$tx)
                        .await?;
                }
                for d in &export.release_documents {
                    sqlx::query(
                        "INSERT INTO release_documents (release_id, app_id, channel, version, sequence, envelope, hash, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(d.release_id)
                    .bind(&d.app_id)
                    .bind(&d.channel)
                    .bind(&d.version)
                    .bind(d.sequence)
                    .bind(&d.envelope)
                    .bind(&d.hash)
                    .bind(d.created_at)
                    .execute(&mut *$tx)
                    .await?;
                }
                for key in &export.online_keys {
                    sqlx::query(
                        "INSERT INTO online_keys (app_id, key_id, public_key, secret_key, created_at) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(&key.app_id)
                    .bind(&key.key_id)
                    .bind(&key.public_key)
                    .bind(&key.secret_key)
                    .bind(key.created_at)
                    .execute(&mut *$tx)
                    .await?;
                }
                for (app, f) in &export.freshness {
                    sqlx::query(
                        "INSERT INTO freshness (app_id, sequence, envelope, issued_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(app)
                    .bind(f.sequence)
                    .bind(&f.envelope)
                    .bind(f.issued_at)
                    .bind(f.expires_at)
                    .execute(&mut *$tx)
                    .await?;
                }
            }};
        }
        match &self.pool {
            Pool::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                import!(tx);
                tx.commit().await?;
            }
            Pool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                import!(tx);
                // Explicit ids do not advance the identity sequence: move it past them.
                sqlx::query(
                    "SELECT setval(pg_get_serial_sequence('releases', 'id'), COALESCE((SELECT MAX(id) FROM releases), 0) + 1, false)",
                )
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }
}

/// Signed metadata: roots, release documents, online keys, freshness (`docs/protocol.md` §7).
impl Db {
    /// Every root envelope of an app, oldest first.
    pub async fn roots(&self, app: &AppId) -> Result<Vec<String>> {
        on_pool!(self, |pool| {
            let rows = sqlx::query("SELECT envelope FROM roots WHERE app_id = $1 ORDER BY version")
                .bind(app.as_str())
                .fetch_all(pool)
                .await?;
            rows.iter().map(|row| row.text("envelope")).collect()
        })
    }

    /// Stores root `version`; a root of that version already stored is [`Error::Conflict`].
    pub async fn insert_root(&self, app: &AppId, version: u64, envelope: &str) -> Result<()> {
        let version = i64::try_from(version).map_err(|_| Error::bad_request("root version too large"))?;
        on_pool!(self, |pool| sqlx::query(
            "INSERT INTO roots (app_id, version, envelope, created_at) VALUES ($1, $2, $3, $4)"
        )
        .bind(app.as_str())
        .bind(version)
        .bind(envelope)
        .bind(now())
        .execute(pool)
        .await
        .map(|_| ()))
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::conflict("root_exists", format!("app `{app}` already has root {version}"))
            } else {
                e.into()
            }
        })
    }

    /// The apps that have signed metadata (at least one root).
    pub async fn apps_with_roots(&self) -> Result<Vec<AppId>> {
        on_pool!(self, |pool| {
            let rows = sqlx::query("SELECT DISTINCT app_id FROM roots ORDER BY app_id").fetch_all(pool).await?;
            rows.iter().map(|row| AppId::parse(&row.text("app_id")?)).collect()
        })
    }

    /// The server's online keys of an app, newest first.
    pub async fn online_keys(&self, app: &AppId) -> Result<Vec<OnlineKeyRow>> {
        on_pool!(self, |pool| {
            let rows = sqlx::query(
                "SELECT app_id, key_id, public_key, secret_key, created_at FROM online_keys WHERE app_id = $1
                 ORDER BY created_at DESC, key_id",
            )
            .bind(app.as_str())
            .fetch_all(pool)
            .await?;
            rows.iter().map(online_key_from_row).collect()
        })
    }

    /// Stores a new online key.
    pub async fn insert_online_key(&self, key: &OnlineKeyRow) -> Result<()> {
        on_pool!(self, |pool| sqlx::query(
            "INSERT INTO online_keys (app_id, key_id, public_key, secret_key, created_at) VALUES ($1, $2, $3, $4, $5)"
        )
        .bind(&key.app_id)
        .bind(&key.key_id)
        .bind(&key.public_key)
        .bind(&key.secret_key)
        .bind(key.created_at)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// The release document of `version` in `channel`, with whether the release is yanked.
    pub async fn release_document(
        &self,
        app: &AppId,
        channel: &Channel,
        version: &str,
    ) -> Result<Option<(ReleaseDocumentRow, bool)>> {
        on_pool!(self, |pool| {
            let row = sqlx::query(&format!(
                "SELECT {DOCUMENT_COLUMNS}, r.yanked FROM release_documents d JOIN releases r ON r.id = d.release_id
                 WHERE d.app_id = $1 AND d.channel = $2 AND d.version = $3"
            ))
            .bind(app.as_str())
            .bind(channel.as_str())
            .bind(version)
            .fetch_optional(pool)
            .await?;
            row.map(|row| Ok((document_from_row(&row)?, row.flag("yanked")?))).transpose()
        })
    }

    /// The highest sequence number of the release documents of `channel`.
    pub async fn last_sequence(&self, app: &AppId, channel: &Channel) -> Result<Option<i64>> {
        on_pool!(self, |pool| {
            let row =
                sqlx::query("SELECT MAX(sequence) AS last FROM release_documents WHERE app_id = $1 AND channel = $2")
                    .bind(app.as_str())
                    .bind(channel.as_str())
                    .fetch_one(pool)
                    .await?;
            row.opt_int("last")
        })
    }

    /// Every release document of an app (oldest first).
    pub async fn release_documents(&self, app: &AppId) -> Result<Vec<ReleaseDocumentRow>> {
        on_pool!(self, |pool| {
            let rows = sqlx::query(&format!(
                "SELECT {DOCUMENT_COLUMNS} FROM release_documents d WHERE d.app_id = $1 ORDER BY d.channel, d.sequence"
            ))
            .bind(app.as_str())
            .fetch_all(pool)
            .await?;
            rows.iter().map(document_from_row).collect()
        })
    }

    /// The stored freshness document of an app.
    pub async fn freshness(&self, app: &AppId) -> Result<Option<FreshnessRow>> {
        on_pool!(self, |pool| {
            let row = sqlx::query(&format!("SELECT {FRESHNESS_COLUMNS} FROM freshness WHERE app_id = $1"))
                .bind(app.as_str())
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(freshness_from_row).transpose()
        })
    }

    /// Replaces the freshness document of an app, in one transaction holding the app's write lock (so signings on
    /// several replicas are serialised and sequence numbers only grow): if `due` says the stored one (if any) must be
    /// replaced, `sign` gets the next sequence number and every release document with its placement, and its result
    /// is stored. Returns the freshness document in force afterwards.
    pub async fn replace_freshness<D, S>(&self, app: &AppId, due: D, sign: S) -> Result<FreshnessRow>
    where
        D: FnOnce(&FreshnessRow) -> bool,
        S: FnOnce(u64, Vec<DocumentHead>) -> Result<FreshnessRow>,
    {
        macro_rules! replace {
            ($tx:ident) => {{
                let previous = sqlx::query(&format!("SELECT {FRESHNESS_COLUMNS} FROM freshness WHERE app_id = $1"))
                    .bind(app.as_str())
                    .fetch_optional(&mut *$tx)
                    .await?
                    .as_ref()
                    .map(freshness_from_row)
                    .transpose()?;
                if let Some(previous) = previous.as_ref().filter(|p| !due(p)) {
                    previous.clone()
                } else {
                    let rows = sqlx::query(
                        "SELECT d.channel, d.version, d.sequence, d.hash, r.yanked, c.rollout, c.paused
                         FROM release_documents d
                         JOIN releases r ON r.id = d.release_id
                         JOIN channel_releases c ON c.release_id = d.release_id AND c.channel = d.channel
                         WHERE d.app_id = $1",
                    )
                    .bind(app.as_str())
                    .fetch_all(&mut *$tx)
                    .await?;
                    let heads = rows
                        .iter()
                        .map(|row| {
                            let rollout = row.int("rollout")?;
                            Ok(DocumentHead {
                                channel: row.text("channel")?,
                                version: row.text("version")?,
                                sequence: row.int("sequence")?,
                                hash: row.text("hash")?,
                                yanked: row.flag("yanked")?,
                                rollout: u8::try_from(rollout)
                                    .map_err(|_| Error::Internal(format!("stored rollout {rollout}")))?,
                                paused: row.flag("paused")?,
                            })
                        })
                        .collect::<Result<Vec<_>>>()?;
                    let next = previous.as_ref().map_or(1, |p| p.sequence.saturating_add(1));
                    let signed = sign(u64::try_from(next).unwrap_or(1), heads)?;
                    sqlx::query(
                        "INSERT INTO freshness (app_id, sequence, envelope, issued_at, expires_at) VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (app_id) DO UPDATE SET sequence = excluded.sequence, envelope = excluded.envelope,
                         issued_at = excluded.issued_at, expires_at = excluded.expires_at",
                    )
                    .bind(app.as_str())
                    .bind(signed.sequence)
                    .bind(&signed.envelope)
                    .bind(signed.issued_at)
                    .bind(signed.expires_at)
                    .execute(&mut *$tx)
                    .await?;
                    signed
                }
            }};
        }
        match &self.pool {
            Pool::Sqlite(pool) => {
                let mut tx = begin_write!(sqlite pool, app);
                let row = replace!(tx);
                tx.commit().await?;
                Ok(row)
            }
            Pool::Postgres(pool) => {
                let mut tx = begin_write!(postgres pool, app);
                let row = replace!(tx);
                tx.commit().await?;
                Ok(row)
            }
        }
    }
}

const DOCUMENT_COLUMNS: &str =
    "d.release_id, d.app_id, d.channel, d.version, d.sequence, d.envelope, d.hash, d.created_at";
const FRESHNESS_COLUMNS: &str = "sequence, envelope, issued_at, expires_at";

fn document_from_row(row: &impl RowExt) -> Result<ReleaseDocumentRow> {
    Ok(ReleaseDocumentRow {
        release_id: row.int("release_id")?,
        app_id: row.text("app_id")?,
        channel: row.text("channel")?,
        version: row.text("version")?,
        sequence: row.int("sequence")?,
        envelope: row.text("envelope")?,
        hash: row.text("hash")?,
        created_at: row.int("created_at")?,
    })
}

fn freshness_from_row(row: &impl RowExt) -> Result<FreshnessRow> {
    Ok(FreshnessRow {
        sequence: row.int("sequence")?,
        envelope: row.text("envelope")?,
        issued_at: row.int("issued_at")?,
        expires_at: row.int("expires_at")?,
    })
}

fn online_key_from_row(row: &impl RowExt) -> Result<OnlineKeyRow> {
    Ok(OnlineKeyRow {
        app_id: row.text("app_id")?,
        key_id: row.text("key_id")?,
        public_key: row.text("public_key")?,
        secret_key: row.text("secret_key")?,
        created_at: row.int("created_at")?,
    })
}

fn duplicate_version_error(app: &AppId, version: &str) -> Error {
    Error::conflict(
        "duplicate_version",
        format!(
            "app `{app}` already has a release {version}\nhint: bump the version, or use `promote` to offer the existing release in another channel"
        ),
    )
}

fn duplicate_version(e: sqlx::Error, app: &AppId, version: &str) -> Error {
    if is_unique_violation(&e) { duplicate_version_error(app, version) } else { e.into() }
}

/// Unless `force`, `version` must be newer (SemVer precedence) than every release in the channel, yanked ones included
/// (installs may run a yanked version; they must never be offered something older as an "update").
fn check_newer(existing: &[(ReleaseRow, Placement)], channel: &Channel, version: &str, force: bool) -> Result<()> {
    if force {
        return Ok(());
    }
    let candidate =
        millennium_update_protocol::Version::from_str(version).map_err(|source| Error::protocol("version", source))?;
    for (release, _) in existing {
        let Ok(existing) = millennium_update_protocol::Version::from_str(&release.version) else {
            continue;
        };
        if !candidate.is_update_over(&existing) {
            return Err(Error::conflict(
                "version_not_newer",
                format!(
                    "{version} is not newer than {} already in channel `{channel}`\nhint: bump the version, or pass `--force` to publish it anyway",
                    release.version
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Migrations are numbered per change, not contiguously: a branch may add `0003` while another adds `0002`.
    /// sqlx applies whatever is not applied yet, in version order, so a database that got `0003` first takes `0002`
    /// when it arrives (the two must not depend on each other).
    #[tokio::test]
    async fn migrations_need_not_be_contiguous() {
        let dir = tempfile::tempdir().unwrap();
        let migrations = dir.path().join("migrations");
        std::fs::create_dir(&migrations).unwrap();
        let ours = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        for entry in std::fs::read_dir(&ours).unwrap() {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if !name.starts_with("0002_") {
                std::fs::copy(ours.join(&name), migrations.join(&name)).unwrap();
            }
        }
        let options = SqliteConnectOptions::new().filename(dir.path().join("db")).create_if_missing(true);
        let pool = SqlitePool::connect_with(options).await.unwrap();
        let run = || async { sqlx::migrate::Migrator::new(migrations.as_path()).await.unwrap().run(&pool).await };
        run().await.unwrap();
        sqlx::query("SELECT min_webview_version FROM releases").fetch_all(&pool).await.unwrap();

        std::fs::write(migrations.join("0002_arrives_later.sql"), "CREATE TABLE arrived_later (id INTEGER);").unwrap();
        run().await.unwrap();
        sqlx::query("SELECT id FROM arrived_later").fetch_all(&pool).await.unwrap();
        let versions: Vec<i64> = sqlx::query("SELECT version FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&pool)
            .await
            .unwrap()
            .iter()
            .map(|row| row.int("version").unwrap())
            .collect();
        assert_eq!(versions.first(), Some(&1));
        assert!(versions.contains(&2) && versions.contains(&3), "{versions:?}");
    }

    #[test]
    fn database_urls() {
        let url = DatabaseUrl::parse("postgres://millennium:s3cret@db.example:5433/updates").unwrap();
        assert!(url.is_postgres());
        assert_eq!(url.redacted(), "postgres://millennium@db.example:5433/updates");
        assert!(!format!("{url:?}").contains("s3cret"));
        assert!(DatabaseUrl::parse("postgresql://u@h/d").unwrap().is_postgres());
        let sqlite = DatabaseUrl::parse("sqlite:///var/lib/millennium/millennium.db").unwrap();
        assert_eq!(sqlite.redacted(), "sqlite:///var/lib/millennium/millennium.db");
        for bad in ["mysql://u@h/d", "millennium.db", "sqlite://x?journal=wal", "postgres://u@h:notaport/d"] {
            let err = DatabaseUrl::parse(bad).unwrap_err().to_string();
            assert!(err.contains("hint:"), "{bad}: {err}");
        }
    }
}
