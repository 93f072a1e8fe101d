//! Signed metadata (`docs/protocol.md` §7): each app's root history, the offline-signed release documents, the
//! server's online keys, the current freshness document, and the offline-signed yank list.

use std::collections::BTreeSet;

use super::backend::{Row, Tx};
use super::releases::rollout_from_row;
use super::{Db, is_unique_violation, now};
use crate::error::{Error, Result};
use crate::names::{AppId, Channel};

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

/// The signed yank list of an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YankListRow {
    pub sequence: i64,
    /// The envelope, as served.
    pub envelope: String,
    /// [`millennium_update_protocol::metadata::Envelope::hash`].
    pub hash: String,
    pub created_at: i64,
}

/// A verified yank list to store with a yank: its sequence number and the versions (canonical text) it lists.
#[derive(Debug, Clone)]
pub struct NewYankList {
    pub row: YankListRow,
    pub versions: BTreeSet<String>,
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

pub(super) const DOCUMENT_COLUMNS: &str =
    "d.release_id, d.app_id, d.channel, d.version, d.sequence, d.envelope, d.hash, d.created_at";
pub(super) const FRESHNESS_COLUMNS: &str = "sequence, envelope, issued_at, expires_at";
pub(super) const ONLINE_KEY_COLUMNS: &str = "app_id, key_id, public_key, secret_key, created_at";
pub(super) const YANK_LIST_COLUMNS: &str = "sequence, envelope, hash, created_at";
const LAST_SEQUENCE: &str = "SELECT MAX(sequence) AS last FROM release_documents WHERE app_id = $1 AND channel = $2";

pub(super) fn document_from_row(row: Row<'_>) -> Result<ReleaseDocumentRow> {
    Ok(ReleaseDocumentRow {
        release_id: row.get("release_id")?,
        app_id: row.get("app_id")?,
        channel: row.get("channel")?,
        version: row.get("version")?,
        sequence: row.get("sequence")?,
        envelope: row.get("envelope")?,
        hash: row.get("hash")?,
        created_at: row.get("created_at")?,
    })
}

pub(super) fn freshness_from_row(row: Row<'_>) -> Result<FreshnessRow> {
    Ok(FreshnessRow {
        sequence: row.get("sequence")?,
        envelope: row.get("envelope")?,
        issued_at: row.get("issued_at")?,
        expires_at: row.get("expires_at")?,
    })
}

pub(super) fn online_key_from_row(row: Row<'_>) -> Result<OnlineKeyRow> {
    Ok(OnlineKeyRow {
        app_id: row.get("app_id")?,
        key_id: row.get("key_id")?,
        public_key: row.get("public_key")?,
        secret_key: row.get("secret_key")?,
        created_at: row.get("created_at")?,
    })
}

pub(super) fn yank_list_from_row(row: Row<'_>) -> Result<YankListRow> {
    Ok(YankListRow {
        sequence: row.get("sequence")?,
        envelope: row.get("envelope")?,
        hash: row.get("hash")?,
        created_at: row.get("created_at")?,
    })
}

fn head_from_row(row: Row<'_>) -> Result<DocumentHead> {
    Ok(DocumentHead {
        channel: row.get("channel")?,
        version: row.get("version")?,
        sequence: row.get("sequence")?,
        hash: row.get("hash")?,
        yanked: row.get("yanked")?,
        rollout: rollout_from_row(row)?,
        paused: row.get("paused")?,
    })
}

/// Stores a verified release document of release `release_id` (`version`) in `channel`, refusing a sequence number
/// not above every other of the channel; in the publish or promote transaction that places the release.
pub(super) async fn insert_document(
    tx: &mut Tx,
    app: &AppId,
    channel: &Channel,
    version: &str,
    release_id: i64,
    document: &NewReleaseDocument,
) -> Result<()> {
    let sequence = i64::try_from(document.sequence)
        .map_err(|_| Error::bad_request("the release document's sequence number is too large"))?;
    let last: Option<i64> =
        tx.query(LAST_SEQUENCE).bind(app.as_str()).bind(channel.as_str()).fetch_one(|row| row.get("last")).await?;
    if let Some(last) = last
        && sequence <= last
    {
        return Err(Error::conflict(
            "sequence_not_newer",
            format!(
                "the release document's sequence {sequence} is not above {last}, the last of channel `{channel}`\nhint: sign it again with sequence {} (the CLI does this when given `--release-key`)",
                last + 1
            ),
        ));
    }
    tx.query(
        "INSERT INTO release_documents (release_id, app_id, channel, version, sequence, envelope, hash, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(release_id)
    .bind(app.as_str())
    .bind(channel.as_str())
    .bind(version)
    .bind(sequence)
    .bind(&document.envelope)
    .bind(&document.hash)
    .bind(now())
    .execute()
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            Error::conflict(
                "duplicate_document",
                format!("channel `{channel}` already has a release document for {version}"),
            )
        } else {
            e
        }
    })?;
    Ok(())
}

