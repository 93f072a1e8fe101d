//! Artifact storage: files named by content hash, written atomically.
//!
//! Layout under the data directory: `blobs/sha256/<64 hex digits>`. An upload is streamed into a temporary file in the
//! same directory (`.tmp-…`) while its SHA-256 is computed, fsynced, and only once the whole release checked out
//! renamed to its hash name (then the directory is fsynced). A blob is only *visible* once a database row refers to
//! it, and that row is written after the rename, in the release's transaction: so a crash at any point leaves either
//! the previous state or the complete release, never a half-written file behind a URL. What a crash can leave behind
//! (a temporary file, or a renamed blob whose transaction never committed) is invisible and removed by
//! [`BlobStore::collect_garbage`] at the next start.
//!
//! Identical content is stored once. This is the only storage backend for now; an object-store backend (S3) would be
//! a second implementation of the same four operations (write, persist, open, collect garbage).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::error::{Error, Result};

const TEMP_PREFIX: &str = ".tmp-";

/// The artifact store on the local filesystem.
#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
}

/// An upload being written.
#[derive(Debug)]
pub struct BlobWriter {
    file: tokio::fs::File,
    temp: tempfile::TempPath,
    hasher: Sha256,
    size: u64,
}

/// A fully written and fsynced upload, not yet under its final name. Dropping it deletes the file.
#[derive(Debug)]
pub struct StagedBlob {
    temp: tempfile::TempPath,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

impl StagedBlob {
    /// Where the staged content can be read (e.g. to verify its signature).
    pub fn path(&self) -> &Path {
        &self.temp
    }
}

impl BlobStore {
    /// Opens (creating if needed) the store under `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Self> {
        let dir = data_dir.join("blobs").join("sha256");
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("could not create the directory", &dir, e))?;
        Ok(Self { dir })
    }

    /// The path of a stored blob. `sha256` must be 64 lowercase hex digits (it always comes from the database).
    pub fn path(&self, sha256: &str) -> Result<PathBuf> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(Error::Internal(format!("malformed blob hash {sha256:?}")));
        }
        Ok(self.dir.join(sha256))
    }

    /// Starts writing an upload into a temporary file in the store's directory.
    pub fn writer(&self) -> Result<BlobWriter> {
        let temp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(&self.dir)
            .map_err(|e| Error::io("could not create a temporary file in", &self.dir, e))?;
        let (file, temp) = temp.into_parts();
        Ok(BlobWriter { file: tokio::fs::File::from_std(file), temp, hasher: Sha256::new(), size: 0 })
    }

    /// Moves a staged blob to its content-addressed name and makes the rename durable.
    pub async fn persist(&self, staged: StagedBlob) -> Result<String> {
        let target = self.path(&staged.sha256)?;
        let dir = self.dir.clone();
        let sha256 = staged.sha256;
        let temp = staged.temp;
        tokio::task::spawn_blocking(move || -> Result<()> {
            temp.persist(&target).map_err(|e| Error::io("could not move the upload to", &target, e.error))?;
            millennium_sign::fs::sync_dir(&dir);
            Ok(())
        })
        .await
        .map_err(|e| Error::Internal(format!("blob persist task failed: {e}")))??;
        Ok(sha256)
    }

    /// Deletes temporary files and blobs no artifact refers to. Run at start, before serving.
    pub fn collect_garbage(&self, referenced: &HashSet<String>) -> Result<usize> {
        let mut removed = 0;
        let entries = std::fs::read_dir(&self.dir).map_err(|e| Error::io("could not list", &self.dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("could not list", &self.dir, e))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if name.starts_with(TEMP_PREFIX) || (name.len() == 64 && !referenced.contains(name)) {
                let path = entry.path();
                std::fs::remove_file(&path).map_err(|e| Error::io("could not remove", &path, e))?;
                tracing::info!(path = %path.display(), "removed an unreferenced upload");
                removed += 1;
            }
        }
        if removed > 0 {
            millennium_sign::fs::sync_dir(&self.dir);
        }
        Ok(removed)
    }
}

impl BlobWriter {
    /// Appends a chunk.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<()> {
        self.hasher.update(chunk);
        self.size += chunk.len() as u64;
        self.file.write_all(chunk).await.map_err(|e| Error::io("could not write", &*self.temp, e))
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Flushes and fsyncs the file.
    pub async fn finish(mut self) -> Result<StagedBlob> {
        self.file.flush().await.map_err(|e| Error::io("could not write", &*self.temp, e))?;
        self.file.sync_all().await.map_err(|e| Error::io("could not sync", &*self.temp, e))?;
        drop(self.file);
        Ok(StagedBlob { temp: self.temp, sha256: hex::encode(self.hasher.finalize()), size: self.size })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn write_persist_and_collect() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let mut writer = store.writer().unwrap();
        writer.write(b"hello ").await.unwrap();
        writer.write(b"world").await.unwrap();
        let staged = writer.finish().await.unwrap();
        assert_eq!(staged.size, 11);
        assert_eq!(staged.sha256, hex::encode(Sha256::digest(b"hello world")));
        let sha = store.persist(staged).await.unwrap();
        assert_eq!(std::fs::read(store.path(&sha).unwrap()).unwrap(), b"hello world");

        // A dropped writer leaves nothing; an unreferenced blob is collected, a referenced one kept.
        let mut abandoned = store.writer().unwrap();
        abandoned.write(b"partial").await.unwrap();
        drop(abandoned);
        let mut orphan = store.writer().unwrap();
        orphan.write(b"orphan").await.unwrap();
        let orphan = store.persist(orphan.finish().await.unwrap()).await.unwrap();
        let removed = store.collect_garbage(&HashSet::from([sha.clone()])).unwrap();
        assert_eq!(removed, 1);
        assert!(store.path(&sha).unwrap().exists());
        assert!(!store.path(&orphan).unwrap().exists());
        assert_eq!(std::fs::read_dir(dir.path().join("blobs/sha256")).unwrap().count(), 1);
    }

    #[test]
    fn hashes_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        assert!(store.path("../../etc/passwd").is_err());
        assert!(store.path(&"A".repeat(64)).is_err());
    }
}
