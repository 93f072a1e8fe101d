//! The database: apps, tokens, releases, artifacts, channel placements, signed metadata.
//!
//! Two backends, chosen by URL ([`DatabaseUrl`]): SQLite (the zero-setup default, `millennium.db` in the data
//! directory) and PostgreSQL (shared by several stateless replicas). One module per concern adds its methods to
//! [`Db`]: `apps`, `tokens`, `releases`, `signed_metadata`, `health` (event counters, halts), `webhooks`, `sessions`
//! (the dashboard's), and `export` (the whole-database copy of `migrate`).
//!
//! # One SQL text, two pools
//!
//! Every query is written once, in plain SQL both backends accept with `$n` placeholders, and runs through the
//! private `backend` module: a statement, a row and a transaction there are enums of sqlx's own SQLite and
//! PostgreSQL types, so a query reads `self.query(SQL).bind(…).fetch_all(read_row)`, compiled once, and only that
//! module matches on the backend. The statements whose SQL differs are its few named steps: how a writing
//! transaction begins and locks (`BEGIN IMMEDIATE` on SQLite; `SELECT … FOR UPDATE` on the app's row or an advisory
//! lock on PostgreSQL) and the `NOTIFY` of a change; the one other PostgreSQL-only statement (moving the id sequence
//! after an import) is an `if` in `export`. Upserts (`ON CONFLICT … DO UPDATE`) are the same text on both.
//!
//! The alternatives, tried against this code:
//! - `sqlx::Any`: its SQLite driver hands `INTEGER` columns over as integers, and `bool` decodes only from a boolean,
//!   so every flag (`yanked`, `paused`) would need a branch or a schema change (which existing databases cannot
//!   take, see below); it copies each row into its own value type, on the update-check reads too; it opens from a
//!   URL, which cannot carry the journal mode, `synchronous` and busy timeout set in [`Db::open`]; and
//!   [`Db::postgres`] must still hand out a `PgPool` for `LISTEN`, a second pool.
//! - One trait implemented per backend (as `atuin-server-database` does): each of the ~50 statements written twice.
//! - Functions generic over `sqlx::Database`: Rust does not carry a trait's where-clauses to its users, so each
//!   function (or each module's `impl` block) restates the `Executor` bound on `&mut DB::Connection`,
//!   `IntoArguments`, `ColumnIndex` and an `Encode`/`Decode`/`Type` bound per Rust type it binds or reads (over a
//!   dozen lines for the types used here), and every public method still needs a `match` to pick the instantiation.
//!
//! Here a statement costs one `match` to run and one per column read; rows are sqlx's own, read in place (no
//! conversion), so the update-check reads ([`Db::app`], [`Db::channel_releases`], [`Db::artifacts`]) add only those
//! branches to what sqlx does (no difference measurable against the macro-expanded code this replaced).
//!
//! # Durability and concurrency
//!
//! SQLite runs in WAL mode with `synchronous = FULL`, so a committed publish survives a power cut. Writes that check
//! before they insert (publish, promote) run in `BEGIN IMMEDIATE` transactions there: SQLite then takes the write lock
//! at the start, so two concurrent publishes to one channel are serialised and the second one sees the first. On
//! PostgreSQL the same transactions lock the app's row (`SELECT … FOR UPDATE`), which serialises writers of one app
//! across replicas, and announce the change with `NOTIFY` ([`RELEASES_CHANNEL`]), delivered only if it commits.
//!
//! Versions are stored as canonical SemVer text and never compared in SQL: ordering is SemVer precedence, which only
//! [`millennium_update_protocol::Version`] knows, so callers load a channel's releases and sort them in Rust.
//!
//! # Migrations
//!
//! Each backend applies `migrations/common` (changes written once, in SQL both accept) merged with its own directory
//! (`migrations/sqlite`, `migrations/postgres`: changes whose SQL differs, e.g. column types), in version order; a
//! version is in one of the three only. A migration, once released, is never edited: sqlx stores each applied one's
//! checksum and refuses to open a database whose migration files no longer match (the test
//! `applied_migrations_never_change` pins them). So `0001` and `0002`, written per backend before `common` existed,
//! stay duplicated; `0003` and `0004`, identical on both, moved to `common` unchanged; `0005` was written there.

