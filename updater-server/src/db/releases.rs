//! Releases, their artifacts, and their placements in channels (with a rollout percentage and a paused flag).
//!
//! Writes that check before they insert (publish, promote) run in a transaction holding the app's lock
//! ([`Db::begin_app_write`]); every change is announced to the other replicas ([`super::backend::Tx::announce`]), and
//! the webhook deliveries of its event are enqueued in its transaction ([`super::webhooks::enqueue_deliveries`]).

use std::collections::HashSet;
use std::str::FromStr;

use millennium_update_admin::api::HealthCounts;

use super::backend::{Exec, Row};
use super::signed_metadata::{NewReleaseDocument, insert_document};
use super::webhooks::enqueue_deliveries;
use super::{Db, is_unique_violation, now};
use crate::error::{Error, Result};
use crate::names::{AppId, Channel};
use crate::webhooks::Notice;

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
    /// `release.published`, enqueued with the release.
    pub notice: &'a Notice,
}

/// A change of a release's placement in a channel ([`Db::update_placement`]).
#[derive(Debug)]
pub struct PlacementChange<'a> {
    pub channel: &'a Channel,
    /// The new rollout percentage, if it changes.
    pub rollout: Option<u8>,
    /// Paused or resumed, if that changes.
    pub paused: Option<bool>,
    /// When resuming: the release's health counts now, the baseline its halt rule judges from once its halt (if
    /// any) is cleared.
    pub resume_base: Option<&'a HealthCounts>,
    /// `rollout.changed`, enqueued with the change.
    pub notice: &'a Notice,
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

pub(super) const RELEASE_COLUMNS: &str =
    "r.id, r.app_id, r.version, r.notes, r.pub_date, r.yanked, r.created_at, r.min_webview_version";
pub(super) const ARTIFACT_COLUMNS: &str = "release_id, target, file_name, sha256, size, signature";
pub(super) const PLACEMENT_COLUMNS: &str = "release_id, channel, rollout, paused, added_at";

pub(super) fn release_from_row(row: Row<'_>) -> Result<ReleaseRow> {
    Ok(ReleaseRow {
        id: row.get("id")?,
        app_id: row.get("app_id")?,
        version: row.get("version")?,
        notes: row.get("notes")?,
        pub_date: row.get("pub_date")?,
        yanked: row.get("yanked")?,
        created_at: row.get("created_at")?,
        min_webview_version: row.get("min_webview_version")?,
    })
}

pub(super) fn placement_from_row(row: Row<'_>) -> Result<Placement> {
    Ok(Placement {
        channel: row.get("channel")?,
        rollout: rollout_from_row(row)?,
        paused: row.get("paused")?,
        added_at: row.get("added_at")?,
    })
}

/// The `rollout` column, a percentage.
pub(super) fn rollout_from_row(row: Row<'_>) -> Result<u8> {
    let rollout: i64 = row.get("rollout")?;
    u8::try_from(rollout).map_err(|_| Error::Internal(format!("stored rollout {rollout}")))
}

pub(super) fn artifact_from_row(row: Row<'_>) -> Result<ArtifactRow> {
    Ok(ArtifactRow {
        release_id: row.get("release_id")?,
        target: row.get("target")?,
        file_name: row.get("file_name")?,
        sha256: row.get("sha256")?,
        size: row.get("size")?,
        signature: row.get("signature")?,
    })
}

/// The releases of a channel with their placements, on the pool or in a transaction.
async fn channel_releases(exec: Exec<'_>, app: &AppId, channel: &Channel) -> Result<Vec<(ReleaseRow, Placement)>> {
    exec.query(&format!(
        "SELECT {RELEASE_COLUMNS}, c.channel, c.rollout, c.paused, c.added_at
         FROM releases r JOIN channel_releases c ON c.release_id = r.id
         WHERE r.app_id = $1 AND c.channel = $2"
    ))
    .bind(app.as_str())
    .bind(channel.as_str())
    .fetch_all(|row| Ok((release_from_row(row)?, placement_from_row(row)?)))
    .await
}

impl Db {
    /// A release by version (canonical text).
    pub async fn release(&self, app: &AppId, version: &str) -> Result<Option<ReleaseRow>> {
        self.query(&format!("SELECT {RELEASE_COLUMNS} FROM releases r WHERE r.app_id = $1 AND r.version = $2"))
            .bind(app.as_str())
            .bind(version)
            .fetch_optional(release_from_row)
            .await
    }

    /// Every release of an app.
    pub async fn releases(&self, app: &AppId) -> Result<Vec<ReleaseRow>> {
        self.query(&format!("SELECT {RELEASE_COLUMNS} FROM releases r WHERE r.app_id = $1 ORDER BY r.id"))
            .bind(app.as_str())
            .fetch_all(release_from_row)
            .await
    }

