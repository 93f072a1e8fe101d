//! Unpacking a macOS updater artifact (`Name.app.tar.gz`) safely, in one streaming pass.
//!
//! The artifact is signature-verified before it gets here, so a hostile archive needs a compromised release key or a
//! broken bundler; it is still treated as hostile, because a tar file can otherwise write anywhere the user can. Every
//! entry must be `Name.app/…` (one bundle; the `Name.app` component is stripped, as Tauri does) and is refused, with
//! the whole install, when it
//!
//! - has an absolute path, a `..` component, or any component other than a plain name;
//! - is a hard link, a device, a FIFO, a sparse or an unknown kind of entry (only files, directories and symlinks);
//! - is a symlink whose target is absolute or leads out of the bundle (lexically, and again physically once every
//!   entry is on disk, so that chains of symlinks cannot escape either);
//! - would be written *through* a symlink of the archive (the file must be where its path says), or twice;
//! - is one too many ([`Limits::max_entries`]), or makes the unpacked size exceed [`Limits::max_bytes`] (a gzip
//!   bomb);
//! - or when the archive is truncated or corrupt: every file must have all its bytes, and the gzip trailer (CRC-32 and
//!   length of the whole stream) is checked after the last entry, so a cut-off download cannot pass for a smaller
//!   bundle.
//!
//! Files keep their permission bits (`0o777`; set-id and sticky bits are dropped), directories too (applied last, so
//! a read-only directory can still be filled). Symlinks inside the bundle (`Frameworks/X.framework/Versions/Current
//! -> A`) are kept as symlinks. Owners and times are not restored: the files belong to the user installing them.
//! Everything unpacked is flushed to disk at the end ([`sync_tree`]), so a swap that follows never exposes a bundle
//! whose data is still in the page cache only.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// Caps on what one archive may unpack to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Entries (files, directories, symlinks). A big app bundle has a few thousand.
    pub(crate) max_entries: usize,
    /// Bytes of file content.
    pub(crate) max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_entries: 50_000, max_bytes: 8 << 30 }
    }
}

/// What was unpacked.
#[derive(Debug)]
pub(crate) struct Unpacked {
    /// The archive's bundle name (`Name.app`).
    pub(crate) bundle_name: String,
    pub(crate) entries: usize,
}

