//! Putting a verified update in place, and starting it.
//!
//! What an update replaces depends on how the app was installed ([`InstallKind`]):
//!
//! - a plain executable, or an AppImage (the file `$APPIMAGE` names): replaced by an atomic rename, keeping its
//!   permission bits, after hard-linking (or copying) the current file to `<path>.previous` for rollback;
//! - a `.deb` or `.rpm` install: the verified package is installed by `dpkg -i` / `rpm -U` (through `pkexec` when not
//!   root), whose output ends up in the error if it fails.
//!
//! **Exactly the verified bytes.** The verified file lies where the app's user (and so any program of that user) can
//! write, from its verification until it is installed, which for a package includes the whole time a password prompt
//! is open. So the install never trusts the file's earlier verdict: it reads the file once more and checks those very
//! bytes again (signature or signed metadata, then platform) in the same pass that copies them into place, or, for a
//! package, hashes them (SHA-256). A package is installed by a root side (`/bin/sh`, through `pkexec`) that copies
//! the file into a directory only root can enter, checks that the copy has that size and hash (passed as arguments,
//! so the file cannot change them), and only then runs the tool on the copy. A file changed at any moment is refused
//! ([`Error::ChangedAfterVerification`]); `Updater::verify_local_file`'s files get the same treatment.
//!
//! The shared algorithm is here; what differs per operating system lives in one module per platform exporting the
//! same functions (`linux` today; `windows` must move the running exe aside before renaming, `macos` swaps the
//! `.app` bundle directory). Replacing an executable, in order:
//!
//! 1. copy the verified file to a temporary file beside the target, checking the bytes copied as above, with the
//!    target's mode, and fsync it;
//! 2. make `<path>.previous` a hard link to (or copy of) the current file, atomically;
//! 3. write the rollback record (atomically; see [`crate::rollback`]);
//! 4. rename the temporary file over the target and fsync the directory.
//!
//! A crash at any point leaves the target complete: old before step 4's rename, new after it. Leftover temporary
//! files (`.<name>.millennium-*`) are removed by the next install. A rollback record written in step 3 for an install
//! whose rename never happened is recognised and dropped at the next start (the running version is still the old one).

use std::path::{Path, PathBuf};

use millennium_update_protocol::BundleType;

use crate::download::DownloadedUpdate;
use crate::env_vars;
use crate::error::{Error, Result};
use crate::updater::Inner;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux as platform;

#[cfg(not(target_os = "linux"))]
mod unsupported;
#[cfg(not(target_os = "linux"))]
use unsupported as platform;

/// How the running app was installed, i.e. what an update replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InstallKind {
    /// A plain executable at this path.
    Executable { path: PathBuf },
    /// An AppImage at this path (`$APPIMAGE`).
    AppImage { path: PathBuf },
    /// Installed from a `.deb` package.
    Deb,
    /// Installed from an `.rpm` package.
    Rpm,
    /// A bundle whose installer is not written yet on this platform (`app`, `msi`, `nsis`).
    Other { bundle: BundleType },
}

impl InstallKind {
    /// `bundle`: what the app said (`Some(None)` = plain binary), `None` = detect (`$APPIMAGE`, else plain binary).
    pub(crate) fn detect(bundle: Option<Option<BundleType>>, executable: Option<PathBuf>) -> Result<Self> {
        let appimage_env = || std::env::var_os(env_vars::APPIMAGE).filter(|p| !p.is_empty()).map(PathBuf::from);
        let exe = |given: Option<PathBuf>| match given {
            Some(p) => Ok(p),
            None => std::env::current_exe().map_err(|e| Error::io("find the running executable", "", e)),
        };
        Ok(match bundle {
            None => match (executable, appimage_env()) {
                (None, Some(appimage)) => InstallKind::AppImage { path: appimage },
                (given, _) => InstallKind::Executable { path: exe(given)? },
            },
            Some(None) => InstallKind::Executable { path: exe(executable)? },
            Some(Some(BundleType::AppImage)) => match executable.or_else(appimage_env) {
                Some(path) => InstallKind::AppImage { path },
                None => {
                    return Err(Error::InvalidConfig {
                        reason: format!("an AppImage install needs `{}` or `executable(…)`", env_vars::APPIMAGE),
                    });
                }
            },
            Some(Some(BundleType::Deb)) => InstallKind::Deb,
            Some(Some(BundleType::Rpm)) => InstallKind::Rpm,
            Some(Some(bundle)) => InstallKind::Other { bundle },
        })
    }