    /// The releases placed in a channel, with their placement, in no particular order.
    pub async fn channel_releases(&self, app: &AppId, channel: &Channel) -> Result<Vec<(ReleaseRow, Placement)>> {
        channel_releases(self.exec(), app, channel).await
    }

    /// The channels an app has releases in (yanked and paused ones too).
    pub async fn app_channels(&self, app: &AppId) -> Result<Vec<String>> {
        self.query(
            "SELECT DISTINCT channel_releases.channel AS channel FROM channel_releases \
             JOIN releases ON releases.id = channel_releases.release_id WHERE releases.app_id = $1",
        )
        .bind(app.as_str())
        .fetch_all(|row| row.get("channel"))
        .await
    }

    /// The channels a release is placed in.
    pub async fn placements(&self, release_id: i64) -> Result<Vec<Placement>> {
        self.query(&format!("SELECT {PLACEMENT_COLUMNS} FROM channel_releases WHERE release_id = $1 ORDER BY channel"))
            .bind(release_id)
            .fetch_all(placement_from_row)
            .await
    }

    /// The artifacts of a release, by target key.
    pub async fn artifacts(&self, release_id: i64) -> Result<Vec<ArtifactRow>> {
        self.query(&format!("SELECT {ARTIFACT_COLUMNS} FROM artifacts WHERE release_id = $1 ORDER BY target"))
            .bind(release_id)
            .fetch_all(artifact_from_row)
            .await
    }

    /// The hashes every artifact and stored delta refers to.
    pub async fn referenced_blobs(&self) -> Result<HashSet<String>> {
        let mut hashes: HashSet<String> = self
            .query("SELECT DISTINCT sha256 FROM artifacts")
            .fetch_all(|row| row.get("sha256"))
            .await?
            .into_iter()
            .collect();
        // Delta blobs (migration 0007) and their alternatives (0012) live in the same store.
        let deltas: Vec<String> = self
            .query(
                "SELECT sha256 AS h FROM deltas WHERE sha256 IS NOT NULL \
                 UNION SELECT alt_sha256 AS h FROM deltas WHERE alt_sha256 IS NOT NULL",
            )
            .fetch_all(|row| row.get("h"))
            .await?;
        hashes.extend(deltas);
        Ok(hashes)
    }

