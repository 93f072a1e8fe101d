//! Putting a verified update in place, and starting it.
//!
//! What an update replaces depends on how the app was installed ([`InstallKind`]):
//!
//! - a plain executable, or an AppImage (the file `$APPIMAGE` names): replaced by an atomic rename, keeping its
//!   permission bits, after hard-linking (or copying) the current file to `<path>.previous` for rollback;
//! - a `.deb` or `.rpm` install: the verified package is installed by `dpkg -i` / `rpm -U` (through `pkexec` when not
//!   root), whose output ends up in the error if it fails;
//! - a macOS `.app` bundle: the `Name.app.tar.gz` is unpacked safely beside it and the two directories are exchanged
//!   atomically, the old one kept for rollback (`app_bundle`, `archive`);
//! - a Windows plain executable: the same steps as below, except that the running `.exe` is renamed aside instead of
//!   being replaced (`exe_aside`);
//! - a Windows NSIS or MSI install: the verified installer is run over the app with `/UPDATE` or `msiexec /i`
//!   (`windows_installer`), and the app exits so the installer can replace its files; the installer relaunches it.
//!
//! **Exactly the verified bytes.** The verified file lies where the app's user (and so any program of that user) can
//! write, from its verification until it is installed, which for a package includes the whole time a password prompt
//! is open. So the install never trusts the file's earlier verdict: it reads the file once more and checks those very
//! bytes again (signature or signed metadata, then platform) in the same pass that copies them into place (for a
//! `.app`, in the same pass that unpacks them), or, for a package, hashes them (SHA-256). A package is installed by a
//! root side (`/bin/sh`, through `pkexec`) that copies the file into a directory only root can enter, checks that the
//! copy has that size and hash (passed as arguments, so the file cannot change them), and only then runs the tool on
//! the copy. A file changed at any moment is refused ([`Error::ChangedAfterVerification`]);
//! `Updater::verify_local_file`'s files get the same treatment. (Windows installers are started on the verified file
//! as it is: see `windows_installer` for what that leaves open.)
//!
//! The strategy follows the install's *bundle type*, not the OS the code runs on: every strategy except the few
//! system calls of the `linux` and `windows` modules is ordinary code, compiled and tested on Linux. Replacing an
//! executable on Linux, in order:
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

#[cfg(unix)]
mod app_admin;
#[cfg(unix)]
mod app_bundle;
#[cfg(unix)]
mod archive;
mod exe_aside;
#[cfg(target_os = "linux")]
mod linux;
pub(crate) mod on_exit;
#[cfg(target_os = "linux")]
use linux as platform;
#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as platform;
mod windows_installer;

#[cfg(not(any(target_os = "linux", windows)))]
mod unsupported;
#[cfg(not(any(target_os = "linux", windows)))]
use unsupported as platform;

pub use windows_installer::{InstallScope, InstallerCommand, InstallerUi};

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
    /// A macOS `.app` bundle: this directory (`…/Name.app`) is replaced by the update's `Name.app.tar.gz`.
    App { path: PathBuf },
    /// Installed by an NSIS `-setup.exe` (Windows): an update runs the new installer with `/UPDATE`.
    Nsis { ui: InstallerUi, scope: InstallScope },
    /// Installed from an `.msi` (Windows): an update runs `msiexec /i` on the new package (a major upgrade), then
    /// starts `relaunch` (the app's executable; default: the running one).
    Msi { ui: InstallerUi, scope: InstallScope, relaunch: Option<PathBuf> },
}

impl InstallKind {
    /// `bundle`: what the app said (`Some(None)` = plain binary), `None` = detect (`$APPIMAGE`, else plain binary).
    pub(crate) fn detect(
        bundle: Option<Option<BundleType>>,
        executable: Option<PathBuf>,
        (ui, scope): (InstallerUi, InstallScope),
    ) -> Result<Self> {
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
            Some(Some(BundleType::App)) => {
                let given = exe(executable)?;
                let path = app_bundle_of(&given).ok_or_else(|| Error::InvalidConfig {
                    reason: format!(
                        "`{}` is not inside a `.app` bundle; pass the bundle with `executable(…)`",
                        given.display()
                    ),
                })?;
                InstallKind::App { path }
            }
            Some(Some(BundleType::Deb)) => InstallKind::Deb,
            Some(Some(BundleType::Rpm)) => InstallKind::Rpm,
            Some(Some(BundleType::Nsis)) => InstallKind::Nsis { ui, scope },
            Some(Some(BundleType::Msi)) => InstallKind::Msi { ui, scope, relaunch: executable },
        })
    }

    /// The bundle type sent as `{{bundle_type}}` (`None` for a plain executable).
    pub fn bundle_type(&self) -> Option<BundleType> {
        match self {
            InstallKind::Executable { .. } => None,
            InstallKind::AppImage { .. } => Some(BundleType::AppImage),
            InstallKind::App { .. } => Some(BundleType::App),
            InstallKind::Deb => Some(BundleType::Deb),
            InstallKind::Rpm => Some(BundleType::Rpm),
            InstallKind::Nsis { .. } => Some(BundleType::Nsis),
            InstallKind::Msi { .. } => Some(BundleType::Msi),
        }
    }

    /// The file (or `.app` directory) an update replaces in place, if it is one.
    pub fn replaced_path(&self) -> Option<&Path> {
        match self {
            InstallKind::Executable { path } | InstallKind::AppImage { path } | InstallKind::App { path } => Some(path),
            _ => None,
        }
    }
}

