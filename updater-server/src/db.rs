//! The database: apps, tokens, releases, artifacts, channel placements.
//!
//! SQLite in the data directory (`millennium.db`, WAL mode, `synchronous = FULL` so a committed publish survives a
//! power cut), migrations from `migrations/` applied at start. Queries use `$n` placeholders and plain SQL that
//! PostgreSQL also accepts, so a PostgreSQL backend is a matter of a second pool type behind this module's functions.
//!
//! Writes that check before they insert (publish, promote) run in `BEGIN IMMEDIATE` transactions: SQLite then takes
//! the write lock at the start, so two concurrent publishes to one channel are serialised and the second one sees the
//! first (no "both checked, both inserted" race, and no snapshot-upgrade failures under WAL).
//!
//! Versions are stored as canonical SemVer text and never compared in SQL: ordering is SemVer precedence, which only
//! [`millennium_update_protocol::Version`] knows, so callers load a channel's releases and sort them in Rust.

use std::collections::HashSet;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use crate::error::{Error, Result};
use crate::names::{AppId, Channel};
use crate::tokens::Scope;

/// The database handle (cheap to clone).
#[derive(Debug, Clone)]
pub struct Db {
    pool: SqlitePool,
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
    pub pub_date: &'a str,
    pub channel: &'a Channel,
    pub rollout: u8,
    pub artifacts: Vec<NewArtifact>,
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

fn release_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<ReleaseRow> {
    Ok(ReleaseRow {
        id: row.try_get("id")?,
        app_id: row.try_get("app_id")?,
        version: row.try_get("version")?,
        notes: row.try_get("notes")?,
        pub_date: row.try_get("pub_date")?,
        yanked: row.try_get("yanked")?,
        created_at: row.try_get("created_at")?,
    })
}

fn placement_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Placement> {
    let rollout: i64 = row.try_get("rollout")?;
    Ok(Placement {
        channel: row.try_get("channel")?,
        rollout: u8::try_from(rollout).map_err(|_| Error::Internal(format!("stored rollout {rollout}")))?,
        paused: row.try_get("paused")?,
        added_at: row.try_get("added_at")?,
    })
}

fn artifact_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<ArtifactRow> {
    Ok(ArtifactRow {
        release_id: row.try_get("release_id")?,
        target: row.try_get("target")?,
        file_name: row.try_get("file_name")?,
        sha256: row.try_get("sha256")?,
        size: row.try_get("size")?,
        signature: row.try_get("signature")?,
    })
}

const RELEASE_COLUMNS: &str = "r.id, r.app_id, r.version, r.notes, r.pub_date, r.yanked, r.created_at";

impl Db {
    /// Opens (creating if needed) `millennium.db` in `data_dir` and applies the migrations.
    pub async fn open(data_dir: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(data_dir.join("millennium.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool })
    }

    /// Closes the pool (checkpointing the WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    // ----- apps -----

    /// Creates an app; a duplicate id is [`Error::Conflict`].
    pub async fn insert_app(&self, id: &AppId, public_key: &str) -> Result<AppRow> {
        let created_at = now();
        sqlx::query("INSERT INTO apps (id, public_key, created_at) VALUES ($1, $2, $3)")
            .bind(id.as_str())
            .bind(public_key)
            .bind(created_at)
            .execute(&self.pool)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    Error::conflict("app_exists", format!("app `{id}` already exists"))
                } else {
                    e.into()
                }
            })?;
        Ok(AppRow { id: id.to_string(), public_key: public_key.to_owned(), created_at })
    }

    /// An app by id.
    pub async fn app(&self, id: &AppId) -> Result<Option<AppRow>> {
        let row = sqlx::query("SELECT id, public_key, created_at FROM apps WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.map(|row| {
            Ok(AppRow {
                id: row.try_get("id")?,
                public_key: row.try_get("public_key")?,
                created_at: row.try_get("created_at")?,
            })
        })
        .transpose()
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
        sqlx::query(
            "INSERT INTO tokens (id, secret_hash, app_id, scope, description, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(secret_hash)
        .bind(app.map(AppId::as_str))
        .bind(scope.as_str())
        .bind(description)
        .bind(now())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A token by id.
    pub async fn token(&self, id: &str) -> Result<Option<TokenRow>> {
        let row = sqlx::query(
            "SELECT id, secret_hash, app_id, scope, description, created_at, revoked_at FROM tokens WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            let scope: String = row.try_get("scope")?;
            Ok(TokenRow {
                id: row.try_get("id")?,
                secret_hash: row.try_get("secret_hash")?,
                app_id: row.try_get("app_id")?,
                scope: Scope::parse(&scope).map_err(|_| Error::Internal(format!("stored scope {scope:?}")))?,
                description: row.try_get("description")?,
                created_at: row.try_get("created_at")?,
                revoked_at: row.try_get("revoked_at")?,
            })
        })
        .transpose()
    }