mod apps;
mod backend;
mod deltas;
mod export;
mod health;
mod releases;
mod sessions;
mod signed_metadata;
mod tokens;
mod webhooks;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use futures_util::future::BoxFuture;
use sqlx::PgPool;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use apps::AppRow;
use backend::Pool;
pub use deltas::{AltDelta, DeltaOutcome, DeltaRecord, DeltaRow};
pub use export::{Counts, Export, RootRow};
pub use health::{BUCKET_SECS, HaltState, HealthEvent, HealthKey, HealthRow, bucket_of};
pub use releases::{ArtifactRow, NewArtifact, NewRelease, Placement, PlacementChange, ReleaseRow};
pub use sessions::SessionRow;
pub use signed_metadata::{
    DocumentHead, FreshnessRow, NewReleaseDocument, NewYankList, OnlineKeyRow, ReleaseDocumentRow, YankListRow,
};
pub use tokens::TokenRow;
pub use webhooks::{DeliveryRow, WebhookRow};

use crate::error::{Error, Result};

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

/// The database handle (cheap to clone).
#[derive(Debug, Clone)]
pub struct Db {
    pool: Pool,
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
                // No ping before handing out a connection (sqlx's default): a connection to a local file does not go
                // stale, and on SQLite the ping is a round trip to the connection's thread, as costly as a query.
                let pool = SqlitePoolOptions::new()
                    .max_connections(8)
                    .test_before_acquire(false)
                    .connect_with(options)
                    .await?;
                migrator(Dialect::Sqlite).await?.run(&pool).await?;
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
                migrator(Dialect::Postgres).await?.run(&pool).await?;
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
        match &self.pool {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }
}

/// Whose migrations.
#[derive(Debug, Clone, Copy)]
enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The migrations only this backend applies (`migrations/sqlite`, `migrations/postgres`).
    fn own(self) -> &'static Migrator {
        static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
        static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");
        match self {
            Self::Sqlite => &SQLITE,
            Self::Postgres => &POSTGRES,
        }
    }
}

/// The migrations both backends apply (`migrations/common`).
static COMMON: Migrator = sqlx::migrate!("./migrations/common");

/// Every migration of a backend: [`COMMON`] and its own, in version order.
async fn migrator(dialect: Dialect) -> Result<Migrator> {
    Ok(Migrator::new(dialect).await?)
}

impl<'s> MigrationSource<'s> for Dialect {
    fn resolve(self) -> BoxFuture<'s, std::result::Result<Vec<Migration>, BoxDynError>> {
        Box::pin(async move {
            let mut all: Vec<Migration> = COMMON.iter().chain(self.own().iter()).cloned().collect();
            all.sort_by_key(|m| m.version);
            if let Some(pair) = all.windows(2).find(|pair| pair[0].version == pair[1].version) {
                return Err(format!(
                    "migration {} is both in migrations/common and in the {self:?} migrations",
                    pair[0].version
                )
                .into());
            }
            Ok(all)
        })
    }
}