    /// Writes a release, its artifacts and its placement in one transaction, after checking (inside the transaction)
    /// that the version is new for the app and, unless `force`, newer than every release in the channel.
    pub async fn insert_release(&self, release: NewRelease<'_>, force: bool) -> Result<i64> {
        let created_at = now();
        let mut sizes = Vec::with_capacity(release.artifacts.len());
        for artifact in &release.artifacts {
            sizes.push(i64::try_from(artifact.size).map_err(|_| Error::Internal("artifact size overflow".into()))?);
        }
        let mut tx = self.begin_app_write(release.app).await?;
        let exists = tx
            .query("SELECT id FROM releases WHERE app_id = $1 AND version = $2")
            .bind(release.app.as_str())
            .bind(release.version)
            .fetch_optional(|_| Ok(()))
            .await?;
        if exists.is_some() {
            return Err(duplicate_version_error(release.app, release.version));
        }
        let existing = channel_releases(tx.exec(), release.app, release.channel).await?;
        check_newer(&existing, release.channel, release.version, force)?;
        let release_id: i64 = tx
            .query(
                "INSERT INTO releases (app_id, version, notes, pub_date, yanked, created_at, min_webview_version)
                 VALUES ($1, $2, $3, $4, FALSE, $5, $6) RETURNING id",
            )
            .bind(release.app.as_str())
            .bind(release.version)
            .bind(release.notes)
            .bind(release.pub_date)
            .bind(created_at)
            .bind(release.min_webview_version)
            .fetch_one(|row| row.get("id"))
            .await
            .map_err(|e| duplicate_version(e, release.app, release.version))?;
        for (artifact, size) in release.artifacts.iter().zip(&sizes) {
            tx.query(&format!("INSERT INTO artifacts ({ARTIFACT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)"))
                .bind(release_id)
                .bind(&artifact.target)
                .bind(&artifact.file_name)
                .bind(&artifact.sha256)
                .bind(*size)
                .bind(&artifact.signature)
                .execute()
                .await?;
        }
        tx.query(&format!("INSERT INTO channel_releases ({PLACEMENT_COLUMNS}) VALUES ($1, $2, $3, FALSE, $4)"))
            .bind(release_id)
            .bind(release.channel.as_str())
            .bind(i64::from(release.rollout))
            .bind(created_at)
            .execute()
            .await?;
        enqueue_deliveries(&mut tx, release.notice).await?;
        if let Some(document) = &release.document {
            insert_document(&mut tx, release.app, release.channel, release.version, release_id, document).await?;
        }
        tx.announce(release.app).await?;
        tx.commit().await?;
        Ok(release_id)
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

    /// Places an existing release in another channel, stamped later than its other placements.
    pub async fn promote(
        &self,
        app: &AppId,
        version: &str,
        to: &Channel,
        rollout: u8,
        force: bool,
        document: Option<&NewReleaseDocument>,
    ) -> Result<()> {
        let mut tx = self.begin_app_write(app).await?;
        let release_id: i64 = tx
            .query("SELECT id FROM releases WHERE app_id = $1 AND version = $2")
            .bind(app.as_str())
            .bind(version)
            .fetch_optional(|row| row.get("id"))
            .await?
            .ok_or_else(|| Error::not_found(format!("release {version} of app `{app}`")))?;
        if let Some(document) = document {
            insert_document(&mut tx, app, to, version, release_id, document).await?;
        }
        let existing = channel_releases(tx.exec(), app, to).await?;
        check_newer(&existing, to, version, force)?;
        // Each placement of a release is stamped after the earlier ones, also within their second: the newest one is
        // where the release's health events count (`server::events`), so it must be unambiguous.
        let placed: Option<i64> = tx
            .query("SELECT MAX(added_at) AS last FROM channel_releases WHERE release_id = $1")
            .bind(release_id)
            .fetch_one(|row| row.get("last"))
            .await?;
        let added_at = placed.map_or_else(now, |last| now().max(last + 1));
        tx.query(&format!("INSERT INTO channel_releases ({PLACEMENT_COLUMNS}) VALUES ($1, $2, $3, FALSE, $4)"))
            .bind(release_id)
            .bind(to.as_str())
            .bind(i64::from(rollout))
            .bind(added_at)
            .execute()
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    Error::conflict("already_in_channel", format!("release {version} is already in channel `{to}`"))
                } else {
                    e
                }
            })?;
        tx.announce(app).await?;
        tx.commit().await
    }

    /// Updates a placement's rollout percentage and/or paused flag, and on a resume clears the release's halt (with
    /// [`PlacementChange::resume_base`] as its new baseline), in one transaction with the change's webhook deliveries.
    /// Not found if the release is not in the channel. Returns whether a halt was cleared.
    pub async fn update_placement(&self, app: &AppId, release_id: i64, change: &PlacementChange<'_>) -> Result<bool> {
        let mut tx = self.begin().await?;
        let affected = tx
            .query(
                "UPDATE channel_releases SET rollout = COALESCE($1, rollout), paused = COALESCE($2, paused)
                 WHERE release_id = $3 AND channel = $4",
            )
            .bind(change.rollout.map(i64::from))
            .bind(change.paused)
            .bind(release_id)
            .bind(change.channel.as_str())
            .execute()
            .await?;
        if affected == 0 {
            return Err(Error::not_found(format!("the release in channel `{}`", change.channel)));
        }
        let cleared = match change.resume_base {
            Some(base) => super::health::clear_halt(&mut tx, release_id, base).await?,
            None => false,
        };
        enqueue_deliveries(&mut tx, change.notice).await?;
        tx.announce(app).await?;
        tx.commit().await?;
        Ok(cleared)
    }

    /// Sets or clears a release's yanked flag; with `list`, stores that signed yank list in the same transaction
    /// (refused unless it is numbered above the stored one and lists exactly the yanked releases), and with `notice`
    /// (`release.yanked`) enqueues its deliveries there too.
    pub async fn set_yanked(
        &self,
        app: &AppId,
        release_id: i64,
        yanked: bool,
        list: Option<&super::signed_metadata::NewYankList>,
        notice: Option<&Notice>,
    ) -> Result<()> {
        let mut tx = self.begin_app_write(app).await?;
        tx.query("UPDATE releases SET yanked = $1 WHERE id = $2").bind(yanked).bind(release_id).execute().await?;
        if let Some(notice) = notice {
            enqueue_deliveries(&mut tx, notice).await?;
        }
        if let Some(list) = list {
            super::signed_metadata::replace_yank_list(&mut tx, app, list).await?;
        }
        tx.announce(app).await?;
        tx.commit().await
    }
}

fn duplicate_version_error(app: &AppId, version: &str) -> Error {
    Error::conflict(
        "duplicate_version",
        format!(
            "app `{app}` already has a release {version}\nhint: bump the version, or use `promote` to offer the existing release in another channel"
        ),
    )
}

fn duplicate_version(e: Error, app: &AppId, version: &str) -> Error {
    if is_unique_violation(&e) { duplicate_version_error(app, version) } else { e }
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
