//! Windows: the rename-aside replacement of the running `.exe` ([`super::exe_aside`]), installers started detached
//! before the app exits, and relaunching by starting the program again.
//!
//! Not compiled on the machines this crate is developed on (no Windows target there): kept to the few calls that
//! differ from the code tested on Linux. See `updater-client/README.md` for what only a Windows machine can confirm.

use std::os::windows::process::CommandExt;
use std::path::Path;
use std::process::Command;

use crate::download::DownloadedUpdate;
use crate::error::{Error, Result};
use crate::install::{InstallKind, InstallerCommand, exe_aside};
use crate::updater::Inner;
use crate::{fs, rollback};

/// `DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP`: the child outlives this process and gets no console of ours.
const DETACHED: u32 = 0x0000_0008 | 0x0000_0200;

pub(crate) fn replace_executable(inner: &Inner, target: &Path, update: &DownloadedUpdate) -> Result<()> {
    let previous = rollback::previous_path(target);
    fs::remove_stale_temps(target);
    fs::remove_stale_temps(&previous);
    // The copy is what gets installed: its bytes are checked as they are written (see `crate::install`).
    let staged = fs::stage_beside_with(target, None, |out, path| {
        super::recheck(inner, update, |chunk| {
            std::io::Write::write_all(out, chunk).map_err(|e| Error::io("write", path, e))
        })
    })?;
    exe_aside::swap_in(target, staged, &previous, || {
        rollback::record_pending(inner, target, &previous, update.version())
    })?;
    tracing::info!(path = %target.display(), version = %update.version(), "update installed");
    Ok(())
}

pub(crate) fn install_package(tool: &str, _args: &[&str], _package: &Path) -> Result<()> {
    Err(Error::Unsupported { what: format!("`{tool}` packages") })
}

/// Starts the installer detached, then exits so that it can replace the app's files; it relaunches the app.
pub(crate) fn run_installer(command: &InstallerCommand) -> Result<()> {
    let mut c = Command::new(&command.program);
    if command.program == "cmd.exe" {
        // cmd.exe parses its own command line: hand it over verbatim.
        for a in &command.args {
            c.raw_arg(a);
        }
    } else {
        c.args(&command.args);
    }
    c.creation_flags(DETACHED).spawn().map_err(|e| Error::io("start the installer", Path::new(&command.program), e))?;
    std::process::exit(0)
}

pub(crate) fn relaunch(kind: &InstallKind) -> Result<std::convert::Infallible> {
    let path = match kind.replaced_path() {
        Some(p) => p.to_owned(),
        None => std::env::current_exe().map_err(|e| Error::io("find the running executable", "", e))?,
    };
    match Command::new(&path).args(std::env::args_os().skip(1)).creation_flags(DETACHED).spawn() {
        Ok(_) => std::process::exit(0),
        Err(source) => Err(Error::Relaunch { path, source }),
    }
}
