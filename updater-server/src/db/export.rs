//! The whole-database copy of `migrate`: every row of every table, read from one backend and written to another.

use super::Db;
use super::apps::{AppRow, app_from_row};
use super::deltas::{DeltaRecord, RECORD_COLUMNS as DELTA_COLUMNS, record_from_row as delta_from_row};
use super::releases::{
    ARTIFACT_COLUMNS, ArtifactRow, PLACEMENT_COLUMNS, Placement, RELEASE_COLUMNS, ReleaseRow, artifact_from_row,
    placement_from_row, release_from_row,
};
use super::signed_metadata::{
    DOCUMENT_COLUMNS, FRESHNESS_COLUMNS, FreshnessRow, ONLINE_KEY_COLUMNS, OnlineKeyRow, ReleaseDocumentRow,
    YANK_LIST_COLUMNS, YankListRow, document_from_row, freshness_from_row, online_key_from_row, yank_list_from_row,
};
use super::tokens::{TOKEN_COLUMNS, TokenRow, token_from_row};
use crate::error::Result;

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
    pub yank_lists: u64,
    /// Release-health counter rows (events per release, channel, kind and hour).
    #[serde(default)]
    pub health: u64,
    /// Adoption counter rows (checks per version and hour).
    #[serde(default)]
    pub adoption: u64,
    /// Daily release-health and adoption rows (compacted hours), and the ids of counted events.
    #[serde(default)]
    pub health_daily: u64,
    #[serde(default)]
    pub adoption_daily: u64,
    #[serde(default)]
    pub event_ids: u64,
    pub webhooks: u64,
    pub webhook_deliveries: u64,
    /// Delta rows (stored deltas and the pairs found not worth one or failed).
    #[serde(default)]
    pub deltas: u64,
}

/// A release's halt columns: `(id, [halt_max_failure_percent, halt_min_installs, halted_at], halted_reason,
/// [halt_base_installs, halt_base_failures])`.
pub type ReleaseHaltRow = (i64, [Option<i64>; 3], Option<String>, [i64; 2]);

/// The release-health data of migration 0008 and the webhooks of 0009, copied by `migrate` like the rest.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HealthExport {
    /// `(app, version, channel, kind, bucket, n)`.
    pub health: Vec<(String, String, String, String, i64, i64)>,
    /// `(app, version, bucket, n)`.
    pub adoption: Vec<(String, String, i64, i64)>,
    /// The same shapes for the daily tables of migration 0011.
    pub health_daily: Vec<(String, String, String, String, i64, i64)>,
    pub adoption_daily: Vec<(String, String, i64, i64)>,
    /// `(app, event id, seen_at)`.
    pub event_ids: Vec<(String, String, i64)>,
    /// `(app, halt_max_failure_percent, halt_min_installs)`.
    pub app_rules: Vec<(String, Option<i64>, Option<i64>)>,
    /// `(release id, [halt_max_failure_percent, halt_min_installs, halted_at], halted_reason, [base installs,
    /// base failures])`.
    pub release_halts: Vec<ReleaseHaltRow>,
    /// `(id, app, url, secret, events, created_at)`.
    pub webhooks: Vec<(String, String, String, String, String, i64)>,
    /// Every column of `webhook_deliveries`, as in [`super::DeliveryRow`] (attempts and status code as stored).
    pub deliveries: Vec<super::DeliveryRow>,
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
    /// App id and its signed yank list.
    pub yank_lists: Vec<(String, YankListRow)>,
    /// Release health, halt rules and state, webhooks.
    pub health: HealthExport,
    /// The delta job's rows (migration 0007); the stored ones name blobs that `migrate` copies with the artifacts.
    pub deltas: Vec<DeltaRecord>,
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
            yank_lists: self.yank_lists.len() as u64,
            health: self.health.health.len() as u64,
            adoption: self.health.adoption.len() as u64,
            health_daily: self.health.health_daily.len() as u64,
            adoption_daily: self.health.adoption_daily.len() as u64,
            event_ids: self.health.event_ids.len() as u64,
            webhooks: self.health.webhooks.len() as u64,
            webhook_deliveries: self.health.deliveries.len() as u64,
            deltas: self.deltas.len() as u64,
        }
    }
}

