//! A blocking wrapper for apps without an async runtime.
//!
//! Each [`Updater`] owns a small current-thread Tokio runtime and drives the async API on it. Do not call these
//! methods from inside an async runtime (Tokio panics); use the async [`crate::Updater`] there.

use std::sync::Arc;

use crate::download::{DownloadedUpdate, Progress};
use crate::error::{Error, Result};
use crate::rollback::StartupStatus;

/// The blocking twin of [`crate::Updater`].
#[derive(Debug, Clone)]
pub struct Updater {
    inner: crate::Updater,
    runtime: Arc<tokio::runtime::Runtime>,
}

/// The blocking twin of [`crate::Update`]; dereferences to it for the version, notes, date….
#[derive(Debug, Clone)]
pub struct Update {
    inner: crate::Update,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl Updater {
    /// Wraps a configured updater.
    pub fn new(updater: crate::Updater) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| Error::Io {
            action: "start the updater's runtime",
            path: "".into(),
            source: e,
        })?;
        Ok(Self { inner: updater, runtime: Arc::new(runtime) })
    }

    /// The async updater inside.
    pub fn as_async(&self) -> &crate::Updater {
        &self.inner
    }

    /// See [`crate::Updater::check`].
    pub fn check(&self) -> Result<Option<Update>> {
        let found = self.runtime.block_on(self.inner.check())?;
        Ok(found.map(|inner| Update { inner, runtime: self.runtime.clone() }))
    }

    /// See [`crate::Updater::startup`].
    pub fn startup(&self) -> Result<StartupStatus> {
        self.inner.startup()
    }

    /// See [`crate::Updater::confirm_healthy`].
    pub fn confirm_healthy(&self) -> Result<()> {
        self.inner.confirm_healthy()
    }

    /// See [`crate::Updater::flush_events`].
    pub fn flush_events(&self, timeout: std::time::Duration) -> bool {
        self.inner.flush_events(timeout)
    }

    /// See [`crate::Updater::relaunch`].
    pub fn relaunch(&self) -> Result<std::convert::Infallible> {
        self.inner.relaunch()
    }
}

impl Update {
    /// See [`crate::Update::download`].
    pub fn download(&self, progress: impl FnMut(Progress) + Send) -> Result<DownloadedUpdate> {
        self.runtime.block_on(self.inner.download(progress))
    }

    /// Downloads, verifies and installs.
    pub fn download_and_install(&self, progress: impl FnMut(Progress) + Send) -> Result<()> {
        self.download(progress)?.install()
    }
}

impl std::ops::Deref for Update {
    type Target = crate::Update;

    fn deref(&self) -> &crate::Update {
        &self.inner
    }
}

impl crate::UpdaterBuilder {
    /// Builds a [`blocking::Updater`](Updater).
    pub fn build_blocking(self) -> Result<Updater> {
        Updater::new(self.build()?)
    }
}
