//! Automatic rollback of an update that does not work.
//!
//! Just before a new executable is renamed into place, the installer writes `pending-update.json` in the state
//! directory (atomically): the new version, the replaced path, where the previous file was kept (`<path>.previous`),
//! a start counter and the allowed number of starts. Then:
//!
//! - every start calls [`crate::Updater::startup`]. If the running version is the pending one, the counter goes up
//!   (written before the app does anything that might crash). Once it exceeds the limit, the previous file is put
//!   back with the same atomic rename as an install, the record is cleared, and [`StartupStatus::RolledBack`] tells
//!   the app to relaunch (or exit). If the running version is *not* the pending one, the install never completed (the
//!   process died between writing the record and the rename), so the record is dropped;
//! - the new version calls [`crate::Updater::confirm_healthy`] once it knows it works: the record is cleared and the
//!   update is final (`<path>.previous` stays, for a manual rollback).
//!
//! A rolled-back version is remembered (`rejected-versions` in the state directory) and no longer offered by
//! [`crate::Updater::check`], so the app does not loop between installing and rolling back the same broken release;
//! a newer release is offered as usual.
//!
//! A macOS `.app` bundle is kept whole as `<Name>.app.previous` and swapped back with the same atomic exchange that
//! installed it; on Windows the running `.exe` was renamed to `<exe>.previous` and is linked back the same way as on
//! Linux. A version that crashes before calling `startup` at all is not counted: call it first thing. Package installs
//! (`.deb`, `.rpm`) and Windows installer installs (NSIS, MSI) are not rolled back; the package manager or installer
//! owns those files.

use std::path::{Path, PathBuf};

use millennium_update_protocol::Version;
use millennium_update_protocol::events::EventKind;

use crate::error::{Error, Result};
use crate::fs;
use crate::updater::Inner;

/// What [`crate::Updater::startup`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartupStatus {
    /// No update is waiting for confirmation.
    Normal,
    /// This version was just installed and has not confirmed yet: this is start number `start` of `allowed`.
    PendingConfirmation { start: u32, allowed: u32 },
    /// This version never confirmed within the allowed starts and the previous version was restored. The running
    /// process is still the failed version: relaunch (or exit) now.
    RolledBack { from: String, to: String },
}

/// The rollback record.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Pending {
    version: String,
    previous_version: String,
    executable: PathBuf,
    previous: PathBuf,
    starts: u32,
    allowed_starts: u32,
}

/// Where the previous version of `target` is kept.
pub(crate) fn previous_path(target: &Path) -> PathBuf {
    fs::with_suffix(target, ".previous")
}

fn load(path: &Path) -> Result<Option<Pending>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::CorruptState { path: path.to_owned(), reason: e.to_string() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

fn save(path: &Path, pending: &Pending) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(pending)
        .map_err(|e| Error::CorruptState { path: path.to_owned(), reason: e.to_string() })?;
    fs::write_atomic(path, &bytes)
}

/// Step 3 of an install: records that `version` replaces the current one at `target`.
pub(crate) fn record_pending(inner: &Inner, target: &Path, previous: &Path, version: &Version) -> Result<()> {
    inner.state.ensure()?;
    save(
        &inner.state.pending_file(),
        &Pending {
            version: version.to_string(),
            previous_version: inner.current.to_string(),
            executable: target.to_owned(),
            previous: previous.to_owned(),
            starts: 0,
            allowed_starts: inner.rollback_after_starts,
        },
    )
}

fn is_running(pending: &Pending, current: &Version) -> bool {
    Version::parse(&pending.version).is_ok_and(|v| &v == current)
}

pub(crate) fn startup(inner: &Inner) -> Result<StartupStatus> {
    crate::install::at_startup(&inner.install);
    let file = inner.state.pending_file();
    let pending = match load(&file) {
        Ok(Some(p)) => p,
        Ok(None) => return Ok(StartupStatus::Normal),
        Err(Error::CorruptState { path, reason }) => {
            tracing::warn!(path = %path.display(), %reason, "dropping a corrupt rollback record");
            fs::remove_if_exists(&file)?;
            return Ok(StartupStatus::Normal);
        }
        Err(e) => return Err(e),
    };
    if !is_running(&pending, &inner.current) {
        // The install did not complete (or the previous version is already back): nothing to watch.
        fs::remove_if_exists(&file)?;
        return Ok(StartupStatus::Normal);
    }
    let starts = pending.starts.saturating_add(1);
    if starts > pending.allowed_starts {
        tracing::warn!(version = %pending.version, starts = pending.starts, "update never confirmed; rolling back");
        restore(&pending)?;
        remember_rejected(inner, &pending.version)?;
        fs::remove_if_exists(&file)?;
        if let Some(events) = &inner.events {
            events.report_text(EventKind::RolledBack, &pending.previous_version, &pending.version);
        }
        return Ok(StartupStatus::RolledBack { from: pending.version, to: pending.previous_version });
    }
    save(&file, &Pending { starts, ..pending.clone() })?;
    Ok(StartupStatus::PendingConfirmation { start: starts, allowed: pending.allowed_starts })
}

fn restore(pending: &Pending) -> Result<()> {
    crate::install::restore_previous(&pending.previous, &pending.executable)
}

pub(crate) fn confirm_healthy(inner: &Inner) -> Result<()> {
    let file = inner.state.pending_file();
    match load(&file) {
        Ok(Some(pending)) if is_running(&pending, &inner.current) => {
            fs::remove_if_exists(&file)?;
            if let Some(events) = &inner.events {
                events.report_text(EventKind::Confirmed, &pending.previous_version, &pending.version);
            }
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(Error::CorruptState { .. }) => fs::remove_if_exists(&file),
        Err(e) => Err(e),
    }
}

/// Puts the previous version of this install back now (e.g. from a "revert update" menu item). The caller then
/// relaunches.
pub fn rollback_now(updater: &crate::Updater) -> Result<()> {
    let inner = &updater.inner;
    let Some(target) = inner.install.replaced_path() else {
        return Err(Error::Unsupported { what: "rolling back a package install".into() });
    };
    let previous = previous_path(target);
    restore(&Pending {
        version: String::new(),
        previous_version: String::new(),
        executable: target.to_owned(),
        previous,
        starts: 0,
        allowed_starts: 0,
    })?;
    fs::remove_if_exists(&inner.state.pending_file())
}

fn rejected_file(inner: &Inner) -> PathBuf {
    inner.state.root().join("rejected-versions")
}

fn remember_rejected(inner: &Inner, version: &str) -> Result<()> {
    let path = rejected_file(inner);
    let mut text = std::fs::read_to_string(&path).unwrap_or_default();
    if !text.lines().any(|l| l == version) {
        text.push_str(version);
        text.push('\n');
        fs::write_atomic(&path, text.as_bytes())?;
    }
    Ok(())
}

/// Whether `version` was rolled back on this install before (then it is not offered again).
pub(crate) fn is_rejected(inner: &Inner, version: &Version) -> bool {
    std::fs::read_to_string(rejected_file(inner))
        .is_ok_and(|text| text.lines().any(|l| Version::parse(l).is_ok_and(|v| &v == version)))
}
