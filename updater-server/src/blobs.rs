//! Artifact storage: content-addressed blobs (named by SHA-256), on the local filesystem or in an S3-compatible
//! object store, chosen by URL ([`StorageUrl`]).
//!
//! - `file://DIR` (default: `blobs/` in the data directory): `DIR/sha256/<64 hex digits>`. An upload is streamed into
//!   a temporary file in the same directory (`.tmp-…`) while its SHA-256 is computed, fsynced, and only once the
//!   whole release checked out renamed to its hash name (then the directory is fsynced).
//! - `s3://BUCKET/PREFIX`: objects `PREFIX/sha256/<hash>`, configured by the usual `AWS_*` environment variables
//!   (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`, …), so AWS S3,
//!   MinIO, Ceph RGW, Cloudflare R2 and Garage all work. Uploads are staged in a local temporary file (the signature
//!   must be checked over the whole file before anything is accepted), then uploaded (multipart when large).
//!
//! A blob is only *visible* once a database row refers to it, and that row is written after the blob is durable, in
//! the release's transaction: so a crash at any point leaves either the previous state or the complete release,
//! never a half-written file behind a URL. What a crash can leave behind (a temporary file, or a blob whose
//! transaction never committed) is invisible and removed by [`BlobStore::collect_garbage`]: at start for files; for
//! an object store shared by replicas, by the leader's periodic job, sparing objects younger than a grace period
//! (another replica may be between its upload and its commit).
//!
//! Identical content is stored once.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::signer::Signer;
use object_store::{GetOptions, GetRange, ObjectStore, WriteMultipart};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::{Error, Result};

const TEMP_PREFIX: &str = ".tmp-";

/// Chunk size of downloads from files.
const READ_CHUNK: u64 = 256 * 1024;

/// Part size of multipart uploads to the object store.
const PART_SIZE: usize = 16 * 1024 * 1024;

/// Where artifacts are stored: `file://DIR` or `s3://BUCKET[/PREFIX]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageUrl {
    /// A local directory.
    Files(PathBuf),
    /// An S3-compatible bucket and key prefix (no leading or trailing `/`; may be empty).
    S3 { bucket: String, prefix: String },
}

impl StorageUrl {
    /// The default: `blobs/` in the data directory.
    pub fn files_in(data_dir: &Path) -> Self {
        Self::Files(data_dir.join("blobs"))
    }

    /// Parses a storage URL.
    pub fn parse(text: &str) -> Result<Self> {
        let invalid = |why: &str| {
            Error::usage(format!(
                "invalid storage URL `{text}`: {why}\nhint: use `file:///ABSOLUTE/DIR` or `s3://BUCKET/PREFIX` (endpoint, region and credentials come from the `AWS_*` environment variables)"
            ))
        };
        // The URL parser would resolve these silently: a prefix or directory must be meant literally.
        if text.split(['/', '\\']).any(|part| part == "." || part == "..") {
            return Err(invalid("`.` and `..` are not allowed"));
        }
        let url = url::Url::parse(text).map_err(|e| invalid(&e.to_string()))?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(invalid("no query or fragment allowed"));
        }
        match url.scheme() {
            "file" if !text.starts_with("file://") => Err(invalid("expected `file:///ABSOLUTE/DIR`")),
            "file" => url.to_file_path().map(Self::Files).map_err(|()| invalid("not an absolute local path")),
            "s3" => {
                let bucket = url.host_str().filter(|b| !b.is_empty()).ok_or_else(|| invalid("no bucket"))?;
                let prefix = url.path().trim_matches('/');
                Ok(Self::S3 { bucket: bucket.to_owned(), prefix: prefix.to_owned() })
            }
            other => Err(invalid(&format!("unknown scheme `{other}`"))),
        }
    }

    /// Whether this is an object store shared by replicas.
    pub fn is_object_store(&self) -> bool {
        matches!(self, Self::S3 { .. })
    }
}

impl std::fmt::Display for StorageUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Files(dir) => write!(f, "file://{}", dir.display()),
            Self::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            Self::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

/// The artifact store (cheap to clone).
#[derive(Debug, Clone)]
pub struct BlobStore {
    /// Where uploads are staged: next to the blobs for files (so persisting is a rename), else a local directory.
    staging: PathBuf,
    /// Where background work (the delta job) keeps its files: never among the blobs, whose directory then holds
    /// only blobs and uploads in flight.
    scratch: PathBuf,
    backend: Backend,
}