    /// The bundle type sent as `{{bundle_type}}` (`None` for a plain executable).
    pub fn bundle_type(&self) -> Option<BundleType> {
        match self {
            InstallKind::Executable { .. } => None,
            InstallKind::AppImage { .. } => Some(BundleType::AppImage),
            InstallKind::Deb => Some(BundleType::Deb),
            InstallKind::Rpm => Some(BundleType::Rpm),
            InstallKind::Other { bundle } => Some(*bundle),
        }
    }

    /// The file an update replaces in place, if it is one file.
    pub fn replaced_path(&self) -> Option<&Path> {
        match self {
            InstallKind::Executable { path } | InstallKind::AppImage { path } => Some(path),
            _ => None,
        }
    }
}

/// Installs a verified download (see the module docs).
pub(crate) fn install(inner: &Inner, update: &DownloadedUpdate) -> Result<()> {
    let result = match &inner.install {
        InstallKind::Executable { path } | InstallKind::AppImage { path } => {
            platform::replace_executable(inner, path, update)
        }
        InstallKind::Deb => install_package(inner, update, &PackageTool::DPKG),
        InstallKind::Rpm => install_package(inner, update, &PackageTool::RPM),
        InstallKind::Other { bundle } => {
            return Err(Error::Unsupported { what: format!("`{bundle}` updates") });
        }
    };
    // A download that changed is not kept for another try either.
    let changed = matches!(result, Err(Error::ChangedAfterVerification { .. }));
    if update.owned && (result.is_ok() || changed) {
        let _ = std::fs::remove_file(update.path());
    }
    result
}

/// Reads the file to install once more, checking it as it was verified while handing each chunk to `sink` (see the
/// module docs): a failure now means that it changed since.
pub(crate) fn recheck(inner: &Inner, update: &DownloadedUpdate, sink: impl FnMut(&[u8]) -> Result<()>) -> Result<()> {
    crate::verify::check_file(&update.check, &inner.install, update.path(), sink).map_err(|e| match e {
        Error::BadSignature { .. } | Error::Untrusted { .. } | Error::WrongTarget { .. } => {
            Error::ChangedAfterVerification { path: update.path().to_owned(), source: Some(Box::new(e)) }
        }
        other => other,
    })
}

/// A system package tool, and how to install one package with it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PackageTool<'a> {
    pub(crate) program: &'a str,
    /// The arguments before the package.
    pub(crate) args: &'a [&'a str],
    /// The name of the root side's copy of the package.
    pub(crate) copy_name: &'a str,
}

impl PackageTool<'static> {
    pub(crate) const DPKG: Self = Self { program: "dpkg", args: &["-i"], copy_name: "update.deb" };
    pub(crate) const RPM: Self = Self { program: "rpm", args: &["-U"], copy_name: "update.rpm" };
}

/// What the package tool's root side must find: the SHA-256 (hex) and size of the bytes that were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verified {
    pub(crate) sha256: String,
    pub(crate) len: u64,
}

impl Verified {
    #[cfg(test)]
    pub(crate) fn of(bytes: &[u8]) -> Self {
        let mut hash = Hash::default();
        hash.update(bytes);
        hash.finish()
    }
}

/// A [`Verified`] being computed.
#[derive(Default)]
struct Hash {
    sha256: sha2::Sha256,
    len: u64,
}

impl Hash {
    fn update(&mut self, chunk: &[u8]) {
        sha2::Digest::update(&mut self.sha256, chunk);
        self.len += chunk.len() as u64;
    }

    fn finish(self) -> Verified {
        let digest = sha2::Digest::finalize(self.sha256);
        Verified { sha256: digest.iter().map(|b| format!("{b:02x}")).collect(), len: self.len }
    }
}

/// Checks the package once more while hashing it, then has the tool's root side install its own copy of those bytes.
fn install_package(inner: &Inner, update: &DownloadedUpdate, tool: &PackageTool<'_>) -> Result<()> {
    let mut hash = Hash::default();
    recheck(inner, update, |chunk| {
        hash.update(chunk);
        Ok(())
    })?;
    platform::install_package(tool, update.path(), &hash.finish())
}

/// Replaces this process with the installed app, same arguments.
pub(crate) fn relaunch(kind: &InstallKind) -> Result<std::convert::Infallible> {
    platform::relaunch(kind)
}
