//! Delta rows (migration 0007): which (new release, target, base release) pairs the delta job has looked at, and the
//! stored deltas the update answers offer, each with its alternative in the newest delta forms (migration 0012).

use super::backend::Row;
use super::{Db, now};
use crate::error::{Error, Result};
use crate::names::AppId;

/// A delta the job stored.
#[derive(Debug, Clone)]
pub struct DeltaRow {
    pub to_release_id: i64,
    pub target: String,
    pub from_release_id: i64,
    /// BLAKE2b-256 (hex) of the base artifact.
    pub from_blake2b: String,
    /// The blob key (SHA-256 hex).
    pub sha256: String,
    pub size: i64,
    /// BLAKE2b-256 (hex) of the delta file.
    pub blake2b_256: String,
    pub encoder: String,
    /// The same delta in a form not every client reads (migration 0012), when it is kept.
    pub alternative: Option<AltDelta>,
}

/// A delta in a form not every client reads, kept beside a stored one (migration 0012).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AltDelta {
    /// Its form's token (`millennium_update_protocol::delta::DeltaForm::token`).
    pub form: String,
    /// The blob key (SHA-256 hex).
    pub sha256: String,
    pub size: i64,
    /// BLAKE2b-256 (hex) of the delta file.
    pub blake2b_256: String,
}

/// What the job decided for one pair.
#[derive(Debug)]
pub enum DeltaOutcome<'a> {
    /// The delta is stored under `sha256`, and its alternative, if any, under its own.
    Stored {
        from_blake2b: &'a str,
        sha256: &'a str,
        size: u64,
        blake2b_256: &'a str,
        encoder: &'a str,
        alternative: Option<&'a AltDelta>,
    },
    /// No delta was small enough.
    NotWorthIt { detail: &'a str },
    /// Making or storing it failed.
    Failed { detail: &'a str },
}

const COLUMNS: &str = "to_release_id, target, from_release_id, from_blake2b, sha256, size, blake2b_256, encoder, \
     alt_form, alt_sha256, alt_size, alt_blake2b_256";

/// Every column of a `deltas` row, whatever its status: what `migrate` copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeltaRecord {
    pub to_release_id: i64,
    pub target: String,
    pub from_release_id: i64,
    pub status: String,
    pub from_blake2b: Option<String>,
    pub sha256: Option<String>,
    pub size: Option<i64>,
    pub blake2b_256: Option<String>,
    pub encoder: Option<String>,
    pub detail: String,
    pub created_at: i64,
    pub alternative: Option<AltDelta>,
}

/// The columns of [`DeltaRecord`], in its order.
pub(super) const RECORD_COLUMNS: &str = "to_release_id, target, from_release_id, status, from_blake2b, sha256, size, \
     blake2b_256, encoder, detail, created_at, alt_form, alt_sha256, alt_size, alt_blake2b_256";

/// The alternative of a row: its four columns, all set or none.
fn alternative_from_row(row: &Row<'_>) -> Result<Option<AltDelta>> {
    let form: Option<String> = row.get("alt_form")?;
    let sha256: Option<String> = row.get("alt_sha256")?;
    let size: Option<i64> = row.get("alt_size")?;
    let blake2b_256: Option<String> = row.get("alt_blake2b_256")?;
    Ok(match (form, sha256, size, blake2b_256) {
        (Some(form), Some(sha256), Some(size), Some(blake2b_256)) => Some(AltDelta { form, sha256, size, blake2b_256 }),
        _ => None,
    })
}

pub(super) fn record_from_row(row: Row<'_>) -> Result<DeltaRecord> {
    Ok(DeltaRecord {
        to_release_id: row.get("to_release_id")?,
        target: row.get("target")?,
        from_release_id: row.get("from_release_id")?,
        status: row.get("status")?,
        from_blake2b: row.get("from_blake2b")?,
        sha256: row.get("sha256")?,
        size: row.get("size")?,
        blake2b_256: row.get("blake2b_256")?,
        encoder: row.get("encoder")?,
        detail: row.get("detail")?,
        created_at: row.get("created_at")?,
        alternative: alternative_from_row(&row)?,
    })
}

fn delta_from_row(row: Row<'_>) -> Result<DeltaRow> {
    Ok(DeltaRow {
        to_release_id: row.get("to_release_id")?,
        target: row.get("target")?,
        from_release_id: row.get("from_release_id")?,
        from_blake2b: row.get::<Option<String>>("from_blake2b")?.unwrap_or_default(),
        sha256: row.get::<Option<String>>("sha256")?.unwrap_or_default(),
        size: row.get::<Option<i64>>("size")?.unwrap_or_default(),
        blake2b_256: row.get::<Option<String>>("blake2b_256")?.unwrap_or_default(),
        encoder: row.get::<Option<String>>("encoder")?.unwrap_or_default(),
        alternative: alternative_from_row(&row)?,
    })
}

