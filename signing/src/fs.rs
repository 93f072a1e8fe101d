//! Atomic file writes: a reader never sees a half-written key or signature, and a failure leaves nothing behind.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// How [`write_atomic`] treats an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    Allow,
    Refuse,
}

/// Writes `contents` to a temporary file in `path`'s directory, fsyncs it, sets `mode` (Unix permissions) and renames it
/// over `path`. With [`Overwrite::Refuse`] an existing `path` is an error, checked atomically by the rename.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32, overwrite: Overwrite) -> Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let io = |action, e| Error::io(action, path, e);
    // The temp file is created 0600, so a secret key is never readable by others, even briefly.
    let mut file = tempfile::Builder::new()
        .prefix(".millennium-sign")
        .tempfile_in(dir)
        .map_err(|e| Error::io("create a temporary file in", dir, e))?;
    file.write_all(contents).map_err(|e| io("write", e))?;
    set_mode(file.as_file(), mode).map_err(|e| io("set permissions of", e))?;
    file.as_file().sync_all().map_err(|e| io("write", e))?;
    match overwrite {
        Overwrite::Allow => file.persist(path).map(drop).map_err(|e| io("write", e.error)),
        Overwrite::Refuse => file.persist_noclobber(path).map(drop).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                Error::AlreadyExists { path: path.to_owned() }
            } else {
                io("write", e.error)
            }
        }),
    }?;
    sync_dir(dir);
    Ok(())
}

#[cfg(unix)]
fn set_mode(file: &std::fs::File, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_file: &std::fs::File, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

/// Makes renames in `dir` durable. Best effort: not every platform can open a directory.
pub fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}