    /// Marks a token revoked (idempotent).
    pub async fn revoke_token(&self, id: &str) -> Result<()> {
        sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Whether a server admin token (one for every app) exists and is not revoked.
    pub async fn has_server_admin_token(&self) -> Result<bool> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM tokens WHERE app_id IS NULL AND revoked_at IS NULL")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>("n")? > 0)
    }

    // ----- releases -----

    /// A release by version (canonical text).
    pub async fn release(&self, app: &AppId, version: &str) -> Result<Option<ReleaseRow>> {
        let row =
            sqlx::query(&format!("SELECT {RELEASE_COLUMNS} FROM releases r WHERE r.app_id = $1 AND r.version = $2"))
                .bind(app.as_str())
                .bind(version)
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(release_from_row).transpose()
    }

    /// Every release of an app.
    pub async fn releases(&self, app: &AppId) -> Result<Vec<ReleaseRow>> {
        let rows = sqlx::query(&format!("SELECT {RELEASE_COLUMNS} FROM releases r WHERE r.app_id = $1 ORDER BY r.id"))
            .bind(app.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(release_from_row).collect()
    }

    /// The releases placed in a channel, with their placement, in no particular order.
    pub async fn channel_releases(&self, app: &AppId, channel: &Channel) -> Result<Vec<(ReleaseRow, Placement)>> {
        Self::channel_releases_in(&self.pool, app, channel).await
    }

    async fn channel_releases_in<'e, E>(
        executor: E,
        app: &AppId,
        channel: &Channel,
    ) -> Result<Vec<(ReleaseRow, Placement)>>
    where
        E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
    {
        let rows = sqlx::query(&format!(
            "SELECT {RELEASE_COLUMNS}, c.channel, c.rollout, c.paused, c.added_at
             FROM releases r JOIN channel_releases c ON c.release_id = r.id
             WHERE r.app_id = $1 AND c.channel = $2"
        ))
        .bind(app.as_str())
        .bind(channel.as_str())
        .fetch_all(executor)
        .await?;
        rows.iter().map(|row| Ok((release_from_row(row)?, placement_from_row(row)?))).collect()
    }