/// Installs a verified `.app` download with an administrator's rights (`app_admin.rs`).
pub(crate) fn install_as_admin(inner: &Inner, update: &DownloadedUpdate) -> Result<()> {
    let result = match &inner.install {
        #[cfg(unix)]
        InstallKind::App { path } => app_admin::install(inner, path, update),
        _ => {
            Err(Error::Unsupported { what: "installing with administrator rights, other than a macOS `.app`,".into() })
        }
    };
    discard_download(update, result)
}

/// Installs a verified download (see the module docs).
pub(crate) fn install(inner: &Inner, update: &DownloadedUpdate) -> Result<()> {
    let result = match &inner.install {
        InstallKind::Executable { path } | InstallKind::AppImage { path } => {
            platform::replace_executable(inner, path, update)
        }
        #[cfg(unix)]
        InstallKind::App { path } => app_bundle::install(inner, path, update),
        #[cfg(not(unix))]
        InstallKind::App { .. } => Err(Error::Unsupported { what: "`app` updates".into() }),
        InstallKind::Deb => install_package(inner, update, &PackageTool::DPKG),
        InstallKind::Rpm => install_package(inner, update, &PackageTool::RPM),
        InstallKind::Nsis { .. } | InstallKind::Msi { .. } => run_windows_installer(inner, update),
    };
    discard_download(update, result)
}

/// Deletes the downloaded file once installed; a download that changed is not kept for another try either.
fn discard_download(update: &DownloadedUpdate, result: Result<()>) -> Result<()> {
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
    #[cfg(unix)]
    if let InstallKind::App { path } = kind {
        return app_bundle::relaunch(path);
    }
    platform::relaunch(kind)
}

/// Copies the installer into the state directory while checking its bytes once more, then starts that copy.
fn run_windows_installer(inner: &Inner, update: &DownloadedUpdate) -> Result<()> {
    let ext = if matches!(inner.install, InstallKind::Msi { .. }) { "msi" } else { "exe" };
    let copy = inner.state.downloads()?.join(format!("installer-{}.{ext}", update.version()));
    let staged = crate::fs::stage_beside_with(&copy, None, |out, path| {
        recheck(inner, update, |chunk| std::io::Write::write_all(out, chunk).map_err(|e| Error::io("write", path, e)))
    })?;
    crate::fs::persist(staged, &copy)?;
    platform::run_installer(&installer_command(&inner.install, &copy)?)
}

/// The command line that installs the verified installer at `installer` over this app (NSIS and MSI installs).
pub(crate) fn installer_command(kind: &InstallKind, installer: &Path) -> Result<InstallerCommand> {
    Ok(match kind {
        InstallKind::Nsis { ui, scope } => windows_installer::nsis_command(installer, *ui, *scope, true),
        InstallKind::Msi { ui, scope, relaunch } => {
            let exe = match relaunch {
                Some(path) => path.clone(),
                None => std::env::current_exe().map_err(|e| Error::io("find the running executable", "", e))?,
            };
            windows_installer::msi_command(installer, *ui, *scope, Some(&exe))
        }
        _ => return Err(Error::Unsupported { what: "an installer command for this kind of install".into() }),
    })
}

/// Start-up housekeeping of an install (called by [`crate::Updater::startup`]): on Windows, repairs a rename-aside
/// swap that was interrupted and deletes leftovers (see [`exe_aside`]).
pub(crate) fn at_startup(kind: &InstallKind) {
    #[cfg(windows)]
    if let InstallKind::Executable { path } = kind {
        exe_aside::cleanup_at_start(path, &crate::rollback::previous_path(path));
    }
    #[cfg(not(windows))]
    let _ = kind;
}

/// The `.app` directory `path` is or is inside of.
fn app_bundle_of(path: &Path) -> Option<PathBuf> {
    path.ancestors().find(|a| a.extension().is_some_and(|e| e == "app")).map(Path::to_owned)
}

/// Puts the previous version kept at `previous` back at `target` (rollback): a directory (a `.app`) is swapped back
/// atomically, a file is linked over.
pub(crate) fn restore_previous(previous: &Path, target: &Path) -> Result<()> {
    #[cfg(unix)]
    if std::fs::symlink_metadata(previous).is_ok_and(|m| m.is_dir()) {
        return app_bundle::swap(previous, target);
    }
    if !previous.is_file() {
        return Err(Error::NoPreviousVersion { path: previous.to_owned() });
    }
    crate::fs::remove_stale_temps(target);
    crate::fs::link_or_copy(previous, target)
}
