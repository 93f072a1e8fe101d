//! API tokens: stored as the hash of their secret, for one app or (the server admin token) for every app.

use super::backend::Row;
use super::{Db, now};
use crate::error::{Error, Result};
use crate::names::AppId;
use crate::tokens::Scope;

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

pub(super) const TOKEN_COLUMNS: &str = "id, secret_hash, app_id, scope, description, created_at, revoked_at";

pub(super) fn token_from_row(row: Row<'_>) -> Result<TokenRow> {
    let scope: String = row.get("scope")?;
    Ok(TokenRow {
        id: row.get("id")?,
        secret_hash: row.get("secret_hash")?,
        app_id: row.get("app_id")?,
        scope: Scope::parse(&scope).map_err(|_| Error::Internal(format!("stored scope {scope:?}")))?,
        description: row.get("description")?,
        created_at: row.get("created_at")?,
        revoked_at: row.get("revoked_at")?,
    })
}

const COUNT_ADMIN_TOKENS: &str = "SELECT COUNT(*) AS n FROM tokens WHERE app_id IS NULL AND revoked_at IS NULL";

impl Db {
    /// Stores a token.
    pub async fn insert_token(
        &self,
        id: &str,
        secret_hash: &[u8],
        app: Option<&AppId>,
        scope: Scope,
        description: &str,
    ) -> Result<()> {
        self.query(
            "INSERT INTO tokens (id, secret_hash, app_id, scope, description, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(secret_hash)
        .bind(app.map(AppId::as_str))
        .bind(scope.as_str())
        .bind(description)
        .bind(now())
        .execute()
        .await?;
        Ok(())
    }

    /// A token by id.
    pub async fn token(&self, id: &str) -> Result<Option<TokenRow>> {
        self.query(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = $1"))
            .bind(id)
            .fetch_optional(token_from_row)
            .await
    }

    /// Marks a token revoked (idempotent).
    pub async fn revoke_token(&self, id: &str) -> Result<()> {
        self.query("UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now())
            .bind(id)
            .execute()
            .await?;
        Ok(())
    }

    /// Whether a server admin token (one for every app) exists and is not revoked.
    pub async fn has_server_admin_token(&self) -> Result<bool> {
        let count: i64 = self.query(COUNT_ADMIN_TOKENS).fetch_one(|row| row.get("n")).await?;
        Ok(count > 0)
    }

    /// Stores `token` as a server admin token unless one exists (not revoked); says whether it was stored. Atomic
    /// across replicas starting together: only one of them makes the first token.
    pub async fn insert_first_admin_token(&self, id: &str, secret_hash: &[u8], description: &str) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        tx.lock("first-admin-token").await?;
        let count: i64 = tx.query(COUNT_ADMIN_TOKENS).fetch_one(|row| row.get("n")).await?;
        let inserted = count == 0;
        if inserted {
            tx.query(
                "INSERT INTO tokens (id, secret_hash, app_id, scope, description, created_at) VALUES ($1, $2, NULL, $3, $4, $5)",
            )
            .bind(id)
            .bind(secret_hash)
            .bind(Scope::Admin.as_str())
            .bind(description)
            .bind(now())
            .execute()
            .await?;
        }
        tx.commit().await?;
        Ok(inserted)
    }

    /// The tokens of an app (revoked ones too), oldest first.
    pub async fn app_tokens(&self, app: &AppId) -> Result<Vec<TokenRow>> {
        self.query(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE app_id = $1 ORDER BY created_at, id"))
            .bind(app.as_str())
            .fetch_all(token_from_row)
            .await
    }
}
