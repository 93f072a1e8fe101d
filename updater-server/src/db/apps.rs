//! Apps: an id, the release public key, and the publish policy.

use super::backend::Row;
use super::{Db, is_unique_violation, now};
use crate::error::{Error, Result};
use crate::names::AppId;

/// An app.
#[derive(Debug, Clone)]
pub struct AppRow {
    pub id: String,
    pub public_key: String,
    pub created_at: i64,
    /// Publishes need signatures that state their version (`require-signed-version`).
    pub require_signed_version: bool,
}

/// Reads `id, public_key, created_at, require_signed_version`.
pub(super) fn app_from_row(row: Row<'_>) -> Result<AppRow> {
    Ok(AppRow {
        id: row.get("id")?,
        public_key: row.get("public_key")?,
        created_at: row.get("created_at")?,
        require_signed_version: row.get("require_signed_version")?,
    })
}

impl Db {
    /// Creates an app; a duplicate id is [`Error::Conflict`].
    pub async fn insert_app(&self, id: &AppId, public_key: &str, require_signed_version: bool) -> Result<AppRow> {
        let created_at = now();
        self.query("INSERT INTO apps (id, public_key, created_at, require_signed_version) VALUES ($1, $2, $3, $4)")
            .bind(id.as_str())
            .bind(public_key)
            .bind(created_at)
            .bind(require_signed_version)
            .execute()
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    Error::conflict("app_exists", format!("app `{id}` already exists"))
                } else {
                    e
                }
            })?;
        Ok(AppRow { id: id.to_string(), public_key: public_key.to_owned(), created_at, require_signed_version })
    }

    /// Replaces an app's release public key; `None` when there is no such app.
    pub async fn set_app_public_key(&self, id: &AppId, public_key: &str) -> Result<Option<AppRow>> {
        let updated = self
            .query("UPDATE apps SET public_key = $1 WHERE id = $2")
            .bind(public_key)
            .bind(id.as_str())
            .execute()
            .await?;
        if updated == 0 { Ok(None) } else { self.app(id).await }
    }

    /// Sets an app's `require-signed-version` policy; `None` when there is no such app.
    pub async fn set_app_require_signed_version(&self, id: &AppId, require: bool) -> Result<Option<AppRow>> {
        let updated = self
            .query("UPDATE apps SET require_signed_version = $1 WHERE id = $2")
            .bind(require)
            .bind(id.as_str())
            .execute()
            .await?;
        if updated == 0 { Ok(None) } else { self.app(id).await }
    }

    /// An app by id.
    pub async fn app(&self, id: &AppId) -> Result<Option<AppRow>> {
        self.query("SELECT id, public_key, created_at, require_signed_version FROM apps WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(app_from_row)
            .await
    }

    /// Every app, by id.
    pub async fn apps(&self) -> Result<Vec<AppRow>> {
        self.query("SELECT id, public_key, created_at, require_signed_version FROM apps ORDER BY id")
            .fetch_all(app_from_row)
            .await
    }
}