/// In the yank transaction of release `release_id` (already marked `yanked` or not): stores `list`, which must be
/// numbered above the stored one and list exactly the app's yanked releases.
pub(super) async fn replace_yank_list(tx: &mut Tx, app: &AppId, list: &NewYankList) -> Result<()> {
    let stored: Option<i64> = tx
        .query("SELECT sequence FROM yank_lists WHERE app_id = $1")
        .bind(app.as_str())
        .fetch_optional(|row| row.get("sequence"))
        .await?;
    if let Some(stored) = stored
        && list.row.sequence <= stored
    {
        return Err(Error::conflict(
            "sequence_not_newer",
            format!(
                "the yank list's sequence {} is not above {stored}, the stored list's\nhint: sign it again with sequence {} (the CLI does this when given `--release-key`)",
                list.row.sequence,
                stored + 1
            ),
        ));
    }
    let yanked: BTreeSet<String> = tx
        .query("SELECT version FROM releases WHERE app_id = $1 AND yanked")
        .bind(app.as_str())
        .fetch_all(|row| row.get("version"))
        .await?
        .into_iter()
        .collect();
    if yanked != list.versions {
        let show = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join(", ");
        return Err(Error::MetadataRejected {
            what: "yank list".into(),
            reason: format!(
                "it lists [{}], but the yanked releases would be [{}]\nhint: sign the list the CLI builds with `yank --release-key`",
                show(&list.versions),
                show(&yanked)
            ),
        });
    }
    tx.query(&format!(
        "INSERT INTO yank_lists (app_id, {YANK_LIST_COLUMNS}) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (app_id) DO UPDATE SET sequence = excluded.sequence, envelope = excluded.envelope,
         hash = excluded.hash, created_at = excluded.created_at"
    ))
    .bind(app.as_str())
    .bind(list.row.sequence)
    .bind(&list.row.envelope)
    .bind(&list.row.hash)
    .bind(list.row.created_at)
    .execute()
    .await?;
    Ok(())
}

impl Db {
    /// The signed yank list of an app.
    pub async fn yank_list(&self, app: &AppId) -> Result<Option<YankListRow>> {
        self.query(&format!("SELECT {YANK_LIST_COLUMNS} FROM yank_lists WHERE app_id = $1"))
            .bind(app.as_str())
            .fetch_optional(yank_list_from_row)
            .await
    }

    /// Every root envelope of an app, oldest first.
    pub async fn roots(&self, app: &AppId) -> Result<Vec<String>> {
        self.query("SELECT envelope FROM roots WHERE app_id = $1 ORDER BY version")
            .bind(app.as_str())
            .fetch_all(|row| row.get("envelope"))
            .await
    }