impl Db {
    /// Every app id.
    pub async fn app_ids(&self) -> Result<Vec<String>> {
        self.query("SELECT id FROM apps ORDER BY id").fetch_all(|row| row.get("id")).await
    }

    /// Figures that change whenever a release is published, placed in a channel or yanked (which can make an older
    /// release the newest): the job looks for work only when they moved.
    pub async fn delta_work_marker(&self) -> Result<(i64, i64, i64)> {
        let releases: Option<i64> =
            self.query("SELECT MAX(id) AS m FROM releases").fetch_one(|row| row.get("m")).await?;
        let placements: i64 =
            self.query("SELECT COUNT(*) AS n FROM channel_releases").fetch_one(|row| row.get("n")).await?;
        // `WHERE yanked`: a boolean on PostgreSQL, 0/1 on SQLite; both read it as a condition.
        let yanked: i64 =
            self.query("SELECT COUNT(*) AS n FROM releases WHERE yanked").fetch_one(|row| row.get("n")).await?;
        Ok((releases.unwrap_or(0), placements, yanked))
    }

    /// Whether the pair was looked at already.
    pub async fn delta_decided(&self, to_release_id: i64, target: &str, from_release_id: i64) -> Result<bool> {
        Ok(self
            .query("SELECT status FROM deltas WHERE to_release_id = $1 AND target = $2 AND from_release_id = $3")
            .bind(to_release_id)
            .bind(target)
            .bind(from_release_id)
            .fetch_optional(|_| Ok(()))
            .await?
            .is_some())
    }

    /// Records what the job decided for a pair (the first decision stays: another leader may have raced us). A stored
    /// delta changes `app`'s update answers: it is announced to the other replicas as a release change is.
    pub async fn record_delta(
        &self,
        app: &AppId,
        to_release_id: i64,
        target: &str,
        from_release_id: i64,
        outcome: DeltaOutcome<'_>,
    ) -> Result<()> {
        let (status, from_blake2b, sha256, size, blake2b_256, encoder, detail, alternative) = match outcome {
            DeltaOutcome::Stored { from_blake2b, sha256, size, blake2b_256, encoder, alternative } => (
                "stored",
                Some(from_blake2b),
                Some(sha256),
                Some(i64::try_from(size).map_err(|_| Error::Internal("delta size overflow".into()))?),
                Some(blake2b_256),
                Some(encoder),
                "",
                alternative,
            ),
            DeltaOutcome::NotWorthIt { detail } => ("not_worth_it", None, None, None, None, None, detail, None),
            DeltaOutcome::Failed { detail } => ("failed", None, None, None, None, None, detail, None),
        };
        let stored = status == "stored";
        let mut tx = self.begin().await?;
        tx.query(
            "INSERT INTO deltas (to_release_id, target, from_release_id, status, from_blake2b, sha256, size, \
             blake2b_256, encoder, detail, created_at, alt_form, alt_sha256, alt_size, alt_blake2b_256) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
             ON CONFLICT (to_release_id, target, from_release_id) DO NOTHING",
        )
        .bind(to_release_id)
        .bind(target)
        .bind(from_release_id)
        .bind(status)
        .bind(from_blake2b)
        .bind(sha256)
        .bind(size)
        .bind(blake2b_256)
        .bind(encoder)
        .bind(detail)
        .bind(now())
        .bind(alternative.map(|a| a.form.as_str()))
        .bind(alternative.map(|a| a.sha256.as_str()))
        .bind(alternative.map(|a| a.size))
        .bind(alternative.map(|a| a.blake2b_256.as_str()))
        .execute()
        .await?;
        if stored {
            tx.announce(app).await?;
        }
        tx.commit().await
    }

    /// The stored deltas to a release, every target.
    pub async fn deltas_to(&self, to_release_id: i64) -> Result<Vec<DeltaRow>> {
        self.query(&format!(
            "SELECT {COLUMNS} FROM deltas WHERE to_release_id = $1 AND status = 'stored' ORDER BY target, from_release_id"
        ))
        .bind(to_release_id)
        .fetch_all(delta_from_row)
        .await
    }

    /// The stored delta to a release's artifact for `target` from the artifact hashed `from_blake2b`.
    pub async fn delta(&self, to_release_id: i64, target: &str, from_blake2b: &str) -> Result<Option<DeltaRow>> {
        self.query(&format!(
            "SELECT {COLUMNS} FROM deltas WHERE to_release_id = $1 AND target = $2 AND from_blake2b = $3 \
             AND status = 'stored'"
        ))
        .bind(to_release_id)
        .bind(target)
        .bind(from_blake2b)
        .fetch_optional(delta_from_row)
        .await
    }
}
