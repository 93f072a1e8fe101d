//! macOS `.app` bundles: unpack the verified `Name.app.tar.gz` beside the installed bundle, then swap the two
//! directories in one atomic rename.
//!
//! Ordinary Unix code: it runs (and is tested) on Linux exactly as on macOS; only relaunching (`open -n`) and reading
//! the mount table differ, behind `cfg`.
//!
//! # Algorithm
//!
//! 1. Refuse, with what to do, a bundle that cannot be updated in place ([`preflight`]): one running under App
//!    Translocation (macOS runs a quarantined app opened from its download folder from a random read-only path), one
//!    on a read-only volume (opened straight from the `.dmg`), one in a directory this user cannot write (an admin
//!    install in `/Applications`).
//! 2. Unpack the archive into `.<Name>.app.millennium-<random>` *in the bundle's own directory* (so on the same volume,
//!    which is what makes the renames below atomic), refusing every entry that could escape ([`super::archive`]).
//!    Nothing of the installed bundle is touched so far; on any error the directory is deleted.
//! 3. Replace `<Name>.app.previous` (the bundle an earlier update replaced) by the unpacked bundle, with one rename.
//! 4. Write the rollback record (see [`crate::rollback`]).
//! 5. Exchange `<Name>.app.previous` and `<Name>.app` atomically (`renameat2(RENAME_EXCHANGE)` on Linux,
//!    `renamex_np(RENAME_SWAP)` on macOS): the bundle path now holds the new bundle and `.previous` the old one, kept
//!    for rollback. Then fsync the directory.
//!
//! A `kill -9` or power loss at any point leaves `<Name>.app` the complete old bundle (before step 5) or the complete
//! new one (after it); there is no moment without a bundle. A rollback record written in step 4 for a swap that never
//! happened is dropped at the next start (the running version is still the old one). Leftover unpacking directories
//! are deleted by the next install. Rolling back is the same exchange the other way ([`swap`]).
//!
//! File systems without an atomic exchange (some network volumes) get two renames instead, the old bundle moved aside
//! first and moved back if the second rename fails; only there a crash between the two leaves the bundle at
//! `.previous`, from where the next start's rollback bookkeeping cannot bring it back by itself.

use std::path::{Component, Path, PathBuf};

use crate::download::DownloadedUpdate;
use crate::error::{Error, Result};
use crate::install::archive;
use crate::updater::Inner;
use crate::{fs, rollback};

/// Steps 1–5 of the module docs.
pub(crate) fn install(inner: &Inner, bundle: &Path, update: &DownloadedUpdate) -> Result<()> {
    let mounts = current_mounts();
    preflight(bundle, mounts.as_deref(), read_only_by_statvfs(bundle), writable(fs::parent_dir(bundle)))?;
    let parent = fs::parent_dir(bundle);
    remove_stale_unpacks(bundle);

    let staging = parent.join(format!(".{}.millennium-{}", file_name(bundle), fs::random_suffix()));
    if let Err(e) = std::fs::create_dir(&staging) {
        if e.kind() == std::io::ErrorKind::PermissionDenied {
            return Err(unwritable(bundle, parent));
        }
        return Err(Error::io("create the directory", &staging, e));
    }
    let guard = RemoveOnDrop(Some(staging.clone()));
    let unpacked = unpack_checked(inner, update, &staging)?;
    if unpacked.bundle_name != file_name(bundle) {
        tracing::info!(archive = %unpacked.bundle_name, installed = %bundle.display(), "the bundle was renamed; keeping the installed name");
    }

    let previous = rollback::previous_path(bundle);
    remove_any(&previous)?;
    std::fs::rename(&staging, &previous).map_err(|e| Error::io("move the unpacked update to", &previous, e))?;
    std::mem::forget(guard);
    rollback::record_pending(inner, bundle, &previous, update.version())?;
    swap(&previous, bundle)?;
    tracing::info!(path = %bundle.display(), version = %update.version(), entries = unpacked.entries, "update installed");
    Ok(())
}

