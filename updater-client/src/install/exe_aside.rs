//! Replacing a running executable where the OS forbids overwriting it (Windows): the rename-aside dance.
//!
//! Windows refuses to delete or overwrite the image of a running program, but it allows renaming it. So, in order:
//!
//! 1. copy the verified file to a temporary file beside the target, fsynced (nothing else has changed yet);
//! 2. retire the `<exe>.previous` an earlier update left: delete it, or, when it cannot be deleted (it is running,
//!    say), rename it to a `.<exe>.millennium-old-<random>` leftover;
//! 3. write the rollback record (see [`crate::rollback`]);
//! 4. rename the running executable to `<exe>.previous` (kept for rollback);
//! 5. rename the temporary file to the executable's name; if that fails, rename `.previous` back (step 4 undone).
//!
//! Leftovers (temporary files, retired previous versions that were still running) are deleted at the next start
//! ([`cleanup_at_start`]), when nothing runs them any more. Between steps 4 and 5 (two renames in one directory,
//! microseconds apart) the executable's name is briefly free: a crash exactly there leaves the old program at
//! `<exe>.previous`, which [`cleanup_at_start`] renames back, but only once something starts the app. This is the
//! price of the platform rule; no Windows updater that swaps files itself avoids it.
//!
//! The code is ordinary `std::fs` and runs on every OS: it is what the Windows build uses, and it is tested on Linux
//! (where the running program could simply be replaced, so the test proves the order of the steps, the undo and the
//! clean-up; that Windows accepts renaming a running `.exe` is documented Windows behaviour).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::fs;

/// Steps 2–5 of the module docs: `staged` (step 1) becomes `target`, the current `target` becomes `previous`;
/// `record` (step 3) runs just before the running file is moved.
#[cfg_attr(not(windows), allow(dead_code, reason = "the Windows strategy; unit-tested everywhere"))]
pub(crate) fn swap_in(
    target: &Path,
    staged: tempfile::TempPath,
    previous: &Path,
    record: impl FnOnce() -> Result<()>,
) -> Result<()> {
    retire(previous)?;
    record()?;
    std::fs::rename(target, previous).map_err(|e| Error::io("move the running program aside to", previous, e))?;
    if let Err(e) = staged.persist(target) {
        let undo = std::fs::rename(previous, target);
        if let Err(undo) = undo {
            tracing::error!(error = %undo, path = %target.display(), "could not move the previous version back");
        }
        return Err(Error::io("move the update into place at", target, e.error));
    }
    fs::sync_dir(fs::parent_dir(target));
    Ok(())
}

/// Removes `path`, or renames it to a leftover deleted at the next start when it cannot be removed now.
fn retire(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(_) => {
            let leftover = leftover_path(path);
            std::fs::rename(path, &leftover).map_err(|e| Error::io("move aside", path, e))
        }
    }
}

/// `.<name>.millennium-old-<random>` beside `path`: the temporary-file pattern, so the clean-up finds it.
fn leftover_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    fs::parent_dir(path).join(format!(".{name}.millennium-old-{}", fs::random_suffix()))
}