#[derive(Debug, Clone)]
enum Backend {
    Files { dir: PathBuf },
    Object { store: Arc<AmazonS3>, prefix: ObjectPath },
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

/// The bytes of a blob, streamed.
pub type BlobStream = BoxStream<'static, std::io::Result<Bytes>>;

fn check_hash(sha256: &str) -> Result<()> {
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return Err(Error::Internal(format!("malformed blob hash {sha256:?}")));
    }
    Ok(())
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io("could not create the directory", dir, e))
}

/// Removes the temporary files an interrupted upload left in `dir`.
fn remove_temp_files(dir: &Path) -> Result<usize> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io("could not list", dir, e))? {
        let entry = entry.map_err(|e| Error::io("could not list", dir, e))?;
        if entry.file_name().to_str().is_some_and(|name| name.starts_with(TEMP_PREFIX)) {
            let path = entry.path();
            // A directory is a scratch directory of the delta job ([`BlobStore::scratch_dir`]).
            let result = if entry.file_type().is_ok_and(|t| t.is_dir()) {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            result.map_err(|e| Error::io("could not remove", &path, e))?;
            removed += 1;
        }
    }
    Ok(removed)
}

impl BlobStore {
    /// Opens (creating local directories if needed) the store at `url`; `data_dir/staging` stages uploads to an
    /// object store.
    pub fn open(url: &StorageUrl, data_dir: &Path) -> Result<Self> {
        match url {
            StorageUrl::Files(root) => {
                let dir = root.join("sha256");
                let scratch = root.join("scratch");
                create_dir(&dir)?;
                create_dir(&scratch)?;
                Ok(Self { staging: dir.clone(), scratch, backend: Backend::Files { dir } })
            }
            StorageUrl::S3 { bucket, prefix } => {
                let staging = data_dir.join("staging");
                create_dir(&staging)?;
                let store = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .build()
                    .map_err(|e| Error::Connect(format!("could not set up the object store for {url}: {e}")))?;
                let prefix = if prefix.is_empty() {
                    ObjectPath::from("sha256")
                } else {
                    ObjectPath::from(format!("{prefix}/sha256"))
                };
                Ok(Self {
                    scratch: staging.clone(),
                    staging,
                    backend: Backend::Object { store: Arc::new(store), prefix },
                })
            }
        }
    }

    /// A private scratch directory for work on blobs (the delta job's inputs and output), removed when dropped: in the
    /// scratch directory, whose leftovers are cleaned at start-up.
    pub fn scratch_dir(&self) -> Result<tempfile::TempDir> {
        tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempdir_in(&self.scratch)
            .map_err(|e| Error::io("could not create a temporary directory in", &self.scratch, e))
    }