/// Current Unix time in seconds.
pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Whether `e` is the database refusing a duplicate of a unique key.
fn is_unique_violation(e: &Error) -> bool {
    matches!(e, Error::Database(sqlx::Error::Database(d)) if d.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use sqlx::{Row, SqlitePool};

    use super::*;

    /// Migrations are numbered per change, not contiguously: a branch may add `0003` while another adds `0002`.
    /// sqlx applies whatever is not applied yet, in version order, so a database that got `0003` first takes `0002`
    /// when it arrives (the two must not depend on each other).
    #[tokio::test]
    async fn migrations_need_not_be_contiguous() {
        let dir = tempfile::tempdir().unwrap();
        let migrations = dir.path().join("migrations");
        std::fs::create_dir(&migrations).unwrap();
        for ours in ["migrations/common", "migrations/sqlite"] {
            let ours = Path::new(env!("CARGO_MANIFEST_DIR")).join(ours);
            for entry in std::fs::read_dir(&ours).unwrap() {
                let name = entry.unwrap().file_name().into_string().unwrap();
                if !name.starts_with("0002_") {
                    std::fs::copy(ours.join(&name), migrations.join(&name)).unwrap();
                }
            }
        }
        let options = SqliteConnectOptions::new().filename(dir.path().join("db")).create_if_missing(true);
        let pool = SqlitePool::connect_with(options).await.unwrap();
        let run = || async { Migrator::new(migrations.as_path()).await.unwrap().run(&pool).await };
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
            .map(|row| row.get("version"))
            .collect();
        assert_eq!(versions.first(), Some(&1));
        assert!(versions.contains(&2) && versions.contains(&3), "{versions:?}");
    }

    /// Apps registered before `require-signed-version` existed keep publishing as before (signatures without a
    /// `version:` accepted): migration 0005 gives them `false`; only apps created from then on default to `true`.
    #[tokio::test]
    async fn apps_registered_before_the_signed_version_policy_keep_it_off() {
        let dir = tempfile::tempdir().unwrap();
        let migrations = dir.path().join("migrations");
        std::fs::create_dir(&migrations).unwrap();
        let ours = |name: &str| -> Vec<std::path::PathBuf> {
            ["migrations/common", "migrations/sqlite"]
                .iter()
                .flat_map(|d| std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(d)).unwrap())
                .map(|e| e.unwrap().path())
                .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with(name))
                .collect()
        };
        for version in ["0001_", "0002_", "0003_", "0004_"] {
            for path in ours(version) {
                std::fs::copy(&path, migrations.join(path.file_name().unwrap())).unwrap();
            }
        }
        let options = SqliteConnectOptions::new().filename(dir.path().join("db")).create_if_missing(true);
        let pool = SqlitePool::connect_with(options).await.unwrap();
        let run = || async { Migrator::new(migrations.as_path()).await.unwrap().run(&pool).await.unwrap() };
        run().await;
        sqlx::query("INSERT INTO apps (id, public_key, created_at) VALUES ('old', 'key', 1)")
            .execute(&pool)
            .await
            .unwrap();
        for path in ours("0005_") {
            std::fs::copy(&path, migrations.join(path.file_name().unwrap())).unwrap();
        }
        run().await;
        let row =
            sqlx::query("SELECT require_signed_version FROM apps WHERE id = 'old'").fetch_one(&pool).await.unwrap();
        assert!(!row.get::<bool, _>("require_signed_version"));
    }

    /// Every released migration, by backend, with the checksum sqlx stored when it applied it: changing one (even a
    /// comment) would make every database that applied it refuse to open (`VersionMismatch`). A new migration is
    /// added here as it is released; an existing line never changes.
    #[tokio::test]
    async fn applied_migrations_never_change() {
        let released: [(Dialect, &[(i64, &str)]); 2] = [
            (
                Dialect::Sqlite,
                &[
                    (
                        1,
                        "dc6f513a459a642f81bb798a595083780dda0f1a224d2e9f0fb28b6d4e0728263257a0a1aa97056a25978ab4a8c171d7",
                    ),
                    (
                        2,
                        "06bd0fb12ae0a40ca303550ffde8d0f596f59cf238514ecc736f220e6ce36d5e9641ad44bf5a65032d5087455ab8af10",
                    ),
                    (
                        3,
                        "7ff04d102901b54055a49cb6821097bf7fb14246e557f77c5b6cd19d6a65b102f1c10e31674df9958d913198e6fab1db",
                    ),
                    (
                        4,
                        "bf0b1cc1183f7f75aa6092767aa51a7b16cdb05d4fe7d049aab5cbbfc9de7d6dcd23a89ad775e78f1053916caa85d9bf",
                    ),
                    (
                        5,
                        "bb7d8307e51819ab7f59b480ead4db3531cf511264f7c2ca32e5e5aefb3658afc7766e550c2e2de25678c9f38fac9d0a",
                    ),
                    (
                        6,
                        "0c5869016cb33793b740a7616d3e73e711ea1f916257ad82f7dfc24075d02e4c3b530f87bb76765935172a469e1aada8",
                    ),
                    (
                        7,
                        "3ef60d74a30687dfa7c38366af5b2a964704bbcd8e6f44d35335cdc206508ce65202831bc3c9275a563c4fba9e005c5e",
                    ),
                    (
                        8,
                        "9eb8ca1bef65466e2dff81e6d0f69e79019d87dabab25615acad4fea8aa952eea5c8dfd68eb64638060e0dd771a909ca",
                    ),
                    (
                        9,
                        "2257633420d4ec85be6a9dc66ab8de8d40e3b35c7fb16e29794134a27bb40a5bdb6d5419828170ed096d0c785e7720b7",
                    ),
                    (
                        10,
                        "2f4dbc4766f185c504dd78e4eef14498b06e1ebfe2168a870f924628b07e76d3b7256dc9460d0bee98e1126d9a54b295",
                    ),
                    (
                        11,
                        "0e84e3315bf6783d707e462cc65de6a64c2e9dc77a177005263c9b8088abf0105166e37c1c3dacb5108587b262a43206",
                    ),
                ],
            ),
            (
                Dialect::Postgres,
                &[
                    (
                        1,
                        "930502fb425a6bc9bbf12a6a25e4d6cc4cbdc5b832b41e8b0be653fc73a7c45b9bffe47816ee3637fbca299acf2ba44e",
                    ),
                    (
                        2,
                        "bd9e8ea59e723c59b5bcfe35c705ab1cd49007f1b636275fc49dac860d0e7eecaae125904f6b23cd49933bb6ddd8c622",
                    ),
                    (
                        3,
                        "7ff04d102901b54055a49cb6821097bf7fb14246e557f77c5b6cd19d6a65b102f1c10e31674df9958d913198e6fab1db",
                    ),
                    (
                        4,
                        "bf0b1cc1183f7f75aa6092767aa51a7b16cdb05d4fe7d049aab5cbbfc9de7d6dcd23a89ad775e78f1053916caa85d9bf",
                    ),
                    (
                        5,
                        "bb7d8307e51819ab7f59b480ead4db3531cf511264f7c2ca32e5e5aefb3658afc7766e550c2e2de25678c9f38fac9d0a",
                    ),
                    (
                        6,
                        "0c5869016cb33793b740a7616d3e73e711ea1f916257ad82f7dfc24075d02e4c3b530f87bb76765935172a469e1aada8",
                    ),
                    (
                        7,
                        "3ef60d74a30687dfa7c38366af5b2a964704bbcd8e6f44d35335cdc206508ce65202831bc3c9275a563c4fba9e005c5e",
                    ),
                    (
                        8,
                        "9eb8ca1bef65466e2dff81e6d0f69e79019d87dabab25615acad4fea8aa952eea5c8dfd68eb64638060e0dd771a909ca",
                    ),
                    (
                        9,
                        "2257633420d4ec85be6a9dc66ab8de8d40e3b35c7fb16e29794134a27bb40a5bdb6d5419828170ed096d0c785e7720b7",
                    ),
                    (
                        10,
                        "2f4dbc4766f185c504dd78e4eef14498b06e1ebfe2168a870f924628b07e76d3b7256dc9460d0bee98e1126d9a54b295",
                    ),
                    (
                        11,
                        "0e84e3315bf6783d707e462cc65de6a64c2e9dc77a177005263c9b8088abf0105166e37c1c3dacb5108587b262a43206",
                    ),
                ],
            ),
        ];
        for (dialect, released) in released {
            let migrator = migrator(dialect).await.unwrap();
            let ours: Vec<(i64, String)> = migrator.iter().map(|m| (m.version, hex::encode(&m.checksum))).collect();
            for (version, checksum) in released {
                let found = ours.iter().find(|(v, _)| v == version).map(|(_, c)| c.as_str());
                assert_eq!(found, Some(*checksum), "{dialect:?} migration {version}");
            }
            let versions: Vec<i64> = ours.iter().map(|(v, _)| *v).collect();
            assert!(versions.is_sorted(), "{dialect:?}: {versions:?}");
        }
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
