//! Putting a verified update in place, and starting it.
//!
//! What an update replaces depends on how the app was installed ([`InstallKind`]):
//!
//! - a plain executable, or an AppImage (the file `$APPIMAGE` names): replaced by an atomic rename, keeping its
//!   permission bits, after hard-linking (or copying) the current file to `<path>.previous` for rollback;
//! - a `.deb` or `.rpm` install: the verified package is handed to `dpkg -i` / `rpm -U` (through `pkexec` when not
//!   root), whose output ends up in the error if it fails;
//! - a macOS `.app` bundle: the `Name.app.tar.gz` is unpacked safely beside it and the two directories are exchanged
//!   atomically, the old one kept for rollback (`app_bundle`, `archive`);
//! - a Windows plain executable: the same steps as below, except that the running `.exe` is renamed aside instead of
//!   being replaced (`exe_aside`);
//! - a Windows NSIS or MSI install: the verified installer is run over the app with `/UPDATE` or `msiexec /i`
//!   (`windows_installer`), and the app exits so the installer can replace its files; the installer relaunches it.
//!
//! The strategy follows the install's *bundle type*, not the OS the code runs on: every strategy except the few
//! system calls of the `linux` and `windows` modules is ordinary code, compiled and tested on Linux. Replacing an
//! executable on Linux, in order:
//!
//! 1. copy the verified file to a temporary file beside the target, with the target's mode, and fsync it;
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
mod app_bundle;
#[cfg(unix)]
mod archive;
mod exe_aside;
pub(crate) mod on_exit;
#[cfg(target_os = "linux")]
mod linux;
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
    /// Installed from an `.msi` (Windows): an update runs `msiexec /i` on the new package (a major upgrade).
    Msi { ui: InstallerUi, scope: InstallScope },
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
                    reason: format!("`{}` is not inside a `.app` bundle; pass the bundle with `executable(…)`", given.display()),
                })?;
                InstallKind::App { path }
            }
            Some(Some(BundleType::Deb)) => InstallKind::Deb,
            Some(Some(BundleType::Rpm)) => InstallKind::Rpm,
            Some(Some(BundleType::Nsis)) => InstallKind::Nsis { ui, scope },
            Some(Some(BundleType::Msi)) => InstallKind::Msi { ui, scope },
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

/// Installs a verified download (see the module docs).
pub(crate) fn install(inner: &Inner, update: &DownloadedUpdate) -> Result<()> {
    match &inner.install {
        InstallKind::Executable { path } | InstallKind::AppImage { path } => {
            platform::replace_executable(inner, path, update)?;
        }
        #[cfg(unix)]
        InstallKind::App { path } => app_bundle::install(inner, path, update)?,
        #[cfg(not(unix))]
        InstallKind::App { .. } => return Err(Error::Unsupported { what: "`app` updates".into() }),
        InstallKind::Deb => platform::install_package("dpkg", &["-i"], update.path())?,
        InstallKind::Rpm => platform::install_package("rpm", &["-U"], update.path())?,
        InstallKind::Nsis { .. } | InstallKind::Msi { .. } => {
            let command = installer_command(&inner.install, update.path())?;
            platform::run_installer(&command)?;
        }
    }
    if update.owned {
        let _ = std::fs::remove_file(update.path());
    }
    Ok(())
}

/// Replaces this process with the installed app, same arguments.
pub(crate) fn relaunch(kind: &InstallKind) -> Result<std::convert::Infallible> {
    #[cfg(unix)]
    if let InstallKind::App { path } = kind {
        return app_bundle::relaunch(path);
    }
    platform::relaunch(kind)
}

/// The command line that installs the verified installer at `installer` over this app (NSIS and MSI installs).
pub(crate) fn installer_command(kind: &InstallKind, installer: &Path) -> Result<InstallerCommand> {
    Ok(match kind {
        InstallKind::Nsis { ui, scope } => windows_installer::nsis_command(installer, *ui, *scope, true),
        InstallKind::Msi { ui, scope } => {
            let exe = std::env::current_exe().map_err(|e| Error::io("find the running executable", "", e))?;
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