    /// A local file holding the blob: its own path for a file store, else a copy downloaded to `scratch`.
    pub async fn local_copy(&self, sha256: &str, size: u64, scratch: &Path) -> Result<PathBuf> {
        if let Some(path) = self.path(sha256)? {
            return Ok(path);
        }
        let target = scratch.join(sha256);
        let mut file = tokio::fs::File::create(&target).await.map_err(|e| Error::io("could not create", &target, e))?;
        let mut stream = self.read(sha256, 0, size).await?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| Error::io("could not read the blob into", &target, e))?;
            file.write_all(&chunk).await.map_err(|e| Error::io("could not write", &target, e))?;
        }
        file.flush().await.map_err(|e| Error::io("could not write", &target, e))?;
        Ok(target)
    }

    /// Removes the temporary files of uploads and background work this process's predecessor left when it stopped.
    pub fn remove_staged_leftovers(&self) -> Result<usize> {
        let mut removed = remove_temp_files(&self.staging)?;
        if self.scratch != self.staging {
            removed += remove_temp_files(&self.scratch)?;
        }
        Ok(removed)
    }

    /// Whether blobs live in an object store (shared by replicas).
    pub fn is_object_store(&self) -> bool {
        matches!(self.backend, Backend::Object { .. })
    }

    /// Checks that the store answers (lists at most one object).
    pub async fn check(&self) -> Result<()> {
        if let Backend::Object { store, prefix } = &self.backend {
            store.list(Some(prefix)).take(1).try_collect::<Vec<_>>().await?;
        }
        Ok(())
    }

    /// The path of a stored blob, for a file store; `None` for an object store.
    pub fn path(&self, sha256: &str) -> Result<Option<PathBuf>> {
        check_hash(sha256)?;
        Ok(match &self.backend {
            Backend::Files { dir } => Some(dir.join(sha256)),
            Backend::Object { .. } => None,
        })
    }

    fn key(prefix: &ObjectPath, sha256: &str) -> Result<ObjectPath> {
        check_hash(sha256)?;
        Ok(prefix.child(sha256))
    }

    /// Starts writing an upload into a temporary file in the staging directory.
    pub fn writer(&self) -> Result<BlobWriter> {
        let temp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .tempfile_in(&self.staging)
            .map_err(|e| Error::io("could not create a temporary file in", &self.staging, e))?;
        let (file, temp) = temp.into_parts();
        Ok(BlobWriter { file: tokio::fs::File::from_std(file), temp, hasher: Sha256::new(), size: 0 })
    }

    /// Makes a staged blob durable under its content-addressed name: a rename (then a directory fsync) for files, an
    /// upload for an object store. The upload is done even when the object exists, which refreshes its modification
    /// time so that garbage collection spares it until the release that needs it commits.
    pub async fn persist(&self, staged: StagedBlob) -> Result<String> {
        let sha256 = staged.sha256.clone();
        match &self.backend {
            Backend::Files { dir } => {
                let target = dir.join(&sha256);
                let dir = dir.clone();
                let temp = staged.temp;
                tokio::task::spawn_blocking(move || -> Result<()> {
                    temp.persist(&target).map_err(|e| Error::io("could not move the upload to", &target, e.error))?;
                    millennium_sign::fs::sync_dir(&dir);
                    Ok(())
                })
                .await
                .map_err(|e| Error::Internal(format!("blob persist task failed: {e}")))??;
            }
            Backend::Object { store, prefix } => {
                let key = Self::key(prefix, &sha256)?;
                let path: &Path = &staged.temp;
                let mut file = tokio::fs::File::open(path).await.map_err(|e| Error::io("could not open", path, e))?;
                if staged.size <= PART_SIZE as u64 {
                    let mut data = Vec::with_capacity(usize::try_from(staged.size).unwrap_or(0));
                    file.read_to_end(&mut data).await.map_err(|e| Error::io("could not read", path, e))?;
                    store.put(&key, data.into()).await?;
                } else {
                    let upload = store.put_multipart(&key).await?;
                    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
                    let mut buffer = vec![0; 1024 * 1024];
                    loop {
                        let n = match file.read(&mut buffer).await {
                            Ok(n) => n,
                            Err(e) => {
                                let _ = writer.abort().await;
                                return Err(Error::io("could not read", path, e));
                            }
                        };
                        if n == 0 {
                            break;
                        }
                        if let Err(e) = writer.wait_for_capacity(4).await {
                            let _ = writer.abort().await;
                            return Err(e.into());
                        }
                        writer.write(&buffer[..n]);
                    }
                    writer.finish().await?;
                }
            }
        }
        Ok(sha256)
    }

    /// Streams `len` bytes of a blob from `start`.
    pub async fn read(&self, sha256: &str, start: u64, len: u64) -> Result<BlobStream> {
        match &self.backend {
            Backend::Files { dir } => {
                let file = Self::open_file(dir, sha256).await?;
                Ok(file_stream(file, start, len))
            }
            Backend::Object { store, prefix } => {
                let key = Self::key(prefix, sha256)?;
                if len == 0 {
                    return Ok(futures_util::stream::empty().boxed());
                }
                let options =
                    GetOptions { range: Some(GetRange::Bounded(start..start + len)), ..GetOptions::default() };
                let result = store.get_opts(&key, options).await?;
                Ok(result.into_stream().map_err(std::io::Error::other).boxed())
            }
        }
    }

    /// The stored file of a blob, opened, for a file store; `None` for an object store.
    pub async fn file(&self, sha256: &str) -> Result<Option<Arc<std::fs::File>>> {
        match &self.backend {
            Backend::Files { dir } => Self::open_file(dir, sha256).await.map(Some),
            Backend::Object { .. } => Ok(None),
        }
    }

    async fn open_file(dir: &Path, sha256: &str) -> Result<Arc<std::fs::File>> {
        check_hash(sha256)?;
        let path = dir.join(sha256);
        let file = tokio::fs::File::open(&path).await.map_err(|e| Error::io("could not open", &path, e))?;
        Ok(Arc::new(file.into_std().await))
    }

    /// A URL that lets anyone `GET` the blob for `expires_in`, for an object store; `None` for files.
    pub async fn presigned_url(&self, sha256: &str, expires_in: Duration) -> Result<Option<url::Url>> {
        match &self.backend {
            Backend::Files { .. } => Ok(None),
            Backend::Object { store, prefix } => {
                let key = Self::key(prefix, sha256)?;
                Ok(Some(store.signed_url(reqwest::Method::GET, &key, expires_in).await?))
            }
        }
    }

    /// The hashes of every stored blob.
    pub async fn list(&self) -> Result<HashSet<String>> {
        Ok(self.list_with_age().await?.into_iter().map(|(sha, _)| sha).collect())
    }

    /// Every stored blob with its modification time (Unix seconds).
    async fn list_with_age(&self) -> Result<Vec<(String, i64)>> {
        match &self.backend {
            Backend::Files { dir } => {
                let mut out = Vec::new();
                for entry in std::fs::read_dir(dir).map_err(|e| Error::io("could not list", dir, e))? {
                    let entry = entry.map_err(|e| Error::io("could not list", dir, e))?;
                    let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
                    if check_hash(&name).is_ok() {
                        let modified = entry
                            .metadata()
                            .and_then(|m| m.modified())
                            .ok()
                            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
                        out.push((name, modified));
                    }
                }
                Ok(out)
            }
            Backend::Object { store, prefix } => {
                let objects: Vec<_> = store.list(Some(prefix)).try_collect().await?;
                Ok(objects
                    .into_iter()
                    .filter_map(|meta| {
                        let name = meta.location.filename()?.to_owned();
                        check_hash(&name).is_ok().then(|| (name, meta.last_modified.timestamp()))
                    })
                    .collect())
            }
        }
    }

    /// Deletes temporary files and blobs no artifact refers to, sparing those modified less than `grace` ago.
    /// `referenced` is called only once the store is listed, so a release committed in between is seen.
    pub async fn collect_garbage<F, Fut>(&self, referenced: F, grace: Duration) -> Result<usize>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<HashSet<String>>>,
    {
        let mut removed = 0;
        if let Backend::Files { dir } = &self.backend {
            removed += remove_temp_files(dir)?;
        }
        let blobs = self.list_with_age().await?;
        let referenced = referenced().await?;
        let cutoff = crate::db::now().saturating_sub(i64::try_from(grace.as_secs()).unwrap_or(i64::MAX));
        for (sha256, modified) in blobs {
            if referenced.contains(&sha256) || modified > cutoff {
                continue;
            }
            match &self.backend {
                Backend::Files { dir } => {
                    let path = dir.join(&sha256);
                    std::fs::remove_file(&path).map_err(|e| Error::io("could not remove", &path, e))?;
                }
                Backend::Object { store, prefix } => {
                    let key = Self::key(prefix, &sha256)?;
                    // Re-check the age: a publish may have just uploaded the same content again.
                    match store.head(&key).await {
                        Ok(meta) if meta.last_modified.timestamp() <= cutoff => store.delete(&key).await?,
                        Ok(_) | Err(object_store::Error::NotFound { .. }) => continue,
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            tracing::info!(sha256, "removed an unreferenced upload");
            removed += 1;
        }
        if removed > 0
            && let Backend::Files { dir } = &self.backend
        {
            millennium_sign::fs::sync_dir(dir);
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

/// Streams `len` bytes of `file` from `start`, one `READ_CHUNK` per blocking-pool task, each read straight into the
/// buffer that goes to the response (tokio's `File` copies every chunk once more). No thread waits on a slow client:
/// the next read starts only when the response wants more. A file that turns out shorter than `len` ends the stream
/// with an error, so the response is cut off rather than completed with missing bytes.
pub fn file_stream(file: Arc<std::fs::File>, start: u64, len: u64) -> BlobStream {
    let end = start.saturating_add(len);
    futures_util::stream::try_unfold(start, move |offset| {
        let file = file.clone();
        async move {
            if offset >= end {
                return Ok(None);
            }
            let want = (end - offset).min(READ_CHUNK);
            let chunk = tokio::task::spawn_blocking(move || read_chunk(&file, offset, want, end))
                .await
                .map_err(std::io::Error::other)??;
            Ok(Some((chunk, offset + want)))
        }
    })
    .boxed()
}

/// `want` bytes of `file` at `offset` (of a range ending at `end`, for the error message).
fn read_chunk(file: &std::fs::File, offset: u64, want: u64, end: u64) -> std::io::Result<Bytes> {
    use std::io::{Read, Seek};

    let mut file = file;
    file.seek(std::io::SeekFrom::Start(offset))?;
    let mut chunk = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
    let n = file.take(want).read_to_end(&mut chunk)? as u64;
    if n < want {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("the stored file is damaged: it ends {} bytes short", end - offset - n),
        ));
    }
    Ok(Bytes::from(chunk))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn write_persist_and_collect() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(&StorageUrl::files_in(dir.path()), dir.path()).unwrap();
        let mut writer = store.writer().unwrap();
        writer.write(b"hello ").await.unwrap();
        writer.write(b"world").await.unwrap();
        let staged = writer.finish().await.unwrap();
        assert_eq!(staged.size, 11);
        assert_eq!(staged.sha256, hex::encode(Sha256::digest(b"hello world")));
        let sha = store.persist(staged).await.unwrap();
        let path = store.path(&sha).unwrap().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"hello world");
        let read: Vec<Bytes> = store.read(&sha, 6, 5).await.unwrap().try_collect().await.unwrap();
        assert_eq!(read.concat(), b"world");

        // A dropped writer leaves nothing; an unreferenced blob is collected, a referenced one kept.
        let mut abandoned = store.writer().unwrap();
        abandoned.write(b"partial").await.unwrap();
        drop(abandoned);
        let mut orphan = store.writer().unwrap();
        orphan.write(b"orphan").await.unwrap();
        let orphan = store.persist(orphan.finish().await.unwrap()).await.unwrap();
        // Within the grace period nothing goes.
        let keep = HashSet::from([sha.clone()]);
        assert_eq!(store.collect_garbage(|| async { Ok(keep.clone()) }, Duration::from_secs(3600)).await.unwrap(), 0);
        let removed = store.collect_garbage(|| async { Ok(keep.clone()) }, Duration::ZERO).await.unwrap();
        assert_eq!(removed, 1);
        assert!(path.exists());
        assert!(!store.path(&orphan).unwrap().unwrap().exists());
        assert_eq!(std::fs::read_dir(dir.path().join("blobs/sha256")).unwrap().count(), 1);
        assert_eq!(store.list().await.unwrap(), keep);
    }

    #[test]
    fn background_work_stays_out_of_the_blob_directory_and_its_leftovers_go_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let url = StorageUrl::files_in(dir.path());
        let store = BlobStore::open(&url, dir.path()).unwrap();
        let scratch = store.scratch_dir().unwrap();
        std::fs::write(scratch.path().join("delta"), b"work in progress").unwrap();
        assert_eq!(std::fs::read_dir(dir.path().join("blobs/sha256")).unwrap().count(), 0);
        // A process killed in the middle of its work leaves the directory behind: the next one removes it.
        let left = scratch.keep();
        let store = BlobStore::open(&url, dir.path()).unwrap();
        assert_eq!(store.remove_staged_leftovers().unwrap(), 1);
        assert!(!left.exists());
    }

    #[tokio::test]
    async fn reads_span_chunks_and_a_short_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(&StorageUrl::files_in(dir.path()), dir.path()).unwrap();
        let data: Vec<u8> = (0..READ_CHUNK * 2 + 7).map(|i| (i % 251) as u8).collect();
        let mut writer = store.writer().unwrap();
        writer.write(&data).await.unwrap();
        let sha = store.persist(writer.finish().await.unwrap()).await.unwrap();
        let len = data.len() as u64;
        let start = READ_CHUNK - 3;
        let read: Vec<Bytes> = store.read(&sha, start, len - start).await.unwrap().try_collect().await.unwrap();
        assert_eq!(read.concat(), &data[usize::try_from(start).unwrap()..]);

        // Asked for more than the file holds (it was truncated behind the server's back): the stream fails rather
        // than ending early as if complete.
        let result: std::io::Result<Vec<Bytes>> = store.read(&sha, 0, len + 10).await.unwrap().try_collect().await;
        assert!(result.unwrap_err().to_string().contains("damaged"));
    }

    #[test]
    fn hashes_are_checked() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(&StorageUrl::files_in(dir.path()), dir.path()).unwrap();
        assert!(store.path("../../etc/passwd").is_err());
        assert!(store.path(&"A".repeat(64)).is_err());
    }

    #[test]
    fn storage_urls() {
        assert_eq!(StorageUrl::parse("file:///srv/blobs").unwrap(), StorageUrl::Files("/srv/blobs".into()));
        assert_eq!(
            StorageUrl::parse("s3://bucket/a/b/").unwrap(),
            StorageUrl::S3 { bucket: "bucket".into(), prefix: "a/b".into() }
        );
        assert_eq!(
            StorageUrl::parse("s3://bucket").unwrap(),
            StorageUrl::S3 { bucket: "bucket".into(), prefix: String::new() }
        );
        for bad in ["s3://", "s3://bucket/../x", "ftp://x/y", "file:relative", "s3://b/p?x=1", "blobs"] {
            let err = StorageUrl::parse(bad).unwrap_err().to_string();
            assert!(err.contains("hint:"), "{bad}: {err}");
        }
    }
}