    /// The channels a release is placed in.
    pub async fn placements(&self, release_id: i64) -> Result<Vec<Placement>> {
        let rows = sqlx::query(
            "SELECT channel, rollout, paused, added_at FROM channel_releases WHERE release_id = $1 ORDER BY channel",
        )
        .bind(release_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(placement_from_row).collect()
    }

    /// The artifacts of a release, by target key.
    pub async fn artifacts(&self, release_id: i64) -> Result<Vec<ArtifactRow>> {
        let rows = sqlx::query(
            "SELECT release_id, target, file_name, sha256, size, signature FROM artifacts WHERE release_id = $1 ORDER BY target",
        )
        .bind(release_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(artifact_from_row).collect()
    }

    /// The hashes every artifact refers to.
    pub async fn referenced_blobs(&self) -> Result<HashSet<String>> {
        let rows = sqlx::query("SELECT DISTINCT sha256 FROM artifacts").fetch_all(&self.pool).await?;
        rows.iter().map(|row| Ok(row.try_get::<String, _>("sha256")?)).collect()
    }

    /// Writes a release, its artifacts and its placement in one transaction, after checking (inside the transaction)
    /// that the version is new for the app and, unless `force`, newer than every release in the channel.
    pub async fn insert_release(&self, release: NewRelease<'_>, force: bool) -> Result<i64> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        check_publishable(&mut tx, release.app, release.channel, release.version, force).await?;
        let created_at = now();
        let row = sqlx::query(
            "INSERT INTO releases (app_id, version, notes, pub_date, yanked, created_at) VALUES ($1, $2, $3, $4, 0, $5) RETURNING id",
        )
        .bind(release.app.as_str())
        .bind(release.version)
        .bind(release.notes)
        .bind(release.pub_date)
        .bind(created_at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| duplicate_version(e, release.app, release.version))?;
        let release_id: i64 = row.try_get("id")?;
        for artifact in &release.artifacts {
            sqlx::query(
                "INSERT INTO artifacts (release_id, target, file_name, sha256, size, signature) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(release_id)
            .bind(&artifact.target)
            .bind(&artifact.file_name)
            .bind(&artifact.sha256)
            .bind(i64::try_from(artifact.size).map_err(|_| Error::Internal("artifact size overflow".into()))?)
            .bind(&artifact.signature)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query(
            "INSERT INTO channel_releases (release_id, channel, rollout, paused, added_at) VALUES ($1, $2, $3, 0, $4)",
        )
        .bind(release_id)
        .bind(release.channel.as_str())
        .bind(i64::from(release.rollout))
        .bind(created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(release_id)
    }

    /// Checks, outside a transaction, what [`Db::insert_release`] will check again inside one: lets a publish be
    /// refused before its artifacts are uploaded.
    pub async fn check_publishable(&self, app: &AppId, channel: &Channel, version: &str, force: bool) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        check_publishable(&mut conn, app, channel, version, force).await
    }

    /// Places an existing release in another channel.
    pub async fn promote(&self, app: &AppId, version: &str, to: &Channel, rollout: u8, force: bool) -> Result<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let release = sqlx::query("SELECT id FROM releases WHERE app_id = $1 AND version = $2")
            .bind(app.as_str())
            .bind(version)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| Error::not_found(format!("release {version} of app `{app}`")))?;
        let release_id: i64 = release.try_get("id")?;
        check_newer(&mut tx, app, to, version, force).await?;
        sqlx::query(
            "INSERT INTO channel_releases (release_id, channel, rollout, paused, added_at) VALUES ($1, $2, $3, 0, $4)",
        )
        .bind(release_id)
        .bind(to.as_str())
        .bind(i64::from(rollout))
        .bind(now())
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                Error::conflict("already_in_channel", format!("release {version} is already in channel `{to}`"))
            } else {
                e.into()
            }
        })?;
        tx.commit().await?;
        Ok(())
    }

    /// Updates a placement's rollout percentage and/or paused flag. Not found if the release is not in the channel.
    pub async fn update_placement(
        &self,
        release_id: i64,
        channel: &Channel,
        rollout: Option<u8>,
        paused: Option<bool>,
    ) -> Result<()> {
        let result = sqlx::query(
            "UPDATE channel_releases SET rollout = COALESCE($1, rollout), paused = COALESCE($2, paused)
             WHERE release_id = $3 AND channel = $4",
        )
        .bind(rollout.map(i64::from))
        .bind(paused)
        .bind(release_id)
        .bind(channel.as_str())
        .execute(&self.pool)
        .await?;
        if result.rows_affected() == 0 {
            return Err(Error::not_found(format!("the release in channel `{channel}`")));
        }
        Ok(())
    }

    /// Sets or clears a release's yanked flag.
    pub async fn set_yanked(&self, release_id: i64, yanked: bool) -> Result<()> {
        sqlx::query("UPDATE releases SET yanked = $1 WHERE id = $2")
            .bind(yanked)
            .bind(release_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

fn duplicate_version(e: sqlx::Error, app: &AppId, version: &str) -> Error {
    if is_unique_violation(&e) {
        Error::conflict("duplicate_version", format!("app `{app}` already has a release {version}"))
    } else {
        e.into()
    }
}

async fn check_publishable(
    conn: &mut sqlx::SqliteConnection,
    app: &AppId,
    channel: &Channel,
    version: &str,
    force: bool,
) -> Result<()> {
    let existing = sqlx::query("SELECT id FROM releases WHERE app_id = $1 AND version = $2")
        .bind(app.as_str())
        .bind(version)
        .fetch_optional(&mut *conn)
        .await?;
    if existing.is_some() {
        return Err(Error::conflict(
            "duplicate_version",
            format!(
                "app `{app}` already has a release {version}\nhint: bump the version, or use `promote` to offer the existing release in another channel"
            ),
        ));
    }
    check_newer(conn, app, channel, version, force).await
}

/// Unless `force`, `version` must be newer (SemVer precedence) than every release in the channel, yanked ones included
/// (installs may run a yanked version; they must never be offered something older as an "update").
async fn check_newer(
    conn: &mut sqlx::SqliteConnection,
    app: &AppId,
    channel: &Channel,
    version: &str,
    force: bool,
) -> Result<()> {
    if force {
        return Ok(());
    }
    let candidate =
        millennium_update_protocol::Version::from_str(version).map_err(|source| Error::protocol("version", source))?;
    for (release, _) in Db::channel_releases_in(&mut *conn, app, channel).await? {
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
