//! `millennium-update-server migrate`: copies everything from one storage to another (e.g. SQLite + files to
//! PostgreSQL + S3), signed metadata included (roots, release documents, online keys, freshness), so a
//! single-machine server can move to replicas without losing anything.
//!
//! The target database must be empty (no app): migrations are applied to it first, then every row of every table is
//! copied in one transaction, keeping release ids. Artifact and delta blobs are copied first when the stores differ, each one
//! hashed on the way and refused unless its SHA-256 is the one the database names. Finally the target is read back
//! and compared with the source: same rows, and every referenced blob present. A failure leaves the target database
//! empty (the row copy is one transaction); blobs already copied are unreferenced and collected later.

use std::collections::BTreeSet;

use futures_util::TryStreamExt;
use serde::Serialize;

use crate::db::Counts;
use crate::error::{Error, Result};
use crate::server::StorageConfig;

/// What `migrate` did (its `--json` output).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Migrated {
    /// The source.
    pub from: Storage,
    /// The target.
    pub to: Storage,
    /// Rows copied, per table.
    pub rows: Counts,
    /// Artifact and delta files.
    pub blobs: BlobCopy,
}

/// A database and artifact store, as `migrate` reports them (passwords left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Storage {
    /// The database URL, without its password.
    pub database: String,
    /// The artifact store URL.
    pub storage: String,
}

impl Storage {
    fn of(config: &StorageConfig) -> Self {
        Self { database: config.database.redacted(), storage: config.blobs.to_string() }
    }
}

/// The artifact and delta files `migrate` copied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlobCopy {
    /// Files the database references.
    pub referenced: usize,
    /// Files copied (none when both sides share the store).
    pub copied: u64,
    /// Bytes copied.
    pub bytes_copied: u64,
    /// Whether source and target share the store.
    pub same_store: bool,
}

impl Migrated {
    /// The summary for a person.
    pub fn human(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        let (rows, blobs) = (&self.rows, &self.blobs);
        // URLs quoted as JSON strings, as this output always showed them.
        writeln!(
            out,
            "migrated {} apps, {} tokens, {} releases, {} artifacts, {} channel placements to {:?}",
            rows.apps, rows.tokens, rows.releases, rows.artifacts, rows.placements, self.to.database
        )?;
        writeln!(
            out,
            "signed metadata: {} roots, {} release documents, {} online keys, {} freshness documents",
            rows.roots, rows.release_documents, rows.online_keys, rows.freshness
        )?;
        writeln!(out, "deltas: {} rows", rows.deltas)?;
        writeln!(
            out,
            "blobs: {} referenced, {} copied ({} bytes) to {:?}",
            blobs.referenced, blobs.copied, blobs.bytes_copied, self.to.storage
        )
    }
}