/// At start: puts back a program an interrupted swap left only at `<exe>.previous`, then deletes leftovers beside
/// the executable and its previous version. Best effort: a leftover still in use stays until the next start.
#[cfg_attr(not(windows), allow(dead_code, reason = "the Windows strategy; unit-tested everywhere"))]
pub(crate) fn cleanup_at_start(target: &Path, previous: &Path) {
    if std::fs::symlink_metadata(target).is_err() && previous.is_file() {
        match std::fs::rename(previous, target) {
            Ok(()) => {
                tracing::warn!(path = %target.display(), "an interrupted update left the program aside; restored")
            }
            Err(e) => tracing::error!(error = %e, path = %target.display(), "could not restore the program"),
        }
    }
    fs::remove_stale_temps(target);
    fs::remove_stale_temps(previous);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staged(dir: &Path, bytes: &[u8]) -> tempfile::TempPath {
        let mut f = tempfile::Builder::new().prefix(".app.exe.millennium-").tempfile_in(dir).unwrap();
        std::io::Write::write_all(&mut f, bytes).unwrap();
        f.into_temp_path()
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    }

    #[test]
    fn the_running_program_is_moved_aside_and_kept_for_rollback() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("app.exe");
        let previous = dir.path().join("app.exe.previous");
        std::fs::write(&exe, "v1").unwrap();
        std::fs::write(&previous, "v0").unwrap();
        // The program runs from `exe`: a handle stays open across the swap, as the loaded image does on Windows.
        let running = std::fs::File::open(&exe).unwrap();
        let mut order = Vec::new();
        swap_in(&exe, staged(dir.path(), b"v2"), &previous, || {
            order.push(std::fs::read_to_string(&exe).unwrap());
            Ok(())
        })
        .unwrap();
        drop(running);
        assert_eq!(order, ["v1"], "the record is written while the old program is still in place");
        assert_eq!(std::fs::read_to_string(&exe).unwrap(), "v2");
        assert_eq!(std::fs::read_to_string(&previous).unwrap(), "v1");
        assert_eq!(names(dir.path()), ["app.exe", "app.exe.previous"]);
    }

    #[test]
    fn a_previous_version_that_cannot_be_deleted_is_retired_and_cleaned_up_at_the_next_start() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("app.exe");
        let previous = dir.path().join("app.exe.previous");
        std::fs::write(&exe, "v2").unwrap();
        // A directory cannot be removed with `remove_file`: it stands for a `.previous` Windows keeps open.
        std::fs::create_dir(&previous).unwrap();
        swap_in(&exe, staged(dir.path(), b"v3"), &previous, || Ok(())).unwrap();
        assert_eq!(std::fs::read_to_string(&exe).unwrap(), "v3");
        let leftovers: Vec<String> = names(dir.path()).into_iter().filter(|n| n.contains(".millennium-old-")).collect();
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");
        std::fs::remove_dir(dir.path().join(&leftovers[0])).unwrap();
        std::fs::write(dir.path().join(".app.exe.millennium-old-0123"), "old").unwrap();
        cleanup_at_start(&exe, &previous);
        assert_eq!(names(dir.path()), ["app.exe", "app.exe.previous"]);
    }

    #[test]
    fn a_failed_record_changes_nothing_and_a_failed_move_is_undone() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("app.exe");
        let previous = dir.path().join("app.exe.previous");
        std::fs::write(&exe, "v1").unwrap();
        let failed = Error::CorruptState { path: "x".into(), reason: "test".into() };
        assert!(swap_in(&exe, staged(dir.path(), b"v2"), &previous, || Err(failed)).is_err());
        assert_eq!(std::fs::read_to_string(&exe).unwrap(), "v1");
        assert_eq!(names(dir.path()), ["app.exe"], "the staged file is deleted");

        // The staged file vanished before the last rename (a virus scanner, say): the old program is put back.
        let gone = staged(dir.path(), b"v2");
        std::fs::remove_file(&gone).unwrap();
        assert!(swap_in(&exe, gone, &previous, || Ok(())).is_err());
        assert_eq!(std::fs::read_to_string(&exe).unwrap(), "v1");
        assert!(!previous.exists());
    }

    #[test]
    fn a_swap_interrupted_between_the_renames_is_repaired_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("app.exe");
        let previous = dir.path().join("app.exe.previous");
        std::fs::write(&previous, "v1").unwrap();
        std::fs::write(dir.path().join(".app.exe.millennium-abcd"), "half").unwrap();
        cleanup_at_start(&exe, &previous);
        assert_eq!(std::fs::read_to_string(&exe).unwrap(), "v1");
        assert_eq!(names(dir.path()), ["app.exe"]);
    }
}