/// Unpacks the archive while checking its bytes once more (see "Exactly the verified bytes" in [`crate::install`]):
/// a checker thread reads the file and verifies each chunk before handing it, through a bounded channel, to the
/// unpacker. Whatever the unpacker made of the bytes, nothing is swapped in unless the check passed over all of them.
pub(super) fn unpack_checked(inner: &Inner, update: &DownloadedUpdate, staging: &Path) -> Result<archive::Unpacked> {
    let (sender, receiver) = std::sync::mpsc::sync_channel::<Vec<u8>>(16);
    std::thread::scope(|scope| {
        let checker = scope.spawn(move || {
            super::recheck(inner, update, |chunk| {
                sender.send(chunk.to_vec()).map_err(|_| Error::Io {
                    action: "unpack",
                    path: update.path().to_owned(),
                    source: std::io::Error::other("the unpacker stopped"),
                })
            })
        });
        let unpacked =
            archive::unpack_app_from(ChannelReader::new(receiver), update.path(), staging, archive::Limits::default());
        let checked = checker.join().unwrap_or_else(|_| {
            Err(Error::Io {
                action: "check",
                path: update.path().to_owned(),
                source: std::io::Error::other("the checker panicked"),
            })
        });
        match (checked, unpacked) {
            (Err(changed), _) if matches!(changed, Error::ChangedAfterVerification { .. }) => Err(changed),
            // A refusal by the unpacker stops the checker early ("the unpacker stopped"): report the refusal.
            (_, Err(refused)) => Err(refused),
            (Err(e), Ok(_)) => Err(e),
            (Ok(()), Ok(unpacked)) => Ok(unpacked),
        }
    })
}

/// Reads the chunks a channel delivers; the end of the channel is the end of the input.
struct ChannelReader {
    receiver: std::sync::mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl ChannelReader {
    fn new(receiver: std::sync::mpsc::Receiver<Vec<u8>>) -> Self {
        Self { receiver, chunk: Vec::new(), at: 0 }
    }
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.receiver.recv() {
                Ok(chunk) => {
                    self.chunk = chunk;
                    self.at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Exchanges the directories `a` and `b` (same parent) atomically where the file system can, and makes it durable.
pub(crate) fn swap(a: &Path, b: &Path) -> Result<()> {
    match exchange(a, b) {
        Ok(()) => {}
        Err(e) if exchange_unsupported(&e) => {
            tracing::warn!(error = %e, "no atomic exchange on this volume; swapping with two renames");
            let aside = fs::parent_dir(b).join(format!(".{}.millennium-{}", file_name(b), fs::random_suffix()));
            std::fs::rename(b, &aside).map_err(|e| Error::io("move aside", b, e))?;
            if let Err(e) = std::fs::rename(a, b) {
                let _ = std::fs::rename(&aside, b);
                return Err(Error::io("move into place", b, e));
            }
            std::fs::rename(&aside, a).map_err(|e| Error::io("keep the previous version at", a, e))?;
        }
        Err(e) => return Err(Error::io("swap in", b, e)),
    }
    fs::sync_dir(fs::parent_dir(b));
    Ok(())
}

#[cfg(any(target_os = "linux", target_os = "macos"))]
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(std::io::Error::from)
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn exchange(_a: &Path, _b: &Path) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

fn exchange_unsupported(e: &std::io::Error) -> bool {
    // EINVAL: the file system does not support the flag; ENOSYS/ENOTSUP: the kernel or volume does not.
    matches!(e.raw_os_error(), Some(22 | 38 | 45 | 95)) || e.kind() == std::io::ErrorKind::Unsupported
}

pub(super) fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Deletes a file, symlink or directory tree (never following symlinks), ignoring "not found".
pub(crate) fn remove_any(path: &Path) -> Result<()> {
    let result = match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => Err(e),
    };
    result.map_err(|e| Error::io("delete", path, e))
}

/// Deletes the unpacking directories a killed install left beside `bundle`. Best effort.
fn remove_stale_unpacks(bundle: &Path) {
    let prefix = format!(".{}.millennium-", file_name(bundle));
    let Ok(entries) = std::fs::read_dir(fs::parent_dir(bundle)) else { return };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = remove_any(&entry.path());
        }
    }
}

struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = remove_any(&path);
        }
    }
}

// ----- step 1: can this bundle be updated in place? -----

/// One mounted volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mount {
    /// Where it is mounted.
    pub(crate) point: PathBuf,
    /// What is mounted (`/dev/disk4s1`).
    pub(crate) source: String,
    pub(crate) fs_type: String,
    pub(crate) read_only: bool,
}