impl Db {
    /// Reads every row of every table.
    pub async fn export(&self) -> Result<Export> {
        let mut tx = self.begin().await?;
        let export = Export {
            apps: tx
                .query("SELECT id, public_key, created_at, require_signed_version FROM apps ORDER BY id")
                .fetch_all(app_from_row)
                .await?,
            tokens: tx
                .query(&format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY id"))
                .fetch_all(token_from_row)
                .await?,
            releases: tx
                .query(&format!("SELECT {RELEASE_COLUMNS} FROM releases r ORDER BY r.id"))
                .fetch_all(release_from_row)
                .await?,
            artifacts: tx
                .query(&format!("SELECT {ARTIFACT_COLUMNS} FROM artifacts ORDER BY release_id, target"))
                .fetch_all(artifact_from_row)
                .await?,
            placements: tx
                .query(&format!("SELECT {PLACEMENT_COLUMNS} FROM channel_releases ORDER BY release_id, channel"))
                .fetch_all(|row| Ok((row.get("release_id")?, placement_from_row(row)?)))
                .await?,
            roots: tx
                .query("SELECT app_id, version, envelope, created_at FROM roots ORDER BY app_id, version")
                .fetch_all(|row| {
                    Ok(RootRow {
                        app_id: row.get("app_id")?,
                        version: row.get("version")?,
                        envelope: row.get("envelope")?,
                        created_at: row.get("created_at")?,
                    })
                })
                .await?,
            release_documents: tx
                .query(&format!(
                    "SELECT {DOCUMENT_COLUMNS} FROM release_documents d ORDER BY d.app_id, d.channel, d.sequence"
                ))
                .fetch_all(document_from_row)
                .await?,
            online_keys: tx
                .query(&format!("SELECT {ONLINE_KEY_COLUMNS} FROM online_keys ORDER BY app_id, key_id"))
                .fetch_all(online_key_from_row)
                .await?,
            freshness: tx
                .query(&format!("SELECT app_id, {FRESHNESS_COLUMNS} FROM freshness ORDER BY app_id"))
                .fetch_all(|row| Ok((row.get("app_id")?, freshness_from_row(row)?)))
                .await?,
            yank_lists: tx
                .query(&format!("SELECT app_id, {YANK_LIST_COLUMNS} FROM yank_lists ORDER BY app_id"))
                .fetch_all(|row| Ok((row.get("app_id")?, yank_list_from_row(row)?)))
                .await?,
            health: HealthExport {
                health: health_rows(&mut tx, "release_health").await?,
                adoption: adoption_rows(&mut tx, "release_adoption").await?,
                health_daily: health_rows(&mut tx, "release_health_daily").await?,
                adoption_daily: adoption_rows(&mut tx, "release_adoption_daily").await?,
                event_ids: tx
                    .query("SELECT app_id, event_id, seen_at FROM release_event_ids ORDER BY app_id, event_id")
                    .fetch_all(|row| Ok((row.get("app_id")?, row.get("event_id")?, row.get("seen_at")?)))
                    .await?,
                app_rules: tx
                    .query("SELECT id, halt_max_failure_percent, halt_min_installs FROM apps ORDER BY id")
                    .fetch_all(|row| {
                        Ok((row.get("id")?, row.get("halt_max_failure_percent")?, row.get("halt_min_installs")?))
                    })
                    .await?,
                release_halts: tx
                    .query(
                        "SELECT id, halt_max_failure_percent, halt_min_installs, halted_at, halted_reason,
                         halt_base_installs, halt_base_failures FROM releases ORDER BY id",
                    )
                    .fetch_all(|row| {
                        Ok((
                            row.get("id")?,
                            [
                                row.get("halt_max_failure_percent")?,
                                row.get("halt_min_installs")?,
                                row.get("halted_at")?,
                            ],
                            row.get("halted_reason")?,
                            [row.get("halt_base_installs")?, row.get("halt_base_failures")?],
                        ))
                    })
                    .await?,
                webhooks: tx
                    .query("SELECT id, app_id, url, secret, events, created_at FROM webhooks ORDER BY id")
                    .fetch_all(|row| {
                        Ok((
                            row.get("id")?,
                            row.get("app_id")?,
                            row.get("url")?,
                            row.get("secret")?,
                            row.get("events")?,
                            row.get("created_at")?,
                        ))
                    })
                    .await?,
                deliveries: tx
                    .query(&format!("SELECT {} FROM webhook_deliveries ORDER BY id", super::webhooks::DELIVERY_COLUMNS))
                    .fetch_all(super::webhooks::delivery_from_row)
                    .await?,
            },
            deltas: tx
                .query(&format!("SELECT {DELTA_COLUMNS} FROM deltas ORDER BY to_release_id, target, from_release_id"))
                .fetch_all(delta_from_row)
                .await?,
        };
        tx.commit().await?;
        Ok(export)
    }

    /// Whether the database holds no app (and so nothing else).
    pub async fn is_empty(&self) -> Result<bool> {
        let count: i64 = self.query("SELECT COUNT(*) AS n FROM apps").fetch_one(|row| row.get("n")).await?;
        Ok(count == 0)
    }

    /// Writes every row of `export`, keeping release ids, in one transaction.
    pub async fn import(&self, export: &Export) -> Result<()> {
        let mut tx = self.begin_write().await?;
        for app in &export.apps {
            tx.query("INSERT INTO apps (id, public_key, created_at, require_signed_version) VALUES ($1, $2, $3, $4)")
                .bind(&app.id)
                .bind(&app.public_key)
                .bind(app.created_at)
                .bind(app.require_signed_version)
                .execute()
                .await?;
        }
        for token in &export.tokens {
            tx.query(&format!("INSERT INTO tokens ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"))
                .bind(&token.id)
                .bind(&token.secret_hash)
                .bind(&token.app_id)
                .bind(token.scope.as_str())
                .bind(&token.description)
                .bind(token.created_at)
                .bind(token.revoked_at)
                .execute()
                .await?;
        }
        for release in &export.releases {
            tx.query(
                "INSERT INTO releases (id, app_id, version, notes, pub_date, yanked, created_at, min_webview_version)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(release.id)
            .bind(&release.app_id)
            .bind(&release.version)
            .bind(&release.notes)
            .bind(&release.pub_date)
            .bind(release.yanked)
            .bind(release.created_at)
            .bind(&release.min_webview_version)
            .execute()
            .await?;
        }
        for artifact in &export.artifacts {
            tx.query(&format!("INSERT INTO artifacts ({ARTIFACT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"))
                .bind(artifact.release_id)
                .bind(&artifact.target)
                .bind(&artifact.file_name)
                .bind(&artifact.sha256)
                .bind(artifact.size)
                .bind(&artifact.signature)
                .execute()
                .await?;
        }
        for (release_id, placement) in &export.placements {
            tx.query(&format!("INSERT INTO channel_releases ({PLACEMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"))
                .bind(release_id)
                .bind(&placement.channel)
                .bind(i64::from(placement.rollout))
                .bind(placement.paused)
                .bind(placement.added_at)
                .execute()
                .await?;
        }
        for root in &export.roots {
            tx.query("INSERT INTO roots (app_id, version, envelope, created_at) VALUES ($1, $2, $3, $4)")
                .bind(&root.app_id)
                .bind(root.version)
                .bind(&root.envelope)
                .bind(root.created_at)
                .execute()
                .await?;
        }
        for d in &export.release_documents {
            tx.query(
                "INSERT INTO release_documents (release_id, app_id, channel, version, sequence, envelope, hash, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(d.release_id)
            .bind(&d.app_id)
            .bind(&d.channel)
            .bind(&d.version)
            .bind(d.sequence)
            .bind(&d.envelope)
            .bind(&d.hash)
            .bind(d.created_at)
            .execute()
            .await?;
        }
        for key in &export.online_keys {
            tx.query(&format!("INSERT INTO online_keys ({ONLINE_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"))
                .bind(&key.app_id)
                .bind(&key.key_id)
                .bind(&key.public_key)
                .bind(&key.secret_key)
                .bind(key.created_at)
                .execute()
                .await?;
        }
        for (app, f) in &export.freshness {
            tx.query(&format!("INSERT INTO freshness (app_id, {FRESHNESS_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"))
                .bind(app)
                .bind(f.sequence)
                .bind(&f.envelope)
                .bind(f.issued_at)
                .bind(f.expires_at)
                .execute()
                .await?;
        }
        for (app, y) in &export.yank_lists {
            tx.query(&format!("INSERT INTO yank_lists (app_id, {YANK_LIST_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"))
                .bind(app)
                .bind(y.sequence)
                .bind(&y.envelope)
                .bind(&y.hash)
                .bind(y.created_at)
                .execute()
                .await?;
        }
        let h = &export.health;
        for (table, rows) in [("release_health", &h.health), ("release_health_daily", &h.health_daily)] {
            for (app, version, channel, kind, bucket, n) in rows {
                tx.query(&format!(
                    "INSERT INTO {table} (app_id, version, channel, kind, bucket, n) VALUES ($1, $2, $3, $4, $5, $6)"
                ))
                .bind(app)
                .bind(version)
                .bind(channel)
                .bind(kind)
                .bind(*bucket)
                .bind(*n)
                .execute()
                .await?;
            }
        }
        for (table, rows) in [("release_adoption", &h.adoption), ("release_adoption_daily", &h.adoption_daily)] {
            for (app, version, bucket, n) in rows {
                tx.query(&format!("INSERT INTO {table} (app_id, version, bucket, n) VALUES ($1, $2, $3, $4)"))
                    .bind(app)
                    .bind(version)
                    .bind(*bucket)
                    .bind(*n)
                    .execute()
                    .await?;
            }
        }
        for (app, id, seen_at) in &h.event_ids {
            tx.query("INSERT INTO release_event_ids (app_id, event_id, seen_at) VALUES ($1, $2, $3)")
                .bind(app)
                .bind(id)
                .bind(*seen_at)
                .execute()
                .await?;
        }
        for (app, percent, min) in &h.app_rules {
            tx.query("UPDATE apps SET halt_max_failure_percent = $1, halt_min_installs = $2 WHERE id = $3")
                .bind(*percent)
                .bind(*min)
                .bind(app)
                .execute()
                .await?;
        }
        for (id, [percent, min, halted_at], reason, [base_installs, base_failures]) in &h.release_halts {
            tx.query(
                "UPDATE releases SET halt_max_failure_percent = $1, halt_min_installs = $2, halted_at = $3,
                 halted_reason = $4, halt_base_installs = $5, halt_base_failures = $6 WHERE id = $7",
            )
            .bind(*percent)
            .bind(*min)
            .bind(*halted_at)
            .bind(reason.as_deref())
            .bind(*base_installs)
            .bind(*base_failures)
            .bind(*id)
            .execute()
            .await?;
        }
        for (id, app, url, secret, events, created_at) in &h.webhooks {
            tx.query(
                "INSERT INTO webhooks (id, app_id, url, secret, events, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(app)
            .bind(url)
            .bind(secret)
            .bind(events)
            .bind(*created_at)
            .execute()
            .await?;
        }
        for d in &h.deliveries {
            tx.query(&format!(
                "INSERT INTO webhook_deliveries ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                super::webhooks::DELIVERY_COLUMNS
            ))
            .bind(&d.id)
            .bind(&d.webhook_id)
            .bind(&d.app_id)
            .bind(&d.event)
            .bind(&d.body)
            .bind(&d.status)
            .bind(i64::from(d.attempts))
            .bind(d.last_status_code.map(i64::from))
            .bind(d.last_error.as_deref())
            .bind(d.created_at)
            .bind(d.next_attempt_at)
            .bind(d.delivered_at)
            .execute()
            .await?;
        }
        for d in &export.deltas {
            tx.query(&format!(
                "INSERT INTO deltas ({DELTA_COLUMNS}) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
            ))
            .bind(d.to_release_id)
            .bind(&d.target)
            .bind(d.from_release_id)
            .bind(&d.status)
            .bind(d.from_blake2b.as_deref())
            .bind(d.sha256.as_deref())
            .bind(d.size)
            .bind(d.blake2b_256.as_deref())
            .bind(d.encoder.as_deref())
            .bind(&d.detail)
            .bind(d.created_at)
            .bind(d.alternative.as_ref().map(|a| a.form.as_str()))
            .bind(d.alternative.as_ref().map(|a| a.sha256.as_str()))
            .bind(d.alternative.as_ref().map(|a| a.size))
            .bind(d.alternative.as_ref().map(|a| a.blake2b_256.as_str()))
            .execute()
            .await?;
        }
        if tx.is_postgres() {
            // Explicit ids do not advance the identity sequence: move it past them.
            tx.query(
                "SELECT setval(pg_get_serial_sequence('releases', 'id'), COALESCE((SELECT MAX(id) FROM releases), 0) + 1, false)",
            )
            .execute()
            .await?;
        }
        tx.commit().await
    }
}

/// Every row of an event counter table (`release_health` or its daily twin).
async fn health_rows(
    tx: &mut super::backend::Tx,
    table: &str,
) -> Result<Vec<(String, String, String, String, i64, i64)>> {
    tx.query(&format!(
        "SELECT app_id, version, channel, kind, bucket, n FROM {table} ORDER BY app_id, version, channel, kind, bucket"
    ))
    .fetch_all(|row| {
        Ok((
            row.get("app_id")?,
            row.get("version")?,
            row.get("channel")?,
            row.get("kind")?,
            row.get("bucket")?,
            row.get("n")?,
        ))
    })
    .await
}

/// Every row of an adoption counter table (`release_adoption` or its daily twin).
async fn adoption_rows(tx: &mut super::backend::Tx, table: &str) -> Result<Vec<(String, String, i64, i64)>> {
    tx.query(&format!("SELECT app_id, version, bucket, n FROM {table} ORDER BY app_id, version, bucket"))
        .fetch_all(|row| Ok((row.get("app_id")?, row.get("version")?, row.get("bucket")?, row.get("n")?)))
        .await
}
