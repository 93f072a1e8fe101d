//! `install_on_exit`: a verified update applied when the app quits rather than now, so the user is not interrupted.
//!
//! [`crate::DownloadedUpdate::install_on_exit`] only remembers the update (nothing on disk changes); the app calls
//! [`crate::Updater::apply_pending_on_exit`] from its quit path, which
//! installs it with the same strategy as an immediate install: the swap of a file or `.app` bundle on Linux and macOS,
//! the rename-aside on Windows, or, for NSIS and MSI installs, starting the installer, which then runs after this
//! process has exited. A later `install_on_exit` replaces an earlier one; an app that crashes instead of quitting
//! simply keeps its version (the verified download stays in the state directory for the next check).

use std::sync::Mutex;

use crate::download::DownloadedUpdate;
use crate::error::Result;

static PENDING: Mutex<Option<DownloadedUpdate>> = Mutex::new(None);

pub(crate) fn schedule(update: DownloadedUpdate) {
    let mut pending = PENDING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(old) = pending.replace(update) {
        tracing::info!(replaced = %old.version(), "a newer update replaces the one scheduled for exit");
    }
}

/// The scheduled update, if any (taken: it is applied once).
pub(crate) fn take() -> Option<DownloadedUpdate> {
    PENDING.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take()
}

/// Installs the update scheduled for exit, if there is one. `Ok(Some(version))`: installed.
pub(crate) fn apply() -> Result<Option<String>> {
    let Some(update) = take() else { return Ok(None) };
    let version = update.version().to_string();
    // The process ends right after: the `installed` event waits on disk for the next start (see `crate::events`).
    crate::events::suspend_sending();
    update.install()?;
    Ok(Some(version))
}
