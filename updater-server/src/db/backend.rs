//! The one place that knows there are two backends: a statement, its rows and a transaction for whichever pool is
//! open, each an enum of sqlx's own types for SQLite and PostgreSQL (see the [module header](super) for why), and the
//! few steps whose SQL differs: how a writing transaction begins and locks, and the `NOTIFY` of a change.

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Database, Decode, Encode, PgPool, Postgres, Row as _, Sqlite, SqlitePool, Transaction, Type};

use super::{Db, RELEASES_CHANNEL};
use crate::error::{Error, Result};
use crate::names::AppId;

/// The open pool.
#[derive(Debug, Clone)]
pub(super) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Where a statement of one backend runs: the pool (on whichever connection is free) or one connection (a
/// transaction's).
pub(super) enum Target<'c, DB: Database> {
    Pool(&'c sqlx::Pool<DB>),
    Conn(&'c mut DB::Connection),
}

/// Where statements run, on whichever backend is open: [`Db::exec`] (the pool) or [`Tx::exec`] (the transaction).
pub(super) enum Exec<'c> {
    Sqlite(Target<'c, Sqlite>),
    Postgres(Target<'c, Postgres>),
}

impl<'c> Exec<'c> {
    /// A statement in the SQL both backends accept (`$n` placeholders).
    pub(super) fn query<'q>(self, sql: &'q str) -> Statement<'c, 'q> {
        match self {
            Self::Sqlite(target) => Statement::Sqlite(target, sqlx::query(sql)),
            Self::Postgres(target) => Statement::Postgres(target, sqlx::query(sql)),
        }
    }
}

/// A statement with its arguments, ready to run where it was made.
pub(super) enum Statement<'c, 'q> {
    Sqlite(Target<'c, Sqlite>, Query<'q, Sqlite, SqliteArguments<'q>>),
    Postgres(Target<'c, Postgres>, Query<'q, Postgres, PgArguments>),
}

impl<'q> Statement<'_, 'q> {
    /// Binds the next `$n`.
    pub(super) fn bind<T>(self, value: T) -> Self
    where
        T: 'q + Encode<'q, Sqlite> + Type<Sqlite> + Encode<'q, Postgres> + Type<Postgres>,
    {
        match self {
            Self::Sqlite(target, query) => Self::Sqlite(target, query.bind(value)),
            Self::Postgres(target, query) => Self::Postgres(target, query.bind(value)),
        }
    }

    /// Runs the statement; returns how many rows it changed.
    pub(super) async fn execute(self) -> Result<u64> {
        Ok(match self {
            Self::Sqlite(Target::Pool(pool), query) => query.execute(pool).await?.rows_affected(),
            Self::Sqlite(Target::Conn(conn), query) => query.execute(conn).await?.rows_affected(),
            Self::Postgres(Target::Pool(pool), query) => query.execute(pool).await?.rows_affected(),
            Self::Postgres(Target::Conn(conn), query) => query.execute(conn).await?.rows_affected(),
        })
    }

    /// Every row, each read by `read`.
    pub(super) async fn fetch_all<T>(self, mut read: impl FnMut(Row<'_>) -> Result<T>) -> Result<Vec<T>> {
        match self {
            Self::Sqlite(Target::Pool(pool), query) => {
                query.fetch_all(pool).await?.iter().map(|r| read(Row::Sqlite(r))).collect()
            }
            Self::Sqlite(Target::Conn(conn), query) => {
                query.fetch_all(conn).await?.iter().map(|r| read(Row::Sqlite(r))).collect()
            }
            Self::Postgres(Target::Pool(pool), query) => {
                query.fetch_all(pool).await?.iter().map(|r| read(Row::Postgres(r))).collect()
            }
            Self::Postgres(Target::Conn(conn), query) => {
                query.fetch_all(conn).await?.iter().map(|r| read(Row::Postgres(r))).collect()
            }
        }
    }

    /// The first row if there is one, read by `read`.
    pub(super) async fn fetch_optional<T>(self, read: impl FnOnce(Row<'_>) -> Result<T>) -> Result<Option<T>> {
        match self {
            Self::Sqlite(Target::Pool(pool), query) => {
                query.fetch_optional(pool).await?.as_ref().map(|r| read(Row::Sqlite(r)))
            }
            Self::Sqlite(Target::Conn(conn), query) => {
                query.fetch_optional(conn).await?.as_ref().map(|r| read(Row::Sqlite(r)))
            }
            Self::Postgres(Target::Pool(pool), query) => {
                query.fetch_optional(pool).await?.as_ref().map(|r| read(Row::Postgres(r)))
            }
            Self::Postgres(Target::Conn(conn), query) => {
                query.fetch_optional(conn).await?.as_ref().map(|r| read(Row::Postgres(r)))
            }
        }
        .transpose()
    }

    /// The first row, read by `read`; none is [`sqlx::Error::RowNotFound`].
    pub(super) async fn fetch_one<T>(self, read: impl FnOnce(Row<'_>) -> Result<T>) -> Result<T> {
        self.fetch_optional(read).await?.ok_or(Error::Database(sqlx::Error::RowNotFound))
    }
}

/// A row of either backend, read in place.
#[derive(Clone, Copy)]
pub(super) enum Row<'r> {
    Sqlite(&'r SqliteRow),
    Postgres(&'r PgRow),
}

impl Row<'_> {
    /// The value of `column`, as a type both backends decode.
    pub(super) fn get<T>(self, column: &str) -> Result<T>
    where
        T: for<'v> Decode<'v, Sqlite> + Type<Sqlite> + for<'v> Decode<'v, Postgres> + Type<Postgres>,
    {
        Ok(match self {
            Self::Sqlite(row) => row.try_get(column)?,
            Self::Postgres(row) => row.try_get(column)?,
        })
    }
}

/// Runs `begin` on `pool` in a task of its own, so that it completes even when the caller's future is dropped
/// meanwhile (a client that disconnects cancels its request). A `BEGIN` cancelled while the database runs it (on
/// SQLite, `BEGIN IMMEDIATE` waiting for the write lock) leaves its pooled connection inside a transaction nobody
/// holds: sqlx rolls back only a `Transaction` it handed out, so the connection would go back to the pool with the
/// write lock held, and the next transaction on it would fail ("non-zero transaction depth") or nest into it. A
/// transaction that completes after its caller went away is dropped in the task, which rolls it back.
async fn detached<P, F, T>(pool: P, begin: impl FnOnce(P) -> F) -> Result<T>
where
    F: Future<Output = sqlx::Result<T>> + Send + 'static,
    T: Send + 'static,
{
    tokio::spawn(begin(pool)).await.map_err(|e| Error::Internal(format!("database task: {e}")))?.map_err(Error::from)
}

/// A transaction of either backend; dropped without [`Tx::commit`], it rolls back.
pub(super) enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

impl Db {
    /// Statements on the pool.
    pub(super) fn exec(&self) -> Exec<'_> {
        match &self.pool {
            Pool::Sqlite(pool) => Exec::Sqlite(Target::Pool(pool)),
            Pool::Postgres(pool) => Exec::Postgres(Target::Pool(pool)),
        }
    }

    /// A statement on the pool.
    pub(super) fn query<'q>(&self, sql: &'q str) -> Statement<'_, 'q> {
        self.exec().query(sql)
    }

    /// Begins a transaction (`BEGIN`).
    pub(super) async fn begin(&self) -> Result<Tx> {
        Ok(match &self.pool {
            Pool::Sqlite(pool) => Tx::Sqlite(detached(pool.clone(), |pool| async move { pool.begin().await }).await?),
            Pool::Postgres(pool) => {
                Tx::Postgres(detached(pool.clone(), |pool| async move { pool.begin().await }).await?)
            }
        })
    }

    /// Begins a transaction that will write after reading what decides the write. On SQLite it is `BEGIN IMMEDIATE`,
    /// which takes the database's write lock at once, so every such transaction sees all the earlier ones (a deferred
    /// one would read first and fail to upgrade). On PostgreSQL it is a plain `BEGIN`: writers serialise on the lock
    /// they take next ([`Tx::lock_app`], [`Tx::lock`]).
    pub(super) async fn begin_write(&self) -> Result<Tx> {
        Ok(match &self.pool {
            Pool::Sqlite(pool) => Tx::Sqlite(
                detached(pool.clone(), |pool| async move { pool.begin_with("BEGIN IMMEDIATE").await }).await?,
            ),
            Pool::Postgres(pool) => {
                Tx::Postgres(detached(pool.clone(), |pool| async move { pool.begin().await }).await?)
            }
        })
    }

    /// [`Db::begin_write`] holding `app`'s lock: writers of one app's releases are serialised, across replicas on
    /// PostgreSQL.
    pub(super) async fn begin_app_write(&self, app: &AppId) -> Result<Tx> {
        let mut tx = self.begin_write().await?;
        tx.lock_app(app).await?;
        Ok(tx)
    }
}

impl Tx {
    /// Statements in the transaction.
    pub(super) fn exec(&mut self) -> Exec<'_> {
        match self {
            Self::Sqlite(tx) => Exec::Sqlite(Target::Conn(&mut **tx)),
            Self::Postgres(tx) => Exec::Postgres(Target::Conn(&mut **tx)),
        }
    }

    /// A statement in the transaction.
    pub(super) fn query<'q>(&mut self, sql: &'q str) -> Statement<'_, 'q> {
        self.exec().query(sql)
    }

    /// Whether this is PostgreSQL.
    pub(super) fn is_postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// PostgreSQL: locks `app`'s row until the end of the transaction (`SELECT … FOR UPDATE`). SQLite: nothing, the
    /// transaction already holds the database's write lock.
    async fn lock_app(&mut self, app: &AppId) -> Result<()> {
        if let Self::Postgres(tx) = self {
            sqlx::query("SELECT id FROM apps WHERE id = $1 FOR UPDATE").bind(app.as_str()).execute(&mut **tx).await?;
        }
        Ok(())
    }

    /// PostgreSQL: takes the advisory lock named `name` ([`crate::leader::lock_key`]) until the end of the
    /// transaction. SQLite: nothing, as for [`Tx::lock_app`].
    pub(super) async fn lock(&mut self, name: &str) -> Result<()> {
        if let Self::Postgres(tx) = self {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(crate::leader::lock_key(name))
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// PostgreSQL: announces a change of `app`'s releases to every replica ([`RELEASES_CHANNEL`]), delivered if the
    /// transaction commits. SQLite: nothing (one process serves it).
    pub(super) async fn announce(&mut self, app: &AppId) -> Result<()> {
        if let Self::Postgres(tx) = self {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(RELEASES_CHANNEL)
                .bind(app.as_str())
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// Commits.
    pub(super) async fn commit(self) -> Result<()> {
        match self {
            Self::Sqlite(tx) => tx.commit().await?,
            Self::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }

    /// Rolls back, and waits until it is done (dropping a transaction rolls it back too, without waiting).
    pub(super) async fn rollback(self) -> Result<()> {
        match self {
            Self::Sqlite(tx) => tx.rollback().await?,
            Self::Postgres(tx) => tx.rollback().await?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sqlx::sqlite::SqliteConnectOptions;
    use sqlx::{ConnectOptions, Executor};

    use super::super::DatabaseUrl;
    use super::*;

    /// A writer whose caller goes away while its `BEGIN IMMEDIATE` waits for the write lock (a client that disconnects
    /// while another request writes) leaves nothing behind, also when the `BEGIN` completed and answered before the
    /// caller was dropped (sqlx rolls back a `BEGIN` whose answer nobody could take, but not one answered and never
    /// read): every pooled connection then begins, writes and commits again, and none of them keeps the lock
    /// (another connection takes it at once).
    #[tokio::test]
    async fn a_begin_cancelled_while_it_waits_for_the_write_lock_leaves_no_transaction_behind() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&DatabaseUrl::sqlite_in(dir.path())).await.unwrap();
        db.query("INSERT INTO apps (id, public_key, created_at) VALUES ('app', 'key', 0)").execute().await.unwrap();
        let other = || {
            SqliteConnectOptions::new().filename(dir.path().join("millennium.db")).busy_timeout(Duration::from_secs(2))
        };
        let mut holder = other().connect().await.unwrap();
        holder.execute("BEGIN IMMEDIATE").await.unwrap();
        // Cancelled while it waits: the timeout drops it.
        assert!(tokio::time::timeout(Duration::from_millis(300), db.begin_write()).await.is_err());
        // Begun and answered, then dropped before the begin was over: once the lock is free, the `BEGIN` completes
        // while nobody polls; one poll then takes its answer and goes on to sqlx's check that the connection is in a
        // transaction (another round trip), and the drop comes there.
        let mut answered = Box::pin(db.begin_write());
        assert!(tokio::time::timeout(Duration::from_millis(300), &mut answered).await.is_err());
        holder.execute("ROLLBACK").await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await;
        drop(futures_util::FutureExt::now_or_never(&mut answered));
        drop(answered);

        // More writers than the pool has connections, several at once, so the one the cancelled BEGIN ran on is used.
        let db = &db;
        for round in 0..4 {
            let writers = (0..12).map(|i| async move {
                let mut tx = db.begin_write().await?;
                tx.query("INSERT INTO release_event_ids (app_id, event_id, seen_at) VALUES ($1, $2, 0)")
                    .bind("app")
                    .bind(format!("id-{round}-{i}"))
                    .execute()
                    .await?;
                tx.commit().await
            });
            for result in futures_util::future::join_all(writers).await {
                result.unwrap();
            }
        }
        let stored: i64 =
            db.query("SELECT COUNT(*) AS n FROM release_event_ids").fetch_one(|row| row.get("n")).await.unwrap();
        assert_eq!(stored, 48);
        // No pooled connection holds the write lock.
        let mut taker = other().connect().await.unwrap();
        taker.execute("BEGIN IMMEDIATE").await.unwrap();
        taker.execute("ROLLBACK").await.unwrap();
        drop(holder);
        db.close().await;
    }
}
