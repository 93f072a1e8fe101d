//! Linux: atomic replacement of an executable or AppImage, `dpkg`/`rpm` for packages, `exec` to relaunch.

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::download::DownloadedUpdate;
use crate::error::{Error, Result};
use crate::install::InstallKind;
use crate::updater::Inner;
use crate::{fs, rollback};

/// How much of a package tool's output goes into an error.
const MAX_TOOL_OUTPUT: usize = 8 * 1024;

/// Steps 1–4 of the module docs of [`crate::install`].
pub(crate) fn replace_executable(inner: &Inner, target: &Path, update: &DownloadedUpdate) -> Result<()> {
    let previous = rollback::previous_path(target);
    fs::remove_stale_temps(target);
    fs::remove_stale_temps(&previous);
    let mode = fs::mode_of(target)?;
    let staged = fs::stage_beside(update.path(), target, mode)?;
    fs::link_or_copy(target, &previous)?;
    rollback::record_pending(inner, target, &previous, update.version())?;
    fs::persist(staged, target)?;
    tracing::info!(path = %target.display(), version = %update.version(), "update installed");
    Ok(())
}

fn is_root() -> bool {
    // `/proc/self` belongs to the process's effective user.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Runs `tool args… package`, through `pkexec` unless root.
pub(crate) fn install_package(tool: &str, args: &[&str], package: &Path) -> Result<()> {
    let mut command = if is_root() {
        Command::new(tool)
    } else {
        let mut c = Command::new("pkexec");
        c.arg(tool);
        c
    };
    command.args(args).arg(package);
    let shown = format!("{command:?}").replace('"', "");
    let output = command.output().map_err(|e| Error::PackageManager {
        command: shown.clone(),
        status: format!("could not start it: {e}"),
        output: String::new(),
    })?;
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    if text.len() > MAX_TOOL_OUTPUT {
        let mut cut = text.len() - MAX_TOOL_OUTPUT;
        while !text.is_char_boundary(cut) {
            cut += 1;
        }
        text = format!("…{}", &text[cut..]);
    }
    Err(Error::PackageManager { command: shown, status: output.status.to_string(), output: text.trim_end().to_owned() })
}

/// The program to start again: the replaced file, else the running executable (for package installs, the path the
/// package manager wrote to; the kernel marks the old, deleted inode ` (deleted)`).
fn relaunch_path(kind: &InstallKind) -> Result<PathBuf> {
    if let Some(path) = kind.replaced_path() {
        return Ok(path.to_owned());
    }
    let exe = std::env::current_exe().map_err(|e| Error::io("find the running executable", "", e))?;
    let text = exe.to_string_lossy();
    Ok(match text.strip_suffix(" (deleted)") {
        Some(stripped) => PathBuf::from(stripped),
        None => exe,
    })
}

pub(crate) fn relaunch(kind: &InstallKind) -> Result<std::convert::Infallible> {
    let path = relaunch_path(kind)?;
    let error = Command::new(&path).args(std::env::args_os().skip(1)).exec();
    Err(Error::Relaunch { path, source: error })
}

/// Windows installers are not run on Linux; [`crate::DownloadedUpdate::installer_command`] gives the command line.
pub(crate) fn run_installer(command: &crate::install::InstallerCommand) -> Result<()> {
    Err(Error::Unsupported { what: format!("running the Windows installer `{}`", command.program.to_string_lossy()) })
}