/// Refuses a bundle that cannot be updated in place, saying what the user can do. `mounts`: the mount table when it
/// could be read; `read_only`: what `statvfs` says of the bundle's volume; `writable`: whether this user may create
/// files beside the bundle.
pub(crate) fn preflight(bundle: &Path, mounts: Option<&[Mount]>, read_only: bool, writable: bool) -> Result<()> {
    let refuse = |reason: String, hint: String| Error::InstallRefused { path: bundle.to_owned(), reason, hint };
    if is_translocated(bundle) {
        return Err(refuse(
            "macOS runs this copy of the app from a temporary read-only location (App Translocation), because it was opened where it was downloaded".into(),
            "move the app into the Applications folder with Finder, open it from there, and update again".into(),
        ));
    }
    let volume = mounts.and_then(|m| volume_of(bundle, m));
    if read_only || volume.is_some_and(|v| v.read_only) {
        let on = volume.map_or_else(String::new, |v| format!(" `{}`", v.point.display()));
        return Err(refuse(
            format!("the app runs from the read-only volume{on} (typically the disk image it was delivered on)"),
            "drag the app into the Applications folder, eject the disk image, open the app from Applications and update again".into(),
        ));
    }
    if !writable {
        return Err(unwritable(bundle, fs::parent_dir(bundle)));
    }
    Ok(())
}

fn unwritable(bundle: &Path, parent: &Path) -> Error {
    Error::NeedsAdministrator { path: bundle.to_owned(), directory: parent.to_owned() }
}

/// Whether `path` is under App Translocation's mount (`/private/var/folders/…/AppTranslocation/<uuid>/d/Name.app`).
pub(crate) fn is_translocated(path: &Path) -> bool {
    path.components().any(|c| matches!(c, Component::Normal(n) if n == "AppTranslocation"))
}

/// The mount `path` is on: the longest mount point above it (the last one mounted, for equal points).
pub(crate) fn volume_of<'m>(path: &Path, mounts: &'m [Mount]) -> Option<&'m Mount> {
    mounts
        .iter()
        .enumerate()
        .filter(|(_, m)| path.starts_with(&m.point))
        .max_by_key(|(i, m)| (m.point.components().count(), *i))
        .map(|(_, m)| m)
}

/// Parses Linux's `/proc/self/mountinfo`.
pub(crate) fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (head, tail) = line.split_once(" - ")?;
            let head: Vec<&str> = head.split(' ').collect();
            let mut tail = tail.split(' ');
            let (fs_type, source, super_options) = (tail.next()?, tail.next()?, tail.next().unwrap_or(""));
            let ro = |options: &str| options.split(',').any(|o| o == "ro");
            Some(Mount {
                point: PathBuf::from(unescape_octal(head.get(4)?)),
                source: unescape_octal(source),
                fs_type: fs_type.to_owned(),
                read_only: ro(head.get(5)?) || ro(super_options),
            })
        })
        .collect()
}

/// `\040` → space, as mountinfo escapes whitespace and backslashes.
fn unescape_octal(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && let Ok(v) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 4]).unwrap_or("x"), 8)
        {
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses the output of macOS's `mount`: `/dev/disk4s1 on /Volumes/Hello App (hfs, local, nodev, nosuid, read-only,
/// noowners, quarantine, mounted by alice)`.
#[cfg_attr(not(target_os = "macos"), allow(dead_code, reason = "read on macOS; unit-tested everywhere"))]
pub(crate) fn parse_macos_mount(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (source, rest) = line.split_once(" on ")?;
            let open = rest.rfind(" (")?;
            let options = rest[open + 2..].strip_suffix(')')?;
            let mut options = options.split(", ");
            let fs_type = options.next()?.to_owned();
            Some(Mount {
                point: PathBuf::from(&rest[..open]),
                source: source.to_owned(),
                fs_type,
                read_only: options.any(|o| o == "read-only" || o == "rdonly"),
            })
        })
        .collect()
}

/// The mount table, when this system exposes one.
fn current_mounts() -> Option<Vec<Mount>> {
    #[cfg(target_os = "linux")]
    return std::fs::read_to_string("/proc/self/mountinfo").ok().map(|t| parse_mountinfo(&t));
    #[cfg(target_os = "macos")]
    return std::process::Command::new("/sbin/mount")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| parse_macos_mount(&String::from_utf8_lossy(&o.stdout)));
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    None
}

#[cfg(unix)]
fn read_only_by_statvfs(bundle: &Path) -> bool {
    use rustix::fs::{StatVfsMountFlags, statvfs};
    statvfs(fs::parent_dir(bundle)).is_ok_and(|s| s.f_flag.contains(StatVfsMountFlags::RDONLY))
}

#[cfg(not(unix))]
fn read_only_by_statvfs(_bundle: &Path) -> bool {
    false
}

#[cfg(unix)]
fn writable(dir: &Path) -> bool {
    rustix::fs::access(dir, rustix::fs::Access::WRITE_OK).is_ok()
}

#[cfg(not(unix))]
fn writable(_dir: &Path) -> bool {
    true
}