/// Copies `from` into `to`; returns what it did.
pub async fn migrate(from: &StorageConfig, to: &StorageConfig) -> Result<Migrated> {
    let (source_db, source_blobs) = from.open().await?;
    let (target_db, target_blobs) = to.open().await?;
    if !target_db.is_empty().await? {
        return Err(Error::usage(format!(
            "the target database {} already holds apps\nhint: migrate into a new, empty database",
            to.database.redacted()
        )));
    }
    let export = source_db.export().await?;

    let mut sizes = std::collections::BTreeMap::new();
    for artifact in &export.artifacts {
        sizes.insert(artifact.sha256.clone(), artifact.size);
    }
    for delta in &export.deltas {
        if let (Some(sha256), Some(size)) = (&delta.sha256, delta.size) {
            sizes.insert(sha256.clone(), size);
        }
        if let Some(alternative) = &delta.alternative {
            sizes.insert(alternative.sha256.clone(), alternative.size);
        }
    }
    let same_store = from.blobs == to.blobs;
    let mut copied = 0u64;
    let mut bytes = 0u64;
    if !same_store {
        let progress = indicatif::ProgressBar::new(sizes.values().map(|s| u64::try_from(*s).unwrap_or(0)).sum());
        if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        for (sha256, size) in &sizes {
            let size = u64::try_from(*size).map_err(|_| Error::Internal(format!("stored size {size}")))?;
            let mut stream = source_blobs.read(sha256, 0, size).await?;
            let mut writer = target_blobs.writer()?;
            while let Some(chunk) = stream
                .try_next()
                .await
                .map_err(|e| Error::Connect(format!("could not read blob {sha256} from {}: {e}", from.blobs)))?
            {
                writer.write(&chunk).await?;
                progress.inc(chunk.len() as u64);
            }
            let staged = writer.finish().await?;
            if staged.sha256 != *sha256 || staged.size != size {
                return Err(Error::Connect(format!(
                    "blob {sha256} in {} is damaged (read {} bytes hashing to {})\nhint: nothing was written to the target database; restore the blob and retry",
                    from.blobs, staged.size, staged.sha256
                )));
            }
            target_blobs.persist(staged).await?;
            copied += 1;
            bytes += size;
        }
        progress.finish_and_clear();
    }

    target_db.import(&export).await?;

    // Read back and compare: nothing lost.
    let check = target_db.export().await?;
    let describe = |e: &crate::db::Export| -> BTreeSet<String> {
        let mut rows = BTreeSet::new();
        rows.extend(
            e.apps
                .iter()
                .map(|a| format!("app {} {} {} {}", a.id, a.public_key, a.created_at, a.require_signed_version)),
        );
        rows.extend(e.tokens.iter().map(|t| {
            format!(
                "token {} {} {:?} {} {:?} {} {:?}",
                t.id,
                hex::encode(&t.secret_hash),
                t.app_id,
                t.scope.as_str(),
                t.description,
                t.created_at,
                t.revoked_at
            )
        }));
        rows.extend(e.releases.iter().map(|r| {
            format!(
                "release {} {} {} {:?} {} {} {} {:?}",
                r.id, r.app_id, r.version, r.notes, r.pub_date, r.yanked, r.created_at, r.min_webview_version
            )
        }));
        rows.extend(e.artifacts.iter().map(|a| {
            format!("artifact {} {} {} {} {} {}", a.release_id, a.target, a.file_name, a.sha256, a.size, a.signature)
        }));
        rows.extend(
            e.placements
                .iter()
                .map(|(id, p)| format!("placement {id} {} {} {} {}", p.channel, p.rollout, p.paused, p.added_at)),
        );
        rows.extend(e.roots.iter().map(|r| format!("root {} {} {} {}", r.app_id, r.version, r.envelope, r.created_at)));
        rows.extend(e.release_documents.iter().map(|d| {
            format!(
                "document {} {} {} {} {} {} {} {}",
                d.release_id, d.app_id, d.channel, d.version, d.sequence, d.envelope, d.hash, d.created_at
            )
        }));
        rows.extend(e.online_keys.iter().map(|k| {
            format!("online key {} {} {} {} {}", k.app_id, k.key_id, k.public_key, k.secret_key, k.created_at)
        }));
        rows.extend(
            e.freshness.iter().map(|(app, f)| {
                format!("freshness {app} {} {} {} {}", f.sequence, f.envelope, f.issued_at, f.expires_at)
            }),
        );
        rows.extend(
            e.yank_lists
                .iter()
                .map(|(app, y)| format!("yank list {app} {} {} {} {}", y.sequence, y.envelope, y.hash, y.created_at)),
        );
        rows.extend(e.deltas.iter().map(|d| format!("delta {d:?}")));
        rows
    };
    if describe(&export) != describe(&check) || export.health != check.health {
        return Err(Error::Internal("the target database does not read back what was written".into()));
    }
    let present = target_blobs.list().await?;
    if let Some(missing) = sizes.keys().find(|sha| !present.contains(*sha)) {
        return Err(Error::Internal(format!("blob {missing} is missing from {} after the copy", to.blobs)));
    }
    source_db.close().await;
    target_db.close().await;
    Ok(Migrated {
        from: Storage::of(from),
        to: Storage::of(to),
        rows: check.counts(),
        blobs: BlobCopy { referenced: sizes.len(), copied, bytes_copied: bytes, same_store },
    })
}
