//! Dashboard sessions (`/ui/`): the SHA-256 of each session id, who signed in, the session's CSRF token and when it
//! expires. Expired rows are refused on read and deleted at each sign-in, so the table stays small.

use super::backend::Row;
use super::{Db, now};
use crate::error::Result;

/// A stored dashboard session.
#[derive(Debug, Clone)]
pub struct SessionRow {
    /// `token:<id>` or `env:<tag>` (see migration 0010).
    pub principal: String,
    /// The per-session CSRF token.
    pub csrf_token: String,
    pub created_at: i64,
    pub expires_at: i64,
}

fn session_from_row(row: Row<'_>) -> Result<SessionRow> {
    Ok(SessionRow {
        principal: row.get("principal")?,
        csrf_token: row.get("csrf_token")?,
        created_at: row.get("created_at")?,
        expires_at: row.get("expires_at")?,
    })
}

impl Db {
    /// Stores a new session under the hash of its id, and deletes the expired ones.
    pub async fn insert_session(&self, id_hash: &str, session: &SessionRow) -> Result<()> {
        self.query("DELETE FROM ui_sessions WHERE expires_at <= $1").bind(now()).execute().await?;
        self.query(
            "INSERT INTO ui_sessions (id_hash, principal, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id_hash)
        .bind(&session.principal)
        .bind(&session.csrf_token)
        .bind(session.created_at)
        .bind(session.expires_at)
        .execute()
        .await?;
        Ok(())
    }

    /// The session with this id hash, unless it expired.
    pub async fn session(&self, id_hash: &str) -> Result<Option<SessionRow>> {
        self.query(
            "SELECT principal, csrf_token, created_at, expires_at FROM ui_sessions WHERE id_hash = $1 AND expires_at > $2",
        )
        .bind(id_hash)
        .bind(now())
        .fetch_optional(session_from_row)
        .await
    }

    /// Ends a session (idempotent).
    pub async fn delete_session(&self, id_hash: &str) -> Result<()> {
        self.query("DELETE FROM ui_sessions WHERE id_hash = $1").bind(id_hash).execute().await?;
        Ok(())
    }
}