/// Unpacks the bundle whose `.app.tar.gz` bytes `input` delivers (`archive` names the file in errors) into `dest`,
/// an existing empty directory, without its `Name.app` component. On error `dest` may hold part of the bundle: the
/// caller deletes it.
pub(crate) fn unpack_app_from(input: impl Read, archive: &Path, dest: &Path, limits: Limits) -> Result<Unpacked> {
    let gz = flate2::read::GzDecoder::new(BufReader::with_capacity(256 * 1024, input));
    let mut tar = tar::Archive::new(gz);
    let refuse = |entry: &str, reason: String| Error::UnsafeArchive {
        archive: archive.to_owned(),
        entry: entry.to_owned(),
        reason,
    };
    let corrupt = |e: std::io::Error| refuse("", format!("the archive is truncated or corrupt ({e})"));

    let mut state = State { bundle: None, symlinks: HashSet::new(), dirs: Vec::new(), entries: 0, bytes: 0 };
    let mut links: Vec<(PathBuf, PathBuf, String)> = Vec::new();
    for entry in tar.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        state.entries += 1;
        if state.entries > limits.max_entries {
            return Err(refuse(&shown, format!("is one entry too many (at most {} are unpacked)", limits.max_entries)));
        }
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            continue;
        }
        let path = entry.path().map_err(corrupt)?.into_owned();
        let Some(relative) = state.inside(&path).map_err(|reason| refuse(&shown, reason))? else {
            // The bundle directory itself.
            if kind.is_dir() {
                let mode = entry.header().mode().map_err(corrupt)?;
                state.dirs.push((dest.to_owned(), mode & 0o777));
                continue;
            }
            return Err(refuse(&shown, "is not inside the app bundle".into()));
        };
        let target = dest.join(&relative);
        state.not_through_symlink(&relative).map_err(|reason| refuse(&shown, reason))?;
        create_parents(dest, &relative)?;
        let mode = entry.header().mode().map_err(corrupt)? & 0o777;
        if kind.is_file() {
            let size = entry.header().size().map_err(corrupt)?;
            state.bytes = state.bytes.saturating_add(size);
            if state.bytes > limits.max_bytes {
                return Err(refuse(&shown, format!("makes the bundle larger than {} bytes", limits.max_bytes)));
            }
            write_file(&mut entry, &target, size, mode).map_err(|e| match e {
                WriteError::Io(e) => Error::io("unpack", &target, e),
                WriteError::Exists => refuse(&shown, "appears twice in the archive".into()),
                WriteError::Short(got) => {
                    refuse(&shown, format!("has {got} of its {size} bytes: the archive is truncated"))
                }
                WriteError::Read(e) => corrupt(e),
            })?;
        } else if kind.is_dir() {
            match std::fs::create_dir(&target) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && target.is_dir() => {}
                Err(e) => return Err(Error::io("unpack", &target, e)),
            }
            state.dirs.push((target, mode));
        } else if kind.is_symlink() {
            let link =
                entry.link_name().map_err(corrupt)?.ok_or_else(|| refuse(&shown, "is a symlink to nothing".into()))?;
            let link = link.into_owned();
            check_symlink_target(&relative, &link).map_err(|reason| refuse(&shown, reason))?;
            symlink(&link, &target).map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => refuse(&shown, "appears twice in the archive".into()),
                _ => Error::io("unpack", &target, e),
            })?;
            state.symlinks.insert(fold(&relative));
            links.push((target, link, shown));
        } else if kind.is_hard_link() {
            return Err(refuse(&shown, "is a hard link (refused: it can alias a file outside the bundle)".into()));
        } else if kind.is_character_special() || kind.is_block_special() || kind.is_fifo() {
            return Err(refuse(&shown, "is a device or FIFO".into()));
        } else {
            return Err(refuse(&shown, format!("is an entry of a kind an app bundle does not hold ({kind:?})")));
        }
    }
    // The gzip trailer (CRC-32 and size of everything) is only read once the stream is drained past the tar's end.
    let mut rest = tar.into_inner();
    std::io::copy(&mut rest, &mut std::io::sink()).map_err(corrupt)?;

    // Physically, too: a symlink whose target (through other symlinks) resolves must resolve inside the bundle.
    let root = dest.canonicalize().map_err(|e| Error::io("read", dest, e))?;
    for (path, link, shown) in &links {
        if let Ok(resolved) = path.canonicalize()
            && !resolved.starts_with(&root)
        {
            return Err(refuse(
                shown,
                format!("is a symlink to `{}`, which resolves outside the bundle", link.display()),
            ));
        }
    }
    let Some(bundle_name) = state.bundle.take() else {
        return Err(refuse("", "the archive is empty".into()));
    };
    let plist = dest.join("Contents").join("Info.plist");
    if !std::fs::symlink_metadata(&plist).is_ok_and(|m| m.is_file()) {
        return Err(refuse(
            &format!("{bundle_name}/Contents/Info.plist"),
            "is missing: this is not an app bundle".into(),
        ));
    }
    // Deepest first, so that making a directory read-only never blocks the ones below it.
    state.dirs.sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
    for (dir, mode) in &state.dirs {
        set_dir_mode(dir, *mode)?;
    }
    sync_tree(dest)?;
    Ok(Unpacked { bundle_name, entries: state.entries })
}

struct State {
    bundle: Option<String>,
    /// Symlinks unpacked so far, case-folded (macOS volumes are usually case-insensitive).
    symlinks: HashSet<String>,
    dirs: Vec<(PathBuf, u32)>,
    entries: usize,
    bytes: u64,
}

impl State {
    /// The entry's path inside the bundle (`None`: the bundle directory itself), or why it is refused.
    fn inside(&mut self, path: &Path) -> std::result::Result<Option<PathBuf>, String> {
        let mut parts = Vec::new();
        for component in path.components() {
            match component {
                Component::Normal(name) => parts.push(name),
                Component::CurDir => {}
                Component::ParentDir => return Err("has a `..` component".into()),
                Component::RootDir | Component::Prefix(_) => return Err("has an absolute path".into()),
            }
        }
        let Some((first, rest)) = parts.split_first() else { return Err("has an empty path".into()) };
        let first = first.to_string_lossy();
        if !first.ends_with(".app") {
            return Err("is not inside a `.app` directory".into());
        }
        match &self.bundle {
            Some(bundle) if *bundle != first => return Err(format!("is outside `{bundle}`: one bundle per archive")),
            Some(_) => {}
            None => self.bundle = Some(first.into_owned()),
        }
        Ok(if rest.is_empty() { None } else { Some(rest.iter().collect()) })
    }

    fn not_through_symlink(&self, relative: &Path) -> std::result::Result<(), String> {
        let mut prefix = PathBuf::new();
        let count = relative.components().count();
        for (i, c) in relative.components().enumerate() {
            prefix.push(c);
            if i + 1 < count && self.symlinks.contains(&fold(&prefix)) {
                return Err(format!("would be written through the symlink `{}`", prefix.display()));
            }
        }
        Ok(())
    }
}

