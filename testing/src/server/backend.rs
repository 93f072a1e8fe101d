//! The storage backend the server tests run against: SQLite + files by default; PostgreSQL + S3 when
//! `MILLENNIUM_TEST_DATABASE_URL` and `MILLENNIUM_TEST_STORAGE_URL` are set (`scripts/with-server-backends` starts
//! both and sets them). Each data directory gets a database and a key prefix of its own, named after the directory,
//! so restarting a server on the same directory finds the same data.

use std::path::Path;
use std::process::Command;

/// Database and storage URLs for one test's data directory (`None`: the local default).
#[derive(Debug, Clone)]
pub struct Backend {
    pub database_url: Option<String>,
    pub storage_url: Option<String>,
}

fn name_for(data_dir: &Path) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(data_dir.as_os_str().as_encoded_bytes());
    format!("t_{}", &hex::encode(digest)[..24])
}

impl Backend {
    /// Whether the tests run against PostgreSQL + S3.
    pub fn shared() -> bool {
        std::env::var_os("MILLENNIUM_TEST_DATABASE_URL").is_some()
    }

    /// The backend of `data_dir`, creating its PostgreSQL database if needed.
    pub fn for_dir(data_dir: &Path) -> Self {
        let (Ok(database), Ok(storage)) =
            (std::env::var("MILLENNIUM_TEST_DATABASE_URL"), std::env::var("MILLENNIUM_TEST_STORAGE_URL"))
        else {
            return Self { database_url: None, storage_url: None };
        };
        let name = name_for(data_dir);
        let exists = psql(&database, &format!("SELECT 1 FROM pg_database WHERE datname = '{name}'"));
        if exists.trim() != "1" {
            psql(&database, &format!("CREATE DATABASE {name}"));
        }
        let mut url = url::Url::parse(&database).unwrap();
        url.set_path(&format!("/{name}"));
        Self {
            database_url: Some(url.to_string()),
            storage_url: Some(format!("{}/{name}", storage.trim_end_matches('/'))),
        }
    }

    /// SQLite and files under the data directory, whatever the environment says.
    pub fn local() -> Self {
        Self { database_url: None, storage_url: None }
    }

    /// The environment of a `serve` process for this backend.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let mut env = Vec::new();
        if let Some(url) = &self.database_url {
            env.push(("MILLENNIUM_DATABASE_URL", url.clone()));
        }
        if let Some(url) = &self.storage_url {
            env.push(("MILLENNIUM_STORAGE_URL", url.clone()));
            // Collect orphans soon after a crash, sparing what a running publish just uploaded.
            env.push(("MILLENNIUM_GC_INTERVAL", "1".to_owned()));
            env.push(("MILLENNIUM_GC_GRACE", "2".to_owned()));
        }
        env
    }

    /// The server's storage configuration for this backend.
    pub fn storage(&self, data_dir: &Path) -> millennium_update_server::StorageConfig {
        millennium_update_server::StorageConfig::from_urls(
            data_dir,
            self.database_url.as_deref(),
            self.storage_url.as_deref(),
        )
        .unwrap()
    }

    /// Where uploads are staged (temporary files) for `data_dir`.
    pub fn staging_dir(&self, data_dir: &Path) -> std::path::PathBuf {
        if self.storage_url.is_some() { data_dir.join("staging") } else { data_dir.join("blobs/sha256") }
    }

    /// Every stored blob and every temporary upload, sorted.
    pub async fn blob_files(&self, data_dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = match std::fs::read_dir(self.staging_dir(data_dir)) {
            Ok(entries) => entries.map(|e| e.unwrap().file_name().into_string().unwrap()).collect(),
            Err(_) => Vec::new(),
        };
        if self.storage_url.is_some() {
            let store =
                millennium_update_server::blobs::BlobStore::open(&self.storage(data_dir).blobs, data_dir).unwrap();
            names.extend(store.list().await.unwrap());
        }
        names.sort();
        names
    }

    /// [`Backend::blob_files`] from synchronous code.
    pub fn blob_files_blocking(&self, data_dir: &Path) -> Vec<String> {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(self.blob_files(data_dir))
    }
}

/// Runs one SQL statement with `psql` and returns its unaligned output.
pub fn psql(url: &str, sql: &str) -> String {
    crate::require_tool("psql", "postgresql-client");
    let out = Command::new("psql").args([url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql]).output().unwrap();
    assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}