    /// Stores root `version`; a root of that version already stored is [`Error::Conflict`].
    pub async fn insert_root(&self, app: &AppId, version: u64, envelope: &str) -> Result<()> {
        let version = i64::try_from(version).map_err(|_| Error::bad_request("root version too large"))?;
        self.query("INSERT INTO roots (app_id, version, envelope, created_at) VALUES ($1, $2, $3, $4)")
            .bind(app.as_str())
            .bind(version)
            .bind(envelope)
            .bind(now())
            .execute()
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    Error::conflict("root_exists", format!("app `{app}` already has root {version}"))
                } else {
                    e
                }
            })?;
        Ok(())
    }

    /// The apps that have signed metadata (at least one root).
    pub async fn apps_with_roots(&self) -> Result<Vec<AppId>> {
        self.query("SELECT DISTINCT app_id FROM roots ORDER BY app_id")
            .fetch_all(|row| AppId::parse(&row.get::<String>("app_id")?))
            .await
    }

    /// The server's online keys of an app, newest first.
    pub async fn online_keys(&self, app: &AppId) -> Result<Vec<OnlineKeyRow>> {
        self.query(&format!(
            "SELECT {ONLINE_KEY_COLUMNS} FROM online_keys WHERE app_id = $1 ORDER BY created_at DESC, key_id"
        ))
        .bind(app.as_str())
        .fetch_all(online_key_from_row)
        .await
    }

    /// Stores a new online key.
    pub async fn insert_online_key(&self, key: &OnlineKeyRow) -> Result<()> {
        self.query(&format!("INSERT INTO online_keys ({ONLINE_KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"))
            .bind(&key.app_id)
            .bind(&key.key_id)
            .bind(&key.public_key)
            .bind(&key.secret_key)
            .bind(key.created_at)
            .execute()
            .await?;
        Ok(())
    }

    /// The release document of `version` in `channel`, with whether the release is yanked.
    pub async fn release_document(
        &self,
        app: &AppId,
        channel: &Channel,
        version: &str,
    ) -> Result<Option<(ReleaseDocumentRow, bool)>> {
        self.query(&format!(
            "SELECT {DOCUMENT_COLUMNS}, r.yanked FROM release_documents d JOIN releases r ON r.id = d.release_id
             WHERE d.app_id = $1 AND d.channel = $2 AND d.version = $3"
        ))
        .bind(app.as_str())
        .bind(channel.as_str())
        .bind(version)
        .fetch_optional(|row| Ok((document_from_row(row)?, row.get("yanked")?)))
        .await
    }

    /// The highest sequence number of the release documents of `channel`.
    pub async fn last_sequence(&self, app: &AppId, channel: &Channel) -> Result<Option<i64>> {
        self.query(LAST_SEQUENCE).bind(app.as_str()).bind(channel.as_str()).fetch_one(|row| row.get("last")).await
    }

    /// Every release document of an app (oldest first).
    pub async fn release_documents(&self, app: &AppId) -> Result<Vec<ReleaseDocumentRow>> {
        self.query(&format!(
            "SELECT {DOCUMENT_COLUMNS} FROM release_documents d WHERE d.app_id = $1 ORDER BY d.channel, d.sequence"
        ))
        .bind(app.as_str())
        .fetch_all(document_from_row)
        .await
    }

    /// The stored freshness document of an app.
    pub async fn freshness(&self, app: &AppId) -> Result<Option<FreshnessRow>> {
        self.query(&format!("SELECT {FRESHNESS_COLUMNS} FROM freshness WHERE app_id = $1"))
            .bind(app.as_str())
            .fetch_optional(freshness_from_row)
            .await
    }

    /// Replaces the freshness document of an app, in one transaction holding the app's write lock (so signings on
    /// several replicas are serialised and sequence numbers only grow): if `due` says the stored one (if any) must be
    /// replaced, `sign` gets the lowest sequence number it may use (one above the stored one), every release document
    /// with its placement and the yank list, and its result is stored. Returns the freshness document in force
    /// afterwards.
    pub async fn replace_freshness<D, S>(&self, app: &AppId, due: D, sign: S) -> Result<FreshnessRow>
    where
        D: FnOnce(&FreshnessRow) -> bool,
        S: FnOnce(u64, Vec<DocumentHead>, Option<YankListRow>) -> Result<FreshnessRow>,
    {
        let mut tx = self.begin_app_write(app).await?;
        let previous = tx
            .query(&format!("SELECT {FRESHNESS_COLUMNS} FROM freshness WHERE app_id = $1"))
            .bind(app.as_str())
            .fetch_optional(freshness_from_row)
            .await?;
        if let Some(previous) = previous.as_ref().filter(|p| !due(p)) {
            let previous = previous.clone();
            tx.commit().await?;
            return Ok(previous);
        }
        let heads = tx
            .query(
                "SELECT d.channel, d.version, d.sequence, d.hash, r.yanked, c.rollout, c.paused
                 FROM release_documents d
                 JOIN releases r ON r.id = d.release_id
                 JOIN channel_releases c ON c.release_id = d.release_id AND c.channel = d.channel
                 WHERE d.app_id = $1",
            )
            .bind(app.as_str())
            .fetch_all(head_from_row)
            .await?;
        let yanks = tx
            .query(&format!("SELECT {YANK_LIST_COLUMNS} FROM yank_lists WHERE app_id = $1"))
            .bind(app.as_str())
            .fetch_optional(yank_list_from_row)
            .await?;
        let next = previous.as_ref().map_or(1, |p| p.sequence.saturating_add(1));
        let signed = sign(u64::try_from(next).unwrap_or(1), heads, yanks)?;
        tx.query(
            "INSERT INTO freshness (app_id, sequence, envelope, issued_at, expires_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (app_id) DO UPDATE SET sequence = excluded.sequence, envelope = excluded.envelope,
             issued_at = excluded.issued_at, expires_at = excluded.expires_at",
        )
        .bind(app.as_str())
        .bind(signed.sequence)
        .bind(&signed.envelope)
        .bind(signed.issued_at)
        .bind(signed.expires_at)
        .execute()
        .await?;
        tx.commit().await?;
        Ok(signed)
    }
}