fn fold(path: &Path) -> String {
    path.to_string_lossy().to_lowercase()
}

/// A symlink at `relative` (inside the bundle) may point at `target`: relative, and not above the bundle.
pub(crate) fn check_symlink_target(relative: &Path, target: &Path) -> std::result::Result<(), String> {
    if target.as_os_str().is_empty() {
        return Err("is a symlink to nothing".into());
    }
    // Depth of the directory holding the link, then walk the target.
    let mut depth = relative.components().count() as i64 - 1;
    for component in target.components() {
        match component {
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::ParentDir => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!("is a symlink to `{}`, outside the bundle", target.display()));
                }
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!("is a symlink to the absolute path `{}`", target.display()));
            }
        }
    }
    Ok(())
}

/// Creates the directories above `relative` that the archive did not list (`0755`, changed if listed later).
fn create_parents(dest: &Path, relative: &Path) -> Result<()> {
    if let Some(parent) = relative.parent()
        && !parent.as_os_str().is_empty()
    {
        let dir = dest.join(parent);
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("unpack", &dir, e))?;
    }
    Ok(())
}

enum WriteError {
    /// Writing the file failed (disk full, permissions).
    Io(std::io::Error),
    /// Reading the archive failed (corrupt or cut-off compressed stream).
    Read(std::io::Error),
    Exists,
    Short(u64),
}

fn write_file(entry: &mut impl Read, target: &Path, size: u64, mode: u32) -> std::result::Result<(), WriteError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options.open(target).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => WriteError::Exists,
        _ => WriteError::Io(e),
    })?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut copied = 0u64;
    while copied < size {
        let want = buf.len().min(usize::try_from(size - copied).unwrap_or(usize::MAX));
        let n = match entry.read(&mut buf[..want]) {
            Ok(0) => return Err(WriteError::Short(copied)),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(WriteError::Read(e)),
        };
        out.write_all(&buf[..n]).map_err(WriteError::Io)?;
        copied += n as u64;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        out.set_permissions(std::fs::Permissions::from_mode(mode)).map_err(WriteError::Io)?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    Ok(())
}

/// Makes everything unpacked under `dest` durable before it is swapped in: an fsync of every file and directory.
/// (Not per file while unpacking: an archive refused half-way should not cost thousands of fsyncs. Not `syncfs`,
/// which would also wait for every other program's writes to the volume.)
fn sync_tree(dest: &Path) -> Result<()> {
    fn walk(dir: &Path) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                walk(&entry.path())?;
            } else if kind.is_file() {
                File::open(entry.path())?.sync_all()?;
            }
        }
        File::open(dir)?.sync_all()
    }
    walk(dest).map_err(|e| Error::io("flush to disk", dest, e))
}

#[cfg(unix)]
fn symlink(link: &Path, at: &Path) -> std::io::Result<()> {
    std::os::unix::fs::symlink(link, at)
}

#[cfg(not(unix))]
fn symlink(_link: &Path, _at: &Path) -> std::io::Result<()> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "app bundles are unpacked on Unix only"))
}

fn set_dir_mode(dir: &Path, mode: u32) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // A directory the user could not enter or fill would make the bundle impossible to update or delete.
        let mode = mode | 0o700;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
            .map_err(|e| Error::io("set the permissions of", dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = (dir, mode);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlink_targets_stay_inside_the_bundle() {
        let ok = |at: &str, to: &str| check_symlink_target(Path::new(at), Path::new(to));
        assert!(ok("Contents/Frameworks/X.framework/Versions/Current", "A").is_ok());
        assert!(ok("Contents/Frameworks/X.framework/X", "Versions/Current/X").is_ok());
        assert!(ok("Contents/Resources/link", "../MacOS/app").is_ok());
        assert!(ok("Contents/link", "..").is_ok(), "the bundle root itself");
        assert!(ok("Contents/link", "../..").unwrap_err().contains("outside the bundle"));
        assert!(ok("link", "../x").unwrap_err().contains("outside the bundle"));
        assert!(ok("Contents/a/link", "b/../../../../x").unwrap_err().contains("outside"));
        assert!(ok("Contents/a/link", "b/../../../x").is_ok(), "`x` at the bundle root");
        assert!(ok("Contents/link", "/etc/passwd").unwrap_err().contains("absolute"));
        assert!(ok("Contents/link", "").is_err());
    }
}