/// Starts the new bundle as a new instance (`open -n`, so Launch Services registers the new version), then exits.
pub(crate) fn relaunch(bundle: &Path) -> Result<std::convert::Infallible> {
    #[cfg(target_os = "macos")]
    {
        let status = std::process::Command::new("/usr/bin/open")
            .arg("-n")
            .arg(bundle)
            .arg("--args")
            .args(std::env::args_os().skip(1))
            .status();
        match status {
            Ok(s) if s.success() => std::process::exit(0),
            Ok(s) => Err(Error::Relaunch {
                path: bundle.to_owned(),
                source: std::io::Error::other(format!("`open -n` {s}")),
            }),
            Err(e) => Err(Error::Relaunch { path: bundle.to_owned(), source: e }),
        }
    }
    #[cfg(not(target_os = "macos"))]
    {
        let _ = bundle;
        Err(Error::Unsupported { what: "relaunching a macOS app bundle on this system".into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(point: &str, ro: bool) -> Mount {
        Mount { point: point.into(), source: "dev".into(), fs_type: "apfs".into(), read_only: ro }
    }

    #[test]
    fn translocated_paths_are_recognised() {
        let p = Path::new(
            "/private/var/folders/xy/abc123/T/AppTranslocation/5E6A8C4B-1F2D-4E3A-9B7C-0D1E2F3A4B5C/d/Hello.app",
        );
        assert!(is_translocated(p));
        let e = preflight(p, None, false, true).unwrap_err().to_string();
        assert!(
            e.contains("App Translocation") && e.contains("hint: move the app into the Applications folder"),
            "{e}"
        );
        assert!(!is_translocated(Path::new("/Applications/Hello.app")));
        assert!(!is_translocated(Path::new("/Applications/MyAppTranslocationTool.app")));
    }

    #[test]
    fn a_bundle_on_a_read_only_disk_image_is_refused_with_what_to_do() {
        let mounts = parse_macos_mount(
            "/dev/disk3s1s1 on / (apfs, sealed, local, read-only, journaled)\n\
             /dev/disk3s5 on /System/Volumes/Data (apfs, local, journaled, nobrowse, protect)\n\
             /dev/disk4s1 on /Volumes/Hello App (hfs, local, nodev, nosuid, read-only, noowners, quarantine, mounted by alice)\n",
        );
        assert_eq!(mounts.len(), 3);
        assert_eq!(mounts[2].point, Path::new("/Volumes/Hello App"));
        assert_eq!(mounts[2].fs_type, "hfs");
        assert!(mounts[2].read_only && mounts[0].read_only && !mounts[1].read_only);
        let e = preflight(Path::new("/Volumes/Hello App/Hello App.app"), Some(&mounts), false, true).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("read-only volume `/Volumes/Hello App`") && text.contains("hint: drag the app"),
            "{text}"
        );
        // The Data volume (where /Applications really lives) is writable.
        let data = Path::new("/System/Volumes/Data/Applications/Hello.app");
        assert!(preflight(data, Some(&mounts), false, true).is_ok());
        // statvfs alone is enough when the mount table cannot be read.
        assert!(preflight(Path::new("/x/Hello.app"), None, true, true).is_err());
    }

    #[test]
    fn the_innermost_and_latest_mount_decides() {
        let mounts = [mount("/", false), mount("/Volumes/X", true), mount("/Volumes/X", false), mount("/Vol", true)];
        assert_eq!(volume_of(Path::new("/Volumes/X/a.app"), &mounts), Some(&mounts[2]));
        assert_eq!(volume_of(Path::new("/Volumes/Xa/a.app"), &mounts), Some(&mounts[0]));
    }

    #[test]
    fn linux_mountinfo_is_parsed() {
        let mounts = parse_mountinfo(
            "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n\
             40 22 7:0 / /media/alice/Hello\\040App ro,nosuid,nodev shared:2 - iso9660 /dev/loop0 ro\n\
             41 22 0:40 / /mnt/ro rw,relatime - tmpfs tmpfs ro,size=64k\n",
        );
        assert_eq!(mounts.len(), 3);
        assert_eq!(mounts[1].point, Path::new("/media/alice/Hello App"));
        assert!(!mounts[0].read_only && mounts[1].read_only && mounts[2].read_only);
        assert!(preflight(Path::new("/media/alice/Hello App/Hello.app"), Some(&mounts), false, true).is_err());
        assert!(preflight(Path::new("/home/alice/Applications/Hello.app"), Some(&mounts), false, true).is_ok());
    }

    #[test]
    fn an_unwritable_directory_is_refused_with_the_admin_path() {
        let e = preflight(Path::new("/Applications/Hello.app"), Some(&[mount("/", false)]), false, false).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("cannot write to `/Applications`") && text.contains("administrator"), "{text}");
    }
}
